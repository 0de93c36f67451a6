"""Loader for the NTIRE 2021 HDR challenge, Track 2 (multi-frame), the data ADNet was built for.

    <root>/<split>/0000_short.png   0000_medium.png   0000_long.png    LDR, 8-bit RGB PNG, gamma-encoded
                   0000_gt.png                                           HDR, 16-bit RGB PNG
                   0000_alignratio.npy                                   float scalar: HDR = png_uint16 / alignratio
                   0000_exposures.npy                                    3 EV values short → long, e.g. [−3, −1, 1]

1494 training frames (ids 0000–1493, 1900×1060) from 14 video scenes; the validation and test ground truth is
not public. The ground truth is **gamma-encoded** HDR ("after gamma correction"), not linear radiance: it is
returned as stored (values above 1 are common); linearise it with ``target ** gamma`` (γ = 2.24).

Each item is ADNet's input, per frame [L_i, E_i] with the exposure-aligned frame (the challenge starter
script's "canonical EV alignment", relative to the medium frame):

    ΔEV_i = EV_i − EV_medium,   E_i = (L_i^γ · 2^{−ΔEV_i})^{1/γ}      (γ = 2.24; E_medium = L_medium)

E_i is ``hdredu.imaging.camera.ldr_to_linear(L_i, 2^{ΔEV_i}, γ)`` taken back to the gamma domain. With
``second_half="linear"`` the item is AHDRNet's [L_i, L_i^γ / t_i] instead, t_i = 2^{ΔEV_i} (medium = 1).
Not done here: the official random γ jitter of the short and long frames (training augmentation) and ADNet's
own pre-cropped 256² layout (``training/000000/{0,1,2,gt}.png``).

Paper: Pérez-Pellitero et al., "NTIRE 2021 Challenge on High Dynamic Range Imaging", CVPRW 2021;
Liu et al., "ADNet", CVPRW 2021 (``dataset/dataset.py``, ``utils/usage_example.py``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from hdredu import io
from hdredu.imaging.camera import ldr_to_linear
from hdredu.utils import item_generator, random_window

FRAME_NAMES = ("short", "medium", "long")
GT_SUFFIX, RATIO_SUFFIX, EXPOSURE_SUFFIX = "_gt.png", "_alignratio.npy", "_exposures.npy"
GAMMA = 2.24
LAYOUT_HINT = ("expected the NTIRE 2021 track-2 layout: <root>/<split>/<id>_short.png, <id>_medium.png, "
               "<id>_long.png, <id>_gt.png, <id>_alignratio.npy, <id>_exposures.npy")


def exposure_align(ldr: torch.Tensor, stops, gamma: float = GAMMA) -> torch.Tensor:
    """Exposure-aligned frames  E_i = (L_i^γ · 2^{−ΔEV_i})^{1/γ}, still gamma-encoded (NTIRE's "EV alignment").

    Args:
        ldr: (..., N, C, H, W) gamma-encoded LDR in [0, 1].
        stops: ΔEV_i, float or (..., N) EV differences to the reference frame (0 for the reference).
        gamma: γ (2.24 in the NTIRE starter script and ADNet).
    Returns:
        same shape as ``ldr``; the reference frame is returned unchanged (up to float rounding).
    """
    times = 2.0 ** torch.as_tensor(stops, dtype=ldr.dtype, device=ldr.device)
    return ldr_to_linear(ldr, times, gamma) ** (1.0 / gamma)


class NTIRE2021(torch.utils.data.Dataset):
    """The NTIRE 2021 multi-frame HDR data (track 2) read from its folder layout.

    Every scene's six files and its two ``.npy`` files are checked when the dataset is made; the images are
    read (and checked for matching sizes) when an item is loaded.

    Args:
        root: the folder holding the split folders.
        split: the split's folder name under ``root`` (e.g. ``"train"``).
        crop_size: side of a square random crop (the same window for the frames and the ground truth);
            None keeps the full 1060×1900 frame. Depends only on ``seed`` and the index.
        seed: base seed of the crops; item k uses ``seed · 1_000_003 + k``.
        gamma: γ of the exposure alignment (2.24).
        second_half: "eva" (ADNet: E_i, gamma-encoded) or "linear" (AHDRNet: L_i^γ / t_i).
        linear_target: return the ground truth as linear radiance (stored ** 2.24), as every other merge
            dataset in hdredu does, instead of the stored gamma-encoded HDR.
    Attributes:
        ids: the scene ids, e.g. ``["0000", "0001"]``.
    Yields:
        (inputs (3, 6, H, W), target (3, H, W)): per frame [LDR, E_i or L^γ/t] short → long, and the
        gamma-encoded HDR ground truth (≥ 0, unbounded).
    """

    def __init__(self, root, split: str = "train", crop_size: int | None = None, seed: int = 0,
                 gamma: float = GAMMA, second_half: str = "eva", linear_target: bool = False):
        if crop_size is not None and (not isinstance(crop_size, int) or crop_size < 1):
            raise ValueError(f"crop_size must be a positive int or None; got {crop_size!r}")
        if not gamma > 0:
            raise ValueError(f"gamma must be positive; got {gamma}")
        if second_half not in ("eva", "linear"):
            raise ValueError(f"second_half must be 'eva' (ADNet) or 'linear' (AHDRNet); got {second_half!r}")
        self.root, self.split = Path(root), split
        self.crop_size, self.seed, self.gamma, self.second_half = crop_size, seed, gamma, second_half
        self.linear_target = linear_target
        self.folder = self.root / split
        if not self.folder.is_dir():
            found = sorted(p.name for p in self.root.iterdir() if p.is_dir()) if self.root.is_dir() else []
            raise FileNotFoundError(f"no {split!r} split: the folder {self.folder} does not exist "
                                    f"(folders in root: {found}; {LAYOUT_HINT})")
        self.ids = sorted(p.name[: -len("_medium.png")] for p in self.folder.glob("*_medium.png"))
        if not self.ids:
            raise FileNotFoundError(f"no scenes in {self.folder}: no <id>_medium.png found ({LAYOUT_HINT})")
        # Fail early on a broken scene: every file exists, the exposures are ordered, the ratio is positive.
        for scene_id in self.ids:
            for path in self._image_paths(scene_id):
                if not path.is_file():
                    raise FileNotFoundError(f"{path} is missing: scene {scene_id} is incomplete ({LAYOUT_HINT})")
        self._stops = [read_exposures(self.folder / f"{i}{EXPOSURE_SUFFIX}") for i in self.ids]
        self._ratios = [read_alignratio(self.folder / f"{i}{RATIO_SUFFIX}") for i in self.ids]

    def _image_paths(self, scene_id: str) -> list[Path]:
        """The three LDR frames (short, medium, long) and the ground-truth PNG of one scene."""
        return [self.folder / f"{scene_id}_{name}.png" for name in FRAME_NAMES] + [self.folder / f"{scene_id}{GT_SUFFIX}"]

    def __len__(self) -> int:
        return len(self.ids)

    def stops(self, index: int) -> torch.Tensor:
        """ΔEV_i = EV_i − EV_medium of scene ``index``, short → long: (3,) float32, e.g. [−2, 0, 2]."""
        ev = torch.tensor(self._stops[self._check_index(index)], dtype=torch.float32)
        return ev - ev[1]

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        index = self._check_index(index)
        ldr, hdr = self._read_scene(index)  # (3, 3, H, W), (3, H, W)
        if self.crop_size is not None:
            height, width = hdr.shape[-2:]
            if self.crop_size > min(height, width):
                raise ValueError(f"crop_size={self.crop_size} is larger than scene {self.ids[index]} ({height}x{width})")
            window = random_window(height, width, self.crop_size,
                                   item_generator(self.seed, index))
            ldr, hdr = ldr[window], hdr[window]
        stops = self.stops(index)
        if self.second_half == "eva":
            second = exposure_align(ldr, stops, self.gamma)  # E_i, gamma-encoded
        else:
            second = ldr_to_linear(ldr, 2.0**stops, self.gamma)  # L_i^γ / t_i, t_medium = 1
        if self.linear_target:  # the stored ground truth is gamma-encoded with the data's γ = 2.24
            hdr = hdr**GAMMA
        return torch.cat([ldr, second], dim=1), hdr

    def _check_index(self, index: int) -> int:
        if not -len(self) <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} {self.split} scenes")
        return index % len(self)

    def _read_scene(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        """LDR stack (3, 3, H, W) in [0, 1] and ground truth (3, H, W) = uint16 / alignratio, RGB, sizes checked."""
        paths = self._image_paths(self.ids[index])
        images = [io.read_ldr(path) for path in paths]  # (H, W, 3) each; the 16-bit GT is read as uint16 / 65535
        io.check_same_size(images, paths, f"scene {self.ids[index]}: the frames and the ground truth")
        tensors = [io.to_tensor(image) for image in images]
        # HDR = uint16 / alignratio = (uint16 / 65535) · 65535 / alignratio
        hdr = tensors[-1] * (65535.0 / self._ratios[index])
        return torch.stack(tensors[:-1]), hdr


def read_exposures(path) -> list[float]:
    """Read ``<id>_exposures.npy``: 3 finite EV values, increasing short → long (e.g. [−3, −1, 1]).

    Raises:
        FileNotFoundError: the file is missing.
        ValueError: not 3 finite numbers, or not increasing.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: every scene needs its 3 EV values in {EXPOSURE_SUFFIX}")
    values = np.asarray(np.load(path, allow_pickle=False), dtype=np.float64).ravel()
    if values.size != 3 or not np.all(np.isfinite(values)):
        raise ValueError(f"{path}: expected 3 finite EV values (short, medium, long); got {values.tolist()}")
    if not np.all(np.diff(values) > 0):
        raise ValueError(f"{path}: EV values must increase short → medium → long; got {values.tolist()}")
    return values.tolist()


def read_alignratio(path) -> float:
    """Read ``<id>_alignratio.npy``: the positive scalar the 16-bit GT was multiplied by (65535 / max HDR).

    Raises:
        FileNotFoundError: the file is missing.
        ValueError: not a single positive finite number.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: every scene needs {RATIO_SUFFIX} to decode its 16-bit ground truth")
    values = np.asarray(np.load(path, allow_pickle=False), dtype=np.float64).ravel()
    if values.size != 1 or not np.isfinite(values[0]) or values[0] <= 0:
        raise ValueError(f"{path}: expected one positive number (65535 / max HDR); got {values.tolist()}")
    return float(values[0])
