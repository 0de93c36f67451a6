"""The inverted shuffle layer (ISL) of ALEN: a learned 2× downsampling that keeps every pixel.

Max-pooling keeps one value of each 2×2 block and drops three. The ISL keeps all four: it moves each 2×2
block of pixels into the channels (space-to-depth, PyTorch's ``pixel_unshuffle``), then a 1×1 convolution
chooses, per output channel, a learned mix of the 4C values:

    U[c·s² + i·s + j, y, x] = X[c, s·y + i, s·x + j]          (B, C·s², H/s, W/s)   pixel_unshuffle, s = 2
    Y = W_1x1 * U + b                                         (B, C_out, H/s, W/s)  C_out = C in ALEN

Channel ``c·s² + i·s + j`` of U holds input channel c at sub-pixel (row i, column j) of each s×s block: the
"CRD" order of PyTorch (TensorFlow's ``space_to_depth`` orders the sub-pixel first; reference/alen.md §3.5).
A 1×1 kernel that picks the maximum cannot exist (max is not linear), but one that averages, or picks one
sub-pixel, can: the ISL can learn average pooling or strided subsampling, and anything between.

Paper: Zhang et al., "Attention-based network for low-light image enhancement", ICME 2020 (ISL); the
pixel_unshuffle + 1×1 conv form follows a third-party description (reference/alen.md §1); 4C → C is a
(reconstruction) choice, 4C → 2C is the other reading.
Introduced in notebooks/05_alen.ipynb, section 5 *Inverted shuffle layer*.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from hdredu.utils import check_shape


def inverted_shuffle(
    feat: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None, factor: int = 2
) -> torch.Tensor:
    """Inverted shuffle layer, functional form: Y = W_1x1 * pixel_unshuffle(X, s) + b.

    Args:
        feat: (B, C, H, W) features X; H and W must be multiples of ``factor``.
        weight: (C_out, C·s², 1, 1) the 1×1 convolution; input channel c·s² + i·s + j reads sub-pixel (i, j)
            of channel c.
        bias: (C_out,) or None.
        factor: s, the downsampling factor (2 in ALEN).
    Returns:
        (B, C_out, H/s, W/s).
    """
    sizes = check_shape(feat, "B C H W", "feat")
    if factor < 1:
        raise ValueError(f"factor must be a positive integer; got {factor}")
    if sizes["H"] % factor or sizes["W"] % factor:
        raise ValueError(
            f"feat height and width must be multiples of factor={factor} (crop or pad the image); "
            f"got {sizes['H']}×{sizes['W']}"
        )
    packed_channels = sizes["C"] * factor * factor
    if weight.dim() != 4 or weight.shape[1:] != (packed_channels, 1, 1):
        raise ValueError(
            f"weight must be (C_out, C·s², 1, 1) = (C_out, {packed_channels}, 1, 1); got {tuple(weight.shape)}"
        )
    # U = pixel_unshuffle(X): (B, C, H, W) → (B, C·s², H/s, W/s), no pixel dropped
    unshuffled = F.pixel_unshuffle(feat, factor)
    # Y = W_1x1 * U + b: (B, C·s², H/s, W/s) → (B, C_out, H/s, W/s)
    return F.conv2d(unshuffled, weight, bias)


class InvertedShuffle(nn.Module):
    """Inverted shuffle layer: pixel_unshuffle by ``factor`` then a 1×1 convolution (ALEN's pooling layer).

    Args:
        channels: C, input channels.
        out_channels: C_out (default C: the (reconstruction) 4C → C of reference/alen.md §2).
        factor: s, downsampling factor (2).
        bias: give the 1×1 convolution a bias (True).

    ``forward(feat)``: (B, C, H, W) → (B, C_out, H/s, W/s).

    Paper: Zhang et al., ICME 2020 (see the module docstring).
    Introduced in notebooks/05_alen.ipynb, section 5 *Inverted shuffle layer*.
    """

    def __init__(self, channels: int, out_channels: int | None = None, factor: int = 2, bias: bool = True):
        super().__init__()
        if channels < 1:
            raise ValueError(f"channels must be a positive number of channels; got {channels}")
        if factor < 1:
            raise ValueError(f"factor must be a positive integer; got {factor}")
        out_channels = channels if out_channels is None else out_channels
        self.channels, self.factor = channels, factor
        # W_1x1: C·s² → C_out
        self.conv = nn.Conv2d(channels * factor * factor, out_channels, 1, bias=bias)

    def forward(self, feat: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) → (B, C_out, H/s, W/s)."""
        sizes = check_shape(feat, "B C H W", "feat")
        if sizes["C"] != self.channels:
            raise ValueError(f"feat must have {self.channels} channels (B, {self.channels}, H, W); got {tuple(feat.shape)}")
        return inverted_shuffle(feat, self.conv.weight, self.conv.bias, self.factor)
