"""Optional torch path of HDR-VDP-2.2.1: the numpy computation, batched, on any torch device.

Every stage mirrors a numpy module of this package and reuses its constants and tables (which are
built in numpy, then moved to the device); only the array operations are re-expressed in torch:

* the ``sp3`` steerable pyramid as reflect padding + FFT correlation (``pyrtools``' ``corrDn``
  with ``reflect1`` edges is reflect padding + correlation + subsampling; its ``upConv`` is
  zero-insertion upsampling + reflect padding + convolution);
* the MATLAB bicubic resize as a sparse matrix product per axis;
* table look-ups with ``searchsorted``.

Tensors are channels-first: images (B, C, H, W), pyramid bands (B, n_orient, h, w). float64 by
default, which agrees with the numpy path to about 1e-10 in Q (tested). The path is meant for GPU
batches; on a CPU that other processes keep busy, ``torch.set_num_threads(1)`` avoids torch's
thread-pool waits, which otherwise dominate the many small operations.
"""

from __future__ import annotations

import dataclasses
import functools
import math

import numpy as np
import torch
import torch.nn.functional as F
from pyrtools.pyramids.filters import parse_filter

from . import csf, masking, optics, photoreceptors, pooling, pyramid
from .display import COLOR_ENCODINGS, DISPLAY_BLACK, DISPLAY_PEAK, LUMA_GAMMA, XYZ_TO_RGB
from .inputs import DEFAULT_PPD, check_encoding, check_pair, check_ppd, check_values, warn_if_relative
from .resize import resize_matrix

Tensor = torch.Tensor


@dataclasses.dataclass(frozen=True, eq=False)
class HDRVDP2BatchResult:
    """What :func:`visual_difference` returns for a batch of B pairs (tensors on the device).

    Attributes:
        Q: (B,) quality correlate, "HDR-VDP-2.2 Q" (100 = identical).
        P_map: (B, H, W) detection probability per pixel.
        P_det: (B,) max of each ``P_map``.
        C_map: (B, H, W) pooled contrast in threshold units.
    """

    Q: Tensor
    P_map: Tensor
    P_det: Tensor
    C_map: Tensor


def _const(a, like: Tensor) -> Tensor:
    """A numpy constant as a tensor with the dtype and device of ``like`` (always a copy)."""
    return torch.tensor(np.array(a, dtype=np.float64), dtype=like.dtype, device=like.device)


# ---------------------------------------------------------------------------------------------
# §1 colour encodings
# ---------------------------------------------------------------------------------------------


def to_physical(image: Tensor, encoding: str) -> Tensor:
    """Torch twin of :func:`.display.to_physical` for (B, C, H, W) tensors (encoding lower case)."""
    if encoding == "luma-display":
        return (DISPLAY_PEAK - DISPLAY_BLACK) * image**LUMA_GAMMA + DISPLAY_BLACK
    if encoding == "srgb-display":
        lin = torch.where(image <= 0.04045, image / 12.92, ((image + 0.055) / 1.055) ** 2.4)
        return (DISPLAY_PEAK - DISPLAY_BLACK) * lin + DISPLAY_BLACK
    if encoding == "xyz":
        return torch.einsum("rc,bchw->brhw", _const(XYZ_TO_RGB, image), image)  # RGB = M·XYZ
    return image


# ---------------------------------------------------------------------------------------------
# §2, §3 Fourier filtering with post-padding, optics
# ---------------------------------------------------------------------------------------------


def fourier_filter_postpad(x: Tensor, response: Tensor, pad_value: Tensor | float) -> Tensor:
    """Torch twin of :func:`.optics.fourier_filter_postpad`.

    Args:
        x: (N, H, W).
        response: real filter on the half (``rfft2``) grid of the 2H×2W padded array,
            (N or 1, 2H, W + 1).
        pad_value: scalar or (N,) constants for the bottom/right padding.

    Returns:
        (N, H, W) filtered.
    """
    n, h, w = x.shape
    padded = torch.empty((n, 2 * h, 2 * w), dtype=x.dtype, device=x.device)
    padded[:] = torch.as_tensor(pad_value, dtype=x.dtype, device=x.device).reshape(-1, 1, 1)
    padded[:, :h, :w] = x
    spectrum = torch.fft.rfft2(padded) * response
    return torch.fft.irfft2(spectrum, s=(2 * h, 2 * w))[:, :h, :w]


def apply_optics(image: Tensor, ppd: float) -> Tensor:
    """Torch twin of :func:`.optics.apply_optics`: (B, C, H, W) cd/m² → retinal, clamped."""
    b, c, h, w = image.shape
    rho = optics.cycles_per_degree_grid((2 * h, 2 * w), ppd, half=True)
    mtf = _const(optics.eye_mtf(rho), image)[None]
    out = fourier_filter_postpad(image.reshape(b * c, h, w), mtf, optics.SURROUND_LUMINANCE)
    return out.reshape(b, c, h, w).clamp(*optics.OPTICS_CLAMP)


# ---------------------------------------------------------------------------------------------
# §4–§6 photoreceptors
# ---------------------------------------------------------------------------------------------


def transduce(response: Tensor, table: Tensor, log_lum: np.ndarray) -> Tensor:
    """Torch twin of :func:`.photoreceptors.transduce` (uniform-step look-up with clamped index)."""
    lo, hi = photoreceptors.LOG_L_RANGE
    x = torch.log10(response.clamp(10.0**lo, 10.0**hi))
    t = (x - log_lum[0]) / (log_lum[1] - log_lum[0])
    k = torch.floor(t).clamp(0, table.numel() - 2)
    ki = k.long()
    return table[ki] + (table[ki + 1] - table[ki]) * (t - k)


def achromatic_response(retinal: Tensor) -> tuple[Tensor, Tensor]:
    """Torch twin of :func:`.photoreceptors.achromatic_response`.

    Args:
        retinal: (B, C, H, W) optically filtered channels in cd/m².

    Returns:
        ``(L_a, P)``, each (B, H, W).
    """
    matrix = _const(photoreceptors.receptor_matrix(retinal.shape[1]), retinal)
    resp = torch.einsum("bchw,ck->bkhw", retinal, matrix)  # R_k = Σ_c L_O,c·M[c, k]
    x, j_cone, j_rod = photoreceptors.transducer_tables()
    j_cone, j_rod = _const(j_cone, retinal), _const(j_rod, retinal)
    r_l = resp[:, photoreceptors.L_CONE]
    r_m = resp[:, photoreceptors.M_CONE]
    r_rod = resp[:, photoreceptors.ROD]
    cones = transduce(r_l, j_cone, x) + transduce(r_m, j_cone, x)
    rods = transduce(r_rod, j_rod, x)
    achromatic = (cones - cones.mean(dim=(-2, -1), keepdim=True)) + (
        rods - rods.mean(dim=(-2, -1), keepdim=True)
    )
    return r_l + r_m, achromatic


# ---------------------------------------------------------------------------------------------
# §7 steerable pyramid
# ---------------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=1)
def _sp3_filters() -> dict[str, np.ndarray]:
    """The ``sp3`` filters of ``pyrtools``, band filters stacked as (4, 9, 9)."""
    f = parse_filter("sp3_filters", normalize=False)
    size = int(round(math.sqrt(f["bfilts"].shape[0])))
    bands = np.stack([f["bfilts"][:, o].reshape(size, size).T for o in range(pyramid.N_ORIENT)])
    return {"hi0": f["hi0filt"], "lo0": f["lo0filt"], "lo": f["lofilt"], "bands": bands}


def _weights(name: str, like: Tensor) -> Tensor:
    """Filter ``name`` as a conv2d weight: (4, 1, k, k) for the bands, else (1, 1, k, k)."""
    f = _sp3_filters()[name]
    return _const(f[:, None] if f.ndim == 3 else f[None, None], like)


def _correlate_padded(padded: Tensor, weight: Tensor) -> Tensor:
    """'valid' multi-channel correlation, out[o] = Σ_c corr(padded[c], weight[o, c]), via the FFT.

    A direct ``conv2d`` with 17×17 float64 kernels is very slow on CPU; the FFT computes the same
    sums (to rounding). Circular correlation on the padded size never wraps for the valid outputs.

    Args:
        padded: (B, C_in, P, Q).
        weight: (C_out, C_in, k, k).

    Returns:
        (B, C_out, P - k + 1, Q - k + 1).
    """
    p, q = padded.shape[-2:]
    k = weight.shape[-1]
    spectrum = torch.fft.rfft2(padded)[:, None]  # (B, 1, C_in, P, Q//2 + 1)
    kernel = torch.fft.rfft2(weight, s=(p, q)).conj()  # correlation = product with the conjugate
    out = torch.fft.irfft2((spectrum * kernel).sum(dim=2), s=(p, q))
    return out[..., : p - k + 1, : q - k + 1]


def _correlate_down(x: Tensor, weight: Tensor, step: int = 1) -> Tensor:
    """``corrDn`` with ``reflect1`` edges: reflect padding, correlation, every step-th sample."""
    r = weight.shape[-1] // 2
    out = _correlate_padded(F.pad(x, (r, r, r, r), mode="reflect"), weight)
    return out[..., ::step, ::step]


def _convolve_up(x: Tensor, weight: Tensor, size: tuple[int, int], step: int = 1) -> Tensor:
    """``upConv`` with ``reflect1`` edges: zero-insertion upsampling to ``size``, reflect padding,
    convolution (a correlation with the flipped filter); input channels are summed."""
    if step > 1:
        up = x.new_zeros(x.shape[:2] + tuple(size))
        up[..., ::step, ::step] = x
    else:
        up = x
    r = weight.shape[-1] // 2
    return _correlate_padded(F.pad(up, (r, r, r, r), mode="reflect"), weight.flip(-2, -1))


def decompose(image: Tensor) -> list[Tensor]:
    """Torch twin of :func:`.pyramid.decompose`: (B, H, W) → B_n bands of (B, n_orient, h, w)."""
    x = image[:, None]
    bands = [_correlate_down(x, _weights("hi0", x))]  # high-pass residual
    low = _correlate_down(x, _weights("lo0", x))
    for _ in range(pyramid.pyramid_height(tuple(image.shape[-2:]))):
        bands.append(_correlate_down(low, _weights("bands", x)))  # 4 orientations at once
        low = _correlate_down(low, _weights("lo", x), step=2)
    bands.append(low)  # low-pass residual
    return bands


def reconstruct(bands: list[Tensor]) -> Tensor:
    """Torch twin of :func:`.pyramid.reconstruct`: bands → (B, H, W)."""
    like = bands[0]
    band_filters = _weights("bands", like).transpose(0, 1)  # (1, 4, 9, 9): sum the orientations
    recon = bands[-1]
    for level in reversed(bands[1:-1]):
        size = tuple(level.shape[-2:])
        recon = _convolve_up(recon, _weights("lo", like), size, step=2)
        recon = recon + _convolve_up(level, band_filters, size)
    size = tuple(like.shape[-2:])
    recon = _convolve_up(recon, _weights("lo0", like), size)
    recon = recon + _convolve_up(bands[0], _weights("hi0", like), size)
    return recon[:, 0]


# ---------------------------------------------------------------------------------------------
# §13 resize, and table interpolation
# ---------------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=256)
def _resize_operator(n_in: int, n_out: int, renormalise: bool, device, dtype) -> Tensor:
    """The 1-D resize matrix of :func:`.resize.resize_matrix` as a sparse COO tensor."""
    coo = resize_matrix(n_in, n_out, renormalise).tocoo()
    indices = torch.tensor(np.stack([coo.row, coo.col]).astype(np.int64), device=device)
    values = torch.tensor(coo.data, dtype=dtype, device=device)
    return torch.sparse_coo_tensor(
        indices, values, (n_out, n_in), check_invariants=True
    ).coalesce()


def _resize_axis(x: Tensor, n_out: int, axis: int, renormalise: bool) -> Tensor:
    n_in = x.shape[axis]
    if n_in == n_out:
        return x
    op = _resize_operator(n_in, n_out, renormalise, x.device, x.dtype)
    moved = x.movedim(axis, 0)
    out = torch.sparse.mm(op, moved.reshape(n_in, -1))
    return out.reshape((n_out,) + tuple(moved.shape[1:])).movedim(0, axis)


def imresize(x: Tensor, size: tuple[int, int], renormalise: bool = True) -> Tensor:
    """Torch twin of :func:`.resize.imresize` over the last two axes (smaller scale first)."""
    h_in, w_in = x.shape[-2:]
    h_out, w_out = size
    if h_out / h_in <= w_out / w_in:
        return _resize_axis(_resize_axis(x, h_out, -2, renormalise), w_out, -1, renormalise)
    return _resize_axis(_resize_axis(x, w_out, -1, renormalise), h_out, -2, renormalise)


def interp(x: Tensor, xp: Tensor, fp: Tensor) -> Tensor:
    """``np.interp`` for increasing ``xp``: linear between nodes, constant beyond the ends."""
    j = (torch.searchsorted(xp, x.contiguous(), right=True) - 1).clamp(0, xp.numel() - 2)
    slope = (fp[j + 1] - fp[j]) / (xp[j + 1] - xp[j])
    out = slope * (x - xp[j]) + fp[j]
    return torch.where(x <= xp[0], fp[0], torch.where(x >= xp[-1], fp[-1], out))


# ---------------------------------------------------------------------------------------------
# §8, §9 CSF
# ---------------------------------------------------------------------------------------------


def band_noise_level(
    log_la: Tensor, freq: float, size: tuple[int, int], renormalise: bool
) -> Tensor:
    """Torch twin of :func:`.csf.band_noise_level`: (B, H, W) log10 L_a → (B, h, w) noise."""
    lam = imresize(log_la, size, renormalise).clamp(*csf.LOG_LA_RANGE)
    log_l, table = csf.band_sensitivity_table(freq)
    return 1.0 / interp(lam, _const(log_l, log_la), _const(table, log_la))


def filter_lowpass_band(
    band: Tensor, freq: float, mean_adapting: Tensor, pad_value: Tensor
) -> Tensor:
    """Torch twin of :func:`.csf.filter_lowpass_band` for (B, h, w) bands, (B,) means and pads."""
    _, h, w = band.shape
    rho = optics.cycles_per_degree_grid((2 * h, 2 * w), csf.LOWPASS_GRID_FACTOR * freq, half=True)
    # nCSF(ρ, L̄) per batch item, evaluated with the numpy function on the small band grid
    response = np.stack([csf.ncsf(rho, la) for la in mean_adapting.detach().cpu().numpy()])
    return fourier_filter_postpad(band, _const(response, band), pad_value)


# ---------------------------------------------------------------------------------------------
# §10 masking
# ---------------------------------------------------------------------------------------------


def _signed_power(x: Tensor, exponent: float, n: float) -> Tensor:
    return torch.sign(x) * (x / n).abs() ** exponent * n


def _box3(x: Tensor) -> Tensor:
    """3×3 mean with zero padding over the last two axes of (B, O, h, w)."""
    return F.avg_pool2d(x, 3, stride=1, padding=1, count_include_pad=True)


def _pick_orientations(masker: Tensor, n_orient: int) -> Tensor:
    if masker.shape[1] == n_orient:
        return masker
    return masker[:, :1].expand(-1, n_orient, -1, -1)


def _neighbour_masking(maskers: list[Tensor], b: int, renormalise: bool) -> Tensor:
    """Torch twin of :func:`.masking.neighbour_masking`."""
    n = masking.band_gain(b)
    n_orient, h, w = maskers[b].shape[1:]
    m_xn = torch.zeros_like(maskers[b])
    if b > 0:
        finer = imresize(_pick_orientations(maskers[b - 1], n_orient), (h, w), renormalise)
        m_xn = m_xn + finer.clamp_min(0.0) * 2.0 / n
    if b < len(maskers) - 2:
        coarser = imresize(_pick_orientations(maskers[b + 1], n_orient), (h, w), renormalise)
        m_xn = m_xn + coarser.clamp_min(0.0) / (2.0 * n)
    return m_xn


def _normalised_difference(
    band_test: Tensor, band_ref: Tensor, maskers: list[Tensor], b: int, noise, renormalise: bool
) -> Tensor:
    """Torch twin of :func:`.masking.normalised_difference`; ``noise`` is (B, 1, h, w) or 1."""
    n = masking.band_gain(b)
    excitation = _signed_power(band_test - band_ref, masking.MASK_P, n)
    m_self = maskers[b]
    m_xo = (m_self.sum(dim=1, keepdim=True) - m_self).clamp_min(0.0)
    m_xn = _neighbour_masking(maskers, b, renormalise)
    q = masking.MASK_Q
    mask_signal = n * (
        masking.K_SELF * (m_self / (noise * n)) ** q
        + masking.K_XO * (m_xo / (noise * n)) ** q
        + masking.K_XN * (m_xn / noise) ** q
    )
    noise_p = noise ** (2.0 * masking.MASK_P) if isinstance(noise, Tensor) else 1.0
    return excitation / torch.sqrt(noise_p + mask_signal**2)


# ---------------------------------------------------------------------------------------------
# the metric
# ---------------------------------------------------------------------------------------------


def _quality(
    diffs: list[Tensor], diff_mask: Tensor, freqs: np.ndarray, renormalise: bool
) -> Tensor:
    """Torch twin of :func:`.pooling.quality_correlate`, per batch item: (B,)."""
    weights = pooling.band_weights(freqs)
    eps = pooling.Q_EPSILON
    penalty = torch.zeros(diff_mask.shape[0], dtype=diff_mask.dtype, device=diff_mask.device)
    for d, w_b in zip(diffs, weights):
        mask_b = imresize(diff_mask, tuple(d.shape[-2:]), renormalise)[:, None]
        masked = d * mask_b
        # msre = sqrt(Σ X²)/numel per orientation: (B, O)
        msre = torch.sqrt((masked * masked).sum(dim=(-2, -1))) / (d.shape[-2] * d.shape[-1])
        penalty = penalty + w_b * (torch.log(msre + eps) - math.log(eps)).sum(dim=1)
    return 100.0 - penalty


def visual_difference(
    test: Tensor, reference: Tensor, ppd: float, *, resize_renormalise: bool = True
) -> HDRVDP2BatchResult:
    """Torch twin of :func:`.metric.visual_difference` for a batch of validated physical inputs.

    Args:
        test, reference: (B, C, H, W) luminance (C = 1) or linear BT.709 RGB (C = 3) in cd/m², on
            the device and in the dtype to compute in.
        ppd: pixels per degree.
        resize_renormalise: MATLAB (True) or GNU Octave (False) resize rule.

    Returns:
        :class:`HDRVDP2BatchResult` with tensors on the input's device.
    """
    renorm = resize_renormalise
    adapt_test, resp_test = achromatic_response(apply_optics(test, ppd))  # §3–§6
    adapt_ref, resp_ref = achromatic_response(apply_optics(reference, ppd))

    bands_test, bands_ref = decompose(resp_test), decompose(resp_ref)  # §7
    n_bands = len(bands_ref)
    freqs = pyramid.band_frequencies(n_bands, ppd)
    pad = bands_ref[-1].mean(dim=(-3, -2, -1))  # §8: the reference's low-pass mean, per item
    for bands, adapt in ((bands_test, adapt_test), (bands_ref, adapt_ref)):
        low = filter_lowpass_band(bands[-1][:, 0], freqs[-1], adapt.mean(dim=(-2, -1)), pad)
        bands[-1] = low[:, None]

    mean_la = 0.5 * (adapt_test + adapt_ref)  # §9
    log_la = torch.log10(mean_la.clamp(10.0 ** csf.LOG_LA_RANGE[0], 10.0 ** csf.LOG_LA_RANGE[1]))
    maskers = [_box3(torch.minimum(t.abs(), r.abs())) for t, r in zip(bands_test, bands_ref)]
    diffs, diffs_psych = [], []
    for b in range(n_bands):  # §10
        if b == n_bands - 1:
            noise = 1.0
        else:
            size = tuple(bands_ref[b].shape[-2:])
            noise = band_noise_level(log_la, freqs[b], size, renorm)[:, None]
        d = _normalised_difference(bands_test[b], bands_ref[b], maskers, b, noise, renorm)
        diffs.append(d)
        diffs_psych.append(_signed_power(d, masking.PSYCH_EXPONENT, masking.band_gain(b)))

    contrast = reconstruct(diffs_psych).abs()  # §11
    total = contrast.sum(dim=(-2, -1), keepdim=True)
    contrast = contrast * total / (contrast.amax(dim=(-2, -1), keepdim=True) + 1e-12)
    p_map = 1.0 - torch.exp(math.log(0.5) * contrast)

    rel = (test - reference).abs() / reference  # §12 difference mask (R = 0: inf counts, NaN not)
    diff_mask = (rel > pooling.DIFF_MASK_THRESHOLD).any(dim=1).to(test.dtype)
    q = _quality(diffs, diff_mask, freqs, renorm)
    return HDRVDP2BatchResult(Q=q, P_map=p_map, P_det=p_map.amax(dim=(-2, -1)), C_map=contrast)


def hdrvdp2_batch(
    test,
    reference,
    color_encoding: str = "luminance",
    pixels_per_degree: float | None = None,
    device=None,
    dtype: torch.dtype = torch.float64,
) -> HDRVDP2BatchResult:
    """HDR-VDP-2.2.1 for a batch of test/reference pairs with torch (e.g. on a GPU).

    Same metric, arguments and checks as :func:`.metric.hdrvdp2`, but channels-first batches. The
    argument order matters in the same way: ``test`` is distorted, ``reference`` the original.

    Args:
        test: (B, C, H, W) tensor or array; C = 1 for ``luminance`` / ``luma-display``, 3 for
            ``sRGB-display``, ``rgb-bt.709`` and ``XYZ``. Units as in :func:`.metric.hdrvdp2`.
        reference: same shape as ``test``.
        color_encoding: see :func:`.metric.hdrvdp2`.
        pixels_per_degree: angular resolution; None means the default of :func:`.metric.hdrvdp2`
            (24-inch 1920×1080 display at 0.5 m).
        device: where to compute; None uses ``test``'s device (CPU for arrays).
        dtype: float64 (default) agrees with the numpy path to ~1e-10 in Q; float32 is faster on
            GPUs and agrees to about 1e-3 in Q.

    Returns:
        :class:`HDRVDP2BatchResult`: Q (B,), P_map (B, H, W), P_det (B,), C_map (B, H, W) on
        ``device``.

    Raises:
        ValueError: as :func:`.metric.hdrvdp2`, with shapes stated as (B, C, H, W).
    """
    encoding = check_encoding(color_encoding)
    if device is None:
        device = test.device if isinstance(test, Tensor) else torch.device("cpu")
    tensors = []
    for name, x in (("test", test), ("reference", reference)):
        x = x.to(device=device, dtype=dtype) if isinstance(x, Tensor) else torch.tensor(
            np.asarray(x), dtype=dtype, device=device
        )
        channels = COLOR_ENCODINGS[encoding]
        if x.ndim != 4 or x.shape[1] != channels or x.shape[0] == 0:
            raise ValueError(
                f"{name} must have shape (B, {channels}, H, W) with B ≥ 1 for "
                f"color_encoding={encoding!r}; got {tuple(x.shape)}"
            )
        n_bad = int((~torch.isfinite(x)).sum())
        low, high = (0.0, 0.0) if n_bad else (float(x.min()), float(x.max()))  # n_bad raises first
        check_values(name, encoding, n_bad, low, high)
        tensors.append(x)
    test_t, ref_t = tensors
    check_pair(test_t.shape, ref_t.shape, tuple(test_t.shape[-2:]))
    size = tuple(test_t.shape[-2:])
    ppd = check_ppd(DEFAULT_PPD if pixels_per_degree is None else pixels_per_degree, size)
    test_phys, ref_phys = to_physical(test_t, encoding), to_physical(ref_t, encoding)
    channel = 0 if test_phys.shape[1] == 1 else 1  # green for RGB
    warn_if_relative(float(test_phys[:, channel].amax(dim=(-2, -1)).min()), encoding)
    return visual_difference(test_phys, ref_phys, ppd)
