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
# # 00 · HDR basics: radiance, cameras, brackets, merges, ghosts, tone mapping, metrics
#
# *The classical pipeline that every network in this course has to beat, measured.*
#
# Debevec & Malik, "Recovering High Dynamic Range Radiance Maps from Photographs", SIGGRAPH 1997 ·
# Mertens, Kautz & Van Reeth, "Exposure Fusion", PG 2007 · Reinhard et al., "Photographic Tone
# Reproduction for Digital Images", SIGGRAPH 2002 · Mantiuk & Azimi, "PU21", PCS 2021.
#
# **Goals.** After this notebook you can
# 1. say why a pixel value is not radiance (exposure, camera response, clipping, quantisation, noise);
# 2. simulate exposure brackets of a real HDR scene, and merge them back (Debevec) or fuse them (Mertens);
# 3. see ghosting appear when the camera shakes and an object moves, and measure how much it costs;
# 4. tone-map HDR for display, and score an HDR estimate with PSNR-L, PSNR-μ, SSIM and PU21.
#
# **Prerequisites.** NumPy and a little PyTorch.
#
# **Budget (2-core CPU).** FAST mode (`HDREDU_FAST=1`) ≈ 30 s CPU; full ≈ 2 min CPU. Expected: Debevec's merge
# of a static bracket reaches ≈ 40 dB PSNR-μ, about 4 dB above the reference frame alone; with motion it
# falls about 15 dB and below the reference frame alone.

# %%
import time

import matplotlib.pyplot as plt
import numpy as np
import torch
from IPython.display import display

import hdredu
from hdredu import baselines, metrics, viz
from hdredu.data.samples import list_samples, load_sample
from hdredu.data.synthetic import simulate_brackets
from hdredu.imaging import camera, tonemap
from hdredu.utils import FAST, seed_everything

seed_everything(0)
notebook_start = time.process_time()
SCENES = ["courtyard", "sunset"] if FAST else list_samples()
SEEDS = [0] if FAST else [0, 1, 2]
print(f"hdredu {hdredu.__version__} · FAST = {FAST} · scenes: {SCENES}")

# %% [markdown]
# ## 1. Pixels are not radiance
#
# A scene sends **radiance** $H$ to the camera: light per unit area, linear, with no upper limit. Real
# scenes span many decades — the sun is $10^5$ times brighter than a shadow. An 8-bit photo stores 256
# values. A *real* CC0 HDR scene from `data_samples/` (a 256×384 crop of a Poly Haven HDRI) shows the gap:

# %%
hdr = load_sample("courtyard")  # (3, H, W) linear relative radiance
luminance = tonemap.rgb_luminance(hdr)[0]
low, median, high = torch.quantile(luminance.flatten(), torch.tensor([0.001, 0.5, 0.999])).tolist()
decades = np.log10(high / low)
print(f"shape {tuple(hdr.shape)}, luminance 0.1 % = {low:.4f}, median = {median:.3f}, 99.9 % = {high:.1f}")
print(f"dynamic range (99.9 % / 0.1 %): {decades:.1f} decades")
assert decades > 3, "a real outdoor HDR scene spans more than three decades"

fig, axes = plt.subplots(1, 3, figsize=(12, 3))
axes[0].imshow(viz._hwc(hdr.clamp(0, 1)))
axes[0].set_title("linear values shown as is (clipped): mostly black", fontsize=9)
axes[0].axis("off")
viz.show_hdr(hdr, ax=axes[1], title="tone-mapped (Reinhard)")
axes[2].hist(np.log10(luminance.flatten().numpy() + 1e-6), bins=80)
axes[2].set_xlabel("log10 luminance")
axes[2].set_title("radiance histogram", fontsize=9)
plt.show()

# %% [markdown]
# ## 2. A camera in a few lines
#
# A camera integrates radiance over the exposure time $t$, adds noise, clips at the full well, applies
# its **camera response function** (CRF) $f$, and quantises:
#
# $$Z = \mathrm{quantise}_8\big(f(\mathrm{clip}(H\,t + n, 0, 1))\big), \qquad n \sim \mathcal N\big(0,\; \sigma_s^2 H t + \sigma_r^2\big).$$
#
# `hdredu.imaging.camera.capture` does exactly this. Two CRFs ship: the gamma curve $f(E) = E^{1/2.2}$
# that Kalantari's dataset uses, and a film-like S-curve with a highlight shoulder.

# %%
exposure = torch.linspace(0, 1, 256)
fig, axes = plt.subplots(1, 2, figsize=(9, 3))
for name, (f, f_inv) in camera.CRFS.items():
    axes[0].plot(exposure, f(exposure), label=name)
    round_trip = (f_inv(f(exposure)) - exposure).abs().max()
    assert round_trip < 1e-5, f"the {name} CRF must invert exactly (error {round_trip:.2e})"
axes[0].set(xlabel="exposure E = H·t (clipped to [0, 1])", ylabel="pixel value Z", title="camera response")
axes[0].legend()

# Pixel value against true radiance for one exposure: linear? No: the CRF bends it, the full well clips it.
ldr = camera.capture(hdr / high, 4.0, crf="gamma")
axes[1].scatter(hdr.flatten()[::7] / high, ldr.flatten()[::7], s=1, alpha=0.3)
axes[1].set(xscale="log", xlabel="radiance (relative)", ylabel="pixel value", title="one exposure (t = 4)")
plt.show()
clipped = float((ldr >= 1.0).any(dim=0).float().mean())
print(f"{100 * clipped:.1f} % of pixels clipped at t = 4")
assert clipped > 0.01, "one exposure of this scene must clip some highlights"

# %% [markdown]
# Move the slider: as exposure rises the highlights clip to white; as it falls the shadows sink into the
# noise and round to 0. No single exposure holds the whole scene. (Under the slider, three fixed positions
# side by side: the copy that stays in a saved or exported notebook.)

# %%
display(viz.exposure_slider(hdr))

# %% [markdown]
# ## 3. Brackets, and merging them back
#
# Take $N$ exposures $t_i = 2^{\mathrm{EV}_i}$ (here EV 0, +2, +4; the middle one is the **reference**,
# the frame the output must align to). Each frame is a measurement of $H$ wherever it is neither clipped
# nor drowned in noise. Debevec & Malik recover $g = \ln f^{-1}$ and average the frames in the log
# radiance domain, trusting mid-tones most:
#
# $$\ln H = \frac{\sum_i w(Z_i)\,\big(g(Z_i) - \ln t_i\big)}{\sum_i w(Z_i)}, \qquad w(z) = \min(z, 255 - z).$$
#
# With a known CRF we pass $f^{-1}$ directly; otherwise OpenCV calibrates it from the frames. Mertens'
# exposure fusion skips radiance altogether and blends the frames into a display image — a different goal.
# The simulator normalises the scene so that 5 % of the reference frame clips, and returns the ground
# truth $H$ in $[0, 1]$ (the shortest exposure, $t = 1$, sees everything: the Kalantari convention).

# %%
static = simulate_brackets(hdr, exposure_stops=(0, 2, 4), motion=False, seed=0)
print("frames", tuple(static.ldr.shape), "times", static.exposure_times.tolist(), "reference", static.ref_idx)
print("saturated share per frame:", [f"{float(m.mean()):.3f}" for m in static.saturation_mask])
viz.show_stack(static.ldr, static.exposure_times, static.ref_idx)
plt.show()

# %%
def estimates(brackets):
    """Every classical estimate of the reference-aligned radiance."""
    return {
        "reference frame alone": baselines.reference_alone(brackets),
        "Debevec (known CRF)": baselines.debevec_merge(brackets, crf="known"),
        "Debevec (calibrated CRF)": baselines.debevec_merge(brackets, crf="calibrated"),
        "Mertens fusion": baselines.mertens_fusion(brackets),
    }


def score(estimate, truth):
    """The metrics of section 6, one row."""
    return {
        "PSNR-L": metrics.psnr_l(estimate, truth),
        "PSNR-μ": metrics.psnr_mu(estimate, truth),
        "SSIM-μ": metrics.ssim(tonemap.mu_law(estimate.clamp(0, 1)), tonemap.mu_law(truth)),
        "PU21-PSNR": metrics.pu21_psnr(estimate, truth),
    }


def print_table(rows):
    names = list(next(iter(rows.values())))
    print(f"{'':34s}" + "".join(f"{n:>11s}" for n in names))
    for label, row in rows.items():
        print(f"{label:34s}" + "".join(f"{row[n]:11.3f}" for n in names))


static_estimates = estimates(static)
static_scores = {label: score(est, static.hdr) for label, est in static_estimates.items()}
print_table(static_scores)
viz.show_images({label: viz.display_hdr(est) for label, est in static_estimates.items()}
                | {"ground truth": viz.display_hdr(static.hdr)})
plt.show()

# %% [markdown]
# The reference frame alone is clipped wherever it saturates; the merge fills those regions from the
# short exposure and averages noise elsewhere. Mertens' fusion is a pleasant picture but not radiance:
# linearised like the reference, its highlights stay bounded, so it scores worst here.

# %%
debevec_static = static_scores["Debevec (known CRF)"]["PSNR-μ"]
reference_static = static_scores["reference frame alone"]["PSNR-μ"]
print(f"static scene: Debevec {debevec_static:.2f} dB vs reference alone {reference_static:.2f} dB PSNR-μ")
assert debevec_static > 37.0, "the merge of a static bracket must come within 37 dB PSNR-μ of the truth"
assert debevec_static > reference_static + 2.0, "merging must beat the single reference frame by > 2 dB"

# %% [markdown]
# OpenCV's calibration recovers the camera response from the frames alone (up to scale). Against the true
# inverse response:

# %%
import cv2  # noqa: E402  (only for this one comparison)

frames_bgr = baselines._frames_uint8_bgr(static.ldr)
calibrated = cv2.createCalibrateDebevec().process(frames_bgr, static.exposure_times.numpy())
known = baselines.known_response("gamma")
z = np.arange(256)
plt.figure(figsize=(4.5, 3))
plt.semilogy(z, known[:, 0, 0], "k", label="true f⁻¹")
plt.semilogy(z, calibrated[:, 0, 1] * known[128, 0, 0] / calibrated[128, 0, 1], "--", label="calibrated (G), scaled")
plt.xlabel("pixel value z")
plt.ylabel("exposure f⁻¹(z)")
plt.legend()
plt.show()

# %% [markdown]
# ## 4. Ghosts: when the camera shakes and something moves
#
# Real brackets are taken one after another. Here the camera jitters by up to 1.5 px between frames and an
# object (a disc of texture from another scene) moves. The ground truth stays aligned to the **reference**
# frame. A merge that assumes a static scene averages the object's positions: ghosts.

# %%
moving = simulate_brackets(hdr, exposure_stops=(0, 2, 4), motion=True, seed=0, object_source=load_sample("forest"))
viz.show_stack(moving.ldr, moving.exposure_times, moving.ref_idx)
plt.show()
moving_estimates = estimates(moving)
moving_scores = {label: score(est, moving.hdr) for label, est in moving_estimates.items()}
print_table(moving_scores)

fig, axes = plt.subplots(1, 3, figsize=(12, 3))
viz.show_hdr(moving_estimates["Debevec (known CRF)"], ax=axes[0], title="Debevec merge of a moving scene")
viz.show_error(moving_estimates["Debevec (known CRF)"], moving.hdr, ax=axes[1])
viz.show_map(moving.motion_mask[0] + moving.motion_mask[2], ax=axes[2], vmax=2, title="object footprints (short + long)")
plt.show()

# %%
debevec_moving = moving_scores["Debevec (known CRF)"]["PSNR-μ"]
reference_moving = moving_scores["reference frame alone"]["PSNR-μ"]
print(f"Debevec PSNR-μ: static {debevec_static:.2f} dB → moving {debevec_moving:.2f} dB "
      f"(−{debevec_static - debevec_moving:.1f} dB); reference alone {reference_moving:.2f} dB")
assert debevec_static - debevec_moving > 5.0, "motion must cost the unaligned merge more than 5 dB"
assert debevec_moving < reference_moving, "with motion, the unaligned merge falls below the reference frame alone"

# %% [markdown]
# This is the problem the networks of the next notebooks solve: keep the reference frame's geometry, and
# take from the other frames only what is missing (the clipped highlights) where they agree.
#
# ## 5. Tone mapping: showing HDR on an LDR display
#
# * **μ-law** $T(H) = \log(1 + \mu H)/\log(1 + \mu)$, $\mu = 5000$: the domain of the training losses and
#   of PSNR-μ. Differentiable and invertible, but washed out as a picture.
# * **Reinhard** (global): scale to a key of 0.18 by the log-average luminance, then $L/(1 + L)$.
# * OpenCV's **Drago** (adaptive log) and **Mantiuk** (local contrast) operators.

# %%
round_trip = (tonemap.inverse_mu_law(tonemap.mu_law(static.hdr)) - static.hdr).abs().max()
assert round_trip < 1e-5, "μ-law must invert exactly"
viz.show_images({
    "μ-law (metric domain)": tonemap.mu_law(static.hdr),
    "Reinhard (hdredu, torch)": tonemap.reinhard(static.hdr),
    "Reinhard (OpenCV)": baselines.tonemap(static.hdr, "reinhard"),
    "Drago (OpenCV)": baselines.tonemap(static.hdr, "drago"),
    "Mantiuk (OpenCV)": baselines.tonemap(static.hdr, "mantiuk"),
}, ncols=5)
plt.show()

# %% [markdown]
# ## 6. Measuring
#
# | metric | definition | why |
# |---|---|---|
# | PSNR-L | PSNR on linear radiance, peak 1 | dominated by the brightest pixels |
# | PSNR-μ (μ = 5000) | PSNR of μ-law tone-mapped images, peak 1 | closer to what we see; the Kalantari-era headline number |
# | SSIM-μ | SSIM (Gaussian 11×11, σ 1.5) of μ-law images | structure, not only error energy |
# | PU21-PSNR | PSNR of PU21-encoded luminance (peak 256), images scaled so the truth peaks at 4000 cd/m² | perceptually uniform in absolute units |
#
# ColorVideoVDP JOD is available as an optional extra (`hdredu.metrics.jod`); HDR-VDP-2.2 Q (section 7)
# comes from hdredu's own implementation. They are different metrics and never share a label.
#
# Now over several scenes and seeds (FAST: two scenes, one seed), static and moving:

# %%
def mean_scores(motion):
    """Scores of every estimate, averaged over SCENES × SEEDS."""
    runs = []
    for scene in SCENES:
        for seed in SEEDS:
            other = load_sample("forest" if scene != "forest" else "city")
            brackets = simulate_brackets(load_sample(scene), motion=motion, seed=seed, object_source=other)
            runs.append({label: score(est, brackets.hdr) for label, est in estimates(brackets).items()})
    return {label: {name: float(np.mean([run[label][name] for run in runs])) for name in runs[0][label]}
            for label in runs[0]}


rows = {f"{label}, {tag}": row for tag, motion in (("static", False), ("moving", True))
        for label, row in mean_scores(motion).items()}
print_table(rows)
gain_static = rows["Debevec (known CRF), static"]["PSNR-μ"] - rows["reference frame alone, static"]["PSNR-μ"]
loss_moving = rows["Debevec (known CRF), static"]["PSNR-μ"] - rows["Debevec (known CRF), moving"]["PSNR-μ"]
print(f"mean over {len(SCENES)} scenes × {len(SEEDS)} seeds: merge gain on static scenes {gain_static:.2f} dB, "
      f"motion costs the merge {loss_moving:.2f} dB PSNR-μ")
assert gain_static > 2.0 and loss_moving > 5.0

# %%
if metrics.cvvdp_available():
    jod = metrics.jod(moving_estimates["Debevec (known CRF)"], moving.hdr)
    print(f"ColorVideoVDP JOD (standard_hdr_linear, peak 1500 cd/m²) of the ghosted merge: {jod:.3f}")
else:
    print("ColorVideoVDP (JOD) is not installed; skipped. " + metrics.CVVDP_INSTALL_HINT.splitlines()[1].strip())

# %% [markdown]
# ## 7. Where does a person see the ghost? HDR-VDP-2.2's probability map
#
# HDR-VDP-2 models the eye (optics, photoreceptors, contrast sensitivity, masking) and predicts, per
# pixel, the probability that a difference is **visible**. HDR-VDP-2.2 Q is computed by hdredu's own
# implementation, checked against reference values of the original. Inputs are absolute luminance: we show
# the images on a display whose white is 1000 cd/m², viewed at 24 inches and 0.5 m.

# %%
from hdredu.metrics.hdrvdp2 import hdrvdp2, pixels_per_degree  # noqa: E402

ppd = pixels_per_degree(24, (1920, 1080), 0.5)
to_cd = lambda image: 1000.0 * tonemap.rgb_luminance(image.clamp(0, 1))[0].numpy() + 0.01  # noqa: E731
vdp_ghost = hdrvdp2(to_cd(moving_estimates["Debevec (known CRF)"]), to_cd(moving.hdr), pixels_per_degree=ppd)
vdp_ref = hdrvdp2(to_cd(moving_estimates["reference frame alone"]), to_cd(moving.hdr), pixels_per_degree=ppd)
print(f"HDR-VDP-2.2 Q: ghosted Debevec merge {vdp_ghost.Q:.2f}, reference frame alone {vdp_ref.Q:.2f}")
fig, axes = plt.subplots(1, 3, figsize=(12, 3))
viz.show_hdr(moving_estimates["Debevec (known CRF)"], ax=axes[0], title="ghosted merge")
viz.show_error(moving_estimates["Debevec (known CRF)"], moving.hdr, ax=axes[1])
viz.show_map(torch.from_numpy(vdp_ghost.P_map), ax=axes[2], title="HDR-VDP-2.2 detection probability", cmap="inferno")
plt.show()
inside = moving.motion_mask[[0, 2]].amax(dim=0)[0].bool().numpy()
print(f"mean detection probability inside the object footprints {vdp_ghost.P_map[inside].mean():.2f}, "
      f"outside {vdp_ghost.P_map[~inside].mean():.2f}")
assert vdp_ghost.P_map[inside].mean() > vdp_ghost.P_map[~inside].mean(), "the ghost must be where HDR-VDP sees it"

# %% [markdown]
# ## Exercises
# 1. Change `exposure_stops` to `(0, 3, 6)`. Predict: does the static merge gain or lose PSNR-μ? Why?
# 2. Set `crf="filmic"` in `simulate_brackets` and merge with `crf="known"` and `crf="calibrated"`. Which
#    suffers more when the reference frame is linearised with a plain gamma (`reference_alone(b, gamma=2.2)`)?
# 3. Raise the sensor noise (`shot=1e-3, read=2e-3`). Which metric moves most: PSNR-L or PSNR-μ? Why?
# 4. Make the object move less (`object_shift=0.05`). How small must the motion be before Debevec beats the
#    reference frame again?
#
# ## Summary
# Pixels are clipped, bent and quantised measurements of radiance. A bracket of exposures covers the range,
# and a merge recovers radiance — as long as nothing moves. With motion, the merge ghosts and the reference
# frame alone becomes the bar to beat: the next notebook's network has to beat it.
#
# ## References
# Debevec & Malik 1997 · Mertens et al. 2007 · Reinhard et al. 2002 · Kalantari & Ramamoorthi 2017 ·
# Mantiuk & Azimi 2021 (PU21) · Mantiuk et al. 2011/2015 (HDR-VDP-2, 2.2).

# %%
print(f"notebook CPU time: {time.process_time() - notebook_start:.1f} s (FAST = {FAST})")
