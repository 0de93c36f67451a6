"""Tests for hdredu.data.datasets.sid.SID on a tiny fake copy of the SID Sony layout (datasets.md §3, §6).

The fake RAW frames are DNG files written by hdredu.imaging.raw.write_dng under SID's own names (``*.ARW``:
LibRaw recognises a file by its content, not its extension). Each frame is 64×96 (packed 32×48): the long
exposure is the unprocessed sRGB crop of a bundled scene, the short one its simulated low-light capture.
Expected inputs are recomputed here with numpy, in the way SID's train_Sony.py writes them.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
import rawpy
import torch
from pidng.core import RAW2DNG, DNGTags, Tag
from pidng.defs import DNGVersion, PhotometricInterpretation

from hdredu.data.datasets.sid import SID, parse_exposure, read_raw
from hdredu.data.samples import load_sample
from hdredu.imaging import raw as R
from hdredu.imaging.tonemap import reinhard
from hdredu.utils import random_window

HEIGHT, WIDTH = 64, 96
# (list split, short name, long name): ratios 100, 100 (burst 01), 250, 300 (0.033 s vs 10 s = 303 → capped)
PAIRS = {
    "train": [("00001_00_0.1s.ARW", "00001_00_10s.ARW"), ("00001_01_0.1s.ARW", "00001_00_10s.ARW"),
              ("00002_00_0.04s.ARW", "00002_00_10s.ARW"), ("00003_00_0.033s.ARW", "00003_00_10s.ARW")],
    "test": [("10001_00_0.1s.ARW", "10001_00_10s.ARW"), ("10034_00_0.1s.ARW", "10034_00_10s.ARW")],
    "val": [("20001_00_0.1s.ARW", "20001_00_30s.ARW")],
}


@pytest.fixture(scope="module")
def scene() -> torch.Tensor:
    return reinhard(load_sample("city"))  # (3, 256, 384) sRGB display values


def write_pair(root, short_name, long_name, scene, offset=0, ratio=None, **dng):
    """Write one short / long pair into root/Sony/{short,long}/; returns the short counts (H, W)."""
    srgb = scene[:, offset : offset + HEIGHT, offset : offset + WIDTH]
    camera = R.Camera.default()
    (root / "Sony" / "short").mkdir(parents=True, exist_ok=True)
    (root / "Sony" / "long").mkdir(parents=True, exist_ok=True)
    long_path = root / "Sony" / "long" / long_name
    if not long_path.exists():
        R.write_dng(long_path, R.unprocess(srgb, camera), camera=camera)
    ratio = ratio or min(parse_exposure(long_name)[2] / parse_exposure(short_name)[2], 300)
    linear = R.unprocess_linear(srgb, camera)
    short = R.low_light_capture(linear, ratio, camera, generator=torch.Generator().manual_seed(offset))
    R.write_dng(root / "Sony" / "short" / short_name, short, camera=camera, **dng)
    return short


def write_list(path, pairs):
    path.write_text("".join(f"./Sony/short/{s} ./Sony/long/{lo} ISO200 F8\n" for s, lo in pairs))


@pytest.fixture(scope="module")
def fake_root(tmp_path_factory, scene):
    """Train and test lists in the root, the val list inside Sony/ (both places are searched)."""
    root = tmp_path_factory.mktemp("sid")
    shorts = {}
    for pairs in PAIRS.values():
        for short, long in pairs:
            shorts[short] = write_pair(root, short, long, scene, offset=16 * len(shorts))
    write_list(root / "Sony_train_list.txt", PAIRS["train"])
    write_list(root / "Sony_test_list.txt", PAIRS["test"])
    write_list(root / "Sony" / "Sony_val_list.txt", PAIRS["val"])
    return root, shorts


def sid_reference_input(counts: np.ndarray, ratio: float, black=512, white=16383) -> np.ndarray:
    """train_Sony.py's pack_raw and amplification: (H, W) counts → (4, H/2, W/2)."""
    im = np.maximum(counts.astype(np.float32) - black, 0) / (white - black)
    packed = np.stack([im[0::2, 0::2], im[0::2, 1::2], im[1::2, 1::2], im[1::2, 0::2]])
    return np.minimum(packed * ratio, 1.0)


# ---------------------------------------------------------------------------------------------------------
# Layout, list files, ratios.
# ---------------------------------------------------------------------------------------------------------


def test_exposure_parsing():
    assert parse_exposure("00001_00_0.04s.ARW") == (1, 0, 0.04)
    assert parse_exposure("10034_02_10s.ARW") == (10034, 2, 10.0)
    with pytest.raises(ValueError, match=r"IMG_0001\.ARW: not a SID file name"):
        parse_exposure("IMG_0001.ARW")


def test_pairs_ratios_and_filters(fake_root):
    root, _ = fake_root
    train = SID(root, "train")
    assert len(train) == 4
    assert [train.ratio(i) for i in range(4)] == pytest.approx([100, 100, 250, 300])
    assert [pair.burst for pair in train.pairs] == [0, 1, 0, 0]
    assert len(SID(root, "train", first_burst_only=True)) == 3
    # test: scene 10034 is misaligned and left out unless asked for
    assert [pair.scene for pair in SID(root, "test").pairs] == [10001]
    assert [pair.scene for pair in SID(root, "test", exclude_misaligned=False).pairs] == [10001, 10034]
    val = SID(root, "val")  # list file found in <root>/Sony/
    assert val.list_file == root / "Sony" / "Sony_val_list.txt" and val.ratio(0) == pytest.approx(300)


def test_bad_arguments_and_missing_lists(fake_root, tmp_path):
    root, _ = fake_root
    with pytest.raises(ValueError, match="split must be one of"):
        SID(root, "training")
    with pytest.raises(ValueError, match="crop_size must be an even positive int"):
        SID(root, "train", crop_size=0)
    with pytest.raises(ValueError, match="crop_size must be an even positive int"):
        SID(root, "train", crop_size=33)
    with pytest.raises(FileNotFoundError, match="SID root folder not found"):
        SID(tmp_path / "nowhere", "train")
    with pytest.raises(FileNotFoundError, match="no train list: neither .*Sony_train_list.txt"):
        SID(tmp_path, "train")


def test_list_file_naming_a_missing_file(tmp_path, scene):
    root = one_pair_root(tmp_path, scene)
    listed = [("00001_00_0.1s.ARW", "00001_00_10s.ARW"), ("00009_00_0.1s.ARW", "00001_00_10s.ARW")]
    write_list(root / "Sony_train_list.txt", listed)
    message = r"Sony_train_list\.txt, line 2: the listed file .*00009_00_0\.1s\.ARW does not exist"
    with pytest.raises(FileNotFoundError, match=message):
        SID(root, "train")


# ---------------------------------------------------------------------------------------------------------
# Items: values, shapes, crops.
# ---------------------------------------------------------------------------------------------------------


def test_item_shapes_and_input_values(fake_root):
    root, shorts = fake_root
    train = SID(root, "train")
    for index in (0, 2, 3):
        inputs, target = train[index]
        assert inputs.shape == (4, HEIGHT // 2, WIDTH // 2) and target.shape == (3, HEIGHT, WIDTH)
        assert inputs.dtype == torch.float32 and target.dtype == torch.float32
        assert 0 <= inputs.min() and inputs.max() <= 1 and 0 <= target.min() and target.max() <= 1
        expected = sid_reference_input(shorts[train.pairs[index].short.name].numpy(), train.ratio(index))
        np.testing.assert_allclose(inputs.numpy(), expected, rtol=1e-6, atol=1e-7)


def test_target_is_libraws_rendering_without_a_second_gamma(fake_root, scene):
    root, _ = fake_root
    train = SID(root, "train")
    _, target = train[0]
    with rawpy.imread(str(train.pairs[0].long)) as raw:
        expected = raw.postprocess(use_camera_wb=True, half_size=False, no_auto_bright=True, output_bps=16) / 65535
    np.testing.assert_allclose(target.permute(1, 2, 0).numpy(), expected, atol=1e-7)
    # the target is already display-encoded: its mean is near the sRGB source's (LibRaw's BT.709 curve is a
    # little darker: 0.22 vs 0.27 here); encoding it again would brighten it far more
    source = scene[:, :HEIGHT, :WIDTH]
    assert abs(float(target.mean() - source.mean())) < 0.1
    assert float(R.linear_to_srgb(target).mean() - source.mean()) > 0.15


def test_random_crops_are_consistent_and_deterministic(fake_root):
    root, _ = fake_root
    full = SID(root, "train")
    cropped = SID(root, "train", crop_size=32, seed=3)  # the target's side; the packed input gets 16
    inputs, target = cropped[2]
    assert inputs.shape == (4, 16, 16) and target.shape == (3, 32, 32)
    full_inputs, full_target = full[2]
    generator = torch.Generator().manual_seed(3 * 1_000_003 + 2)
    _, rows, cols = random_window(HEIGHT // 2, WIDTH // 2, 16, generator)
    assert torch.equal(inputs, full_inputs[:, rows, cols])
    # the target window covers the same pixels: twice the packed coordinates
    assert torch.equal(target, full_target[:, 2 * rows.start : 2 * rows.stop, 2 * cols.start : 2 * cols.stop])
    again, _ = SID(root, "train", crop_size=32, seed=3)[2]
    other, _ = SID(root, "train", crop_size=32, seed=4)[2]
    assert torch.equal(inputs, again) and not torch.equal(inputs, other)
    with pytest.raises(ValueError, match=r"crop_size=80 is larger than 00002_00_0.04s.ARW \(64x96\)"):
        SID(root, "train", crop_size=80)[2]


# ---------------------------------------------------------------------------------------------------------
# Broken or unusual files: each error names the file.
# ---------------------------------------------------------------------------------------------------------


def one_pair_root(tmp_path, scene, **dng):
    write_pair(tmp_path, "00001_00_0.1s.ARW", "00001_00_10s.ARW", scene, **dng)
    write_list(tmp_path / "Sony_train_list.txt", [("00001_00_0.1s.ARW", "00001_00_10s.ARW")])
    return tmp_path


def test_unreadable_raw_file(tmp_path, scene):
    root = one_pair_root(tmp_path, scene)
    (root / "Sony" / "short" / "00001_00_0.1s.ARW").write_bytes(b"not a raw file" * 100)
    with pytest.raises(ValueError, match=r"00001_00_0\.1s\.ARW: rawpy cannot read this RAW file"):
        SID(root, "train")[0]


def test_other_bayer_pattern_is_packed_from_the_files_raw_pattern(tmp_path, scene):
    # a BGGR frame: R sits at (1, 1) of each tile, and packs to channel 0 all the same
    root = one_pair_root(tmp_path, scene, cfa="BGGR")
    counts = read_raw(root / "Sony" / "short" / "00001_00_0.1s.ARW").counts
    inputs, _ = SID(root, "train")[0]
    torch.testing.assert_close(inputs[0], ((counts[1::2, 1::2] - 512).clamp_min(0) / 15871 * 100).clamp(max=1))
    torch.testing.assert_close(inputs[2], ((counts[0::2, 0::2] - 512).clamp_min(0) / 15871 * 100).clamp(max=1))


def test_non_bayer_pattern_is_refused(tmp_path, scene):
    root = one_pair_root(tmp_path, scene)
    tags = DNGTags()  # an R G / B G tile (R and B in one column): no Bayer layout, written with pidng directly
    for tag, value in [(Tag.ImageWidth, WIDTH), (Tag.ImageLength, HEIGHT), (Tag.TileWidth, WIDTH),
                       (Tag.TileLength, HEIGHT), (Tag.SamplesPerPixel, 1), (Tag.BitsPerSample, 16),
                       (Tag.PhotometricInterpretation, PhotometricInterpretation.Color_Filter_Array),
                       (Tag.CFARepeatPatternDim, [2, 2]), (Tag.CFAPattern, [0, 1, 2, 1]), (Tag.BlackLevel, 512),
                       (Tag.WhiteLevel, 16383), (Tag.DNGVersion, DNGVersion.V1_4)]:
        tags.set(tag, value)
    writer = RAW2DNG()
    writer.options(tags, path="", compress=False)
    buffer = writer.convert(np.full((HEIGHT, WIDTH), 1000, dtype=np.uint16))
    (root / "Sony" / "short" / "00001_00_0.1s.ARW").write_bytes(bytes(buffer))
    with pytest.raises(ValueError, match=r"00001_00_0\.1s\.ARW: colour filter array 'RGBG' is not a 2x2 Bayer"):
        SID(root, "train")[0]


def test_levels_come_from_the_file(tmp_path, scene):
    # a 12-bit camera with per-channel black levels: black [R, G(0,1), G(1,0), B] = 250, 251, 252, 253, white 4095
    root = one_pair_root(tmp_path, scene, black_level=[250, 251, 252, 253], white_level=4095)
    frame = read_raw(root / "Sony" / "short" / "00001_00_0.1s.ARW")
    assert frame.black_level.tolist() == [250, 251, 253, 252] and frame.white_level == 4095  # packed order
    inputs, _ = SID(root, "train")[0]
    counts = frame.counts
    for channel, ((dy, dx), black) in enumerate(zip([(0, 0), (0, 1), (1, 1), (1, 0)], [250, 251, 253, 252])):
        expected = ((counts[dy::2, dx::2] - black).clamp_min(0) / (4095 - black) * 100).clamp(max=1)
        torch.testing.assert_close(inputs[channel], expected)


def test_short_and_long_of_different_sizes(tmp_path, scene):
    root = one_pair_root(tmp_path, scene)
    R.write_dng(root / "Sony" / "long" / "00001_00_10s.ARW", R.unprocess(scene[:, :HEIGHT, : WIDTH - 2]))
    message = re.escape("00001_00_0.1s.ARW is 64x96 but its reference ") + r".*00001_00_10s\.ARW renders to 64x94"
    with pytest.raises(ValueError, match=message):
        SID(root, "train")[0]
