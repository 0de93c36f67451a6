"""Synthetic low-light RAW data: SID-style (dark packed Bayer input, bright sRGB target) pairs from the bundled scenes.

SID's real pairs are 25 GB; these are made on the fly, in SID's format, by running the camera pipeline backwards
(:mod:`hdredu.imaging.raw`, after Brooks et al., CVPR 2019):

    H (3, H, W) radiance ──reinhard──▶ display sRGB (the target) ──unprocess──▶ linear Bayer mosaic of the camera
        ──÷ ratio, shot + read noise, 14-bit──▶ short-exposure counts ──SID input──▶ min(pack(·) · ratio, 1)

    inputs  (4, c/2, c/2)   packed [R, G, B, G], amplified by the ratio (100, 250 or 300), clipped to 1
    target  (3, c, c)       the clean display image, in [0, 1]

Each scene is tone-mapped as a whole (Reinhard, key 0.18: one exposure per scene, as a photographer would
choose), then item i takes a random c × c window of a random scene, flips it left-right with probability 1/2
and draws a ratio; everything, noise included, is a pure function of (seed, i). The camera is fixed
(:meth:`Camera.default`, one camera as in SID's Sony set); the noise model is variance = a·s + b with
a = 1e-4, b = (2e-4)² in linear units of the short capture (:data:`hdredu.imaging.raw.SHOT_NOISE`, ``READ_NOISE``).

The classical baseline is :func:`hdredu.imaging.raw.amplify_and_process` (brighten by the ratio, run the camera
pipeline, optionally denoise with OpenCV's non-local means); it is re-exported here.
Introduced in notebooks/05_alen.ipynb, section 3 *Simulated low-light captures, in SID's format*.
"""

from __future__ import annotations

import torch
from torch.utils.data import Dataset

from hdredu.data.samples import TEST_SCENES, TRAIN_SCENES, load_sample
from hdredu.imaging.raw import (
    READ_NOISE,
    SHOT_NOISE,
    SID_RATIOS,
    Camera,
    amplify_and_process,
    low_light_capture,
    sid_input,
    unprocess_linear,
)
from hdredu.imaging.tonemap import reinhard
from hdredu.utils import check_shape, item_generator

__all__ = ["LowLightPairs", "amplify_and_process", "full_pairs", "make_pair"]


def _load_scenes(scenes) -> list[torch.Tensor]:
    """Names of bundled scenes or (3, H, W) radiance tensors → tone-mapped display images (3, H, W)."""
    loaded = [load_sample(scene) if isinstance(scene, str) else scene for scene in scenes]
    if not loaded:
        raise ValueError("scenes must hold at least one scene name or (3, H, W) radiance tensor; got an empty list")
    for index, scene in enumerate(loaded):
        check_shape(scene, "3 H W", f"scenes[{index}]")
    return [reinhard(scene.float().clamp(min=0.0)) for scene in loaded]


def make_pair(srgb: torch.Tensor, ratio: float, camera: Camera | None = None, shot_noise: float = SHOT_NOISE,
              read_noise: float = READ_NOISE, generator: torch.Generator | None = None):
    """One SID-style pair from a display image:  (3, H, W) sRGB → (inputs (4, H/2, W/2), target = srgb).

    inputs = min(pack((counts − black)⁺ / (white − black)) · ratio, 1), counts = the noisy short capture of the
    camera's linear mosaic of ``srgb`` (even H and W).
    """
    camera = Camera.default() if camera is None else camera
    check_shape(srgb, "3 H W", "srgb")
    linear = unprocess_linear(srgb, camera)  # (H, W) well-exposed linear mosaic
    counts = low_light_capture(linear, ratio, camera, shot_noise, read_noise, generator)  # (H, W) short capture
    inputs = sid_input(counts, ratio, camera.black_level, camera.white_level)  # (4, H/2, W/2)
    return inputs, srgb.float()


def full_pairs(scenes=TEST_SCENES, ratio: float = 300, seed: int = 0, camera: Camera | None = None):
    """Whole-scene pairs for evaluation (odd sides cropped by one pixel): [(inputs (4, h, w), target (3, 2h, 2w))].

    Scene k's noise draws from ``hdredu.utils.item_generator(seed, k)``.
    """
    pairs = []
    for index, display in enumerate(_load_scenes(scenes)):
        height, width = display.shape[1] // 2 * 2, display.shape[2] // 2 * 2
        generator = item_generator(seed, index)
        pairs.append(make_pair(display[:, :height, :width].contiguous(), ratio, camera, generator=generator))
    return pairs


class LowLightPairs(Dataset):
    """Random SID-style pairs from HDR scenes: ``(inputs (4, c/2, c/2), target (3, c, c))``.

    Args:
        scenes: bundled scene names or (3, H, W) radiance tensors; None = ``TRAIN_SCENES``.
        crop_size: c, the target's side: even, in [16, smallest scene side].
        length: number of items.
        ratios: amplification ratios drawn uniformly per item (SID's 100 / 250 / 300); each ≥ 1.
        seed: item i draws everything from ``hdredu.utils.item_generator(seed, i)``.
        camera: the simulated camera; None = :meth:`Camera.default`.
        shot_noise, read_noise: a and √b of the noise model variance = a·s + b.
    """

    def __init__(self, scenes=None, crop_size: int = 64, length: int = 256, ratios=SID_RATIOS, seed: int = 0,
                 camera: Camera | None = None, shot_noise: float = SHOT_NOISE, read_noise: float = READ_NOISE):
        self.displays = _load_scenes(TRAIN_SCENES if scenes is None else list(scenes))
        smallest = min(min(display.shape[1:]) for display in self.displays)
        if not isinstance(crop_size, int) or crop_size % 2 or not 16 <= crop_size <= smallest:
            raise ValueError(f"crop_size must be an even int in [16, {smallest}] (the smallest scene side); "
                             f"got {crop_size!r}")
        if not isinstance(length, int) or length < 1:
            raise ValueError(f"length must be a positive integer; got {length!r}")
        ratios = tuple(float(ratio) for ratio in ratios)
        if not ratios or not all(ratio >= 1 for ratio in ratios):
            raise ValueError(f"ratios must be a non-empty sequence of numbers >= 1 (e.g. (100, 250, 300)); got {ratios}")
        self.crop_size, self.length, self.ratios, self.seed = crop_size, length, ratios, seed
        self.camera = Camera.default() if camera is None else camera
        self.shot_noise, self.read_noise = shot_noise, read_noise

    def __len__(self) -> int:
        return self.length

    def _draw(self, index: int):
        """The generator of item ``index`` and its draws: (generator, scene, top, left, flip, ratio)."""
        if not 0 <= index < self.length:
            raise IndexError(f"index must be in [0, {self.length}); got {index}")
        generator = item_generator(self.seed, index)

        def draw(low: int, high: int) -> int:  # uniform integer in [low, high]
            return int(torch.randint(low, high + 1, (1,), generator=generator))

        scene = draw(0, len(self.displays) - 1)
        height, width = self.displays[scene].shape[1:]
        top, left = draw(0, height - self.crop_size), draw(0, width - self.crop_size)
        flip = bool(draw(0, 1))
        ratio = self.ratios[draw(0, len(self.ratios) - 1)]
        return generator, scene, top, left, flip, ratio

    def ratio(self, index: int) -> float:
        """The amplification ratio of item ``index``."""
        return self._draw(index)[-1]

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        generator, scene, top, left, flip, ratio = self._draw(index)
        size = self.crop_size
        window = self.displays[scene][:, top : top + size, left : left + size]  # (3, c, c)
        if flip:
            window = window.flip(-1)
        # the noise continues the same generator: the whole item is a function of (seed, index)
        return make_pair(window.contiguous(), ratio, self.camera, self.shot_noise, self.read_noise, generator)
