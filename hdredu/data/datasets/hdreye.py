"""Loaders for HDR-Eye and HDR-Real, MQNet's test sets, in the layout SingleHDR (Liu et al., CVPR 2020) ships them.

Two layouts are recognised (reference/datasets.md §5; the file layout is taken from the code that reads the zips,
BCJuan/ITMMQNet ``hdrml/data_org/datasets.py``, not from documentation):

    scene folders (the test zips "HDR-Eye.zip", "HDR-Real.zip")
        <root>/<scene>/input.jpg      the 8-bit LDR input
        <root>/<scene>/gt.hdr         the linear HDR ground truth, same size

    paired folders (HDR-Real inside SingleHDR's training zip)
        <root>/LDR_in/<name>.jpg      (or <root>/HDR-Real/LDR_in/)
        <root>/HDR_gt/<name>.hdr      paired by file name stem (an assumption: the release pairs by listing order)

``.png`` / ``.jpeg`` inputs and ``.exr`` ground truths are accepted too. A scene or a name with only one of the two
files is an error that lists them. Items are ``(ldr (3, H, W) in [0, 1], hdr (3, H, W))``; with ``normalize`` the
HDR is min–max normalised to [0, 1], the scale MQNet is trained on (reference/mqnet.md §4).
Nothing is downloaded: point ``root`` at an unpacked copy.
Paper: Liu et al., "Single-Image HDR Reconstruction by Learning to Reverse the Camera Pipeline", CVPR 2020 (the
packaging); HDR-Eye: Nemoto et al., 2015.
"""

from __future__ import annotations

from pathlib import Path

import torch

from hdredu import io
from hdredu.utils import item_generator, random_window

LDR_SUFFIXES = (".jpg", ".jpeg", ".png")
HDR_SUFFIXES = (".hdr", ".exr")
SCENE_INPUT, SCENE_GT = "input", "gt"
PAIRED_LDR, PAIRED_HDR = "LDR_in", "HDR_gt"
LAYOUT_HINT = (
    "expected SingleHDR's layout: <root>/<scene>/input.jpg + gt.hdr (HDR-Eye.zip, HDR-Real.zip), or "
    "<root>/LDR_in/<name>.jpg + <root>/HDR_gt/<name>.hdr (also under <root>/HDR-Real/)"
)


def _find_one(folder: Path, stem: str, suffixes: tuple[str, ...]) -> Path | None:
    """The file ``stem`` + one of ``suffixes`` (any letter case) in ``folder``, or None."""
    matches = [p for p in folder.iterdir() if p.is_file() and p.stem == stem and p.suffix.lower() in suffixes]
    return min(matches) if matches else None


def _files_by_stem(folder: Path, suffixes: tuple[str, ...]) -> dict[str, Path]:
    return {p.stem: p for p in sorted(folder.iterdir()) if p.is_file() and p.suffix.lower() in suffixes}


def find_pairs(root) -> tuple[list[str], list[tuple[Path, Path]]]:
    """(names, [(ldr path, hdr path)]) of every pair under ``root``, sorted by name.

    Raises:
        FileNotFoundError: ``root`` is missing or holds neither layout.
        ValueError: some scenes / names have only the LDR or only the HDR file (all of them are listed).
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"HDR-Eye / HDR-Real root folder not found: {root} ({LAYOUT_HINT})")
    for base in (root, root / "HDR-Real"):
        if (base / PAIRED_LDR).is_dir() or (base / PAIRED_HDR).is_dir():
            return _paired_folders(base)
    return _scene_folders(root)


def _paired_folders(base: Path) -> tuple[list[str], list[tuple[Path, Path]]]:
    ldr_dir, hdr_dir = base / PAIRED_LDR, base / PAIRED_HDR
    for folder in (ldr_dir, hdr_dir):
        if not folder.is_dir():
            raise FileNotFoundError(f"{folder} is missing: {PAIRED_LDR}/ and {PAIRED_HDR}/ come together ({LAYOUT_HINT})")
    ldr, hdr = _files_by_stem(ldr_dir, LDR_SUFFIXES), _files_by_stem(hdr_dir, HDR_SUFFIXES)
    only_ldr, only_hdr = sorted(set(ldr) - set(hdr)), sorted(set(hdr) - set(ldr))
    if only_ldr or only_hdr:
        raise ValueError(f"{base}: unpaired files; every {PAIRED_LDR}/<name> needs {PAIRED_HDR}/<name> with the same "
                         f"name stem. Only an LDR input: {only_ldr}; only an HDR ground truth: {only_hdr}")
    names = sorted(ldr)
    if not names:
        raise FileNotFoundError(f"no pairs found in {ldr_dir} and {hdr_dir} ({LAYOUT_HINT})")
    return names, [(ldr[name], hdr[name]) for name in names]


def _scene_folders(root: Path) -> tuple[list[str], list[tuple[Path, Path]]]:
    scenes = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    names, pairs, broken = [], [], []
    for scene in scenes:
        ldr, hdr = _find_one(scene, SCENE_INPUT, LDR_SUFFIXES), _find_one(scene, SCENE_GT, HDR_SUFFIXES)
        if ldr is None and hdr is None:
            continue  # an unrelated folder
        if ldr is None or hdr is None:
            broken.append(f"{scene.name} ({'no input.jpg' if ldr is None else 'no gt.hdr'})")
            continue
        names.append(scene.name)
        pairs.append((ldr, hdr))
    if broken:
        raise ValueError(f"{root}: unpaired files; every scene folder needs both input.jpg and gt.hdr: {broken}")
    if not pairs:
        raise FileNotFoundError(f"no scenes found in {root} ({LAYOUT_HINT})")
    return names, pairs


class HDREye(torch.utils.data.Dataset):
    """HDR-Eye (or HDR-Real: the same layouts) read from SingleHDR's packaging.

    Args:
        root: the unpacked folder (scene folders, or LDR_in/ + HDR_gt/, see the module docstring).
        crop_size: side of a square crop, the same window of LDR and HDR; random but fixed per (seed, index);
            None keeps the full image.
        normalize: min–max normalise the HDR to [0, 1] (MQNet's target scale); False keeps the file's radiance.
        seed: base seed of the crops; item k uses seed · 1,000,003 + k.
    Attributes:
        names: scene folder names or file stems, sorted.
    Yields:
        (ldr (3, H, W) in [0, 1], hdr (3, H, W)).
    """

    def __init__(self, root, crop_size: int | None = None, normalize: bool = True, seed: int = 0):
        if crop_size is not None and (not isinstance(crop_size, int) or crop_size < 1):
            raise ValueError(f"crop_size must be a positive int or None; got {crop_size!r}")
        self.root, self.crop_size, self.normalize, self.seed = Path(root), crop_size, normalize, seed
        self.names, self._pairs = find_pairs(self.root)

    def __len__(self) -> int:
        return len(self._pairs)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        if not -len(self) <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} images")
        index %= len(self)
        ldr_path, hdr_path = self._pairs[index]
        ldr, hdr = io.read_ldr(ldr_path), io.read_hdr(hdr_path)  # (H, W, 3) RGB float32 each
        if ldr.shape != hdr.shape:
            raise ValueError(f"{self.names[index]}: {ldr_path.name} is {ldr.shape[0]}x{ldr.shape[1]} but "
                             f"{hdr_path.name} is {hdr.shape[0]}x{hdr.shape[1]}; they must be the same size")
        ldr, hdr = io.to_tensor(ldr), io.to_tensor(hdr).clamp(min=0.0)
        if self.crop_size is not None:
            height, width = hdr.shape[-2:]
            if self.crop_size > min(height, width):
                raise ValueError(f"crop_size={self.crop_size} is larger than {self.names[index]!r} ({height}x{width})")
            generator = item_generator(self.seed, index)
            window = random_window(height, width, self.crop_size, generator)
            ldr, hdr = ldr[window], hdr[window]
        if self.normalize:
            low, high = hdr.min(), hdr.max()
            hdr = (hdr - low) / (high - low).clamp_min(1e-12)
        return ldr.contiguous(), hdr.contiguous()


HDRReal = HDREye  # the HDR-Real test zip has the same layout
