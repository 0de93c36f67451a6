"""Feature-processing blocks: the dilated residual dense block (DRDB) of AHDRNet and a plain residual block.

DRDB with input x (B, F, H, W), n dense layers of growth g and dilation d:

    x_0 = x
    x_j = [x_{j-1}, ReLU(W_j *_d x_{j-1} + b_j)]      j = 1..n,  (B, F + j·g, H, W)   (dense connections)
    y   = W_f * x_n + b_f + x                         (B, F, H, W)  (1×1 local fusion + local residual)

``*_d`` is a 3×3 convolution with dilation d and padding d (the image size is kept). Each dense layer sees
every earlier feature map; dilation 2 widens the receptive field without extra weights, so the 3 DRDBs of
AHDRNet see ±(3·n·d) = ±36 pixels, enough to reach past small misalignments. With d = 1 it is the residual
dense block (RDB) of Zhang et al. (CVPR 2018).

Residual block (RB-Net ablation): y = x + W_2 * ReLU(W_1 * x + b_1) + b_2, 3×3 convolutions.

Paper: Yan et al., "Attention-guided Network for Ghost-free High Dynamic Range Imaging", CVPR 2019, Sec. 3.3.
Introduced in notebooks/01_ahdrnet.ipynb, section 3.3 *Dilated residual dense block*.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from hdredu.utils import check_shape


def drdb(
    feat: torch.Tensor,
    dense_weights: Sequence[torch.Tensor],
    dense_biases: Sequence[torch.Tensor | None],
    fuse_weight: torch.Tensor,
    fuse_bias: torch.Tensor | None,
    dilation: int = 2,
) -> torch.Tensor:
    """Dilated residual dense block, functional form (see the module docstring for the equations).

    Args:
        feat: (B, F, H, W) input features x.
        dense_weights: n tensors; the j-th (j = 1..n) is (g, F + (j−1)·g, 3, 3).
        dense_biases: n tensors (g,) or None.
        fuse_weight: (F, F + n·g, 1, 1) local feature fusion; fuse_bias: (F,) or None.
        dilation: d, dilation (and padding) of the 3×3 dense convolutions; 2 in AHDRNet, 1 gives an RDB.
    Returns:
        (B, F, H, W) = fuse(dense(x)) + x.
    """
    sizes = check_shape(feat, "B F H W", "feat")
    if len(dense_weights) != len(dense_biases):
        raise ValueError(f"dense_weights and dense_biases must have the same length; got {len(dense_weights)} and {len(dense_biases)}")
    if dilation < 1:
        raise ValueError(f"dilation must be a positive integer; got {dilation}")
    dense = feat
    for j, (weight, bias) in enumerate(zip(dense_weights, dense_biases), start=1):
        if weight.dim() != 4 or weight.shape[1] != dense.shape[1]:
            raise ValueError(
                f"dense_weights[{j - 1}] must be (g, {dense.shape[1]}, k, k) to read the {dense.shape[1]} channels "
                f"built so far; got {tuple(weight.shape)}"
            )
        # ReLU(W_j *_d x_{j-1} + b_j): (B, g, H, W); padding d·(k // 2) keeps H, W
        new = F.relu(F.conv2d(dense, weight, bias, padding=dilation * (weight.shape[-1] // 2), dilation=dilation))
        # x_j = [x_{j-1}, new]: (B, F + j·g, H, W)
        dense = torch.cat([dense, new], dim=1)
    if fuse_weight.shape != (sizes["F"], dense.shape[1], 1, 1):
        raise ValueError(f"fuse_weight must be (F, F + n·g, 1, 1) = ({sizes['F']}, {dense.shape[1]}, 1, 1); got {tuple(fuse_weight.shape)}")
    # y = W_f * x_n + b_f + x: 1×1 fusion back to F channels, then the local residual
    return F.conv2d(dense, fuse_weight, fuse_bias) + feat


class DRDB(nn.Module):
    """Dilated residual dense block: n dense 3×3 layers (dilation d, growth g), 1×1 fusion, local residual.

    Args:
        features: F, input and output channels (64 in the paper).
        dense_layers: n, number of dense layers (6 in the official code).
        growth: g, channels each dense layer adds (32).
        dilation: d (2 in AHDRNet; 1 gives the RDB of the A-RDB-Net / RDB-Net ablations).

    Parameters: Σ_j (9·(F + (j−1)g)·g + g) + (F + n·g)·F + F; 265,472 for (64, 6, 32).

    Paper: Yan et al., CVPR 2019, Sec. 3.3 (Fig. 4).
    Introduced in notebooks/01_ahdrnet.ipynb, section 3.3 *Dilated residual dense block*.
    """

    def __init__(self, features: int = 64, dense_layers: int = 6, growth: int = 32, dilation: int = 2):
        super().__init__()
        for name, value in (("features", features), ("dense_layers", dense_layers), ("growth", growth), ("dilation", dilation)):
            if value < 1:
                raise ValueError(f"{name} must be a positive integer; got {value}")
        self.features, self.dilation = features, dilation
        # dense layer j reads F + (j−1)·g channels and adds g
        self.dense = nn.ModuleList(
            nn.Conv2d(features + j * growth, growth, 3, padding=dilation, dilation=dilation) for j in range(dense_layers)
        )
        # local feature fusion: F + n·g → F
        self.fuse = nn.Conv2d(features + dense_layers * growth, features, 1)

    def forward(self, feat: torch.Tensor) -> torch.Tensor:
        """(B, F, H, W) → (B, F, H, W)."""
        return drdb(
            feat,
            [conv.weight for conv in self.dense],
            [conv.bias for conv in self.dense],
            self.fuse.weight,
            self.fuse.bias,
            self.dilation,
        )


def residual_block(
    feat: torch.Tensor,
    weight1: torch.Tensor,
    bias1: torch.Tensor | None,
    weight2: torch.Tensor,
    bias2: torch.Tensor | None,
) -> torch.Tensor:
    """Plain residual block  y = x + W_2 * ReLU(W_1 * x + b_1) + b_2  ("same" padding), functional form.

    Args:
        feat: (B, F, H, W).
        weight1, weight2: (F, F, k, k), k odd; bias1, bias2: (F,) or None.
    Returns:
        (B, F, H, W).
    """
    sizes = check_shape(feat, "B F H W", "feat")
    for name, weight in (("weight1", weight1), ("weight2", weight2)):
        if weight.dim() != 4 or weight.shape[:2] != (sizes["F"], sizes["F"]):
            raise ValueError(f"{name} must be (F, F, k, k) = ({sizes['F']}, {sizes['F']}, k, k); got {tuple(weight.shape)}")
    # ReLU(W_1 * x + b_1): (B, F, H, W)
    hidden = F.relu(F.conv2d(feat, weight1, bias1, padding=weight1.shape[-1] // 2))
    # x + W_2 * hidden + b_2
    return feat + F.conv2d(hidden, weight2, bias2, padding=weight2.shape[-1] // 2)


class ResidualBlock(nn.Module):
    """Two 3×3 convolutions with a ReLU between them and an identity skip (EDSR-style, no normalisation).

    Used by AHDRNet's RB-Net ablation in place of the DRDBs.

    Args:
        features: F, input and output channels.

    Not built in a notebook: ``AHDRNetConfig.ablation("RB-Net")`` selects it (notebook 01, section 7, trains the
    no-attention ablation the same way).
    """

    def __init__(self, features: int = 64):
        super().__init__()
        if features < 1:
            raise ValueError(f"features must be a positive integer; got {features}")
        self.conv1 = nn.Conv2d(features, features, 3, padding=1)
        self.conv2 = nn.Conv2d(features, features, 3, padding=1)

    def forward(self, feat: torch.Tensor) -> torch.Tensor:
        """(B, F, H, W) → (B, F, H, W)."""
        return residual_block(feat, self.conv1.weight, self.conv1.bias, self.conv2.weight, self.conv2.bias)
