"""Tests for hdredu.data.datasets.ntire on a tiny fake copy of the NTIRE 2021 track-2 layout (datasets.md §6).

The fake is written here with OpenCV and numpy directly (BGR at the boundary), independently of hdredu.io.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from hdredu.data.datasets.ntire import (
    NTIRE2021,
    exposure_align,
    read_alignratio,
    read_exposures,
)
from hdredu.imaging.camera import ldr_to_linear

HEIGHT, WIDTH = 24, 40
EXPOSURES = np.array([-3, -1, 1])  # int64, as in the real files
RED = (slice(2, 6), slice(3, 9))  # a pure-red patch in every image


def _write_scene(folder, scene_id, rng):
    """One fake scene; returns (ldr (3, H, W, 3) uint8 RGB, hdr (H, W, 3) float64 RGB, alignratio)."""
    ldrs = []
    for name in ("short", "medium", "long"):
        rgb = rng.integers(0, 256, size=(HEIGHT, WIDTH, 3), dtype=np.uint8)
        rgb[RED] = (200, 0, 0)
        assert cv2.imwrite(str(folder / f"{scene_id}_{name}.png"), rgb[..., ::-1].copy())
        ldrs.append(rgb)
    hdr = rng.uniform(0.0, 6.0, size=(HEIGHT, WIDTH, 3))  # gamma-encoded HDR, above 1 in places
    hdr[RED] = (5.0, 0.0, 0.0)
    alignratio = 65535.0 / hdr.max()
    gt = np.round(hdr * alignratio).astype(np.uint16)
    assert cv2.imwrite(str(folder / f"{scene_id}_gt.png"), gt[..., ::-1].copy())
    np.save(folder / f"{scene_id}_alignratio.npy", np.float64(alignratio))
    np.save(folder / f"{scene_id}_exposures.npy", EXPOSURES)
    return np.stack(ldrs), hdr, alignratio


@pytest.fixture
def fake_root(tmp_path):
    """<tmp>/train/0000..0002_*; returns (root, {id: (ldr, hdr, alignratio)})."""
    folder = tmp_path / "train"
    folder.mkdir()
    rng = np.random.default_rng(0)
    return tmp_path, {f"{i:04d}": _write_scene(folder, f"{i:04d}", rng) for i in range(3)}


def test_scenes_shapes_and_decoding(fake_root):
    root, written = fake_root
    data = NTIRE2021(root, "train")
    assert len(data) == 3 and data.ids == ["0000", "0001", "0002"]
    inputs, target = data[1]
    ldr, hdr, alignratio = written["0001"]
    assert inputs.shape == (3, 6, HEIGHT, WIDTH) and target.shape == (3, HEIGHT, WIDTH)
    assert inputs.dtype == target.dtype == torch.float32
    # LDR halves: uint8 / 255, RGB order
    torch.testing.assert_close(inputs[:, :3], torch.from_numpy(ldr).permute(0, 3, 1, 2).float() / 255)
    # ground truth: uint16 / alignratio, within one quantisation step 1 / alignratio
    error = (target.double() - torch.from_numpy(hdr).permute(2, 0, 1)).abs().max()
    assert error <= 0.5 / alignratio + 1e-6
    assert target.max() > 1  # gamma-encoded HDR, not clipped
    # colour order: the red patch is red in inputs and target alike
    assert torch.all(inputs[:, 0][(slice(None), *RED)] > 0.7) and torch.all(inputs[:, 1:3][(slice(None), slice(None), *RED)] == 0)
    assert torch.all(target[0][RED] > 4.9) and torch.all(target[1:][(slice(None), *RED)] == 0)


def test_exposure_alignment(fake_root):
    root, _ = fake_root
    data = NTIRE2021(root, "train")
    torch.testing.assert_close(data.stops(0), torch.tensor([-2.0, 0.0, 2.0]))
    inputs, _ = data[0]
    ldr, eva = inputs[:, :3], inputs[:, 3:]
    torch.testing.assert_close(eva[1], ldr[1], rtol=1e-6, atol=1e-6)  # the medium frame is its own alignment
    # E_i = (L^2.24 · 2^{−ΔEV})^{1/2.24}: the short frame is brightened, the long one darkened
    for i, stop in enumerate((-2.0, 0.0, 2.0)):
        torch.testing.assert_close(eva[i], ((ldr[i] ** 2.24) * 2.0 ** -stop) ** (1 / 2.24))
    torch.testing.assert_close(exposure_align(ldr, torch.tensor([-2.0, 0.0, 2.0])), eva)
    # AHDRNet's second half instead: L^γ / t with t = 2^ΔEV (medium = 1)
    linear, _ = NTIRE2021(root, "train", second_half="linear", gamma=2.2)[0]
    torch.testing.assert_close(linear[:, 3:], ldr_to_linear(ldr, torch.tensor([0.25, 1.0, 4.0]), 2.2))


def test_random_crop_is_deterministic_and_shared(fake_root):
    root, _ = fake_root
    full_inputs, full_target = NTIRE2021(root, "train")[2]
    crop = NTIRE2021(root, "train", crop_size=16, seed=5)
    inputs, target = crop[2]
    assert inputs.shape == (3, 6, 16, 16) and target.shape == (3, 16, 16)
    torch.testing.assert_close(crop[2][0], inputs, rtol=0, atol=0)  # the same window every time
    # the same window in the frames and the ground truth: find it in the full image
    matches = [(top, left) for top in range(HEIGHT - 15) for left in range(WIDTH - 15)
               if torch.equal(full_target[:, top:top + 16, left:left + 16], target)]
    assert len(matches) == 1
    top, left = matches[0]
    torch.testing.assert_close(full_inputs[..., top:top + 16, left:left + 16], inputs, rtol=0, atol=0)
    other = NTIRE2021(root, "train", crop_size=16, seed=6)[2][1]
    assert not torch.equal(other, target)
    with pytest.raises(ValueError, match="crop_size=64 is larger than scene 0002"):
        NTIRE2021(root, "train", crop_size=64)[2]


def test_missing_files_are_named(fake_root):
    root, _ = fake_root
    (root / "train" / "0001_alignratio.npy").unlink()
    with pytest.raises(FileNotFoundError, match=r"0001_alignratio\.npy is missing"):
        NTIRE2021(root, "train")
    np.save(root / "train" / "0001_alignratio.npy", np.float64(100.0))
    (root / "train" / "0002_exposures.npy").unlink()
    with pytest.raises(FileNotFoundError, match=r"0002_exposures\.npy is missing"):
        NTIRE2021(root, "train")
    np.save(root / "train" / "0002_exposures.npy", EXPOSURES)
    (root / "train" / "0000_long.png").unlink()
    with pytest.raises(FileNotFoundError, match=r"0000_long\.png is missing"):
        NTIRE2021(root, "train")
    with pytest.raises(FileNotFoundError, match=r"no 'val' split.*folders in root: \['train'\]"):
        NTIRE2021(root, "val")


def test_bad_exposures_and_ratio(tmp_path):
    path = tmp_path / "0000_exposures.npy"
    np.save(path, np.array([1, -1, -3]))
    with pytest.raises(ValueError, match=r"0000_exposures\.npy: EV values must increase"):
        read_exposures(path)
    np.save(path, np.array([-3, -1]))
    with pytest.raises(ValueError, match=r"0000_exposures\.npy: expected 3 finite EV values"):
        read_exposures(path)
    np.save(tmp_path / "ok.npy", EXPOSURES)
    assert read_exposures(tmp_path / "ok.npy") == [-3, -1, 1]
    ratio = tmp_path / "0000_alignratio.npy"
    np.save(ratio, np.float64(-2.0))
    with pytest.raises(ValueError, match=r"0000_alignratio\.npy: expected one positive number"):
        read_alignratio(ratio)


def test_out_of_order_exposures_in_a_scene_are_reported(fake_root):
    root, _ = fake_root
    np.save(root / "train" / "0001_exposures.npy", np.array([1, -1, -3]))
    with pytest.raises(ValueError, match=r"0001_exposures\.npy: EV values must increase"):
        NTIRE2021(root, "train")


def test_argument_errors(fake_root):
    root, _ = fake_root
    with pytest.raises(ValueError, match="second_half must be"):
        NTIRE2021(root, "train", second_half="raw")
    with pytest.raises(ValueError, match="crop_size must be a positive int"):
        NTIRE2021(root, "train", crop_size=0)
    with pytest.raises(IndexError, match="index 3 out of range for 3 train scenes"):
        NTIRE2021(root, "train")[3]
    cv2.imwrite(str(root / "train" / "0000_medium.png"), np.zeros((8, 8, 3), np.uint8))
    with pytest.raises(ValueError, match="scene 0000: the frames and the ground truth must have the same"):
        NTIRE2021(root, "train")[0]
