"""ALEN (reconstruction): the SID U-Net with inverted shuffle pooling, mixed attention and non-local attention.

ALEN has no public code. The abstract names its parts (raw input, channel attention against redundant
colour features and chromatic aberration, non-local spatial attention against noise, an "inverted shuffle
layer" as pooling); a third-party explainer adds the U-Net, mixed attention blocks (MAB) in the encoder, a
12-channel output and pixel shuffle (reference/alen.md §1). Everything else here is a (reconstruction),
marked as such where it is chosen. Built on the SID U-Net (hdredu.models.sid_unet), levels l = 1..5 with
widths c_l = 32 … 512, for packed RAW X (B, 4, H, W), H and W multiples of 16:

    encoder   E_1 = MAB_1(conv²(X))                                     (B, c_1, H, W)
              E_l = MAB_l(conv²(ISL(E_{l−1})))   l = 2..5               (B, c_l, H/2^(l−1), W/2^(l−1))
                    ISL(E) = W_1x1 * pixel_unshuffle_2(E)                4c → c (SID: 2×2 max-pool)
                    MAB(x) = NL(a ⊙ m(a)),  a = x ⊙ w(x)                 channel (w), spatial (m), non-local (NL)
                    NL only at levels 4 and 5 (H/8 and H/16); elsewhere MAB(x) = a ⊙ m(a)
    decoder   D_5 = E_5
              D_l = CAB(conv²([up(D_{l+1}), E_l]))   l = 4..1            CAB(x) = x ⊙ w(x)
    output    Y   = pixel_shuffle_2(W_1x1 * D_1 + b)                     (B, 3, 2H, 2W) sRGB

conv² = (conv3×3 + LReLU_0.2) twice and up = transposed conv 2×2 / 2, as in SID. Loss: SSIM + L2
(:func:`hdredu.losses.ssim_l2`; its weights are a (reconstruction)).

Reconstructed choices, each marked "(reconstruction)" where it is made below: one MAB per encoder level;
inside it channel → CBAM spatial → non-local; non-local at levels 4 and 5 only, keys subsampled; ISL 4c → c
with no activation after it; skips taken after the MAB; a CAB after each decoder level; SE ratio 16; SID's
widths, slope, initialisation and output head for everything the explainer does not describe.

Receptive field: the non-local blocks let every output pixel depend on every input pixel, so
``receptive_radius`` is None and full frames run whole (``hdredu.inference.predict`` must not tile ALEN).
Memory of the non-local attention (float32, batch 1, keys and values subsampled 2×2, formula
:func:`hdredu.ops.nonlocal_.nonlocal_memory_bytes`, checked against measured allocations in the tests):

    input (packed)      level 4 (c = 256)                       level 5 (c = 512)
    512 × 512           64 × 64:   N = 4,096   →  37 MB         32 × 32: N = 1,024   →  7.9 MB
    1424 × 2128 (Sony)  178 × 266: N = 47,348  →  4.52 GB       89 × 133: N = 11,837 →  0.30 GB

(GB = 10⁹ bytes; one block runs at a time; M = ⌈h/2⌉·⌈w/2⌉ keys; on the large maps the peak is the
softmax moment, 4·(2·N·M + C'·N + 2·C'·M) bytes, on the small 512² level-5 map the block's output).
A full Sony frame (2848 × 4256 sensor pixels, packed 1424 × 2128; reference/alen.md rounds it to
≈ 1416 × 2120, which is not a multiple of 16) therefore needs about 4.5 GB for the level-4 attention alone,
on top of the U-Net's activations; without subsampling (``nonlocal_subsample=False``) 18.0 GB at level 4 and
1.16 GB at level 5. Train and visualise on crops.

Paper: Zhang, Yan, Zhu, Li, Sun, Zhang, "Attention-based network for low-light image enhancement", IEEE ICME
2020 (arXiv 2005.09829). Not to be confused with the unrelated "ALEN" of Perez-Zarate et al. (2025).
Introduced in notebooks/05_alen.ipynb, sections 5-8.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from hdredu.models.sid_unet import LEAKY_SLOPE, ConvPair, check_packed, init_sid_, unet_decoder
from hdredu.ops.attention import ChannelAttention, MixedAttention
from hdredu.ops.shuffle import InvertedShuffle
from hdredu.utils import ablated

# Ablations of reference/alen.md / the hdredu issue, as config overrides (ALEN's own ablation table is not
# available to hdredu). "no_channel_attention" removes every channel attention (encoder MABs and decoder CABs).
ABLATIONS: dict[str, dict] = {
    "ALEN": {},
    "maxpool": {"downsample": "maxpool"},
    "no_nonlocal": {"nonlocal_levels": ()},
    "no_channel_attention": {"channel_attention": False},
}


@dataclass(frozen=True)
class ALENConfig:
    """Sizes and switches of the ALEN reconstruction.

    Attributes:
        in_channels: 4 (packed Bayer [R, G, B, G]).
        out_channels: 3 (sRGB).
        widths: c_1..c_L (32, 64, 128, 256, 512, SID's); H and W must be multiples of 2^(L−1).
        scale: pixel-shuffle factor of the output (2).
        negative_slope: LeakyReLU slope of the U-Net convolutions (0.2, SID's).
        downsample: "isl" (inverted shuffle layer) or "maxpool" (SID's 2×2 max-pool; the ``maxpool`` ablation).
        channel_attention: channel attention in every MAB and a CAB after every decoder level.
        nonlocal_levels: 1-based levels whose MAB ends in a non-local block ((4, 5): the two deepest, a
            (reconstruction): "deepest levels only", reference/alen.md §2; () is the ``no_nonlocal`` ablation).
        nonlocal_subsample: subsample the non-local keys and values 2×2 (True, a (reconstruction) for memory).
        reduction: r of every channel attention (16, a (reconstruction): the SE / RCAN default).
        spatial_kernel: k of the CBAM spatial attention (7, CBAM's).
        upsample_bias: bias on the transposed convolutions (True, as the SID table in reference/alen.md §3.3).
    """

    in_channels: int = 4
    out_channels: int = 3
    widths: tuple[int, ...] = (32, 64, 128, 256, 512)
    scale: int = 2
    negative_slope: float = LEAKY_SLOPE
    downsample: str = "isl"
    channel_attention: bool = True
    nonlocal_levels: tuple[int, ...] = (4, 5)
    nonlocal_subsample: bool = True
    reduction: int = 16
    spatial_kernel: int = 7
    upsample_bias: bool = True

    @classmethod
    def paper(cls) -> ALENConfig:
        """The reconstruction at SID's widths (32 … 512), ISL, mixed attention, non-local at levels 4 and 5
        (8,823,255 parameters: SID's 7,760,748 + 348,640 ISL + 657,280 non-local + 56,092 channel attention
        + 495 spatial attention).
        """
        return cls()

    @classmethod
    def tiny(cls) -> ALENConfig:
        """A CPU-sized model: widths 8 … 128 (a quarter), reduction 4 so that the channel attentions keep 2+
        hidden channels; depth, attention placement, ISL, output and loss unchanged. 563,895 parameters.
        """
        return cls(widths=(8, 16, 32, 64, 128), reduction=4)

    def ablation(self, name: str) -> ALENConfig:
        """This config turned into one of the ablation variants (keys of ``ABLATIONS``), sizes kept."""
        return ablated(self, ABLATIONS, name)

    @property
    def levels(self) -> int:
        """L, the number of resolution levels (5)."""
        return len(self.widths)

    @property
    def multiple(self) -> int:
        """2^(L−1): the input height and width must be multiples of it (16)."""
        return 2 ** (self.levels - 1)

    def validate(self) -> None:
        """Raise ValueError naming the first field that cannot make a model."""
        for name in ("in_channels", "out_channels", "scale", "reduction"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be a positive integer; got {getattr(self, name)}")
        if len(self.widths) < 2 or any(w < 1 for w in self.widths):
            raise ValueError(f"widths must list at least 2 positive channel counts, one per level; got {self.widths}")
        if self.downsample not in ("isl", "maxpool"):
            raise ValueError(f"downsample must be 'isl' or 'maxpool'; got {self.downsample!r}")
        if any(not 1 <= level <= self.levels for level in self.nonlocal_levels):
            raise ValueError(f"nonlocal_levels must be levels between 1 and {self.levels}; got {self.nonlocal_levels}")
        if self.spatial_kernel < 1 or self.spatial_kernel % 2 == 0:
            raise ValueError(f"spatial_kernel must be odd; got {self.spatial_kernel}")


@dataclass
class ALENOutput:
    """What ``ALEN.forward(..., return_intermediates=True)`` returns.

    Attributes:
        output: (B, 3, 2H, 2W) sRGB (unclipped).
        nonlocal_attention: one (B, N, M) softmax matrix per non-local block, shallow → deep (levels 4, 5):
            N = h·w query pixels of that level's feature map, M keys; draw one query with
            :func:`hdredu.ops.nonlocal_.query_attention`.
        channel_weights: (B, c) weights in (0, 1), encoder levels 1..L then decoder levels L−1..1; empty without
            channel attention.
        spatial_maps: one (B, 1, h, w) map in (0, 1) per encoder level, h = H / 2^(l−1).
    """

    output: torch.Tensor
    nonlocal_attention: list[torch.Tensor]
    channel_weights: list[torch.Tensor]
    spatial_maps: list[torch.Tensor]


class ALEN(nn.Module):
    """ALEN, reconstructed on the SID U-Net (see the module docstring; no official code exists).

    Args:
        config: an :class:`ALENConfig` (``ALENConfig.paper()`` when None).

    ``forward(inputs)`` takes packed RAW (B, 4, H, W), amplified by the exposure ratio, H and W multiples of
    16; it returns sRGB (B, 3, 2H, 2W).

    Paper: Zhang et al., "Attention-based network for low-light image enhancement", ICME 2020.
    Introduced in notebooks/05_alen.ipynb, sections 5-8.
    """

    config_class = ALENConfig
    task = "lowlight"
    default_loss = "ssim_l2"  # hdredu.losses.ssim_l2 (reconstruction: SID trains with L1)

    def __init__(self, config: ALENConfig | None = None):
        super().__init__()
        config = ALENConfig.paper() if config is None else config
        config.validate()
        self.config = config
        widths, slope = config.widths, config.negative_slope
        # encoder conv² per level, as SID: 4 → c_1, c_1 → c_2, …
        self.encoder = nn.ModuleList(
            ConvPair(c_in, c_out, slope) for c_in, c_out in zip((config.in_channels,) + widths[:-1], widths)
        )
        # downsampling between levels: ISL 4c → c (a (reconstruction): the 1×1 keeps the width, so the next
        # level's conv² changes it as in SID; 4c → 2c is the other reading), or no weights for max-pool
        self.downsample = nn.ModuleList(
            InvertedShuffle(c) if config.downsample == "isl" else nn.MaxPool2d(2) for c in widths[:-1]
        )
        # one MAB after each encoder level's conv² (a (reconstruction): the explainer says the encoder "stacks
        # MABs and ISLs"; one per level is the simplest reading). Non-local only at the deepest levels.
        self.attention = nn.ModuleList(
            MixedAttention(
                c,
                reduction=config.reduction,
                spatial_kernel=config.spatial_kernel,
                channel=config.channel_attention,
                nonlocal_=level in config.nonlocal_levels,
                subsample=config.nonlocal_subsample,
            )
            for level, c in enumerate(widths, start=1)
        )
        # decoder as SID, deepest first: transposed conv c_{l+1} → c_l, conv² 2c_l → c_l
        self.upsample, self.decoder = unet_decoder(widths, slope, config.upsample_bias)
        # a CAB after each decoder level (a (reconstruction): reference/alen.md §2 marks it uncertain; it keeps
        # the colour re-weighting the abstract describes close to the output)
        self.decoder_attention = nn.ModuleList(
            ChannelAttention(widths[level], config.reduction) for level in reversed(range(config.levels - 1))
        ) if config.channel_attention else None
        # output: c_1 → 3·s² = 12, 1×1, no activation, then pixel shuffle (as SID)
        self.to_output = nn.Conv2d(widths[0], config.out_channels * config.scale**2, 1)
        # SID's initialisation for the U-Net and the ISLs (a (reconstruction)); the attention modules keep their
        # own (PyTorch defaults; the non-local output projection starts at zero, so each NL block is the identity)
        for part in (self.encoder, self.downsample, self.upsample, self.decoder, self.to_output):
            init_sid_(part)

    @property
    def receptive_radius(self) -> int | None:
        """None: the non-local blocks see the whole image, so tiled inference is not exact; run whole frames.

        With the ``no_nonlocal`` ablation the network is still not tiled by hdredu: the channel attentions'
        global average pooling sees the whole image as well, so the radius stays None.
        """
        return None

    def forward(self, inputs: torch.Tensor, return_intermediates: bool = False) -> torch.Tensor | ALENOutput:
        """Packed RAW → sRGB.

        Args:
            inputs: (B, 4, H, W) packed Bayer [R, G, B, G], black level removed, amplified by the exposure ratio;
                H, W multiples of 16.
            return_intermediates: also return the attention maps and weights (as an :class:`ALENOutput`).
        Returns:
            (B, 3, 2H, 2W) sRGB, or an :class:`ALENOutput`.
        """
        c = self.config
        check_packed(inputs, c.in_channels, c.multiple)
        nonlocal_maps, channel_weights, spatial_maps, skips = [], [], [], []
        feat = inputs
        for level, (conv_pair, mab) in enumerate(zip(self.encoder, self.attention)):
            if level > 0:
                # ISL: (B, c, h, w) → pixel_unshuffle (B, 4c, h/2, w/2) → 1×1 → (B, c, h/2, w/2)  [or max-pool]
                # no activation after it (reconstruction): it replaces a pooling layer, which has none either
                feat = self.downsample[level - 1](feat)
            # conv²: (B, c_l, h, w), then the MAB: channel → spatial → (non-local), same shape
            mixed = mab(conv_pair(feat), return_intermediates=True)
            feat = mixed.output
            # the skip to the decoder is taken after the MAB (reconstruction): the decoder then receives the
            # attended, denoised features, which is what the attention is for
            skips.append(feat)
            spatial_maps.append(mixed.spatial_map)
            if mixed.channel_weights is not None:
                channel_weights.append(mixed.channel_weights)
            if mixed.nonlocal_attention is not None:
                nonlocal_maps.append(mixed.nonlocal_attention)
        for index, (up, conv_pair, skip) in enumerate(zip(self.upsample, self.decoder, reversed(skips[:-1]))):
            # D_l = conv²([up(D_{l+1}), E_l]): (B, c_{l+1}, h/2, w/2) → (B, 2c_l, h, w) → (B, c_l, h, w)
            feat = conv_pair(torch.cat([up(feat), skip], dim=1))
            if self.decoder_attention is not None:
                # CAB: D_l ⊙ w(D_l), w (B, c_l, 1, 1)
                weights = self.decoder_attention[index](feat)
                feat = feat * weights
                channel_weights.append(weights.flatten(1))
        # Y = pixel_shuffle(W_1x1 * D_1 + b): (B, 12, H, W) → (B, 3, 2H, 2W)
        out = F.pixel_shuffle(self.to_output(feat), c.scale)
        if not return_intermediates:
            return out
        return ALENOutput(out, nonlocal_maps, channel_weights, spatial_maps)
