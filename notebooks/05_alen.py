# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     notebook_metadata_filter: -jupytext.text_representation.jupytext_version
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 05 · ALEN: seeing in the dark from RAW sensor data
#
# *What a sensor records, a camera pipeline run backwards to make dark captures, and a U-Net with attention
# that turns them into pictures.*
#
# Zhang, Yan, Zhu, Li, Sun & Zhang, "Attention-based network for low-light image enhancement", ICME 2020
# (arXiv 2005.09829) · Chen, Chen, Xu & Koltun, "Learning to See in the Dark", CVPR 2018 (SID) ·
# Brooks, Mildenhall, Xue, Chen, Sharlet & Barron, "Unprocessing Images for Learned Raw Denoising", CVPR 2019 ·
# Wang, Girshick, Gupta & He, "Non-local Neural Networks", CVPR 2018.
#
# > **ALEN has no public code.** Its abstract names the parts (raw input, channel attention, non-local spatial
# > attention, an "inverted shuffle layer" as pooling); a third-party description adds the U-Net layout. Every
# > other choice in `hdredu.models.alen` is a **reconstruction**, marked *(reconstruction)* below and in the
# > package (reference/alen.md). Not to be confused with the unrelated sRGB "ALEN" of Perez-Zarate et al. (2025).
#
# **Goals.** After this notebook you can
# 1. say what a RAW sensor records: a colour mosaic of counts above a black level, with noise that grows with
#    the signal, and what a ×300 gain does to it;
# 2. run the camera pipeline backwards (unprocessing) step by step, and simulate SID-style dark captures,
#    down to a DNG file that LibRaw (rawpy) opens;
# 3. build ALEN's blocks (inverted shuffle layer, non-local block, channel and spatial attention) and check
#    each against `hdredu.ops`;
# 4. train the SID U-Net and ALEN at the same CPU budget, compare them with the classical answer
#    (amplify + process, + an OpenCV denoiser) per amplification ratio, look inside the attention, and
#    measure two ablations.
#
# **Prerequisites.** `00_hdr_basics` (camera noise, sRGB), `01_ahdrnet` (`hdredu.train.fit`, attention);
# U-Nets.
#
# **Budget (2-core CPU, otherwise idle, measured).** FAST mode (`HDREDU_FAST=1`) ≈ BUDGET_FAST; full ≈
# BUDGET_FULL, most of it the five trainings of sections 6 and 8 (the training budgets sit in one cell at
# the top of section 6). Expected (section 6 prints them): held-out PSNR at ratio 300 ≈ SCORES.

# %%
import tempfile
import time
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import rawpy
import torch
import torch.nn.functional as F
from torch import nn

from hdredu import losses, metrics, tasks, viz
from hdredu.data import lowlight
from hdredu.data.samples import TEST_SCENES, TRAIN_SCENES, load_sample
from hdredu.imaging import raw
from hdredu.imaging.tonemap import reinhard
from hdredu.models.alen import ALEN, ALENConfig
from hdredu.models.sid_unet import SIDUNet, SIDUNetConfig
from hdredu.ops import attention, nonlocal_, shuffle
from hdredu.train import TrainConfig, fit
from hdredu.utils import FAST, seed_everything

seed_everything(0)
notebook_start = time.perf_counter()
device = torch.device("cpu")  # everything here runs on a CPU; pass device="cuda" to TrainConfig to opt in
print(f"FAST = {FAST} · torch {torch.__version__} · {torch.get_num_threads()} CPU threads · device {device}")

# %% [markdown]
# ## 1. What a sensor records
#
# A camera sensor counts photo-electrons per pixel, and each pixel sits behind **one** colour filter. The
# usual *Bayer* colour filter array (CFA) repeats a 2×2 tile **RGGB**: red at (0, 0), green at (0, 1) and (1, 0),
# blue at (1, 1). So a RAW frame is an $H \times W$ **mosaic** of single numbers, not an RGB image, and
# the camera's pipeline (white balance, demosaicing, a colour matrix, the sRGB curve) makes the picture.
#
# The counts are not zero in the dark: the read-out adds a **black level** (512 on the Sony α7S II of SID)
# and saturates at the **white level** (16383, 14 bits). SID normalises
# $L = \max(\text{counts} - 512, 0)\,/\,(16383 - 512)$ to $[0, 1]$.
#
# We make a mosaic from one of the bundled scenes: tone-map it (Reinhard), then run the camera pipeline
# backwards with `hdredu.imaging.raw.unprocess` (section 2 builds it). The camera is fixed: the mean of
# Brooks et al.'s four camera matrices, white-balance gains $(2.15, 1, 1.7)$, Sony levels.

# %%
camera = raw.Camera.default()
display = reinhard(load_sample("courtyard"))  # (3, H, W) the well-exposed picture, sRGB in [0, 1]
counts = raw.unprocess(display, camera)  # (H, W) 14-bit sensor counts of that picture
print(f"display {tuple(display.shape)} → mosaic {tuple(counts.shape)}, counts in [{counts.min():.0f}, {counts.max():.0f}]"
      f" (black {camera.black_level:.0f}, white {camera.white_level:.0f})")

tile_colour = torch.zeros(3, *counts.shape)  # paint every pixel in its filter's colour, brightness = its value
linear_mosaic = raw.raw_to_linear(counts, camera.black_level, camera.white_level)  # (H, W) in [0, 1]
for colour, (dy, dx) in zip((0, 1, 2, 1), raw.bayer_positions("RGGB")):
    tile_colour[colour, dy::2, dx::2] = linear_mosaic[dy::2, dx::2]
zoom = (slice(96, 128), slice(160, 208))
fig, axes = plt.subplots(1, 3, figsize=(12, 3.2))
viz.show_images({"the picture (sRGB)": display}, axes=[axes[0]])
axes[1].imshow(counts, cmap="gray")
axes[1].set_title("RAW counts: one number per pixel", fontsize=9)
axes[2].imshow((tile_colour[:, zoom[0], zoom[1]] * 3).clamp(0, 1).permute(1, 2, 0), interpolation="nearest")
axes[2].set_title("zoom, each pixel in its filter colour (×3)", fontsize=9)
for ax in axes[1:]:
    ax.axis("off")
plt.show()
assert counts.min() >= camera.black_level - 0.5 and counts.max() <= camera.white_level, "noiseless counts stay in range"

# %% [markdown]
# ### Black level and noise that grows with the signal
#
# A capture adds noise. The standard model (Brooks et al.; the SID data follows it well) is Gaussian with a
# variance that grows linearly with the signal $s$ (in linear units of the capture):
#
# $$ y = s + \sqrt{a\,s + b}\;n,\qquad n \sim \mathcal N(0, 1),\qquad a = 10^{-4}\ \text{(shot)},\quad
# b = (2\cdot10^{-4})^2\ \text{(read)}. $$
#
# *Shot noise* ($a s$) is the Poisson statistics of the photons; *read noise* ($b$) is the electronics,
# present even in the dark. A **dark frame** (no light at all) shows the black level and the read noise; flat
# grey patches at several levels show the variance line. Then the counts are rounded to 14 bits. (Measure the
# variance before SID's clipping $\max(c - \text{black}, 0)$: in the dark, the clip removes the negative half of
# the noise and with it about half of the variance.)

# %%
gen = torch.Generator().manual_seed(0)
dark = raw.low_light_capture(torch.zeros(256, 256), 1.0, camera, generator=gen)  # (256, 256) counts, no light
span = camera.white_level - camera.black_level
print(f"dark frame: mean {dark.mean():.2f} counts (black level {camera.black_level:.0f}), "
      f"std {dark.std():.2f} counts (read noise √b · span = {raw.READ_NOISE * span:.2f})")
assert abs(dark.mean() - camera.black_level) < 0.1 and abs(dark.std() / (raw.READ_NOISE * span) - 1) < 0.05

levels = torch.logspace(-4, -0.5, 8)  # flat patches from 1e-4 to 0.3 of white
measured = []
for level in levels:
    patch = raw.low_light_capture(torch.full((128, 128), float(level)), 1.0, camera, generator=gen)
    # (counts − black) / span, *not* clipped at 0: SID's max(·, 0) would cut the negative half of the dark noise
    measured.append(float(((patch - camera.black_level) / span).var()))
model_var = raw.SHOT_NOISE * levels + raw.READ_NOISE**2
fig, ax = plt.subplots(figsize=(5, 3.3))
ax.loglog(levels, measured, "o", label="measured on a flat 128² patch")
ax.loglog(levels, model_var, "-", label="a·s + b")
ax.loglog(levels, raw.READ_NOISE**2 * torch.ones_like(levels), ":", label="read noise alone (b)")
ax.set_xlabel("signal s (linear, 1 = white)")
ax.set_ylabel("variance")
ax.grid(alpha=0.3)
ax.legend(fontsize=8)
plt.show()
relative = (torch.tensor(measured) / model_var - 1).abs()
print("measured / model variance: " + ", ".join(f"{v:.3f}" for v in (torch.tensor(measured) / model_var)))
assert relative.max() < 0.1, "the simulated capture follows variance = a·s + b (14-bit rounding included)"

# %% [markdown]
# ### What a ×300 gain does
#
# SID's short exposures are 100, 250 or 300 times shorter than the long ones. A mid-grey green pixel
# (linear 0.21) then collects $s = 0.21 / 300 = 7\cdot10^{-4}$ of white, and its noise, $\sqrt{a s + b} \approx
# 3.3\cdot10^{-4}$, is half the signal: SNR ≈ 2. Amplifying by the ratio (what SID's input does, and what
# a camera's ISO gain does) brightens signal **and** noise alike, so the SNR stays about 2: the picture has the
# right brightness but is buried in noise. Without the gain it is black.

# %%
short_counts = raw.low_light_capture(linear_mosaic, 300, camera, generator=torch.Generator().manual_seed(1))
short_linear = raw.raw_to_linear(short_counts, camera.black_level, camera.white_level)  # (H, W), ≈ linear / 300
no_gain = raw.finish(short_linear, camera)  # the camera pipeline on the dark capture
with_gain = raw.finish((short_linear * 300).clamp(max=1), camera)  # ×300 first, as SID's input
viz.show_images({"long exposure": display, "1/300 of the time, processed": no_gain,
                 "… × 300, processed": with_gain}, ncols=3)
plt.show()
grey = 0.21
signal, sigma = grey / 300, (raw.SHOT_NOISE * grey / 300 + raw.READ_NOISE**2) ** 0.5
print(f"mid-grey at ratio 300: signal {signal:.1e}, noise σ {sigma:.1e}, SNR {signal / sigma:.1f} before and after the gain")
print(f"PSNR against the long exposure: unamplified {metrics.psnr_display(no_gain, display):.1f} dB, "
      f"×300 {metrics.psnr_display(with_gain, display):.1f} dB")
assert metrics.psnr_display(with_gain, display) > metrics.psnr_display(no_gain, display) + 5

# %% [markdown]
# ## 2. The camera pipeline, backwards
#
# Training pairs for low light need a dark RAW frame and a clean picture of the same scene. SID captured them
# (25 GB); Brooks et al. showed that you can also **unprocess** any sRGB picture into plausible RAW data by
# inverting each stage of the camera pipeline, in reverse order:
#
# | forward (`raw.process`) | backward (`raw.unprocess`) |
# |---|---|
# | counts → $L = (c - \text{black}) / (\text{white} - \text{black})$ | $c = \text{round}(\text{black} + L\,(\text{white} - \text{black}))$ |
# | white balance: $\times g_c$ per colour | $\div g_c$ |
# | demosaic: mosaic → camera RGB | mosaic: keep one colour per pixel |
# | colour correction: $\text{rgb} = M^{-1}\,\text{cam}$ | $\text{cam} = M\,\text{rgb}$, rows of $M$ summing to 1 |
# | sRGB curve $V(L)$ | $L = V / 12.92$ if $V \le 0.04045$, else $((V + 0.055)/1.055)^{2.4}$ |
#
# Each step in a line, checked against the package:

# %%
# 1. sRGB decoding: (3, H, W) display values → linear sRGB
linear_rgb = torch.where(display <= 0.04045, display / 12.92, ((display + 0.055) / 1.055) ** 2.4)
assert torch.allclose(linear_rgb, raw.srgb_to_linear(display), atol=1e-6)
# 2. inverse colour correction: cam_i = Σ_j M_ij rgb_j, M = rgb_to_cam (rows sum to 1: white stays white)
rgb_to_cam = camera.rgb_to_cam.float()
cam = torch.einsum("ij,jhw->ihw", rgb_to_cam, linear_rgb).clamp(0, 1)
print("rgb_to_cam =\n", rgb_to_cam.numpy().round(3), "\nrow sums", rgb_to_cam.sum(1).numpy().round(6))
# 3. inverse white balance: the camera sees less red and blue than the picture shows
cam = cam / camera.wb_gains.float().view(3, 1, 1)
# 4. mosaic: R at (0, 0), G at (0, 1) and (1, 0), B at (1, 1)
mosaic = torch.zeros(display.shape[1:])
mosaic[0::2, 0::2], mosaic[0::2, 1::2] = cam[0, 0::2, 0::2], cam[1, 0::2, 1::2]
mosaic[1::2, 0::2], mosaic[1::2, 1::2] = cam[1, 1::2, 0::2], cam[2, 1::2, 1::2]
assert torch.allclose(mosaic, raw.unprocess_linear(display, camera), atol=1e-6)
# 5. levels: 14-bit counts above the black level
my_counts = (camera.black_level + mosaic * span).round().clamp(0, camera.white_level)
assert torch.equal(my_counts, counts), "equal to raw.unprocess, count for count"

# and forwards again: process(unprocess(x)) ≈ x, up to demosaicing (bilinear loses fine detail) and rounding
round_trip = raw.process(counts, camera)
print(f"process(unprocess(picture)) vs picture: {metrics.psnr_display(round_trip, display):.1f} dB "
      f"(bilinear demosaicing; {metrics.psnr_display(raw.process(counts, camera, method='edge_aware'), display):.1f} dB edge-aware)")
assert metrics.psnr_display(round_trip, display) > 25
viz.show_images({"picture": display, "process(unprocess(picture))": round_trip,
                 "|difference| × 8": (8 * (round_trip - display).abs()).clamp(0, 1)}, ncols=3)
plt.show()

# %% [markdown]
# ## 3. Simulated low-light captures, in SID's format
#
# A **capture** at ratio $r$: divide the linear mosaic by $r$, add the noise of section 1, round to 14-bit
# counts (`raw.low_light_capture`). SID's **network input** packs the mosaic into 4 half-resolution channels
# [R, G, B, G], removes the black level and multiplies by the ratio, clipped at 1 (`raw.sid_input`):
# $(H, W) \to (4, H/2, W/2)$. The target is the well-exposed picture. `hdredu.data.lowlight.make_pair` does
# all of it; we rebuild the packing and check. The training set `LowLightPairs` draws random crops of the four
# training scenes, a random flip and a ratio from (100, 250, 300); everything is a function of (seed, index).

# %%
ratio = 300
capture_gen = torch.Generator().manual_seed(2)
short = raw.low_light_capture(mosaic, ratio, camera, generator=capture_gen)  # (H, W) counts
# pack: channel k holds tile position [(0, 0), (0, 1), (1, 1), (1, 0)][k] = [R, G, B, G]
packed = torch.stack([short[0::2, 0::2], short[0::2, 1::2], short[1::2, 1::2], short[1::2, 0::2]])
my_input = ((packed - camera.black_level).clamp_min(0) / span * ratio).clamp(max=1)  # (4, H/2, W/2)
sid_in, target = lowlight.make_pair(display, ratio, camera, generator=torch.Generator().manual_seed(2))
assert torch.allclose(my_input, sid_in, atol=1e-6) and torch.equal(target, display)
print(f"SID input {tuple(sid_in.shape)} (packed, ×{ratio}), target {tuple(target.shape)}; "
      f"{(short <= camera.black_level).float().mean():.0%} of the counts are at or below the black level")

# %% [markdown]
# ### The same capture as a real DNG file
#
# `raw.write_dng` stores the mosaic as an Adobe DNG (with the black and white levels, the CFA pattern, the
# colour matrix and the as-shot white balance); **rawpy** (LibRaw, which reads real camera files) opens it.
# We read it back as SID's code reads a Sony `.ARW`: `raw_image_visible`, the black level per channel, and
# LibRaw's own development (`postprocess`), once as shot and once with LibRaw's brightness ×300.

# %%
dng_dir = Path(tempfile.mkdtemp())
dng_path = raw.write_dng(dng_dir / "00001_00_0.0033s.dng", short, camera=camera, exposure_time=1 / 300)
with rawpy.imread(str(dng_path)) as dng:
    read_back = torch.from_numpy(dng.raw_image_visible.astype(np.float32))
    blacks, white, pattern = list(dng.black_level_per_channel), dng.white_level, raw.dng_pattern(dng)
    as_shot = dng.postprocess(use_camera_wb=True, no_auto_bright=True, output_bps=16) / 65535.0
    brightened = dng.postprocess(use_camera_wb=True, no_auto_bright=True, output_bps=16, bright=float(ratio)) / 65535.0
print(f"{dng_path.name}: {dng_path.stat().st_size / 1e3:.0f} kB, {pattern}, black levels {blacks}, white {white}")
assert torch.equal(read_back, short) and pattern == "RGGB" and blacks == [512] * 4 and white == 16383
assert torch.equal(raw.sid_input(read_back, ratio, blacks[0], white), sid_in), "SID's preprocessing of the file"
viz.show_images({"LibRaw, as shot": torch.from_numpy(as_shot).permute(2, 0, 1).float(),
                 f"LibRaw, brightness ×{ratio}": torch.from_numpy(brightened).permute(2, 0, 1).float(),
                 "the long exposure": display}, ncols=3)
plt.show()

# %% [markdown]
# ## 4. The classical answer: amplify, process, denoise
#
# Before any network: multiply the packed input by the ratio (done in SID's input already), run the camera
# pipeline forward (`raw.amplify_and_process`), and optionally clean the 8-bit result with OpenCV's
# **non-local means** denoiser (`cv2.fastNlMeansDenoisingColored`, strength 20). These are the baselines the
# `lowlight` task (and `python -m hdredu evaluate`) uses. We score them on the two **held-out** scenes
# (courtyard, sunset, never used for training) at each SID ratio; the noise is seeded per scene.

# %%
task = tasks.TASKS["lowlight"]
RATIOS = raw.SID_RATIOS  # (100, 250, 300)
held_out = {r: lowlight.full_pairs(TEST_SCENES, ratio=r, seed=0) for r in RATIOS}  # [(inputs, target)] per ratio
METRICS = task.metric_functions()  # {"psnr_display": …, "ssim": …}
classical = {r: {name: [] for name in ("amplify + process", "amplify + process + NL-means")} for r in RATIOS}
for r, pairs in held_out.items():
    for inputs, target in pairs:
        for name, prediction in task.baselines(inputs, target).items():
            classical[r][name].append(prediction)
classical_scores = {r: metrics.score_table(classical[r], [y for _, y in held_out[r]], tuple(METRICS)) for r in RATIOS}
for r in RATIOS:
    print(f"ratio {r}: " + " · ".join(f"{name} {s['psnr_display']:.2f} dB / SSIM {s['ssim']:.3f}"
                                      for name, s in classical_scores[r].items()))
for r in RATIOS:
    plain, denoised = classical_scores[r]["amplify + process"], classical_scores[r]["amplify + process + NL-means"]
    assert denoised["psnr_display"] > plain["psnr_display"] + 1 and denoised["ssim"] > plain["ssim"], "NL-means helps"
plain_psnr = [classical_scores[r]["amplify + process"]["psnr_display"] for r in RATIOS]
assert plain_psnr[0] > plain_psnr[1] > plain_psnr[2], "the darker the capture, the worse the classical answer"
inputs, target = held_out[300][0]
viz.show_images({"amplify + process (×300)": classical[300]["amplify + process"][0],
                 "+ NL-means": classical[300]["amplify + process + NL-means"][0], "long exposure": target}, ncols=3)
plt.show()
