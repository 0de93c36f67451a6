"""Command line for runs beyond a notebook: ``python -m hdredu train|evaluate MODEL …`` (or the ``hdredu`` script).

    python -m hdredu train ahdrnet --data synthetic --preset tiny --steps 2000 --out runs/ahdrnet_tiny
    python -m hdredu train ahdrnet --data kalantari:/data/SIG17 --preset paper --crop 256 --steps 200000
    python -m hdredu train hdrnet --data fivek:/data/fivek_pairs --out runs/hdrnet
    python -m hdredu evaluate ahdrnet --checkpoint runs/ahdrnet_tiny/checkpoint.pt --data synthetic
    python -m hdredu evaluate ahdrnet --checkpoint ckpt.pt --data kalantari:/data/SIG17 --tile 512

Every model in ``hdredu.models.MODELS`` works the same way: its task (:mod:`hdredu.tasks`) says which data it
reads, which metrics score it and which classical baselines it is compared with. ``train`` writes
``checkpoint.pt`` (resumable with ``--resume``), ``metrics.csv`` (per step: loss, lr and the validation metrics)
and ``config.json`` into ``--out``; it refuses to overwrite a folder that holds a run (``--resume`` continues it,
``--force`` replaces it). ``evaluate`` prints the mean scores of the model and of the task's baselines, and can
write them per image with ``--csv``. The same seed gives the same weights, in any process.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import json
import os
import sys
from pathlib import Path

import torch

from hdredu import metrics as hdr_metrics
from hdredu.inference import predict
from hdredu.models import MODELS, build_model
from hdredu.tasks import LOSSES, TASKS, task_of
from hdredu.train import TrainConfig, check_resumable, fit, load_checkpoint
from hdredu.utils import check_device, seed_everything

RUN_FILES = ("checkpoint.pt", "metrics.csv", "config.json")


# ---------------------------------------------------------------------------------------------------------
# Models.
# ---------------------------------------------------------------------------------------------------------


def parse_overrides(model_name: str, pairs: list[str]) -> dict:
    """``["features=32", "attention=false"]`` → {"features": 32, "attention": False}, typed like the config fields."""
    config_class = MODELS[model_name].config_class
    defaults = config_class.paper()
    names = {f.name for f in dataclasses.fields(config_class)}
    overrides = {}
    for pair in pairs:
        name, sep, text = pair.partition("=")
        if not sep or name not in names:
            raise ValueError(f"--set expects FIELD=VALUE with FIELD one of {sorted(names)}; got {pair!r}")
        kind = type(getattr(defaults, name))
        if kind is bool:
            if text.lower() not in ("true", "false", "1", "0"):
                raise ValueError(f"--set {name} expects true or false; got {text!r}")
            overrides[name] = text.lower() in ("true", "1")
        else:
            overrides[name] = kind(text)
    return overrides


def model_from_checkpoint(model_name: str, checkpoint) -> torch.nn.Module:
    """Rebuild ``MODELS[model_name]`` from the config saved in a :func:`hdredu.train.fit` checkpoint, with its weights."""
    if model_name not in MODELS:
        raise ValueError(f"unknown model {model_name!r}; choose one of {sorted(MODELS)}")
    saved = load_checkpoint(checkpoint)
    model_class = MODELS[model_name]
    if saved.get("model_class") not in (None, model_class.__name__):
        raise ValueError(f"{checkpoint} holds a {saved['model_class']}, not a {model_class.__name__} ({model_name!r})")
    config = model_class.config_class(**saved["model_config"]) if saved.get("model_config") else None
    model = model_class(config)
    model.load_state_dict(saved["model"])
    return model.eval()


# ---------------------------------------------------------------------------------------------------------
# Commands.
# ---------------------------------------------------------------------------------------------------------


def _write_text_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file, so a failure leaves the old file (or none)."""
    temporary = path.with_name(path.name + ".tmp")
    try:
        temporary.write_text(text)
        os.replace(temporary, path)
    except OSError:
        temporary.unlink(missing_ok=True)
        raise


def _check_out_folder(out: Path, resume: bool, force: bool) -> None:
    """Refuse to overwrite a run: ``--resume`` continues one, ``--force`` replaces it."""
    existing = [name for name in RUN_FILES if (out / name).exists()]
    if not existing or force or (resume and (out / "checkpoint.pt").exists()):
        return
    raise ValueError(f"{out} already holds a run ({', '.join(existing)}); continue it with --resume, replace it with "
                     "--force, or choose another --out")


def cmd_train(args) -> int:
    """Train a model, writing checkpoint.pt, metrics.csv and config.json into ``args.out``."""
    task = task_of(MODELS[args.model])
    crop = args.crop or task.defaults["crop"]
    val_crop = args.val_crop if args.val_crop is not None else task.defaults["val_crop"]
    loss = args.loss or getattr(MODELS[args.model], "default_loss", task.loss)
    out = Path(args.out)
    # Everything that can be refused is checked before anything is written.
    check_device(args.device)
    _check_out_folder(out, args.resume, args.force)
    config = TrainConfig(steps=args.steps, lr=args.lr if args.lr is not None else task.defaults["lr"],
                         batch_size=args.batch_size, seed=args.seed, eval_every=args.eval_every, device=args.device,
                         amp=args.amp, num_workers=args.workers, checkpoint_every=args.checkpoint_every,
                         progress=not args.quiet)
    config.validate()
    checkpoint = out / "checkpoint.pt"
    if args.resume:
        check_resumable(checkpoint, config)
    elif checkpoint.exists():  # --force: the old run goes only now that the new one is sure to start
        checkpoint.unlink()
    overrides = parse_overrides(args.model, args.set)
    seed_everything(args.seed)  # before the model is built: its initial weights repeat in every process
    model = build_model(args.model, args.preset, **overrides)
    train = task.dataset(args.data, "train", crop, max(4096, args.steps * args.batch_size), args.seed)
    val = task.dataset(args.data, "test", val_crop, args.val_size, args.seed + 1)
    if args.val_size < len(val):
        val = torch.utils.data.Subset(val, range(args.val_size))
    out.mkdir(parents=True, exist_ok=True)
    _write_text_atomic(out / "config.json", json.dumps({
        "model": args.model, "task": task.name, "preset": args.preset, "model_config": dataclasses.asdict(model.config),
        "train_config": dataclasses.asdict(config), "data": args.data, "crop": crop, "val_crop": val_crop, "loss": loss,
    }, indent=2))
    history = fit(model, train, LOSSES[loss], config, val_data=val, metrics=task.metric_functions(),
                  checkpoint_path=checkpoint, resume=args.resume)
    history.to_csv(out / "metrics.csv")
    scores = ", ".join(f"{hdr_metrics.LABELS[name]} {values[-1]:.3f}" for name, values in history.metrics.items())
    print(f"trained {args.model} for {history.steps[-1] if history.steps else 0} steps "
          f"({history.train_seconds:.0f} s): {scores}; wrote {out}")
    return 0


def score_item(model, task, inputs: torch.Tensor, target: torch.Tensor, tile=None, device="cpu") -> dict[str, float]:
    """{"METHOD/METRIC": score} of the model and of every baseline of its task on one (inputs, target) item."""
    metrics = task.metric_functions()
    estimates = {"model": predict(model, inputs[None], tile=tile, device=device)[0].float(),
                 **task.baselines(inputs, target)}
    return {f"{method}/{name}": fn(estimate, target) for method, estimate in estimates.items()
            for name, fn in metrics.items()}


def cmd_evaluate(args) -> int:
    """Print (and optionally write) the task's metrics for a checkpoint and for the task's baselines."""
    device = check_device(args.device)
    model = model_from_checkpoint(args.model, args.checkpoint).to(device)
    task = task_of(model)
    data = task.dataset(args.data, "test", args.crop, args.size, args.seed)
    rows = [{"index": index, **score_item(model, task, *data[index], tile=args.tile, device=device)}
            for index in range(len(data))]
    means = {key: sum(row[key] for row in rows) / len(rows) for key in rows[0] if key != "index"}
    methods = list(dict.fromkeys(key.split("/")[0] for key in means))
    print(f"{args.model} ({task.title}) on {args.data}, {len(rows)} images; mean per image")
    print(f"{'':30s}" + "".join(f"{hdr_metrics.LABELS[name]:>24s}" for name in task.metrics))
    for method in methods:
        label = args.model if method == "model" else method
        print(f"{label:30s}" + "".join(f"{means[f'{method}/{name}']:>24.3f}" for name in task.metrics))
    if task.conditions is not None and args.data == "synthetic":
        print(f"\n{task.conditions(model, args.seed, args.crop, args.tile)}")
    if args.csv:
        path = Path(args.csv)
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
        print(f"wrote {path}")
    return 0


def _data_help() -> str:
    lines = []
    for task in TASKS.values():
        models = ", ".join(name for name, cls in MODELS.items() if getattr(cls, "task", None) == task.name)
        if models:
            kinds = "; ".join(f"{kind}{':PATH' if source.needs_path else ''} = {source.help}"
                              for kind, source in task.data.items())
            lines.append(f"{models}: {kinds}")
    return " | ".join(lines)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m hdredu", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    data_help = f"data (default synthetic). {_data_help()}"

    train = commands.add_parser("train", help="train a model; writes checkpoint.pt, metrics.csv, config.json")
    train.add_argument("model", choices=sorted(MODELS))
    train.add_argument("--data", default="synthetic", help=data_help)
    train.add_argument("--preset", default="tiny", choices=["tiny", "paper"], help="model size (default tiny)")
    train.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE", help="override a config field")
    train.add_argument("--steps", type=int, default=2000)
    train.add_argument("--batch-size", type=int, default=8)
    train.add_argument("--lr", type=float, default=None, help="learning rate (default: the task's, e.g. 1e-4 merge)")
    train.add_argument("--crop", type=int, default=None, help="training crop side (default: the task's, 64)")
    train.add_argument("--val-crop", type=int, default=None, help="validation crop side (default: the task's)")
    train.add_argument("--val-size", type=int, default=8, help="validation images")
    train.add_argument("--eval-every", type=int, default=200)
    train.add_argument("--checkpoint-every", type=int, default=0, help="0 = at each evaluation and at the end")
    train.add_argument("--loss", default=None, choices=sorted(LOSSES), help="default: the task's")
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--device", default="cpu")
    train.add_argument("--amp", action="store_true", help="bfloat16 autocast (opt-in)")
    train.add_argument("--workers", type=int, default=0)
    train.add_argument("--resume", action="store_true", help="continue the run in --out from its checkpoint.pt")
    train.add_argument("--force", action="store_true", help="replace a run already in --out")
    train.add_argument("--quiet", action="store_true", help="no progress bar")
    train.add_argument("--out", default="runs/run", help="output folder (default runs/run)")
    train.set_defaults(func=cmd_train)

    ev = commands.add_parser("evaluate", help="score a checkpoint against its task's classical baselines")
    ev.add_argument("model", choices=sorted(MODELS))
    ev.add_argument("--checkpoint", required=True)
    ev.add_argument("--data", default="synthetic", help=data_help + " (the test split / held-out scenes)")
    ev.add_argument("--crop", type=int, default=None, help="crop side (default: whole images; synthetic brackets 256)")
    ev.add_argument("--size", type=int, default=8, help="number of simulated test items (synthetic)")
    ev.add_argument("--tile", type=int, default=None, help="predict in overlapping tiles of this size")
    ev.add_argument("--seed", type=int, default=2)
    ev.add_argument("--device", default="cpu")
    ev.add_argument("--csv", default=None, help="write per-image scores here")
    ev.set_defaults(func=cmd_evaluate)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m hdredu`` and the ``hdredu`` script; returns the exit status."""
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, FileNotFoundError, FloatingPointError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
