"""Tests for hdredu.data.datasets.hdreye on tiny fake copies of SingleHDR's two layouts (written with OpenCV)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from hdredu.data.datasets.hdreye import HDREye, HDRReal, find_pairs

HEIGHT, WIDTH = 40, 56


def _write_pair(ldr_path, hdr_path, rng):
    """An 8-bit JPEG input and a float .hdr ground truth of the same size; returns (ldr RGB in [0, 1], hdr RGB)."""
    ldr_path.parent.mkdir(parents=True, exist_ok=True)
    hdr_path.parent.mkdir(parents=True, exist_ok=True)
    rgb = rng.integers(0, 256, size=(HEIGHT, WIDTH, 3), dtype=np.uint8)
    assert cv2.imwrite(str(ldr_path), rgb[..., ::-1].copy(), [cv2.IMWRITE_JPEG_QUALITY, 100])
    hdr = rng.uniform(0.01, 50.0, size=(HEIGHT, WIDTH, 3)).astype(np.float32)
    assert cv2.imwrite(str(hdr_path), hdr[..., ::-1].copy())
    ldr_read = cv2.imread(str(ldr_path))[..., ::-1].astype(np.float32) / 255.0  # JPEG is lossy: compare to the file
    hdr_read = cv2.imread(str(hdr_path), cv2.IMREAD_UNCHANGED)[..., ::-1]
    return torch.from_numpy(ldr_read.transpose(2, 0, 1).copy()), torch.from_numpy(hdr_read.transpose(2, 0, 1).copy())


@pytest.fixture
def scene_root(tmp_path):
    """HDR-Eye.zip layout: <root>/<scene>/input.jpg + gt.hdr, plus an unrelated empty folder."""
    rng = np.random.default_rng(0)
    root = tmp_path / "HDR-Eye"
    written = {name: _write_pair(root / name / "input.jpg", root / name / "gt.hdr", rng) for name in ("00002", "00000")}
    (root / "notes").mkdir()
    return root, written


@pytest.fixture
def paired_root(tmp_path):
    """Training-zip layout: <root>/HDR-Real/LDR_in/<name>.jpg + HDR_gt/<name>.hdr."""
    rng = np.random.default_rng(1)
    base = tmp_path / "SingleHDR_training_data" / "HDR-Real"
    written = {name: _write_pair(base / "LDR_in" / f"{name}.jpg", base / "HDR_gt" / f"{name}.hdr", rng)
               for name in ("00010", "00003", "00007")}
    return tmp_path / "SingleHDR_training_data", written


def test_scene_folder_layout(scene_root):
    root, written = scene_root
    data = HDREye(root, normalize=False)
    assert data.names == ["00000", "00002"] and len(data) == 2
    for index, name in enumerate(data.names):
        ldr, hdr = data[index]
        assert ldr.shape == hdr.shape == (3, HEIGHT, WIDTH)
        torch.testing.assert_close(ldr, written[name][0])
        torch.testing.assert_close(hdr, written[name][1])


def test_paired_folder_layout_and_normalisation(paired_root):
    root, written = paired_root
    data = HDRReal(root)
    assert data.names == ["00003", "00007", "00010"]
    ldr, hdr = data[1]
    torch.testing.assert_close(ldr, written["00007"][0])
    raw = written["00007"][1]
    torch.testing.assert_close(hdr, (raw - raw.min()) / (raw.max() - raw.min()))
    assert hdr.min() == 0 and hdr.max() == 1
    # the HDR-Real/ folder itself works as root too
    assert HDREye(root / "HDR-Real").names == data.names


def test_crops_are_the_same_window_and_seeded(scene_root):
    root, written = scene_root
    data = HDREye(root, crop_size=16, normalize=False, seed=5)
    ldr, hdr = data[0]
    assert ldr.shape == hdr.shape == (3, 16, 16)
    full_ldr, full_hdr = written["00000"]
    # find the window in the full LDR and check the HDR comes from the same place
    hits = [(t, x) for t in range(HEIGHT - 15) for x in range(WIDTH - 15) if torch.equal(full_ldr[:, t:t + 16, x:x + 16], ldr)]
    assert len(hits) == 1
    top, left = hits[0]
    torch.testing.assert_close(hdr, full_hdr[:, top:top + 16, left:left + 16])
    torch.testing.assert_close(HDREye(root, crop_size=16, normalize=False, seed=5)[0][0], ldr, rtol=0, atol=0)


def test_unpaired_files_are_listed(scene_root, paired_root):
    root, _ = scene_root
    (root / "00000" / "gt.hdr").unlink()
    with pytest.raises(ValueError, match=r"unpaired files; every scene folder needs both input.jpg and gt.hdr: \['00000 \(no gt.hdr\)'\]"):
        HDREye(root)
    paired, _ = paired_root
    (paired / "HDR-Real" / "LDR_in" / "00003.jpg").unlink()
    (paired / "HDR-Real" / "HDR_gt" / "00007.hdr").unlink()
    with pytest.raises(ValueError, match=r"Only an LDR input: \['00007'\]; only an HDR ground truth: \['00003'\]"):
        find_pairs(paired)


def test_errors(tmp_path, scene_root):
    with pytest.raises(FileNotFoundError, match="root folder not found"):
        HDREye(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no scenes found.*expected SingleHDR's layout"):
        HDREye(tmp_path / "empty")
    (tmp_path / "half" / "LDR_in").mkdir(parents=True)
    with pytest.raises(FileNotFoundError, match="HDR_gt is missing"):
        HDREye(tmp_path / "half")
    root, _ = scene_root
    with pytest.raises(ValueError, match=r"crop_size=64 is larger than '00000' \(40x56\)"):
        HDREye(root, crop_size=64)[0]
    with pytest.raises(ValueError, match="crop_size must be a positive int or None"):
        HDREye(root, crop_size=0)
    with pytest.raises(IndexError, match="index 2 out of range for 2 images"):
        HDREye(root)[2]
    # an input and a ground truth of different sizes
    cv2.imwrite(str(root / "00002" / "gt.hdr"), np.ones((8, 8, 3), np.float32))
    with pytest.raises(ValueError, match=r"00002: input.jpg is 40x56 but gt.hdr is 8x8"):
        HDREye(root)[1]
