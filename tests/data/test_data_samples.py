"""Tests for hdredu.data.samples: the bundled CC0 scenes, their manifest and hash checks."""

from __future__ import annotations

import csv
import hashlib
import re
import shutil

import pytest
import torch

from hdredu.data import samples, synthetic

NAMES = ["city", "courtyard", "forest", "interior", "studio", "sunset"]


@pytest.fixture
def fresh_caches():
    """Clear the manifest / hash caches before and after a test that points SAMPLES_DIR elsewhere."""
    samples.manifest.cache_clear()
    samples.verify.cache_clear()
    yield
    samples.manifest.cache_clear()
    samples.verify.cache_clear()


@pytest.fixture
def samples_copy(tmp_path, monkeypatch, fresh_caches):
    """A copy of data_samples/ that the package reads instead of the real one."""
    copy = tmp_path / "data_samples"
    shutil.copytree(samples.SAMPLES_DIR, copy)
    monkeypatch.setattr(samples, "SAMPLES_DIR", copy)
    return copy


def test_list_samples():
    assert samples.list_samples() == NAMES


@pytest.mark.parametrize("name", NAMES)
def test_every_scene_loads(name):
    hdr = samples.load_sample(name)
    assert hdr.shape == (3, 256, 384) and hdr.dtype == torch.float32
    assert torch.isfinite(hdr).all() and float(hdr.min()) >= 0.0
    assert float(hdr.max()) > 10 * float(hdr.median())  # a real HDR scene, not a flat image


def test_manifest_covers_every_file_and_hashes_match():
    with (samples.SAMPLES_DIR / "MANIFEST.tsv").open(newline="") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    on_disk = {p.relative_to(samples.SAMPLES_DIR).as_posix(): p
               for p in samples.SAMPLES_DIR.rglob("*") if p.is_file() and p.name != "MANIFEST.tsv"}
    assert sorted(row["file"] for row in rows) == sorted(on_disk)
    for row in rows:
        data = on_disk[row["file"]].read_bytes()
        assert hashlib.sha256(data).hexdigest() == row["sha256"], row["file"]
        assert int(row["bytes"]) == len(data), row["file"]
        assert row["licence"] == "CC0-1.0" and row["source"], row["file"]
    assert samples.manifest() == {row["file"]: row["sha256"] for row in rows}


def test_folder_is_small():
    total = sum(p.stat().st_size for p in samples.SAMPLES_DIR.rglob("*") if p.is_file())
    assert total < 6 * 1024**2, f"data_samples/ holds {total / 1024**2:.2f} MB"


def test_untouched_copy_loads(samples_copy):
    torch.testing.assert_close(samples.load_sample("forest"), samples.io.to_tensor(
        samples.io.read_hdr(samples_copy / "forest.exr")))
    assert samples.verify("forest.exr") == samples_copy / "forest.exr"


def test_tampered_file_is_detected(samples_copy):
    path = samples_copy / "city.exr"
    data = bytearray(path.read_bytes())
    data[-100] ^= 0xFF  # flip one byte
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match=re.escape(f"{path}: sha256 does not match MANIFEST.tsv")):
        samples.load_sample("city")
    samples.load_sample("sunset")  # the others still load


def test_missing_file_is_detected(samples_copy):
    (samples_copy / "studio.exr").unlink()
    with pytest.raises(FileNotFoundError, match=re.escape(f"bundled sample missing: {samples_copy / 'studio.exr'}")):
        samples.load_sample("studio")


def test_missing_manifest_is_detected(samples_copy):
    (samples_copy / "MANIFEST.tsv").unlink()
    with pytest.raises(FileNotFoundError, match="MANIFEST.tsv is missing"):
        samples.load_sample("city")


def test_unlisted_file_is_refused(samples_copy):
    (samples_copy / "extra.exr").write_bytes(b"not listed")
    with pytest.raises(ValueError, match=r"extra.exr is not listed in .*MANIFEST.tsv"):
        samples.verify("extra.exr")


def test_unknown_name_lists_the_choices():
    with pytest.raises(ValueError, match=re.escape(f"unknown sample 'beach'; choose one of {NAMES}")):
        samples.load_sample("beach")


# ---------------------------------------------------------------------------------------------------------
# The pre-simulated bracket sets.
# ---------------------------------------------------------------------------------------------------------


def test_bracket_sets_hold_both_spacings():
    stops = {}
    for bracket_set in samples.BRACKET_SETS:
        folder = samples.BRACKETS_DIR / bracket_set.split / bracket_set.name
        text = (folder / "exposure.txt").read_text().split()
        stops[bracket_set.name] = tuple(float(ev) for ev in text)
        assert stops[bracket_set.name] == bracket_set.exposure_stops
        assert sorted(p.name for p in folder.iterdir()) == ["HDRImg.hdr", "exposure.txt", "ldr_0.png", "ldr_1.png", "ldr_2.png"]
    assert stops["sunset_motion_3stops"] == (0.0, 3.0, 6.0)
    assert stops["courtyard_motion"] == (0.0, 2.0, 4.0)


def test_bracket_sets_are_rebuilt_from_the_simulator(samples_copy):
    # The simulator is deterministic: rewriting the sets from the bundled scenes reproduces them (a change to the
    # simulator's defaults or draw order shows up here). On this machine the files come back byte for byte; the
    # test allows a 1-code difference in a few pixels, as another CPU may round a float differently.
    original = {p.relative_to(samples_copy).as_posix(): p.read_bytes()
                for p in (samples_copy / "brackets").rglob("*") if p.is_file()}
    shutil.rmtree(samples_copy / "brackets")
    synthetic.write_bracket_sets()
    written = sorted(p.relative_to(samples_copy).as_posix() for p in (samples_copy / "brackets").rglob("*") if p.is_file())
    assert written == sorted(original) == sorted(name for name in samples.manifest() if name.startswith("brackets/"))
    for name in written:
        path = samples_copy / name
        if path.suffix == ".txt":
            assert path.read_bytes() == original[name], name
            continue
        reference = samples_copy / ("original" + path.suffix)  # the bundled file, to read back
        reference.write_bytes(original[name])
        if path.suffix == ".png":
            new, old = (torch.from_numpy(samples.io.read_ldr(p) * 255).round() for p in (path, reference))
            assert float((new - old).abs().max()) <= 1 and float((new != old).float().mean()) < 1e-3, name
        else:
            torch.testing.assert_close(samples.io.to_tensor(samples.io.read_hdr(path)),
                                       samples.io.to_tensor(samples.io.read_hdr(reference)), rtol=2e-2, atol=1e-5, msg=name)
