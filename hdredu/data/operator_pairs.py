"""Operator imitation data: (input, operator(input)) pairs made from the bundled HDR scenes.

HDRNet's second use in its paper is to imitate a slow image operator from examples. Here the operator is a
local tone mapper built from OpenCV: Mantiuk et al. (2006) gradient-domain tone mapping (it solves a linear
system per image) followed by edge-aware detail enhancement (a domain-transform filter). The network never
sees radiance directly: its input is the scene as a camera would store it, normalised to its brightest
pixel and gamma-encoded; its target is the tone-mapped image.

    input  = (H / max H)^(1/γ)                        (3, h, w) in [0, 1], every value kept (no clipping)
    target = local_tonemap(H) = detail_enhance(mantiuk_tonemap(H))    (3, h, w) in [0, 1]

Training items are *whole small images*: a random square window of a training scene (random size, then
area-downscaled to ``crop_size``, random horizontal flip) is encoded and tone-mapped on its own, so every
item is a complete input/output pair of the operator with its own global statistics. Evaluation uses the
full-resolution scenes (:func:`full_pairs`): training at low resolution, applying at full resolution.

Introduced in notebooks/02_hdrnet.ipynb, section *Imitating a local tone mapper*.
"""

from __future__ import annotations

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from hdredu.data.samples import TEST_SCENES, TRAIN_SCENES, load_sample
from hdredu.utils import check_shape


def encode_input(hdr: torch.Tensor, gamma: float = 2.2) -> torch.Tensor:
    """The network's input: radiance normalised to its maximum, then display gamma,  x = (H / max H)^(1/γ).

    Args:
        hdr: (3, H, W) or (B, 3, H, W) linear radiance ≥ 0 (normalised per image).
    Returns:
        same shape, in [0, 1]; the brightest value of each image maps to 1.
    """
    if hdr.dim() not in (3, 4) or hdr.shape[-3] != 3:
        raise ValueError(f"hdr must be (3, H, W) or (B, 3, H, W) linear RGB; got {tuple(hdr.shape)}")
    peak = hdr.amax(dim=(-3, -2, -1), keepdim=True).clamp(min=torch.finfo(hdr.dtype).tiny)
    return (hdr.clamp(min=0.0) / peak) ** (1.0 / gamma)


def mantiuk_tonemap(hdr: torch.Tensor, scale: float = 0.7, saturation: float = 1.0, gamma: float = 2.2) -> torch.Tensor:
    """The operator to imitate: OpenCV's Mantiuk et al. (2006) local tone mapper, output in [0, 1].

    Contrast is compressed in the gradient domain of log luminance by ``scale`` (smaller = flatter),
    colour saturation scaled by ``saturation``, then display gamma γ; OpenCV normalises the result by its
    minimum and maximum. OpenCV returns NaN for the single darkest pixel of some images (a fractional
    power of a value rounded just below 0); that pixel is set to 0, the value its normalisation gives.

    Args:
        hdr: (3, H, W) linear RGB radiance ≥ 0.
    Returns:
        (3, H, W) float32 in [0, 1]. Runs on the CPU (OpenCV), whatever the input device.
    """
    check_shape(hdr, "3 H W", "hdr")
    bgr = hdr.detach().float().clamp(min=0.0).flip(0).permute(1, 2, 0).cpu().numpy()  # (H, W, 3) BGR for OpenCV
    mapped = cv2.createTonemapMantiuk(gamma, scale, saturation).process(np.ascontiguousarray(bgr))
    mapped = np.nan_to_num(mapped, nan=0.0)
    return torch.from_numpy(mapped).permute(2, 0, 1).flip(0).clamp(0.0, 1.0).contiguous()  # (3, H, W) RGB


def detail_enhance(ldr: torch.Tensor, sigma_spatial: float = 10.0, sigma_range: float = 0.15) -> torch.Tensor:
    """OpenCV's edge-aware detail enhancement (domain-transform filter, Gastal and Oliveira 2011) on 8 bits.

    An edge-aware smooth base is computed and the detail (image − base) amplified, so fine texture gains
    contrast while strong edges do not halo. Not a global curve: equal colours in different places map
    to different outputs.

    Args:
        ldr: (3, H, W) display values in [0, 1] (quantised to 8 bits for OpenCV).
        sigma_spatial: spatial extent of the base filter in pixels (OpenCV's sigma_s).
        sigma_range: edge threshold of the base filter, in [0, 1] (OpenCV's sigma_r).
    Returns:
        (3, H, W) float32 in [0, 1], multiples of 1/255.
    """
    check_shape(ldr, "3 H W", "ldr")
    bgr = (ldr.detach().float().clamp(0.0, 1.0) * 255.0).round().to(torch.uint8).flip(0).permute(1, 2, 0).cpu().numpy()
    enhanced = cv2.detailEnhance(np.ascontiguousarray(bgr), sigma_s=sigma_spatial, sigma_r=sigma_range)
    return torch.from_numpy(enhanced).permute(2, 0, 1).flip(0).float().div(255.0).contiguous()


def local_tonemap(hdr: torch.Tensor) -> torch.Tensor:
    """The operator HDRNet imitates in notebook 02: Mantiuk tone mapping, then edge-aware detail enhancement.

    OpenCV's Mantiuk operator alone behaves almost like one global curve per image on the bundled scenes
    (a per-image curve fitted to its output reaches 30–44 dB PSNR), so the detail enhancement supplies
    the local, edge-aware part that a global curve cannot reproduce.

    Args:
        hdr: (3, H, W) linear RGB radiance ≥ 0.
    Returns:
        (3, H, W) float32 in [0, 1].
    """
    return detail_enhance(mantiuk_tonemap(hdr))


OPERATORS = {"mantiuk": mantiuk_tonemap, "local_tonemap": local_tonemap}


def full_pairs(scenes: list[str] | tuple[str, ...] = TEST_SCENES, operator=local_tonemap) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Full-resolution (input, target) pairs of bundled scenes, for evaluation.

    Args:
        scenes: names from :func:`hdredu.data.samples.list_samples` (default: the held-out test scenes).
        operator: (3, H, W) radiance → (3, H, W) in [0, 1].
    Returns:
        [(encode_input(H), operator(H))], each (3, H, W).
    """
    pairs = []
    for name in scenes:
        hdr = load_sample(name)
        pairs.append((encode_input(hdr), operator(hdr)))
    return pairs


class OperatorPairs(Dataset):
    """Random small images from HDR scenes with the operator's output: ``(input (3, c, c), target (3, c, c))``.

    Item i is a pure function of (seed, i): a window of side s ∈ [c, min(H, W)] at a random place in a
    random scene, area-downscaled to c × c, flipped left-right with probability 1/2, optionally given a
    random white balance and contrast (H ← g_c · H^k, so four scenes yield many different images), then
    encoded (:func:`encode_input`) and passed through the operator on its own. Items are cached.

    Args:
        scenes: (3, H, W) radiance tensors; None = the bundled training scenes (``TRAIN_SCENES``).
        crop_size: c, side of every item (≥ 16, at most the smallest scene side).
        length: number of items.
        seed: item i uses a generator seeded with (seed, i).
        operator: (3, h, w) radiance → (3, h, w) in [0, 1]; default :func:`local_tonemap`.
        augment: random white balance gains e^N(0, 0.15²) per channel and contrast exponent k ∈ [0.8, 1.25].
    """

    def __init__(
        self,
        scenes: list[torch.Tensor] | None = None,
        crop_size: int = 64,
        length: int = 512,
        seed: int = 0,
        operator=local_tonemap,
        augment: bool = True,
    ):
        scenes = [load_sample(name) for name in TRAIN_SCENES] if scenes is None else list(scenes)
        if not scenes:
            raise ValueError("scenes must hold at least one (3, H, W) radiance tensor; got an empty list")
        for index, scene in enumerate(scenes):
            check_shape(scene, "3 H W", f"scenes[{index}]")
        smallest = min(min(scene.shape[1:]) for scene in scenes)
        if not 16 <= crop_size <= smallest:
            raise ValueError(f"crop_size must be in [16, {smallest}] (the smallest scene side); got {crop_size}")
        if length < 1:
            raise ValueError(f"length must be a positive integer; got {length}")
        self.scenes, self.crop_size, self.length, self.seed = scenes, crop_size, length, seed
        self.operator, self.augment = operator, augment
        self._cache: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}

    def __len__(self) -> int:
        return self.length

    def window(self, index: int) -> torch.Tensor:
        """The radiance of item ``index`` before encoding: (3, c, c)."""
        if not 0 <= index < self.length:
            raise IndexError(f"index must be in [0, {self.length}); got {index}")
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + index)

        def draw(low: int, high: int) -> int:  # uniform integer in [low, high]
            return int(torch.randint(low, high + 1, (1,), generator=generator))

        scene = self.scenes[draw(0, len(self.scenes) - 1)]
        height, width = scene.shape[1:]
        side = draw(self.crop_size, min(height, width))
        top, left = draw(0, height - side), draw(0, width - side)
        window = scene[:, top : top + side, left : left + side]  # (3, s, s)
        if side != self.crop_size:  # average s/c × s/c blocks: a low-resolution view of the window
            window = F.interpolate(window[None], size=(self.crop_size, self.crop_size), mode="area")[0]
        if draw(0, 1):
            window = window.flip(-1)
        if self.augment:  # H ← g_c · H^k: white balance gains g_c = e^N(0, 0.15²), contrast k ∈ [0.8, 1.25]
            gains = torch.exp(0.15 * torch.randn(3, 1, 1, generator=generator))
            contrast = float(torch.exp(torch.empty(1).uniform_(np.log(0.8), np.log(1.25), generator=generator)))
            window = gains * window.clamp(min=0.0) ** contrast
        return window.contiguous()

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        if index not in self._cache:
            hdr = self.window(index)
            self._cache[index] = (encode_input(hdr), self.operator(hdr))
        return self._cache[index]
