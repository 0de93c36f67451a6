"""Tests for hdredu.data.datasets.PairedFolders (FiveK-style input/target folders) on a fake copy."""

from __future__ import annotations

import pytest
import torch

from hdredu import io
from hdredu.data.datasets import PairedFolders


def _write(root, split="train", names=("a", "b"), size=(24, 32)):
    generator = torch.Generator().manual_seed(0)
    for side in ("input", "target"):
        (root / split / side).mkdir(parents=True, exist_ok=True)
    pairs = {}
    for name in names:
        picture = torch.rand(3, *size, generator=generator)
        io.write_ldr(root / split / "input" / f"{name}.png", io.to_numpy(picture), bits=16)
        io.write_ldr(root / split / "target" / f"{name}.png", io.to_numpy(1 - picture), bits=16)
        pairs[name] = picture
    return pairs


def test_pairs_are_read_in_name_order_and_cropped_consistently(tmp_path):
    pairs = _write(tmp_path)
    data = PairedFolders(tmp_path, "train")
    assert data.names == ["a", "b"] and len(data) == 2
    picture, target = data[1]
    torch.testing.assert_close(picture, pairs["b"], atol=1e-4, rtol=0)
    torch.testing.assert_close(target, 1 - picture, atol=1e-4, rtol=0)
    cropped, cropped_target = PairedFolders(tmp_path, "train", crop_size=16, seed=3)[1]
    assert cropped.shape == (3, 16, 16)
    torch.testing.assert_close(cropped_target, 1 - cropped, atol=1e-4, rtol=0)  # the same window of both
    torch.testing.assert_close(PairedFolders(tmp_path, "train", crop_size=16, seed=3)[1][0], cropped)


def test_unpaired_files_are_refused_by_name(tmp_path):
    _write(tmp_path)
    (tmp_path / "train" / "target" / "b.png").unlink()
    with pytest.raises(ValueError, match=r"unpaired: b \(only in input/\)"):
        PairedFolders(tmp_path, "train")


def test_missing_folder_and_bad_arguments(tmp_path):
    _write(tmp_path)
    with pytest.raises(FileNotFoundError, match="folder not found: .*test/input"):
        PairedFolders(tmp_path, "test")
    with pytest.raises(ValueError, match="split must be one of"):
        PairedFolders(tmp_path, "val")
    with pytest.raises(ValueError, match="crop_size=40 is larger than a.png"):
        PairedFolders(tmp_path, "train", crop_size=40)[0]
