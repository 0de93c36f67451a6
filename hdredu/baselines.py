"""The classical pipeline every network must beat, through OpenCV where it has it.

| baseline | what it does | output |
|---|---|---|
| :func:`reference_alone` | the reference frame, linearised: f⁻¹(Z_ref) / t_ref | radiance, clipped where Z_ref saturates |
| :func:`debevec_merge` | Debevec & Malik (1997) weighted merge, known or calibrated CRF | radiance |
| :func:`mertens_fusion` | Mertens et al. (2007) exposure fusion (a display image, not radiance) | linearised like the reference |
| :func:`tonemap` | OpenCV's Reinhard / Drago / Mantiuk operators, or plain gamma | display image in [0, 1] |
| :func:`unsharp_mask` | x + k (x − G_σ * x): local, not edge-aware (for operator imitation) | display image |
| :func:`best_global_curve` | per-channel look-up table fitted on the target itself (an oracle bound) | display image |
| :func:`linearize` | one LDR picture as radiance: V^γ, exposure-matched to a reference (oracle) or min–max | radiance |
| :func:`inverse_reinhard` | Banterle's expansion: invert Reinhard's global curve (inverse tone mapping) | radiance |

Inputs of the merge baselines are :class:`hdredu.data.synthetic.Brackets` or :class:`Exposures` (anything with
``ldr``, ``exposure_times``, ``ref_idx`` and ``crf``); :meth:`Exposures.from_model_input` rebuilds one from a
merge model's input, so real datasets get the same baselines. Outputs are torch (3, H, W) float32, RGB. BGR
exists only inside this file.
Introduced in notebooks/00_hdr_basics.ipynb, section *Merging brackets*.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from hdredu.imaging.camera import crf_pair
from hdredu.imaging.tonemap import exposure_tonemap, min_max, rgb_luminance
from hdredu.utils import check_shape


@dataclass
class Exposures:
    """An exposure stack as the merge baselines need it.

    Attributes:
        ldr: (N, 3, H, W) frames in [0, 1], short → long.
        exposure_times: (N,) times t_i (relative; the shortest is 1 in Kalantari's convention).
        ref_idx: index of the reference frame.
        crf: camera response name in ``hdredu.imaging.camera.CRFS`` ("gamma" when unknown).
    """

    ldr: torch.Tensor
    exposure_times: torch.Tensor
    ref_idx: int
    crf: str = "gamma"

    @classmethod
    def from_model_input(cls, inputs: torch.Tensor, gamma: float = 2.2) -> Exposures:
        """Rebuild the stack from a merge model's input  X_i = [L_i, L_i^γ / t_i]  (N, 6, H, W).

        t_i = median over pixels of L_i^γ / (L_i^γ / t_i), exact up to rounding; the response is taken to be
        the γ curve the input mapping assumes, and the reference is the middle frame.
        """
        check_shape(inputs, "N 6 H W", "inputs")
        ldr, linear = inputs[:, :3], inputs[:, 3:]
        times = []
        for k in range(len(inputs)):
            lit = linear[k] > 1e-6  # pixels with light: the ratio is defined there
            if not lit.any():
                raise ValueError(f"frame {k} of inputs is black: its exposure time cannot be recovered")
            times.append((ldr[k][lit].clamp(0, 1) ** gamma / linear[k][lit]).median())
        return cls(ldr.clamp(0, 1), torch.stack(times).float(), len(inputs) // 2, "gamma")


def _frames_uint8_bgr(ldr: torch.Tensor) -> list[np.ndarray]:
    """(N, 3, H, W) in [0, 1] → list of (H, W, 3) uint8 BGR arrays for OpenCV."""
    frames = (ldr.clamp(0, 1) * 255.0).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()
    return [np.ascontiguousarray(frame[..., ::-1]) for frame in frames]


def _to_rgb_tensor(bgr: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(bgr[..., ::-1].transpose(2, 0, 1), dtype=np.float32))


def known_response(crf: str = "gamma") -> np.ndarray:
    """OpenCV response table (256, 1, 3): the exposure f⁻¹(z/255) that produced pixel value z.

    z = 0 would give f⁻¹ = 0 and log 0 = −∞ inside the merge, so it is evaluated half a step up.
    """
    _, inverse = crf_pair(crf)
    z = torch.arange(256, dtype=torch.float64).clamp_min(0.5) / 255.0
    table = inverse(z).float().numpy()
    return np.repeat(table.reshape(256, 1, 1), 3, axis=2).astype(np.float32)


def reference_alone(brackets, gamma: float | None = None) -> torch.Tensor:
    """The single reference exposure brought to radiance: H = f⁻¹(Z_ref) / t_ref  → (3, H, W).

    Uses the known CRF of the brackets (or a gamma curve if ``gamma`` is given). Saturated pixels stay
    clipped at 1 / t_ref: this is what the merge has to improve on.
    """
    _, inverse = crf_pair(brackets.crf)
    ref = brackets.ldr[brackets.ref_idx]
    linear = ref.clamp(0, 1) ** gamma if gamma is not None else inverse(ref)
    return linear / brackets.exposure_times[brackets.ref_idx]


def debevec_merge(brackets, crf: str = "known") -> torch.Tensor:
    """Debevec & Malik's merge  ln H = Σ_i w(Z_i)(ln f⁻¹(Z_i) − ln t_i) / Σ_i w(Z_i)  (OpenCV MergeDebevec).

    Args:
        brackets: the exposure stack.
        crf: "known" uses the camera's true response; "calibrated" estimates it from the frames
            (OpenCV CalibrateDebevec), whose arbitrary scale is then fixed by matching the reference frame's
            well-exposed pixels (median ratio).
    Returns:
        (3, H, W) radiance in the units of the ground truth.
    """
    frames = _frames_uint8_bgr(brackets.ldr)
    times = brackets.exposure_times.numpy().astype(np.float32)
    if crf == "known":
        response = known_response(brackets.crf)
    elif crf == "calibrated":
        response = cv2.createCalibrateDebevec().process(frames, times)
    else:
        raise ValueError(f"crf must be 'known' or 'calibrated'; got {crf!r}")
    merged = _to_rgb_tensor(cv2.createMergeDebevec().process(frames, times, response))
    merged = torch.nan_to_num(merged, nan=0.0, posinf=0.0).clamp_min(0.0)
    return merged if crf == "known" else _match_reference_scale(merged, brackets)


def _match_reference_scale(radiance: torch.Tensor, brackets) -> torch.Tensor:
    """Scale ``radiance`` so that its median ratio to the linearised reference is 1 on well-exposed pixels."""
    reference = reference_alone(brackets)
    ref_ldr = brackets.ldr[brackets.ref_idx]
    well_exposed = ((ref_ldr > 0.1) & (ref_ldr < 0.9)).all(dim=0)
    if well_exposed.sum() < 16:
        return radiance
    ratio = (reference[:, well_exposed] / radiance[:, well_exposed].clamp_min(1e-8)).median()
    return radiance * ratio


def mertens_fusion(brackets) -> torch.Tensor:
    """Mertens et al. exposure fusion (contrast, saturation, well-exposedness weights; OpenCV MergeMertens).

    Fusion makes a display image, not radiance; to compare it with the ground truth it is linearised like
    the reference frame, f⁻¹(clip(F, 0, 1)) / t_ref, so its highlights stay bounded by 1 / t_ref.
    Returns (3, H, W).
    """
    fused = cv2.createMergeMertens().process(_frames_uint8_bgr(brackets.ldr))
    _, inverse = crf_pair(brackets.crf)
    display = _to_rgb_tensor(np.clip(fused, 0.0, 1.0))
    return inverse(display) / brackets.exposure_times[brackets.ref_idx]


def tonemap(hdr: torch.Tensor, method: str = "reinhard", gamma: float = 2.2) -> torch.Tensor:
    """Tone-map (3, H, W) radiance to a (3, H, W) display image in [0, 1] with an OpenCV operator.

    Args:
        method: "reinhard" (global, Reinhard 2005 in OpenCV), "drago", "mantiuk" (local contrast), or
            "gamma" (scale the 99th percentile to 1, clip, gamma).
    """
    if method == "gamma":
        return exposure_tonemap(hdr.detach().float(), None, gamma)
    image = np.ascontiguousarray(hdr.detach().float().numpy().transpose(1, 2, 0)[..., ::-1])
    operators = {
        "reinhard": lambda: cv2.createTonemapReinhard(gamma=gamma),
        "drago": lambda: cv2.createTonemapDrago(gamma=gamma),
        "mantiuk": lambda: cv2.createTonemapMantiuk(gamma=gamma),
    }
    if method in operators:
        # Each OpenCV operator first rescales to [0, 1] by (x − min) / (max − min), and OpenCV warns on every
        # such scalar expression over a 3-channel array (opencv/opencv#16739). Shifting the minimum to 0 here
        # leaves that rescale, and so the result, unchanged, and the warning never fires.
        image = (image - image.min()).astype(np.float32)
        display = np.nan_to_num(operators[method]().process(image))  # Drago can make NaN
    else:
        raise ValueError(f"method must be one of {['gamma', *operators]}; got {method!r}")
    return _to_rgb_tensor(np.clip(display, 0.0, 1.0))


# ---------------------------------------------------------------------------------------------------------
# Operator imitation (HDRNet's task): what a network that learns a local operator has to beat.
# ---------------------------------------------------------------------------------------------------------


def unsharp_detail(image: torch.Tensor, sigma_fraction: float = 0.15) -> torch.Tensor:
    """The detail layer  x − G_σ * x  with σ a fraction of the longer side (separable Gaussian, reflect padding).

    (3, H, W) → (3, H, W). The scale is relative, like :func:`hdredu.data.operator_pairs.detail_enhance`.
    """
    check_shape(image, "C H W", "image")
    sigma = sigma_fraction * max(image.shape[-2:])
    radius = min(math.ceil(3 * sigma), min(image.shape[-2:]) - 1)  # reflect padding needs radius < side
    kernel = torch.exp(-0.5 * (torch.arange(-radius, radius + 1.0) / sigma) ** 2)
    kernel = (kernel / kernel.sum()).to(image.dtype)
    channels = image.shape[0]
    blurred = F.pad(image[None], (radius, radius, radius, radius), mode="reflect")
    blurred = F.conv2d(blurred, kernel.view(1, 1, 1, -1).expand(channels, 1, 1, -1), groups=channels)
    blurred = F.conv2d(blurred, kernel.view(1, 1, -1, 1).expand(channels, 1, -1, 1), groups=channels)
    return image - blurred[0]


def fit_unsharp_amount(pairs, sigma_fraction: float = 0.15) -> float:
    """Least-squares amount k of  y ≈ x + k · detail(x)  over (input, target) pairs (fit it on training data)."""
    details = torch.cat([unsharp_detail(x, sigma_fraction).flatten() for x, _ in pairs])
    changes = torch.cat([(y - x).flatten() for x, y in pairs])
    return float((details * changes).sum() / (details * details).sum().clamp_min(1e-12))


def unsharp_mask(image: torch.Tensor, amount: float, sigma_fraction: float = 0.15) -> torch.Tensor:
    """A classical unsharp mask  x + k (x − G_σ * x):  local but not edge-aware, so it halos at strong edges."""
    return image + amount * unsharp_detail(image, sigma_fraction)


def best_global_curve(inputs: torch.Tensor, target: torch.Tensor, bins: int = 256) -> torch.Tensor:
    """Per channel, the mean target value of the pixels in each input bin: the best position-independent curve.

    An oracle (it sees the target), so it bounds what any global operator could reach; a network that beats it
    learned something local. (3, H, W) inputs in [0, 1] → (3, H, W).
    """
    check_shape(inputs, "C H W", "inputs")
    out = torch.empty_like(inputs)
    for c in range(inputs.shape[0]):
        index = (inputs[c].clamp(0, 1) * (bins - 1)).round().long().flatten()
        sums = torch.zeros(bins).index_add_(0, index, target[c].flatten().float())
        counts = torch.zeros(bins).index_add_(0, index, torch.ones(index.numel()))
        out[c] = (sums / counts.clamp(min=1))[index].view_as(inputs[c])
    return out


# ---------------------------------------------------------------------------------------------------------
# Single-image inverse tone mapping (MQNet's task): undo the tone curve; neither restores clipped detail.
# Paper: Banterle, Ledda, Debattista, Chalmers, "Inverse tone mapping", GRAPHITE 2006 (inverse Reinhard).
# ---------------------------------------------------------------------------------------------------------


def _check_ldr(ldr: torch.Tensor) -> None:
    if not isinstance(ldr, torch.Tensor) or ldr.dim() not in (3, 4) or ldr.shape[-3] != 3:
        raise ValueError(f"ldr must be (3, H, W) or (B, 3, H, W); got {getattr(ldr, 'shape', type(ldr).__name__)}")
    if ldr.min() < 0 or ldr.max() > 1:
        raise ValueError(f"ldr must hold values in [0, 1]; got min {ldr.min().item():.4g}, max {ldr.max().item():.4g}")


def match_exposure(radiance: torch.Tensor, ldr: torch.Tensor, reference: torch.Tensor,
                   low: float = 0.05, high: float = 0.95) -> torch.Tensor:
    """Scale ``radiance`` so its median ratio to ``reference`` is 1 on pixels well exposed in ``ldr`` (all channels
    in (low, high)); an oracle that fixes the unknown exposure of a single LDR image. Shapes as the inputs."""
    if reference.shape != radiance.shape:
        raise ValueError(f"reference must have the shape of ldr {tuple(ldr.shape)}; got {tuple(reference.shape)}")
    batched = radiance.dim() == 4
    radiance_b, ldr_b, reference_b = (t if batched else t[None] for t in (radiance, ldr, reference))
    scaled = []
    for rad, image, ref in zip(radiance_b, ldr_b, reference_b):
        good = ((image > low) & (image < high)).all(dim=0)  # (H, W)
        if good.sum() < 16:  # almost nothing well exposed: fall back to all pixels
            good = torch.ones_like(good)
        ratio = (ref[:, good] / rad[:, good].clamp_min(1e-8)).median()
        scaled.append(rad * ratio)
    out = torch.stack(scaled)
    return out if batched else out[0]


def linearize(ldr: torch.Tensor, gamma: float = 2.2, reference: torch.Tensor | None = None) -> torch.Tensor:
    """The LDR image as radiance: L = V^γ, exposure-matched to ``reference`` or min–max normalised.

    Args:
        ldr: (3, H, W) or (B, 3, H, W) gamma-encoded LDR in [0, 1].
        gamma: γ of the display encoding to undo (2.2).
        reference: HDR of the same shape to match the exposure to (median ratio on well-exposed pixels);
            None = min–max normalise each image to [0, 1], the scale of MQNet's training target.
    Returns:
        same shape as ``ldr``, linear; saturated pixels stay flat.
    """
    _check_ldr(ldr)
    if not gamma > 0:
        raise ValueError(f"gamma must be positive; got {gamma}")
    linear = ldr**gamma
    return min_max(linear) if reference is None else match_exposure(linear, ldr, reference)


def inverse_reinhard(ldr: torch.Tensor, white: float = 100.0, gamma: float = 2.2,
                     reference: torch.Tensor | None = None) -> torch.Tensor:
    """Banterle's inverse of Reinhard's global operator: expand display luminance back to radiance.

    Reinhard maps radiance luminance L to display luminance L_d = L (1 + L / L_w²) / (1 + L). Solving the
    quadratic L² / L_w² + (1 − L_d) L − L_d = 0 for L ≥ 0:

        L = (L_w² / 2) · ( −(1 − L_d) + sqrt((1 − L_d)² + 4 L_d / L_w²) )       L_d = 1 → L = L_w

    Each pixel's RGB (linearised, V^γ) is scaled by L / L_d, keeping its colour ratios.

    Args:
        ldr: (3, H, W) or (B, 3, H, W) in [0, 1].
        white: L_w, the radiance that display white expands to (> 1; larger = stronger highlight expansion).
        gamma: γ undone before the expansion.
        reference: as in :func:`linearize` (exposure match); None = min–max normalise to [0, 1].
    Returns:
        same shape as ``ldr``.
    """
    _check_ldr(ldr)
    if not white > 1:
        raise ValueError(f"white must be > 1 (the expanded radiance of display white); got {white}")
    linear = ldr**gamma  # (…, 3, H, W) display-linear RGB
    display = rgb_luminance(linear).clamp(0.0, 1.0)  # L_d: (…, 1, H, W)
    w2 = white**2
    expanded = 0.5 * w2 * (-(1 - display) + torch.sqrt((1 - display) ** 2 + 4 * display / w2))  # L: (…, 1, H, W)
    radiance = linear * expanded / display.clamp_min(1e-8)
    return min_max(radiance) if reference is None else match_exposure(radiance, ldr, reference)
