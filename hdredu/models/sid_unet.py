"""SID U-Net: packed short-exposure RAW → long-exposure sRGB in one network ("Learning to See in the Dark").

Input: the Bayer mosaic packed to 4 channels [R, G, B, G] at half resolution, black level removed, scaled to
[0, 1] and amplified by the exposure ratio (100, 250 or 300 for Sony), X (B, 4, H, W). Output: sRGB at the
sensor's full resolution, (B, 3, 2H, 2W). Widths c_l = 32, 64, 128, 256, 512 for the levels l = 1..5:

    encoder   E_1 = conv²(X)                     conv² = (conv3×3 + LReLU_0.2) twice     (B, c_1, H, W)
              E_l = conv²(maxpool_2×2(E_{l−1}))  l = 2..5                                (B, c_l, H/2^(l−1), W/2^(l−1))
    decoder   D_5 = E_5
              D_l = conv²([up(D_{l+1}), E_l])    l = 4..1; up = transposed conv 2×2 / 2   (B, c_l, H/2^(l−1), W/2^(l−1))
    output    Y   = depth_to_space_2(W_1x1 * D_1 + b)   12 channels → 3 at 2× size             (B, 3, 2H, 2W)

No activation on the last convolution and no clipping inside the network (the official test script clips
the output to [0, 1] afterwards). The paper preset has exactly the layer table of reference/alen.md §3.3,
every layer with a bias: 7,760,748 parameters. The official TensorFlow code has no bias on its transposed
convolutions (7,760,268; ``upsample_bias=False``). Initialisation follows it: Glorot-uniform convolutions
with zero biases (TF-slim's default), transposed convolutions N(0, 0.02²) truncated at 2σ.

``depth_to_space`` is PyTorch's ``pixel_shuffle`` (channel 4c + 2i + j → colour c at sub-pixel (i, j));
TensorFlow orders the sub-pixel first. Only weight ports care (reference/alen.md §3.5).

Paper: Chen, Chen, Xu, Koltun, "Learning to See in the Dark", CVPR 2018, Sec. 3 and Fig. 3 (official code
cchen156/Learning-to-See-in-the-Dark, ``train_Sony.py``).
Introduced in notebooks/05_alen.ipynb, section 6 *Training the SID U-Net and ALEN at the same CPU budget*.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from hdredu.utils import check_shape

# LReLU slope of the official code: lrelu(x) = max(0.2·x, x)
LEAKY_SLOPE = 0.2


@dataclass(frozen=True)
class SIDUNetConfig:
    """Sizes of the SID U-Net.

    Attributes:
        in_channels: channels of the packed RAW input (4 for a Bayer sensor; 9 for Fuji X-Trans).
        out_channels: 3 (sRGB).
        widths: c_1..c_L, one per level (32, 64, 128, 256, 512); the input sides must be multiples of 2^(L−1).
        scale: depth-to-space factor of the output (2 for Bayer: one packed pixel is 2×2 sensor pixels; 3 for X-Trans).
        negative_slope: LeakyReLU slope (0.2).
        upsample_bias: give the transposed convolutions a bias (True: the table's 7,760,748; the TF code has none).
    """

    in_channels: int = 4
    out_channels: int = 3
    widths: tuple[int, ...] = (32, 64, 128, 256, 512)
    scale: int = 2
    negative_slope: float = LEAKY_SLOPE
    upsample_bias: bool = True

    @classmethod
    def paper(cls) -> SIDUNetConfig:
        """The Sony model: widths 32 … 512 over 5 levels (7,760,748 parameters)."""
        return cls()

    @classmethod
    def tiny(cls) -> SIDUNetConfig:
        """A CPU-sized model: widths 8 … 128 (a quarter of the paper's), still 5 levels; 485,988 parameters.

        Deviates from the paper only in the widths: depth, pooling, receptive field, output and loss are the paper's.
        """
        return cls(widths=(8, 16, 32, 64, 128))

    @property
    def levels(self) -> int:
        """L, the number of resolution levels (5)."""
        return len(self.widths)

    @property
    def multiple(self) -> int:
        """2^(L−1): the input height and width must be multiples of it (16 for 5 levels)."""
        return 2 ** (self.levels - 1)

    def validate(self) -> None:
        """Raise ValueError naming the first field that cannot make a model."""
        for name in ("in_channels", "out_channels", "scale"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be a positive integer; got {getattr(self, name)}")
        if len(self.widths) < 2 or any(w < 1 for w in self.widths):
            raise ValueError(f"widths must list at least 2 positive channel counts, one per level; got {self.widths}")


def unet_receptive_radius(levels: int) -> int:
    """Exact receptive radius, in packed input pixels, of a SID-style U-Net with ``levels`` levels.

    Follows one output pixel p back to the input as an interval [lo, hi] through the deepest path (the skip
    paths see a subset of it): at each decoder level two 3×3 convs widen it by 2 on each side, the 2×2
    stride-2 transposed conv maps level-l pixel x to level-(l+1) pixel ⌊x/2⌋; at the bottom two more 3×3
    convs; back up the encoder each 2×2 max-pool maps level-(l+1) pixel y to level-l pixels [2y, 2y+1] and two
    3×3 convs widen by 2. The interval depends on p mod 2^(L−1); the radius is the largest one-sided reach
    over those phases: 107 for 5 levels (the full receptive field is about 200 pixels wide, not centred).
    """
    period = 2 ** (levels - 1)
    reach = 0
    for p in range(period):
        lo = hi = p
        for _ in range(levels - 1):
            # decoder conv² at this level, then back through the transposed conv to the coarser level
            lo, hi = (lo - 2) // 2, (hi + 2) // 2
        # bottleneck conv²
        lo, hi = lo - 2, hi + 2
        for _ in range(levels - 1):
            # back through the 2×2 max-pool to the finer level, then that level's encoder conv²
            lo, hi = 2 * lo - 2, 2 * hi + 1 + 2
        reach = max(reach, p - lo, hi - p)
    return reach


class ConvPair(nn.Sequential):
    """conv² of SID: (conv3×3 + LeakyReLU) twice, ``in_channels`` → ``out_channels``, size kept."""

    def __init__(self, in_channels: int, out_channels: int, negative_slope: float = LEAKY_SLOPE):
        super().__init__(
            nn.Conv2d(in_channels, out_channels, 3, padding=1),
            nn.LeakyReLU(negative_slope),
            nn.Conv2d(out_channels, out_channels, 3, padding=1),
            nn.LeakyReLU(negative_slope),
        )


def unet_decoder(widths: tuple[int, ...], negative_slope: float, upsample_bias: bool) -> tuple[nn.ModuleList, nn.ModuleList]:
    """SID's decoder, deepest level first: transposed conv c_{l+1} → c_l (2×2, stride 2), then conv² of
    [up, skip] 2c_l → c_l. Returns (upsample, decoder) ModuleLists (shared by the SID U-Net and ALEN)."""
    levels = list(reversed(range(len(widths) - 1)))
    upsample = nn.ModuleList(
        nn.ConvTranspose2d(widths[level + 1], widths[level], 2, stride=2, bias=upsample_bias) for level in levels
    )
    decoder = nn.ModuleList(ConvPair(2 * widths[level], widths[level], negative_slope) for level in levels)
    return upsample, decoder


def init_sid_(module: nn.Module) -> None:
    """SID's initialisation, in place: Glorot-uniform conv weights and zero biases (TF-slim's defaults);
    transposed-conv weights N(0, 0.02²) truncated at ±2σ (``tf.truncated_normal(stddev=0.02)``)."""
    for layer in module.modules():
        if isinstance(layer, nn.ConvTranspose2d):
            nn.init.trunc_normal_(layer.weight, std=0.02, a=-0.04, b=0.04)
        elif isinstance(layer, nn.Conv2d):
            nn.init.xavier_uniform_(layer.weight)
        else:
            continue
        if layer.bias is not None:
            nn.init.zeros_(layer.bias)


def check_packed(inputs: torch.Tensor, in_channels: int, multiple: int) -> dict[str, int]:
    """Check packed RAW input (B, in_channels, H, W) with H and W multiples of ``multiple``; return the sizes."""
    sizes = check_shape(inputs, f"B {in_channels} H W", "inputs (packed RAW, amplified)")
    if sizes["H"] % multiple or sizes["W"] % multiple:
        raise ValueError(
            f"inputs height and width must be multiples of {multiple} (one per pooling level; crop or pad the "
            f"packed RAW); got {sizes['H']}×{sizes['W']}"
        )
    return sizes


@dataclass
class SIDUNetOutput:
    """What ``SIDUNet.forward(..., return_intermediates=True)`` returns.

    Attributes:
        output: (B, 3, 2H, 2W) sRGB (unclipped).
        encoder: E_1..E_L, (B, c_l, H/2^(l−1), W/2^(l−1)), the skip features.
    """

    output: torch.Tensor
    encoder: list[torch.Tensor]


class SIDUNet(nn.Module):
    """The SID U-Net (Chen et al., CVPR 2018), equal to the official layer table with ``paper()``.

    Args:
        config: a :class:`SIDUNetConfig` (``SIDUNetConfig.paper()`` when None).

    ``forward(inputs)`` takes packed RAW (B, 4, H, W), amplified by the exposure ratio, H and W multiples of
    16; it returns sRGB (B, 3, 2H, 2W). Trained with L1 on 512×512 packed patches in the paper.

    Paper: Chen et al., "Learning to See in the Dark", CVPR 2018.
    Introduced in notebooks/05_alen.ipynb, section 6 *Training the SID U-Net and ALEN at the same CPU budget*.
    """

    config_class = SIDUNetConfig
    task = "lowlight"

    def __init__(self, config: SIDUNetConfig | None = None):
        super().__init__()
        config = SIDUNetConfig.paper() if config is None else config
        config.validate()
        self.config = config
        widths, slope = config.widths, config.negative_slope
        # encoder conv² per level: 4 → c_1, c_1 → c_2, …
        self.encoder = nn.ModuleList(
            ConvPair(c_in, c_out, slope) for c_in, c_out in zip((config.in_channels,) + widths[:-1], widths)
        )
        self.upsample, self.decoder = unet_decoder(widths, slope, config.upsample_bias)
        # output: c_1 → 3·s² (12), 1×1, no activation
        self.to_output = nn.Conv2d(widths[0], config.out_channels * config.scale**2, 1)
        init_sid_(self)

    @property
    def receptive_radius(self) -> int:
        """Tile overlap in packed pixels for exact tiled inference: 112 for 5 levels.

        The exact reach is :func:`unet_receptive_radius` (107 for 5 levels); it is rounded up to a multiple of
        2^(L−1) = 16 because max-pooling is only shift-equivariant by multiples of the pooling period: a tile
        window must start on that grid, so tiles and overlap are multiples of 16 (and so is the image).
        Output pixels are 2× this many sensor pixels away.
        """
        multiple = self.config.multiple
        return -(-unet_receptive_radius(self.config.levels) // multiple) * multiple

    def forward(self, inputs: torch.Tensor, return_intermediates: bool = False) -> torch.Tensor | SIDUNetOutput:
        """Packed RAW → sRGB.

        Args:
            inputs: (B, 4, H, W) packed Bayer [R, G, B, G], black level removed, in [0, 1] after amplification
                by the exposure ratio; H, W multiples of 16.
            return_intermediates: also return the encoder features (as a :class:`SIDUNetOutput`).
        Returns:
            (B, 3, 2H, 2W) sRGB, or a :class:`SIDUNetOutput`.
        """
        c = self.config
        check_packed(inputs, c.in_channels, c.multiple)
        skips = []
        feat = inputs
        for level, conv_pair in enumerate(self.encoder):
            if level > 0:
                # 2×2 max-pool: (B, c, h, w) → (B, c, h/2, w/2)
                feat = F.max_pool2d(feat, 2)
            # E_l = conv²(·): (B, c_l, h, w)
            feat = conv_pair(feat)
            skips.append(feat)
        for up, conv_pair, skip in zip(self.upsample, self.decoder, reversed(skips[:-1])):
            # D_l = conv²([up(D_{l+1}), E_l]): (B, c_{l+1}, h/2, w/2) → (B, 2c_l, h, w) → (B, c_l, h, w)
            feat = conv_pair(torch.cat([up(feat), skip], dim=1))
        # Y = depth_to_space(W_1x1 * D_1 + b): (B, 12, H, W) → (B, 3, 2H, 2W)
        out = F.pixel_shuffle(self.to_output(feat), c.scale)
        return SIDUNetOutput(out, skips) if return_intermediates else out

