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

import torch
import torch.nn.functional as F
from torch import nn

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
