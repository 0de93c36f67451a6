"""Tests for hdredu.data.datasets.Kalantari on a tiny fake copy of the SIGGRAPH'17 layout (datasets.md §6).

The fake is written here with OpenCV directly (BGR at the boundary), independently of hdredu.io's writers.
"""

from __future__ import annotations

import re
import shutil

import cv2
import numpy as np
import pytest
import torch

from hdredu import io
from hdredu.data import samples
from hdredu.data.datasets import Kalantari

HEIGHT, WIDTH = 64, 96
STOPS = (0.0, 2.0, 4.0)
RED = (slice(4, 12), slice(6, 18))  # rows, columns of a pure-red patch in every image


def _write_scene(folder, rng):
    """One fake scene: 3 uint16 RGB TIFFs, exposure.txt = 0 2 4, HDRImg.hdr in [0, 1]; returns the RGB arrays."""
    folder.mkdir(parents=True)
    ldrs = []
    for name in ("262A0898.tif", "262A0899.tif", "262A0900.tif"):  # sorted = short → long
        rgb = rng.integers(0, 65536, size=(HEIGHT, WIDTH, 3), dtype=np.uint16)
        rgb[RED] = (50000, 0, 0)
        assert cv2.imwrite(str(folder / name), rgb[..., ::-1].copy())  # cv2 wants BGR
        ldrs.append(rgb)
    (folder / "exposure.txt").write_text("".join(f"{ev:.6f}\n" for ev in STOPS))
    hdr = rng.uniform(0.01, 1.0, size=(HEIGHT, WIDTH, 3)).astype(np.float32)
    hdr[RED] = (0.9, 0.0, 0.0)
    assert cv2.imwrite(str(folder / "HDRImg.hdr"), hdr[..., ::-1].copy())
    return np.stack(ldrs), hdr


@pytest.fixture
def fake_root(tmp_path):
    """<tmp>/Training/001, 002 (+ README.txt), <tmp>/Test/EXTRA/001; returns (root, {scene: (ldr, hdr)})."""
    rng = np.random.default_rng(0)
    written = {
        "train/001": _write_scene(tmp_path / "Training" / "001", rng),
        "train/002": _write_scene(tmp_path / "Training" / "002", rng),
        "test/EXTRA/001": _write_scene(tmp_path / "Test" / "EXTRA" / "001", rng),
    }
    (tmp_path / "Training" / "README.txt").write_text("Kalantari & Ramamoorthi 2017 training scenes\n")
    return tmp_path, written


# ---------------------------------------------------------------------------------------------------------
# Layout, shapes, values.
# ---------------------------------------------------------------------------------------------------------


def test_scenes_found_and_readme_skipped(fake_root):
    root, _ = fake_root
    train, test = Kalantari(root, "train"), Kalantari(root, "test")
    assert train.scene_names == ["001", "002"]  # README.txt is not a scene
    assert test.scene_names == ["EXTRA/001"]
    assert len(train) == 2 and len(test) == 1
    assert [p.name for p in train.scene_dirs] == ["001", "002"]


def test_item_shapes_and_dtype(fake_root):
    root, _ = fake_root
    inputs, target = Kalantari(root, "train")[1]
    assert inputs.shape == (3, 6, HEIGHT, WIDTH) and target.shape == (3, HEIGHT, WIDTH)
    assert inputs.dtype == torch.float32 and target.dtype == torch.float32


def test_exposure_times_are_powers_of_two(fake_root):
    root, _ = fake_root
    times = Kalantari(root, "test").exposure_times(0)
    torch.testing.assert_close(times, torch.tensor([1.0, 4.0, 16.0]))


@pytest.mark.parametrize("split, scene", [("train", "001"), ("train", "002"), ("test", "EXTRA/001")])
def test_inputs_are_ldr_and_ldr_gamma_over_t(fake_root, split, scene):
    root, written = fake_root
    dataset = Kalantari(root, split)
    inputs, _ = dataset[dataset.scene_names.index(scene)]
    ldr_rgb, _ = written[f"{split}/{scene}"]  # (3, H, W, 3) uint16
    ldr = torch.from_numpy(ldr_rgb.astype(np.float64) / 65535.0).permute(0, 3, 1, 2)  # (3, 3, H, W)
    times = torch.tensor([2.0**ev for ev in STOPS], dtype=torch.float64).view(3, 1, 1, 1)
    torch.testing.assert_close(inputs[:, :3].double(), ldr, rtol=0, atol=1e-6)
    torch.testing.assert_close(inputs[:, 3:].double(), ldr**2.2 / times, rtol=1e-5, atol=1e-7)


def test_label_range_preserved(fake_root):
    root, written = fake_root
    _, target = Kalantari(root, "train")[0]
    _, hdr = written["train/001"]
    expected = torch.from_numpy(hdr).permute(2, 0, 1)
    # RGBE shares one exponent per pixel: compare relative to each pixel's largest channel (≈1 %).
    scale = expected.amax(dim=0, keepdim=True)
    assert ((target - expected).abs() / scale).max() < 0.01
    assert float(target.min()) >= 0.0 and float(target.max()) <= 1.0 + 0.01
    assert float(target.max()) > 0.95  # the range is not squashed either


def test_rgb_order_same_for_inputs_and_label(fake_root):
    root, _ = fake_root
    inputs, target = Kalantari(root, "test")[0]
    for block in (inputs[:, :3], inputs[:, 3:]):  # LDR half and linear half, every frame
        red_patch = block[(slice(None), slice(None)) + RED]  # (3 frames, 3 channels, h, w)
        assert (red_patch[:, 0] > 0.01).all()
        assert (red_patch[:, 1:] == 0).all()
    assert (target[(0,) + RED] > 0.85).all()
    assert (target[(slice(1, 3),) + RED] == 0).all()


# ---------------------------------------------------------------------------------------------------------
# Crops.
# ---------------------------------------------------------------------------------------------------------


def _find_window(full: torch.Tensor, crop: torch.Tensor) -> list[tuple[int, int]]:
    size = crop.shape[-1]
    return [(top, left)
            for top in range(full.shape[-2] - size + 1)
            for left in range(full.shape[-1] - size + 1)
            if torch.equal(full[..., top : top + size, left : left + size], crop)]


def test_crop_is_a_window_of_the_full_item_and_repeats(fake_root):
    root, _ = fake_root
    full_inputs, full_target = Kalantari(root, "train")[1]
    cropped = Kalantari(root, "train", crop_size=16, seed=5)
    inputs, target = cropped[1]
    assert inputs.shape == (3, 6, 16, 16) and target.shape == (3, 16, 16)
    windows = _find_window(full_target, target)
    assert len(windows) == 1
    top, left = windows[0]
    torch.testing.assert_close(inputs, full_inputs[..., top : top + 16, left : left + 16])  # same window
    again_inputs, again_target = Kalantari(root, "train", crop_size=16, seed=5)[1]
    assert torch.equal(again_inputs, inputs) and torch.equal(again_target, target)


def test_crop_depends_on_seed_and_index(fake_root):
    root, _ = fake_root
    full_target = Kalantari(root, "train")[0][1]
    positions = {_find_window(full_target, Kalantari(root, "train", crop_size=16, seed=s)[0][1])[0] for s in range(4)}
    assert len(positions) > 1
    a, b = Kalantari(root, "train", crop_size=16, seed=0), Kalantari(root, "train", crop_size=16, seed=0)
    assert torch.equal(a[0][1], b[0][1])


def test_crop_larger_than_scene(fake_root):
    root, _ = fake_root
    with pytest.raises(ValueError, match=r"crop_size=65 is larger than scene '001' \(64x96\)"):
        Kalantari(root, "train", crop_size=65)[0]


# ---------------------------------------------------------------------------------------------------------
# Bad input: every error names the file or folder and what is expected.
# ---------------------------------------------------------------------------------------------------------


def test_bad_arguments(fake_root):
    root, _ = fake_root
    with pytest.raises(ValueError, match="split must be one of"):
        Kalantari(root, "val")
    with pytest.raises(ValueError, match="crop_size must be a positive int"):
        Kalantari(root, "train", crop_size=0)
    with pytest.raises(ValueError, match="gamma must be positive"):
        Kalantari(root, "train", gamma=0.0)
    with pytest.raises(IndexError, match="out of range for 2 train scenes"):
        Kalantari(root, "train")[2]


def test_root_missing(tmp_path):
    missing = tmp_path / "SIG17"
    with pytest.raises(FileNotFoundError, match=re.escape(f"root folder not found: {missing}")):
        Kalantari(missing, "train")


def test_split_folder_missing(fake_root):
    root, _ = fake_root
    shutil.rmtree(root / "Test")
    with pytest.raises(FileNotFoundError, match=re.escape(f"the folder {root / 'Test'} does not exist")):
        Kalantari(root, "test")


def test_split_folder_without_scenes(tmp_path):
    (tmp_path / "Training").mkdir()
    (tmp_path / "Training" / "README.txt").write_text("nothing here\n")
    with pytest.raises(FileNotFoundError, match=re.escape(f"no train scenes found in {tmp_path / 'Training'}")):
        Kalantari(tmp_path, "train")


@pytest.mark.parametrize("text, message", [
    ("0\n2\n", r"exposure.txt: expected 3 exposure values .* found 2"),
    ("0\n2\n4\n6\n", r"exposure.txt: expected 3 exposure values .* found 4"),
    ("0\ntwo\n4\n", r"exposure.txt, line 2: expected a finite number .* got 'two'"),
    ("0\n2\nnan\n", r"exposure.txt, line 3: expected a finite number .* got 'nan'"),
    ("4\n2\n0\n", r"exposure.txt: EV stops must increase short → long"),
])
def test_bad_exposure_file(fake_root, text, message):
    root, _ = fake_root
    (root / "Training" / "002" / "exposure.txt").write_text(text)
    with pytest.raises(ValueError, match=message) as info:
        Kalantari(root, "train")
    assert "002" in str(info.value)  # the scene's file is named


@pytest.mark.parametrize("name, message", [
    ("exposure.txt", r"001/exposure.txt is missing: every scene needs exposure.txt with 3 EV stops"),
    ("HDRImg.hdr", r"001/HDRImg.hdr is missing: every scene needs its ground truth HDRImg.hdr"),
])
def test_missing_scene_file(fake_root, name, message):
    root, _ = fake_root
    (root / "Training" / "001" / name).unlink()
    with pytest.raises(FileNotFoundError, match=message):
        Kalantari(root, "train")


def test_wrong_number_of_frames(fake_root):
    root, _ = fake_root
    (root / "Test" / "EXTRA" / "001" / "262A0900.tif").unlink()
    with pytest.raises(ValueError, match=r"EXTRA/001: expected 3 LDR frames .* found 2: \['262A0898.tif', '262A0899.tif'\]"):
        Kalantari(root, "test")


def test_mismatched_frame_sizes(fake_root):
    root, _ = fake_root
    smaller = np.zeros((HEIGHT, WIDTH - 6, 3), dtype=np.uint16)
    assert cv2.imwrite(str(root / "Training" / "002" / "262A0899.tif"), smaller)
    dataset = Kalantari(root, "train")  # sizes are checked when the images are read
    with pytest.raises(ValueError, match=r"002: the LDR frames and HDRImg.hdr must have the same height x width; "
                                         r"got 262A0898.tif 64x96, 262A0899.tif 64x90, 262A0900.tif 64x96, "
                                         r"HDRImg.hdr 64x96"):
        dataset[1]
    dataset[0]  # the other scene still loads


def test_corrupt_hdr_names_the_file(fake_root):
    root, _ = fake_root
    (root / "Training" / "001" / "HDRImg.hdr").write_bytes(b"\x00garbage" * 50)
    with pytest.raises(io.ImageReadError, match=r"001/HDRImg.hdr: not a readable Radiance"):
        Kalantari(root, "train")[0]


def test_non_finite_hdr_names_the_file(fake_root, monkeypatch):
    # RGBE cannot store NaN, so the decoder is made to return one, as a broken file or another writer could.
    root, _ = fake_root
    real_imread = cv2.imread

    def imread_with_nan(path, flags=cv2.IMREAD_COLOR):
        image = real_imread(path, flags)
        if str(path).endswith(".hdr"):
            image[0, 0, 0] = np.nan
        return image

    monkeypatch.setattr(io.cv2, "imread", imread_with_nan)
    with pytest.raises(io.ImageReadError, match=r"EXTRA/001/HDRImg.hdr: 1 pixel values are NaN or Inf"):
        Kalantari(root, "test")[0]


# ---------------------------------------------------------------------------------------------------------
# The bundled simulated sets in data_samples/brackets use the same layout (8-bit PNG frames).
# ---------------------------------------------------------------------------------------------------------


def test_bundled_bracket_sets_load():
    train, test = Kalantari(samples.BRACKETS_DIR, "train"), Kalantari(samples.BRACKETS_DIR, "test")
    assert train.scene_names == ["forest_motion"]
    assert test.scene_names == ["EXTRA/courtyard_motion", "EXTRA/courtyard_static", "EXTRA/sunset_motion_3stops"]
    for dataset in (train, test):
        for index in range(len(dataset)):
            inputs, target = dataset[index]
            assert inputs.shape == (3, 6, 256, 384) and target.shape == (3, 256, 384)
            assert torch.isfinite(inputs).all() and torch.isfinite(target).all()
            assert 0.0 <= float(target.min()) and float(target.max()) <= 1.01
            stops = 3.0 if dataset.scene_names[index].endswith("_3stops") else 2.0  # Kalantari's two spacings
            torch.testing.assert_close(dataset.exposure_times(index), torch.tensor([1.0, 2**stops, 4**stops]))


def test_bundled_static_set_reference_matches_label():
    # courtyard_static was shot on a tripod: the linearised reference frame equals the label where it is not
    # clipped, up to 8-bit quantisation, sensor noise and RGBE rounding. This ties inputs, times and label.
    test = Kalantari(samples.BRACKETS_DIR, "test")
    inputs, target = test[test.scene_names.index("EXTRA/courtyard_static")]
    reference_ldr, reference_linear = inputs[1, :3], inputs[1, 3:]
    unclipped = (reference_ldr < 0.95).all(dim=0) & (reference_ldr > 0.1).all(dim=0)
    assert unclipped.float().mean() > 0.5
    error = (reference_linear - target).abs()[:, unclipped]
    assert float(error.mean()) < 0.05 * float(target[:, unclipped].mean())  # measured ≈ 0.018 × mean


# ---------------------------------------------------------------------------------------------------------
# Scene discovery: by the frames, so nothing is dropped or counted twice in silence.
# ---------------------------------------------------------------------------------------------------------


def test_test_scene_without_exposure_file_is_reported_not_dropped(fake_root):
    root, _ = fake_root
    (root / "Test" / "EXTRA" / "001" / "exposure.txt").unlink()
    with pytest.raises(FileNotFoundError, match=re.escape(str(root / "Test" / "EXTRA" / "001" / "exposure.txt"))):
        Kalantari(root, "test")


def test_nested_copy_of_a_scene_is_refused(fake_root):
    root, _ = fake_root
    scene = root / "Test" / "EXTRA" / "001"
    shutil.copytree(scene, scene / "backup")
    with pytest.raises(ValueError, match="holds another scene folder.*backup: a nested copy would be read twice"):
        Kalantari(root, "test")


def test_broken_symlink_frame_names_the_link(fake_root):
    root, _ = fake_root
    scene = root / "Training" / "002"
    frame = sorted(scene.glob("*.tif"))[0]
    frame.unlink()
    frame.symlink_to(root / "elsewhere" / frame.name)
    with pytest.raises(FileNotFoundError, match=f"{re.escape(str(frame))} is a broken link"):
        Kalantari(root, "train")
