"""Tests for hdredu.baselines (inverse tone mapping): known answers of the linearisation and of the inverse Reinhard curve."""

import pytest
import torch

from hdredu.baselines import inverse_reinhard, linearize, match_exposure
from hdredu.imaging.tonemap import rgb_luminance


def test_linearize_inverts_gamma_and_matches_exposure():
    torch.manual_seed(0)
    hdr = torch.rand(3, 16, 16) * 0.8 + 0.05
    ldr = hdr ** (1 / 2.2)
    torch.testing.assert_close(linearize(ldr, 2.2, reference=7.0 * hdr), 7.0 * hdr, rtol=1e-4, atol=1e-5)
    normalised = linearize(ldr)
    assert normalised.min() == 0 and normalised.max() == 1
    batch = linearize(torch.stack([ldr, ldr**2]))
    assert batch.shape == (2, 3, 16, 16)
    torch.testing.assert_close(batch[0], normalised)


def test_inverse_reinhard_inverts_reinhards_curve():
    white = 20.0
    radiance = torch.logspace(-2, 1.2, 50)  # 0.01 … 15.8 < L_w
    display = radiance * (1 + radiance / white**2) / (1 + radiance)  # Reinhard with white point
    grey = display.view(1, 1, 50).expand(3, 1, 50).contiguous()  # a grey ramp: luminance = each channel
    ldr = grey ** (1 / 2.2)
    expanded = inverse_reinhard(ldr, white=white, reference=radiance.view(1, 1, 50).expand(3, 1, 50).contiguous())
    torch.testing.assert_close(expanded[0, 0], radiance, rtol=1e-3, atol=1e-4)
    # display white expands to L_w exactly: with black (→ 0) in the image, min–max divides by L_w
    grey_display = 0.5
    grey_radiance = 0.5 * white**2 * (-(1 - grey_display) + (((1 - grey_display) ** 2 + 4 * grey_display / white**2) ** 0.5))
    pixels = torch.tensor([0.0, grey_display ** (1 / 2.2), 1.0]).view(1, 1, 3).expand(3, 1, 3).contiguous()
    out = inverse_reinhard(pixels, white=white)
    torch.testing.assert_close(out[0, 0], torch.tensor([0.0, grey_radiance / white, 1.0]))
    # colour ratios are kept
    colour = torch.tensor([0.9, 0.5, 0.2]).view(3, 1, 1).expand(3, 4, 4).contiguous()
    out = inverse_reinhard(colour, white=white, reference=torch.ones(3, 4, 4))
    lin = colour**2.2
    torch.testing.assert_close(out[:, 0, 0] / out[1, 0, 0], lin[:, 0, 0] / lin[1, 0, 0])
    assert (rgb_luminance(out) > 0).all()


def test_expansion_stretches_highlights_more_than_linearisation():
    ramp = torch.linspace(0, 1, 64).expand(3, 8, 64).contiguous()
    linear = linearize(ramp)
    expanded = inverse_reinhard(ramp, white=100.0)
    # both normalised to [0, 1]; the expansion pushes mid-tones down relative to white (more dynamic range)
    assert expanded[0, 0, 32] < linear[0, 0, 32]


def test_errors():
    with pytest.raises(ValueError, match=r"ldr must hold values in \[0, 1\]"):
        linearize(torch.full((3, 4, 4), 2.0))
    with pytest.raises(ValueError, match=r"ldr must be \(3, H, W\) or \(B, 3, H, W\)"):
        linearize(torch.rand(4, 4))
    with pytest.raises(ValueError, match="white must be > 1"):
        inverse_reinhard(torch.rand(3, 4, 4), white=1.0)
    with pytest.raises(ValueError, match="gamma must be positive"):
        linearize(torch.rand(3, 4, 4), gamma=0)
    with pytest.raises(ValueError, match="reference must have the shape of ldr"):
        match_exposure(torch.rand(3, 4, 4), torch.rand(3, 4, 4), torch.rand(3, 5, 5))
