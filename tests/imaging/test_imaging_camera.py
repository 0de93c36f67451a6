"""Tests for hdredu.imaging.camera: CRFs and inverses, exposure, noise, quantisation, capture, linearisation."""

from __future__ import annotations

import pytest
import torch

from hdredu.imaging import camera

CRF_NAMES = ("gamma", "filmic")


def _exposures(*shape, low=0.0, high=1.0, seed=0, dtype=torch.float32):
    generator = torch.Generator().manual_seed(seed)
    return low + (high - low) * torch.rand(shape, generator=generator, dtype=dtype)


# ---------------------------------------------------------------------------------------------------------
# Camera response functions.
# ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", CRF_NAMES)
def test_crf_endpoints_and_monotone(name):
    f, _ = camera.crf_pair(name)
    ramp = torch.linspace(0.0, 1.0, 1001, dtype=torch.float64)
    z = f(ramp)
    assert float(z[0]) == pytest.approx(0.0, abs=1e-12) and float(z[-1]) == pytest.approx(1.0, abs=1e-12)
    assert (z.diff() > 0).all()


@pytest.mark.parametrize("name", CRF_NAMES)
def test_crf_inverse_round_trips(name):
    f, f_inv = camera.crf_pair(name)
    exposure = _exposures(4, 3, 8, 8, dtype=torch.float64)
    torch.testing.assert_close(f_inv(f(exposure)), exposure, rtol=1e-9, atol=1e-12)
    ldr = _exposures(4, 3, 8, 8, seed=1, dtype=torch.float64)
    torch.testing.assert_close(f(f_inv(ldr)), ldr, rtol=1e-9, atol=1e-12)


def test_gamma_crf_known_answer():
    torch.testing.assert_close(camera.gamma_crf(torch.tensor([0.25, 1.5, -0.1]), gamma=2.0),
                               torch.tensor([0.5, 1.0, 0.0]))  # clipped to [0, 1] first
    torch.testing.assert_close(camera.inverse_gamma_crf(torch.tensor([0.5]), gamma=2.2), torch.tensor([0.5**2.2]))


def test_filmic_differs_from_gamma_with_a_shoulder():
    # The filmic curve is brighter in the mid-tones and flatter near white than plain gamma.
    mid, high = torch.tensor([0.1]), torch.tensor([0.999])
    assert float(camera.filmic_crf(mid)) > float(camera.gamma_crf(mid))
    slope = lambda f, e: float((f(e + 1e-4) - f(e)) / 1e-4)  # noqa: E731
    assert slope(camera.filmic_crf, high - 1e-3) < slope(camera.gamma_crf, high - 1e-3)


def test_unknown_crf():
    with pytest.raises(ValueError, match=r"crf must be one of \['filmic', 'gamma'\]; got 'linear'"):
        camera.crf_pair("linear")


@pytest.mark.parametrize("function", [camera.gamma_crf, camera.inverse_gamma_crf, camera.filmic_crf,
                                      camera.inverse_filmic_crf])
def test_crf_gradcheck(function):
    x = _exposures(2, 3, 4, 4, low=0.05, high=0.95, dtype=torch.float64).requires_grad_()  # away from the clamps
    assert torch.autograd.gradcheck(function, (x,))


# ---------------------------------------------------------------------------------------------------------
# Exposure, noise, quantisation, capture.
# ---------------------------------------------------------------------------------------------------------


def test_expose_broadcasts_one_time_per_frame():
    hdr = _exposures(3, 3, 4, 5)
    times = torch.tensor([1.0, 4.0, 16.0])
    exposed = camera.expose(hdr, times)
    for i in range(3):
        torch.testing.assert_close(exposed[i], hdr[i] * times[i])
    torch.testing.assert_close(camera.expose(hdr, 2.0), hdr * 2.0)


def test_noise_off_is_identity_and_noise_on_has_the_right_spread():
    exposure = torch.full((200_000,), 0.25)
    assert torch.equal(camera.add_sensor_noise(exposure, shot=0.0, read=0.0), exposure)
    shot, read = 4e-3, 1e-2
    noisy = camera.add_sensor_noise(exposure, shot, read, generator=torch.Generator().manual_seed(0))
    expected_std = (shot * 0.25 + read**2) ** 0.5  # ≈ 0.033
    assert float((noisy - exposure).mean()) == pytest.approx(0.0, abs=5 * expected_std / 200_000**0.5)
    assert float((noisy - exposure).std()) == pytest.approx(expected_std, rel=0.01)


def test_noise_is_deterministic_by_generator():
    exposure = _exposures(3, 8, 8)
    draw = lambda seed: camera.add_sensor_noise(exposure, generator=torch.Generator().manual_seed(seed))  # noqa: E731
    assert torch.equal(draw(3), draw(3))
    assert not torch.equal(draw(3), draw(4))


@pytest.mark.parametrize("bits", [1, 4, 8])
def test_quantize_levels(bits):
    x = _exposures(10_000, low=-0.2, high=1.2, dtype=torch.float64)
    q = camera.quantize(x, bits)
    levels = 2**bits - 1
    codes = q * levels
    torch.testing.assert_close(codes, codes.round(), rtol=0, atol=1e-9)  # on the grid k / (2^b − 1)
    assert len(torch.unique(q)) == levels + 1  # every level used, no more
    inside = (x >= 0) & (x <= 1)
    assert float((q - x)[inside].abs().max()) <= 0.5 / levels + 1e-12  # error ≤ half a step
    assert float(q.min()) == 0.0 and float(q.max()) == 1.0  # clipped


def test_capture_of_a_noiseless_camera_is_the_formula():
    hdr = _exposures(3, 8, 8, high=2.0)
    for t in (0.5, 1.0, 4.0):
        ldr = camera.capture(hdr, t, crf="gamma", shot=0.0, read=0.0, bits=None)
        torch.testing.assert_close(ldr, (hdr * t).clamp(0, 1) ** (1 / 2.2))
        quantised = camera.capture(hdr, t, crf="gamma", shot=0.0, read=0.0, bits=8)
        torch.testing.assert_close(quantised, torch.round((hdr * t).clamp(0, 1) ** (1 / 2.2) * 255) / 255)
    filmic = camera.capture(hdr, 1.0, crf="filmic", shot=0.0, read=0.0, bits=None)
    torch.testing.assert_close(filmic, camera.filmic_crf(hdr.clamp(0, 1)))


def test_capture_of_a_stack_with_noise_is_seeded_and_in_range():
    hdr = _exposures(3, 3, 8, 8)
    times = torch.tensor([1.0, 4.0, 16.0])
    shoot = lambda seed: camera.capture(hdr, times, generator=torch.Generator().manual_seed(seed))  # noqa: E731
    first = shoot(0)
    assert first.shape == hdr.shape and float(first.min()) >= 0.0 and float(first.max()) <= 1.0
    assert torch.equal(first, shoot(0)) and not torch.equal(first, shoot(1))


# ---------------------------------------------------------------------------------------------------------
# Back to radiance; saturation.
# ---------------------------------------------------------------------------------------------------------


def test_ldr_to_linear_known_answer_and_inverse_of_capture():
    ldr = torch.tensor([0.5, 1.0, 0.0]).view(1, 3, 1, 1)
    torch.testing.assert_close(camera.ldr_to_linear(ldr, 4.0), torch.tensor([0.5**2.2 / 4, 0.25, 0.0]).view(1, 3, 1, 1))
    hdr = _exposures(3, 3, 8, 8, low=0.01, high=0.06)  # never clipped, even at t = 16
    times = torch.tensor([1.0, 4.0, 16.0])
    ldr = camera.capture(hdr, times, shot=0.0, read=0.0, bits=None)
    torch.testing.assert_close(camera.ldr_to_linear(ldr, times), hdr)


def test_ldr_to_linear_broadcasts_over_batch_and_frames():
    ldr = _exposures(2, 3, 3, 4, 5)  # (B, N, C, H, W)
    per_frame = torch.tensor([1.0, 4.0, 16.0])  # (N,)
    per_item = torch.tensor([[1.0, 4.0, 16.0], [1.0, 8.0, 64.0]])  # (B, N)
    by_frame = camera.ldr_to_linear(ldr, per_frame)
    by_item = camera.ldr_to_linear(ldr, per_item)
    assert by_frame.shape == by_item.shape == ldr.shape
    for b in range(2):
        for n in range(3):
            torch.testing.assert_close(by_frame[b, n], ldr[b, n] ** 2.2 / per_frame[n])
            torch.testing.assert_close(by_item[b, n], ldr[b, n] ** 2.2 / per_item[b, n])


@pytest.mark.parametrize("times", [0.0, -1.0, [1.0, 0.0, 4.0], [1.0, -4.0, 16.0]])
def test_non_positive_exposure_time(times):
    with pytest.raises(ValueError, match="exposure_times must be positive"):
        camera.ldr_to_linear(_exposures(3, 3, 4, 4), times)
    with pytest.raises(ValueError, match="exposure_times must be positive"):
        camera.expose(_exposures(3, 3, 4, 4), times)


def test_saturation_mask_flags_any_clipped_channel():
    ldr = torch.full((2, 3, 2, 2), 0.5)
    ldr[0, 1, 0, 0] = 0.99  # one channel of one pixel
    ldr[1, :, 1, 1] = 1.0
    mask = camera.saturation_mask(ldr)
    assert mask.shape == (2, 1, 2, 2)
    expected = torch.zeros(2, 1, 2, 2)
    expected[0, 0, 0, 0] = expected[1, 0, 1, 1] = 1.0
    assert torch.equal(mask, expected)
    assert float(camera.saturation_mask(ldr, threshold=0.995).sum()) == 1.0
