"""Tests for hdredu.data.synthetic: the bracket simulator and the dataset of simulated crops."""

from __future__ import annotations

import re

import pytest
import torch

from hdredu.data.samples import SCENES, load_sample
from hdredu.data.synthetic import BracketDataset, simulate_brackets


@pytest.fixture(scope="module")
def scene() -> torch.Tensor:
    """A 96×128 crop of a bundled HDRI (sky, walls, shadows)."""
    return load_sample("courtyard")[:, 64:160, 96:224].contiguous()


@pytest.fixture(scope="module")
def small_scenes() -> list[torch.Tensor]:
    return [load_sample(name)[:, 64:160, 96:224].contiguous() for name in ("city", "forest")]


def _static_ideal(hdr, **options):
    """A tripod shot with a perfect camera: no motion, no noise, no quantisation."""
    return simulate_brackets(hdr, motion=False, shot=0.0, read=0.0, bits=None, **options)


# ---------------------------------------------------------------------------------------------------------
# simulate_brackets: shapes, times, determinism.
# ---------------------------------------------------------------------------------------------------------


def test_shapes_and_ranges(scene):
    brackets = simulate_brackets(scene, seed=0)
    assert brackets.ldr.shape == (3, 3, 96, 128) and brackets.hdr.shape == (3, 96, 128)
    assert brackets.exposure_times.shape == (3,) and brackets.ref_idx == 1
    assert brackets.saturation_mask.shape == brackets.motion_mask.shape == (3, 1, 96, 128)
    assert brackets.model_input().shape == (3, 6, 96, 128)
    assert float(brackets.ldr.min()) >= 0.0 and float(brackets.ldr.max()) <= 1.0
    assert float(brackets.hdr.min()) >= 0.0 and float(brackets.hdr.max()) <= 1.0
    codes = brackets.ldr * 255  # 8-bit by default
    torch.testing.assert_close(codes, codes.round(), rtol=0, atol=1e-4)


def test_five_frames_default_to_the_middle_reference(scene):
    brackets = simulate_brackets(scene, exposure_stops=(0, 1, 2, 3, 4), seed=0)
    assert brackets.ldr.shape[0] == 5 and brackets.ref_idx == 2
    assert float(brackets.motion_mask[2].sum()) == 0.0


@pytest.mark.parametrize("stops, times", [((0, 2, 4), (1, 4, 16)), ((0, 3, 6), (1, 8, 64)), ((1, 3, 5), (1, 4, 16)),
                                          ((-2, 0, 2), (1, 4, 16))])
def test_exposure_times_are_powers_of_two_from_one(scene, stops, times):
    brackets = simulate_brackets(scene, exposure_stops=stops, seed=0)
    torch.testing.assert_close(brackets.exposure_times, torch.tensor(times, dtype=torch.float32))


def test_deterministic_by_seed(scene):
    first, again, other = (simulate_brackets(scene, seed=s) for s in (7, 7, 8))
    for field in ("ldr", "hdr", "saturation_mask", "motion_mask", "exposure_times"):
        assert torch.equal(getattr(first, field), getattr(again, field)), field
    assert not torch.equal(first.ldr, other.ldr)
    assert not torch.equal(first.motion_mask, other.motion_mask)


def test_model_input_is_ldr_and_ldr_gamma_over_t(scene):
    brackets = simulate_brackets(scene, seed=0)
    inputs = brackets.model_input(gamma=2.2)
    torch.testing.assert_close(inputs[:, :3], brackets.ldr)
    torch.testing.assert_close(inputs[:, 3:], brackets.ldr**2.2 / brackets.exposure_times.view(3, 1, 1, 1))
    torch.testing.assert_close(brackets.linearised(), inputs[:, 3:])


# ---------------------------------------------------------------------------------------------------------
# Physics: an ideal static capture inverts exactly; saturation grows with exposure.
# ---------------------------------------------------------------------------------------------------------


def test_static_ideal_capture_linearises_to_the_ground_truth(scene):
    brackets = _static_ideal(scene)
    linear = brackets.linearised()
    for i in range(3):
        unsaturated = brackets.saturation_mask[i, 0] == 0
        assert unsaturated.float().mean() > 0.3
        torch.testing.assert_close(linear[i][:, unsaturated], brackets.hdr[:, unsaturated], rtol=1e-5, atol=1e-6)


def test_noise_and_quantisation_move_the_frames_off_the_truth(scene):
    # The control for the test above: with the default camera the equality no longer holds.
    brackets = simulate_brackets(scene, motion=False, seed=0)
    unsaturated = brackets.saturation_mask[1, 0] == 0
    assert float((brackets.linearised()[1] - brackets.hdr)[:, unsaturated].abs().max()) > 1e-3


def test_longer_exposures_saturate_more(scene):
    brackets = _static_ideal(scene)
    short, reference, long = brackets.saturation_mask
    assert float(long.mean()) > float(reference.mean()) > float(short.mean())
    assert bool((long >= reference).all() and (reference >= short).all())  # nested: brighter never unclips


@pytest.mark.parametrize("name", SCENES)
def test_clipped_fraction_of_the_reference_is_the_requested_one(name):
    # "Clip" = a channel reaches 1 in the ideal capture; measured 0.0200–0.0204, 0.0500–0.0520, 0.1501–0.1544
    # over the six scenes. (saturation_mask, threshold 0.98, covers more: up to 2.7× the request.)
    hdr = load_sample(name)[:, 64:160, 96:224]
    for fraction in (0.02, 0.05, 0.15):
        brackets = _static_ideal(hdr, saturated_fraction=fraction)
        clipped = (brackets.ldr[brackets.ref_idx] >= 1.0 - 1e-6).any(dim=0).float().mean()
        assert float(clipped) == pytest.approx(fraction, rel=0.05, abs=0.002)


# ---------------------------------------------------------------------------------------------------------
# Motion.
# ---------------------------------------------------------------------------------------------------------


def test_motion_mask_zero_for_the_reference_and_set_for_the_others(scene):
    brackets = simulate_brackets(scene, motion=True, seed=3)
    assert float(brackets.motion_mask[1].sum()) == 0.0
    for i in (0, 2):
        assert 0.01 < float(brackets.motion_mask[i].mean()) < 0.6
    assert set(torch.unique(brackets.motion_mask).tolist()) <= {0.0, 1.0}


def test_no_motion_means_empty_masks_and_identical_radiance(scene):
    brackets = _static_ideal(scene)
    assert float(brackets.motion_mask.abs().sum()) == 0.0
    # every frame saw the same radiance: the long frame is the reference frame ×4 where neither clips
    both = (brackets.saturation_mask[1, 0] == 0) & (brackets.saturation_mask[2, 0] == 0)
    torch.testing.assert_close(brackets.ldr[2][:, both] ** 2.2, 4 * brackets.ldr[1][:, both] ** 2.2, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_object_moves_where_the_motion_mask_says(scene, seed):
    brackets = simulate_brackets(scene, motion=True, jitter_px=0.0, shot=0.0, read=0.0, bits=None, seed=seed)
    linear = brackets.linearised()
    for i in (0, 2):
        unsaturated = brackets.saturation_mask[i, 0] == 0
        inside = (brackets.motion_mask[i, 0] > 0) & unsaturated
        outside = (brackets.motion_mask[i, 0] == 0) & unsaturated
        error = (linear[i] - brackets.hdr).abs().mean(dim=0)
        assert inside.sum() > 50
        # No jitter, no noise: only the object differs. The mask keeps object weights above 1 %, so the
        # feathered edge leaves at most 1 % of a radiance difference (≤ 1) outside it.
        assert float(error[outside].max()) < 0.01
        assert float(error[outside].mean()) < 1e-5
        assert float(error[inside].mean()) > 1e-2


# ---------------------------------------------------------------------------------------------------------
# BracketDataset.
# ---------------------------------------------------------------------------------------------------------


def test_dataset_items_shapes_and_determinism(small_scenes):
    dataset = BracketDataset(small_scenes, crop_size=32, length=5, seed=1)
    assert len(dataset) == 5
    inputs, target = dataset[2]
    assert inputs.shape == (3, 6, 32, 32) and target.shape == (3, 32, 32)
    again_inputs, again_target = BracketDataset(small_scenes, crop_size=32, length=5, seed=1)[2]
    assert torch.equal(inputs, again_inputs) and torch.equal(target, again_target)
    assert not torch.equal(dataset[3][0], inputs)
    assert not torch.equal(BracketDataset(small_scenes, crop_size=32, length=5, seed=2)[2][0], inputs)


def test_dataset_brackets_match_getitem(small_scenes):
    dataset = BracketDataset(small_scenes, crop_size=32, length=4, motion=True, seed=0)
    for index in range(4):
        brackets = dataset.brackets(index)
        inputs, target = dataset[index]
        assert torch.equal(brackets.model_input(), inputs) and torch.equal(brackets.hdr, target)
    with pytest.raises(IndexError, match="index 4 out of range for a dataset of length 4"):
        dataset[4]


def test_dataset_without_motion(small_scenes):
    dataset = BracketDataset(small_scenes, crop_size=32, length=3, motion=False, seed=0)
    assert all(float(dataset.brackets(i).motion_mask.sum()) == 0.0 for i in range(3))


def _clipped_share(brackets):
    return float(brackets.saturation_mask[brackets.ref_idx].mean())


def test_dataset_saturated_range_sets_the_clipped_share(small_scenes):
    low = BracketDataset(small_scenes, crop_size=32, length=6, motion=False, seed=0, saturated_range=(0.02, 0.04))
    high = BracketDataset(small_scenes, crop_size=32, length=6, motion=False, seed=0, saturated_range=(0.3, 0.35))
    low_shares = [_clipped_share(low.brackets(i)) for i in range(6)]
    high_shares = [_clipped_share(high.brackets(i)) for i in range(6)]
    # 8-bit noise around the clip level can add a few clipped pixels; the medians follow the ranges
    assert sorted(low_shares)[3] < 0.1 < 0.25 < sorted(high_shares)[2], (low_shares, high_shares)
    fixed = BracketDataset(small_scenes, crop_size=32, length=2, motion=False, seed=0, saturated_range=(0.3, 0.35),
                           saturated_fraction=0.03)
    assert _clipped_share(fixed.brackets(0)) < 0.1, "a fixed saturated_fraction overrides the range"


def test_dataset_default_scenes_are_the_training_samples():
    dataset = BracketDataset(crop_size=16, length=2)
    assert len(dataset.scenes) == 4 and all(s.shape == (3, 256, 384) for s in dataset.scenes)
    assert dataset[0][0].shape == (3, 6, 16, 16)


# ---------------------------------------------------------------------------------------------------------
# Bad input names the argument.
# ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("hdr, message", [
    (torch.rand(4, 8, 8), "hdr must have shape (3 H W)"),
    (torch.rand(8, 8), "hdr must have shape (3 H W)"),
    (torch.rand(1, 3, 8, 8), "hdr must have shape (3 H W)"),
])
def test_wrong_hdr_shape(hdr, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        simulate_brackets(hdr)


@pytest.mark.parametrize("bad", [-0.5, float("nan"), float("inf")])
def test_negative_or_non_finite_hdr(scene, bad):
    hdr = scene.clone()
    hdr[0, 3, 4] = bad
    with pytest.raises(ValueError, match="hdr must hold finite, non-negative radiance"):
        simulate_brackets(hdr)


def test_bad_exposure_stops(scene):
    with pytest.raises(ValueError, match=re.escape("exposure_stops must be ordered short → long; got (0, 4, 2)")):
        simulate_brackets(scene, exposure_stops=(0, 4, 2))
    with pytest.raises(ValueError, match=re.escape("exposure_stops needs at least 2 values; got (0,)")):
        simulate_brackets(scene, exposure_stops=(0,))


@pytest.mark.parametrize("ref_idx", [3, -1, 10])
def test_bad_ref_idx(scene, ref_idx):
    with pytest.raises(ValueError, match=re.escape(f"ref_idx must be in [0, 2]; got {ref_idx}")):
        simulate_brackets(scene, ref_idx=ref_idx)


def test_bad_object_source_and_crf(scene):
    with pytest.raises(ValueError, match=re.escape("object_source must have shape (3 H W)")):
        simulate_brackets(scene, object_source=torch.rand(1, 8, 8))
    with pytest.raises(ValueError, match="crf must be one of"):
        simulate_brackets(scene, crf="linear")


def test_dataset_bad_inputs(small_scenes):
    with pytest.raises(ValueError, match=re.escape("scenes[1] is 40x50, smaller than crop_size=48")):
        BracketDataset([small_scenes[0], small_scenes[1][:, :40, :50]], crop_size=48)
    with pytest.raises(ValueError, match="scenes must hold at least one"):
        BracketDataset([], crop_size=16)
    with pytest.raises(ValueError, match=re.escape("scenes[0] must have shape (3 H W)")):
        BracketDataset([torch.rand(96, 128)], crop_size=16)
    with pytest.raises(ValueError, match=re.escape("saturated_range must be (low, high)")):
        BracketDataset(small_scenes, crop_size=16, saturated_range=(0.4, 0.2))
