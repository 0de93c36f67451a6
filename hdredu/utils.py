"""Small shared helpers: seeding, the FAST switch, shape contracts, device choice."""

from __future__ import annotations

import dataclasses
import os
import random

import numpy as np
import torch


def fast_mode() -> bool:
    """True when ``HDREDU_FAST`` is set to a true value (1, true, yes).

    The tests and CI run every notebook with ``HDREDU_FAST=1``: same cells, tiny sizes.
    """
    return os.environ.get("HDREDU_FAST", "").strip().lower() in {"1", "true", "yes", "on"}


FAST: bool = fast_mode()


def seed_everything(seed: int = 0) -> torch.Generator:
    """Seed Python, NumPy and torch in one place; return a torch Generator seeded the same way.

    CPU runs that start from the same seed repeat exactly.
    """
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def item_seed(seed: int, index: int) -> int:
    """The seed of item ``index`` of a dataset seeded with ``seed``:  seed · 1_000_003 + index."""
    return seed * 1_000_003 + index


def item_generator(seed: int, index: int) -> torch.Generator:
    """The generator of item ``index`` of a dataset seeded with ``seed`` (seeded with :func:`item_seed`).

    Every seeded dataset in hdredu draws item k from this generator alone, so an item is a pure function of
    (seed, k): the same in every process, in any order, with any number of DataLoader workers.
    """
    return torch.Generator().manual_seed(item_seed(seed, index))


def ablated(config, ablations: dict[str, dict], name: str):
    """``config`` (a frozen dataclass) with the field changes of ablation ``name`` from ``ablations``, the
    model's table of ablation variants; every other field (the sizes) kept.

    Raises:
        ValueError: ``name`` is not in ``ablations``, listing the names it knows.
    """
    if name not in ablations:
        raise ValueError(f"ablation must be one of {list(ablations)}; got {name!r}")
    return dataclasses.replace(config, **ablations[name])


def random_window(height: int, width: int, size: int, generator: torch.Generator) -> tuple:
    """A random ``size``×``size`` window of an (..., H, W) tensor, as an index: ``tensor[window]``.

    Draws the top row, then the left column, from ``generator``, so a seeded generator gives the same window.
    """
    top = int(torch.randint(height - size + 1, (), generator=generator))
    left = int(torch.randint(width - size + 1, (), generator=generator))
    return (..., slice(top, top + size), slice(left, left + size))


def check_shape(tensor: torch.Tensor, spec: str, name: str = "tensor") -> dict[str, int]:
    """Check that ``tensor`` has the layout ``spec`` (e.g. ``"B C H W"`` or ``"B N 6 H W"``).

    Letters name free dimensions (the same letter must have the same size everywhere in the spec);
    numbers must match exactly. Returns the sizes of the named dimensions.

    Raises:
        TypeError: ``tensor`` is not a torch.Tensor.
        ValueError: wrong number of dimensions or a fixed size that differs, naming ``name``.
    """
    if not isinstance(tensor, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of shape ({spec}); got {type(tensor).__name__}")
    letters = spec.split()
    shape = tuple(tensor.shape)
    got = "(" + ", ".join(str(s) for s in shape) + ")"
    if len(shape) != len(letters):
        raise ValueError(f"{name} must have shape ({spec}), {len(letters)} dimensions; got {got}")
    sizes: dict[str, int] = {}
    for letter, size in zip(letters, shape):
        if letter.isdigit():
            if size != int(letter):
                raise ValueError(f"{name} must have shape ({spec}); got {got}")
        elif sizes.setdefault(letter, size) != size:
            raise ValueError(f"{name} must have shape ({spec}) with equal sizes for {letter}; got {got}")
    return sizes


def check_device(name) -> torch.device:
    """``name`` as a torch.device this machine can use, checked before any work starts.

    Raises:
        ValueError: the name is not a device ("cpu", "cuda", "cuda:1", "mps", ...), or this torch build or
            machine has no such device (e.g. "cuda" on a CPU-only build), with what is available instead.
    """
    try:
        device = torch.device(name)
    except (RuntimeError, TypeError) as error:
        raise ValueError(f"device {name!r} is not a device name (use 'cpu', 'cuda', 'cuda:1', 'mps'): {error}") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            build = "this torch build has no CUDA" if torch.version.cuda is None else "no CUDA GPU is visible"
            raise ValueError(f"device {name!r}: {build} (torch {torch.__version__}); use 'cpu'")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise ValueError(f"device {name!r}: only {torch.cuda.device_count()} CUDA device(s) are visible")
    elif device.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError(f"device {name!r}: MPS is not available on this machine; use 'cpu'")
    elif device.type not in ("cpu", "cuda", "mps"):
        raise ValueError(f"device {name!r}: hdredu runs on 'cpu', 'cuda' or 'mps'")
    return device


def default_device() -> torch.device:
    """CPU unless ``HDREDU_DEVICE`` names another device (GPU paths are opt-in)."""
    return torch.device(os.environ.get("HDREDU_DEVICE", "cpu"))
