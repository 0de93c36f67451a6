"""AHDRNet's attention module: decide, per pixel and per feature channel, how much of a non-reference frame to keep.

Given the shallow features ``Z_i`` of a non-reference exposure and ``Z_r`` of the reference exposure,

    A_i  = σ( W_2 * LReLU( W_1 * [Z_i, Z_r] + b_1 ) + b_2 )          (B, F, H, W), values in (0, 1)
    Z_i' = Z_i ⊙ A_i                                                   (B, F, H, W)

where ``*`` is a 3×3 "same" convolution, ``[·, ·]`` concatenates channels (2F channels in) and ``W_1`` keeps
2F channels while ``W_2`` brings them back to F. The map is as wide as the features (F channels, not one):
each feature channel gets its own gate. Where frame i disagrees with the reference (a moving object) or
carries no information (clipped or crushed pixels), training pushes ``A_i`` towards 0.

Paper: Yan et al., "Attention-guided Network for Ghost-free High Dynamic Range Imaging", CVPR 2019, Sec. 3.2.
Introduced in notebooks/01_ahdrnet.ipynb, section 3.2 *Attention module*.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from hdredu.ops.nonlocal_ import NonLocalBlock
from hdredu.utils import check_shape

# nn.LeakyReLU() default slope, which the official AHDRNet code uses everywhere.
LEAKY_SLOPE = 0.01


def _check_pair(feat: torch.Tensor, ref_feat: torch.Tensor) -> dict[str, int]:
    """Check that ``feat`` and ``ref_feat`` are both (B, F, H, W) with the same sizes; return the sizes."""
    sizes = check_shape(feat, "B F H W", "feat")
    ref_sizes = check_shape(ref_feat, "B F H W", "ref_feat")
    if sizes != ref_sizes:
        raise ValueError(
            f"feat and ref_feat must have the same shape (B, F, H, W); got {tuple(feat.shape)} and {tuple(ref_feat.shape)}"
        )
    return sizes


def attention_map(
    feat: torch.Tensor,
    ref_feat: torch.Tensor,
    weight1: torch.Tensor,
    bias1: torch.Tensor | None,
    weight2: torch.Tensor,
    bias2: torch.Tensor | None,
    negative_slope: float = LEAKY_SLOPE,
) -> torch.Tensor:
    """The attention map  A = σ(W_2 * LReLU(W_1 * [feat, ref_feat] + b_1) + b_2), functional form.

    Args:
        feat: (B, F, H, W) features Z_i of a non-reference exposure.
        ref_feat: (B, F, H, W) features Z_r of the reference exposure.
        weight1: (2F, 2F, k, k) first convolution (k odd; "same" padding k // 2); bias1: (2F,) or None.
        weight2: (F, 2F, k, k) second convolution; bias2: (F,) or None.
        negative_slope: LeakyReLU slope between the two convolutions (0.01 in the official code).
    Returns:
        (B, F, H, W) attention values in (0, 1).
    """
    sizes = _check_pair(feat, ref_feat)
    features = sizes["F"]
    if weight1.dim() != 4 or weight1.shape[:2] != (2 * features, 2 * features):
        raise ValueError(f"weight1 must be (2F, 2F, k, k) = ({2 * features}, {2 * features}, k, k); got {tuple(weight1.shape)}")
    if weight2.dim() != 4 or weight2.shape[:2] != (features, 2 * features):
        raise ValueError(f"weight2 must be (F, 2F, k, k) = ({features}, {2 * features}, k, k); got {tuple(weight2.shape)}")
    # [Z_i, Z_r]: (B, 2F, H, W)
    pair = torch.cat([feat, ref_feat], dim=1)
    # W_1 * [Z_i, Z_r] + b_1, then LeakyReLU: (B, 2F, H, W)
    hidden = F.leaky_relu(F.conv2d(pair, weight1, bias1, padding=weight1.shape[-1] // 2), negative_slope)
    # σ(W_2 * hidden + b_2): (B, F, H, W), one gate per pixel and channel
    return torch.sigmoid(F.conv2d(hidden, weight2, bias2, padding=weight2.shape[-1] // 2))


class Attention(nn.Module):
    """AHDRNet's attention module for one non-reference exposure (the paper has one per non-reference frame).

    Args:
        features: F, channels of the shallow features (64 in the paper).
        kernel_size: size of both convolutions (3 in the paper).
        negative_slope: LeakyReLU slope (0.01, PyTorch's default, as in the official code).

    ``forward(feat, ref_feat)`` returns the attention map A (B, F, H, W) in (0, 1); multiply it with
    ``feat`` yourself (``feat * attn``), which keeps the map available for figures.

    Paper: Yan et al., CVPR 2019, Sec. 3.2, Eq. (1)–(2).
    Introduced in notebooks/01_ahdrnet.ipynb, section 3.2 *Attention module*.
    """

    def __init__(self, features: int = 64, kernel_size: int = 3, negative_slope: float = LEAKY_SLOPE):
        super().__init__()
        if features < 1:
            raise ValueError(f"features must be a positive number of channels; got {features}")
        if kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be odd so that the map keeps the image size; got {kernel_size}")
        self.features = features
        self.negative_slope = negative_slope
        # W_1: 2F → 2F  (att11 / att31 in the official code)
        self.conv1 = nn.Conv2d(2 * features, 2 * features, kernel_size, padding=kernel_size // 2)
        # W_2: 2F → F  (att12 / att32)
        self.conv2 = nn.Conv2d(2 * features, features, kernel_size, padding=kernel_size // 2)

    def forward(self, feat: torch.Tensor, ref_feat: torch.Tensor) -> torch.Tensor:
        """A = σ(W_2 * LReLU(W_1 * [feat, ref_feat])): (B, F, H, W), (B, F, H, W) → (B, F, H, W) in (0, 1)."""
        sizes = _check_pair(feat, ref_feat)
        if sizes["F"] != self.features:
            raise ValueError(f"feat must have {self.features} channels (B, {self.features}, H, W); got {tuple(feat.shape)}")
        return attention_map(
            feat, ref_feat, self.conv1.weight, self.conv1.bias, self.conv2.weight, self.conv2.bias, self.negative_slope
        )


# ------------------------------------------------------------------------------------------------------
# ALEN's attention: channel attention, spatial attention and the mixed attention block (MAB)
# ------------------------------------------------------------------------------------------------------
#
# Channel attention (squeeze-and-excitation; Hu et al., CVPR 2018), for features x (B, C, H, W):
#
#     s = GAP(x)                                   (B, C, 1, 1)   global average over H × W ("squeeze")
#     w = σ(W_2 * ReLU(W_1 * s + b_1) + b_2)       (B, C, 1, 1)   1×1 convs C → C/r → C ("excitation")
#     x' = x ⊙ w                                   one weight in (0, 1) per channel
#
# Spatial attention (CBAM; Woo et al., ECCV 2018):
#
#     m = σ(W_s * [mean_c(x), max_c(x)] + b_s)     (B, 1, H, W)   k×k conv of the channel mean and max (2 → 1)
#     x' = x ⊙ m                                   one weight in (0, 1) per pixel
#
# ALEN uses channel attention against redundant colour features and chromatic aberration and non-local
# spatial attention against noise (Zhang et al., ICME 2020, abstract). The MAB below chains them; its exact
# layout is not published (reference/alen.md §1-2) and every choice in it is a (reconstruction).


def channel_weights(
    feat: torch.Tensor,
    weight1: torch.Tensor,
    bias1: torch.Tensor | None,
    weight2: torch.Tensor,
    bias2: torch.Tensor | None,
) -> torch.Tensor:
    """Squeeze-and-excitation channel weights  w = σ(W_2 * ReLU(W_1 * GAP(x) + b_1) + b_2), functional form.

    Args:
        feat: (B, C, H, W) features x.
        weight1: (C_r, C, 1, 1) squeeze convolution (C_r = C // r hidden channels); bias1: (C_r,) or None.
        weight2: (C, C_r, 1, 1) excitation convolution; bias2: (C,) or None.
    Returns:
        (B, C, 1, 1) weights in (0, 1); ``feat * w`` applies them.
    """
    sizes = check_shape(feat, "B C H W", "feat")
    channels = sizes["C"]
    if weight1.dim() != 4 or weight1.shape[1:] != (channels, 1, 1):
        raise ValueError(f"weight1 must be (C_r, C, 1, 1) = (C_r, {channels}, 1, 1); got {tuple(weight1.shape)}")
    if weight2.dim() != 4 or weight2.shape != (channels, weight1.shape[0], 1, 1):
        raise ValueError(
            f"weight2 must be (C, C_r, 1, 1) = ({channels}, {weight1.shape[0]}, 1, 1); got {tuple(weight2.shape)}"
        )
    # s = GAP(x): (B, C, 1, 1)
    squeezed = feat.mean(dim=(2, 3), keepdim=True)
    # ReLU(W_1 * s + b_1): (B, C_r, 1, 1)
    hidden = F.relu(F.conv2d(squeezed, weight1, bias1))
    # w = σ(W_2 * hidden + b_2): (B, C, 1, 1)
    return torch.sigmoid(F.conv2d(hidden, weight2, bias2))


def spatial_map(feat: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    """CBAM spatial attention map  m = σ(W_s * [mean_c(x), max_c(x)] + b_s), functional form.

    Args:
        feat: (B, C, H, W) features x.
        weight: (1, 2, k, k) convolution over the two pooled maps (k odd; "same" padding k // 2); bias: (1,) or None.
    Returns:
        (B, 1, H, W) map in (0, 1); ``feat * m`` applies it.
    """
    check_shape(feat, "B C H W", "feat")
    if weight.dim() != 4 or weight.shape[:2] != (1, 2) or weight.shape[-1] % 2 == 0:
        raise ValueError(f"weight must be (1, 2, k, k) with k odd; got {tuple(weight.shape)}")
    # [mean over channels, max over channels]: (B, 2, H, W)
    pooled = torch.cat([feat.mean(dim=1, keepdim=True), feat.amax(dim=1, keepdim=True)], dim=1)
    # m = σ(W_s * pooled + b_s): (B, 1, H, W)
    return torch.sigmoid(F.conv2d(pooled, weight, bias, padding=weight.shape[-1] // 2))


class ChannelAttention(nn.Module):
    """Channel attention (squeeze-and-excitation): ``forward(feat)`` returns the weights w (B, C, 1, 1) in (0, 1).

    Args:
        channels: C.
        reduction: r; the hidden layer has max(C // r, 1) channels (16: the SE / RCAN default; ALEN's ratio
            is unknown, a (reconstruction)).

    Multiply yourself (``feat * w``), which keeps the weights available for figures.

    Paper: Hu, Shen, Sun, "Squeeze-and-Excitation Networks", CVPR 2018; used as ALEN's CAB (Zhang et al., ICME 2020).
    Introduced in notebooks/05_alen.ipynb, section 5 *Channel and spatial attention, and the mixed attention block*.
    """

    def __init__(self, channels: int, reduction: int = 16):
        super().__init__()
        if channels < 1:
            raise ValueError(f"channels must be a positive number of channels; got {channels}")
        if reduction < 1:
            raise ValueError(f"reduction must be a positive integer; got {reduction}")
        self.channels = channels
        hidden = max(channels // reduction, 1)
        # W_1: C → C/r (squeeze), W_2: C/r → C (excitation), both 1×1
        self.squeeze = nn.Conv2d(channels, hidden, 1)
        self.excite = nn.Conv2d(hidden, channels, 1)

    def forward(self, feat: torch.Tensor) -> torch.Tensor:
        """w = σ(W_2 * ReLU(W_1 * GAP(x))): (B, C, H, W) → (B, C, 1, 1)."""
        sizes = check_shape(feat, "B C H W", "feat")
        if sizes["C"] != self.channels:
            raise ValueError(f"feat must have {self.channels} channels (B, {self.channels}, H, W); got {tuple(feat.shape)}")
        return channel_weights(feat, self.squeeze.weight, self.squeeze.bias, self.excite.weight, self.excite.bias)


class SpatialAttention(nn.Module):
    """CBAM spatial attention: ``forward(feat)`` returns the map m (B, 1, H, W) in (0, 1).

    Args:
        kernel_size: k of the convolution over [mean_c, max_c] (7, CBAM's choice; odd).

    Paper: Woo, Park, Lee, Kweon, "CBAM: Convolutional Block Attention Module", ECCV 2018, Sec. 3.
    Introduced in notebooks/05_alen.ipynb, section 5 *Channel and spatial attention, and the mixed attention block*.
    """

    def __init__(self, kernel_size: int = 7):
        super().__init__()
        if kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be odd so that the map keeps the image size; got {kernel_size}")
        # W_s: 2 → 1, k×k
        self.conv = nn.Conv2d(2, 1, kernel_size, padding=kernel_size // 2)

    def forward(self, feat: torch.Tensor) -> torch.Tensor:
        """m = σ(W_s * [mean_c(x), max_c(x)]): (B, C, H, W) → (B, 1, H, W)."""
        return spatial_map(feat, self.conv.weight, self.conv.bias)


@dataclass
class MixedAttentionOutput:
    """What ``MixedAttention.forward(..., return_intermediates=True)`` returns.

    Attributes:
        output: (B, C, H, W) the block's output.
        channel_weights: (B, C) channel attention weights in (0, 1), or None without channel attention.
        spatial_map: (B, 1, H, W) spatial attention map in (0, 1).
        nonlocal_attention: (B, N, M) non-local softmax weights (N = H·W queries, M keys), or None without it.
    """

    output: torch.Tensor
    channel_weights: torch.Tensor | None
    spatial_map: torch.Tensor
    nonlocal_attention: torch.Tensor | None


class MixedAttention(nn.Module):
    """ALEN's mixed attention block (MAB): channel attention, then spatial attention, then (optionally) non-local.

        a = x ⊙ w(x)          channel attention (SE), w (B, C, 1, 1)              [skipped if channel=False]
        l = a ⊙ m(a)          local spatial attention (CBAM), m (B, 1, H, W)
        z = l + W_z * y(l)    non-local block (global), identity at initialisation [skipped if nonlocal_=False]

    The non-local block's residual sum is where local (l) and global (W_z * y) features meet: the explainer's
    "MAB fuses local and global features" (reference/alen.md §1).

    (reconstruction) The published description names only the parts. The order channel → spatial follows
    CBAM (Woo et al. 2018), which found it better than the reverse or parallel; the local CBAM spatial map is
    added because a non-local block over a full-resolution level is unaffordable, so shallow levels would
    otherwise have no spatial attention at all; the non-local block comes last so that it correlates
    features already re-weighted by the cheap attentions. No residual around the whole block: the gates must
    be able to suppress (chromatic aberration, noise), and the convolutions that follow rescale.

    Args:
        channels: C.
        reduction: r of the channel attention (16, a (reconstruction)).
        spatial_kernel: k of the spatial attention (7, CBAM's).
        channel: use the channel attention (False: the ``no_channel_attention`` ablation).
        nonlocal_: append a non-local block (only at the deepest U-Net levels in ALEN).
        subsample: max-pool the non-local block's keys and values 2×2 (4× less attention memory).

    Paper: Zhang et al., "Attention-based network for low-light image enhancement", ICME 2020 (MAB, CAB).
    Introduced in notebooks/05_alen.ipynb, section 5 *Channel and spatial attention, and the mixed attention block*.
    """

    def __init__(
        self,
        channels: int,
        reduction: int = 16,
        spatial_kernel: int = 7,
        channel: bool = True,
        nonlocal_: bool = False,
        subsample: bool = True,
    ):
        super().__init__()
        if channels < 1:
            raise ValueError(f"channels must be a positive number of channels; got {channels}")
        self.channels = channels
        self.channel_attention = ChannelAttention(channels, reduction) if channel else None
        self.spatial_attention = SpatialAttention(spatial_kernel)
        self.nonlocal_block = NonLocalBlock(channels, subsample=subsample) if nonlocal_ else None

    def forward(self, feat: torch.Tensor, return_intermediates: bool = False) -> torch.Tensor | MixedAttentionOutput:
        """(B, C, H, W) → (B, C, H, W), or a :class:`MixedAttentionOutput` with the attention maps."""
        sizes = check_shape(feat, "B C H W", "feat")
        if sizes["C"] != self.channels:
            raise ValueError(f"feat must have {self.channels} channels (B, {self.channels}, H, W); got {tuple(feat.shape)}")
        weights = None
        if self.channel_attention is not None:
            # a = x ⊙ w(x): w (B, C, 1, 1) broadcast over H × W
            weights = self.channel_attention(feat)
            feat = feat * weights
        # l = a ⊙ m(a): m (B, 1, H, W) broadcast over channels
        local_map = self.spatial_attention(feat)
        feat = feat * local_map
        attn = None
        if self.nonlocal_block is not None:
            # z = l + W_z * y(l): (B, C, H, W); attn (B, N, M)
            feat, attn = self.nonlocal_block(feat, return_attention=True)
        if not return_intermediates:
            return feat
        return MixedAttentionOutput(feat, None if weights is None else weights.flatten(1), local_map, attn)
