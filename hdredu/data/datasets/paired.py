"""Paired folders of input / target pictures (the layout hdredu uses for MIT-Adobe FiveK and any operator).

    <root>/train/input/NAME.png    <root>/train/target/NAME.png      (.png, .tif, .tiff, .jpg, .jpeg; 8 or 16 bit)
    <root>/test/input/NAME.png     <root>/test/target/NAME.png

FiveK itself ships RAW files and Lightroom catalogues; HDRNet's input is the "unprocessed" export and its
target an expert's retouch (reference/datasets.md §4). Export both as pictures with the same file name into
``input/`` and ``target/`` and this loader reads them. A name present on one side only is an error: silently
dropping it would change the test set.
"""

from __future__ import annotations

from pathlib import Path

import torch

from hdredu import io
from hdredu.utils import item_generator, random_window

SPLITS = ("train", "test")
SUFFIXES = (".png", ".tif", ".tiff", ".jpg", ".jpeg")
LAYOUT_HINT = "expected <root>/{train,test}/input/NAME.png and <root>/{train,test}/target/NAME.png (same names)"


class PairedFolders(torch.utils.data.Dataset):
    """(input, target) display images from ``<root>/<split>/input`` and ``<root>/<split>/target``.

    Args:
        root: the folder holding ``train/`` and ``test/``.
        split: "train" or "test".
        crop_size: side of a square random crop (the same window of both); None keeps the whole pictures.
        seed: crops of item k come from :func:`hdredu.utils.item_generator` (seed, k).
    Yields:
        (input (3, H, W), target (3, H, W)) float32 RGB in [0, 1].
    """

    def __init__(self, root, split: str = "train", crop_size: int | None = None, seed: int = 0):
        if split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}; got {split!r}")
        if crop_size is not None and (not isinstance(crop_size, int) or crop_size < 1):
            raise ValueError(f"crop_size must be a positive int or None; got {crop_size!r}")
        self.root, self.split, self.crop_size, self.seed = Path(root), split, crop_size, seed
        inputs, targets = (_pictures(self.root / split / side) for side in ("input", "target"))
        unpaired = sorted(set(inputs) ^ set(targets))
        if unpaired:
            where = ", ".join(f"{name} (only in {'input' if name in inputs else 'target'}/)" for name in unpaired[:5])
            raise ValueError(f"{self.root / split}: every picture needs a partner of the same name; unpaired: {where}"
                             + (f" and {len(unpaired) - 5} more" if len(unpaired) > 5 else ""))
        self.names = sorted(inputs)
        self.pairs = [(inputs[name], targets[name]) for name in self.names]

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        if not 0 <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} {self.split} pairs")
        input_path, target_path = self.pairs[index]
        picture, target = (io.to_tensor(io.read_ldr(path)) for path in (input_path, target_path))
        if picture.shape != target.shape:
            raise ValueError(f"{input_path} is {tuple(picture.shape[1:])} but {target_path} is "
                             f"{tuple(target.shape[1:])}: a pair must have the same size")
        if self.crop_size is not None:
            height, width = picture.shape[1:]
            if self.crop_size > min(height, width):
                raise ValueError(f"crop_size={self.crop_size} is larger than {input_path.name} ({height}x{width})")
            window = random_window(height, width, self.crop_size, item_generator(self.seed, index))
            picture, target = picture[window], target[window]
        return picture, target


def _pictures(folder: Path) -> dict[str, Path]:
    """{file stem: path} of the pictures in ``folder``; hidden files skipped, broken links refused."""
    if not folder.is_dir():
        raise FileNotFoundError(f"folder not found: {folder} ({LAYOUT_HINT})")
    found = {}
    for path in sorted(folder.iterdir()):
        if path.name.startswith(".") or path.suffix.lower() not in SUFFIXES:
            continue
        if not path.exists():
            raise FileNotFoundError(f"{path} is a broken link: restore the file it points to, or remove the link")
        if path.stem in found:
            raise ValueError(f"{folder}: two pictures named {path.stem!r} ({found[path.stem].name}, {path.name})")
        found[path.stem] = path
    if not found:
        raise FileNotFoundError(f"no pictures ({'/'.join(SUFFIXES)}) in {folder} ({LAYOUT_HINT})")
    return found
