"""HDRNet: a small CNN predicts a bilateral grid of affine colour transforms; a full-resolution guide slices it.

Pipeline for a full-resolution image I (B, 3, H, W):

    0. low-res copy       Ĩ = nearest-resize(I) to S × S  (S = 256)                     (B, 3, S, S)
    1. splat              S_i = ReLU(conv3×3/2(S_{i−1})), i = 1..n_S, n_S = log2(S / G)   (B, 2^(i−1)·c, S/2^i, S/2^i)
    2. local path         L = conv3×3(ReLU(conv3×3(S_nS)))   (no activation, no bias)     (B, 8c, G, G)
    3. global path        two ReLU conv3×3/2, flatten, FC 32c → 16c → 8c (no activation) (B, 8c)
    4. fusion             F = ReLU(L + global broadcast over G × G)                       (B, 8c, G, G)
    5. prediction         A = conv1×1(F): 96 = D·12 channels                              (B, 12·D, G, G)
                          grid = A viewed as (B, 12, D, G, G)
    6. guide              g = guide_net(I) ∈ [0, 1]                                       (B, 1, H, W)
    7. slice              Ā[x, y] = Σ tent weights · grid at (x·G/W, y·G/H, g(x, y)·D)    (B, 12, H, W)
    8. apply              O_i = Σ_j Ā[i, j] I_j + Ā[i, 3]                                  (B, 3, H, W)

with c = channel_multiplier · luma_bins = 8, G = 16 cells, D = 8 luma bins. Every conv is followed by ReLU
unless stated. The paper preset follows the official layer table (reference/hdrnet.md §2): 481,968 parameters
in the coefficient network plus 113 in the pointwise guide = 482,081. Batch norm is off, as in every released
training script. Coefficients are stored output-major: grid channel k = 4·i + j holds A[i, j] (i = output
R, G, B; j = input R, G, B, offset); the 96 prediction channels are 12 groups of D, channel = D·k + z.

Paper: Gharbi, Chen, Barron, Hasinoff, Durand, "Deep Bilateral Learning for Real-Time Image Enhancement",
SIGGRAPH 2017, Sec. 3 (Fig. 2).
Introduced in notebooks/02_hdrnet.ipynb, section *Learned slicing*.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from hdredu.ops.bilateral import apply_coeffs, bilateral_slice, bilateral_slice_stacked
from hdredu.utils import check_shape

# 3 × 4 affine colour transform per grid cell: 3 outputs × (3 inputs + offset)
N_COEFFS = 12
GUIDES = ("pointwise", "curves")


@dataclass(frozen=True)
class HDRNetConfig:
    """Sizes and switches of HDRNet.

    Attributes:
        net_input_size: S, side of the square low-resolution copy the coefficient network sees (256).
        spatial_bin: G, grid cells along each side (16); S / G must be a power of two ≥ 2.
        luma_bins: D, depth bins of the grid (8).
        channel_multiplier: cm; the network's widths are multiples of cm · D (1).
        guide: "pointwise" (1×1 conv → BN → ReLU → 1×1 conv → sigmoid, every released training script)
            or "curves" (colour matrix → per-channel ReLU curves → channel mix → clip, the paper's model).
        guide_complexity: hidden channels of the pointwise guide / knots per curve of the curves guide (16).
    """

    net_input_size: int = 256
    spatial_bin: int = 16
    luma_bins: int = 8
    channel_multiplier: int = 1
    guide: str = "pointwise"
    guide_complexity: int = 16

    @classmethod
    def paper(cls) -> HDRNetConfig:
        """The official defaults: 256² low-res input, 16 × 16 × 8 grid, pointwise guide (482,081 parameters)."""
        return cls()

    @classmethod
    def tiny(cls) -> HDRNetConfig:
        """A CPU-sized model: 64² low-res input and an 8 × 8 × 8 grid (3 splat layers, 2 × 2 global features).

        Deviates from the paper (256² input, 16 × 16 grid) only in these two sizes; widths, guide, slicing
        and loss are the paper's. 230,113 parameters.
        """
        return cls(net_input_size=64, spatial_bin=8)

    @property
    def n_splat(self) -> int:
        """n_S = log2(S / G), the number of stride-2 splat convolutions (4 for the paper)."""
        return int(round(math.log2(self.net_input_size / self.spatial_bin)))

    @property
    def width(self) -> int:
        """c = cm · D, the base width (8); splat layer i has 2^(i−1)·c channels, local / global 8c."""
        return self.channel_multiplier * self.luma_bins

    def validate(self) -> None:
        """Raise ValueError naming the first field that cannot make a model."""
        for name in ("net_input_size", "spatial_bin", "luma_bins", "channel_multiplier", "guide_complexity"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be a positive integer; got {getattr(self, name)}")
        ratio = self.net_input_size / self.spatial_bin
        if ratio < 2 or 2 ** round(math.log2(ratio)) != ratio:
            raise ValueError(
                f"net_input_size / spatial_bin must be a power of two ≥ 2; got {self.net_input_size} / {self.spatial_bin}"
            )
        if self.spatial_bin % 4:
            raise ValueError(f"spatial_bin must be a multiple of 4 (two stride-2 global convs); got {self.spatial_bin}")
        if self.guide not in GUIDES:
            raise ValueError(f"guide must be one of {GUIDES}; got {self.guide!r}")


@dataclass
class HDRNetOutput:
    """What ``HDRNet.forward(..., return_intermediates=True)`` returns.

    Attributes:
        output: (B, 3, H, W) the processed image (not clipped; the official inference clips to [0, 1]).
        lowres: (B, 3, S, S) the copy the coefficient network saw.
        grid: (B, 12, D, G, G) the predicted bilateral grid of affine coefficients.
        guide: (B, 1, H, W) in [0, 1], the full-resolution guide.
        coeffs: (B, 12, H, W) the sliced per-pixel affine coefficients.
    """

    output: torch.Tensor
    lowres: torch.Tensor
    grid: torch.Tensor
    guide: torch.Tensor
    coeffs: torch.Tensor


def init_he_truncated(layer: nn.Module) -> None:
    """Official initialisation: TF1 ``variance_scaling_initializer()`` weights, zero biases.

    Weights ~ normal truncated at ±2σ with σ = sqrt(1.3 · 2 / fan_in) (1.3 corrects for the truncation).
    """
    fan_in = layer.weight[0].numel()  # in_channels · kh · kw, or in_features
    std = math.sqrt(1.3 * 2.0 / fan_in)
    nn.init.trunc_normal_(layer.weight, std=std, a=-2 * std, b=2 * std)
    if layer.bias is not None:
        nn.init.zeros_(layer.bias)


# ------------------------------------------------------------------------------------------------------
# Low-resolution stream: the coefficient network (steps 1–5)
# ------------------------------------------------------------------------------------------------------


class CoefficientNetwork(nn.Module):
    """Low-res image (B, 3, S, S) → bilateral grid of affine coefficients (B, 12, D, G, G).

    Paper: Gharbi et al. 2017, Sec. 3.1 (low-level, local and global features, fusion, prediction).
    Introduced in notebooks/02_hdrnet.ipynb, section *Learned slicing*.
    """

    def __init__(self, config: HDRNetConfig):
        super().__init__()
        config.validate()
        self.config = config
        c, grid_side = config.width, config.spatial_bin
        # 1. splat: n_S stride-2 3×3 convs, widths c, 2c, 4c, …  (S → S / 2^n_S = G)
        widths = [3] + [c * 2**i for i in range(config.n_splat)]
        self.splat = nn.ModuleList(
            nn.Conv2d(w_in, w_out, 3, stride=2, padding=1) for w_in, w_out in zip(widths[:-1], widths[1:])
        )
        # 2. local path: 3×3 conv + ReLU, then 3×3 conv without bias or activation  (G × G, 8c)
        self.local1 = nn.Conv2d(widths[-1], 8 * c, 3, padding=1)
        self.local2 = nn.Conv2d(8 * c, 8 * c, 3, padding=1, bias=False)
        # 3. global path: two stride-2 3×3 convs (G → G/4), then three fully connected layers
        self.global_convs = nn.ModuleList(
            [nn.Conv2d(widths[-1], 8 * c, 3, stride=2, padding=1), nn.Conv2d(8 * c, 8 * c, 3, stride=2, padding=1)]
        )
        flat = 8 * c * (grid_side // 4) ** 2  # 64 · 4 · 4 = 1024 for the paper
        self.global_fc1 = nn.Linear(flat, 32 * c)
        self.global_fc2 = nn.Linear(32 * c, 16 * c)
        self.global_fc3 = nn.Linear(16 * c, 8 * c)  # no activation
        # 5. prediction: 1×1 conv to D · 12 channels, linear
        self.prediction = nn.Conv2d(8 * c, config.luma_bins * N_COEFFS, 1)
        for layer in self.modules():
            if isinstance(layer, (nn.Conv2d, nn.Linear)):
                init_he_truncated(layer)

    def forward(self, lowres: torch.Tensor) -> torch.Tensor:
        """Predict the grid.

        Args:
            lowres: (B, 3, S, S) with S = config.net_input_size.
        Returns:
            grid (B, 12, D, G, G).
        """
        size = self.config.net_input_size
        check_shape(lowres, f"B 3 {size} {size}", "lowres")
        # 1. splat features: S_i = ReLU(conv3×3/2(S_{i−1}))        (B, 2^(n_S−1)·c, G, G)
        splat = lowres
        for conv in self.splat:
            splat = F.relu(conv(splat))
        # 2. local features: L = W_2 * ReLU(W_1 * S + b_1)           (B, 8c, G, G)
        local = self.local2(F.relu(self.local1(splat)))
        # 3. global features: convs to G/4 × G/4, flatten, FCs      (B, 8c)
        glob = splat
        for conv in self.global_convs:
            glob = F.relu(conv(glob))
        glob = glob.flatten(1)  # (B, 8c · (G/4)²), channel-major order
        glob = F.relu(self.global_fc1(glob))
        glob = F.relu(self.global_fc2(glob))
        glob = self.global_fc3(glob)  # (B, 8c)
        # 4. fusion: F = ReLU(L + G), the global vector broadcast over every cell   (B, 8c, G, G)
        fused = F.relu(local + glob[:, :, None, None])
        # 5. prediction: A = W_p * F + b_p                            (B, 12·D, G, G)
        coefficients = self.prediction(fused)
        # channel D·k + z → coefficient k at depth z                 (B, 12, D, G, G)
        return coefficients.unflatten(1, (N_COEFFS, self.config.luma_bins))


# ------------------------------------------------------------------------------------------------------
# Full-resolution stream: the guide (step 6)
# ------------------------------------------------------------------------------------------------------


class PointwiseGuide(nn.Module):
    """g = σ(W_2 · ReLU(BN(W_1 · I + b_1)) + b_2): a per-pixel MLP from RGB to [0, 1] (1×1 convolutions).

    The guide every released training script of google/hdrnet uses (``HDRNetPointwiseNNGuide``); batch
    norm is always on here, even though the coefficient network has none. 113 parameters for 16 hidden.

    Args:
        hidden: hidden channels (guide_complexity, 16).
    Introduced in notebooks/02_hdrnet.ipynb, section *The guide*.
    """

    def __init__(self, hidden: int = 16):
        super().__init__()
        self.conv1 = nn.Conv2d(3, hidden, 1)
        self.norm = nn.BatchNorm2d(hidden)
        self.conv2 = nn.Conv2d(hidden, 1, 1)
        for layer in (self.conv1, self.conv2):
            init_he_truncated(layer)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) → guide (B, 1, H, W) in (0, 1)."""
        hidden = F.relu(self.norm(self.conv1(image)))  # (B, hidden, H, W)
        return torch.sigmoid(self.conv2(hidden))  # (B, 1, H, W)


class CurveGuide(nn.Module):
    """The paper's guide: g = clip(Σ_c m_c ρ_c(M·I + b)_c + m_0, 0, 1) with learned tone curves.

    1. colour transform  I' = M I + b           M: 3×3, init identity (+ 1e-4 noise), b = 0
    2. per-channel curve ρ_c(x) = Σ_{i<K} a_{c,i} · max(x − t_{c,i}, 0)   init t = i / K, a = [1, 0, …, 0]
    3. channel mix       Σ_c m_c ρ_c + m_0                  init m = 1/3, m_0 = 0
    4. clip to [0, 1]    (no sigmoid; the gradient is zero where the guide is clipped)
    3·3 + 3 + 2·3·K + 3 + 1 = 112 parameters for K = 16.

    Args:
        knots: K, ReLU knots per channel (guide_complexity, 16).
    Introduced in notebooks/02_hdrnet.ipynb, section *The guide*.
    """

    def __init__(self, knots: int = 16):
        super().__init__()
        self.color_matrix = nn.Parameter(torch.eye(3) + 1e-4 * torch.randn(3, 3))  # M (3, 3)
        self.color_bias = nn.Parameter(torch.zeros(3))  # b (3,)
        self.shifts = nn.Parameter(torch.arange(knots, dtype=torch.float32).div(knots).repeat(3, 1))  # t (3, K)
        slopes = torch.zeros(3, knots)
        slopes[:, 0] = 1.0  # ρ starts as the identity on [0, ∞)
        self.slopes = nn.Parameter(slopes)  # a (3, K)
        self.mix = nn.Conv2d(3, 1, 1)  # m (1, 3, 1, 1), m_0 (1,)
        nn.init.constant_(self.mix.weight, 1.0 / 3.0)
        nn.init.zeros_(self.mix.bias)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) → guide (B, 1, H, W) in [0, 1]."""
        # 1. I'_c = Σ_k M[c, k] I_k + b_c                          (B, 3, H, W)
        colour = torch.einsum("ck,bkhw->bchw", self.color_matrix, image) + self.color_bias.view(1, 3, 1, 1)
        # 2. ρ_c(x) = Σ_i a_{c,i} ReLU(x − t_{c,i}), knots on a new axis   (B, 3, K, H, W) → (B, 3, H, W)
        hinges = F.relu(colour.unsqueeze(2) - self.shifts.view(1, 3, -1, 1, 1))
        curved = (self.slopes.view(1, 3, -1, 1, 1) * hinges).sum(dim=2)
        # 3.–4. mix the channels and clip                           (B, 1, H, W)
        return self.mix(curved).clamp(0.0, 1.0)


# ------------------------------------------------------------------------------------------------------
# The whole model
# ------------------------------------------------------------------------------------------------------


class HDRNet(nn.Module):
    """Deep bilateral learning (Gharbi et al. 2017): equal to the official layer table with ``paper()``.

    Args:
        config: an :class:`HDRNetConfig` (``HDRNetConfig.paper()`` when None).

    ``forward(image)`` takes (B, 3, H, W) at any resolution, makes its own S × S nearest-neighbour copy
    for the coefficient network, and returns (B, 3, H, W). Trained with a plain L2 loss.

    Paper: Gharbi et al., "Deep Bilateral Learning for Real-Time Image Enhancement", SIGGRAPH 2017.
    Introduced in notebooks/02_hdrnet.ipynb, section *Assembling HDRNet*.
    """

    config_class = HDRNetConfig

    def __init__(self, config: HDRNetConfig | None = None):
        super().__init__()
        config = HDRNetConfig.paper() if config is None else config
        config.validate()
        self.config = config
        self.coefficients = CoefficientNetwork(config)  # steps 1–5
        if config.guide == "pointwise":  # step 6
            self.guide = PointwiseGuide(config.guide_complexity)
        else:
            self.guide = CurveGuide(config.guide_complexity)

    task = "operator"
    receptive_radius = None  # the global path and the low-res copy see the whole image: tiles would differ

    def lowres_copy(self, image: torch.Tensor) -> torch.Tensor:
        """Step 0: nearest-neighbour resize to S × S (the official training pipeline's choice).

        (B, 3, H, W) → (B, 3, S, S); the aspect ratio is not kept, as in the official code.
        """
        size = self.config.net_input_size
        if image.shape[-2:] == (size, size):
            return image
        return F.interpolate(image, size=(size, size), mode="nearest")

    def forward(self, image: torch.Tensor, return_intermediates: bool = False) -> torch.Tensor | HDRNetOutput:
        """Process a full-resolution image.

        Args:
            image: (B, 3, H, W), values in [0, 1] in the official tasks.
            return_intermediates: return an :class:`HDRNetOutput` with the grid, guide and coefficients.
        Returns:
            (B, 3, H, W), or an :class:`HDRNetOutput`.
        """
        check_shape(image, "B 3 H W", "image")
        lowres = self.lowres_copy(image)  # 0. (B, 3, S, S)
        grid = self.coefficients(lowres)  # 1–5. (B, 12, D, G, G)
        guide = self.guide(image)  # 6. (B, 1, H, W) in [0, 1]
        coeffs = bilateral_slice(grid, guide)  # 7. (B, 12, H, W)
        output = apply_coeffs(coeffs, image)  # 8. (B, 3, H, W)
        if return_intermediates:
            return HDRNetOutput(output=output, lowres=lowres, grid=grid, guide=guide, coeffs=coeffs)
        return output

    @torch.no_grad()
    def process(self, image: torch.Tensor, chunk_rows: int = 32) -> torch.Tensor:
        """Inference at full resolution: ``forward`` in eval mode, computed faster on a CPU.

        The low-res stream runs once; the full-resolution stream (guide, slice, apply) is pointwise,
        so it runs band by band over ``chunk_rows`` rows at a time, keeping the guide's hidden channels
        and the 12 sliced coefficients in the CPU cache instead of writing full-size tensors
        (the official GPU op fuses slice and apply for the same reason). Slicing uses
        :func:`~hdredu.ops.bilateral.bilateral_slice_stacked` (2-D samplers, vectorised on a CPU).
        Equal to ``forward`` up to float32 rounding (≈ 1e-5 relative).

        Args:
            image: (B, 3, H, W).
            chunk_rows: rows per band (≥ 1); 16–32 was fastest on a 2-core x86 CPU at 1–3 megapixels.
        Returns:
            (B, 3, H, W), without gradients.
        """
        if self.training:
            raise ValueError("process() is for inference: call model.eval() first (batch norm would use band statistics)")
        if chunk_rows < 1:
            raise ValueError(f"chunk_rows must be ≥ 1; got {chunk_rows}")
        check_shape(image, "B 3 H W", "image")
        grid = self.coefficients(self.lowres_copy(image))  # (B, 12, D, G, G), once
        height = image.shape[2]
        output = torch.empty_like(image)
        for start in range(0, height, chunk_rows):
            band = image[:, :, start : start + chunk_rows]  # (B, 3, h, W)
            coeffs = bilateral_slice_stacked(grid, self.guide(band), height, start)  # (B, 12, h, W)
            output[:, :, start : start + chunk_rows] = apply_coeffs(coeffs, band)
        return output
