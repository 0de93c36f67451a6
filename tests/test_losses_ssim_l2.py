"""Tests for hdredu.losses.ssim_l2: ALEN's SSIM + L2 loss."""

import pytest
import torch
import torch.nn.functional as F

from hdredu.losses import ssim_l2
from hdredu.metrics import ssim


def test_identical_images_give_zero():
    image = torch.rand(2, 3, 24, 20)
    assert abs(float(ssim_l2(image, image.clone()))) < 1e-6


def test_value_is_the_weighted_sum():
    target = torch.rand(1, 3, 32, 32)
    pred = (target + 0.1 * torch.randn_like(target)).clamp(0, 1)
    expected = 0.5 * (1 - ssim(pred, target)) + 2.0 * float(F.mse_loss(pred, target))
    assert float(ssim_l2(pred, target, ssim_weight=0.5, l2_weight=2.0)) == pytest.approx(expected, rel=1e-5)
    # the L2 part alone is the MSE; the SSIM part alone is 1 − SSIM
    assert float(ssim_l2(pred, target, ssim_weight=0.0)) == pytest.approx(float(F.mse_loss(pred, target)), rel=1e-6)
    assert float(ssim_l2(pred, target, l2_weight=0.0)) == pytest.approx(1 - ssim(pred, target), rel=1e-5)


def test_gradient_flows_and_descends():
    target = torch.rand(1, 3, 16, 16)
    pred = torch.rand(1, 3, 16, 16, requires_grad=True)
    loss = ssim_l2(pred, target)
    loss.backward()
    assert pred.grad is not None and pred.grad.abs().sum() > 0 and torch.isfinite(pred.grad).all()
    with torch.no_grad():
        stepped = pred - 0.5 * pred.grad / pred.grad.abs().max()
    assert ssim_l2(stepped, target) < loss


def test_gradcheck_float64():
    target = torch.rand(1, 1, 11, 11, dtype=torch.float64)
    pred = torch.rand(1, 1, 11, 11, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda p: ssim_l2(p, target), (pred,))


def test_error_messages():
    with pytest.raises(ValueError, match="pred and target must have the same shape"):
        ssim_l2(torch.rand(1, 3, 16, 16), torch.rand(1, 3, 16, 12))
    with pytest.raises(ValueError, match=r"H, W ≥ 11 \(SSIM's 11×11 window\); got \(1, 3, 8, 8\)"):
        ssim_l2(torch.rand(1, 3, 8, 8), torch.rand(1, 3, 8, 8))
