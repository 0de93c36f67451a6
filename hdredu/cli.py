"""Command line for runs beyond a notebook: ``python -m hdredu train|evaluate …`` (or the ``hdredu`` script).

    python -m hdredu train ahdrnet --data synthetic --preset tiny --steps 2000 --out runs/ahdrnet_tiny
    python -m hdredu train ahdrnet --data kalantari:/data/SIG17 --preset paper --crop 256 --steps 200000
    python -m hdredu evaluate ahdrnet --checkpoint runs/ahdrnet_tiny/checkpoint.pt --data synthetic
    python -m hdredu evaluate ahdrnet --checkpoint ckpt.pt --data kalantari:/data/SIG17 --tile 512

``train`` writes ``checkpoint.pt`` (resumable with ``--resume``), ``metrics.csv`` (per step: loss, lr and the
validation PSNR-μ / PSNR-L) and ``config.json`` into ``--out``. ``evaluate`` prints the mean scores of the model
and of the reference frame alone (linearised), and can write them per image with ``--csv``.
Data: ``synthetic`` = brackets simulated from the bundled scenes (training scenes for training, the held-out
scenes for validation and evaluation); ``kalantari:PATH`` = the Kalantari SIGGRAPH'17 folder layout.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import json
import math
import sys
from pathlib import Path

import torch

from hdredu import losses
from hdredu import metrics as hdr_metrics
from hdredu.models import MODELS, build_model
from hdredu.train import TrainConfig, evaluate, fit, load_checkpoint

LOSSES = {"mu_l1": losses.mu_law_l1, "mu_l2": losses.mu_law_l2}
METRICS = {"psnr_mu": hdr_metrics.psnr_mu, "psnr_l": hdr_metrics.psnr_l}


# ---------------------------------------------------------------------------------------------------------
# Data.
# ---------------------------------------------------------------------------------------------------------


def parse_data(spec: str) -> tuple[str, Path | None]:
    """``"synthetic"`` → ("synthetic", None); ``"kalantari:PATH"`` → ("kalantari", PATH)."""
    if spec == "synthetic":
        return "synthetic", None
    kind, _, path = spec.partition(":")
    if kind == "kalantari" and path:
        return "kalantari", Path(path)
    raise ValueError(f"--data must be 'synthetic' or 'kalantari:PATH'; got {spec!r}")


def synthetic_data(split: str, crop_size: int, length: int, seed: int):
    """Simulated brackets with motion: ``split`` "train" uses the training scenes, "test" the held-out ones."""
    from hdredu.data.samples import TEST_SCENES, TRAIN_SCENES, load_sample
    from hdredu.data.synthetic import BracketDataset

    names = TRAIN_SCENES if split == "train" else TEST_SCENES
    return BracketDataset([load_sample(name) for name in names], crop_size=crop_size, length=length, motion=True, seed=seed)


def kalantari_train_data(root: Path, crop_size: int, crops_needed: int, seed: int):
    """Kalantari training scenes with a fresh random crop each time a scene comes round again.

    The loader's crop is fixed by (seed, index), so R copies with seeds seed, seed + 1, … give R different crops
    per scene; R is chosen so that ``crops_needed`` draws never repeat one.
    """
    from hdredu.data.datasets import Kalantari

    first = Kalantari(root, "train", crop_size=crop_size, seed=seed)
    repeats = min(max(1, math.ceil(crops_needed / len(first))), 10_000)
    copies = [first] + [Kalantari(root, "train", crop_size=crop_size, seed=seed + r) for r in range(1, repeats)]
    return torch.utils.data.ConcatDataset(copies)


def _datasets_for_training(args):
    kind, root = parse_data(args.data)
    if kind == "synthetic":
        train = synthetic_data("train", args.crop, max(4096, args.steps * args.batch_size), args.seed)
        val = synthetic_data("test", args.val_crop, args.val_size, args.seed + 1)
        return train, val
    from hdredu.data.datasets import Kalantari

    train = kalantari_train_data(root, args.crop, args.steps * args.batch_size, args.seed)
    val = Kalantari(root, "test", crop_size=args.val_crop, seed=args.seed)
    if args.val_size < len(val):
        val = torch.utils.data.Subset(val, range(args.val_size))
    return train, val


def _dataset_for_evaluation(args):
    kind, root = parse_data(args.data)
    if kind == "synthetic":
        return synthetic_data("test", args.crop, args.size, args.seed)
    from hdredu.data.datasets import Kalantari

    return Kalantari(root, "test", crop_size=args.crop, seed=args.seed)


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


def cmd_train(args) -> int:
    """Train a model, writing checkpoint.pt, metrics.csv and config.json into ``args.out``."""
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    model = build_model(args.model, args.preset, **parse_overrides(args.model, args.set))
    config = TrainConfig(steps=args.steps, lr=args.lr, batch_size=args.batch_size, seed=args.seed,
                         eval_every=args.eval_every, device=args.device, amp=args.amp, num_workers=args.workers,
                         checkpoint_every=args.checkpoint_every, progress=not args.quiet)
    train, val = _datasets_for_training(args)
    (out / "config.json").write_text(json.dumps({
        "model": args.model, "preset": args.preset, "model_config": dataclasses.asdict(model.config),
        "train_config": dataclasses.asdict(config), "data": args.data, "crop": args.crop, "loss": args.loss,
    }, indent=2))
    history = fit(model, train, LOSSES[args.loss], config, val_data=val, metrics=METRICS,
                  checkpoint_path=out / "checkpoint.pt", resume=args.resume)
    history.to_csv(out / "metrics.csv")
    scores = ", ".join(f"{hdr_metrics.LABELS[name]} {values[-1]:.2f} dB" for name, values in history.metrics.items())
    print(f"trained {args.model} for {history.steps[-1] if history.steps else 0} steps "
          f"({history.train_seconds:.0f} s): {scores}; wrote {out}")
    return 0


def _reference_alone(inputs: torch.Tensor) -> torch.Tensor:
    """The middle frame's linear channels L^γ / t of a (B, N, 6, H, W) input: the reference frame alone."""
    return inputs[:, inputs.shape[1] // 2, 3:6]


def cmd_evaluate(args) -> int:
    """Print (and optionally write) PSNR-μ / PSNR-L of a checkpoint and of the reference frame alone."""
    model = model_from_checkpoint(args.model, args.checkpoint).to(args.device)
    data = _dataset_for_evaluation(args)
    rows = []
    for index in range(len(data)):
        inputs, target = data[index]
        item = [(inputs, target)]
        scores = evaluate(model, item, METRICS, args.device, tile=args.tile)
        reference = _reference_alone(inputs.unsqueeze(0))[0]
        rows.append({"index": index, **{f"model_{k}": v for k, v in scores.items()},
                     **{f"reference_{k}": fn(reference, target) for k, fn in METRICS.items()}})
    means = {key: sum(row[key] for row in rows) / len(rows) for key in rows[0] if key != "index"}
    print(f"{args.model} on {args.data} ({len(rows)} images)")
    print(f"{'':24s}" + "".join(f"{hdr_metrics.LABELS[k]:>20s}" for k in METRICS))
    for who, label in (("model", args.model), ("reference", "reference frame alone")):
        print(f"{label:24s}" + "".join(f"{means[f'{who}_{k}']:>17.2f} dB" for k in METRICS))
    if args.csv:
        path = Path(args.csv)
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
        print(f"wrote {path}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m hdredu", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)

    train = commands.add_parser("train", help="train a model; writes checkpoint.pt, metrics.csv, config.json")
    train.add_argument("model", choices=sorted(MODELS))
    train.add_argument("--data", default="synthetic", help="'synthetic' or 'kalantari:PATH' (default synthetic)")
    train.add_argument("--preset", default="tiny", choices=["tiny", "paper"], help="model size (default tiny)")
    train.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE", help="override a config field")
    train.add_argument("--steps", type=int, default=2000)
    train.add_argument("--batch-size", type=int, default=8)
    train.add_argument("--lr", type=float, default=1e-4)
    train.add_argument("--crop", type=int, default=64, help="training crop side (paper: 256)")
    train.add_argument("--val-crop", type=int, default=128, help="validation crop side")
    train.add_argument("--val-size", type=int, default=8, help="validation images")
    train.add_argument("--eval-every", type=int, default=200)
    train.add_argument("--checkpoint-every", type=int, default=0, help="0 = at each evaluation and at the end")
    train.add_argument("--loss", default="mu_l1", choices=sorted(LOSSES))
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--device", default="cpu")
    train.add_argument("--amp", action="store_true", help="bfloat16 autocast (opt-in)")
    train.add_argument("--workers", type=int, default=0)
    train.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.pt if it exists")
    train.add_argument("--quiet", action="store_true", help="no progress bar")
    train.add_argument("--out", default="runs/run", help="output folder (default runs/run)")
    train.set_defaults(func=cmd_train)

    ev = commands.add_parser("evaluate", help="score a checkpoint against the reference frame alone")
    ev.add_argument("model", choices=sorted(MODELS))
    ev.add_argument("--checkpoint", required=True)
    ev.add_argument("--data", default="synthetic", help="'synthetic' (held-out scenes) or 'kalantari:PATH' (test split)")
    ev.add_argument("--crop", type=int, default=None,
                    help="crop side (synthetic default 256; kalantari default: full images)")
    ev.add_argument("--size", type=int, default=8, help="number of simulated test brackets (synthetic)")
    ev.add_argument("--tile", type=int, default=None, help="predict in overlapping tiles of this size")
    ev.add_argument("--seed", type=int, default=2)
    ev.add_argument("--device", default="cpu")
    ev.add_argument("--csv", default=None, help="write per-image scores here")
    ev.set_defaults(func=cmd_evaluate)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m hdredu`` and the ``hdredu`` script; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "evaluate" and args.crop is None and parse_data(args.data)[0] == "synthetic":
        args.crop = 256
    try:
        return args.func(args)
    except (ValueError, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
