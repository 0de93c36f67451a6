"""MQNet: a MobileNetV2-0.35 U-Net that expands one LDR image to HDR, small enough for a phone once quantized.

Pipeline for an LDR image I (B, 3, H, W) in [0, 1], H and W multiples of 32:

    0. encoder input      x = 2I − 1  (Keras: I·255 → mobilenet.preprocess_input)     (B, 3, H, W) in [−1, 1]
    1. backbone           MobileNetV2, width 0.35: stem + 17 inverted residual blocks
                          skips s1..s4 = expand-ReLU6 of blocks 1, 3, 6, 13            48, 48, 96, 192 ch at H/2..H/16
                          bottleneck b = project-BN of block 16 (linear)                (B, 112, H/32, W/32)
    2. decoder            IRLB(b) with channel attention, IRLB, then three times
                          [nearest ×2, concatenate the skip, IRLB with attention]
                          → conv1×1-BN-ReLU, ×2, concatenate I, conv1×1-BN-ReLU         (B, 16, H, W)
    3. head               O = tanh(W_3 ReLU(IN(W_2 ReLU(IN(W_1 * f)))))                 (B, 3, H, W) in (−1, 1)
    4. output             Ĥ = σ(I + O)                                                  (B, 3, H, W)

An inverted residual linear bottleneck (IRLB) with input x, C_in → C_out channels, expansion t:

    e = ReLU6(BN(W_e x))  (t·C_in ch, 1×1)   d = ReLU6(BN(W_d ⊛ e))  (3×3 depthwise)   p = BN(W_p d)  (1×1, linear)
    y = A(p) + x  if C_in = C_out and stride 1, else A(p)       A = attention or identity

Channel attention (RCAN-style, ratio r): w = σ(W_2 ReLU(W_1 GAP(p) + b_1) + b_2) ∈ (0, 1)^C,  A(p) = p ⊙ w.

Because of step 4 the output is bounded: for I ∈ [0, 1] and O ∈ (−1, 1), Ĥ ∈ (σ(−1), σ(2)) ≈ (0.269, 0.881),
while the training target is min–max normalised to [0, 1], so the released network can never reach the
target's extremes. ``MQNetConfig(output="unbounded")`` replaces step 3's tanh and step 4 by Ĥ = I + O.

Paper preset = the released Keras network (reference/mqnet.md §2): backbone 250,208 parameters (≈ 250k),
decoder 623,352, head 1,872, total 875,432. Deviations, all forced by running offline in PyTorch:
* the backbone is trained from scratch (Keras loads ImageNet weights and freezes it); it is written here in
  plain PyTorch (no torchvision) with Keras' initialisation (Glorot-uniform convolutions);
* stride-2 convolutions pad symmetrically (PyTorch / torchvision style), Keras pads only bottom / right;
* the head's dynamic-range int8 (TFLite) becomes an FP32 head in :mod:`hdredu.quantize`.

Paper: Borrego-Carazo, Ozay, Laboyrie, Wisbey, "A Mixed Quantization Network for (Computationally) Efficient
Mobile Inverse Tone Mapping", BMVC 2021 (arXiv 2203.06504), Sec. 3; the released code BCJuan/ITMMQNet.
Introduced in notebooks/04_mqnet.ipynb.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from hdredu.utils import ablated, check_shape

# MobileNetV2 inverted residual settings (Sandler et al. 2018, Table 2): expansion t, channels c (before the width
# multiplier), repeats n, stride s of the first repeat. The stem (32 ch, stride 2) comes before them.
MOBILENET_V2_SETTINGS = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1))
# Keras layer names of the four skip taps ("block_{n}_expand_relu") and of the bottleneck ("block_16_project_BN").
SKIP_BLOCKS = (1, 3, 6, 13)
BOTTLENECK_BLOCK = 16
# The whole network halves the image five times (stem and blocks 1, 3, 6, 13), so sides must divide by 32.
STRIDE = 32
# Keras BatchNormalization(momentum=0.999, epsilon=1e-3) of MobileNetV2 and of every IRLB. Keras updates
#   moving = momentum · moving + (1 − momentum) · batch,  PyTorch  running = (1 − m) · running + m · batch,
# so Keras 0.999 is PyTorch m = 1 − 0.999 = 0.001.
BN_EPS = 1e-3
BN_MOMENTUM = 1 - 0.999
# The two conv1×1-BN-ReLU fuse blocks (d7, d8; Keras ``DownBlock``) use Keras' default BatchNormalization():
# momentum 0.99 → PyTorch 0.01, epsilon 1e-3.
FUSE_BN_MOMENTUM = 1 - 0.99
# tfa.layers.InstanceNormalization default epsilon.
IN_EPS = 1e-3
ATTENTIONS = ("ca", "se", "sa", "csa", "none")
OUTPUTS = ("paper", "unbounded")
# Ablations of the attention inside the decoder (paper Sec. 4; the README of the release says to swap the block).
ABLATIONS: dict[str, dict] = {
    "CA": {"attention": "ca"},
    "SE": {"attention": "se"},
    "SA": {"attention": "sa"},
    "CSA": {"attention": "csa"},
    "none": {"attention": "none"},
}


def make_divisible(value: float, divisor: int = 8) -> int:
    """Round a channel count to a multiple of ``divisor`` (≥ divisor), never more than 10 % below ``value``.

    MobileNetV2's rule for scaled widths (Keras / torchvision ``_make_divisible``): 0.35 · 32 = 11.2 → 16.
    """
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * value else rounded


@dataclass(frozen=True)
class MQNetConfig:
    """Sizes and switches of MQNet.

    Attributes:
        width_mult: α, MobileNetV2 width multiplier of the backbone (0.35).
        decoder_channels: outputs of d1/d2, d3/d4, d5 and d6, the decoder IRLBs ((32, 24, 16, 8)).
        fuse_channels: outputs of d7 and d8, the conv1×1-BN-ReLU blocks (16).
        expansion: t of the decoder IRLBs (6).
        attention: "ca" (released), "se", "sa", "csa" or "none": the block after the project-BN of d1, d3, d5, d6.
        attention_ratio: r, channel reduction inside CA / SE (2 in the released network; the function default is 16).
        csa_kernel: depthwise kernel of CSA's channel branch; 0 = C, as released (Keras' first positional argument
            of DepthwiseConv2D is kernel_size; a 1×1 was probably meant: pass 1).
        head_channels: widths of head h1 (3×3) and h2 (1×1): (12, 6).
        output: "paper" = σ(I + tanh(h)), bounded to (σ(−1), σ(2)); "unbounded" = I + h (no tanh, no sigmoid).
        bn_momentum: PyTorch momentum of the backbone / IRLB batch norms (0.001 = Keras 0.999).
        fuse_bn_momentum: PyTorch momentum of the d7 / d8 batch norms (0.01 = Keras' default 0.99).
        pad_to_multiple: True = pad the bottom / right edges (replicate) up to a multiple of 32 and crop the output
            back; False = refuse such inputs with a ValueError.
    """

    width_mult: float = 0.35
    decoder_channels: tuple[int, int, int, int] = (32, 24, 16, 8)
    fuse_channels: int = 16
    expansion: int = 6
    attention: str = "ca"
    attention_ratio: int = 2
    csa_kernel: int = 0
    head_channels: tuple[int, int] = (12, 6)
    output: str = "paper"
    bn_momentum: float = BN_MOMENTUM
    fuse_bn_momentum: float = FUSE_BN_MOMENTUM
    pad_to_multiple: bool = True

    @classmethod
    def paper(cls) -> MQNetConfig:
        """The released network: α = 0.35, decoder (32, 24, 16, 8), t = 6, CA with r = 2 (875,432 parameters)."""
        return cls()

    @classmethod
    def tiny(cls) -> MQNetConfig:
        """A CPU-sized model for tests and notebooks: α = 0.2, decoder (16, 12, 8, 8), t = 2, fuse 8 (199,946 parameters).

        Also deviates in the batch-norm momenta (0.1, PyTorch's default, instead of 0.001 / 0.01): with Keras'
        0.001 the running statistics would need thousands of steps to leave their initial (0, 1), so a short
        training evaluated in ``eval()`` mode would be meaningless. Structure, attention, head and output are
        the paper's.
        """
        return cls(width_mult=0.2, decoder_channels=(16, 12, 8, 8), fuse_channels=8, expansion=2,
                   bn_momentum=0.1, fuse_bn_momentum=0.1)

    def ablation(self, name: str) -> MQNetConfig:
        """This config with the decoder attention of one of the paper's ablations (keys of ``ABLATIONS``)."""
        return ablated(self, ABLATIONS, name)

    def validate(self) -> None:
        """Raise ValueError naming the first field that cannot make a model."""
        if not self.width_mult > 0:
            raise ValueError(f"width_mult must be positive; got {self.width_mult}")
        if len(self.decoder_channels) != 4 or min(self.decoder_channels) < 1:
            raise ValueError(f"decoder_channels must be 4 positive integers (d1/d2, d3/d4, d5, d6); got {self.decoder_channels}")
        if len(self.head_channels) != 2 or min(self.head_channels) < 1:
            raise ValueError(f"head_channels must be 2 positive integers (h1, h2); got {self.head_channels}")
        for name in ("fuse_channels", "expansion", "attention_ratio"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be a positive integer; got {getattr(self, name)}")
        if self.csa_kernel < 0:
            raise ValueError(f"csa_kernel must be 0 (= C, as released) or a positive kernel size; got {self.csa_kernel}")
        if self.attention not in ATTENTIONS:
            raise ValueError(f"attention must be one of {ATTENTIONS}; got {self.attention!r}")
        if self.attention in ("ca", "se") and min(self.decoder_channels) // self.attention_ratio < 1:
            raise ValueError(f"attention_ratio must leave ≥ 1 channel in every attention block (C // r ≥ 1 for "
                             f"C = {min(self.decoder_channels)}); got {self.attention_ratio}")
        if self.output not in OUTPUTS:
            raise ValueError(f"output must be one of {OUTPUTS}; got {self.output!r}")
        for name in ("bn_momentum", "fuse_bn_momentum"):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"{name} must be in [0, 1] (PyTorch convention: 1 − Keras momentum); got {getattr(self, name)}")


@dataclass
class MQNetOutput:
    """What ``MQNet.forward(..., return_intermediates=True)`` returns (all cropped back to the input size).

    Attributes:
        output: (B, 3, H, W) the HDR estimate, the same tensor as the plain forward.
        skips: backbone taps s1..s4 (expand-ReLU6 of blocks 1, 3, 6, 13): (B, 48, H/2, W/2), (B, 48, H/4, W/4),
            (B, 96, H/8, W/8), (B, 192, H/16, W/16) for the paper preset (of the padded input).
        bottleneck: (B, 112, H/32, W/32), the project-BN of block 16.
        attention: the weights of d1, d3, d5, d6 (empty for "none"): CA / SE (B, C, 1, 1), SA (B, 1, h, w),
            CSA (B, C, h, w) = channel gate × spatial gate; all in (0, 1).
        features: (B, 16, H, W) the decoder's last feature map (the head's input).
        residual: (B, 3, H, W) O, the head's output added to I before the sigmoid.
    """

    output: torch.Tensor
    skips: list[torch.Tensor]
    bottleneck: torch.Tensor
    attention: list[torch.Tensor]
    features: torch.Tensor
    residual: torch.Tensor


# ------------------------------------------------------------------------------------------------------
# Initialisers (Keras defaults)
# ------------------------------------------------------------------------------------------------------


def init_glorot_uniform(weight: torch.Tensor) -> None:
    """Keras' default kernel initialiser: U(−a, a), a = sqrt(6 / (fan_in + fan_out)).

    PyTorch's fans of a depthwise (C, 1, 3, 3) weight are swapped with respect to Keras' (3, 3, C, 1), but their
    sum, which is all the bound uses, is the same.
    """
    nn.init.xavier_uniform_(weight)


def init_he_normal(weight: torch.Tensor) -> None:
    """Keras' ``he_normal``: normal truncated at ±2σ, σ = sqrt(2 / fan_in) / 0.8796 (undoes the truncation's shrink)."""
    fan_in = weight[0].numel()
    std = math.sqrt(2.0 / fan_in) / 0.87962566103423978
    nn.init.trunc_normal_(weight, std=std, a=-2 * std, b=2 * std)


def batch_norm(channels: int, momentum: float) -> nn.BatchNorm2d:
    """BatchNorm2d with Keras' epsilon 1e-3 and the given PyTorch momentum (1 − Keras momentum)."""
    return nn.BatchNorm2d(channels, eps=BN_EPS, momentum=momentum)


# ------------------------------------------------------------------------------------------------------
# Attention blocks of the decoder (hdrml/networks/blocks.py). Each returns (attended features, weights).
# ------------------------------------------------------------------------------------------------------


class ChannelAttention(nn.Module):
    """CA (RCAN-style): w = σ(W_2 ReLU(W_1 GAP(x) + b_1) + b_2), out = x ⊙ w;  w: (B, C, 1, 1).

    Args:
        channels: C. ratio: r, the hidden width is C // r (2 in the released network). He-normal weights, zero biases.
    """

    def __init__(self, channels: int, ratio: int = 2):
        super().__init__()
        self.reduce = nn.Conv2d(channels, channels // ratio, 1)  # W_1, b_1: C → C/r
        self.expand = nn.Conv2d(channels // ratio, channels, 1)  # W_2, b_2: C/r → C
        for conv in (self.reduce, self.expand):
            init_he_normal(conv.weight)
            nn.init.zeros_(conv.bias)

    def forward(self, feat: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, C, H, W) → ((B, C, H, W), weights (B, C, 1, 1))."""
        pooled = feat.mean(dim=(2, 3), keepdim=True)  # GAP: (B, C, 1, 1), the whole image
        weights = torch.sigmoid(self.expand(F.relu(self.reduce(pooled))))  # (B, C, 1, 1) in (0, 1)
        return feat * weights, weights


class SqueezeExcitation(nn.Module):
    """SE: as CA with fully connected layers without biases: w = σ(W_2 ReLU(W_1 GAP(x))), out = x ⊙ w."""

    def __init__(self, channels: int, ratio: int = 2):
        super().__init__()
        self.reduce = nn.Linear(channels, channels // ratio, bias=False)
        self.expand = nn.Linear(channels // ratio, channels, bias=False)
        for layer in (self.reduce, self.expand):
            init_he_normal(layer.weight)

    def forward(self, feat: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, C, H, W) → ((B, C, H, W), weights (B, C, 1, 1))."""
        pooled = feat.mean(dim=(2, 3))  # (B, C)
        weights = torch.sigmoid(self.expand(F.relu(self.reduce(pooled))))[:, :, None, None]  # (B, C, 1, 1)
        return feat * weights, weights


class SpatialAttention(nn.Module):
    """SA: s = σ(w · x + b) per pixel (a 1×1 convolution C → 1), out = x ⊙ s;  s: (B, 1, H, W)."""

    def __init__(self, channels: int):
        super().__init__()
        self.score = nn.Conv2d(channels, 1, 1)
        init_he_normal(self.score.weight)
        nn.init.zeros_(self.score.bias)

    def forward(self, feat: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, C, H, W) → ((B, C, H, W), weights (B, 1, H, W))."""
        weights = torch.sigmoid(self.score(feat))
        return feat * weights, weights


class ChannelSpatialAttention(nn.Module):
    """CSA: c = σ(depthwise_k(x) + b_c), s = σ(w · x + b) (from x, not from x ⊙ c), out = x ⊙ c ⊙ s.

    As released, the depthwise kernel is k = C ("same" padding: for even k Keras pads one more pixel at the
    bottom / right, reproduced here); ``kernel=1`` gives the per-channel gate that was probably meant.
    """

    def __init__(self, channels: int, kernel: int = 0):
        super().__init__()
        self.kernel = channels if kernel == 0 else kernel
        self.channel = nn.Conv2d(channels, channels, self.kernel, groups=channels)  # depthwise k×k, with bias
        self.score = nn.Conv2d(channels, 1, 1)
        for conv in (self.channel, self.score):
            init_he_normal(conv.weight)
            nn.init.zeros_(conv.bias)

    def forward(self, feat: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, C, H, W) → ((B, C, H, W), weights c ⊙ s (B, C, H, W))."""
        before = (self.kernel - 1) // 2  # TF "same": the extra pixel of an even kernel goes after
        after = self.kernel - 1 - before
        channel_gate = torch.sigmoid(self.channel(F.pad(feat, (before, after, before, after))))  # (B, C, H, W)
        spatial_gate = torch.sigmoid(self.score(feat))  # (B, 1, H, W)
        weights = channel_gate * spatial_gate
        return feat * weights, weights


def make_attention(kind: str, channels: int, config: MQNetConfig) -> nn.Module | None:
    """The attention block ``kind`` for ``channels`` features (None for "none")."""
    if kind == "ca":
        return ChannelAttention(channels, config.attention_ratio)
    if kind == "se":
        return SqueezeExcitation(channels, config.attention_ratio)
    if kind == "sa":
        return SpatialAttention(channels)
    if kind == "csa":
        return ChannelSpatialAttention(channels, config.csa_kernel)
    return None


# ------------------------------------------------------------------------------------------------------
# Inverted residual linear bottleneck (Keras ``_inverted_res_block``)
# ------------------------------------------------------------------------------------------------------


class InvertedResidual(nn.Module):
    """IRLB: [expand 1×1-BN-ReLU6] → depthwise 3×3-BN-ReLU6 → project 1×1-BN (linear) → [attention] → [+ x].

    Args:
        in_channels, out_channels: C_in, C_out.
        expansion: t; the hidden width is t·C_in; t = 1 drops the expand convolution (MobileNetV2 block 0).
        stride: of the depthwise convolution (1 or 2); the residual needs stride 1 and C_in = C_out.
        attention: an attention module applied after the project-BN, or None.
        bn_momentum: PyTorch momentum of the three batch norms.
    All convolutions are bias-free and Glorot-uniform initialised (Keras defaults).
    """

    def __init__(self, in_channels: int, out_channels: int, expansion: int, stride: int = 1,
                 attention: nn.Module | None = None, bn_momentum: float = BN_MOMENTUM):
        super().__init__()
        hidden = in_channels * expansion
        self.use_residual = stride == 1 and in_channels == out_channels
        if expansion != 1:
            self.expand = nn.Conv2d(in_channels, hidden, 1, bias=False)
            self.expand_bn = batch_norm(hidden, bn_momentum)
        else:
            self.expand = self.expand_bn = None
        self.depthwise = nn.Conv2d(hidden, hidden, 3, stride=stride, padding=1, groups=hidden, bias=False)
        self.depthwise_bn = batch_norm(hidden, bn_momentum)
        self.project = nn.Conv2d(hidden, out_channels, 1, bias=False)
        self.project_bn = batch_norm(out_channels, bn_momentum)
        self.attention = attention
        for conv in (self.expand, self.depthwise, self.project):
            if conv is not None:
                init_glorot_uniform(conv.weight)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
        """(B, C_in, H, W) → (out (B, C_out, H/s, W/s), expand-ReLU6 output or None, attention weights or None)."""
        # e = ReLU6(BN(W_e x)): (B, t·C_in, H, W); Keras "block_n_expand_relu", the skip taps
        expanded = F.relu6(self.expand_bn(self.expand(x))) if self.expand is not None else None
        hidden = x if expanded is None else expanded
        # d = ReLU6(BN(W_d ⊛ e)): depthwise 3×3, stride s
        hidden = F.relu6(self.depthwise_bn(self.depthwise(hidden)))
        # p = BN(W_p d): linear bottleneck, (B, C_out, H/s, W/s); Keras "block_n_project_BN"
        out = self.project_bn(self.project(hidden))
        weights = None
        if self.attention is not None:
            out, weights = self.attention(out)
        if self.use_residual:
            out = out + x
        return out, expanded, weights


# ------------------------------------------------------------------------------------------------------
# 1. Backbone: MobileNetV2 (stem + 17 IRLBs), truncated after block 16
# ------------------------------------------------------------------------------------------------------


class MobileNetV2Backbone(nn.Module):
    """MobileNetV2 features up to block 16 (torchvision ``features[0:18]``), width multiplier α.

    Returns the four skip taps (expand-ReLU6 of blocks 1, 3, 6, 13) and the bottleneck (block 16's project-BN,
    before any residual: block 16 has none). Channels for α = 0.35 (reference/mqnet.md §2.1): stem 16,
    blocks 8, 8, 8, 16, 16, 16, 24, 24, 24, 24, 32, 32, 32, 56, 56, 56, 112.

    Args:
        width_mult: α. bn_momentum: PyTorch momentum of every batch norm (0.001 = Keras 0.999).
    """

    def __init__(self, width_mult: float = 0.35, bn_momentum: float = BN_MOMENTUM):
        super().__init__()
        stem_channels = make_divisible(32 * width_mult)
        # stem: conv3×3 stride 2 (no bias) → BN → ReLU6  (Keras "Conv1", "bn_Conv1", "Conv1_relu")
        self.stem = nn.Conv2d(3, stem_channels, 3, stride=2, padding=1, bias=False)
        self.stem_bn = batch_norm(stem_channels, bn_momentum)
        init_glorot_uniform(self.stem.weight)
        blocks, channels = [], stem_channels
        for expansion, base, repeats, stride in MOBILENET_V2_SETTINGS:
            out_channels = make_divisible(base * width_mult)
            for repeat in range(repeats):
                blocks.append(InvertedResidual(channels, out_channels, expansion, stride if repeat == 0 else 1,
                                               bn_momentum=bn_momentum))
                channels = out_channels
        self.blocks = nn.ModuleList(blocks)  # 17 blocks, Keras block_0 … block_16
        self.skip_channels = tuple(blocks[n].expand.out_channels for n in SKIP_BLOCKS)
        self.out_channels = channels

    def forward(self, ldr: torch.Tensor) -> tuple[list[torch.Tensor], torch.Tensor]:
        """(B, 3, H, W) LDR in [0, 1] → (skips s1..s4, bottleneck (B, C_b, H/32, W/32))."""
        # Keras: preprocess_input(255 · I) = 255 · I / 127.5 − 1 = 2I − 1 ∈ [−1, 1]
        x = 2.0 * ldr - 1.0
        x = F.relu6(self.stem_bn(self.stem(x)))  # (B, 16, H/2, W/2)
        skips = []
        for index, block in enumerate(self.blocks):
            x, expanded, _ = block(x)
            if index in SKIP_BLOCKS:
                skips.append(expanded)  # the expand-ReLU6 output, before this block's stride-2 depthwise
        return skips, x


# ------------------------------------------------------------------------------------------------------
# 2. Decoder: IRLBs with attention, nearest upsampling, skip concatenation
# ------------------------------------------------------------------------------------------------------


class FuseBlock(nn.Module):
    """conv1×1 (no bias, He-normal) → BN → ReLU: Keras ``DownBlock(n, 1, 1, 1, "same", False, False)`` (d7, d8)."""

    def __init__(self, in_channels: int, out_channels: int, bn_momentum: float = FUSE_BN_MOMENTUM):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, 1, bias=False)
        self.bn = batch_norm(out_channels, bn_momentum)
        init_he_normal(self.conv.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.bn(self.conv(x)))


def upsample(x: torch.Tensor) -> torch.Tensor:
    """Nearest-neighbour ×2 (Keras ``UpSampling2D(2)`` default): (B, C, h, w) → (B, C, 2h, 2w)."""
    return F.interpolate(x, scale_factor=2.0, mode="nearest")


class Decoder(nn.Module):
    """bottleneck + skips + I → (B, F, H, W) features for the head (the rows d1..d8 of reference/mqnet.md §2).

    Args:
        bottleneck_channels: C_b (112). skip_channels: s1..s4 channels (48, 48, 96, 192). config: sizes.
    """

    def __init__(self, bottleneck_channels: int, skip_channels: tuple[int, ...], config: MQNetConfig):
        super().__init__()
        c1, c2, c3, c4 = config.decoder_channels
        t, momentum, kind = config.expansion, config.bn_momentum, config.attention

        def irlb(c_in: int, c_out: int, attend: bool) -> InvertedResidual:
            attention = make_attention(kind, c_out, config) if attend else None
            return InvertedResidual(c_in, c_out, t, 1, attention, momentum)

        s1, s2, s3, s4 = skip_channels
        self.d1 = irlb(bottleneck_channels, c1, True)  # 112 → 32, CA           (B, 32, H/32, W/32)
        self.d2 = irlb(c1, c1, False)  # 32 → 32, residual                       (B, 32, H/32, W/32)
        self.d3 = irlb(c1 + s4, c2, True)  # up, cat s4: 224 → 24, CA           (B, 24, H/16, W/16)
        self.d4 = irlb(c2, c2, False)  # 24 → 24, residual
        self.d5 = irlb(c2 + s3, c3, True)  # up, cat s3: 120 → 16, CA           (B, 16, H/8, W/8)
        self.d6 = irlb(c3 + s2, c4, True)  # up, cat s2: 64 → 8, CA             (B, 8, H/4, W/4)
        self.d7 = FuseBlock(c4 + s1, config.fuse_channels, config.fuse_bn_momentum)  # up, cat s1: 56 → 16 (H/2)
        self.d8 = FuseBlock(config.fuse_channels + 3, config.fuse_channels, config.fuse_bn_momentum)  # up, cat I: 19 → 16
        self.out_channels = config.fuse_channels

    def forward(self, ldr: torch.Tensor, skips: list[torch.Tensor], bottleneck: torch.Tensor
                ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Returns (features (B, F, H, W), attention weights of d1, d3, d5, d6 (empty without attention))."""
        s1, s2, s3, s4 = skips
        weights = []
        x, _, w = self.d1(bottleneck)
        weights.append(w)
        x, _, _ = self.d2(x)
        x, _, w = self.d3(torch.cat([upsample(x), s4], dim=1))  # [↑x, s4]: (B, 32 + 192, H/16, W/16)
        weights.append(w)
        x, _, _ = self.d4(x)
        x, _, w = self.d5(torch.cat([upsample(x), s3], dim=1))  # (B, 24 + 96, H/8, W/8)
        weights.append(w)
        x, _, w = self.d6(torch.cat([upsample(x), s2], dim=1))  # (B, 16 + 48, H/4, W/4)
        weights.append(w)
        x = self.d7(torch.cat([upsample(x), s1], dim=1))  # (B, 8 + 48, H/2, W/2) → (B, 16, H/2, W/2)
        x = self.d8(torch.cat([upsample(x), ldr], dim=1))  # (B, 16 + 3, H, W) → (B, 16, H, W); I in [0, 1]
        return x, [w for w in weights if w is not None]


# ------------------------------------------------------------------------------------------------------
# 3. Head (Keras ``FusionModelConv``)
# ------------------------------------------------------------------------------------------------------


class Head(nn.Module):
    """h = W_3 ReLU(IN(W_2 ReLU(IN(W_1 * f + b_1)) + b_2)): 3×3 then two 1×1 convolutions, F → 12 → 6 → 3.

    With ``bounded`` the result goes through tanh: O ∈ (−1, 1) (released network). 1,872 parameters for
    (16, 12, 6): 3×3 conv 1,740, IN 24, 1×1 conv 78, IN 12, 1×1 conv 18 (no bias).

    Init quirk of the release: the InstanceNorm scale γ and shift β start as U(−0.05, 0.05) (tfa's
    "random_uniform"), so γ ≈ 0, O ≈ 0 and the initial output is ≈ σ(I). W_1, W_2 are He-normal, W_3 Glorot.
    """

    def __init__(self, in_channels: int = 16, channels: tuple[int, int] = (12, 6), bounded: bool = True):
        super().__init__()
        c1, c2 = channels
        self.bounded = bounded
        self.conv1 = nn.Conv2d(in_channels, c1, 3, padding=1)
        self.norm1 = nn.InstanceNorm2d(c1, eps=IN_EPS, affine=True)
        self.conv2 = nn.Conv2d(c1, c2, 1)
        self.norm2 = nn.InstanceNorm2d(c2, eps=IN_EPS, affine=True)
        self.conv3 = nn.Conv2d(c2, 3, 1, bias=False)
        for conv in (self.conv1, self.conv2):
            init_he_normal(conv.weight)
            nn.init.zeros_(conv.bias)
        init_glorot_uniform(self.conv3.weight)
        for norm in (self.norm1, self.norm2):
            nn.init.uniform_(norm.weight, -0.05, 0.05)
            nn.init.uniform_(norm.bias, -0.05, 0.05)

    def forward(self, feat: torch.Tensor) -> torch.Tensor:
        """(B, F, H, W) → O (B, 3, H, W), in (−1, 1) when bounded."""
        x = F.relu(self.norm1(self.conv1(feat)))  # (B, 12, H, W); IN: per image and channel over H × W
        x = F.relu(self.norm2(self.conv2(x)))  # (B, 6, H, W)
        x = self.conv3(x)  # (B, 3, H, W)
        return torch.tanh(x) if self.bounded else x


# ------------------------------------------------------------------------------------------------------
# The whole network
# ------------------------------------------------------------------------------------------------------


class MQNet(nn.Module):
    """MQNet (Borrego-Carazo et al., BMVC 2021): single-image inverse tone mapping, the released Keras network.

    Args:
        config: an :class:`MQNetConfig` (``MQNetConfig.paper()`` when None).

    ``forward(ldr)`` takes (B, 3, H, W) gamma-encoded LDR in [0, 1] and returns (B, 3, H, W) HDR normalised like
    the training target (min–max to [0, 1]); with the paper head the values lie in (0.269, 0.881). Sides that
    are not multiples of 32 are padded (replicate, bottom / right) and the output cropped back, or refused
    when ``config.pad_to_multiple`` is False. The three parts are the attributes ``backbone``, ``decoder``
    and ``head`` (the units that :mod:`hdredu.ops.quant` and :mod:`hdredu.quantize` quantize separately).

    Paper: Borrego-Carazo et al., BMVC 2021, Sec. 3 (arXiv 2203.06504); code BCJuan/ITMMQNet.
    Introduced in notebooks/04_mqnet.ipynb.
    """

    config_class = MQNetConfig
    task = "itm"

    def __init__(self, config: MQNetConfig | None = None):
        super().__init__()
        config = MQNetConfig.paper() if config is None else config
        config.validate()
        self.config = config
        self.backbone = MobileNetV2Backbone(config.width_mult, config.bn_momentum)
        self.decoder = Decoder(self.backbone.out_channels, self.backbone.skip_channels, config)
        self.head = Head(self.decoder.out_channels, config.head_channels, bounded=config.output == "paper")

    @property
    def receptive_radius(self) -> None:
        """None: tiled inference is never exact for MQNet, so :func:`hdredu.inference.predict` must not tile it.

        With CA or SE (the released network) every output pixel depends on the whole image through the global
        average pooling, and the head's InstanceNorm normalises over the whole image too (every variant).
        Even without them, the network samples the image on stride-2 grids down to 1/32, so a tile whose origin
        is not a multiple of 32 sees different samples than the whole image does.
        """
        return None

    def network(self, ldr: torch.Tensor) -> tuple[torch.Tensor, MQNetOutput]:
        """The bare network on (B, 3, H, W), H and W multiples of 32, no checks (what :mod:`hdredu.quantize` exports)."""
        skips, bottleneck = self.backbone(ldr)  # s1..s4, (B, 112, H/32, W/32)
        features, weights = self.decoder(ldr, skips, bottleneck)  # (B, 16, H, W)
        residual = self.head(features)  # O: (B, 3, H, W)
        if self.config.output == "paper":
            output = torch.sigmoid(ldr + residual)  # Ĥ = σ(I + O) ∈ (σ(−1), σ(2))
        else:
            output = ldr + residual  # Ĥ = I + O, unbounded
        return output, MQNetOutput(output, skips, bottleneck, weights, features, residual)

    def forward(self, ldr: torch.Tensor, return_intermediates: bool = False) -> torch.Tensor | MQNetOutput:
        """Expand LDR to HDR.

        Args:
            ldr: (B, 3, H, W) gamma-encoded LDR in [0, 1].
            return_intermediates: also return skips, bottleneck, attention weights, features and O.
        Returns:
            (B, 3, H, W), or an :class:`MQNetOutput` (spatial maps of the skips / attention stay at the padded size).
        """
        sizes = check_shape(ldr, "B 3 H W", "ldr (gamma-encoded LDR image)")
        if not torch.isfinite(ldr).all() or ldr.min() < 0 or ldr.max() > 1:
            raise ValueError(f"ldr must hold LDR values in [0, 1]; got min {ldr.min().item():.4g}, "
                             f"max {ldr.max().item():.4g} (divide 8-bit images by 255, clip first)")
        height, width = sizes["H"], sizes["W"]
        pad_h, pad_w = -height % STRIDE, -width % STRIDE
        if pad_h or pad_w:
            if not self.config.pad_to_multiple:
                raise ValueError(f"ldr height and width must be multiples of {STRIDE} (the network halves them 5 "
                                 f"times); got {height}x{width}: crop or pad it, or use pad_to_multiple=True")
            # pad bottom / right by repeating the edge, so the network sees a multiple of 32
            ldr = F.pad(ldr, (0, pad_w, 0, pad_h), mode="replicate")
        output, parts = self.network(ldr)
        if pad_h or pad_w:  # crop back to the input size
            output = output[..., :height, :width]
            parts = dataclasses.replace(parts, output=output, features=parts.features[..., :height, :width],
                                        residual=parts.residual[..., :height, :width])
        return parts if return_intermediates else output
