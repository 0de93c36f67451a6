"""One file per architecture; ``MODELS`` maps a name to its class, ``build_model`` makes one from a preset.

Each model module has a config dataclass with ``paper()`` and ``tiny()`` presets, and each model class names
its task (``hdredu.tasks``: "merge", "operator", "itm", "lowlight") and whether tiled inference is exact for it
(``receptive_radius``: pixels, or None).
"""

from __future__ import annotations

from hdredu.models.adnet import ADNet
from hdredu.models.ahdrnet import AHDRNet
from hdredu.models.alen import ALEN
from hdredu.models.hdrnet import HDRNet
from hdredu.models.mqnet import MQNet
from hdredu.models.sid_unet import SIDUNet

MODELS: dict[str, type] = {
    "ahdrnet": AHDRNet,
    "adnet": ADNet,
    "hdrnet": HDRNet,
    "mqnet": MQNet,
    "sid_unet": SIDUNet,
    "alen": ALEN,
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
