"""Tests for hdredu.cli: ``python -m hdredu train|evaluate``."""

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from hdredu.cli import main, model_from_checkpoint, parse_data, parse_overrides

BRACKETS = Path(__file__).resolve().parents[1] / "data_samples" / "brackets"
SMALL = ["--preset", "tiny", "--set", "features=8", "--set", "growth=4", "--set", "dense_layers=2",
         "--set", "blocks=1", "--crop", "32", "--val-crop", "32", "--val-size", "2", "--batch-size", "2",
         "--quiet"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    assert main(["train", "ahdrnet", "--data", "synthetic", "--steps", "4", "--eval-every", "2", "--out", str(out), *SMALL]) == 0
    return out


def test_train_writes_checkpoint_metrics_and_config(trained):
    rows = list(csv.DictReader((trained / "metrics.csv").open()))
    assert [row["step"] for row in rows] == ["0", "1", "2", "3", "4"]
    assert rows[2]["psnr_mu"] != "" and rows[1]["psnr_mu"] == ""
    config = json.loads((trained / "config.json").read_text())
    assert config["model_config"]["features"] == 8 and config["train_config"]["steps"] == 4
    model = model_from_checkpoint("ahdrnet", trained / "checkpoint.pt")
    assert model.config.blocks == 1 and not model.training


def test_resume_of_a_finished_run_keeps_the_weights(trained, tmp_path):
    before = torch.load(trained / "checkpoint.pt", weights_only=False)["model"]
    args = ["train", "ahdrnet", "--steps", "4", "--eval-every", "2", "--out", str(trained), "--resume", *SMALL]
    assert main(args) == 0
    after = torch.load(trained / "checkpoint.pt", weights_only=False)["model"]
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_evaluate_synthetic_and_kalantari(trained, tmp_path, capsys):
    table = tmp_path / "scores.csv"
    assert main(["evaluate", "ahdrnet", "--checkpoint", str(trained / "checkpoint.pt"), "--crop", "32", "--size", "2",
                 "--csv", str(table)]) == 0
    printed = capsys.readouterr().out
    assert "reference frame alone" in printed and "PSNR-μ" in printed
    rows = list(csv.DictReader(table.open()))
    assert len(rows) == 2 and float(rows[0]["model_psnr_mu"]) > 0 and float(rows[0]["reference_psnr_mu"]) > 0
    assert main(["evaluate", "ahdrnet", "--checkpoint", str(trained / "checkpoint.pt"),
                 "--data", f"kalantari:{BRACKETS}", "--crop", "96", "--tile", "40"]) == 0
    assert "(2 images)" in capsys.readouterr().out


def test_train_on_kalantari_layout(tmp_path):
    out = tmp_path / "k"
    args = ["train", "ahdrnet", "--data", f"kalantari:{BRACKETS}", "--steps", "2", "--eval-every", "2", "--out", str(out), *SMALL]
    assert main(args) == 0
    assert (out / "checkpoint.pt").is_file()


def test_module_entry_point_runs():
    result = subprocess.run([sys.executable, "-m", "hdredu", "train", "--help"], capture_output=True, text=True)
    assert result.returncode == 0 and "kalantari:PATH" in result.stdout


def test_errors(tmp_path, capsys):
    assert main(["train", "ahdrnet", "--data", "imagenet", "--out", str(tmp_path)]) == 2
    assert "--data must be 'synthetic' or 'kalantari:PATH'; got 'imagenet'" in capsys.readouterr().err
    assert main(["evaluate", "ahdrnet", "--checkpoint", str(tmp_path / "none.pt")]) == 2
    assert "does not exist" in capsys.readouterr().err
    with pytest.raises(ValueError, match="FIELD=VALUE with FIELD one of"):
        parse_overrides("ahdrnet", ["width=3"])
    with pytest.raises(ValueError, match="expects true or false"):
        parse_overrides("ahdrnet", ["attention=maybe"])
    assert parse_overrides("ahdrnet", ["attention=false", "dilation=1"]) == {"attention": False, "dilation": 1}
    assert parse_data("kalantari:/x") == ("kalantari", Path("/x"))
