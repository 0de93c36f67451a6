"""Operator imitation data: (input, operator(input)) pairs made from the bundled HDR scenes.

HDRNet's second use in its paper is to imitate a slow image operator from examples. Here the operator is
OpenCV's edge-aware **detail enhancement** (a domain-transform filter, Gastal and Oliveira 2011): it
splits the picture into an edge-aware smooth base and the detail on top, and amplifies the detail, i.e.
a local tone adjustment that raises local contrast without halos at strong edges. Its input is an HDR
scene tone-mapped for display by the global Reinhard operator:

    input  = reinhard(H)                         (3, h, w) in [0, 1]   (hdredu.imaging.tonemap, key 0.18)
    target = detail_enhance(input)               (3, h, w) in [0, 1]

The operator's spatial scale is a fixed fraction of the image size, so it does the same thing to a
picture at any resolution; that is what lets HDRNet learn it from small images and apply it to large
ones. Training items are *whole small images*: a random square window of a training scene (random size,
area-downscaled to ``crop_size``, random flip, random white balance and contrast) is tone-mapped and
enhanced on its own. Evaluation uses the full-resolution held-out scenes (:func:`full_pairs`).

Introduced in notebooks/02_hdrnet.ipynb, section *Imitating an edge-aware operator*.
"""

from __future__ import annotations

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from hdredu.data.samples import TEST_SCENES, load_sample, scene_pool
from hdredu.imaging.tonemap import reinhard
from hdredu.utils import check_shape, item_generator


def detail_enhance(ldr: torch.Tensor, sigma_spatial: float = 0.15, sigma_range: float = 0.1) -> torch.Tensor:
    """OpenCV's edge-aware detail enhancement, with its spatial scale relative to the image size.

    OpenCV computes an edge-aware smooth base (domain transform, normalised convolution) and amplifies the
    detail (image − base); edges stronger than ``sigma_range`` stop the smoothing, so they do not halo.
    OpenCV's ``sigma_s`` is in pixels; here it is ``sigma_spatial`` × the longer image side (15 %: 58 px
    on a 384-pixel-wide scene), so a downscaled picture gets the downscaled result. Not a global curve:
    equal colours in different places map to different outputs. Slow: about a second per 2 megapixels.
    The defaults (15 %, 0.1) give a large-scale, strongly edge-aware local contrast boost: on the held-out
    scenes neither the best global curve nor an unsharp mask of the same scale reproduces it well.

    Args:
        ldr: (3, H, W) display values in [0, 1] (quantised to 8 bits for OpenCV).
        sigma_spatial: base filter extent as a fraction of max(H, W), in (0, 1]; OpenCV caps sigma_s at 200 px.
        sigma_range: edge threshold of the base filter, in (0, 1] (OpenCV's sigma_r).
    Returns:
        (3, H, W) float32 in [0, 1], multiples of 1/255.
    """
    check_shape(ldr, "3 H W", "ldr")
    if not 0 < sigma_spatial <= 1:
        raise ValueError(f"sigma_spatial must be in (0, 1] (a fraction of the longer side); got {sigma_spatial}")
    if not 0 < sigma_range <= 1:
        raise ValueError(f"sigma_range must be in (0, 1]; got {sigma_range}")
    sigma_pixels = min(sigma_spatial * max(ldr.shape[1:]), 200.0)
    bgr = (ldr.detach().float().clamp(0.0, 1.0) * 255.0).round().to(torch.uint8).flip(0).permute(1, 2, 0).cpu().numpy()
    enhanced = cv2.detailEnhance(np.ascontiguousarray(bgr), sigma_s=sigma_pixels, sigma_r=sigma_range)
    return torch.from_numpy(enhanced).permute(2, 0, 1).flip(0).float().div(255.0).contiguous()


def make_pair(hdr: torch.Tensor, operator=detail_enhance) -> tuple[torch.Tensor, torch.Tensor]:
    """(input, target) = (reinhard(H), operator(reinhard(H))) for one (3, H, W) radiance image."""
    check_shape(hdr, "3 H W", "hdr")
    ldr = reinhard(hdr.clamp(min=0.0))
    return ldr, operator(ldr)


def full_pairs(scenes: list[str] | tuple[str, ...] = TEST_SCENES, operator=detail_enhance) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Full-resolution (input, target) pairs of bundled scenes, for evaluation.

    Args:
        scenes: names from :func:`hdredu.data.samples.list_samples` (default: the held-out test scenes).
        operator: (3, H, W) display image → (3, H, W) in [0, 1].
    Returns:
        [:func:`make_pair` of each scene], each (3, H, W).
    """
    return [make_pair(load_sample(name), operator) for name in scenes]


class OperatorPairs(Dataset):
    """Random small images from HDR scenes with the operator's output: ``(input (3, c, c), target (3, c, c))``.

    Item i is a pure function of (seed, i): a window of side s ∈ [c, min(H, W)] at a random place in a
    random scene, area-downscaled to c × c, flipped left-right with probability 1/2, optionally given a
    random white balance and contrast (H ← g_c · H^k, so four scenes yield many different pictures), then
    made into a pair by :func:`make_pair`. Items are cached after first use unless ``cache=False``.

    Args:
        scenes: (3, H, W) radiance tensors; None = the bundled training scenes (``TRAIN_SCENES``).
        crop_size: c, side of every item (≥ 16, at most the smallest scene side).
        length: number of items.
        seed: item i uses a generator seeded with (seed, i).
        operator: (3, h, w) display image → (3, h, w) in [0, 1]; default :func:`detail_enhance`.
        augment: random white balance gains e^N(0, 0.15²) per channel and contrast exponent k ∈ [0.8, 1.25].
        cache: keep items after first use (≈ 100 kB each at c = 64); turn off when each item is drawn once.
    """

    def __init__(
        self,
        scenes: list[torch.Tensor] | None = None,
        crop_size: int = 64,
        length: int = 512,
        seed: int = 0,
        operator=detail_enhance,
        augment: bool = True,
        cache: bool = True,
    ):
        scenes = scene_pool(scenes, crop_size, min_crop=16)
        if length < 1:
            raise ValueError(f"length must be a positive integer; got {length}")
        self.scenes, self.crop_size, self.length, self.seed = scenes, crop_size, length, seed
        self.operator, self.augment, self.cache = operator, augment, cache
        self._cache: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}

    def __len__(self) -> int:
        return self.length

    def window(self, index: int) -> torch.Tensor:
        """The radiance of item ``index`` before tone mapping: (3, c, c)."""
        if not 0 <= index < self.length:
            raise IndexError(f"index must be in [0, {self.length}); got {index}")
        generator = item_generator(self.seed, index)

        def draw(low: int, high: int) -> int:  # uniform integer in [low, high]
            return int(torch.randint(low, high + 1, (1,), generator=generator))

        scene = self.scenes[draw(0, len(self.scenes) - 1)]
        height, width = scene.shape[1:]
        side = draw(self.crop_size, min(height, width))
        top, left = draw(0, height - side), draw(0, width - side)
        window = scene[:, top : top + side, left : left + side].clamp(min=0.0)  # (3, s, s)
        if side != self.crop_size:  # average s/c × s/c blocks: a low-resolution picture of the window
            window = F.interpolate(window[None], size=(self.crop_size, self.crop_size), mode="area")[0]
        if draw(0, 1):
            window = window.flip(-1)
        if self.augment:  # H ← g_c · H^k: white balance gains g_c = e^N(0, 0.15²), contrast k ∈ [0.8, 1.25]
            gains = torch.exp(0.15 * torch.randn(3, 1, 1, generator=generator))
            contrast = float(torch.exp(torch.empty(1).uniform_(np.log(0.8), np.log(1.25), generator=generator)))
            window = gains * window**contrast
        return window.contiguous()

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        if index in self._cache:
            return self._cache[index]
        pair = make_pair(self.window(index), self.operator)
        if self.cache:
            self._cache[index] = pair
        return pair
