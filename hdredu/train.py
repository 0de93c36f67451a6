"""A small, explicit training loop shared by every notebook: ``fit`` → :class:`History`.

    for step in 1..steps:                         batches come from a seeded stream of epoch permutations
        loss = loss_fn(model(inputs), target)     (optionally under bf16 autocast)
        Adam step; lr × 0.1 after 80 % of steps   (the official AHDRNet recipe)
        every eval_every steps: metrics on val    PSNR-μ and PSNR-L by default
        every checkpoint_every steps: save        model, optimiser, scheduler, step, RNG states, history

A run resumed from a checkpoint produces exactly the weights of an uninterrupted run (on CPU): batch k of
the run is a pure function of (seed, k), and everything else that changes during training is saved.
Datasets yield ``(inputs, target)`` and ``model(inputs)`` returns a tensor shaped like ``target``.

Seed before the model is built, so that its initial weights repeat too (in every process):

    seed_everything(0)                        # hdredu.utils: Python, NumPy and torch
    model = build_model("ahdrnet", "tiny")
    history = fit(model, data, mu_law_l1, TrainConfig(seed=0))

A loss that turns NaN or Inf stops training with an error naming the step, before the optimiser step, so the
last checkpoint written stays the last good one.
Introduced in notebooks/01_ahdrnet.ipynb, section 4 *Training on simulated brackets of moving scenes*.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import math
import os
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from hdredu import metrics as hdr_metrics
from hdredu.utils import check_device, item_generator

Metric = Callable[[torch.Tensor, torch.Tensor], float]


def default_metrics() -> dict[str, Metric]:
    """PSNR-μ (μ = 5000) and PSNR-L, the Kalantari-style scores (metrics.md §2)."""
    return {"psnr_mu": hdr_metrics.psnr_mu, "psnr_l": hdr_metrics.psnr_l}


@dataclass
class TrainConfig:
    """Everything that defines a training run (two runs with equal configs and data give equal weights on CPU).

    Attributes:
        steps: optimiser steps in total (a resumed run continues up to this number).
        lr: Adam learning rate (1e-4, the official AHDRNet script).
        batch_size: crops per step (8).
        seed: seeds the batch order and the model-independent RNGs.
        eval_every: evaluate ``val_data`` every this many steps (and at the last step); 0 = only at the end.
        eval_at_start: also evaluate the untrained model (step 0), so curves start at the beginning.
        lr_decay_at: fraction of ``steps`` after which lr is multiplied by ``lr_decay_factor`` (None = never).
        lr_decay_factor: 0.1.
        betas, eps, weight_decay: Adam settings (0.9 / 0.999, 1e-8, 0).
        grad_clip: clip the gradient norm to this value (None = off).
        device: "cpu" (default), "cuda", ...
        amp: opt-in bfloat16 autocast for forward and loss (gradients and weights stay float32).
        channels_last: opt-in channels-last memory format for the model's weights (faster convolutions on GPUs).
        num_workers: DataLoader workers (exact resume then needs items that depend on their index only,
            as hdredu's datasets do).
        checkpoint_every: save every this many steps (0 = at evaluations and at the end only).
        eval_batch_size: images per evaluation batch.
        progress: show a tqdm progress bar.
    """

    steps: int = 1000
    lr: float = 1e-4
    batch_size: int = 8
    seed: int = 0
    eval_every: int = 100
    eval_at_start: bool = True
    lr_decay_at: float | None = 0.8
    lr_decay_factor: float = 0.1
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8
    weight_decay: float = 0.0
    grad_clip: float | None = None
    device: str = "cpu"
    amp: bool = False
    channels_last: bool = False
    num_workers: int = 0
    checkpoint_every: int = 0
    eval_batch_size: int = 1
    progress: bool = True

    def validate(self) -> None:
        """Raise ValueError naming the first field with an impossible value."""
        for name in ("steps", "batch_size", "eval_batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be a positive integer; got {getattr(self, name)}")
        for name in ("eval_every", "checkpoint_every", "num_workers"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be ≥ 0; got {getattr(self, name)}")
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise ValueError(f"lr must be a positive finite number; got {self.lr}")
        if self.lr_decay_at is not None and not 0 < self.lr_decay_at <= 1:
            raise ValueError(f"lr_decay_at must be in (0, 1] or None; got {self.lr_decay_at}")
        check_device(self.device)

    @property
    def decay_step(self) -> int | None:
        """The step after which lr drops (None when it never does)."""
        if self.lr_decay_at is None:
            return None
        return int(round(self.lr_decay_at * self.steps))


# Fields that may differ between an interrupted run and its resumption without changing the result.
_RESUME_FREE_FIELDS = {"device", "num_workers", "progress", "eval_batch_size", "checkpoint_every"}


@dataclass
class History:
    """What happened during training.

    Attributes:
        steps, losses, lrs: one entry per optimiser step (step numbers start at 1).
        eval_steps: steps at which the validation metrics were computed (0 = before training).
        metrics: {name: one value per entry of ``eval_steps``}.
        train_seconds: wall-clock time spent in training steps (evaluation excluded).
    """

    steps: list[int] = field(default_factory=list)
    losses: list[float] = field(default_factory=list)
    lrs: list[float] = field(default_factory=list)
    eval_steps: list[int] = field(default_factory=list)
    metrics: dict[str, list[float]] = field(default_factory=dict)
    train_seconds: float = 0.0

    def curve(self, name: str) -> tuple[list[int], list[float]]:
        """(eval steps, values) of one metric, the format :func:`hdredu.viz.plot_curves` takes."""
        if name not in self.metrics:
            raise KeyError(f"no metric {name!r} in this history; it has {sorted(self.metrics)}")
        return list(self.eval_steps), list(self.metrics[name])

    def last(self, name: str) -> float:
        """The latest value of a metric (or of "loss")."""
        values = self.losses if name == "loss" else self.curve(name)[1]
        if not values:
            raise ValueError(f"{name!r} has no values yet")
        return values[-1]

    def to_csv(self, path) -> Path:
        """One row per step (and a row for step 0 if evaluated there): step, loss, lr, then every metric
        (empty where it was not computed). Returns the path."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        names = sorted(self.metrics)
        evals = {step: k for k, step in enumerate(self.eval_steps)}
        rows = {step: {"step": step, "loss": loss, "lr": lr} for step, loss, lr in zip(self.steps, self.losses, self.lrs)}
        for step in self.eval_steps:
            rows.setdefault(step, {"step": step, "loss": "", "lr": ""})
        with path.open("w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=["step", "loss", "lr", *names])
            writer.writeheader()
            for step in sorted(rows):
                row = rows[step]
                for name in names:
                    row[name] = self.metrics[name][evals[step]] if step in evals else ""
                writer.writerow(row)
        return path


# ---------------------------------------------------------------------------------------------------------
# The batch stream: batch k is a function of (seed, k) only, which is what makes resuming exact.
# ---------------------------------------------------------------------------------------------------------


class StepBatchSampler(torch.utils.data.Sampler):
    """Index lists for steps ``start`` … ``stop − 1`` of an endless stream of shuffled epochs.

    The stream concatenates permutations of range(n); epoch e is shuffled by a generator seeded with
    ``seed · 1_000_003 + e``, so a batch never depends on how many batches were drawn before it in this run.
    Epochs need not hold a whole number of batches (a batch may span two epochs).
    """

    def __init__(self, n: int, batch_size: int, seed: int, start: int, stop: int):
        if n < 1:
            raise ValueError("the training data is empty (len 0); it must hold at least one item")
        self.n, self.batch_size, self.seed, self.start, self.stop = n, batch_size, seed, start, stop
        self._perms: dict[int, torch.Tensor] = {}

    def _permutation(self, epoch: int) -> torch.Tensor:
        if epoch not in self._perms:
            self._perms = {epoch: torch.randperm(self.n, generator=item_generator(self.seed, epoch))}
        return self._perms[epoch]

    def batch(self, step: int) -> list[int]:
        """Indices of batch ``step`` (0-based)."""
        positions = range(step * self.batch_size, (step + 1) * self.batch_size)
        return [int(self._permutation(p // self.n)[p % self.n]) for p in positions]

    def __iter__(self) -> Iterator[list[int]]:
        for step in range(self.start, self.stop):
            yield self.batch(step)

    def __len__(self) -> int:
        return self.stop - self.start


# ---------------------------------------------------------------------------------------------------------
# Evaluation.
# ---------------------------------------------------------------------------------------------------------


def _autocast(device: torch.device, enabled: bool):
    """bfloat16 autocast on ``device`` when enabled, else a no-op context."""
    if not enabled:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16)


@torch.no_grad()
def evaluate(model: torch.nn.Module, data: Dataset, metrics: dict[str, Metric] | None = None, device="cpu",
             batch_size: int = 1, amp: bool = False, tile: int | None = None, overlap: int | None = None) -> dict[str, float]:
    """Mean of per-image metrics of ``model`` over ``data``.

    Args:
        model: maps a batch of inputs to predictions shaped like the targets.
        data: a Dataset (or list) of ``(inputs, target)``.
        metrics: {name: fn(pred, target) → float averaged over the batch}; default PSNR-μ and PSNR-L.
        device: where to run.
        batch_size: images per forward pass.
        amp: bfloat16 autocast (opt-in).
        tile, overlap: predict in overlapping tiles of this size (see :func:`hdredu.inference.predict`);
            None = whole images.
    Returns:
        {name: mean over images}; the model is left in the mode it was in.
    """
    from hdredu.inference import predict

    metrics = default_metrics() if metrics is None else metrics
    if len(data) == 0:
        raise ValueError("data is empty (len 0); evaluation needs at least one (inputs, target) item")
    device = torch.device(device)
    was_training = model.training
    model.eval()
    totals, count = dict.fromkeys(metrics, 0.0), 0
    for inputs, target in DataLoader(data, batch_size=batch_size, shuffle=False):
        with _autocast(device, amp):
            pred = predict(model, inputs, tile=tile, overlap=overlap, device=device)
        pred, target = pred.float().cpu(), target.float()
        for name, fn in metrics.items():
            totals[name] += fn(pred, target) * len(target)
        count += len(target)
    model.train(was_training)
    return {name: total / count for name, total in totals.items()}


# ---------------------------------------------------------------------------------------------------------
# Checkpoints.
# ---------------------------------------------------------------------------------------------------------


def _rng_state() -> dict:
    state = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(path, model, optimizer, scheduler, step: int, history: History, config: TrainConfig) -> Path:
    """Write everything a resumed run needs to ``path`` (atomically: a crash never leaves half a file)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    model_config = getattr(model, "config", None)
    state = {
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "step": step,
        "history": dataclasses.asdict(history),
        "rng": _rng_state(),
        "train_config": dataclasses.asdict(config),
        "model_class": type(model).__name__,
        "model_config": dataclasses.asdict(model_config) if dataclasses.is_dataclass(model_config) else None,
    }
    temporary = path.with_name(path.name + ".tmp")
    try:
        torch.save(state, temporary)
        os.replace(temporary, path)
    except OSError as error:  # disk full, permissions, ...: keep the previous checkpoint, leave no half file
        temporary.unlink(missing_ok=True)
        raise OSError(f"could not write checkpoint {path} ({error.strerror or error}); "
                      "the previous checkpoint there, if any, is unchanged") from error
    return path


CHECKPOINT_KEYS = ("model", "optimizer", "scheduler", "step", "history", "rng", "train_config")


def load_checkpoint(path, map_location="cpu") -> dict:
    """Read a checkpoint written by :func:`save_checkpoint` (a dict; ``["model"]`` is the state_dict).

    Raises:
        FileNotFoundError: no file at ``path``.
        ValueError: the file is not a complete hdredu checkpoint (truncated, corrupt, or written by something
            else), naming the file.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    try:
        # weights_only=False: the file also holds RNG states (numpy arrays, Python tuples) written by hdredu itself.
        saved = torch.load(path, map_location=map_location, weights_only=False)
    except Exception as error:  # torch raises RuntimeError, EOFError, UnpicklingError, zipfile errors, ...
        raise ValueError(f"checkpoint {path} cannot be read ({type(error).__name__}: {error}); it is truncated, "
                         "corrupt, or not a checkpoint written by hdredu.train") from None
    missing = [key for key in CHECKPOINT_KEYS if not isinstance(saved, dict) or key not in saved]
    if missing:
        raise ValueError(f"checkpoint {path} is not an hdredu training checkpoint: it lacks {missing}")
    return saved


def check_resumable(path, config: TrainConfig) -> None:
    """Raise ValueError if the checkpoint at ``path`` exists and was made with a config that would give a
    different run than ``config`` (call it before anything is written, as the CLI does)."""
    if Path(path).is_file():
        _check_resumable(load_checkpoint(path), config, path)


def _check_resumable(saved: dict, config: TrainConfig, path) -> None:
    """Refuse to resume a checkpoint made with a config that would give a different run."""
    now = dataclasses.asdict(config)
    for name, value in saved["train_config"].items():
        if name in _RESUME_FREE_FIELDS:
            continue
        if name in now and _normalise(now[name]) != _normalise(value):
            raise ValueError(
                f"cannot resume {path}: config.{name} is {now[name]!r} but the checkpoint was made with {value!r}; "
                f"resume with the same TrainConfig (only {sorted(_RESUME_FREE_FIELDS)} may change)"
            )


def _normalise(value):
    return list(value) if isinstance(value, tuple) else value


# ---------------------------------------------------------------------------------------------------------
# The loop.
# ---------------------------------------------------------------------------------------------------------


def fit(
    model: torch.nn.Module,
    train_data: Dataset,
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    config: TrainConfig,
    val_data: Dataset | None = None,
    metrics: dict[str, Metric] | None = None,
    on_step: Callable[[History], None] | None = None,
    checkpoint_path=None,
    resume: bool = False,
) -> History:
    """Train ``model`` on ``train_data`` with Adam for ``config.steps`` steps; return the :class:`History`.

    Args:
        model: maps a batch of inputs (B, …) to a tensor shaped like the batch of targets.
        train_data: Dataset of ``(inputs, target)``; items are drawn in a seeded order (see :class:`StepBatchSampler`).
        loss_fn: ``loss_fn(pred, target)`` → scalar tensor (e.g. :func:`hdredu.losses.mu_law_l1`).
        config: a :class:`TrainConfig`.
        val_data: evaluated every ``config.eval_every`` steps with ``metrics``; None = no evaluation.
        metrics: {name: fn(pred, target) → float}; default PSNR-μ and PSNR-L.
        on_step: called with the History after every step (e.g. :func:`live_plot` in a notebook).
        checkpoint_path: where to save checkpoints (None = never save).
        resume: continue from ``checkpoint_path`` if that file exists (same config required); the result
            equals an uninterrupted run. A finished checkpoint makes ``fit`` return at once (train-or-load).
    Returns:
        History with per-step loss and lr and the validation metrics; the model holds the trained weights.
    """
    from tqdm.auto import tqdm

    config.validate()
    if resume and checkpoint_path is None:
        raise ValueError("resume=True needs a checkpoint_path to resume from")
    metrics = default_metrics() if metrics is None else metrics
    device = torch.device(config.device)
    model.to(device)
    if config.channels_last:
        model.to(memory_format=torch.channels_last)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr, betas=config.betas, eps=config.eps,
                                 weight_decay=config.weight_decay)
    milestones = [config.decay_step] if config.decay_step is not None else []
    scheduler = torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=milestones, gamma=config.lr_decay_factor)
    history, start = History(), 0
    torch.manual_seed(config.seed)
    if resume and Path(checkpoint_path).is_file():
        saved = load_checkpoint(checkpoint_path, map_location=device)
        _check_resumable(saved, config, checkpoint_path)
        model.load_state_dict(saved["model"])
        optimizer.load_state_dict(saved["optimizer"])
        scheduler.load_state_dict(saved["scheduler"])
        history, start = History(**saved["history"]), saved["step"]
        _set_rng_state(saved["rng"])

    def run_eval(step: int) -> None:
        scores = evaluate(model, val_data, metrics, device, config.eval_batch_size, config.amp)
        history.eval_steps.append(step)
        for name, value in scores.items():
            history.metrics.setdefault(name, []).append(value)

    def save(step: int) -> None:
        if checkpoint_path is None:
            return
        if not all(torch.isfinite(p).all() for p in model.parameters()):
            raise FloatingPointError(f"the weights became NaN or Inf at step {step}; nothing was saved, the last good "
                                     f"checkpoint {checkpoint_path} stays. Lower the learning rate (now {config.lr})")
        save_checkpoint(checkpoint_path, model, optimizer, scheduler, step, history, config)

    if val_data is not None and config.eval_at_start and start == 0:
        run_eval(0)
    sampler = StepBatchSampler(len(train_data), config.batch_size, config.seed, start, config.steps)
    loader = DataLoader(train_data, batch_sampler=sampler, num_workers=config.num_workers)
    model.train()
    bar = tqdm(total=config.steps, initial=start, disable=not config.progress, desc="training", leave=True)
    for step, (inputs, target) in enumerate(loader, start=start + 1):
        began = time.perf_counter()
        inputs, target = inputs.to(device), target.to(device)
        optimizer.zero_grad(set_to_none=True)
        with _autocast(device, config.amp):
            pred = model(inputs)
        loss = loss_fn(pred.float(), target)
        if not torch.isfinite(loss):
            bar.close()
            where = f"; the last good checkpoint {checkpoint_path} stays" if checkpoint_path is not None else ""
            raise FloatingPointError(f"the training loss is {float(loss.detach())} at step {step}: training stopped before "
                                     f"the optimiser step{where}. Lower the learning rate (now {config.lr}) or check "
                                     "the data for NaN / Inf")
        loss.backward()
        if config.grad_clip is not None:
            torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
        optimizer.step()
        history.lrs.append(optimizer.param_groups[0]["lr"])
        scheduler.step()
        history.steps.append(step)
        history.losses.append(float(loss.detach()))
        history.train_seconds += time.perf_counter() - began
        evaluated = val_data is not None and ((config.eval_every and step % config.eval_every == 0) or step == config.steps)
        if evaluated:
            run_eval(step)
            model.train()
        if step == config.steps or (config.checkpoint_every and step % config.checkpoint_every == 0) or evaluated:
            save(step)
        bar.update(1)
        bar.set_postfix(_postfix(history), refresh=False)
        if on_step is not None:
            on_step(history)
    bar.close()
    model.eval()
    return history


def _postfix(history: History) -> dict[str, str]:
    """Latest loss and metrics for the progress bar."""
    postfix = {"loss": f"{history.losses[-1]:.4f}"}
    for name, values in history.metrics.items():
        postfix[name] = f"{values[-1]:.2f}"
    return postfix


def live_plot(metric: str = "psnr_mu", baselines: dict[str, float] | None = None, label: str = "model"):
    """An ``on_step`` callback that redraws the loss and one validation metric in a notebook cell.

    Args:
        metric: the validation metric to plot (a key of ``fit``'s ``metrics``).
        baselines: {label: score} drawn as horizontal lines (e.g. the reference frame alone).
        label: legend label of the curve.
    Returns:
        ``callback(history)``; it redraws only when a new evaluation arrived, in place (IPython display).
    """
    import matplotlib.pyplot as plt
    from IPython.display import display

    from hdredu.viz import plot_curves

    handle, seen = None, [0]

    def callback(history: History) -> None:
        nonlocal handle
        if len(history.eval_steps) == seen[0] or metric not in history.metrics:
            return
        seen[0] = len(history.eval_steps)
        fig, (loss_ax, metric_ax) = plt.subplots(1, 2, figsize=(10, 3.2))
        loss_ax.plot(history.steps, history.losses, linewidth=0.8)
        loss_ax.set_xlabel("training step")
        loss_ax.set_ylabel("training loss")
        loss_ax.set_yscale("log")
        plot_curves({label: history.curve(metric)}, baselines=baselines, ax=metric_ax,
                    ylabel=hdr_metrics.LABELS.get(metric, metric) + " [dB]")
        fig.tight_layout()
        if handle is None:
            handle = display(fig, display_id=True)
        else:
            handle.update(fig)
        plt.close(fig)

    return callback
