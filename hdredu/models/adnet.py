"""ADNet: merge three exposures into HDR with two branches, deformable alignment and spatial attention.

Pipeline, for N = 3 frames (short, reference = medium, long), each given as 6 channels [L_i, E_i]:
L_i the gamma-encoded LDR, E_i its exposure-aligned version ("EVA", E_i = L_i · 2^{−ΔEV_i/γ}, γ = 2.24):

    1. pyramid features of E_i     P_i^1 (B, F, H, W), P_i^2 (H/2), P_i^3 (H/4)      shared by the frames
    2. PCD alignment               A_i = PCD(P_i, P_r)       (B, F, H, W) for i ≠ r, one module shared by i
       (pyramid, cascading, deformable: offsets from coarse to fine, DCNv2 with G = 8 deformable groups)
    3. LDR features + attention    Z_i = ReLU(W_t * L_i);  Z_i' = Z_i ⊙ σ(W_2 * LReLU(W_1 * [Z_i, Z_r]))
    4. merging                     F_0 = W_0 * [A_1, Z_1', P_r^1, Z_r, A_3, Z_3']    (B, 6F → F), no activation
                                   F_k = DRDB_k(F_{k−1}),  k = 1..3  (5 dense layers, growth 32, dilation 2)
                                   F_R = W_3x3 * (W_1x1 * [F_1, F_2, F_3]) + P_r^1   global skip
                                   H   = act(W_out * LReLU(W_up * F_R))               (B, 3, H, W)

The paper preset follows the official code (liuzhen03/ADNet ``graphs/adnet.py``, ``DCNv2/dcn_v2.py``) layer by
layer: F = 64, 8 deformable groups, 3 DRDBs × 5 dense layers, growth 32, ReLU output; 2,956,483 parameters
(pyramid 221,824, PCD 1,384,288, LDR encoder 1,792, attention 442,752, merging 905,827). Only the DCN
kernel differs: hdredu's pure-PyTorch :func:`hdredu.ops.deform.deform_conv2d` (same semantics as the CUDA one).

Inputs. The paper (NTIRE 2021) feeds [L_i, E_i] with γ = 2.24, the challenge's gamma; the rest of hdredu
(AHDRNet, Kalantari, the synthetic brackets) feeds [L_i, L_i^γ / t_i] with γ = 2.2. The network accepts
either (it never reads γ); ``ADNetConfig.gamma`` records which γ the data used and sets the NTIRE loss's
linearisation. Which second half the authors used on Kalantari is not known (reference/adnet.md §2).

Output and loss (``ADNetConfig.output``): "relu" (official, NTIRE): unbounded gamma-encoded HDR, trained with
:func:`hdredu.losses.ntire_mu_loss`; "sigmoid" (deviation, as hdr-toolkit does for Kalantari): linear HDR in
(0, 1), trained with :func:`hdredu.losses.mu_law_l1`. ``ADNet.loss(pred, target)`` picks the matching one.

Frame size. The pyramid halves twice and the PCD upsamples back, so H and W must be multiples of 4 (the
official code fails otherwise). hdredu pads: any H × W is replicate-padded at the bottom and right to the
next multiple of 4, run, and cropped back (outputs, offsets, masks and attention all cropped). Sizes that are
already multiples of 4 (NTIRE 1060×1900, Kalantari 1000×1500, 256² crops) are not touched.

Memory (inference). Computed plainly, a 1000×1500 frame peaks near 15 GiB on the CPU: the 216-channel
offset/mask tensors of the full-size DCNs, the 384-channel merging input and the 224-channel DRDB features.
Under ``torch.no_grad()`` (and without intermediates) ADNet instead runs the full-size PCD levels and the
attention and merging network in bands of rows, each with the rows of context it needs, and sums
convolutions instead of concatenating their inputs: the same output (bit-identical in the benchmark) in
about a fifth of the memory (≈ 2.9 GiB at 1000×1500, extrapolated from 252×376; benchmarks/bench_adnet.py
measures it). What remains is whole-frame by necessity: a DCN may sample its input anywhere, so the
neighbour's and the reference's features stay whole. Training runs whole crops.

Paper: Liu et al., "ADNet: Attention-guided Deformable Convolutional Network for High Dynamic Range Imaging",
CVPR Workshops 2021 (NTIRE 2021 HDR challenge), Sec. 3.
Introduced in notebooks/03_adnet.ipynb.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from hdredu.losses import mu_law_l1, ntire_mu_loss
from hdredu.ops.attention import Attention
from hdredu.ops.blocks import DRDB, ResidualBlock
from hdredu.ops.deform import METHODS, DeformConv2d, deform_conv2d
from hdredu.utils import ablated, check_shape

# LeakyReLU slopes of the official code: 0.1 in the pyramid and the PCD (EDVR's), 0.01 (PyTorch's default)
# in the attention modules and the output head.
PCD_SLOPE = 0.1
HEAD_SLOPE = 0.01
# pyramid levels: L1 (full), L2 (1/2), L3 (1/4); H and W must be multiples of 2^(levels − 1)
LEVELS = 3
SIZE_MULTIPLE = 2 ** (LEVELS - 1)

# Ablations asked for by the hdredu issue (not a table of the paper): each branch alone.
#   no_pcd:       the non-reference pyramid features pass unaligned (PCD = identity; attention only)
#   no_attention: the non-reference LDR features pass unweighted (alignment only)
ABLATIONS: dict[str, dict] = {
    "ADNet": {},
    "no_pcd": {"pcd": False},
    "no_attention": {"attention": False},
}


@dataclass(frozen=True)
class ADNetConfig:
    """Sizes and switches of ADNet.

    Attributes:
        frames: N exposures, short → long; the reference is the middle one (index N // 2). 3 in the paper.
        features: F, feature channels everywhere (64).
        deform_groups: G, deformable groups of every DCN in the PCD module (8).
        blocks: DRDBs in the merging network (3).
        dense_layers: dense layers per DRDB (5 in ADNet; AHDRNet has 6).
        growth: channels added by each dense layer (32).
        dilation: dilation of the dense 3×3 convolutions (2).
        pcd: use PCD alignment (False = "no_pcd" ablation).
        attention: use the attention modules (False = "no_attention" ablation).
        output: "relu" (official, NTIRE: unbounded gamma-encoded HDR) or "sigmoid" (linear HDR in (0, 1)).
        gamma: γ of the input's exposure alignment and of the NTIRE loss's linearisation; 2.24 in the paper
            (NTIRE); 2.2 for hdredu's [L, L^γ/t] data (Kalantari, synthetic brackets).
        dcn_method: "auto", "columns" or "taps": how :func:`hdredu.ops.deform.deform_conv2d` organises its
            work (same result; "taps" bounds memory on full frames).
        band_rows: inference only (no autograd, no intermediates): run the PCD's offsets, masks and full-size
            levels on bands of this many rows (with the ≤ 5 rows of context each needs), which is exact and
            bounds memory on full frames; None = whole frames. Training and ``return_intermediates=True``
            always use whole frames.
        merge_band_rows: the same for the attention and merging network, whose bands need
            ``ADNet.merge_radius`` (37) rows of context on each side: larger bands recompute less.
    """

    frames: int = 3
    features: int = 64
    deform_groups: int = 8
    blocks: int = 3
    dense_layers: int = 5
    growth: int = 32
    dilation: int = 2
    pcd: bool = True
    attention: bool = True
    output: str = "relu"
    gamma: float = 2.24
    dcn_method: str = "auto"
    band_rows: int | None = 64
    merge_band_rows: int | None = 192

    @classmethod
    def paper(cls) -> ADNetConfig:
        """The official NTIRE model: F = 64, G = 8, 3 DRDBs × 5 layers, growth 32, ReLU output, γ 2.24
        (2,956,483 parameters)."""
        return cls()

    @classmethod
    def tiny(cls) -> ADNetConfig:
        """A CPU-sized model for tests and notebooks: F = 16, G = 2, 1 DRDB × 3 layers, growth 16, sigmoid output.

        Deviates from the paper in these sizes and in the output: sigmoid + μ-law L1, for the [0, 1] linear HDR
        of the simulator (hdredu.data.synthetic), as AHDRNet's tiny preset.
        """
        return cls(features=16, deform_groups=2, blocks=1, dense_layers=3, growth=16, output="sigmoid")

    def ablation(self, name: str) -> ADNetConfig:
        """This config with one branch removed (keys of ``ABLATIONS``), sizes kept."""
        return ablated(self, ABLATIONS, name)

    @property
    def ref_idx(self) -> int:
        """Index of the reference frame: the middle exposure."""
        return self.frames // 2

    def validate(self) -> None:
        """Raise ValueError naming the first field that cannot make a model."""
        for name in ("frames", "features", "deform_groups", "blocks", "dense_layers", "growth", "dilation"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be a positive integer; got {getattr(self, name)}")
        if self.frames % 2 == 0:
            raise ValueError(f"frames must be odd so that the middle one is the reference; got {self.frames}")
        if self.features % self.deform_groups:
            raise ValueError(f"deform_groups must divide features = {self.features}; got {self.deform_groups}")
        if self.output not in ("relu", "sigmoid"):
            raise ValueError(f"output must be 'relu' (NTIRE) or 'sigmoid' ([0, 1] data); got {self.output!r}")
        if not self.gamma > 0:
            raise ValueError(f"gamma must be positive; got {self.gamma}")
        for name in ("band_rows", "merge_band_rows"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or value < 1):
                raise ValueError(f"{name} must be a positive int or None; got {value!r}")
        if self.dcn_method not in METHODS:
            raise ValueError(f"dcn_method must be one of {METHODS}; got {self.dcn_method!r}")


@dataclass
class ADNetOutput:
    """What ``ADNet.forward(..., return_intermediates=True)`` returns.

    Attributes:
        output: (B, 3, H, W) HDR (gamma-encoded and ≥ 0 for "relu", linear in (0, 1) for "sigmoid").
        offsets: one dict per non-reference frame (frame order), level name → DCN offsets
            (B, 2·G·9, h, w) in pixels of that level, [G][K][(dy, dx)]. Levels "L3" (H/4), "L2" (H/2),
            "L1" (H) and "cascade" (H). Empty without PCD.
        masks: the same, level name → DCN modulation (B, G·9, h, w) in (0, 1) (after the sigmoid).
        attention: one (B, F, H, W) map in (0, 1) per non-reference frame; empty without attention.
    """

    output: torch.Tensor
    offsets: list[dict[str, torch.Tensor]] = field(default_factory=list)
    masks: list[dict[str, torch.Tensor]] = field(default_factory=list)
    attention: list[torch.Tensor] = field(default_factory=list)


def _conv(in_channels: int, out_channels: int, kernel_size: int = 3, stride: int = 1) -> nn.Conv2d:
    """A "same" convolution with bias (PyTorch's default initialisation, as in the official code)."""
    return nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding=kernel_size // 2)


def _lrelu(x: torch.Tensor) -> torch.Tensor:
    """LeakyReLU(0.1) of the pyramid and PCD, in place (every caller passes a fresh conv output)."""
    return F.leaky_relu(x, PCD_SLOPE, inplace=True)


def _conv_of_concat(conv: nn.Conv2d, parts: list[torch.Tensor]) -> torch.Tensor:
    """``conv(torch.cat(parts, 1))`` computed as Σ_j W_j * part_j + b, W_j the input-channel slice of part j.

    The same numbers (up to float rounding) without the concatenated tensor, which for ADNet's merging input
    is 6F = 384 full-size channels (2.3 GB at 1000×1500).
    """
    out, start = None, 0
    for part in parts:
        stop = start + part.shape[1]
        term = F.conv2d(part, conv.weight[:, start:stop], None, conv.stride, conv.padding)
        out = term if out is None else out.add_(term)  # in place is safe: conv2d's backward does not read its output
        start = stop
    return out + conv.bias.view(1, -1, 1, 1)


def _upsample(x: torch.Tensor) -> torch.Tensor:
    """↑: bilinear ×2, ``align_corners=False`` (the official ``F.interpolate`` call)."""
    return F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)


def _upsample_rows(x: torch.Tensor, top: int, bottom: int) -> torch.Tensor:
    """Rows [top, bottom) of ``_upsample(x)``, computed from the few rows of ``x`` they need.

    Output row y reads x at (y + 0.5)/2 − 0.5 (clamped at the edges), so rows [(top − 1)//2, bottom//2 + 2)
    of x suffice, and with that margin the slice's own edge clamping never reaches the rows kept.
    """
    first, last = max((top - 1) // 2, 0), min(bottom // 2 + 2, x.shape[-2])
    return _upsample(x[..., first:last, :])[..., top - 2 * first:bottom - 2 * first, :]


# ------------------------------------------------------------------------------------------------------
# 1. Pyramid feature extractor
# ------------------------------------------------------------------------------------------------------
class Pyramid(nn.Module):
    """Three-level features of one frame's exposure-aligned half E_i (official ``Pyramid(3)``).

    stem  P^0 = LReLU_0.1(W_s * E)           1×1, 3 → F           (B, F, H, W)
    L1    P^1 = P^0 + W_b * ReLU(W_a * P^0)   residual block       (B, F, H, W)
    L2    P^2 = LReLU(W_d * LReLU(W_c *_2 P^1))  stride-2 conv, conv  (B, F, H/2, W/2)
    L3    P^3 = the same on P^2                                   (B, F, H/4, W/4)
    """

    def __init__(self, features: int):
        super().__init__()
        self.stem = _conv(3, features, kernel_size=1)
        self.level1 = ResidualBlock(features)
        self.down2 = nn.ModuleList([_conv(features, features, stride=2), _conv(features, features)])
        self.down3 = nn.ModuleList([_conv(features, features, stride=2), _conv(features, features)])

    def forward(self, aligned_ldr: torch.Tensor) -> list[torch.Tensor]:
        """(B, 3, H, W) → [P^1 (B, F, H, W), P^2 (B, F, H/2, W/2), P^3 (B, F, H/4, W/4)]."""
        level1 = self.level1(_lrelu(self.stem(aligned_ldr)))
        level2 = _lrelu(self.down2[1](_lrelu(self.down2[0](level1))))
        level3 = _lrelu(self.down3[1](_lrelu(self.down3[0](level2))))
        return [level1, level2, level3]


# ------------------------------------------------------------------------------------------------------
# 2. PCD alignment
# ------------------------------------------------------------------------------------------------------
class DCNPack(nn.Module):
    """A DCNv2 whose offsets and mask come from separate "offset features" (EDVR's ``DCN_sep``).

        [Δ, m̃] = W_om * O            3×3, F → 3·G·9 (216 for F = 64, G = 8); zero-initialised
        Δ = channels [0, 2·G·9)       offsets in the [G][K][(dy, dx)] layout
        m = σ(channels [2·G·9, 3·G·9))
        out = DCN(x; Δ, m)            3×3, padding 1, weight uniform(±1/√(9F)), bias 0

    With the zero initialisation every offset starts at 0 and every mask at 0.5: at step 0 the layer is half a
    plain 3×3 convolution, and training grows the offsets from there.
    """

    def __init__(self, features: int, deform_groups: int, method: str = "auto"):
        super().__init__()
        self.deform_groups = deform_groups
        self.offset_mask = _conv(features, 3 * deform_groups * 9)
        self.dcn = DeformConv2d(features, features, 3, padding=1, method=method)
        nn.init.zeros_(self.offset_mask.weight)
        nn.init.zeros_(self.offset_mask.bias)

    def forward(self, feat: torch.Tensor, offset_feat: torch.Tensor, band_rows: int | None = None):
        """feat (B, F, h, w) to sample, offset_feat (B, F, h, w) → (out (B, F, h, w), offset, mask).

        With ``band_rows`` the offsets and mask are made and used for ``band_rows`` output rows at a time (the
        offset conv reads one extra row on each side; the DCN reads all of ``feat``): exact, and the
        3·G·9-channel offset/mask tensor never exists for the whole frame; offset and mask are then None.
        """
        if band_rows is None or feat.shape[-2] <= band_rows:
            offset, mask = self._offset_and_mask(self.offset_mask(offset_feat))  # (B, 2·G·9 | G·9, h, w)
            return self.dcn(feat, offset, mask), offset, mask
        height = feat.shape[-2]
        out = feat.new_empty(feat.shape[0], self.dcn.weight.shape[0], *feat.shape[-2:])
        for top in range(0, height, band_rows):
            bottom = min(top + band_rows, height)
            low, high = max(top - 1, 0), min(bottom + 1, height)  # one row of context for the 3×3 offset conv
            offset_mask = self.offset_mask(offset_feat[..., low:high, :])[..., top - low:bottom - low, :]
            offset, mask = self._offset_and_mask(offset_mask)
            out[..., top:bottom, :] = deform_conv2d(feat, offset, self.dcn.weight, self.dcn.bias, padding=1,
                                                    mask=mask, method=self.dcn.method, rows=(top, bottom))
        return out, None, None

    def _offset_and_mask(self, offset_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Split the offset conv's 3·G·9 channels: offsets [0, 2·G·9), mask σ([2·G·9, 3·G·9))."""
        split = 2 * self.deform_groups * 9
        return offset_mask[:, :split], torch.sigmoid(offset_mask[:, split:])


class PCDAlign(nn.Module):
    """Pyramid, cascading and deformable alignment of a neighbour's features to the reference (EDVR, Sec. 3.1).

    At each level l (coarse to fine) offset features O^l are predicted from [nbr^l, ref^l] and the
    upsampled, doubled offset features of the coarser level (offsets are in pixels, which double per level):

        L3: O^3 = LReLU(W * LReLU(W * [n^3, r^3]));                    f^3 = LReLU(DCN(n^3; O^3))
        L2: a = LReLU(W * [n^2, r^2]); O^2 = LReLU(W * LReLU(W * [a, 2·↑O^3]))
            f^2 = LReLU(W * [DCN(n^2; O^2), ↑f^3])                        (no activation on the DCN itself)
        L1: as L2 with 2·↑O^2;  f^1 = W * [DCN(n^1; O^1), ↑f^2]           (no activation at all)
        cascade: O^c = LReLU(W * LReLU(W * [f^1, r^1]));  aligned = LReLU(DCN(f^1; O^c))

    One module aligns every non-reference frame (the official model shares it between short and long).
    """

    def __init__(self, features: int, deform_groups: int, method: str = "auto"):
        super().__init__()
        f2 = 2 * features
        # L3 (1/4 size): two offset convs and a DCN
        self.l3_offset = nn.ModuleList([_conv(f2, features), _conv(features, features)])
        self.l3_dcn = DCNPack(features, deform_groups, method)
        # L2 and L1: three offset convs, a DCN and a feature fusion conv each
        self.l2_offset = nn.ModuleList([_conv(f2, features), _conv(f2, features), _conv(features, features)])
        self.l2_dcn = DCNPack(features, deform_groups, method)
        self.l2_fuse = _conv(f2, features)
        self.l1_offset = nn.ModuleList([_conv(f2, features), _conv(f2, features), _conv(features, features)])
        self.l1_dcn = DCNPack(features, deform_groups, method)
        self.l1_fuse = _conv(f2, features)
        # cascade (full size): two offset convs and a DCN on the L1 result
        self.cascade_offset = nn.ModuleList([_conv(f2, features), _conv(features, features)])
        self.cascade_dcn = DCNPack(features, deform_groups, method)

    def forward(self, nbr: list[torch.Tensor], ref: list[torch.Tensor], keep_offsets: bool = True,
                band_rows: int | None = None):
        """nbr, ref: pyramids [L1, L2, L3] of (B, F, h, w) → (aligned (B, F, H, W), offsets dict, masks dict).

        With ``keep_offsets=False`` the dicts stay empty and each DCN's offsets and mask (3·G·9 channels, 216
        full-size planes at L1 and in the cascade) are dropped as soon as that DCN has run, or, with
        ``band_rows``, made band by band (:class:`DCNPack`). ``[a, b]`` concatenations feeding a conv are
        computed as sums of convs (:func:`_conv_of_concat`), the same numbers without the 2F-channel tensor.
        """
        offsets, masks = {}, {}
        band_rows = None if keep_offsets else band_rows

        def dcn(pack: DCNPack, level: str, feat: torch.Tensor, offset_feat: torch.Tensor) -> torch.Tensor:
            out, offset, mask = pack(feat, offset_feat, band_rows)
            if keep_offsets:
                offsets[level], masks[level] = offset, mask
            return out

        def cat_conv(conv: nn.Conv2d, first: torch.Tensor, second: torch.Tensor) -> torch.Tensor:
            return _conv_of_concat(conv, [first, second])  # = conv([first, second])

        # L3: O^3 from [n^3, r^3]; f^3 = LReLU(DCN(n^3; O^3))
        off3 = _lrelu(self.l3_offset[1](_lrelu(cat_conv(self.l3_offset[0], nbr[2], ref[2]))))
        feat3 = _lrelu(dcn(self.l3_dcn, "L3", nbr[2], off3))
        # L2: O^2 from [n^2, r^2] and 2·↑O^3; f^2 = LReLU(W * [DCN(n^2; O^2), ↑f^3])
        off2 = _lrelu(cat_conv(self.l2_offset[0], nbr[1], ref[1]))
        off2 = _lrelu(cat_conv(self.l2_offset[1], off2, _upsample(off3).mul_(2)))
        off2 = _lrelu(self.l2_offset[2](off2))
        feat2 = _lrelu(cat_conv(self.l2_fuse, dcn(self.l2_dcn, "L2", nbr[1], off2), _upsample(feat3)))
        del off3, feat3
        if band_rows is not None and nbr[0].shape[-2] > band_rows:
            return self._fine_levels_in_bands(nbr[0], ref[0], off2, feat2, band_rows), offsets, masks
        # L1: the same with 2·↑O^2; f^1 = W * [DCN(n^1; O^1), ↑f^2], no activation
        off1 = _lrelu(cat_conv(self.l1_offset[0], nbr[0], ref[0]))
        off1 = _lrelu(cat_conv(self.l1_offset[1], off1, _upsample(off2).mul_(2)))
        off1 = _lrelu(self.l1_offset[2](off1))
        del off2
        feat1 = cat_conv(self.l1_fuse, dcn(self.l1_dcn, "L1", nbr[0], off1), _upsample(feat2))
        del off1, feat2
        # cascade: O^c from [f^1, r^1]; aligned = LReLU(DCN(f^1; O^c))
        off_c = _lrelu(self.cascade_offset[1](_lrelu(cat_conv(self.cascade_offset[0], feat1, ref[0]))))
        return _lrelu(dcn(self.cascade_dcn, "cascade", feat1, off_c)), offsets, masks

    def _fine_levels_in_bands(self, nbr1: torch.Tensor, ref1: torch.Tensor, off2: torch.Tensor, feat2: torch.Tensor,
                              band_rows: int) -> torch.Tensor:
        """L1 and the cascade (the equations of the class docstring) for ``band_rows`` output rows at a time.

        Every 3×3 conv needs one more row of context: f^1 rows [t, b) need the L1 DCN on rows [t − 1, b + 1),
        whose offset conv needs O^1 on [t − 2, b + 2), and O^1 (three convs) needs [t − 5, b + 5) of n^1, r^1
        and 2·↑O^2; the aligned rows need O^c on [t − 1, b + 1) and [f^1, r^1] on [t − 3, b + 3). Bands that
        touch the top or bottom edge keep the real zero padding, so the result equals the whole-frame one. Only
        f^1 (which the cascade DCN samples anywhere) and the output exist for the whole frame.
        """
        height = nbr1.shape[-2]
        split = 2 * self.l1_dcn.deform_groups * 9

        def cat_conv(conv: nn.Conv2d, first: torch.Tensor, second: torch.Tensor) -> torch.Tensor:
            return _conv_of_concat(conv, [first, second])

        feat1 = nbr1.new_empty(nbr1.shape)
        for top in range(0, height, band_rows):
            bottom = min(top + band_rows, height)
            low, high = max(top - 5, 0), min(bottom + 5, height)  # context of O^1
            dcn_low, dcn_high = max(top - 1, 0), min(bottom + 1, height)  # rows of the L1 DCN
            off1 = _lrelu(cat_conv(self.l1_offset[0], nbr1[..., low:high, :], ref1[..., low:high, :]))
            off1 = _lrelu(cat_conv(self.l1_offset[1], off1, _upsample_rows(off2, low, high).mul_(2)))
            off1 = _lrelu(self.l1_offset[2](off1))
            offset_mask = self.l1_dcn.offset_mask(off1)[..., dcn_low - low:dcn_high - low, :]
            del off1
            aligned1 = deform_conv2d(nbr1, offset_mask[:, :split], self.l1_dcn.dcn.weight, self.l1_dcn.dcn.bias,
                                     padding=1, mask=torch.sigmoid(offset_mask[:, split:]),
                                     method=self.l1_dcn.dcn.method, rows=(dcn_low, dcn_high))
            fused = cat_conv(self.l1_fuse, aligned1, _upsample_rows(feat2, dcn_low, dcn_high))
            feat1[..., top:bottom, :] = fused[..., top - dcn_low:bottom - dcn_low, :]
        aligned = nbr1.new_empty(nbr1.shape)
        for top in range(0, height, band_rows):
            bottom = min(top + band_rows, height)
            low, high = max(top - 3, 0), min(bottom + 3, height)  # context of O^c
            off_c = _lrelu(cat_conv(self.cascade_offset[0], feat1[..., low:high, :], ref1[..., low:high, :]))
            off_c = _lrelu(self.cascade_offset[1](off_c))
            offset_mask = self.cascade_dcn.offset_mask(off_c)[..., top - low:bottom - low, :]
            out = deform_conv2d(feat1, offset_mask[:, :split], self.cascade_dcn.dcn.weight,
                                self.cascade_dcn.dcn.bias, padding=1, mask=torch.sigmoid(offset_mask[:, split:]),
                                method=self.cascade_dcn.dcn.method, rows=(top, bottom))
            aligned[..., top:bottom, :] = _lrelu(out)
        return aligned


# ------------------------------------------------------------------------------------------------------
# The network
# ------------------------------------------------------------------------------------------------------
class ADNet(nn.Module):
    """Attention-guided deformable network (Liu et al., CVPRW 2021), the official layers with ``paper()``.

    Args:
        config: an :class:`ADNetConfig` (``ADNetConfig.paper()`` when None).

    ``forward(inputs)`` takes (B, N, 6, H, W): N exposures short → long, each [L_i, E_i] (see the module
    docstring), any H × W (padded to multiples of 4 inside, cropped back); it returns (B, 3, H, W).

    Paper: Liu et al., "ADNet: Attention-guided Deformable Convolutional Network for High Dynamic Range
    Imaging", CVPRW 2021, Sec. 3 (Fig. 2).
    Introduced in notebooks/03_adnet.ipynb.
    """

    config_class = ADNetConfig
    task = "merge"

    def __init__(self, config: ADNetConfig | None = None):
        super().__init__()
        config = ADNetConfig.paper() if config is None else config
        config.validate()
        self.config = config
        feats, others = config.features, config.frames - 1
        # 1. pyramid on the exposure-aligned halves, shared by the frames (official ``pyramid_feats``)
        self.pyramid = Pyramid(feats)
        # 2. one PCD module for every non-reference frame (official ``align_module``)
        self.pcd = PCDAlign(feats, config.deform_groups, config.dcn_method) if config.pcd else None
        # 3. LDR encoder Z_i = ReLU(W_t * L_i), shared (``feat_exract``), and one attention module per
        #    non-reference frame (``att_module_l`` short, ``att_module_h`` long): conv 2F→2F, LReLU 0.01, conv 2F→F, σ
        self.ldr_encoder = _conv(3, feats)
        self.attention = nn.ModuleList(Attention(feats, 3, HEAD_SLOPE) for _ in range(others if config.attention else 0))
        # 4a. F_0: 2N·F → F (``conv1``), no activation
        self.fuse_frames = _conv(2 * config.frames * feats, feats)
        # 4b. DRDBs (``RDB1..3``)
        self.blocks = nn.ModuleList(DRDB(feats, config.dense_layers, config.growth, config.dilation)
                                    for _ in range(config.blocks))
        # 4c. global feature fusion K·F → F (1×1), F → F (3×3), no activation (``conv2``)
        self.global_fuse_1x1 = _conv(config.blocks * feats, feats, kernel_size=1)
        self.global_fuse_3x3 = _conv(feats, feats)
        # 4d. head: F → F, LReLU 0.01, F → 3, ReLU or sigmoid (``post_conv``)
        self.conv_up = _conv(feats, feats)
        self.to_hdr = _conv(feats, 3)

    @property
    def receptive_radius(self) -> None:
        """None: tiled inference is not exact for ADNet.

        Each DCN samples its input at learned offsets that nothing bounds (the offset conv's output is a free
        real number; the official code only prints a warning above a mean of 100 pixels), and the L3 offsets
        are upsampled and doubled twice on the way to full size. An output pixel can therefore depend on
        input pixels arbitrarily far away, so no finite tile overlap reproduces the whole-image result, and
        :func:`hdredu.inference.predict` must run it on the whole image.
        """
        return None

    def loss(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """The loss matching ``config.output``: NTIRE mu-loss (γ = ``config.gamma``) for "relu", μ-law L1 for "sigmoid"."""
        if self.config.output == "relu":
            return ntire_mu_loss(pred, target, gamma=self.config.gamma)
        return mu_law_l1(pred, target)

    # --------------------------------------------------------------------------------------------------
    def _pad(self, inputs: torch.Tensor) -> torch.Tensor:
        """Replicate-pad (B, N, 6, H, W) at the bottom and right to multiples of 4 (a no-op when they are)."""
        height, width = inputs.shape[-2:]
        pad_h, pad_w = -height % SIZE_MULTIPLE, -width % SIZE_MULTIPLE
        if pad_h == 0 and pad_w == 0:
            return inputs
        folded = F.pad(inputs.flatten(0, 1), (0, pad_w, 0, pad_h), mode="replicate")
        return folded.unflatten(0, inputs.shape[:2])

    @property
    def merge_radius(self) -> int:
        """Rows on each side that influence one output row of :meth:`merge` (37 for the paper preset).

        LDR encoder 1 + attention 2 + F_0 1 + DRDBs (blocks · dense_layers · dilation) + GFF 3×3 1 + head 2.
        Unlike the whole network, the merging network is local: bands with this much overlap are exact.
        """
        c = self.config
        return 1 + (2 if c.attention else 0) + 1 + c.blocks * c.dense_layers * c.dilation + 1 + 2

    def merge(self, ldr: torch.Tensor, aligned: dict[int, torch.Tensor]) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Attention and merging network (steps 3–4): LDR frames and aligned features → HDR.

        Args:
            ldr: (B, N, 3, H, W) the LDR halves of the frames.
            aligned: frame index → (B, F, H, W): A_i for i ≠ r, and P_r^1 for the reference r.
        Returns:
            (HDR (B, 3, H, W), attention maps: N − 1 tensors (B, F, H, W), or none without attention).
        """
        c = self.config
        ref = c.ref_idx
        others = [i for i in range(c.frames) if i != ref]
        # 3. LDR features Z_i = ReLU(W_t * L_i) and attention Z_i' = Z_i ⊙ A_i for i ≠ r
        ldr_feats = [F.relu(self.ldr_encoder(ldr[:, i])) for i in range(c.frames)]
        maps = [module(ldr_feats[i], ldr_feats[ref]) for module, i in zip(self.attention, others)]
        for attn, i in zip(maps, others):
            ldr_feats[i] = ldr_feats[i] * attn
        # 4a. F_0 = W_0 * [A_1, Z_1', P_r^1, Z_r, A_3, Z_3']: per frame [aligned, LDR features]
        parts = [feat for i in range(c.frames) for feat in (aligned[i], ldr_feats[i])]
        block_out = _conv_of_concat(self.fuse_frames, parts)  # = fuse_frames(cat(parts)), without the 6F-channel cat
        del parts, ldr_feats
        # 4b. F_k = DRDB_k(F_{k−1})
        block_outputs = []
        for block in self.blocks:
            block_out = block(block_out)
            block_outputs.append(block_out)
        # 4c. F_R = W_3x3 * (W_1x1 * [F_1, …, F_K]) + P_r^1  (global skip from the reference pyramid)
        residual = self.global_fuse_3x3(_conv_of_concat(self.global_fuse_1x1, block_outputs)) + aligned[ref]
        del block_outputs, block_out
        # 4d. H = act(W_out * LReLU_0.01(W_up * F_R)): (B, 3, H, W)
        hdr = self.to_hdr(F.leaky_relu(self.conv_up(residual), HEAD_SLOPE))
        return (F.relu(hdr) if c.output == "relu" else torch.sigmoid(hdr)), maps

    def _merge_in_bands(self, ldr: torch.Tensor, aligned: dict[int, torch.Tensor], band: int) -> torch.Tensor:
        """:meth:`merge` on horizontal bands of ``band`` rows, each with ``merge_radius`` rows of context.

        Exact (up to float rounding): every output row sees all the rows it depends on, and the bands that touch
        the top or bottom edge keep the real zero padding there. The merging network's features (up to
        F + dense_layers · growth = 224 channels in a DRDB) then exist for one band at a time.
        """
        height, radius = ldr.shape[-2], self.merge_radius
        rows = []
        for top in range(0, height, band):
            bottom = min(top + band, height)
            low, high = max(top - radius, 0), min(bottom + radius, height)
            hdr, _ = self.merge(ldr[..., low:high, :], {i: a[..., low:high, :] for i, a in aligned.items()})
            rows.append(hdr[..., top - low: bottom - low, :])
        return torch.cat(rows, dim=-2)

    def forward(self, inputs: torch.Tensor, return_intermediates: bool = False) -> torch.Tensor | ADNetOutput:
        """Merge an exposure stack into HDR.

        Args:
            inputs: (B, N, 6, H, W), frames short → long, each [LDR in [0, 1], exposure-aligned LDR].
            return_intermediates: also return the offsets, masks and attention maps (as an :class:`ADNetOutput`).
        Returns:
            (B, 3, H, W) HDR, or an :class:`ADNetOutput`.
        """
        c = self.config
        sizes = check_shape(inputs, f"B {c.frames} 6 H W",
                            "inputs (frames short → long, each [LDR, exposure-aligned LDR])")
        height, width = sizes["H"], sizes["W"]
        padded = self._pad(inputs)
        ref = c.ref_idx
        others = [i for i in range(c.frames) if i != ref]
        ldr, aligned_ldr = padded[:, :, :3], padded[:, :, 3:]  # (B, N, 3, H', W') each
        # inference on large frames: work in bands of rows where that is exact (see ADNetConfig.band_rows)
        inference = not torch.is_grad_enabled() and not return_intermediates
        bands, merge_bands = (c.band_rows, c.merge_band_rows) if inference else (None, None)
        # 1.–2. pyramid of every frame's exposure-aligned half [P^1, P^2, P^3], and the aligned neighbour
        # features A_i (B, F, H', W'); without PCD the neighbours' P_i^1 pass as they are. A neighbour's
        # pyramid is made just before its alignment and dropped after it.
        ref_pyramid = self.pyramid(aligned_ldr[:, ref])
        aligned, offsets, masks = {}, [], []
        for i in others:
            if self.pcd is None:
                aligned[i] = self.pyramid(aligned_ldr[:, i])[0]
                continue
            aligned[i], frame_offsets, frame_masks = self.pcd(self.pyramid(aligned_ldr[:, i]), ref_pyramid,
                                                              return_intermediates, bands)
            if return_intermediates:
                offsets.append(frame_offsets)
                masks.append(frame_masks)
        # the reference's P_r^1 takes the aligned slot of the reference frame (and is the global skip)
        aligned[ref] = ref_pyramid[0]
        del ref_pyramid
        # 3.–4. attention and merging, in row bands when that bounds memory (inference on large frames)
        if merge_bands is not None and padded.shape[-2] > merge_bands + 2 * self.merge_radius:
            hdr, maps = self._merge_in_bands(ldr, aligned, merge_bands), []
        else:
            hdr, maps = self.merge(ldr, aligned)
        # crop the padding back off: level l is cropped to ⌈H / 2^(l−1)⌉ × ⌈W / 2^(l−1)⌉
        hdr = hdr[..., :height, :width]
        if not return_intermediates:
            return hdr

        def crop(tensor: torch.Tensor, level: str) -> torch.Tensor:
            scale = {"L3": 4, "L2": 2}.get(level, 1)
            return tensor[..., : -(-height // scale), : -(-width // scale)]

        offsets = [{level: crop(t, level) for level, t in frame.items()} for frame in offsets]
        masks = [{level: crop(t, level) for level, t in frame.items()} for frame in masks]
        return ADNetOutput(hdr, offsets, masks, [crop(m, "L1") for m in maps])
