"""Tests for hdredu.losses: μ-law L1 / L2."""

import math

import pytest
import torch

from hdredu.losses import MuLawLoss, mu_law_l1, mu_law_l2


def test_zero_for_identical_images():
    hdr = torch.rand(2, 3, 8, 8)
    assert mu_law_l1(hdr, hdr) == 0
    assert mu_law_l2(hdr, hdr) == 0


def test_known_answer():
    # T(1) = 1 and T(0) = 0, so |T(1) − T(0)| = 1; T(0.5) = log(2501) / log(5001)
    pred = torch.tensor([1.0, 0.5])
    target = torch.tensor([0.0, 0.0])
    t_half = math.log(2501) / math.log(5001)
    torch.testing.assert_close(mu_law_l1(pred, target), torch.tensor((1 + t_half) / 2))
    torch.testing.assert_close(mu_law_l2(pred, target), torch.tensor((1 + t_half**2) / 2))
    # μ is used: with μ = 1, T(0.5) = log(1.5) / log(2)
    torch.testing.assert_close(mu_law_l1(pred[1:], target[1:], mu=1.0), torch.tensor(math.log(1.5) / math.log(2)))


def test_dark_errors_weigh_more_than_bright_ones():
    # the same absolute error of 0.01 costs more in a dark pixel than in a bright one: the point of μ-law
    dark = mu_law_l1(torch.tensor([0.02]), torch.tensor([0.01]))
    bright = mu_law_l1(torch.tensor([0.91]), torch.tensor([0.90]))
    assert dark > 10 * bright


def test_module_equals_function_and_gradcheck():
    pred, target = torch.rand(1, 3, 4, 4), torch.rand(1, 3, 4, 4)
    assert MuLawLoss("l1")(pred, target) == mu_law_l1(pred, target)
    assert MuLawLoss("l2", mu=10.0)(pred, target) == mu_law_l2(pred, target, mu=10.0)
    pred64 = (torch.rand(1, 3, 3, 3, dtype=torch.float64) + 0.1).requires_grad_()
    target64 = torch.rand(1, 3, 3, 3, dtype=torch.float64)
    assert torch.autograd.gradcheck(lambda p: mu_law_l2(p, target64), (pred64,))


def test_error_messages():
    with pytest.raises(ValueError, match=r"same shape; got \(1, 3, 4, 4\) and \(1, 3, 4, 5\)"):
        mu_law_l1(torch.rand(1, 3, 4, 4), torch.rand(1, 3, 4, 5))
    with pytest.raises(TypeError, match="pred and target must be torch.Tensor"):
        mu_law_l1([0.5], torch.rand(1))
    with pytest.raises(ValueError, match="norm must be 'l1' or 'l2'"):
        MuLawLoss("l3")
