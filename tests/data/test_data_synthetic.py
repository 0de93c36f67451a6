"""Tests for hdredu.data.synthetic: the bracket simulator and the dataset of simulated crops."""

from __future__ import annotations

import dataclasses
import math
import re

import pytest
import torch

from hdredu.data.samples import SCENES, load_sample
from hdredu.data.synthetic import (
    HOT_SPOT_RADIANCE,
    BracketDataset,
    Capture,
    CaptureDistribution,
    simulate_brackets,
    translate,
    warp,
)


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
    still = dict(motion=False, crfs=(("gamma", 1.0),), bits=((8, 1.0),), hot_spot_probability=0.0)
    low = BracketDataset(small_scenes, crop_size=32, length=6, seed=0,
                         conditions=CaptureDistribution(saturated_range=(0.02, 0.04), **still))
    high = BracketDataset(small_scenes, crop_size=32, length=6, seed=0,
                          conditions=CaptureDistribution(saturated_range=(0.3, 0.35), **still))
    low_shares = [_clipped_share(low.brackets(i)) for i in range(6)]
    high_shares = [_clipped_share(high.brackets(i)) for i in range(6)]
    # 8-bit noise around the clip level can add a few clipped pixels; the medians follow the ranges
    assert sorted(low_shares)[3] < 0.1 < 0.25 < sorted(high_shares)[2], (low_shares, high_shares)
    fixed = BracketDataset(small_scenes, crop_size=32, length=2, seed=0, conditions=Capture(saturated_fraction=0.03))
    assert _clipped_share(fixed.brackets(0)) < 0.1, "a fixed Capture is used for every item"
    overridden = BracketDataset(small_scenes, crop_size=32, length=2, seed=0,
                                conditions=CaptureDistribution(saturated_range=(0.3, 0.35), **still), saturated_fraction=0.03)
    assert _clipped_share(overridden.brackets(0)) < 0.1, "a fixed saturated_fraction overrides the range"


def test_dataset_draws_its_conditions_and_the_input_uses_each_brackets_own_times(small_scenes):
    dataset = BracketDataset(small_scenes, crop_size=16, length=40, seed=0)
    spacings = set()
    for index in range(len(dataset)):
        brackets = dataset.brackets(index)
        spacing = brackets.capture.spacing
        spacings.add(spacing)
        torch.testing.assert_close(brackets.exposure_times, torch.tensor([1.0, 2**spacing, 4**spacing]))
        inputs, _ = dataset[index]
        torch.testing.assert_close(inputs[:, 3:], brackets.ldr**2.2 / brackets.exposure_times.view(3, 1, 1, 1))
    assert {2.0, 3.0} <= spacings <= {1.0, 2.0, 3.0, 4.0}, spacings


def test_dataset_with_a_fixed_capture_and_fixed_fields(small_scenes):
    capture = Capture(exposure_stops=(0, 3, 6), crf="filmic", bits=16)
    dataset = BracketDataset(small_scenes, crop_size=16, length=3, seed=0, conditions=capture)
    assert all(dataset.brackets(i).capture == capture for i in range(3))
    static = BracketDataset(small_scenes, crop_size=16, length=3, seed=0, conditions=capture, motion=False)
    assert all(static.brackets(i).capture == Capture(exposure_stops=(0, 3, 6), crf="filmic", bits=16, motion=False)
               and float(static.brackets(i).motion_mask.sum()) == 0 for i in range(3))
    with pytest.raises(TypeError, match=re.escape("BracketDataset got unknown keyword(s) ['saturated_range']")):
        BracketDataset(small_scenes, crop_size=16, saturated_range=(0.1, 0.2))


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
    with pytest.raises(TypeError, match="conditions must be a CaptureDistribution or a Capture; got dict"):
        BracketDataset(small_scenes, crop_size=16, conditions={"saturated_fraction": 0.3})


# ---------------------------------------------------------------------------------------------------------
# Capture: the conditions as one value.
# ---------------------------------------------------------------------------------------------------------


def test_capture_and_keyword_fields_give_the_same_brackets(scene):
    capture = Capture(exposure_stops=(0, 3, 6), saturated_fraction=0.2, crf="filmic", bits=16, jitter_px=0.5)
    from_capture = simulate_brackets(scene, capture, seed=4)
    from_fields = simulate_brackets(scene, seed=4, exposure_stops=(0, 3, 6), saturated_fraction=0.2, crf="filmic",
                                    bits=16, jitter_px=0.5)
    replaced = simulate_brackets(scene, Capture(crf="filmic"), seed=4, exposure_stops=[0, 3, 6], saturated_fraction=0.2,
                                 bits=16, jitter_px=0.5)
    for other in (from_fields, replaced):
        assert torch.equal(from_capture.ldr, other.ldr) and torch.equal(from_capture.flow, other.flow)
    assert from_capture.capture == capture and from_capture.crf == "filmic"
    codes = from_capture.ldr * 65535  # 16-bit frames
    torch.testing.assert_close(codes, codes.round(), rtol=0, atol=2e-2)
    assert not torch.equal(codes, (from_capture.ldr * 255).round() * 257)


def test_capture_defaults_are_the_classic_bracket():
    capture = Capture()
    assert (capture.exposure_stops, capture.reference, capture.saturated_fraction, capture.crf, capture.bits) == \
           ((0.0, 2.0, 4.0), 1, 0.05, "gamma", 8)
    assert (capture.shot, capture.read, capture.motion, capture.jitter_px, capture.object_shift) == (1e-4, 3e-4, True, 1.5, 0.35)
    assert capture.spacing == 2.0 and Capture(exposure_stops=(0, 1, 4)).spacing is None
    assert Capture(exposure_stops=[0, 3, 6]).describe() == "EV 0/3/6, 5 % clipped, gamma, 8-bit"
    assert hash(Capture(exposure_stops=[0, 3, 6])) == hash(Capture(exposure_stops=(0, 3, 6)))
    with pytest.raises(dataclasses.FrozenInstanceError):
        capture.crf = "filmic"


@pytest.mark.parametrize("fields, message", [
    ({"saturated_fraction": 1.0}, "saturated_fraction must be in [0, 1); got 1.0"),
    ({"hot_spot": -0.1}, "hot_spot must be a radius in [0, 0.5) of the smaller side; got -0.1"),
    ({"crf": "linear"}, "crf must be one of ['filmic', 'gamma']; got 'linear'"),
    ({"shot": -1.0}, "shot and read must be ≥ 0; got shot=-1.0, read=0.0003"),
    ({"bits": 0}, "bits must be in [1, 16] or None; got 0"),
    ({"jitter_px": -1}, "jitter_px must be ≥ 0; got -1"),
    ({"object_shift_px": -2.0}, "object_shift_px must be ≥ 0 or None; got -2.0"),
    ({"exposure_stops": (0, 2), "ref_idx": 2}, "ref_idx must be in [0, 1]; got 2"),
])
def test_capture_validation_names_the_field(fields, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        Capture(**fields)


def test_unknown_simulator_keyword(scene):
    with pytest.raises(TypeError, match=re.escape("simulate_brackets got unknown keyword(s) ['exposures']")):
        simulate_brackets(scene, exposures=(0, 2, 4))


def test_hot_spot_is_a_light_only_the_shortest_frame_holds(scene):
    plain = simulate_brackets(scene, motion=False, shot=0.0, read=0.0, bits=None, seed=0)
    lit = simulate_brackets(scene, motion=False, shot=0.0, read=0.0, bits=None, seed=0, hot_spot=0.1)
    light = lit.hdr.amin(dim=0) >= HOT_SPOT_RADIANCE - 1e-6  # (H, W)
    area = math.pi * (0.1 * 96) ** 2
    assert 0.5 * area < float(light.sum()) < 1.2 * area
    assert bool((lit.saturation_mask[1, 0][light] == 1).all() and (lit.saturation_mask[0, 0][light] == 0).all())
    torch.testing.assert_close(lit.linearised()[0][:, light], lit.hdr[:, light])  # the short frame sees it exactly
    far = ~(torch.nn.functional.max_pool2d(light[None, None].float(), 9, 1, 4)[0, 0] > 0)
    torch.testing.assert_close(lit.hdr[:, far], plain.hdr[:, far])  # the rest of the scene is unchanged


# ---------------------------------------------------------------------------------------------------------
# CaptureDistribution: the training recipe.
# ---------------------------------------------------------------------------------------------------------


def _draws(distribution, n=2000, seed=0):
    generator = torch.Generator().manual_seed(seed)
    return [distribution.sample(generator) for _ in range(n)]


def test_default_recipe_draws_the_stated_mix():
    draws = _draws(CaptureDistribution.default())
    share = lambda predicate: sum(map(predicate, draws)) / len(draws)  # noqa: E731
    # Stated weights: spacing 1/2/3/4 stops 0.15/0.3/0.3/0.25, gamma only, 8-bit 0.8, hot spot 0.1 (±3.5 σ at n = 2000).
    for stops, weight in ((1.0, 0.15), (2.0, 0.3), (3.0, 0.3), (4.0, 0.25)):
        assert share(lambda c: c.exposure_stops == (0.0, stops, 2 * stops)) == pytest.approx(weight, abs=0.04)
    assert all(c.crf == "gamma" for c in draws)
    assert share(lambda c: c.bits == 8) == pytest.approx(0.8, abs=0.035)
    assert share(lambda c: c.hot_spot > 0) == pytest.approx(0.1, abs=0.025)
    assert all(0.05 <= c.saturated_fraction <= 0.4 for c in draws)
    assert share(lambda c: c.saturated_fraction > 0.3) == pytest.approx(0.1 / 0.35, abs=0.04)
    gains = torch.tensor([c.shot / 1e-4 for c in draws])
    assert 0.5 <= float(gains.min()) and float(gains.max()) <= 2.0
    torch.testing.assert_close(torch.tensor([c.read / 3e-4 for c in draws]), gains)
    assert float(gains.log().mean()) == pytest.approx(0.0, abs=0.03)  # log-uniform around gain 1
    assert all(c.motion and c.jitter_px == 1.5 and c.object_shift == 0.35 for c in draws)


def test_sampling_is_seeded_and_each_field_keeps_its_draws():
    assert _draws(CaptureDistribution.default(), 50, seed=3) == _draws(CaptureDistribution.default(), 50, seed=3)
    assert _draws(CaptureDistribution.default(), 50, seed=3) != _draws(CaptureDistribution.default(), 50, seed=4)
    # A distribution that changes one range draws the other fields exactly as before.
    narrow = _draws(dataclasses.replace(CaptureDistribution.default(), saturated_range=(0.3, 0.3)), 50)
    for a, b in zip(_draws(CaptureDistribution.default(), 50), narrow):
        assert b.saturated_fraction == pytest.approx(0.3)
        assert dataclasses.replace(a, saturated_fraction=0.3) == b


def test_legacy_mix_and_a_two_stop_only_recipe():
    legacy = _draws(CaptureDistribution.legacy(), 200)
    assert all(c.exposure_stops == (0.0, 2.0, 4.0) and c.crf == "gamma" and c.bits == 8 and c.hot_spot == 0 and
               0.02 <= c.saturated_fraction <= 0.15 and c.shot == 1e-4 for c in legacy)
    two_stops = dataclasses.replace(CaptureDistribution.default(), spacings=((2.0, 1.0),), frames=5)
    assert {c.exposure_stops for c in _draws(two_stops, 20)} == {(0.0, 2.0, 4.0, 6.0, 8.0)}
    pixels = _draws(dataclasses.replace(CaptureDistribution.default(), object_shift_px_range=(4.0, 8.0)), 50)
    assert all(4.0 <= c.object_shift_px <= 8.0 for c in pixels)


@pytest.mark.parametrize("fields, message", [
    ({"spacings": ()}, "spacings must be ((value, weight), ...) with weights ≥ 0 and a positive sum; got ()"),
    ({"spacings": ((2.0, 0.0),)}, "spacings must be ((value, weight), ...)"),
    ({"spacings": ((-1.0, 1.0),)}, "spacings must hold positive EV steps; got ((-1.0, 1.0),)"),
    ({"crfs": (("linear", 1.0),)}, "crf must be one of"),
    ({"bits": ((8, -1.0), (16, 2.0))}, "bits must be ((value, weight), ...)"),
    ({"frames": 1}, "frames must be at least 2; got 1"),
    ({"saturated_range": (0.4, 0.2)}, "saturated_range must be (low, high) with 0.0 <= low <= high < 1.0; got (0.4, 0.2)"),
    ({"noise_gain_range": (0.0, 1.0)}, "noise_gain_range must be (low, high)"),
    ({"jitter_px_range": (-1.0, 1.0)}, "jitter_px_range must be (low, high)"),
    ({"hot_spot_probability": 1.5}, "hot_spot_probability must be in [0, 1]; got 1.5"),
])
def test_distribution_validation_names_the_field(fields, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        CaptureDistribution(**fields)


# ---------------------------------------------------------------------------------------------------------
# The true displacement field.
# ---------------------------------------------------------------------------------------------------------


def test_warp_undoes_a_known_translation():
    image = torch.rand(3, 20, 24, generator=torch.Generator().manual_seed(0))
    moved = translate(image, dx=3.0, dy=-2.0)  # content moves 3 px right, 2 px up
    torch.testing.assert_close(moved[:, 2:18, 3:], image[:, 4:20, :21])
    flow = torch.tensor([-2.0, 3.0]).view(2, 1, 1).expand(2, 20, 24)  # reference pixel → where it is now
    torch.testing.assert_close(warp(moved, flow)[:, 2:, :21], image[:, 2:, :21])
    with pytest.raises(ValueError, match=re.escape("flow must have shape (2 20 24)")):
        warp(moved, flow[:, :10])


def test_flow_is_zero_for_the_reference_and_for_static_scenes(scene):
    moving = simulate_brackets(scene, seed=0)
    assert moving.flow.shape == (3, 2, 96, 128)
    assert float(moving.flow[1].abs().sum()) == 0.0 and float(moving.flow[0].abs().sum()) > 0
    assert float(simulate_brackets(scene, motion=False, seed=0).flow.abs().sum()) == 0.0


@pytest.mark.parametrize("seed", [0, 1])
def test_flow_is_the_camera_shift_and_the_object_displacement_in_pixels(scene, seed):
    # Known magnitudes: the object moves exactly 7 px per frame; the camera at most 2 px per axis.
    brackets = simulate_brackets(scene, jitter_px=2.0, object_shift_px=7.0, seed=seed)
    for i in (0, 2):
        camera_step, object_step = _steps(brackets.flow[i])
        assert float(camera_step.abs().max()) <= 2.0 and float(camera_step.abs().min()) > 0
        assert float((object_step - camera_step).norm()) > 0
        assert float(object_step.norm()) == pytest.approx(7.0, abs=1e-4)
        assert 0.02 < float((brackets.flow[i] == object_step.view(2, 1, 1)).all(dim=0).float().mean()) < 0.5


def _steps(flow):
    """The two displacements in a (2, H, W) flow: (camera step, object step), the camera's covering more pixels."""
    values, counts = torch.unique(flow.reshape(2, -1), dim=1, return_counts=True)
    assert values.shape[1] == 2, "one displacement for the object, one for the background"
    return (values[:, 0], values[:, 1]) if counts[0] > counts[1] else (values[:, 1], values[:, 0])


def _dilate(mask, pixels=2):
    return torch.nn.functional.max_pool2d(mask[None, None].float(), 2 * pixels + 1, 1, pixels)[0, 0] > 0


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_each_frame_is_the_reference_moved_by_its_flow(scene, seed):
    # An ideal camera, so an unclipped frame is exactly its radiance. Frame i must equal the ground truth
    # translated by the camera step on the background and by the object step on the object: the same
    # resampling as the simulator's, so the equality is exact up to float rounding.
    brackets = simulate_brackets(scene, jitter_px=3.0, object_shift_px=6.0, shot=0.0, read=0.0, bits=None, seed=seed)
    linear = brackets.linearised()
    interior = torch.zeros(96, 128, dtype=torch.bool)
    interior[8:-8, 8:-8] = True
    for i in (0, 2):
        flow = brackets.flow[i]
        camera_step, object_step = _steps(flow)
        on_object = (flow == object_step.view(2, 1, 1)).all(dim=0)  # reference pixels on the object
        moved_object = translate(on_object[None].float(), float(object_step[1]), float(object_step[0]))[0] > 0.999
        unclipped = (brackets.saturation_mask[i, 0] == 0) & interior
        # Background: away from the object in either frame by more than the camera step (≤ 3 px per axis).
        regions = {"object": (object_step, moved_object & ~_dilate(~moved_object)),
                   "background": (camera_step, ~_dilate(brackets.motion_mask[i, 0] > 0, pixels=5))}
        for name, (step, region) in regions.items():
            region = region & unclipped
            assert int(region.sum()) > 100, name
            predicted = translate(brackets.hdr, dx=float(step[1]), dy=float(step[0]))
            torch.testing.assert_close(linear[i][:, region], predicted[:, region], rtol=1e-4, atol=1e-6, msg=name)
            wrong = translate(brackets.hdr, dx=-float(step[1]), dy=-float(step[0]))  # the opposite convention
            assert float((linear[i] - wrong)[:, region].abs().mean()) > 1e-3, name
