"""HDR-VDP-2.2.1: the full metric, stage by stage (hdrvdp2.md §1–§12).

Paper: R. Mantiuk, K. J. Kim, A. G. Rempel, W. Heidrich, "HDR-VDP-2: A calibrated visual metric
for visibility and quality predictions in all luminance conditions", ACM TOG 30(4), 2011; quality
pooling from M. Narwaria et al., J. Electronic Imaging 24(1), 2015; version 2.2.1 rescaling of Q.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import functools

import numpy as np

from .csf import band_noise_level, filter_lowpass_band, log_adapting_luminance
from .display import to_physical
from .inputs import DEFAULT_PPD, check_encoding, check_image, check_pair, check_ppd, warn_if_relative
from .masking import PSYCH_EXPONENT, band_gain, mutual_masker, normalised_difference, signed_power
from .optics import apply_optics
from .photoreceptors import achromatic_response
from .pooling import (
    difference_mask,
    probability_map,
    quality_correlate,
    spatial_pooling,
)
from .pyramid import band_frequencies, decompose, reconstruct

LABEL = "HDR-VDP-2.2 Q"


@dataclasses.dataclass(frozen=True, eq=False)
class HDRVDP2Result:
    """What :func:`hdrvdp2` returns.

    Attributes:
        Q: quality correlate, 100 for identical images, lower for larger differences (can go
            negative). Label it "HDR-VDP-2.2 Q".
        P_map: (H, W) probability that the difference at each pixel is detected, in [0, 1].
        P_det: max of ``P_map``, the probability that any difference is detected.
        C_map: (H, W) pooled contrast in threshold units (1 ↔ P = 0.5).
    """

    Q: float
    P_map: np.ndarray
    P_det: float
    C_map: np.ndarray

    label = LABEL  # class attribute, not a field: the human-facing name of Q

    @property
    def C_max(self) -> float:
        """Max of ``C_map``."""
        return float(self.C_map.max())

    def __str__(self) -> str:
        return f"{LABEL} = {self.Q:.4f} (P_det = {self.P_det:.4f})"


def hdrvdp2(
    test,
    reference,
    color_encoding: str = "luminance",
    pixels_per_degree: float = DEFAULT_PPD,
    device=None,
) -> HDRVDP2Result:
    """HDR-VDP-2.2.1 visibility (P_map) and quality (Q) of a test image against a reference.

    The argument order matters: ``test`` is the distorted image and ``reference`` the original, as
    in ``hdrvdp(test, reference, ...)``. The metric is not symmetric: the reference alone sets the
    pad value of the low-pass band and the denominator of the difference mask, so swapping them
    changes Q slightly.

    Unlike the reference implementation, which replaces NaN pixels by 1e-5 with a warning, non-finite
    input is rejected. The surround luminance is fixed at its default, 1e-5 cd/m².

    Args:
        test: distorted image, (H, W) for one-channel encodings or (H, W, 3) for three-channel ones
            (a trailing axis of 1 is accepted for one channel). numpy array or anything
            ``np.asarray`` accepts (e.g. a CPU torch tensor).
        reference: reference image, same shape and encoding as ``test``.
        color_encoding: case-insensitive, one of
            ``"luminance"`` (absolute luminance in cd/m²),
            ``"luma-display"`` (display luma V in [0, 1], shown as 99·V^2.2 + 1 cd/m²),
            ``"sRGB-display"`` (sRGB V in [0, 1], decoded and shown as 99·lin + 1 cd/m²),
            ``"rgb-bt.709"`` (linear BT.709 RGB in cd/m²),
            ``"XYZ"`` (CIE XYZ in cd/m²).
        pixels_per_degree: angular resolution (see :func:`pixels_per_degree`); the default is a
            24-inch 1920×1080 display at 0.5 m, 32.4529519503.
        device: None (default) computes with numpy; a torch device (``"cpu"``, ``"cuda"``, …)
            computes the same thing with the torch path in float64 on that device (results are
            returned as numpy arrays). For batches see :func:`hdrvdp2_batch`.

    Returns:
        :class:`HDRVDP2Result` with ``Q``, ``P_map`` (H, W), ``P_det`` and ``C_map`` (H, W).

    Raises:
        ValueError: unknown ``color_encoding``; wrong or mismatched shapes; negative or non-finite
            values (or display values outside [0, 1]); an image smaller than 17 pixels on a side;
            a ``pixels_per_degree`` that is not a positive number or that puts every band outside
            the frequency range where Q has weight.
    """
    encoding = check_encoding(color_encoding)
    test = check_image(test, "test", encoding)
    reference = check_image(reference, "reference", encoding)
    check_pair(test.shape, reference.shape, test.shape[:2])
    ppd = check_ppd(pixels_per_degree, test.shape[:2])
    test_phys = to_physical(test, encoding)  # (H, W, C) cd/m², §1
    ref_phys = to_physical(reference, encoding)
    warn_if_relative(float(test_phys[..., 0 if test_phys.shape[-1] == 1 else 1].max()), encoding)
    if device is None:
        return visual_difference(test_phys, ref_phys, ppd)
    return _visual_difference_on_device(test_phys, ref_phys, ppd, device)


def visual_difference(
    test: np.ndarray, reference: np.ndarray, ppd: float, *, resize_renormalise: bool = True
) -> HDRVDP2Result:
    """The visual model and pooling of HDR-VDP-2.2.1 on validated, physical inputs (§3–§12).

    :func:`hdrvdp2` validates the arguments and converts the colour encoding, then calls this.

    Args:
        test, reference: (H, W, C) luminance (C = 1) or linear BT.709 RGB (C = 3) in cd/m², both
            sides ≥ 17 pixels.
        ppd: pixels per degree.
        resize_renormalise: True (default) follows MATLAB's ``imresize``; False follows GNU
            Octave's, which does not renormalise the antialiasing weights (the plain columns of the
            reference values were computed that way; only non-integer shrink factors differ).

    Returns:
        :class:`HDRVDP2Result`.
    """
    # Independent pieces of work (the two images; the bands) run in two threads: numpy ufuncs,
    # scipy and pyrtools' C code release the GIL. Results do not depend on the scheduling.
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        # §3 optics, §4–§6 photoreceptors, §7 steerable pyramid, one image per thread
        futures = [pool.submit(_image_pathway, image, ppd) for image in (test, reference)]
        (adapt_test, bands_test, layout), (adapt_ref, bands_ref, _) = [f.result() for f in futures]

        # §8 CSF filtering of the low-pass band of each image
        n_bands = len(bands_ref)
        freqs = band_frequencies(n_bands, ppd)
        pad = bands_ref[-1].mean()  # the reference's low-pass mean pads both images
        for bands, adapt in ((bands_test, adapt_test), (bands_ref, adapt_ref)):
            bands[-1] = filter_lowpass_band(bands[-1][0], freqs[-1], adapt.mean(), pad)[None]

        # §9 per-band noise level, §10 masking → D (for Q) and D′ (for P_map), largest bands first
        log_la = log_adapting_luminance(adapt_test, adapt_ref)
        maskers = list(pool.map(mutual_masker, bands_test, bands_ref))
        stage = functools.partial(
            _band_difference, bands_test, bands_ref, maskers, log_la, freqs, resize_renormalise
        )
        largest_first = sorted(range(n_bands), key=lambda b: -bands_ref[b].size)
        futures = {b: pool.submit(stage, b) for b in largest_first}
        diffs, diffs_psych = zip(*[futures[b].result() for b in range(n_bands)])

    # §11 probability summation
    contrast = spatial_pooling(np.abs(reconstruct(list(diffs_psych), layout)))
    p_map = probability_map(contrast)
    # §12 quality correlate
    q = quality_correlate(list(diffs), difference_mask(test, reference), freqs, resize_renormalise)
    return HDRVDP2Result(Q=float(q), P_map=p_map, P_det=float(p_map.max()), C_map=contrast)


def _band_difference(bands_test, bands_ref, maskers, log_la, freqs, renormalise, b: int):
    """D and D′ of band ``b`` (0-based): noise level (§9), masking (§10), psychometric exponent.

    Returns:
        ``(D, D′)``, each (n_orient, h, w).
    """
    if b == len(bands_ref) - 1:
        noise = 1.0  # the low-pass band was already CSF-filtered (§8)
    else:
        noise = band_noise_level(log_la, freqs[b], bands_ref[b].shape[1:], renormalise)
    d = normalised_difference(bands_test[b], bands_ref[b], maskers, b, noise, renormalise)
    return d, signed_power(d, PSYCH_EXPONENT, band_gain(b))  # D′ = sign(D)·|D/n|^pf·n


def _image_pathway(image: np.ndarray, ppd: float):
    """Optics (§3), photoreceptors and achromatic response (§4–§6), pyramid (§7) of one image.

    Returns:
        ``(L_a, bands, layout)``: (H, W) adapting luminance, the pyramid bands and the ``pyrtools``
        layout object (see :func:`.pyramid.decompose`).
    """
    adapting, response = achromatic_response(apply_optics(image, ppd))
    bands, layout = decompose(response)
    return adapting, bands, layout


def _visual_difference_on_device(test: np.ndarray, reference: np.ndarray, ppd: float, device):
    """:func:`.torch_backend.visual_difference` in float64 on ``device`` for one (H, W, C) pair."""
    import torch

    from .torch_backend import visual_difference as visual_difference_torch

    def to_tensor(a):  # (H, W, C) → (1, C, H, W)
        return torch.tensor(np.moveaxis(a, -1, 0)[None].copy(), dtype=torch.float64, device=device)

    res = visual_difference_torch(to_tensor(test), to_tensor(reference), ppd)
    return HDRVDP2Result(
        Q=float(res.Q[0]),
        P_map=res.P_map[0].cpu().numpy(),
        P_det=float(res.P_det[0]),
        C_map=res.C_map[0].cpu().numpy(),
    )
