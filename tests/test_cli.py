"""Tests for hdredu.cli: ``python -m hdredu train|evaluate MODEL`` for every registered model."""

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from hdredu.cli import main, model_from_checkpoint, parse_overrides
from hdredu.models import MODELS
from hdredu.tasks import parse_data, task_of

BRACKETS = Path(__file__).resolve().parents[1] / "data_samples" / "brackets"
SMALL = {
    "ahdrnet": ["--preset", "tiny", "--set", "features=8", "--set", "growth=4", "--set", "dense_layers=2",
                "--set", "blocks=1", "--crop", "32", "--val-crop", "32"],
    "adnet": ["--preset", "tiny", "--crop", "32", "--val-crop", "32"],
    "hdrnet": ["--preset", "tiny", "--crop", "32", "--val-crop", "32"],
    "mqnet": ["--preset", "tiny", "--crop", "32", "--val-crop", "32"],
    "sid_unet": ["--preset", "tiny", "--crop", "32", "--val-crop", "32"],
    "alen": ["--preset", "tiny", "--crop", "32", "--val-crop", "32"],
}
COMMON = ["--val-size", "2", "--batch-size", "2", "--quiet"]


def train_args(model, out, *extra, steps=4):
    return ["train", model, "--steps", str(steps), "--eval-every", "2", "--out", str(out), *SMALL[model], *COMMON, *extra]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    assert main(train_args("ahdrnet", out, "--data", "synthetic")) == 0
    return out


def test_every_registered_model_has_a_small_cli_recipe():
    assert set(SMALL) == set(MODELS), "add a small --set recipe for the new model to SMALL, then its CLI is tested"


@pytest.mark.parametrize("model", sorted(SMALL))
def test_train_and_evaluate_every_model(model, tmp_path, capsys):
    out = tmp_path / model
    assert main(train_args(model, out)) == 0
    task = task_of(MODELS[model])
    rows = list(csv.DictReader((out / "metrics.csv").open()))
    assert [row["step"] for row in rows] == ["0", "1", "2", "3", "4"]
    assert rows[2][task.metrics[0]] != "" and rows[1][task.metrics[0]] == ""
    config = json.loads((out / "config.json").read_text())
    assert config["task"] == task.name and config["train_config"]["steps"] == 4
    capsys.readouterr()
    table = tmp_path / f"{model}.csv"
    assert main(["evaluate", model, "--checkpoint", str(out / "checkpoint.pt"), "--crop", "32", "--size", "2",
                 "--csv", str(table)]) == 0
    printed = capsys.readouterr().out
    per_image = list(csv.DictReader(table.open()))
    assert len(per_image) == 2
    for method in ("model", *task.baselines(*task.dataset("synthetic", "test", 32, 1, 0)[0])):
        assert method == "model" or method in printed  # every baseline of the task is a row of the table
        assert all(float(per_image[0][f"{method}/{name}"]) > 0 for name in task.metrics)


def test_checkpoint_rebuilds_the_model(trained):
    model = model_from_checkpoint("ahdrnet", trained / "checkpoint.pt")
    assert model.config.blocks == 1 and not model.training


def test_resume_of_a_finished_run_keeps_the_weights(trained):
    before = torch.load(trained / "checkpoint.pt", weights_only=False)["model"]
    assert main(train_args("ahdrnet", trained, "--resume")) == 0
    after = torch.load(trained / "checkpoint.pt", weights_only=False)["model"]
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_evaluate_on_synthetic_brackets_reports_every_capture_condition(trained, capsys):
    from hdredu.generalisation import condition_grid

    assert main(["evaluate", "ahdrnet", "--checkpoint", str(trained / "checkpoint.pt"), "--crop", "32", "--size", "1"]) == 0
    printed = capsys.readouterr().out
    assert "PSNR-μ per held-out capture condition" in printed
    assert all(f"| {name} |" in printed for name in condition_grid())


def test_evaluate_kalantari_layout_with_tiles(trained, capsys):
    assert main(["evaluate", "ahdrnet", "--checkpoint", str(trained / "checkpoint.pt"),
                 "--data", f"kalantari:{BRACKETS}", "--crop", "96", "--tile", "40"]) == 0
    printed = capsys.readouterr().out
    assert "3 images" in printed and "Debevec" in printed and "reference frame alone" in printed


def test_train_on_kalantari_layout(tmp_path):
    out = tmp_path / "k"
    assert main(train_args("ahdrnet", out, "--data", f"kalantari:{BRACKETS}", steps=2)) == 0
    assert (out / "checkpoint.pt").is_file()


def _fake_fivek(root: Path) -> Path:
    from hdredu import io

    generator = torch.Generator().manual_seed(0)
    for split in ("train", "test"):
        for side in ("input", "target"):
            (root / split / side).mkdir(parents=True)
        for k in range(2):
            picture = torch.rand(3, 40, 48, generator=generator)
            io.write_ldr(root / split / "input" / f"a{k}.png", io.to_numpy(picture))
            io.write_ldr(root / split / "target" / f"a{k}.png", io.to_numpy(picture.sqrt()))
    return root


def test_hdrnet_trains_and_evaluates_on_fivek_style_folders(tmp_path, capsys):
    root = _fake_fivek(tmp_path / "fivek")
    out = tmp_path / "run"
    assert main(train_args("hdrnet", out, "--data", f"fivek:{root}", steps=2)) == 0
    capsys.readouterr()
    assert main(["evaluate", "hdrnet", "--checkpoint", str(out / "checkpoint.pt"), "--data", f"fivek:{root}"]) == 0
    printed = capsys.readouterr().out
    assert "2 images" in printed and "best global curve (oracle)" in printed


def test_hdrnet_refuses_tiles(tmp_path, capsys):
    out = tmp_path / "h"
    assert main(train_args("hdrnet", out, steps=1)) == 0
    assert main(["evaluate", "hdrnet", "--checkpoint", str(out / "checkpoint.pt"), "--size", "1", "--tile", "16"]) == 2
    assert "HDRNet cannot be tiled" in capsys.readouterr().err


def _run_cli(*args):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "hdredu", *args], capture_output=True, text=True, env=env, timeout=300)


def test_same_seed_same_weights_in_two_processes(tmp_path):
    checkpoints = []
    for run in ("a", "b"):
        result = _run_cli(*train_args("ahdrnet", tmp_path / run, "--seed", "3", steps=3))
        assert result.returncode == 0, result.stderr
        checkpoints.append(torch.load(tmp_path / run / "checkpoint.pt", weights_only=False)["model"])
    assert all(torch.equal(checkpoints[0][k], checkpoints[1][k]) for k in checkpoints[0])
    other = _run_cli(*train_args("ahdrnet", tmp_path / "c", "--seed", "4", steps=3))
    assert other.returncode == 0, other.stderr
    third = torch.load(tmp_path / "c" / "checkpoint.pt", weights_only=False)["model"]
    assert not all(torch.equal(checkpoints[0][k], third[k]) for k in third)


def test_module_entry_point_runs():
    result = _run_cli("train", "--help")
    assert result.returncode == 0 and "kalantari:PATH" in result.stdout and "fivek:PATH" in result.stdout


def test_a_run_is_never_overwritten(trained, tmp_path, capsys):
    before = (trained / "checkpoint.pt").read_bytes(), (trained / "config.json").read_text()
    assert main(train_args("ahdrnet", trained)) == 2
    assert "already holds a run" in capsys.readouterr().err
    # a refused resume (a different learning rate) writes nothing either
    assert main(train_args("ahdrnet", trained, "--resume", "--lr", "0.5")) == 2
    assert "cannot resume" in capsys.readouterr().err
    # a device this machine does not have is refused before anything is written
    if not torch.cuda.is_available():
        assert main(train_args("ahdrnet", trained, "--force", "--device", "cuda")) == 2
        assert "device 'cuda'" in capsys.readouterr().err
    assert ((trained / "checkpoint.pt").read_bytes(), (trained / "config.json").read_text()) == before
    fresh = tmp_path / "fresh"
    assert main(train_args("ahdrnet", fresh, "--device", "gpu0")) == 2
    assert "not a device name" in capsys.readouterr().err and not fresh.exists()


def test_force_replaces_a_run(tmp_path):
    out = tmp_path / "r"
    assert main(train_args("ahdrnet", out, steps=2)) == 0
    assert main(train_args("ahdrnet", out, "--force", steps=3)) == 0
    assert torch.load(out / "checkpoint.pt", weights_only=False)["step"] == 3


def test_non_finite_learning_rate_is_refused_and_a_diverging_run_stops(tmp_path, capsys):
    assert main(train_args("ahdrnet", tmp_path / "inf", "--lr", "inf")) == 2
    assert "lr must be a positive finite number" in capsys.readouterr().err
    assert not (tmp_path / "inf").exists()
    out = tmp_path / "diverge"
    assert main(train_args("ahdrnet", out, "--lr", "1e30", steps=6)) == 2
    err = capsys.readouterr().err
    assert "at step" in err and ("NaN or Inf" in err or "loss is nan" in err)
    if (out / "checkpoint.pt").exists():  # whatever was saved before it diverged holds finite weights
        saved = torch.load(out / "checkpoint.pt", weights_only=False)["model"]
        assert all(torch.isfinite(t).all() for t in saved.values())


def test_truncated_checkpoint_names_the_file(trained, tmp_path, capsys):
    broken = tmp_path / "broken.pt"
    broken.write_bytes((trained / "checkpoint.pt").read_bytes()[:1000])
    assert main(["evaluate", "ahdrnet", "--checkpoint", str(broken)]) == 2
    err = capsys.readouterr().err
    assert str(broken) in err and "truncated" in err


def test_errors(tmp_path, capsys):
    assert main(["train", "ahdrnet", "--data", "imagenet", "--out", str(tmp_path / "x")]) == 2
    assert "--data for a multi-exposure merge model must be one of 'synthetic', 'kalantari:PATH'" in capsys.readouterr().err
    assert main(["train", "hdrnet", "--data", f"kalantari:{BRACKETS}", "--out", str(tmp_path / "y")]) == 2
    assert "'fivek:PATH'" in capsys.readouterr().err
    assert main(["evaluate", "ahdrnet", "--checkpoint", str(tmp_path / "none.pt")]) == 2
    assert "does not exist" in capsys.readouterr().err
    with pytest.raises(ValueError, match="FIELD=VALUE with FIELD one of"):
        parse_overrides("ahdrnet", ["width=3"])
    with pytest.raises(ValueError, match="expects true or false"):
        parse_overrides("ahdrnet", ["attention=maybe"])
    assert parse_overrides("ahdrnet", ["attention=false", "dilation=1"]) == {"attention": False, "dilation": 1}
    assert parse_data("kalantari:/x", task_of(MODELS["ahdrnet"])) == ("kalantari", Path("/x"))
