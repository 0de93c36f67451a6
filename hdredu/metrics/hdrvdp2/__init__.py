"""HDR-VDP-2.2.1, written for hdredu from the description in hdrvdp2.md (no code from the original).

Call :func:`hdrvdp2` with a test and a reference image in absolute units (or a display encoding) and
the angular resolution from :func:`pixels_per_degree`. Label its quality score "HDR-VDP-2.2 Q".

Modules, in the order the metric runs them:

* :mod:`.display`: colour encodings and viewing geometry (§1, §2);
* :mod:`.optics`: frequency grids, post-padded Fourier filtering, the eye's MTF (§2, §3);
* :mod:`.photoreceptors`: receptor matrix, JND transducer, achromatic response (§4–§6);
* :mod:`.pyramid`: steerable pyramid via ``pyrtools`` (§7);
* :mod:`.csf`: neural CSF, low-pass band filtering, per-band noise (§8, §9);
* :mod:`.masking`: threshold-normalised differences under masking (§10);
* :mod:`.pooling`: P_map and Q (§11, §12);
* :mod:`.resize`: MATLAB-compatible bicubic resize (§13);
* :mod:`.metric`: the assembled metric;
* :mod:`.torch_backend`: the same computation in torch, batched, for GPUs (:func:`hdrvdp2_batch`,
  or ``hdrvdp2(..., device=...)``).
"""

from .display import pixels_per_degree
from .metric import LABEL, HDRVDP2Result, hdrvdp2
from .torch_backend import HDRVDP2BatchResult, hdrvdp2_batch

__all__ = [
    "hdrvdp2",
    "hdrvdp2_batch",
    "pixels_per_degree",
    "HDRVDP2Result",
    "HDRVDP2BatchResult",
    "LABEL",
]
