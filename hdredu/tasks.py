"""What a model learns, and so what feeds it, what scores it and what it must beat: one :class:`Task` per kind.

| task | models | input → target | data (``--data``) | metrics | baselines |
|---|---|---|---|---|---|
| ``merge`` | AHDRNet, ADNet | (N, 6, H, W) [L_i, L_i^γ/t_i] → linear HDR | synthetic, kalantari:, ntire: | PSNR-μ, PSNR-L | reference frame, Debevec, Mertens |
| ``operator`` | HDRNet | display picture → the operator's output | synthetic, fivek: | PSNR, SSIM | input, unsharp mask, global curve |
| ``itm`` | MQNet | one LDR picture → HDR (min–max scaled) | synthetic, hdreye: | PSNR-μ, PU21-PSNR, HDR-VDP-2 Q | linearised LDR, inverse Reinhard |
| ``lowlight`` | ALEN, SID U-Net | packed RAW × ratio (4, H/2, W/2) → sRGB | synthetic, sid: | PSNR, SSIM | amplify + process (+ NL-means) |

Each model class names its task (``AHDRNet.task == "merge"``); the task, not the CLI or a notebook, knows the
data sources, the input/target layout, the metrics, the loss and the baselines, so
``python -m hdredu train|evaluate MODEL`` works the same way for every model in ``hdredu.models.MODELS``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from hdredu import baselines, losses
from hdredu import metrics as hdr_metrics

# A data source makes a Dataset of (inputs, target):  make(path or None, split, crop or None, length, seed).
DataMaker = Callable[[Path | None, str, int | None, int, int], Dataset]


@dataclass(frozen=True)
class DataSource:
    """One kind of data for a task: ``synthetic`` (made from the bundled scenes) or a real dataset on disk.

    Attributes:
        make: (path, split, crop, length, seed) → Dataset; ``split`` is "train" or "test", ``crop`` None keeps
            whole images, ``length`` is the number of items wanted (synthetic data makes exactly that many; a
            real test split has its own size).
        needs_path: real datasets are read from a path the user gives (``--data kind:PATH``).
        help: one line for ``--help``.
    """

    make: DataMaker
    needs_path: bool
    help: str


@dataclass(frozen=True)
class Task:
    """What a model learns.

    Attributes:
        name, title: ``"merge"``, "multi-exposure merge".
        inputs, target: the layout of one item (``check_shape`` specs).
        data: {kind: DataSource}; ``"synthetic"`` is always there and is the default.
        metrics: metric names (keys of :data:`hdredu.metrics.LABELS`), the first one is the headline.
        loss: the default training loss (a key of :data:`LOSSES`); a model class may name its own as
            ``default_loss`` (ALEN: SSIM + L2).
        baselines: ``baselines(inputs, target)`` → {label: prediction} for one item: the classical answers
            the model must beat (an "oracle" label marks one that sees the target).
        defaults: the CLI's training defaults for this task (crop, val_crop, lr, loss name).
        conditions: ``conditions(model, seed, crop, tile)`` → a titled table of held-out scores per capture
            condition (the generalisation check of synthetic data), or None where the task has none.
    """

    name: str
    title: str
    inputs: str
    target: str
    data: dict[str, DataSource]
    metrics: tuple[str, ...]
    loss: str
    baselines: Callable[[torch.Tensor, torch.Tensor], dict[str, torch.Tensor]]
    defaults: dict = field(default_factory=dict)
    conditions: Callable[..., str] | None = None

    def metric_functions(self) -> dict[str, Callable]:
        """{name: fn(pred, target) → float} of this task's metrics."""
        every = hdr_metrics.metric_functions()
        return {name: every[name] for name in self.metrics}

    def dataset(self, spec: str, split: str, crop: int | None, length: int, seed: int) -> Dataset:
        """The Dataset named by ``spec`` ("synthetic" or "KIND:PATH") for ``split`` ("train" / "test")."""
        kind, path = parse_data(spec, self)
        return self.data[kind].make(path, split, crop, length, seed)


LOSSES: dict[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = {
    "mu_l1": losses.mu_law_l1,
    "mu_l2": losses.mu_law_l2,
    "l1": F.l1_loss,
    "l2": F.mse_loss,
    "ssim_l2": losses.ssim_l2,
    "ntire_mu": losses.ntire_mu_loss,
    "mqnet": losses.mqnet_loss,
}


def parse_data(spec: str, task: Task) -> tuple[str, Path | None]:
    """``"synthetic"`` → ("synthetic", None); ``"kalantari:PATH"`` → ("kalantari", PATH), checked against the
    kinds the task can read."""
    kind, sep, path = spec.partition(":")
    source = task.data.get(kind)
    if source is None or (source.needs_path and not path) or (not source.needs_path and sep):
        choices = ", ".join(f"'{k}:PATH'" if s.needs_path else f"'{k}'" for k, s in task.data.items())
        raise ValueError(f"--data for a {task.title} model must be one of {choices}; got {spec!r}")
    return kind, Path(path) if path else None


# ---------------------------------------------------------------------------------------------------------
# merge: multi-exposure brackets → linear HDR (AHDRNet, ADNet).
# ---------------------------------------------------------------------------------------------------------


def _synthetic_brackets(path, split, crop, length, seed):
    from hdredu.data.samples import TEST_SCENES, TRAIN_SCENES, load_sample
    from hdredu.data.synthetic import BracketDataset

    names = TRAIN_SCENES if split == "train" else TEST_SCENES
    return BracketDataset([load_sample(name) for name in names], crop_size=crop or 256, length=length, seed=seed)


def _real_dataset(loader: type) -> DataMaker:
    """A DataMaker for a real dataset class ``loader(path, split, crop_size=, seed=)``.

    The test split is the loader itself. For training, a loader's crop is fixed by (seed, index), so R copies
    seeded seed, seed + 1, … give R different crops per scene, enough that ``length`` draws never repeat one.
    """

    def make(path, split, crop, length, seed):
        first = loader(path, split, crop_size=crop, seed=seed)
        if split == "test":
            return first
        repeats = min(max(1, math.ceil(length / len(first))), 10_000)
        copies = [first] + [loader(path, split, crop_size=crop, seed=seed + r) for r in range(1, repeats)]
        return torch.utils.data.ConcatDataset(copies)

    return make


def _kalantari(path, split, crop, length, seed):
    from hdredu.data.datasets import Kalantari

    return _real_dataset(Kalantari)(path, split, crop, length, seed)


def _ntire(path, split, crop, length, seed):
    from hdredu.data.datasets import NTIRE2021

    # hdredu's merge input [L, L^γ/t] with γ = 2.2 and a linear ground truth, like every other merge source
    def loader(root, split, crop_size, seed):
        return NTIRE2021(root, split, crop_size=crop_size, seed=seed, gamma=2.2, second_half="linear",
                         linear_target=True)

    return _real_dataset(loader)(path, split, crop, length, seed)


def _merge_baselines(inputs: torch.Tensor, target: torch.Tensor) -> dict[str, torch.Tensor]:
    stack = baselines.Exposures.from_model_input(inputs)
    return {"reference frame alone": baselines.reference_alone(stack), "Debevec": baselines.debevec_merge(stack),
            "Mertens": baselines.mertens_fusion(stack)}


def _merge_conditions(model, seed: int, crop: int | None, tile: int | None) -> str:
    from hdredu.generalisation import evaluate_conditions, format_table

    rows = evaluate_conditions(model, seed=seed, crop_size=crop, tile=tile)
    return (f"PSNR-μ per held-out capture condition ({rows[0]['images']} brackets of the held-out scenes each):\n"
            + format_table(rows, type(model).__name__))


MERGE = Task(
    name="merge",
    title="multi-exposure merge",
    inputs="N 6 H W",
    target="3 H W",
    data={
        "synthetic": DataSource(_synthetic_brackets, False,
                                "brackets simulated from the bundled scenes (train: 4 scenes; test: 2 held out)"),
        "kalantari": DataSource(_kalantari, True, "the Kalantari SIGGRAPH'17 layout (Training/, Test/)"),
        "ntire": DataSource(_ntire, True, "the NTIRE 2021 track-2 layout (<split>/<id>_short.png …, linear GT)"),
    },
    metrics=("psnr_mu", "psnr_l"),
    loss="mu_l1",
    baselines=_merge_baselines,
    defaults={"crop": 64, "val_crop": 128, "lr": 1e-4},
    conditions=_merge_conditions,
)


# ---------------------------------------------------------------------------------------------------------
# operator: a display picture → the same picture through a slow operator (HDRNet).
# ---------------------------------------------------------------------------------------------------------


def _synthetic_operator_pairs(path, split, crop, length, seed):
    from hdredu.data import operator_pairs
    from hdredu.data.samples import TEST_SCENES, load_sample

    if split == "train":  # small whole pictures, each drawn once
        return operator_pairs.OperatorPairs(crop_size=crop or 64, length=length, seed=seed, cache=False)
    if crop is None:  # the held-out scenes at full resolution
        return operator_pairs.full_pairs(TEST_SCENES)
    return operator_pairs.OperatorPairs([load_sample(n) for n in TEST_SCENES], crop_size=crop, length=length,
                                        seed=seed, augment=False)


def _paired_folders(path, split, crop, length, seed):
    from hdredu.data.datasets import PairedFolders

    return PairedFolders(path, split, crop_size=crop, seed=seed)


def _operator_baselines(inputs: torch.Tensor, target: torch.Tensor) -> dict[str, torch.Tensor]:
    amount = baselines.fit_unsharp_amount([(inputs, target)])
    return {"input unchanged": inputs, "unsharp mask (oracle k)": baselines.unsharp_mask(inputs, amount),
            "best global curve (oracle)": baselines.best_global_curve(inputs, target)}


OPERATOR = Task(
    name="operator",
    title="image operator",
    inputs="3 H W",
    target="3 H W",
    data={
        "synthetic": DataSource(_synthetic_operator_pairs, False,
                                "detail enhancement of the bundled scenes (train: small pictures; test: 2 held-out scenes)"),
        "fivek": DataSource(_paired_folders, True, "FiveK-style paired folders: {train,test}/{input,target}/NAME.png"),
    },
    metrics=("psnr_display", "ssim"),
    loss="l2",
    baselines=_operator_baselines,
    defaults={"crop": 64, "val_crop": None, "lr": 1e-3},
)


# ---------------------------------------------------------------------------------------------------------
# itm: one tone-mapped LDR picture → its HDR radiance (MQNet).
# ---------------------------------------------------------------------------------------------------------


def _synthetic_itm(path, split, crop, length, seed):
    from hdredu.data import itm_pairs
    from hdredu.data.samples import TEST_SCENES, load_sample

    if split == "train":  # random operators, windows and flips, each drawn once
        return itm_pairs.ITMPairs(crop_size=crop or 64, length=length, seed=seed, cache=False)
    if crop is None:  # the held-out scenes, whole, through Reinhard's operator
        return itm_pairs.full_pairs(TEST_SCENES)
    return itm_pairs.ITMPairs([load_sample(n) for n in TEST_SCENES], crop_size=crop, length=length, seed=seed)


def _hdreye(path, split, crop, length, seed):
    from hdredu.data.datasets.hdreye import HDREye

    if split == "train":
        raise ValueError("HDR-Eye / HDR-Real are test sets: train on --data synthetic, evaluate on hdreye:PATH")
    return HDREye(path, crop_size=crop, seed=seed)


def _itm_baselines(inputs: torch.Tensor, target: torch.Tensor) -> dict[str, torch.Tensor]:
    return {"LDR linearised": baselines.linearize(inputs),
            "LDR linearised, exposure matched (oracle)": baselines.linearize(inputs, reference=target),
            "inverse Reinhard (Banterle)": baselines.inverse_reinhard(inputs)}


ITM = Task(
    name="itm",
    title="single-image inverse tone mapping",
    inputs="3 H W",
    target="3 H W",
    data={
        "synthetic": DataSource(_synthetic_itm, False,
                                "LDR made from the bundled scenes by a random tone mapper (test: 2 held-out scenes)"),
        "hdreye": DataSource(_hdreye, True, "HDR-Eye / HDR-Real in the SingleHDR layout (a test set)"),
    },
    metrics=("psnr_mu", "pu21_psnr", "hdrvdp2_q"),
    loss="mqnet",
    baselines=_itm_baselines,
    defaults={"crop": 64, "val_crop": 128, "lr": 1e-4},
)


# ---------------------------------------------------------------------------------------------------------
# lowlight: a dark packed RAW frame → a well-exposed sRGB picture (ALEN, SID U-Net).
# ---------------------------------------------------------------------------------------------------------


def _synthetic_lowlight(path, split, crop, length, seed):
    from hdredu.data import lowlight
    from hdredu.data.samples import TEST_SCENES, TRAIN_SCENES

    if split == "train":
        return lowlight.LowLightPairs(TRAIN_SCENES, crop_size=crop or 64, length=length, seed=seed)
    if crop is None:  # the held-out scenes at full resolution, ratio 300
        return lowlight.full_pairs(TEST_SCENES, ratio=300, seed=seed)
    return lowlight.LowLightPairs(TEST_SCENES, crop_size=crop, length=length, seed=seed)


def _sid(path, split, crop, length, seed):
    from hdredu.data.datasets import SID

    return _real_dataset(SID)(path, split, crop, length, seed)


def _lowlight_baselines(inputs: torch.Tensor, target: torch.Tensor) -> dict[str, torch.Tensor]:
    from hdredu.imaging.raw import amplify_and_process

    return {"amplify + process": amplify_and_process(inputs),
            "amplify + process + NL-means": amplify_and_process(inputs, denoise=True)}


LOWLIGHT = Task(
    name="lowlight",
    title="low-light RAW enhancement",
    inputs="4 h w",
    target="3 H W",
    data={
        "synthetic": DataSource(_synthetic_lowlight, False,
                                "low-light RAW simulated from the bundled scenes (ratios 100/250/300; test: 2 held out)"),
        "sid": DataSource(_sid, True, "the SID Sony layout (Sony/short, Sony/long, Sony_<split>_list.txt)"),
    },
    metrics=("psnr_display", "ssim"),
    loss="l1",  # SID's loss
    baselines=_lowlight_baselines,
    defaults={"crop": 64, "val_crop": None, "lr": 1e-4},
)


TASKS: dict[str, Task] = {task.name: task for task in (MERGE, OPERATOR, ITM, LOWLIGHT)}


def task_of(model_or_class) -> Task:
    """The :class:`Task` a model (or model class) declares with its ``task`` attribute."""
    name = getattr(model_or_class, "task", None)
    if name not in TASKS:
        owner = getattr(model_or_class, "__name__", type(model_or_class).__name__)
        raise ValueError(f"{owner} declares task {name!r}; hdredu knows {sorted(TASKS)}")
    return TASKS[name]
