"""Tests for hdredu.imaging.tonemap: μ-law and its inverse, display gamma, Reinhard, luminance."""

from __future__ import annotations

import math

import pytest
import torch

from hdredu.imaging import tonemap


def _hdr(*shape, low=0.0, high=1.0, seed=0, dtype=torch.float32):
    generator = torch.Generator().manual_seed(seed)
    return low + (high - low) * torch.rand(shape, generator=generator, dtype=dtype)


# ---------------------------------------------------------------------------------------------------------
# μ-law.
# ---------------------------------------------------------------------------------------------------------


def test_mu_law_known_answers():
    assert tonemap.MU == 5000.0
    values = tonemap.mu_law(torch.tensor([0.0, 1.0, 0.5], dtype=torch.float64))
    torch.testing.assert_close(values, torch.tensor([0.0, 1.0, math.log(2501.0) / math.log(5001.0)], dtype=torch.float64))
    assert float(tonemap.mu_law(torch.tensor(1.0), mu=10.0)) == pytest.approx(1.0)
    # μ-law lifts the shadows: 1 % radiance already maps to more than half the range.
    assert float(tonemap.mu_law(torch.tensor(0.01))) > 0.45


def test_mu_law_inverse_round_trips_and_is_monotone():
    hdr = _hdr(2, 3, 3, 8, 8, dtype=torch.float64)  # any leading dims
    torch.testing.assert_close(tonemap.inverse_mu_law(tonemap.mu_law(hdr)), hdr, rtol=1e-10, atol=1e-13)
    encoded = _hdr(100, seed=1, dtype=torch.float64)
    torch.testing.assert_close(tonemap.mu_law(tonemap.inverse_mu_law(encoded)), encoded, rtol=1e-10, atol=1e-13)
    ramp = torch.linspace(0, 1, 1000, dtype=torch.float64)
    assert (tonemap.mu_law(ramp).diff() > 0).all()


@pytest.mark.parametrize("function", [tonemap.mu_law, tonemap.inverse_mu_law])
def test_mu_law_gradcheck(function):
    x = _hdr(2, 3, 4, 4, low=0.01, high=1.0, dtype=torch.float64).requires_grad_()
    assert torch.autograd.gradcheck(function, (x,))


# ---------------------------------------------------------------------------------------------------------
# Display gamma, Reinhard, exposure.
# ---------------------------------------------------------------------------------------------------------


def test_gamma_encode_decode():
    linear = _hdr(3, 8, 8, dtype=torch.float64)
    torch.testing.assert_close(tonemap.gamma_decode(tonemap.gamma_encode(linear)), linear, rtol=1e-10, atol=1e-13)
    torch.testing.assert_close(tonemap.gamma_encode(torch.tensor([0.25, 4.0, -1.0]), gamma=2.0), torch.tensor([0.5, 1.0, 0.0]))


def test_rgb_luminance_weights_and_shape():
    rgb = torch.eye(3).view(3, 3, 1, 1)  # pure R, G, B images
    torch.testing.assert_close(tonemap.rgb_luminance(rgb).flatten(), torch.tensor([0.2126, 0.7152, 0.0722]))
    assert tonemap.rgb_luminance(torch.ones(2, 4, 3, 5, 6)).shape == (2, 4, 1, 5, 6)


def test_reinhard_range_and_shape():
    hdr = _hdr(2, 3, 16, 16, high=1000.0) ** 2 / 1000.0  # wide range
    for white in (None, 2.0):
        display = tonemap.reinhard(hdr, white=white)
        assert display.shape == hdr.shape
        assert float(display.min()) >= 0.0 and float(display.max()) <= 1.0


def test_reinhard_known_answer_on_a_grey_image():
    # A uniform grey image: its log-average luminance is itself, so every pixel maps to key / (1 + key).
    grey = torch.full((3, 4, 4), 7.0, dtype=torch.float64)
    expected = (0.18 / 1.18) ** (1 / 2.2)
    torch.testing.assert_close(tonemap.reinhard(grey), torch.full_like(grey, expected), rtol=1e-6, atol=0)
    # With L_white = 1 the burn-out term cancels: L_d = L_s.
    torch.testing.assert_close(tonemap.reinhard(grey, white=1.0), torch.full_like(grey, 0.18 ** (1 / 2.2)), rtol=1e-6, atol=0)


def test_reinhard_is_per_image_in_a_batch():
    batch = torch.stack([_hdr(3, 8, 8, seed=0), 50.0 * _hdr(3, 8, 8, seed=1)])
    together = tonemap.reinhard(batch)
    for i in range(2):
        torch.testing.assert_close(together[i], tonemap.reinhard(batch[i]))
    # Scale invariance: the log-average normalisation undoes a global exposure change.
    torch.testing.assert_close(tonemap.reinhard(batch[0] * 8.0), tonemap.reinhard(batch[0]), rtol=1e-4, atol=1e-5)


def test_reinhard_gradcheck():
    hdr = _hdr(1, 3, 4, 4, low=0.1, high=2.0, dtype=torch.float64).requires_grad_()
    assert torch.autograd.gradcheck(lambda x: tonemap.reinhard(x, white=3.0), (hdr,))
    assert torch.autograd.gradcheck(tonemap.reinhard, (hdr,))


def test_exposure_tonemap():
    hdr = torch.tensor([0.1, 0.3, 2.0])
    torch.testing.assert_close(tonemap.exposure_tonemap(hdr, exposure=2.0, gamma=1.0), torch.tensor([0.2, 0.6, 1.0]))
