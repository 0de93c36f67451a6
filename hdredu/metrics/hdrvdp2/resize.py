"""MATLAB-compatible bicubic resize (``imresize`` with its defaults), hdrvdp2.md §13.

HDR-VDP resizes three kinds of maps to the size of a pyramid band: log10 adapting luminance (§9),
neighbour maskers (§10) and the difference mask (§12). scipy, scikit-image, OpenCV and PIL resize
differently, so the exact rule is written here:

* Keys cubic kernel with a = -0.5;
* when shrinking by s < 1 the kernel is widened to s·k(s·x) (antialiasing), support 4/s;
* output sample i (1-based) sits at input coordinate u_i = i/s + 0.5·(1 - 1/s);
* the weights of each output sample are renormalised to sum to 1 (``renormalise=False`` gives the
  GNU Octave rule that the plain reference columns were computed with);
* indices outside the input are mirrored symmetrically, repeating the edge sample.

The 1-D rule is applied along each axis; as in MATLAB, the axis with the smaller scale goes first.
"""

from __future__ import annotations

import functools

import numpy as np
import scipy.sparse


def cubic_kernel(x: np.ndarray) -> np.ndarray:
    """Keys cubic convolution kernel with a = -0.5 (MATLAB ``imresize``'s ``cubic``).

    Args:
        x: distances in input samples, any shape.

    Returns:
        Kernel values, same shape as ``x``; zero for |x| > 2.
    """
    ax = np.abs(x)
    ax2 = ax * ax
    ax3 = ax2 * ax
    inner = 1.5 * ax3 - 2.5 * ax2 + 1.0  # |x| <= 1
    outer = -0.5 * ax3 + 2.5 * ax2 - 4.0 * ax + 2.0  # 1 < |x| <= 2
    return np.where(ax <= 1.0, inner, np.where(ax <= 2.0, outer, 0.0))


def mirror_index(j: np.ndarray, n_in: int) -> np.ndarray:
    """Map 1-based tap indices onto 1..n_in by symmetric mirroring that repeats the edge sample.

    The index sequence is periodic with period 2·n_in: 1, 2, …, n_in, n_in, n_in - 1, …, 1.
    So 0 → 1, -1 → 2, n_in + 1 → n_in, n_in + 2 → n_in - 1.

    Args:
        j: integer tap indices (1-based), any shape.
        n_in: input length.

    Returns:
        1-based indices in [1, n_in], same shape as ``j``.
    """
    m = np.mod(j - 1, 2 * n_in)
    return np.where(m < n_in, m + 1, 2 * n_in - m)


@functools.lru_cache(maxsize=256)
def resize_weights(
    n_in: int, n_out: int, renormalise: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """Tap weights and 0-based input indices of the 1-D MATLAB bicubic resize n_in → n_out.

    Args:
        n_in: input length (≥ 1).
        n_out: output length (≥ 1).
        renormalise: divide each output's weights by their sum (MATLAB); False gives Octave's rule.

    Returns:
        ``(weights, indices)``, both of shape (n_out, K) with K = ceil(W) + 2 taps, W the kernel
        support (4, or 4/s when shrinking). ``out[i] = sum_k weights[i, k] * in[indices[i, k]]``.
        The arrays are cached and read-only.
    """
    scale = n_out / n_in
    if scale < 1.0:  # antialiasing: widen the kernel, h(x) = s·k(s·x), support W = 4/s
        width = 4.0 / scale

        def kernel(x):
            return scale * cubic_kernel(scale * x)

    else:
        width = 4.0
        kernel = cubic_kernel
    i = np.arange(1, n_out + 1, dtype=np.float64)
    u = i / scale + 0.5 * (1.0 - 1.0 / scale)  # input coordinate of output sample i (1-based)
    n_taps = int(np.ceil(width)) + 2
    left = np.floor(u - width / 2.0)
    j = left[:, None] + np.arange(n_taps)[None, :]  # (n_out, K) 1-based tap positions
    weights = kernel(u[:, None] - j)
    if renormalise:
        weights = weights / weights.sum(axis=1, keepdims=True)
    indices = mirror_index(j.astype(np.int64), n_in) - 1  # 0-based
    weights.setflags(write=False)
    indices.setflags(write=False)
    return weights, indices


@functools.lru_cache(maxsize=256)
def resize_matrix(n_in: int, n_out: int, renormalise: bool = True) -> scipy.sparse.csr_array:
    """The 1-D resize as a sparse (n_out, n_in) matrix; taps mirrored onto one sample add up."""
    weights, indices = resize_weights(n_in, n_out, renormalise)
    rows = np.repeat(np.arange(n_out), weights.shape[1])
    return scipy.sparse.csr_array(
        (weights.ravel(), (rows, indices.ravel())), shape=(n_out, n_in)
    )


def resize_axis(x: np.ndarray, n_out: int, axis: int, renormalise: bool = True) -> np.ndarray:
    """Resize one axis of ``x`` to length ``n_out`` with the 1-D MATLAB bicubic rule.

    Args:
        x: float array, any shape.
        n_out: new length of ``axis``.
        axis: the axis to resize.
        renormalise: see :func:`resize_weights`.

    Returns:
        Array like ``x`` with ``x.shape[axis]`` replaced by ``n_out``.
    """
    n_in = x.shape[axis]
    if n_in == n_out:  # scale 1 leaves the axis unchanged
        return x
    matrix = resize_matrix(n_in, n_out, renormalise)
    moved = np.moveaxis(x, axis, 0)  # (n_in, ...)
    out = matrix @ moved.reshape(n_in, -1)  # out[i] = Σ_k w[i, k]·x[idx[i, k]]
    return np.moveaxis(out.reshape((n_out,) + moved.shape[1:]), 0, axis)


def imresize(x: np.ndarray, size: tuple[int, int], renormalise: bool = True) -> np.ndarray:
    """MATLAB ``imresize(x, size)`` (bicubic, antialiasing on) over the last two axes.

    Args:
        x: array of shape (..., H, W); leading axes (e.g. orientations) are resized independently.
        size: output (H_out, W_out).
        renormalise: see :func:`resize_weights`.

    Returns:
        Array of shape (..., H_out, W_out), float64.
    """
    h_in, w_in = x.shape[-2:]
    h_out, w_out = size
    # MATLAB resizes the dimension with the smaller scale first (rows first on a tie); the operation
    # is linear and separable, so the order only affects rounding.
    if h_out / h_in <= w_out / w_in:
        return resize_axis(resize_axis(x, h_out, -2, renormalise), w_out, -1, renormalise)
    return resize_axis(resize_axis(x, w_out, -1, renormalise), h_out, -2, renormalise)
