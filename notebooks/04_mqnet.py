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
# # 04 · MQNet: inverse tone mapping on a phone budget, and what quantization costs
#
# *One LDR picture in, HDR out, from a MobileNetV2 U-Net small enough to run in int8 — except its head.*
#
# J. Borrego-Carazo, M. Ozay, F. Laboyrie, P. Wisbey, "A Mixed Quantization Network for (Computationally)
# Efficient Mobile Inverse Tone Mapping", BMVC 2021 (arXiv 2203.06504); released code BCJuan/ITMMQNet
# (TensorFlow / TFLite) · M. Sandler et al., "MobileNetV2: Inverted Residuals and Linear Bottlenecks", CVPR 2018 ·
# Y. Zhang et al., "Image Super-Resolution Using Very Deep Residual Channel Attention Networks" (RCAN), ECCV 2018.
#
# **Goals.** After this notebook you can
# 1. say why inverse tone mapping is ill-posed where the LDR clips, and what a mobile budget asks of a network;
# 2. build MQNet's inverted residual linear bottleneck (IRLB), its channel / spatial attention blocks and the
#    MobileNetV2 U-Net from their equations, and check each against `hdredu.models.mqnet`;
# 3. train it on synthetic LDR/HDR pairs and read PSNR-μ, PU21-PSNR and HDR-VDP-2 Q against classical
#    inverse tone mappers, inside and outside the clipped highlights;
# 4. fake-quantize each part (backbone, decoder, head) to 8/6/4 bits and see why the head stays in float;
# 5. run real int8 (torchao PT2E + Inductor) on this CPU: latency, bytes and quality of fp32, all-int8, mixed;
# 6. compare the attention blocks SA, CSA and CA at equal budget.
#
# **Prerequisites.** `00_hdr_basics` (tone mapping, μ-law, PU21), `01_ahdrnet` (`hdredu.train.fit`, attention).
#
# **Budget (2-core CPU, measured).** FILLED IN AT THE END.

# %%
import dataclasses
import time

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F
from torch import nn

from hdredu import baselines, metrics, quantize, viz
from hdredu.data import itm_pairs
from hdredu.data.samples import TEST_SCENES, TRAIN_SCENES, load_sample
from hdredu.losses import mqnet_loss
from hdredu.models import mqnet
from hdredu.models.mqnet import MQNet, MQNetConfig
from hdredu.ops import quant
from hdredu.tasks import TASKS
from hdredu.train import TrainConfig, fit
from hdredu.utils import FAST, seed_everything

seed_everything(0)
notebook_start = time.perf_counter()
device = "cpu"  # GPU is opt-in for training (TrainConfig(device=...)); the int8 part is CPU only
print(f"FAST = {FAST} · torch {torch.__version__} · {torch.get_num_threads()} CPU threads · device {device}")

# %% [markdown]
# ## 1. The idea: one exposure, and a phone
#
# **Inverse tone mapping (ITM)** takes one LDR picture $I \in [0, 1]$ — the output of some unknown tone mapper
# and camera response, rounded to 8 bits — and estimates the scene radiance $H$. Where the LDR is well exposed
# this is mostly undoing a curve. Where it **clips**, every radiance above the white point became the same
# value 1: the information is gone, and a network can only *guess* it from context (a lamp is brighter than a
# wall; a sky near the sun brighter than the horizon). The problem is ill-posed exactly there.
#
# The data here (`hdredu.data.itm_pairs`, the `itm` task that `python -m hdredu train mqnet` uses): windows of
# the four training scenes, tone-mapped by a random operator (exposure + gamma, Reinhard, Drago, Mantiuk with
# random parameters), min–max normalised and rounded to 8 bits; the target is the window's radiance, min–max
# normalised to $[0, 1]$ (the release's convention). We test on the two held-out scenes.

# %%
task = TASKS["itm"]
hdr = load_sample(TEST_SCENES[0])  # (3, 256, 384) radiance
pairs = {tmo: itm_pairs.make_pair(hdr, tmo, percentile=95.0) for tmo in itm_pairs.TMOS}
ldr, target = pairs["exposure"]
clipped = ldr.amax(dim=0, keepdim=True) >= 254 / 255  # (1, H, W): any channel at 8-bit white
print(f"LDR {tuple(ldr.shape)} in [{ldr.min():.2f}, {ldr.max():.2f}], target in [{target.min():.2f}, {target.max():.2f}]; "
      f"{100 * clipped.float().mean():.1f} % of the pixels clip (exposure operator, 95th percentile → white)")
in_clip = target.expand(3, -1, -1)[clipped.expand(3, -1, -1)]
print(f"target radiance under the clipped pixels spans {in_clip.min():.3f} … {in_clip.max():.3f} "
      f"(×{in_clip.max() / in_clip.min():.0f}): all of it became LDR value 1")
assert in_clip.max() / in_clip.min() > 3, "the clipped pixels hide a wide range of radiance"
viz.show_images({**{f"LDR: {tmo}": pairs[tmo][0] for tmo in itm_pairs.TMOS},
                 "HDR target (Reinhard for display)": viz.display_hdr(target),
                 "clipped in the exposure LDR": clipped.float().expand(3, -1, -1)}, ncols=3)
plt.show()

# %% [markdown]
# **A mobile budget.** MQNet was designed for a phone (Samsung Note 20): about 0.9 M parameters, ≈ 1.1 GFLOP
# at 256², and after training the backbone and decoder run as **full int8** (weights and activations) while the
# tiny head stays in floating point. The paper reports up to 10× lower latency and 25× less memory than
# earlier ITM networks. Every design choice below serves that budget: depthwise-separable convolutions,
# narrow channels (width 0.35), nearest-neighbour upsampling, 1×1 convolutions in the decoder, and attention
# blocks that cost a few hundred parameters.

# %% [markdown]
# ## 2. Building MQNet
#
# ### 2.1 The inverted residual linear bottleneck (IRLB)
#
# MobileNetV2's block, used in the backbone *and* the decoder. With input $x$ ($C_\text{in}$ channels) and
# expansion $t$:
#
# $$ e = \mathrm{ReLU6}(\mathrm{BN}(W_e\, x)) \quad (t\,C_\text{in} \text{ ch, } 1{\times}1), \qquad
#    d = \mathrm{ReLU6}(\mathrm{BN}(W_d \circledast e)) \quad (3{\times}3 \text{ depthwise, stride } s), $$
# $$ p = \mathrm{BN}(W_p\, d) \quad (1{\times}1, \text{ linear: no activation}), \qquad
#    y = A(p) + x \ \text{ if } C_\text{in} = C_\text{out},\ s = 1, \quad \text{else } A(p). $$
#
# *Inverted*: wide in the middle, narrow at the ends (a ResNet bottleneck is the opposite). *Linear*: no ReLU
# after the projection, because a ReLU in a narrow space destroys information. The depthwise $\circledast$ costs
# $9$ multiplications per channel instead of $9 C$. $A$ is an attention block (decoder only) or the identity.
# Batch norms use Keras' $\epsilon = 10^{-3}$.

# %%
class IRLB(nn.Module):
    """y = A(BN(W_p ReLU6(BN(W_d ⊛ ReLU6(BN(W_e x)))))) [+ x]; the attribute names of hdredu's InvertedResidual."""

    def __init__(self, c_in, c_out, t, stride=1, attention=None, momentum=0.1):
        super().__init__()
        hidden = t * c_in
        self.use_residual = stride == 1 and c_in == c_out
        self.expand = nn.Conv2d(c_in, hidden, 1, bias=False) if t != 1 else None  # t = 1: no expansion (block 0)
        self.expand_bn = nn.BatchNorm2d(hidden, eps=1e-3, momentum=momentum) if t != 1 else None
        self.depthwise = nn.Conv2d(hidden, hidden, 3, stride=stride, padding=1, groups=hidden, bias=False)
        self.depthwise_bn = nn.BatchNorm2d(hidden, eps=1e-3, momentum=momentum)
        self.project = nn.Conv2d(hidden, c_out, 1, bias=False)
        self.project_bn = nn.BatchNorm2d(c_out, eps=1e-3, momentum=momentum)
        self.attention = attention

    def forward(self, x):
        e = F.relu6(self.expand_bn(self.expand(x))) if self.expand is not None else None  # (B, t·C_in, H, W)
        d = F.relu6(self.depthwise_bn(self.depthwise(x if e is None else e)))  # (B, t·C_in, H/s, W/s)
        p = self.project_bn(self.project(d))  # (B, C_out, H/s, W/s), linear
        w = None
        if self.attention is not None:
            p, w = self.attention(p)
        return (p + x if self.use_residual else p), e, w


torch.manual_seed(0)
x = torch.randn(2, 24, 16, 16)
mine = IRLB(24, 24, 6).eval()
package_block = mqnet.InvertedResidual(24, 24, 6, bn_momentum=0.1).eval()
package_block.load_state_dict(mine.state_dict())  # strict: same names and shapes
y, e, _ = mine(x)
print(f"IRLB 24→24, t = 6: x {tuple(x.shape)} → expanded {tuple(e.shape)} → y {tuple(y.shape)} (residual)")
assert torch.equal(y, package_block(x)[0]) and torch.equal(e, package_block(x)[1])
dense = 9 * 144 * 144  # a full 3×3 convolution on the 144 expanded channels, for comparison
print(f"weights: IRLB {sum(p.numel() for p in mine.parameters()):,} · one dense 3×3 conv 144→144 alone {dense:,}")

# %% [markdown]
# ### 2.2 Attention blocks: CA (released), SA and CSA (the paper's ablation)
#
# All three gate the projected features $p$ ($C$ channels) with weights in $(0, 1)$:
#
# * **CA**, channel attention (RCAN): one weight per channel from the global average pool,
#   $w = \sigma(W_2\, \mathrm{ReLU}(W_1\, \mathrm{GAP}(p) + b_1) + b_2) \in (0, 1)^C$, $\ C \to C/r \to C$ with
#   $r = 2$; $A(p) = p \odot w$. It sees the **whole image**: useful to judge how bright a scene is overall.
# * **SA**, spatial attention: one weight per pixel, $s = \sigma(w^\top p + b)$ (a 1×1 convolution $C \to 1$).
# * **CSA**, both: $c = \sigma(\mathrm{dw}_k(p) + b_c)$ (a depthwise $k \times k$ convolution: per channel *and*
#   pixel), $s$ as in SA computed from $p$, and $A(p) = p \odot c \odot s$. As released, $k = C$ — Keras' first
#   positional argument of `DepthwiseConv2D` is the kernel size, so the "channels" argument became a $C \times C$
#   kernel (a 1×1 was probably meant; `MQNetConfig(csa_kernel=1)`).
#
# The released network puts CA after the projection of the first IRLB at each decoder scale (d1, d3, d5, d6).

# %%
class CA(nn.Module):
    def __init__(self, c, r=2):
        super().__init__()
        self.reduce, self.expand = nn.Conv2d(c, c // r, 1), nn.Conv2d(c // r, c, 1)

    def forward(self, p):
        w = torch.sigmoid(self.expand(F.relu(self.reduce(p.mean(dim=(2, 3), keepdim=True)))))  # (B, C, 1, 1)
        return p * w, w


class SA(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.score = nn.Conv2d(c, 1, 1)

    def forward(self, p):
        s = torch.sigmoid(self.score(p))  # (B, 1, H, W)
        return p * s, s


class CSA(nn.Module):
    def __init__(self, c, k=0):
        super().__init__()
        self.k = c if k == 0 else k
        self.channel, self.score = nn.Conv2d(c, c, self.k, groups=c), nn.Conv2d(c, 1, 1)

    def forward(self, p):
        before = (self.k - 1) // 2  # TensorFlow "same" padding: an even kernel pads one more after
        c = torch.sigmoid(self.channel(F.pad(p, (before, self.k - 1 - before, before, self.k - 1 - before))))
        s = torch.sigmoid(self.score(p))  # from p, not from p ⊙ c
        return p * c * s, c * s


p = torch.randn(2, 16, 8, 8)
for mine_cls, package_cls in ((CA, mqnet.ChannelAttention), (SA, mqnet.SpatialAttention),
                              (CSA, mqnet.ChannelSpatialAttention)):
    mine, package_block = mine_cls(16), package_cls(16)
    mine.load_state_dict(package_block.state_dict())
    (out, w), (out_pkg, w_pkg) = mine(p), package_block(p)
    assert torch.allclose(out, out_pkg, atol=1e-6) and torch.allclose(w, w_pkg, atol=1e-6), mine_cls.__name__
    print(f"{mine_cls.__name__:4s} weights {tuple(w.shape)} in ({w.min():.2f}, {w.max():.2f}); "
          f"{sum(q.numel() for q in mine.parameters()):5d} parameters at C = 16")

# %% [markdown]
# ### 2.3 The U-Net: MobileNetV2 encoder, IRLB decoder, a float head
#
# **Encoder.** MobileNetV2 at width $\alpha$ ($0.35$ in the paper), truncated after block 16: a stride-2 stem,
# then 17 IRLBs. The input is mapped to $[-1, 1]$ ($2I - 1$, Keras' preprocessing). The **skips** are the
# expand outputs $e$ of blocks 1, 3, 6 and 13 (at $H/2 \dots H/16$), the **bottleneck** is block 16's $p$ at $H/32$.
#
# **Decoder.** $d_1 = \mathrm{IRLB}_{CA}(b)$, $d_2 = \mathrm{IRLB}(d_1)$; then three times
# $\mathrm{IRLB}_{CA}([\uparrow_2 x, s_k])$ (nearest upsampling, concatenation) with one more plain IRLB after the
# first; then two conv1×1-BN-ReLU fuse blocks, the last one after concatenating the input $I$ at full size.
#
# **Head.** $O = \tanh(W_3\, \mathrm{ReLU}(\mathrm{IN}(W_2\, \mathrm{ReLU}(\mathrm{IN}(W_1 * f)))))$ with
# instance norms, 3×3 then two 1×1 convolutions ($16 \to 12 \to 6 \to 3$), and the output
# $\hat H = \sigma(I + O)$. Because $O \in (-1, 1)$ and $I \in [0, 1]$, **$\hat H \in (\sigma(-1), \sigma(2)) =
# (0.269, 0.881)$** while the target spans $[0, 1]$: the released network cannot reach dark or bright values.
# Section 3 measures what this costs.

# %%
class MyMQNet(nn.Module):
    def __init__(self, c):
        super().__init__()
        m = c.bn_momentum
        stem = mqnet.make_divisible(32 * c.width_mult)
        self.backbone = nn.Module()
        self.backbone.stem = nn.Conv2d(3, stem, 3, stride=2, padding=1, bias=False)
        self.backbone.stem_bn = nn.BatchNorm2d(stem, eps=1e-3, momentum=m)
        blocks, ch = [], stem
        for t, base, repeats, stride in mqnet.MOBILENET_V2_SETTINGS:  # (t, c, n, s) of MobileNetV2's Table 2
            for r in range(repeats):
                out_ch = mqnet.make_divisible(base * c.width_mult)
                blocks.append(IRLB(ch, out_ch, t, stride if r == 0 else 1, momentum=m))
                ch = out_ch
        self.backbone.blocks = nn.ModuleList(blocks)
        s1, s2, s3, s4 = (blocks[n].expand.out_channels for n in mqnet.SKIP_BLOCKS)
        c1, c2, c3, c4 = c.decoder_channels
        attention = {"ca": lambda k: CA(k, c.attention_ratio), "sa": SA, "csa": lambda k: CSA(k, c.csa_kernel)}[c.attention]
        self.decoder = nn.Module()
        d = self.decoder
        d.d1, d.d2 = IRLB(ch, c1, c.expansion, 1, attention(c1), m), IRLB(c1, c1, c.expansion, 1, None, m)
        d.d3, d.d4 = IRLB(c1 + s4, c2, c.expansion, 1, attention(c2), m), IRLB(c2, c2, c.expansion, 1, None, m)
        d.d5 = IRLB(c2 + s3, c3, c.expansion, 1, attention(c3), m)
        d.d6 = IRLB(c3 + s2, c4, c.expansion, 1, attention(c4), m)
        for name, c_in in (("d7", c4 + s1), ("d8", c.fuse_channels + 3)):
            fuse = nn.Module()
            fuse.conv = nn.Conv2d(c_in, c.fuse_channels, 1, bias=False)
            fuse.bn = nn.BatchNorm2d(c.fuse_channels, eps=1e-3, momentum=c.fuse_bn_momentum)
            setattr(d, name, fuse)
        h1, h2 = c.head_channels
        self.head = nn.Module()
        self.head.conv1, self.head.norm1 = nn.Conv2d(c.fuse_channels, h1, 3, padding=1), nn.InstanceNorm2d(h1, eps=1e-3, affine=True)
        self.head.conv2, self.head.norm2 = nn.Conv2d(h1, h2, 1), nn.InstanceNorm2d(h2, eps=1e-3, affine=True)
        self.head.conv3 = nn.Conv2d(h2, 3, 1, bias=False)

    def forward(self, ldr):
        b = self.backbone
        x = F.relu6(b.stem_bn(b.stem(2 * ldr - 1)))  # (B, 16α', H/2, W/2)
        skips = []
        for n, block in enumerate(b.blocks):
            x, e, _ = block(x)
            if n in mqnet.SKIP_BLOCKS:
                skips.append(e)  # expand outputs of blocks 1, 3, 6, 13
        s1, s2, s3, s4 = skips
        d, up = self.decoder, lambda t: F.interpolate(t, scale_factor=2.0, mode="nearest")
        x = d.d2(d.d1(x)[0])[0]  # (B, c1, H/32, W/32)
        x = d.d4(d.d3(torch.cat([up(x), s4], 1))[0])[0]  # (B, c2, H/16, W/16)
        x = d.d5(torch.cat([up(x), s3], 1))[0]  # (B, c3, H/8, W/8)
        x = d.d6(torch.cat([up(x), s2], 1))[0]  # (B, c4, H/4, W/4)
        x = F.relu(d.d7.bn(d.d7.conv(torch.cat([up(x), s1], 1))))  # (B, fuse, H/2, W/2)
        f = F.relu(d.d8.bn(d.d8.conv(torch.cat([up(x), ldr], 1))))  # (B, fuse, H, W)
        h = self.head
        o = torch.tanh(h.conv3(F.relu(h.norm2(h.conv2(F.relu(h.norm1(h.conv1(f))))))))  # O ∈ (−1, 1)
        return torch.sigmoid(ldr + o)  # Ĥ = σ(I + O)


config = MQNetConfig.tiny()
print(config)
seed_everything(0)
package = MQNet(config).eval()
mine = MyMQNet(config).eval()
mine.load_state_dict(package.state_dict())  # strict: every name and shape must match
test_ldr = torch.rand(2, 3, 64, 96, generator=torch.Generator().manual_seed(1))
with torch.no_grad():
    ours, theirs = mine(test_ldr), package(test_ldr)
print(f"output {tuple(ours.shape)} in [{ours.min():.3f}, {ours.max():.3f}]; max |ours − package| = {(ours - theirs).abs().max():.1e}")
assert torch.allclose(ours, theirs, atol=1e-6), "the assembled model differs from hdredu.models.MQNet"
with torch.no_grad():
    parts = package(test_ldr, return_intermediates=True)
print("skips", [tuple(s.shape[1:]) for s in parts.skips], "· bottleneck", tuple(parts.bottleneck.shape[1:]))


def count(module):
    return sum(p.numel() for p in module.parameters())


paper = MyMQNet(MQNetConfig.paper())
print(f"parameters, paper preset: backbone {count(paper.backbone):,} · decoder {count(paper.decoder):,} · "
      f"head {count(paper.head):,} · total {count(paper):,} (this notebook's tiny preset: {count(package):,})")
assert count(paper) == count(MQNet(MQNetConfig.paper())) == 875_432
assert count(paper.head) == 1_872, "the float head is 0.2 % of the network"

# %% [markdown]
# ## Exercises
#
# 1. **The output bound.** Train with `MQNetConfig(output="unbounded")` … (to be continued)

# %%
print(f"notebook wall time: {(time.perf_counter() - notebook_start) / 60:.1f} min (FAST = {FAST})")
