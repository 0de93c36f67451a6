"""The bundled sample data in ``data_samples/``: crops of six CC0 HDRIs and a few simulated bracket sets.

    data_samples/
        city.exr courtyard.exr forest.exr interior.exr studio.exr sunset.exr   256×384 half-float crops
        LICENSE-hdri.txt                                                      CC0, Greg Zaal (Poly Haven)
        brackets/<split>/<set>/   ldr_0.png ldr_1.png ldr_2.png exposure.txt HDRImg.hdr  (Kalantari layout;
                                  EV 0/2/4 and, in sunset_motion_3stops, EV 0/3/6 as in Kalantari's data)
        MANIFEST.tsv                                                          file, sha256, bytes, source, licence

Every file is checked against its sha256 in the manifest when first loaded. Nothing is ever downloaded;
``tools/make_data_samples.py`` rebuilds the folder from the source HDRIs.
Introduced in notebooks/00_hdr_basics.ipynb, section *A real scene*.
"""

from __future__ import annotations

import csv
import functools
import hashlib
import os
from pathlib import Path
from typing import NamedTuple

import torch

from hdredu import io
from hdredu.utils import check_shape

SAMPLES_DIR = Path(os.environ.get("HDREDU_DATA_SAMPLES", Path(__file__).resolve().parents[2] / "data_samples"))
SCENES = ("city", "courtyard", "forest", "interior", "studio", "sunset")
TRAIN_SCENES = ("city", "forest", "interior", "studio")
TEST_SCENES = ("courtyard", "sunset")  # held out from training in the notebooks
BRACKETS_DIR = SAMPLES_DIR / "brackets"


class BracketSet(NamedTuple):
    """One pre-simulated bracket set in ``data_samples/brackets``, Kalantari layout."""

    split: str  # folder under brackets/: "Training" or "Test/EXTRA"
    name: str  # the set's folder
    scene: str  # the bundled scene it was simulated from
    motion: bool  # moving object and camera jitter, or a tripod shot
    seed: int  # simulate_brackets seed
    exposure_stops: tuple[float, ...] = (0.0, 2.0, 4.0)  # EV per frame, written to exposure.txt


BRACKET_SETS = (
    BracketSet("Training", "forest_motion", "forest", True, 1),
    BracketSet("Test/EXTRA", "courtyard_static", "courtyard", False, 2),
    BracketSet("Test/EXTRA", "courtyard_motion", "courtyard", True, 2),
    BracketSet("Test/EXTRA", "sunset_motion_3stops", "sunset", True, 3, (0.0, 3.0, 6.0)),
)
SOURCE = "Blender studio lights (Poly Haven, Greg Zaal), crop"
LICENCE = "CC0-1.0"


def list_samples() -> list[str]:
    """Names accepted by :func:`load_sample`."""
    return list(SCENES)


def load_sample(name: str) -> torch.Tensor:
    """Load a bundled HDR scene as (3, H, W) float32 linear relative radiance (hash-checked)."""
    if name not in SCENES:
        raise ValueError(f"unknown sample {name!r}; choose one of {list(SCENES)}")
    path = verify(f"{name}.exr")
    return io.to_tensor(io.read_hdr(path))


def scene_pool(scenes, crop_size: int, min_crop: int = 1) -> list[torch.Tensor]:
    """The scenes a dataset crops from: ``scenes`` (names or (3, H, W) radiance tensors), or the bundled
    training scenes when None; checked to be non-empty, (3, H, W), and at least ``crop_size`` on every side.

    Raises:
        ValueError: naming the argument (an empty list, a wrong shape, or ``crop_size`` outside
            [min_crop, the smallest scene side]).
    """
    scenes = [load_sample(name) for name in TRAIN_SCENES] if scenes is None else list(scenes)
    scenes = [load_sample(scene) if isinstance(scene, str) else scene for scene in scenes]
    if not scenes:
        raise ValueError("scenes must hold at least one scene name or (3, H, W) radiance tensor; got an empty list")
    for index, scene in enumerate(scenes):
        check_shape(scene, "3 H W", f"scenes[{index}]")
    smallest = min(min(scene.shape[1:]) for scene in scenes)
    if not min_crop <= crop_size <= smallest:
        raise ValueError(f"crop_size must be in [{min_crop}, {smallest}] (the smallest scene side); got {crop_size}")
    return scenes


def sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


@functools.cache
def manifest() -> dict[str, str]:
    """{relative file name: sha256} from ``data_samples/MANIFEST.tsv``."""
    path = SAMPLES_DIR / "MANIFEST.tsv"
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: data_samples/ is incomplete (rebuild with tools/make_data_samples.py)")
    with path.open(newline="") as handle:
        return {row["file"]: row["sha256"] for row in csv.DictReader(handle, delimiter="\t")}


@functools.cache
def verify(relative_name: str) -> Path:
    """Return the path of a bundled file after checking its sha256 against the manifest."""
    path = SAMPLES_DIR / relative_name
    expected = manifest().get(relative_name)
    if expected is None:
        raise ValueError(f"{relative_name} is not listed in {SAMPLES_DIR / 'MANIFEST.tsv'}")
    if not path.is_file():
        raise FileNotFoundError(f"bundled sample missing: {path} (restore it from git)")
    if sha256(path) != expected:
        raise ValueError(f"{path}: sha256 does not match MANIFEST.tsv; the file was modified or corrupted "
                         "(restore it with `git checkout -- data_samples`)")
    return path


def write_manifest() -> None:
    """Write MANIFEST.tsv for every file under data_samples/ (except the manifest itself)."""
    rows = []
    for path in sorted(SAMPLES_DIR.rglob("*")):
        if path.is_file() and path.name != "MANIFEST.tsv":
            name = path.relative_to(SAMPLES_DIR).as_posix()
            source = "simulated by hdredu.data.synthetic from " + SOURCE if name.startswith("brackets/") else SOURCE
            rows.append((name, sha256(path), path.stat().st_size, source, LICENCE))
    with (SAMPLES_DIR / "MANIFEST.tsv").open("w", newline="") as handle:
        writer = csv.writer(handle, delimiter="\t", lineterminator="\n")
        writer.writerow(("file", "sha256", "bytes", "source", "licence"))
        writer.writerows(rows)
