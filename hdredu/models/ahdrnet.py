"""AHDRNet: attention-guided merging of three exposures of a dynamic scene into one ghost-free HDR image.

Pipeline, for N = 3 frames (short, reference = medium, long), each given as 6 channels [L_i, L_i^γ / t_i]:

    1. shared shallow encoder     Z_i  = LReLU(W_e * X_i + b_e)                    (B, F, H, W) per frame
    2. attention (non-reference)  A_i  = σ(W_2 * LReLU(W_1 * [Z_i, Z_r]))          (B, F, H, W) in (0, 1)
                                  Z_i' = Z_i ⊙ A_i;  the reference Z_r is kept as is
    3. merging network            F_0  = W_0 * [Z_1', Z_r, Z_3']                    (B, F, H, W), no activation
                                  F_k  = DRDB_k(F_{k-1}),  k = 1..K                 (B, F, H, W)
                                  F_G  = W_3x3 * (W_1x1 * [F_1, …, F_K])            global feature fusion
                                  F_R  = F_G + Z_r                                  global residual (Z_r before attention)
                                  H    = σ(W_out * (W_up * F_R))                     (B, 3, H, W) linear HDR in (0, 1)

The paper preset follows the official layer table exactly (reference/ahdrnet.md §3): F = 64, K = 3 DRDBs of
6 dense layers with growth 32 and dilation 2, LeakyReLU slope 0.01, no activation after F_0, the fusion or
the up convolution, and none of the two unused ``attConv`` layers of the official class: 1,441,283 parameters.

Paper: Yan et al., "Attention-guided Network for Ghost-free High Dynamic Range Imaging", CVPR 2019, Sec. 3.
Introduced in notebooks/01_ahdrnet.ipynb.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from hdredu.ops.attention import LEAKY_SLOPE, Attention
from hdredu.ops.blocks import DRDB, ResidualBlock
from hdredu.utils import ablated, check_shape

# Paper ablations (Yan et al., Sec. 4.3) as config overrides. Their exact definitions are not checked against
# the paper text (reference/ahdrnet.md §6 marks them uncertain); hdredu reads them as: DRDB-Net = no attention,
# A-RDB-Net = no dilation, RDB-Net = neither, RB-Net = no attention and plain residual blocks instead of DRDBs.
ABLATIONS: dict[str, dict] = {
    "AHDRNet": {},
    "DRDB-Net": {"attention": False},
    "A-RDB-Net": {"dilation": 1},
    "RDB-Net": {"attention": False, "dilation": 1},
    "RB-Net": {"attention": False, "block": "residual"},
}


@dataclass(frozen=True)
class AHDRNetConfig:
    """Sizes and switches of AHDRNet.

    Attributes:
        frames: N exposures, ordered short → long; the reference is the middle one (index N // 2).
        in_channels: channels per frame (6 = [LDR, L^γ/t]).
        out_channels: 3 (linear RGB).
        features: F, feature channels everywhere (64).
        blocks: K, number of DRDBs in the merging network (3).
        dense_layers: n, dense layers per DRDB (6 in the official code).
        growth: g, channels added by each dense layer (32).
        dilation: d of the dense 3×3 convolutions (2; 1 = plain RDB).
        attention: use the attention modules (False = DRDB-Net ablation: non-reference features pass unweighted).
        block: "drdb" (AHDRNet) or "residual" (RB-Net ablation: two-conv residual blocks).
        negative_slope: LeakyReLU slope of the encoder and attention (0.01).
    """

    frames: int = 3
    in_channels: int = 6
    out_channels: int = 3
    features: int = 64
    blocks: int = 3
    dense_layers: int = 6
    growth: int = 32
    dilation: int = 2
    attention: bool = True
    block: str = "drdb"
    negative_slope: float = LEAKY_SLOPE

    @classmethod
    def paper(cls) -> AHDRNetConfig:
        """The official model: F = 64, 3 DRDBs × 6 dense layers, growth 32, dilation 2 (1,441,283 parameters)."""
        return cls()

    @classmethod
    def tiny(cls) -> AHDRNetConfig:
        """A CPU-sized model for tests and notebooks: F = 16, 2 DRDBs × 3 dense layers, growth 16.

        Deviates from the paper (which uses F = 64, 3 × 6 layers, growth 32) only in these sizes; the
        structure, activations, dilation and loss are the paper's. 70,979 parameters.
        """
        return cls(features=16, blocks=2, dense_layers=3, growth=16)

    def ablation(self, name: str) -> AHDRNetConfig:
        """This config turned into one of the paper's ablation variants (keys of ``ABLATIONS``), sizes kept."""
        return ablated(self, ABLATIONS, name)

    @property
    def ref_idx(self) -> int:
        """Index of the reference frame: the middle exposure."""
        return self.frames // 2

    def validate(self) -> None:
        """Raise ValueError naming the first field that cannot make a model."""
        for name in ("frames", "in_channels", "out_channels", "features", "blocks", "dense_layers", "growth", "dilation"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be a positive integer; got {getattr(self, name)}")
        if self.frames % 2 == 0:
            raise ValueError(f"frames must be odd so that the middle one is the reference; got {self.frames}")
        if self.block not in ("drdb", "residual"):
            raise ValueError(f"block must be 'drdb' or 'residual'; got {self.block!r}")


@dataclass
class AHDRNetOutput:
    """What ``AHDRNet.forward(..., return_intermediates=True)`` returns.

    Attributes:
        output: (B, 3, H, W) linear HDR in [0, 1], aligned to the reference frame (the first field of every
            model's output dataclass is named ``output``).
        attention: one (B, F, H, W) map in (0, 1) per non-reference frame, in frame order (short, long);
            empty when the model has no attention (DRDB-Net, RB-Net ablations).
    """

    output: torch.Tensor
    attention: list[torch.Tensor]


class AHDRNet(nn.Module):
    """Attention-guided HDR network (Yan et al., CVPR 2019), equal to the official layer table with ``paper()``.

    Args:
        config: an :class:`AHDRNetConfig` (``AHDRNetConfig.paper()`` when None).

    ``forward(inputs)`` takes (B, N, 6, H, W): N exposures short → long, each [L_i, L_i^γ / t_i] with L_i the
    gamma-encoded LDR in [0, 1] and t_i its exposure time; it returns (B, 3, H, W) linear HDR in (0, 1).

    Paper: Yan et al., "Attention-guided Network for Ghost-free High Dynamic Range Imaging", CVPR 2019.
    Introduced in notebooks/01_ahdrnet.ipynb, section 3.4 *Merging network and assembly*.
    """

    config_class = AHDRNetConfig
    task = "merge"

    def __init__(self, config: AHDRNetConfig | None = None):
        super().__init__()
        config = AHDRNetConfig.paper() if config is None else config
        config.validate()
        self.config = config
        feats = config.features
        # 1. shared shallow encoder (official conv1): 6 → F, 3×3, the same weights for every frame
        self.encoder = nn.Conv2d(config.in_channels, feats, 3, padding=1)
        # 2. one attention module per non-reference frame (att11/att12 for short, att31/att32 for long)
        n_attended = config.frames - 1 if config.attention else 0
        self.attention = nn.ModuleList(Attention(feats, 3, config.negative_slope) for _ in range(n_attended))
        # 3a. F_0: fuse the N attended feature maps, N·F → F (official conv2)
        self.fuse_frames = nn.Conv2d(config.frames * feats, feats, 3, padding=1)
        # 3b. K DRDBs (or residual blocks for RB-Net)
        self.blocks = nn.ModuleList(self._make_block() for _ in range(config.blocks))
        # 3c. global feature fusion: K·F → F (1×1), then F → F (3×3)  (GFF_1x1, GFF_3x3)
        self.global_fuse_1x1 = nn.Conv2d(config.blocks * feats, feats, 1)
        self.global_fuse_3x3 = nn.Conv2d(feats, feats, 3, padding=1)
        # 3d. output head: F → F (conv_up, no activation), F → 3 (conv3), then sigmoid
        self.conv_up = nn.Conv2d(feats, feats, 3, padding=1)
        self.to_hdr = nn.Conv2d(feats, config.out_channels, 3, padding=1)
        self.reset_parameters()

    def _make_block(self) -> nn.Module:
        """One block of the merging network, as the config asks."""
        c = self.config
        if c.block == "residual":
            return ResidualBlock(c.features)
        return DRDB(c.features, c.dense_layers, c.growth, c.dilation)

    def reset_parameters(self) -> None:
        """Official initialisation: Kaiming-normal (fan-in) convolution weights, PyTorch's default biases."""
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight)

    @property
    def receptive_radius(self) -> int:
        """Pixels on each side that can influence one output pixel (43 for the paper preset).

        Tiled inference (:func:`hdredu.inference.predict`) with at least this much overlap equals the untiled output.
        """
        c = self.config
        per_block = 2 if c.block == "residual" else c.dense_layers * c.dilation
        # encoder 1 + attention 2 + F_0 1 + blocks + GFF 3×3 1 + conv_up 1 + to_hdr 1
        return 1 + (2 if c.attention else 0) + 1 + c.blocks * per_block + 3

    # --------------------------------------------------------------------------------------------------
    # 1. Shallow encoder
    # --------------------------------------------------------------------------------------------------
    def encode(self, inputs: torch.Tensor) -> list[torch.Tensor]:
        """Z_i = LReLU(W_e * X_i + b_e) for every frame: (B, N, 6, H, W) → N tensors (B, F, H, W)."""
        # fold the frames into the batch so the shared conv runs once: (B·N, 6, H, W)
        batch, frames = inputs.shape[:2]
        folded = self.encoder(inputs.flatten(0, 1))
        feats = F.leaky_relu(folded, self.config.negative_slope)
        # back to one (B, F, H, W) map per frame
        return list(feats.unflatten(0, (batch, frames)).unbind(dim=1))

    # --------------------------------------------------------------------------------------------------
    # 2. Attention
    # --------------------------------------------------------------------------------------------------
    def attend(self, feats: list[torch.Tensor]) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """Z_i' = Z_i ⊙ A_i for the non-reference frames; the reference passes unchanged.

        Returns:
            (attended features, N tensors (B, F, H, W); attention maps, N − 1 tensors (B, F, H, W) or none).
        """
        ref = self.config.ref_idx
        if not self.config.attention:
            return list(feats), []
        others = [i for i in range(len(feats)) if i != ref]
        # A_i = σ(W_2 * LReLU(W_1 * [Z_i, Z_r])): (B, F, H, W) per non-reference frame
        maps = [module(feats[i], feats[ref]) for module, i in zip(self.attention, others)]
        attended = list(feats)
        for attn, i in zip(maps, others):
            attended[i] = feats[i] * attn
        return attended, maps

    # --------------------------------------------------------------------------------------------------
    # 3. Merging network
    # --------------------------------------------------------------------------------------------------
    def merge(self, attended: list[torch.Tensor], ref_feat: torch.Tensor) -> torch.Tensor:
        """The merging network: N attended maps (B, F, H, W) and Z_r (B, F, H, W) → HDR (B, 3, H, W) in (0, 1)."""
        # F_0 = W_0 * [Z_1', Z_r, Z_3']: (B, N·F, H, W) → (B, F, H, W), no activation
        block_out = self.fuse_frames(torch.cat(attended, dim=1))
        # F_k = DRDB_k(F_{k-1}); keep every F_k for the global fusion
        block_outputs = []
        for block in self.blocks:
            block_out = block(block_out)
            block_outputs.append(block_out)
        # F_G = W_3x3 * (W_1x1 * [F_1, …, F_K]): (B, K·F, H, W) → (B, F, H, W), no activations
        fused = self.global_fuse_3x3(self.global_fuse_1x1(torch.cat(block_outputs, dim=1)))
        # F_R = F_G + Z_r: global residual with the reference features taken before attention
        residual = fused + ref_feat
        # H = σ(W_out * (W_up * F_R)): (B, 3, H, W)
        return torch.sigmoid(self.to_hdr(self.conv_up(residual)))

    def forward(self, inputs: torch.Tensor, return_intermediates: bool = False) -> torch.Tensor | AHDRNetOutput:
        """Merge an exposure stack into linear HDR.

        Args:
            inputs: (B, N, 6, H, W), frames short → long, each [LDR in [0, 1], LDR^γ / t].
            return_intermediates: also return the attention maps (as an :class:`AHDRNetOutput`).
        Returns:
            (B, 3, H, W) linear HDR in (0, 1), or an :class:`AHDRNetOutput`.
        """
        c = self.config
        check_shape(inputs, f"B {c.frames} {c.in_channels} H W", "inputs (frames short → long, each [LDR, LDR^γ/t])")
        feats = self.encode(inputs)
        attended, maps = self.attend(feats)
        hdr = self.merge(attended, feats[c.ref_idx])
        return AHDRNetOutput(hdr, maps) if return_intermediates else hdr
