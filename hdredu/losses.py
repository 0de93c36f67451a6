"""Training losses for HDR reconstruction, computed in the μ-law tone-mapped domain.

Linear HDR spans orders of magnitude, so a plain L1 on radiance is dominated by the brightest pixels.
Kalantari-style networks (AHDRNet, ADNet) compare images after the μ-law compression that the PSNR-μ metric
uses as well:

    T(H) = log(1 + μH) / log(1 + μ),  μ = 5000
    L_1 = mean |T(Ĥ) − T(H)|,   L_2 = mean (T(Ĥ) − T(H))²

H is not normalised first (Kalantari ground truth already lies in ≈ [0, 1]).

Paper: Kalantari & Ramamoorthi, "Deep High Dynamic Range Imaging of Dynamic Scenes", SIGGRAPH 2017 (μ-law
loss); Yan et al., CVPR 2019, Sec. 3.4 (L1 on the μ-law output, as in the official AHDRNet code).
Introduced in notebooks/01_ahdrnet.ipynb, section 2 *The idea and its equations* (loss).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from hdredu.imaging.tonemap import MU, mu_law


def _check_pair(pred: torch.Tensor, target: torch.Tensor) -> None:
    """Raise a ValueError naming both shapes unless ``pred`` and ``target`` are same-shaped tensors."""
    if not isinstance(pred, torch.Tensor) or not isinstance(target, torch.Tensor):
        raise TypeError(f"pred and target must be torch.Tensor; got {type(pred).__name__} and {type(target).__name__}")
    if pred.shape != target.shape:
        raise ValueError(f"pred and target must have the same shape; got {tuple(pred.shape)} and {tuple(target.shape)}")


def mu_law_l1(pred: torch.Tensor, target: torch.Tensor, mu: float = MU) -> torch.Tensor:
    """L1 distance of μ-law tone-mapped images, mean |T(pred) − T(target)|.

    Args:
        pred: (B, 3, H, W) or any shape, linear HDR ≥ 0 (AHDRNet's sigmoid output is in (0, 1)).
        target: same shape, linear HDR ground truth.
        mu: μ of the compression (5000).
    Returns:
        scalar tensor, differentiable with respect to ``pred``.
    """
    _check_pair(pred, target)
    return F.l1_loss(mu_law(pred, mu), mu_law(target, mu))


def mu_law_l2(pred: torch.Tensor, target: torch.Tensor, mu: float = MU) -> torch.Tensor:
    """Mean squared distance of μ-law tone-mapped images, mean (T(pred) − T(target))² (same arguments as L1)."""
    _check_pair(pred, target)
    return F.mse_loss(mu_law(pred, mu), mu_law(target, mu))


class MuLawLoss(nn.Module):
    """μ-law L1 (AHDRNet) or L2 (Kalantari'17) loss as a module: ``MuLawLoss("l1")(pred, target)``.

    Args:
        norm: "l1" or "l2".
        mu: μ of the compression (5000).
    """

    def __init__(self, norm: str = "l1", mu: float = MU):
        super().__init__()
        if norm not in ("l1", "l2"):
            raise ValueError(f"norm must be 'l1' or 'l2'; got {norm!r}")
        self.norm, self.mu = norm, mu

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Scalar loss between ``pred`` and ``target`` (same shapes, linear HDR)."""
        loss = mu_law_l1 if self.norm == "l1" else mu_law_l2
        return loss(pred, target, self.mu)


def ssim_l2(
    pred: torch.Tensor, target: torch.Tensor, ssim_weight: float = 1.0, l2_weight: float = 1.0, data_range: float = 1.0
) -> torch.Tensor:
    """Low-light RAW → sRGB loss of ALEN: L = λ_s·(1 − SSIM(pred, target)) + λ_2·mean (pred − target)².

    Compared in sRGB (the networks' output space; no μ-law: these are display-referred images, not HDR).
    SSIM is torchmetrics' differentiable one with the standard Gaussian window (11×11, σ = 1.5, K1 = 0.01,
    K2 = 0.03), averaged over pixels and channels, as ``hdredu.metrics.ssim``. The weights λ_s = λ_2 = 1 are a
    (reconstruction): ALEN's paper names "SSIM + L2" but its weights are not known here (reference/alen.md §2).
    With them SSIM dominates early (1 − SSIM ≈ 0.1-1 while the MSE of a sensible sRGB guess is ≈ 0.01).

    Args:
        pred: (B, 3, H, W) sRGB prediction, nominally in [0, 1] (not clipped here, so gradients reach
            out-of-range values); H, W ≥ 11.
        target: same shape, sRGB ground truth.
        ssim_weight: λ_s.
        l2_weight: λ_2.
        data_range: value range of the images for SSIM's constants (1).
    Returns:
        scalar tensor, 0 for identical images, differentiable with respect to ``pred``.

    Paper: Zhang et al., "Attention-based network for low-light image enhancement", ICME 2020 (SSIM + L2).
    """
    from torchmetrics.functional.image import structural_similarity_index_measure

    _check_pair(pred, target)
    if pred.dim() != 4 or min(pred.shape[-2:]) < 11:
        raise ValueError(f"pred and target must be (B, C, H, W) with H, W ≥ 11 (SSIM's 11×11 window); got {tuple(pred.shape)}")
    # SSIM averaged over the batch, channels and pixels: a scalar in [−1, 1], 1 for identical images
    similarity = structural_similarity_index_measure(pred, target, data_range=data_range)
    # λ_s·(1 − SSIM) + λ_2·MSE
    return ssim_weight * (1.0 - similarity) + l2_weight * F.mse_loss(pred, target)


def ntire_mu_loss(pred: torch.Tensor, target: torch.Tensor, gamma: float = 2.24, percentile: float = 99.0,
                  mu: float = MU) -> torch.Tensor:
    """The NTIRE 2021 "mu-loss" that ADNet trains with, for gamma-encoded HDR (NTIRE ground truth exceeds 1).

        P = pred^γ,  Y = target^γ                      linearise (γ = 2.24, the challenge's gamma)
        n = 99th percentile of P                        a constant: computed without gradient, as the official
                                                        code does (numpy, linear interpolation)
        L = mean |T(tanh(P / n)) − T(tanh(Y / n))|      T = μ-law, μ = 5000

    tanh(·/n) squashes the unbounded values into [0, 1) before the μ-law, with the prediction's own brightness
    as the scale. The authors report that the percentile of the target works as well (liuzhen03/ADNet#15).

    Args:
        pred: (B, 3, H, W) or any shape, gamma-encoded HDR ≥ 0 (ADNet's ReLU output).
        target: same shape, gamma-encoded ground truth.
        gamma: γ of the linearisation (2.24); percentile: the normalising percentile (99); mu: μ (5000).
    Returns:
        scalar tensor, differentiable with respect to ``pred``.
    Raises:
        ValueError: ``pred`` has negative values (a fractional power of them is NaN).
    Deviation: n is floored at 1e-8 so that an all-zero prediction (a dead ReLU) does not divide by zero.

    Paper: Liu et al., "ADNet", CVPRW 2021 (official ``graphs/loss/muloss.py``); Pérez-Pellitero et al.,
    "NTIRE 2021 Challenge on High Dynamic Range Imaging", CVPRW 2021 (the μ-PSNR it mirrors).
    """
    import numpy as np

    _check_pair(pred, target)
    if bool((pred.detach() < 0).any()):
        raise ValueError("pred must be ≥ 0 (gamma-encoded HDR, e.g. after a ReLU) before the power γ; "
                         f"got a minimum of {float(pred.detach().min()):.4g}")
    pred_linear, target_linear = pred**gamma, target**gamma
    norm = float(np.percentile(pred_linear.detach().float().cpu().numpy(), percentile))
    norm = max(norm, 1e-8)
    return F.l1_loss(mu_law(torch.tanh(pred_linear / norm), mu), mu_law(torch.tanh(target_linear / norm), mu))


def mqnet_loss(pred: torch.Tensor, target: torch.Tensor, cosine_weight: float = 0.1) -> torch.Tensor:
    """MQNet's released training loss without its VGG term:  L = L2 + L1 + 0.1 · L_cos.

        L2    = mean (ŷ − y)²,   L1 = mean |ŷ − y|          (on the min–max normalised HDR, no μ-law)
        L_cos = 1 − ⟨ŷ / ‖ŷ‖, y / ‖y‖⟩                       one global cosine over the whole batch tensor

    The released loss (BCJuan/ITMMQNet ``hdrml/losses.py``) also adds 0.05 · L_perc, the mean |φ(ŷ) − φ(y)| of
    ImageNet VGG16 features (block1_pool … block3_pool). Those weights cannot be had offline (no torchvision, no
    model hub in hdredu), so that term is left out here. ``tf.nn.l2_normalize`` without an axis normalises the
    whole tensor, hence one cosine for the batch, not one per image.

    Args:
        pred: (B, 3, H, W) prediction ŷ (MQNet's output). target: same shape, y, normalised to [0, 1].
        cosine_weight: weight of L_cos (0.1).
    Returns:
        scalar tensor.
    Paper: Borrego-Carazo et al., BMVC 2021, Sec. 3.3 (loss); reference/mqnet.md §4.
    """
    _check_pair(pred, target)
    l2 = F.mse_loss(pred, target)
    l1 = F.l1_loss(pred, target)
    # x / max(‖x‖, 1e-6): tf.nn.l2_normalize's guard against a zero tensor (it clamps ‖x‖² at 1e-12)
    unit_pred = pred.flatten() / pred.norm().clamp_min(1e-6)
    unit_target = target.flatten() / target.norm().clamp_min(1e-6)
    cosine = 1.0 - (unit_pred * unit_target).sum()
    return l2 + l1 + cosine_weight * cosine
