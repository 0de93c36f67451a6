"""Image-quality metrics for HDR.

| function | what | label in plots |
|---|---|---|
| :func:`psnr_l` | PSNR on linear HDR, peak 1 | "PSNR-L" |
| :func:`psnr_mu` | PSNR after μ-law (μ = 5000), peak 1 | "PSNR-μ (μ = 5000)" |
| :func:`ssim` | SSIM, Gaussian window 11, σ 1.5 (Wang et al.) | "SSIM" |
| :func:`pu21_encode`, :func:`pu21_psnr`, :func:`pu21_ssim` | PU21 perceptually uniform encoding of cd/m² | "PU21-PSNR (peak L nits)" |
| :func:`hdrvdp2_q` | HDR-VDP-2.2 Q, hdredu's own implementation | "HDR-VDP-2.2 Q" |
| :func:`psnr_display`, :func:`hdrvdp2_q_display` | PSNR and HDR-VDP-2.2 Q of display images in [0, 1] | "PSNR (display, [0, 1])" |
| :func:`jod` | ColorVideoVDP, optional extra | "ColorVideoVDP JOD (display model)" |

HDR-VDP-2.2 (Q, probability map) lives in :mod:`hdredu.metrics.hdrvdp2`; it is a different metric from
ColorVideoVDP and the two are never mixed up.

Inputs are torch tensors (B, C, H, W) or (C, H, W); scores are computed per image and averaged over the
batch (the Kalantari convention), returned as Python floats.
Introduced in notebooks/00_hdr_basics.ipynb, section *Measuring*.
"""

from __future__ import annotations

import math

import torch

from hdredu.imaging.tonemap import MU, mu_law, rgb_luminance

LABELS = {
    "psnr_l": "PSNR-L",
    "psnr_mu": "PSNR-μ (μ = 5000)",
    "psnr_display": "PSNR (display, [0, 1])",
    "ssim": "SSIM",
    "pu21_psnr": "PU21-PSNR",
    "pu21_ssim": "PU21-SSIM",
    "jod": "ColorVideoVDP JOD",
    "hdrvdp2_q": "HDR-VDP-2.2 Q",
    "hdrvdp2_q_display": "HDR-VDP-2.2 Q (sRGB display)",
}


def _check_image(image, name: str) -> torch.Tensor:
    """``image`` as a float tensor, refusing what no metric can score: non-float values, NaN / Inf, a layout
    that is not (B, C, H, W) or (C, H, W) with C = 1 or 3."""
    if not isinstance(image, torch.Tensor):
        if not hasattr(image, "__array__"):
            raise TypeError(f"{name} must be a torch tensor (B, C, H, W) or (C, H, W); got {type(image).__name__}")
        image = torch.as_tensor(image)
    if not image.is_floating_point():
        raise TypeError(f"{name} must hold floating-point values (linear radiance or display values in [0, 1]); "
                        f"got dtype {image.dtype}. Read images with hdredu.io (8/16-bit files come back in [0, 1]) "
                        "or convert with .float() / 255 yourself")
    if image.dim() not in (3, 4):
        raise ValueError(f"{name} must be (B, C, H, W) or (C, H, W); got shape {tuple(image.shape)}")
    channels = image.shape[-3]
    if channels not in (1, 3):
        hint = (" — it looks like an (H, W, 3) array as hdredu.io.read_hdr returns; convert it with "
                "hdredu.io.to_tensor" if image.shape[-1] in (1, 3) else "")
        raise ValueError(f"{name} must have 1 or 3 channels in (B, C, H, W) or (C, H, W) order; got shape "
                         f"{tuple(image.shape)}{hint}")
    bad = (~torch.isfinite(image)).sum()
    if bad:
        raise ValueError(f"{name} holds {int(bad)} NaN or Inf values; a metric cannot score non-finite pixels")
    return image


def _as_batch(pred, target) -> tuple[torch.Tensor, torch.Tensor]:
    """Check two images (see :func:`_check_image`) of the same shape; return them as (B, C, H, W) float32."""
    pred, target = _check_image(pred, "pred"), _check_image(target, "target")
    if pred.shape != target.shape:
        raise ValueError(f"pred and target must have the same shape; got {tuple(pred.shape)} and {tuple(target.shape)}")
    if pred.dim() == 3:
        pred, target = pred.unsqueeze(0), target.unsqueeze(0)
    return pred.float(), target.float()


def _check_radiance(target: torch.Tensor, metric: str, scaled_to_nits: bool = True) -> None:
    """An HDR reference must be non-negative relative radiance, with some light in every image when the metric
    scales its peak to cd/m²."""
    if (target < 0).any():
        raise ValueError(f"{metric}: target must be non-negative linear radiance; its minimum is {float(target.min()):.4g}")
    if scaled_to_nits and (target.flatten(1).amax(dim=1) <= 0).any():
        raise ValueError(f"{metric}: a target image is all zero: its scale to cd/m² (peak_nits / max) is undefined")


def _check_peak(peak_nits: float) -> None:
    if not (isinstance(peak_nits, (int, float)) and math.isfinite(peak_nits) and peak_nits > 0):
        raise ValueError(f"peak_nits must be a positive number of cd/m²; got {peak_nits!r}")


def psnr(pred: torch.Tensor, target: torch.Tensor, peak: float = 1.0) -> float:
    """PSNR = 10 log10(peak² / MSE), per image, averaged over the batch. Identical images give +inf."""
    pred, target = _as_batch(pred, target)
    mse = ((pred - target) ** 2).flatten(1).mean(dim=1).double()
    return float((10.0 * torch.log10(peak**2 / mse)).mean())


def psnr_l(pred: torch.Tensor, target: torch.Tensor) -> float:
    """PSNR-L: PSNR on linear HDR with peak 1 and no normalisation (Kalantari convention)."""
    return psnr(pred, target, peak=1.0)


def psnr_mu(pred: torch.Tensor, target: torch.Tensor, mu: float = MU) -> float:
    """PSNR-μ: PSNR(T(pred), T(target)) with T the μ-law (μ = 5000), peak 1; both clipped to [0, 1] (Kalantari).

    The target must be non-negative radiance; the prediction may stray outside [0, 1] (it is clipped).
    """
    pred, target = _as_batch(pred, target)
    _check_radiance(target, "psnr_mu", scaled_to_nits=False)
    return psnr(mu_law(pred.clamp(0, 1), mu), mu_law(target.clamp(0, 1), mu), peak=1.0)


def ssim(pred: torch.Tensor, target: torch.Tensor, data_range: float = 1.0) -> float:
    """SSIM with the standard Gaussian window (11×11, σ = 1.5, K1 = 0.01, K2 = 0.03), mean over channels.

    Uses torchmetrics (differentiable). It matches ``skimage.metrics.structural_similarity(...,
    gaussian_weights=True, sigma=1.5, use_sample_covariance=False)`` inside the image; the two differ by
    ≈1e-3 overall because torchmetrics averages over reflect-padded borders where skimage drops them.
    """
    from torchmetrics.functional.image import structural_similarity_index_measure

    pred, target = _as_batch(pred, target)
    # SSIM is unchanged when both images and the data range are scaled alike; computing it on x / range keeps
    # the variances E[x²] − E[x]² from cancelling in float32 for large values (PU21 units reach 600)
    return float(structural_similarity_index_measure(pred / data_range, target / data_range, data_range=1.0))


def psnr_display(pred: torch.Tensor, target: torch.Tensor) -> float:
    """PSNR of display images in [0, 1] (peak 1), the prediction clipped to [0, 1] as a display would show it.

    Raises:
        ValueError: the target is not a display image (values outside [0, 1]).
    """
    pred, target = _as_batch(pred, target)
    if target.min() < 0 or target.max() > 1:
        raise ValueError(f"psnr_display: target must be a display image in [0, 1]; got range "
                         f"[{float(target.min()):.4g}, {float(target.max()):.4g}] (for radiance use psnr_mu / psnr_l)")
    return psnr(pred.clamp(0, 1), target, peak=1.0)


# ---------------------------------------------------------------------------------------------------------
# PU21 (Mantiuk & Azimi, PCS 2021), banding_glare parameters.
#   V = p6 · ( ((p0 + p1·L^p3) / (1 + p2·L^p3))^p4 − p5 ),  L in cd/m² clamped to [0.005, 10000]
# ---------------------------------------------------------------------------------------------------------
PU21_PARAMS = (0.353487901, 0.3734658629, 8.277049286e-05, 0.9062562627, 0.09150303166, 0.9099517204, 596.3148142)
PU21_LUMINANCE_RANGE = (0.005, 10000.0)
PU21_PEAK = 256.0  # the PSNR peak used by gfxdisp/pu21's pu21_metric.m (≈ encode(100 cd/m²))


def pu21_encode(luminance: torch.Tensor) -> torch.Tensor:
    """PU21 encoding of absolute luminance (cd/m²); encode(0.005) = 0, encode(100) ≈ 256.4, encode(10⁴) ≈ 595.4."""
    p0, p1, p2, p3, p4, p5, p6 = PU21_PARAMS
    lum_p3 = torch.as_tensor(luminance).clamp(*PU21_LUMINANCE_RANGE) ** p3
    return p6 * (((p0 + p1 * lum_p3) / (1.0 + p2 * lum_p3)) ** p4 - p5)


def pu21_decode(encoded: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`pu21_encode` inside its luminance range."""
    p0, p1, p2, p3, p4, p5, p6 = PU21_PARAMS
    vp = (encoded / p6 + p5).clamp_min(0.0) ** (1.0 / p4)
    return ((vp - p0).clamp_min(0.0) / (p1 - p2 * vp)) ** (1.0 / p3)


def to_nits(hdr: torch.Tensor, peak_nits: float = 4000.0, reference: torch.Tensor | None = None) -> torch.Tensor:
    """Scale relative radiance to absolute luminance as gfxdisp/pu21 does:  I / max(I_ref) · L_peak.

    Args:
        hdr: (B, C, H, W) or (C, H, W) relative radiance.
        reference: the image whose maximum sets the scale (default ``hdr`` itself); pass the ground
            truth when scaling a prediction so both use the same factor.
    """
    reference = hdr if reference is None else reference
    return hdr / reference.amax().clamp_min(1e-12) * peak_nits


def _pu21_pair(pred, target, peak_nits):
    pred, target = _as_batch(pred, target)
    _check_peak(peak_nits)
    _check_radiance(target, "PU21")
    scale = lambda x: to_nits(x, peak_nits, reference=target)  # noqa: E731  same factor for both
    encode = lambda x: pu21_encode(rgb_luminance(scale(x)) if x.shape[1] == 3 else scale(x))  # noqa: E731
    return encode(pred), encode(target)


def pu21_psnr(pred: torch.Tensor, target: torch.Tensor, peak_nits: float = 4000.0) -> float:
    """PU21-PSNR: PSNR of PU21-encoded luminance (peak 256), after scaling both by the target's maximum
    to ``peak_nits`` cd/m² (state that number in figure captions)."""
    pu_pred, pu_target = _pu21_pair(pred, target, peak_nits)
    return psnr(pu_pred, pu_target, peak=PU21_PEAK)


def pu21_ssim(pred: torch.Tensor, target: torch.Tensor, peak_nits: float = 4000.0) -> float:
    """PU21-SSIM: SSIM of PU21-encoded luminance with data range 256 (same scaling as :func:`pu21_psnr`)."""
    pu_pred, pu_target = _pu21_pair(pred, target, peak_nits)
    return ssim(pu_pred, pu_target, data_range=PU21_PEAK)


def hdrvdp2_q(pred: torch.Tensor, target: torch.Tensor, peak_nits: float = 1000.0,
              pixels_per_degree: float | None = None) -> float:
    """HDR-VDP-2.2 Q of relative linear RGB images (hdredu's own implementation, :mod:`hdredu.metrics.hdrvdp2`).

    Luminance of both is scaled so that the target peaks at ``peak_nits`` cd/m² (state it in captions);
    Q per image (100 = identical), averaged over the batch. Label: "HDR-VDP-2.2 Q".
    """
    from hdredu.metrics.hdrvdp2 import hdrvdp2
    from hdredu.metrics.hdrvdp2.inputs import DEFAULT_PPD

    pred, target = _as_batch(pred, target)
    _check_peak(peak_nits)
    _check_radiance(target, "hdrvdp2_q")
    ppd = DEFAULT_PPD if pixels_per_degree is None else pixels_per_degree
    scores = []
    for p, t in zip(pred, target):
        luminance = lambda x: rgb_luminance(to_nits(x.clamp_min(0), peak_nits, reference=t))[0].double().numpy()  # noqa: E731
        scores.append(hdrvdp2(luminance(p), luminance(t), "luminance", ppd).Q)
    return sum(scores) / len(scores)


def hdrvdp2_q_display(pred: torch.Tensor, target: torch.Tensor, pixels_per_degree: float | None = None) -> float:
    """HDR-VDP-2.2 Q of display images in [0, 1] seen on a standard sRGB display (the metric's "sRGB-display"
    encoding: peak 100 cd/m², black 1 cd/m²), for tasks whose output is a picture (operator imitation, low
    light). The prediction is clipped to [0, 1], as the display would show it. Label: "HDR-VDP-2.2 Q (sRGB display)".
    """
    from hdredu.metrics.hdrvdp2 import hdrvdp2
    from hdredu.metrics.hdrvdp2.inputs import DEFAULT_PPD

    pred, target = _as_batch(pred, target)
    if target.min() < 0 or target.max() > 1 or target.shape[1] != 3:
        raise ValueError("hdrvdp2_q_display: target must be an RGB display image in [0, 1]; for radiance use hdrvdp2_q")
    ppd = DEFAULT_PPD if pixels_per_degree is None else pixels_per_degree
    as_hwc = lambda x: x.clamp(0, 1).permute(1, 2, 0).double().numpy()  # noqa: E731
    scores = [hdrvdp2(as_hwc(p), as_hwc(t), "sRGB-display", ppd).Q for p, t in zip(pred, target)]
    return sum(scores) / len(scores)


# ---------------------------------------------------------------------------------------------------------
# ColorVideoVDP (optional extra). Never labelled "HDR-VDP".
# ---------------------------------------------------------------------------------------------------------
CVVDP_INSTALL_HINT = (
    "ColorVideoVDP (JOD) is optional and not installed. Install it without its torchvision requirement:\n"
    "    pip install --no-deps cvvdp==0.5.7 && pip install einops huggingface_hub ffmpeg-python\n"
    "(listing cvvdp normally would pull torchvision and a CUDA build of torch)."
)


def cvvdp_available() -> bool:
    """True when the optional ``cvvdp`` package (import name ``pycvvdp``) can be imported."""
    try:
        _import_pycvvdp()
    except ImportError:
        return False
    return True


def _import_pycvvdp():
    """Import pycvvdp, first registering a small torchvision stand-in if the real one cannot be imported.

    pycvvdp only needs ``torchvision.transforms.GaussianBlur`` for the standard metric; no CPU torchvision
    build exists for this environment, so hdredu provides that one class (reflect padding, normalised
    separable Gaussian, as torchvision computes it).
    """
    import importlib.util
    import sys

    if importlib.util.find_spec("pycvvdp") is None:
        raise ImportError(CVVDP_INSTALL_HINT)
    try:
        import torchvision  # noqa: F401
    except Exception:  # absent, or a CUDA-only build that fails at import
        for name in [m for m in sys.modules if m == "torchvision" or m.startswith("torchvision.")]:
            del sys.modules[name]
        from hdredu.metrics import _torchvision_standin

        _torchvision_standin.install()
    import pycvvdp

    return pycvvdp


def jod(pred: torch.Tensor, target: torch.Tensor, peak_nits: float = 1500.0,
        display_name: str = "standard_hdr_linear") -> float:
    """ColorVideoVDP JOD (10 = identical) of a prediction against a reference, both relative linear RGB.

    Both are scaled by the target's maximum to ``peak_nits`` cd/m² (the display's peak). Label the result
    "ColorVideoVDP JOD (display_name)"; it is not HDR-VDP and not comparable to HDR-VDP-2 Q.

    Raises:
        ImportError: with install instructions when cvvdp is not installed.
    """
    pycvvdp = _import_pycvvdp()
    pred, target = _as_batch(pred, target)
    metric = pycvvdp.cvvdp(display_name=display_name, device=torch.device("cpu"), quiet=True)
    scores = []
    for p, t in zip(pred, target):
        test_nits = to_nits(p, peak_nits, reference=t).permute(1, 2, 0)
        ref_nits = to_nits(t, peak_nits).permute(1, 2, 0)
        score, _ = metric.predict(test_nits, ref_nits, dim_order="HWC")
        scores.append(float(score))
    return sum(scores) / len(scores)


# ---------------------------------------------------------------------------------------------------------
# Tables over methods and regions.
# ---------------------------------------------------------------------------------------------------------


def score_table(estimates: dict[str, list[torch.Tensor]], targets: list[torch.Tensor],
                names: tuple[str, ...] = ("psnr_mu", "psnr_l")) -> dict[str, dict[str, float]]:
    """{method: {metric: score}}: each metric per image, then averaged over images (the Kalantari convention).

    Args:
        estimates: {method: one (C, H, W) prediction per target}.
        targets: the ground truths, in the same order.
        names: metric names (keys of :func:`metric_functions`).
    """
    functions = metric_functions()
    unknown = [name for name in names if name not in functions]
    if unknown:
        raise ValueError(f"unknown metric names {unknown}; choose from {sorted(functions)}")
    for method, predictions in estimates.items():
        if len(predictions) != len(targets):
            raise ValueError(f"{method!r} has {len(predictions)} predictions for {len(targets)} targets")
    return {method: {name: sum(functions[name](p, t) for p, t in zip(predictions, targets)) / len(targets)
                     for name in names} for method, predictions in estimates.items()}


def pooled_psnr_mu(predictions: list[torch.Tensor], targets: list[torch.Tensor], masks: list[torch.Tensor],
                   mu: float = MU) -> float:
    """PSNR-μ over the pixels where ``masks`` are true, the squared errors pooled over all images.

    Args:
        predictions, targets: (3, H, W) each.
        masks: (1, H, W) or (H, W) booleans per image (e.g. where the reference frame clips).
    Raises:
        ValueError: the masks select no pixel at all.
    """
    errors = []
    for pred, target, mask in zip(predictions, targets, masks):
        pred, target = _as_batch(pred, target)
        _check_radiance(target, "pooled_psnr_mu", scaled_to_nits=False)
        squared = (mu_law(pred[0].clamp(0, 1), mu) - mu_law(target[0].clamp(0, 1), mu)) ** 2  # (3, H, W)
        errors.append(squared[mask.bool().expand_as(squared)])
    pooled = torch.cat(errors)
    if pooled.numel() == 0:
        raise ValueError("the masks select no pixel: PSNR-μ of an empty region is undefined")
    return float(10.0 * torch.log10(1.0 / pooled.double().mean()))


def metric_functions() -> dict:
    """{name: fn(pred, target) → float} of every metric hdredu computes, keyed like :data:`LABELS`
    (ColorVideoVDP JOD only when its optional package is installed)."""
    functions = {"psnr_l": psnr_l, "psnr_mu": psnr_mu, "psnr_display": psnr_display, "ssim": ssim,
                 "pu21_psnr": pu21_psnr, "pu21_ssim": pu21_ssim, "hdrvdp2_q": hdrvdp2_q,
                 "hdrvdp2_q_display": hdrvdp2_q_display}
    if cvvdp_available():
        functions["jod"] = jod
    return functions


__all__ = [
    "LABELS", "metric_functions", "psnr_display", "score_table", "pooled_psnr_mu", "psnr", "psnr_l", "psnr_mu", "ssim", "pu21_encode", "pu21_decode", "pu21_psnr", "pu21_ssim",
    "to_nits", "hdrvdp2_q", "hdrvdp2_q_display", "jod", "cvvdp_available",
]
