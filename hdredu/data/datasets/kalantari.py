"""Loaders for real HDR datasets on disk. First: Kalantari & Ramamoorthi, SIGGRAPH 2017 ("SIG17HDR").

    <root>/Training/<scene>/          74 scenes (a stray README.txt beside them is skipped)
    <root>/Test/PAPER/<scene>/        test scenes: any folder under Test/ that holds LDR frames
    <root>/Test/EXTRA/<scene>/
        3 LDR frames   16-bit TIFF (also 8/16-bit PNG); sorted file names = short → long exposure
        exposure.txt   3 EV stops relative to the shortest frame, one per line; t = 2^EV
        HDRImg.hdr     linear ground truth aligned to the medium (reference) frame, ≈ [0, 1]

Each item is AHDRNet's input  X_i = [L_i, L_i^γ / t_i]  for the three frames and the ground truth.
Nothing is downloaded: point ``root`` at a copy of the data (or at ``data_samples/brackets``, the bundled
simulated sets in the same layout).
Paper: N. K. Kalantari, R. Ramamoorthi, "Deep High Dynamic Range Imaging of Dynamic Scenes", SIGGRAPH 2017.
The notebooks read the bundled sets with ``Kalantari("data_samples/brackets", "test")``.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch

from hdredu import io
from hdredu.imaging.camera import merge_input
from hdredu.utils import item_generator, random_window

SPLIT_FOLDERS = {"train": "Training", "test": "Test"}
EXPOSURE_FILE = "exposure.txt"
HDR_FILE = "HDRImg.hdr"
LDR_SUFFIXES = (".tif", ".tiff", ".png")
N_FRAMES = 3
LAYOUT_HINT = (
    f"expected the Kalantari SIGGRAPH'17 layout: <root>/Training/<scene>/ and <root>/Test/**/<scene>/, each scene "
    f"holding {N_FRAMES} LDR frames ({'/'.join(LDR_SUFFIXES)}), {EXPOSURE_FILE} and {HDR_FILE}"
)


class Kalantari(torch.utils.data.Dataset):
    """The Kalantari SIGGRAPH'17 dynamic-scene HDR dataset read from its usual folder layout.

    The folder structure and every ``exposure.txt`` are checked when the dataset is made; the images are read
    (and checked for matching sizes and finite values) when an item is loaded.

    Args:
        root: the folder holding ``Training/`` and ``Test/``.
        split: ``"train"`` (``Training/``) or ``"test"`` (``Test/``, PAPER and EXTRA together).
        crop_size: side of a square random crop taken from every item; None keeps the full image
            (1000×1500 for the real data). The crop depends only on ``seed`` and the index, so an item is the
            same every time it is loaded; use another ``seed`` for other crops.
        gamma: γ of the input linearisation L^γ / t (2.2 inverts Kalantari's TIFFs exactly).
        seed: base seed of the crops; item k uses ``seed · 1_000_003 + k``.
    Attributes:
        scene_names: scene folders relative to the split folder, e.g. ``"001"`` or ``"EXTRA/001"``.
        scene_dirs: the matching absolute folders.
    Yields:
        (inputs (3, 6, H, W), target (3, H, W)): per frame [LDR, LDR^γ / t] short → long, and the linear HDR.
    """

    def __init__(self, root, split: str = "train", crop_size: int | None = None, gamma: float = 2.2, seed: int = 0):
        if split not in SPLIT_FOLDERS:
            raise ValueError(f"split must be one of {sorted(SPLIT_FOLDERS)}; got {split!r}")
        if crop_size is not None and (not isinstance(crop_size, int) or crop_size < 1):
            raise ValueError(f"crop_size must be a positive int or None; got {crop_size!r}")
        if not gamma > 0:
            raise ValueError(f"gamma must be positive; got {gamma}")
        self.root, self.split = Path(root), split
        self.crop_size, self.gamma, self.seed = crop_size, gamma, seed
        self.scene_dirs = find_scenes(self.root, split)
        split_dir = self.root / SPLIT_FOLDERS[split]
        self.scene_names = [scene.relative_to(split_dir).as_posix() for scene in self.scene_dirs]
        # Fail early on a broken scene: its frames, its ground truth and its exposures are all checked here.
        self._frame_paths = [ldr_frame_paths(scene) for scene in self.scene_dirs]
        for scene in self.scene_dirs:
            if not (scene / HDR_FILE).is_file():
                raise FileNotFoundError(f"{scene / HDR_FILE} is missing: every scene needs its ground truth {HDR_FILE}")
        self._stops = [read_exposure_stops(scene / EXPOSURE_FILE) for scene in self.scene_dirs]

    def __len__(self) -> int:
        return len(self.scene_dirs)

    def exposure_times(self, index: int) -> torch.Tensor:
        """Exposure times t_i = 2^EV_i of scene ``index``, short → long:  (3,) float32 (the shortest is 1)."""
        return 2.0 ** torch.tensor(self._stops[self._check_index(index)], dtype=torch.float32)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        index = self._check_index(index)
        ldr, hdr = self._read_scene(index)  # (3, 3, H, W), (3, H, W)
        if self.crop_size is not None:
            ldr, hdr = self._random_crop(ldr, hdr, index)
        # AHDRNet's input mapping  X_i = [L_i, L_i^γ / t_i]:  (3, 3, h, w) → (3, 6, h, w).
        return merge_input(ldr, self.exposure_times(index), self.gamma), hdr

    def _check_index(self, index: int) -> int:
        if not -len(self) <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} {self.split} scenes")
        return index % len(self)

    def _read_scene(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Read the LDR stack (3, 3, H, W) in [0, 1] and the ground truth (3, H, W), all RGB, sizes checked."""
        paths = self._frame_paths[index] + [self.scene_dirs[index] / HDR_FILE]
        images = [io.read_ldr(path) for path in paths[:-1]] + [io.read_hdr(paths[-1])]  # (H, W, 3) each
        io.check_same_size(images, paths, f"{self.scene_dirs[index]}: the LDR frames and {HDR_FILE}")
        tensors = [io.to_tensor(image) for image in images]
        return torch.stack(tensors[:-1]), tensors[-1]

    def _random_crop(self, ldr: torch.Tensor, hdr: torch.Tensor, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The same random square window of the stack and the ground truth, deterministic by (seed, index)."""
        height, width = hdr.shape[-2:]
        size = self.crop_size
        if size > min(height, width):
            raise ValueError(f"crop_size={size} is larger than scene {self.scene_names[index]!r} "
                             f"({height}x{width})")
        generator = item_generator(self.seed, index)
        window = random_window(height, width, size, generator)
        return ldr[window], hdr[window]


def find_scenes(root, split: str) -> list[Path]:
    """Scene folders of one split, sorted: every folder under ``Training/`` or ``Test/`` that holds LDR frames
    (so PAPER/ and EXTRA/ under Test/ are found, and a scene missing ``exposure.txt`` is reported, not dropped).
    Files beside the scenes (a README.txt) and hidden folders are skipped.

    Raises:
        FileNotFoundError: ``root`` or the split folder is missing, or it holds no scene.
        ValueError: a scene folder holds another scene folder (a nested copy would be counted twice).
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"Kalantari root folder not found: {root} ({LAYOUT_HINT})")
    split_dir = root / SPLIT_FOLDERS[split]
    if not split_dir.is_dir():
        raise FileNotFoundError(f"no {split} scenes: the folder {split_dir} does not exist ({LAYOUT_HINT})")
    scenes = sorted({frame.parent for frame in split_dir.rglob("*")
                     if frame.suffix.lower() in LDR_SUFFIXES and (frame.is_file() or frame.is_symlink())
                     and not any(part.startswith(".") for part in frame.relative_to(split_dir).parts)})
    for outer in scenes:
        nested = [inner for inner in scenes if inner != outer and outer in inner.parents]
        if nested:
            raise ValueError(f"scene {outer} holds another scene folder {nested[0]}: a nested copy would be read twice; "
                             f"move or remove it ({LAYOUT_HINT})")
    if not scenes:
        raise FileNotFoundError(f"no {split} scenes found in {split_dir} ({LAYOUT_HINT})")
    return scenes


def ldr_frame_paths(scene) -> list[Path]:
    """The scene's LDR frames sorted by name (= short → long exposure).

    Raises:
        FileNotFoundError: a frame is a broken link.
        ValueError: the scene does not hold exactly 3 LDR images.
    """
    scene = Path(scene)
    frames = sorted(p for p in scene.iterdir() if p.suffix.lower() in LDR_SUFFIXES and (p.is_file() or p.is_symlink()))
    for frame in frames:
        if not frame.exists():
            raise FileNotFoundError(f"{frame} is a broken link: restore the file it points to, or remove the link")
    if len(frames) != N_FRAMES:
        raise ValueError(f"{scene}: expected {N_FRAMES} LDR frames ({'/'.join(LDR_SUFFIXES)}), found {len(frames)}: "
                         f"{[p.name for p in frames]}")
    return frames


def read_exposure_stops(path) -> list[float]:
    """Read ``exposure.txt``: 3 EV stops relative to the shortest frame, increasing (e.g. 0, 2, 4).

    Raises:
        FileNotFoundError: the file is missing.
        ValueError: a value is not a finite number (the line is named), there are not 3 values,
            or they are not ordered short → long.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: every scene needs {EXPOSURE_FILE} with {N_FRAMES} EV stops")
    stops = []
    for line_number, line in enumerate(path.read_text().splitlines(), start=1):
        for token in line.split():
            try:
                value = float(token)
            except ValueError:
                value = math.nan
            if not math.isfinite(value):  # not a number at all, or NaN / Inf
                raise ValueError(f"{path}, line {line_number}: expected a finite number (an EV stop); got {token!r}")
            stops.append(value)
    if len(stops) != N_FRAMES:
        raise ValueError(f"{path}: expected {N_FRAMES} exposure values (EV stops, one per line); found {len(stops)}")
    if stops != sorted(stops):
        raise ValueError(f"{path}: EV stops must increase short → long, matching the sorted frames; got {stops}")
    return stops
