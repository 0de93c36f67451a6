"""Inverse tone mapping data: (LDR, HDR) pairs made from the bundled HDR scenes by a random tone-mapping operator.

MQNet trains on HDR images only; the LDR input is made on the fly (reference/mqnet.md §4):

    window = random square of the scene, resized to c × c, random left-right / up-down flips   (3, c, c) radiance
    ldr    = minmax(TMO(window)),  TMO drawn from {exposure + gamma, Reinhard, Drago, Mantiuk}   (3, c, c) in [0, 1]
    target = minmax(window) = (H − min H) / (max H − min H)                                     (3, c, c) in [0, 1]

The four operators, with parameters drawn per item:

    exposure   V = clip(H / P_p(H), 0, 1)^(1/γ): the p-th percentile becomes white, p ∈ [90, 99.9]
    reinhard   OpenCV TonemapReinhard (global, log-average key)       ┐
    drago      OpenCV TonemapDrago (logarithmic, adaptive base)        ├ via hdredu.baselines.tonemap, γ ∈ [1.8, 2.6]
    mantiuk    OpenCV TonemapMantiuk (local contrast in the gradient)  ┘

Deviations from the release: the ranges above are hdredu's (the release ports ExpandNet's random operators),
the window side is random in [c, min(H, W)] (the release always takes the largest square), and the LDR is
rounded to 8 bits (``bits=8``; None keeps floats as released) because real test inputs are 8-bit JPEGs.
Item i is a pure function of (seed, i), like :class:`hdredu.data.operator_pairs.OperatorPairs`.
Introduced in notebooks/04_mqnet.ipynb, section *Data*.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from hdredu.baselines import tonemap as opencv_tonemap
from hdredu.data.samples import TEST_SCENES, load_sample, scene_pool
from hdredu.imaging.tonemap import exposure_tonemap, min_max
from hdredu.utils import check_shape, item_generator

TMOS = ("exposure", "reinhard", "drago", "mantiuk")
GAMMA_RANGE = (1.8, 2.6)
PERCENTILE_RANGE = (90.0, 99.9)


def exposure_gamma(hdr: torch.Tensor, percentile: float = 99.0, gamma: float = 2.2) -> torch.Tensor:
    """V = clip(H / P_p(H), 0, 1)^(1/γ): expose so the p-th percentile of all values is white, then gamma-encode.

    Args:
        hdr: (3, H, W) radiance ≥ 0. percentile: p in (0, 100]. gamma: γ > 0.
    Returns:
        (3, H, W) in [0, 1]; the brightest (100 − p) % of values clip to 1.
    """
    check_shape(hdr, "3 H W", "hdr")
    return exposure_tonemap(hdr, None, gamma, percentile)


def apply_tmo(hdr: torch.Tensor, tmo: str, gamma: float = 2.2, percentile: float = 99.0) -> torch.Tensor:
    """One of ``TMOS`` on (3, H, W) radiance → (3, H, W) display image in [0, 1] (not yet min–max normalised)."""
    if tmo == "exposure":
        return exposure_gamma(hdr, percentile, gamma)
    if tmo in TMOS:
        return opencv_tonemap(hdr, tmo, gamma)
    raise ValueError(f"tmo must be one of {TMOS}; got {tmo!r}")


def make_pair(hdr: torch.Tensor, tmo: str = "reinhard", gamma: float = 2.2, percentile: float = 99.0,
              bits: int | None = 8) -> tuple[torch.Tensor, torch.Tensor]:
    """(ldr, target) = (minmax(TMO(H)) rounded to ``bits``, minmax(H)) for one (3, H, W) radiance image."""
    check_shape(hdr, "3 H W", "hdr")
    hdr = hdr.clamp(min=0.0)
    ldr = min_max(apply_tmo(hdr, tmo, gamma, percentile))
    if bits is not None:
        levels = 2**bits - 1
        ldr = torch.round(ldr * levels) / levels
    return ldr, min_max(hdr)


def full_pairs(scenes: list[str] | tuple[str, ...] = TEST_SCENES, tmo: str = "reinhard",
               bits: int | None = 8) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Full-size (ldr, target) pairs of bundled scenes (default: the held-out test scenes), one fixed operator."""
    return [make_pair(load_sample(name), tmo, bits=bits) for name in scenes]


class ITMPairs(Dataset):
    """Random (LDR, HDR) crops of HDR scenes: ``(ldr (3, c, c) in [0, 1], target (3, c, c) in [0, 1])``.

    Args:
        scenes: (3, H, W) radiance tensors; None = the bundled training scenes (``TRAIN_SCENES``).
        crop_size: c, side of every item (≥ 32, at most the smallest scene side; MQNet wants a multiple of 32).
        length: number of items.
        seed: item i uses a generator seeded with seed · 1,000,003 + i.
        tmos: operators to draw from (default all four, uniformly).
        bits: LDR quantization (8); None keeps floats.
        cache: keep items after first use (the OpenCV operators take a few ms each).
    :meth:`params` tells what item i drew (scene, window, flips, operator and its parameters).
    """

    def __init__(self, scenes: list[torch.Tensor] | None = None, crop_size: int = 64, length: int = 512, seed: int = 0,
                 tmos: tuple[str, ...] = TMOS, bits: int | None = 8, cache: bool = True):
        scenes = scene_pool(scenes, crop_size, min_crop=32)
        if length < 1:
            raise ValueError(f"length must be a positive integer; got {length}")
        unknown = [t for t in tmos if t not in TMOS]
        if not tmos or unknown:
            raise ValueError(f"tmos must be a non-empty subset of {TMOS}; got {tuple(tmos)}")
        self.scenes, self.crop_size, self.length, self.seed = scenes, crop_size, length, seed
        self.tmos, self.bits, self.cache = tuple(tmos), bits, cache
        self._cache: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}

    def __len__(self) -> int:
        return self.length

    def params(self, index: int) -> dict:
        """Everything drawn for item ``index``: scene, window (top, left, side), flips, tmo, gamma, percentile."""
        if not 0 <= index < self.length:
            raise IndexError(f"index must be in [0, {self.length}); got {index}")
        generator = item_generator(self.seed, index)

        def integer(low: int, high: int) -> int:  # uniform in [low, high]
            return int(torch.randint(low, high + 1, (1,), generator=generator))

        def uniform(low: float, high: float) -> float:
            return float(torch.empty(1).uniform_(low, high, generator=generator))

        scene = integer(0, len(self.scenes) - 1)
        height, width = self.scenes[scene].shape[1:]
        side = integer(self.crop_size, min(height, width))
        return {
            "scene": scene, "side": side, "top": integer(0, height - side), "left": integer(0, width - side),
            "flip_lr": bool(integer(0, 1)), "flip_ud": bool(integer(0, 1)),
            "tmo": self.tmos[integer(0, len(self.tmos) - 1)],
            "gamma": uniform(*GAMMA_RANGE), "percentile": uniform(*PERCENTILE_RANGE),
        }

    def window(self, index: int) -> torch.Tensor:
        """The radiance of item ``index`` before tone mapping: (3, c, c)."""
        p = self.params(index)
        scene = self.scenes[p["scene"]]
        window = scene[:, p["top"] : p["top"] + p["side"], p["left"] : p["left"] + p["side"]].clamp(min=0.0)
        if p["side"] != self.crop_size:  # area-average to c × c
            window = F.interpolate(window[None], size=(self.crop_size, self.crop_size), mode="area")[0]
        if p["flip_lr"]:
            window = window.flip(-1)
        if p["flip_ud"]:
            window = window.flip(-2)
        return window.contiguous()

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        if index in self._cache:
            return self._cache[index]
        p = self.params(index)
        pair = make_pair(self.window(index), p["tmo"], p["gamma"], p["percentile"], self.bits)
        if self.cache:
            self._cache[index] = pair
        return pair


def tmo_counts(dataset: ITMPairs) -> dict[str, int]:
    """How many items of ``dataset`` use each operator (for a quick look at the mix)."""
    counts = dict.fromkeys(dataset.tmos, 0)
    for index in range(len(dataset)):
        counts[dataset.params(index)["tmo"]] += 1
    return counts

