"""Tests for hdredu.data.itm_pairs: the exposure operator, pairs, the seeded dataset of random crops."""

from __future__ import annotations

import pytest
import torch

from hdredu.baselines import tonemap
from hdredu.data.itm_pairs import (
    TMOS,
    ITMPairs,
    apply_tmo,
    exposure_gamma,
    full_pairs,
    make_pair,
    min_max,
    tmo_counts,
)
from hdredu.data.samples import TEST_SCENES, load_sample


def ramp_scene(height=64, width=96) -> torch.Tensor:
    """Radiance growing exponentially left → right over 10 stops, (3, H, W)."""
    stops = torch.linspace(-5, 5, width).expand(3, height, width)
    return torch.exp2(stops).contiguous()


def test_exposure_gamma_known_answer():
    hdr = torch.arange(1, 101, dtype=torch.float32).reshape(1, 10, 10).expand(3, 10, 10).contiguous()
    display = exposure_gamma(hdr, percentile=50.0, gamma=2.0)
    white = torch.quantile(hdr.flatten(), 0.5)  # 50.5
    torch.testing.assert_close(display, (hdr / white).clamp(0, 1).sqrt())
    assert (display == 1).float().mean() == pytest.approx(0.5)  # the brightest half clips


@pytest.mark.parametrize("tmo", TMOS)
def test_pairs_are_normalised_and_monotone(tmo):
    hdr = ramp_scene()
    ldr, target = make_pair(hdr, tmo, gamma=2.2, percentile=95.0)
    assert ldr.shape == target.shape == (3, 64, 96)
    assert ldr.min() == 0 and ldr.max() == 1 and target.min() == 0 and target.max() == 1
    assert torch.allclose(ldr * 255, (ldr * 255).round(), atol=1e-4)  # 8-bit levels
    row = ldr[1, 32]
    if tmo == "mantiuk":  # a local operator: only the overall order is kept
        assert row[-1] > row[0]
    else:  # global curves: brighter stays brighter
        assert (row[1:] >= row[:-1] - 1e-6).all()
    torch.testing.assert_close(target, min_max(hdr))


def test_opencv_operators_come_from_baselines():
    hdr = ramp_scene()
    torch.testing.assert_close(apply_tmo(hdr, "drago", gamma=2.0), tonemap(hdr, "drago", gamma=2.0))
    ldr, _ = make_pair(hdr, "reinhard", gamma=2.0, bits=None)
    torch.testing.assert_close(ldr, min_max(tonemap(hdr, "reinhard", gamma=2.0)))


def test_dataset_items_are_seeded_and_varied():
    scenes = [ramp_scene(80, 120), ramp_scene(70, 90) * 3]
    data = ITMPairs(scenes, crop_size=32, length=40, seed=3)
    again = ITMPairs(scenes, crop_size=32, length=40, seed=3, cache=False)
    other = ITMPairs(scenes, crop_size=32, length=40, seed=4)
    for index in (0, 7, 39):
        ldr, target = data[index]
        assert ldr.shape == target.shape == (3, 32, 32)
        assert 0 <= ldr.min() and ldr.max() <= 1 and target.min() == 0 and target.max() == 1
        torch.testing.assert_close(again[index][0], ldr, rtol=0, atol=0)
    assert any(not torch.equal(data[i][0], other[i][0]) for i in range(5))
    params = [data.params(i) for i in range(40)]
    assert {p["tmo"] for p in params} == set(TMOS)
    assert {p["flip_lr"] for p in params} == {True, False} and {p["flip_ud"] for p in params} == {True, False}
    assert all(1.8 <= p["gamma"] <= 2.6 and 90 <= p["percentile"] <= 99.9 for p in params)
    assert sum(tmo_counts(data).values()) == 40


def test_flips_follow_params():
    scene = ramp_scene(32, 32)  # crop = whole scene: only the flips change the window
    data = ITMPairs([scene], crop_size=32, length=20, seed=0, tmos=("exposure",))
    for index in range(20):
        p = data.params(index)
        expected = scene.flip(-1) if p["flip_lr"] else scene
        expected = expected.flip(-2) if p["flip_ud"] else expected
        torch.testing.assert_close(data.window(index), expected)


def test_bundled_scenes_default_and_full_pairs():
    data = ITMPairs(length=2, crop_size=64)
    assert data[0][0].shape == (3, 64, 64)
    pairs = full_pairs(tmo="exposure")
    assert len(pairs) == len(TEST_SCENES)
    assert pairs[0][0].shape == load_sample(TEST_SCENES[0]).shape


def test_errors():
    with pytest.raises(ValueError, match="tmo must be one of"):
        make_pair(ramp_scene(), "durand")
    with pytest.raises(ValueError, match=r"percentile must be in \(0, 100\]"):
        exposure_gamma(ramp_scene(), percentile=0)
    with pytest.raises(ValueError, match=r"hdr must have shape \(3 H W\)"):
        make_pair(torch.rand(1, 3, 8, 8))
    with pytest.raises(ValueError, match=r"crop_size must be in \[32, 64\]"):
        ITMPairs([ramp_scene()], crop_size=128)
    with pytest.raises(ValueError, match="tmos must be a non-empty subset"):
        ITMPairs([ramp_scene()], crop_size=32, tmos=("gamma",))
    with pytest.raises(ValueError, match="scenes must hold at least one"):
        ITMPairs([], crop_size=32)
    with pytest.raises(IndexError, match=r"index must be in \[0, 4\)"):
        ITMPairs([ramp_scene()], crop_size=32, length=4)[4]
