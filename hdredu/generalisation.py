"""Does what a merge network learned from the simulator transfer? Held-out scores over a grid of capture conditions.

A network trained on simulated brackets can score well on held-out *scenes* made with the *same* conditions and
still collapse on a bracket spaced 3 stops apart when it only ever saw 2 (issue "Learning that transfers":
−5.3 dB against the reference frame alone). So the check varies the conditions, not only the scenes:

    condition_grid()             named Captures: EV spacing 1–4 stops, bright light sources, another camera
                                 response, 16-bit frames — conditions the training recipe
                                 (``CaptureDistribution.default()``) draws rarely or at a different mix
    evaluate_conditions(model)   per condition: PSNR-μ of the model, of the reference frame alone and of
                                 Debevec's merge (known CRF), on brackets of held-out scenes

Every condition sees the same scene crops, object placements and noise seeds, so rows differ only by the
condition. Scores are per image, then averaged (the Kalantari convention).
Introduced in notebooks/01_ahdrnet.ipynb, section *Does it transfer?*.
"""

from __future__ import annotations

import dataclasses

import torch

from hdredu import baselines
from hdredu.data.samples import TEST_SCENES, load_sample
from hdredu.data.synthetic import Brackets, Capture, simulate_brackets
from hdredu.inference import predict
from hdredu.metrics import psnr_mu
from hdredu.utils import item_seed, random_window

# The methods every row scores, in column order.
METHODS = ("model", "reference alone", "Debevec")


def condition_grid(base: Capture | None = None) -> dict[str, Capture]:
    """Named held-out capture conditions, each a :class:`Capture` that differs from ``base`` in one or two respects.

    ``base`` (default: 3 frames, 10 % of the reference clipped, gamma CRF, 8-bit, default noise and motion)
    is the "2 stops" row. How often the default training recipe draws each condition:

    | name | what changes | share of training brackets |
    |---|---|---|
    | ``1 stop`` … ``4 stops`` | EV spacing 1, 2, 3, 4 (times 1:2:4 … 1:16:256) | 15 %, 30 %, 30 %, 25 % |
    | ``bright light, 3 stops`` | 30 % clipped and a light source of radius 8 % of the side | hot spots: 10 %, radius ≤ 6 % |
    | ``filmic CRF, 2 stops`` | the S-shaped response the input's L^2.2 does not invert | none |
    | ``16-bit, 2 stops`` | 16-bit frames instead of 8-bit | 20 % |
    """
    base = Capture(saturated_fraction=0.1) if base is None else base

    def spaced(stops: float, **changes) -> Capture:
        return dataclasses.replace(base, exposure_stops=(0.0, stops, 2 * stops), **changes)

    return {
        "1 stop": spaced(1.0),
        "2 stops": spaced(2.0),
        "3 stops": spaced(3.0),
        "4 stops": spaced(4.0),
        "bright light, 3 stops": spaced(3.0, saturated_fraction=0.3, hot_spot=0.08),
        "filmic CRF, 2 stops": spaced(2.0, crf="filmic"),
        "16-bit, 2 stops": spaced(2.0, bits=16),
    }


def held_out_brackets(capture: Capture, scenes=TEST_SCENES, brackets_per_condition: int = 3, seed: int = 0,
                      crop_size: int | None = None) -> list[Brackets]:
    """Brackets of held-out scenes under one capture condition, deterministic by ``seed``.

    Args:
        capture: the condition.
        scenes: bundled scene names or (3, H, W) radiance tensors (default: the held-out scenes).
        brackets_per_condition: brackets per scene, each with its own crop, object and noise.
        seed: picks crops (the same for every condition) and the simulator seeds.
        crop_size: square crops of this side; None = whole scenes (256×384 for the bundled ones).
    Returns:
        ``len(scenes) · brackets_per_condition`` :class:`Brackets`.
    """
    if brackets_per_condition < 1:
        raise ValueError(f"brackets_per_condition must be a positive integer; got {brackets_per_condition}")
    radiance = [load_sample(s) if isinstance(s, str) else s for s in scenes]
    if len(radiance) == 0:
        raise ValueError("scenes must name at least one scene")
    out = []
    for k, hdr in enumerate(radiance):
        # The moving object is cut from the next held-out scene (the scene itself, flipped, if it is alone).
        source = radiance[(k + 1) % len(radiance)] if len(radiance) > 1 else None
        for j in range(brackets_per_condition):
            bracket_seed = item_seed(seed, 1000 * k + j)
            crop = hdr
            if crop_size is not None:
                if min(hdr.shape[-2:]) < crop_size:
                    raise ValueError(f"scenes[{k}] is {hdr.shape[-2]}x{hdr.shape[-1]}, smaller than crop_size={crop_size}")
                crop = hdr[random_window(*hdr.shape[-2:], crop_size, torch.Generator().manual_seed(bracket_seed))]
            out.append(simulate_brackets(crop.contiguous(), capture, object_source=source, seed=bracket_seed))
    return out


def evaluate_conditions(model: torch.nn.Module, scenes=TEST_SCENES, brackets_per_condition: int = 3, seed: int = 0,
                        crop_size: int | None = None, conditions: dict[str, Capture] | None = None,
                        tile: int | None = None) -> list[dict]:
    """Score ``model`` against the reference frame alone and Debevec under every held-out condition.

    Args:
        model: a merge network taking the stack [L_i, L_i^γ / t_i] (N, 6, H, W) (e.g. AHDRNet); run with
            :func:`hdredu.inference.predict`, without gradients.
        scenes, brackets_per_condition, seed, crop_size: see :func:`held_out_brackets`.
        conditions: {name: Capture}; default :func:`condition_grid`.
        tile: predict in tiles of this side (None = whole images).
    Returns:
        one dict per condition: ``condition``, ``capture`` (its short description), ``images``, the mean
        PSNR-μ (μ = 5000, dB) of ``model``, ``reference alone`` and ``Debevec``, and the margins
        ``model − reference`` and ``model − Debevec`` (dB).
    """
    conditions = condition_grid() if conditions is None else conditions
    rows = []
    for name, capture in conditions.items():
        brackets = held_out_brackets(capture, scenes, brackets_per_condition, seed, crop_size)
        scores = {method: 0.0 for method in METHODS}
        for b in brackets:
            estimates = {
                "model": predict(model, b.model_input(), tile=tile),  # (3, H, W)
                "reference alone": baselines.reference_alone(b),
                "Debevec": baselines.debevec_merge(b),
            }
            for method, estimate in estimates.items():
                scores[method] += psnr_mu(estimate, b.hdr) / len(brackets)
        rows.append({"condition": name, "capture": capture.describe(), "images": len(brackets), **scores,
                     "model − reference": scores["model"] - scores["reference alone"],
                     "model − Debevec": scores["model"] - scores["Debevec"]})
    return rows


def format_table(rows: list[dict], model_name: str = "model") -> str:
    """The rows of :func:`evaluate_conditions` as a Markdown table (PSNR-μ in dB)."""
    header = (f"| condition | {model_name} | reference alone | Debevec | {model_name} − reference | "
              f"{model_name} − Debevec |")
    lines = [header, "|---|---|---|---|---|---|"]
    for row in rows:
        lines.append(f"| {row['condition']} | {row['model']:.2f} | {row['reference alone']:.2f} | {row['Debevec']:.2f} "
                     f"| {row['model − reference']:+.2f} | {row['model − Debevec']:+.2f} |")
    return "\n".join(lines)
