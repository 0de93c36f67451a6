"""The classical pipeline every network must beat, through OpenCV where it has it.

| baseline | what it does | output |
|---|---|---|
| :func:`reference_alone` | the reference frame, linearised: f⁻¹(Z_ref) / t_ref | radiance, clipped where Z_ref saturates |
| :func:`debevec_merge` | Debevec & Malik (1997) weighted merge, known or calibrated CRF | radiance |
| :func:`mertens_fusion` | Mertens et al. (2007) exposure fusion (a display image, not radiance) | linearised like the reference |
| :func:`tonemap` | OpenCV's Reinhard / Drago / Mantiuk operators, or plain gamma | display image in [0, 1] |

Inputs are :class:`hdredu.data.synthetic.Brackets` (or anything with ``ldr``, ``exposure_times``,
``ref_idx`` and ``crf``); outputs are torch (3, H, W) float32, RGB. BGR exists only inside this file.
Introduced in notebooks/00_hdr_basics.ipynb, section *Merging brackets*.
"""

from __future__ import annotations

import cv2
import numpy as np
import torch

from hdredu.imaging.camera import crf_pair


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
    image = np.ascontiguousarray(hdr.detach().float().numpy().transpose(1, 2, 0)[..., ::-1])
    operators = {
        "reinhard": lambda: cv2.createTonemapReinhard(gamma=gamma),
        "drago": lambda: cv2.createTonemapDrago(gamma=gamma),
        "mantiuk": lambda: cv2.createTonemapMantiuk(gamma=gamma),
    }
    if method == "gamma":
        scale = np.percentile(image, 99) or 1.0
        display = np.clip(image / scale, 0, 1) ** (1.0 / gamma)
    elif method in operators:
        # Each OpenCV operator first rescales to [0, 1] by (x − min) / (max − min), and OpenCV warns on every
        # such scalar expression over a 3-channel array (opencv/opencv#16739). Shifting the minimum to 0 here
        # leaves that rescale, and so the result, unchanged, and the warning never fires.
        image = (image - image.min()).astype(np.float32)
        display = np.nan_to_num(operators[method]().process(image))  # Drago can make NaN
    else:
        raise ValueError(f"method must be one of {['gamma', *operators]}; got {method!r}")
    return _to_rgb_tensor(np.clip(display, 0.0, 1.0))
