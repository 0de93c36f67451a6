"""Photoreceptor responses and the JND transducer (hdrvdp2.md §4, §5, §6).

Each pixel's retinal luminance channels are turned into L-cone, M-cone and rod responses by a fixed
C×4 matrix (§4), then each response is mapped through a look-up table to JND units (§5), and the
cone and rod pathways are summed into one achromatic response with their means removed (§6).
"""

from __future__ import annotations

import functools

import numpy as np

# §4: M[c, k] = ∫ S_k(λ)·E_c(λ) dλ, columns (L, M, S, rod), as computed by the reference from its
# spectral tables. Using the constants avoids the tables altogether (hdrvdp2.md §4, "Conclusion").
RECEPTOR_MATRIX_LUMINANCE = np.array(
    [[0.60184715224469898, 0.31670829557916946, 0.0076648121695664373, 0.90467065459950324]]
)  # D65 emission spectrum, one channel
RECEPTOR_MATRIX_RGB = np.array(
    [
        [0.19899612033792871, 0.041005860407588933, 6.1506308848643251e-05, 0.014377368621119191],
        [0.40476260703812544, 0.25492330644134564, 0.00069591745133302661, 0.48092084108413191],
        [0.054390619255321161, 0.050012248959300676, 0.0070375678953706862, 0.45427589566935994],
    ]
)  # ccfl-lcd R, G, B emission spectra
L_CONE, M_CONE, S_CONE, ROD = 0, 1, 2, 3

# §5: transducer constants
N_NODES = 2048
LOG_L_RANGE = (-5.0, 5.0)  # nodes x_i = -5 + 10·i/2047
PEAK_SENSITIVITY = 2.4
SENSITIVITY_CORRECTION = 0.006894596 / 10.0 ** (-PEAK_SENSITIVITY)  # c = 1.73184421431402
ROD_PEAK_L = 1.1732  # cd/m², where the rod sensitivity peaks


def receptor_matrix(n_channels: int) -> np.ndarray:
    """The C×4 photoreceptor matrix (columns L, M, S, rod) for 1-channel or 3-channel input, §4."""
    return RECEPTOR_MATRIX_LUMINANCE if n_channels == 1 else RECEPTOR_MATRIX_RGB


def receptor_responses(retinal: np.ndarray) -> np.ndarray:
    """Photoreceptor responses R_k(x) = Σ_c L_O,c(x)·M[c, k], §4.

    Args:
        retinal: (H, W, C) optically filtered channels in cd/m², C = 1 or 3.

    Returns:
        (H, W, 4) responses: L cone, M cone, S cone, rod.
    """
    return retinal @ receptor_matrix(retinal.shape[-1])


def joint_sensitivity(lum: np.ndarray) -> np.ndarray:
    """Joint rod-cone sensitivity s_A(L) = 30.162·((4.0627/L)^1.6596 + 1)^(-0.2712), §5."""
    return 30.162 * ((4.0627 / lum) ** 1.6596 + 1.0) ** (-0.2712)


def rod_sensitivity(lum: np.ndarray) -> np.ndarray:
    """Rod sensitivity s_R(L), §5: 10^1.1414·exp(-r^e/d), r = |log10(L/1.1732)|.

    Above the peak luminance e = 2.9899, d = 0.5547; at or below it e = 1.2167, d = 1.1478.
    """
    r = np.abs(np.log10(lum / ROD_PEAK_L))
    above = np.exp(-(r**2.9899) / 0.5547)
    below = np.exp(-(r**1.2167) / 1.1478)
    return 10.0**1.1414 * np.where(lum > ROD_PEAK_L, above, below)


def cone_sensitivity(lum: np.ndarray) -> np.ndarray:
    """Cone sensitivity on the transducer nodes, §5.

    g = max(s_A - s_R, 1e-3) on the nodes; s_C(L_i) = 0.5·ĝ(min(2·L_i, 1e5)), where ĝ interpolates g
    piecewise-linearly in *linear* luminance over the nodes (not a direct evaluation at 2L).

    Args:
        lum: the transducer node luminances L_i (cd/m²), increasing.

    Returns:
        s_C at the nodes, same shape as ``lum``.
    """
    g = np.maximum(joint_sensitivity(lum) - rod_sensitivity(lum), 1e-3)
    return 0.5 * np.interp(np.minimum(2.0 * lum, 1e5), lum, g)


def transducer_nodes() -> np.ndarray:
    """log10 luminance of the 2048 transducer nodes, x_i = -5 + 10·i/2047 (MATLAB ``logspace``)."""
    return np.linspace(LOG_L_RANGE[0], LOG_L_RANGE[1], N_NODES)


def build_transducer(sensitivity: np.ndarray, log_lum: np.ndarray) -> np.ndarray:
    """Cumulative JND scale J(L) = c·∫ s d(ln L) on the nodes, §5.

    J_0 = 0, J_i = c·Σ_{j<i} ½·(s_j + s_{j+1})·ln(10)·(x_{j+1} - x_j): a cumulative trapezoid over
    log10 L with the ln 10 factor, times the sensitivity correction c = 1.73184421431402.

    Args:
        sensitivity: s at the nodes, shape (N,).
        log_lum: node positions x = log10 L, shape (N,).

    Returns:
        J at the nodes, shape (N,), in JND units.
    """
    steps = 0.5 * (sensitivity[:-1] + sensitivity[1:]) * np.log(10.0) * np.diff(log_lum)
    return SENSITIVITY_CORRECTION * np.concatenate([[0.0], np.cumsum(steps)])


@functools.lru_cache(maxsize=1)
def transducer_tables() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The node grid and the cone and rod JND tables, §5 (built once, read-only).

    Returns:
        ``(x, J_cone, J_rod)``, each of shape (2048,); x = log10 L.
    """
    x = transducer_nodes()
    lum = 10.0**x
    j_cone = build_transducer(cone_sensitivity(lum), x)
    j_rod = build_transducer(rod_sensitivity(lum), x)
    for a in (x, j_cone, j_rod):
        a.setflags(write=False)
    return x, j_cone, j_rod


def transduce(response: np.ndarray, table: np.ndarray, log_lum: np.ndarray) -> np.ndarray:
    """Map photoreceptor responses to JND units with a transducer table, §5 "Lookup".

    x = log10(clamp(R, 1e-5, 1e5)); t = (x - x_0)/Δ on the uniform node step Δ; k = floor(t) clamped
    to [0, N - 2]; J = J_k + (J_{k+1} - J_k)·(t - k).

    Args:
        response: photoreceptor responses, any shape.
        table: J at the nodes, shape (N,).
        log_lum: the node grid x, shape (N,).

    Returns:
        Responses in JND units, same shape as ``response``.
    """
    x = np.log10(np.clip(response, 10.0 ** LOG_L_RANGE[0], 10.0 ** LOG_L_RANGE[1]))
    step = log_lum[1] - log_lum[0]
    t = (x - log_lum[0]) / step
    k = np.clip(np.floor(t), 0, table.size - 2).astype(np.intp)
    return table[k] + (table[k + 1] - table[k]) * (t - k)


def achromatic_response(retinal: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Adapting luminance and the achromatic response of one image, §6.

    Args:
        retinal: (H, W, C) optically filtered channels in cd/m².

    Returns:
        ``(L_a, P)``, both (H, W): L_a = R_L + R_M in cd/m², and
        P = (P_L + P_M - mean(P_L + P_M)) + (P_R - mean(P_R)) in JND units.
    """
    resp = receptor_responses(retinal)
    x, j_cone, j_rod = transducer_tables()
    adapting = resp[..., L_CONE] + resp[..., M_CONE]
    cones = transduce(resp[..., L_CONE], j_cone, x) + transduce(resp[..., M_CONE], j_cone, x)
    rods = transduce(resp[..., ROD], j_rod, x)
    return adapting, (cones - cones.mean()) + (rods - rods.mean())
