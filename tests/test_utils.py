"""Tests for hdredu.utils: shape contracts, seeding, the FAST switch, the default device."""

from __future__ import annotations

import random
import re

import numpy as np
import pytest
import torch

from hdredu import utils


def test_check_shape_accepts_and_returns_sizes():
    assert utils.check_shape(torch.zeros(2, 3, 4, 5), "B C H W") == {"B": 2, "C": 3, "H": 4, "W": 5}
    assert utils.check_shape(torch.zeros(2, 3, 6, 4, 5), "B N 6 H W") == {"B": 2, "N": 3, "H": 4, "W": 5}
    assert utils.check_shape(torch.zeros(4, 4), "S S") == {"S": 4}


@pytest.mark.parametrize("shape, spec, message", [
    ((2, 3, 4), "B C H W", "ldr must have shape (B C H W), 4 dimensions; got (2, 3, 4)"),
    ((2, 3, 5, 4, 5), "B N 6 H W", "ldr must have shape (B N 6 H W); got (2, 3, 5, 4, 5)"),
    ((4, 5), "S S", "ldr must have shape (S S) with equal sizes for S; got (4, 5)"),
])
def test_check_shape_rejects_with_the_argument_name(shape, spec, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        utils.check_shape(torch.zeros(shape), spec, "ldr")


def test_check_shape_rejects_non_tensors():
    with pytest.raises(TypeError, match=re.escape("guide must be a torch.Tensor of shape (B 1 H W); got ndarray")):
        utils.check_shape(np.zeros((1, 1, 4, 4)), "B 1 H W", "guide")


def _draws():
    return random.random(), float(np.random.rand()), torch.rand(3)


def test_seed_everything_repeats_python_numpy_and_torch():
    generator = utils.seed_everything(123)
    first = _draws()
    from_generator = torch.rand(3, generator=generator)
    generator = utils.seed_everything(123)
    second = _draws()
    assert first[:2] == second[:2] and torch.equal(first[2], second[2])
    assert torch.equal(from_generator, torch.rand(3, generator=generator))
    utils.seed_everything(124)
    third = _draws()
    assert first[0] != third[0] and first[1] != third[1] and not torch.equal(first[2], third[2])


def test_seed_everything_accepts_large_seeds():
    utils.seed_everything(2**40 + 7)  # NumPy only takes 32-bit seeds; the helper folds it
    assert 0.0 <= float(np.random.rand()) < 1.0


@pytest.mark.parametrize("value, expected", [("1", True), ("true", True), ("YES", True), (" on ", True),
                                             ("0", False), ("", False), ("no", False), ("false", False)])
def test_fast_mode_reads_the_environment(monkeypatch, value, expected):
    monkeypatch.setenv("HDREDU_FAST", value)
    assert utils.fast_mode() is expected


def test_fast_mode_off_when_unset(monkeypatch):
    monkeypatch.delenv("HDREDU_FAST", raising=False)
    assert utils.fast_mode() is False


def test_default_device(monkeypatch):
    monkeypatch.delenv("HDREDU_DEVICE", raising=False)
    assert utils.default_device() == torch.device("cpu")
    monkeypatch.setenv("HDREDU_DEVICE", "meta")
    assert utils.default_device() == torch.device("meta")


def test_random_window_is_in_bounds_and_seeded():
    image = torch.arange(7 * 9).view(1, 7, 9)
    windows = [image[utils.random_window(7, 9, 4, torch.Generator().manual_seed(s))] for s in range(20)]
    assert all(w.shape == (1, 4, 4) for w in windows)
    assert len({tuple(w.flatten().tolist()) for w in windows}) > 1, "different seeds give different windows"
    again = image[utils.random_window(7, 9, 4, torch.Generator().manual_seed(3))]
    assert torch.equal(again, windows[3])
    square = image[..., :7]
    assert torch.equal(square[utils.random_window(7, 7, 7, torch.Generator())], square), "a full-size window is the image"
