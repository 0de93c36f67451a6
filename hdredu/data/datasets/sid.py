"""Loader for See-in-the-Dark (SID), Sony α7S II part: short-exposure RAW frames and their long-exposure references.

    <root>/Sony/short/00001_00_0.1s.ARW     short exposures: {scene:05d}_{burst:02d}_{seconds}s.ARW
    <root>/Sony/long/00001_00_10s.ARW       long exposures (10 s or 30 s), one per scene
    <root>/Sony_train_list.txt              one pair per line: short path, long path, ISO, F-number
    <root>/Sony_val_list.txt, Sony_test_list.txt      (also looked for in <root>/Sony/)

The scene id's first digit is the split (0 train, 1 test, 2 val). Each item is SID's training pair:

    input  = min(pack((short − black)⁺ / (white − black)) · ratio, 1)      (4, H/2, W/2), channels [R, G, B, G]
    target = rawpy.postprocess(long, use_camera_wb=True, half_size=False,
                               no_auto_bright=True, output_bps=16) / 65535  (3, H, W) sRGB-like, in [0, 1]
    ratio  = min(t_long / t_short, 300) from the file names                  100, 250 or 300 for Sony

The target already carries LibRaw's display gamma: it must not be gamma-encoded again (SID issue #23).
Black and white levels come from each file (rawpy ``black_level_per_channel``, ``white_level``; Sony: 512 and
16383), so other cameras' levels are handled. Packing follows the file's own 2×2 Bayer pattern (rawpy
``raw_pattern``): RGGB packs exactly as SID, other Bayer layouts (BGGR, GRBG, GBRG) pack to the same
[R, G, B, G] channel order; non-Bayer sensors (Fuji X-Trans) are refused.
Nothing is downloaded. Full frames are large (4256×2848, packed 2128×1424): use ``crop_size`` for training.
Paper: C. Chen, Q. Chen, J. Xu, V. Koltun, "Learning to See in the Dark", CVPR 2018.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from hdredu.imaging.raw import BAYER_PATTERNS, Camera, bayer_positions, dng_pattern, sid_input
from hdredu.utils import item_generator, random_window

SPLITS = ("train", "val", "test")
SPLIT_DIGITS = {"0": "train", "1": "test", "2": "val"}  # first digit of the scene id
MAX_RATIO = 300.0
MISALIGNED_SCENES = (10034, 10045, 10172)  # test scenes SID leaves out of its scores
NAME_PATTERN = re.compile(r"^(?P<scene>\d{5})_(?P<burst>\d{2})_(?P<seconds>\d+(?:\.\d+)?)s\.[A-Za-z0-9]+$")
# LibRaw settings of SID's ground truth (train_Sony.py / test_Sony.py).
POSTPROCESS = dict(use_camera_wb=True, half_size=False, no_auto_bright=True, output_bps=16)
LAYOUT_HINT = ("expected the SID Sony layout: <root>/Sony/short/*.ARW, <root>/Sony/long/*.ARW and "
               "<root>/Sony_<split>_list.txt (lines: short path, long path, ISO, F-number)")


@dataclass(frozen=True)
class SIDPair:
    """One line of a list file: the two frames, the scene, the burst index and the amplification ratio."""

    short: Path
    long: Path
    scene: int
    burst: int
    short_exposure: float
    long_exposure: float

    @property
    def ratio(self) -> float:
        """min(t_long / t_short, 300)."""
        return min(self.long_exposure / self.short_exposure, MAX_RATIO)


@dataclass(frozen=True)
class RawFrame:
    """A RAW mosaic with its levels, read by rawpy.

    Attributes:
        counts: (H, W) float32 sensor values (``raw_image_visible``).
        black_level: (4,) black level of each packed channel [R, G, B, G].
        white_level: saturation value.
        pattern: the 2×2 Bayer pattern, row-major from the top-left pixel, e.g. "RGGB".
        camera: white-balance gains and colour matrix from the file (for :func:`hdredu.imaging.raw.process`).
    """

    counts: torch.Tensor
    black_level: torch.Tensor
    white_level: float
    pattern: str
    camera: Camera


def parse_exposure(path) -> tuple[int, int, float]:
    """(scene, burst, seconds) from a SID file name, e.g. ``00001_00_0.04s.ARW`` → (1, 0, 0.04).

    Raises:
        ValueError: the name does not follow ``{scene:05d}_{burst:02d}_{seconds}s.{ext}``.
    """
    match = NAME_PATTERN.match(Path(path).name)
    if match is None or float(match["seconds"]) <= 0:
        raise ValueError(f"{path}: not a SID file name; expected e.g. 00001_00_0.04s.ARW "
                         f"(5-digit scene, 2-digit burst, exposure in seconds)")
    return int(match["scene"]), int(match["burst"]), float(match["seconds"])


def find_list_file(root, split: str) -> Path:
    """``<root>/Sony_<split>_list.txt``, or the same name inside ``<root>/Sony/``."""
    root = Path(root)
    candidates = [root / f"Sony_{split}_list.txt", root / "Sony" / f"Sony_{split}_list.txt"]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(f"no {split} list: neither {candidates[0]} nor {candidates[1]} exists ({LAYOUT_HINT})")


def read_list_file(path, root) -> list[SIDPair]:
    """The pairs of a list file, paths resolved against ``root``; every named file must exist.

    Raises:
        ValueError: a line has fewer than 2 fields, or a file name is not SID-style (the line is named).
        FileNotFoundError: a listed file does not exist (the list file, its line and the missing path are named).
    """
    path, root = Path(path), Path(root)
    pairs = []
    for line_number, line in enumerate(path.read_text().splitlines(), start=1):
        fields = line.split()
        if not fields:
            continue
        if len(fields) < 2:
            raise ValueError(f"{path}, line {line_number}: expected 'short_path long_path [ISO F-number]'; got {line!r}")
        short, long = root / fields[0], root / fields[1]
        for frame in (short, long):
            if not frame.is_file():
                raise FileNotFoundError(f"{path}, line {line_number}: the listed file {frame} does not exist")
        try:
            scene, burst, short_exposure = parse_exposure(short)
            _, _, long_exposure = parse_exposure(long)
        except ValueError as error:
            raise ValueError(f"{path}, line {line_number}: {error}") from None
        pairs.append(SIDPair(short, long, scene, burst, short_exposure, long_exposure))
    if not pairs:
        raise ValueError(f"{path} lists no pairs ({LAYOUT_HINT})")
    return pairs


def _open(path):
    """rawpy.imread with a message that names the file."""
    import rawpy

    try:
        return rawpy.imread(str(path))
    except (rawpy.LibRawError, OSError) as error:
        raise ValueError(f"{path}: rawpy cannot read this RAW file ({error!s})") from None


def read_raw(path) -> RawFrame:
    """Read the mosaic of a RAW file with its own levels and CFA.

    Raises:
        ValueError (naming the file): rawpy cannot read it; its CFA is not a 2×2 Bayer pattern; H or W is odd.
    """
    with _open(path) as raw:
        pattern = dng_pattern(raw)
        if pattern not in BAYER_PATTERNS:
            raise ValueError(f"{path}: colour filter array {pattern!r} is not a 2x2 Bayer pattern "
                             f"({'/'.join(BAYER_PATTERNS)}); SID packing needs one (X-Trans needs Fuji's 6x6 packing)")
        counts = torch.from_numpy(raw.raw_image_visible.astype(np.float32))
        colours = np.asarray(raw.raw_pattern)
        per_colour = list(raw.black_level_per_channel)
        black = torch.tensor([float(per_colour[colours[dy, dx]]) for dy, dx in bayer_positions(pattern)])
        white = float(raw.white_level)
        gains = np.asarray(raw.camera_whitebalance[:3], dtype=np.float64)
        cam_to_rgb = np.asarray(raw.color_matrix, dtype=np.float64)[:, :3]
    if counts.shape[0] % 2 or counts.shape[1] % 2:
        raise ValueError(f"{path}: the visible mosaic is {counts.shape[0]}x{counts.shape[1]}; SID packing needs "
                         "an even height and width")
    if not torch.all(black < white):
        raise ValueError(f"{path}: black levels {black.tolist()} are not below the white level {white}")
    if gains[1] > 0 and np.all(gains > 0) and np.linalg.det(cam_to_rgb) != 0:
        camera = Camera(torch.from_numpy(np.linalg.inv(cam_to_rgb)), torch.from_numpy(gains / gains[1]),
                        float(black.mean()), white)
    else:  # the file carries no usable colour data: fall back to the simulator's camera, with the file's levels
        default = Camera.default()
        camera = Camera(default.rgb_to_cam, default.wb_gains, float(black.mean()), white)
    return RawFrame(counts, black, white, pattern, camera)


def read_target(path) -> torch.Tensor:
    """SID's ground truth: LibRaw's own rendering of the long exposure, (3, H, W) float32 in [0, 1]."""
    with _open(path) as raw:
        rgb = raw.postprocess(**POSTPROCESS)  # (H, W, 3) uint16, camera WB, LibRaw's display gamma included
    return torch.from_numpy(rgb.astype(np.float32) / 65535.0).permute(2, 0, 1).contiguous()


class SID(torch.utils.data.Dataset):
    """The See-in-the-Dark Sony pairs read from the dataset's own layout and list files.

    The list file and the existence of every listed file are checked when the dataset is made; RAW files are
    decoded when an item is loaded (errors then name the file).

    Args:
        root: the folder holding ``Sony/`` and the ``Sony_<split>_list.txt`` files.
        split: "train", "val" or "test".
        crop_size: c, the side of a random square crop of the target (even); the packed input is cropped over
            the same pixels, c/2 × c/2 (SID trains on c = 1024, i.e. 512 packed). As in
            :class:`hdredu.data.lowlight.LowLightPairs`. None keeps the full frame. The crop depends only on
            (``seed``, index): item k draws from ``hdredu.utils.item_generator(seed, k)``.
        seed: base seed of the crops.
        first_burst_only: keep only ``_00`` short frames (what SID trains on).
        exclude_misaligned: drop scenes 10034, 10045, 10172 (SID excludes them from its test scores).
    Attributes:
        pairs: the :class:`SIDPair` of every item.
    Yields:
        (inputs (4, H/2, W/2) float32 in [0, 1], target (3, H, W) float32 in [0, 1]); with ``crop_size`` c:
        (4, c/2, c/2) and (3, c, c).
    """

    def __init__(self, root, split: str = "train", crop_size: int | None = None, seed: int = 0, *,
                 first_burst_only: bool = False, exclude_misaligned: bool = True):
        if split not in SPLITS:
            raise ValueError(f"split must be one of {list(SPLITS)}; got {split!r}")
        if crop_size is not None and (not isinstance(crop_size, int) or crop_size < 2 or crop_size % 2):
            raise ValueError(f"crop_size must be an even positive int (the target's side; the packed input gets "
                             f"half) or None; got {crop_size!r}")
        self.root, self.split, self.crop_size, self.seed = Path(root), split, crop_size, seed
        if not self.root.is_dir():
            raise FileNotFoundError(f"SID root folder not found: {self.root} ({LAYOUT_HINT})")
        self.list_file = find_list_file(self.root, split)
        pairs = read_list_file(self.list_file, self.root)
        if first_burst_only:
            pairs = [pair for pair in pairs if pair.burst == 0]
        if exclude_misaligned:
            pairs = [pair for pair in pairs if pair.scene not in MISALIGNED_SCENES]
        if not pairs:
            raise ValueError(f"{self.list_file}: no pairs left after the burst / scene filters")
        self.pairs = pairs

    def __len__(self) -> int:
        return len(self.pairs)

    def ratio(self, index: int) -> float:
        """The amplification ratio of item ``index``: min(t_long / t_short, 300)."""
        return self.pairs[self._check_index(index)].ratio

    def raw(self, index: int) -> RawFrame:
        """The short exposure of item ``index`` as read from disk (counts, levels, pattern, camera)."""
        return read_raw(self.pairs[self._check_index(index)].short)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        index = self._check_index(index)
        pair = self.pairs[index]
        frame = read_raw(pair.short)
        target = read_target(pair.long)  # (3, H, W)
        if tuple(target.shape[1:]) != tuple(frame.counts.shape):
            raise ValueError(f"{pair.short} is {frame.counts.shape[0]}x{frame.counts.shape[1]} but its reference "
                             f"{pair.long} renders to {target.shape[1]}x{target.shape[2]}: a pair must have one size")
        # SID's input: per-channel black, white, ×ratio, clip ≤ 1:  (H, W) → (4, H/2, W/2)
        inputs = sid_input(frame.counts, pair.ratio, frame.black_level, frame.white_level, frame.pattern)
        if self.crop_size is not None:
            inputs, target = self._random_crop(inputs, target, index)
        return inputs, target

    def _check_index(self, index: int) -> int:
        if not -len(self) <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} {self.split} pairs")
        return index % len(self)

    def _random_crop(self, inputs: torch.Tensor, target: torch.Tensor, index: int):
        """The target's c×c window and the packed c/2 × c/2 window over the same pixels, by (seed, index)."""
        height, width = inputs.shape[-2:]
        size = self.crop_size // 2  # packed pixels
        if size > min(height, width):
            raise ValueError(f"crop_size={self.crop_size} is larger than {self.pairs[index].short.name} "
                             f"({2 * height}x{2 * width})")
        _, rows, cols = random_window(height, width, size, item_generator(self.seed, index))
        target_window = (..., slice(2 * rows.start, 2 * rows.stop), slice(2 * cols.start, 2 * cols.stop))
        return inputs[..., rows, cols], target[target_window]
