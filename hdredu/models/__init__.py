"""One file per architecture; ``MODELS`` maps a name to its class, ``build_model`` makes one from a preset.

Each model module has a config dataclass with ``paper()`` and ``tiny()`` presets.
"""

from __future__ import annotations

from hdredu.models.ahdrnet import AHDRNet
from hdredu.models.hdrnet import HDRNet

MODELS: dict[str, type] = {
    "ahdrnet": AHDRNet,
    "hdrnet": HDRNet,
}


def build_model(name: str, preset: str = "paper", **overrides):
    """Build ``MODELS[name]`` from its config preset (``"paper"`` or ``"tiny"``) with field overrides.

    Example: ``build_model("ahdrnet", "tiny", features=16)``.
    """
    import dataclasses

    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; choose one of {sorted(MODELS)}")
    model_class = MODELS[name]
    config_class = model_class.config_class
    if preset not in ("paper", "tiny"):
        raise ValueError(f"preset must be 'paper' or 'tiny'; got {preset!r}")
    config = dataclasses.replace(getattr(config_class, preset)(), **overrides)
    return model_class(config)
