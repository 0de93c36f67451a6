"""Non-local block (embedded Gaussian): every pixel gathers features from every other pixel of the image.

For features x (B, C, H, W), flattened to N = H·W positions, with C' = C/2 embedding channels:

    θ = W_θ * x,  φ = W_φ * x,  g = W_g * x                  1×1 convolutions C → C'          (B, C', N)
    (optional) φ, g ← maxpool_2×2(φ), maxpool_2×2(g)         keys / values on a coarser grid  (B, C', M), M ≈ N/4
    f_ij = exp(θ_iᵀ φ_j) / Σ_k exp(θ_iᵀ φ_k)                 softmax over keys j              (B, N, M)
    y_i  = Σ_j f_ij g_j                                                                        (B, C', N)
    z    = W_z * y + x                                       1×1 convolution C' → C           (B, C, H, W)

W_z starts at zero (weights and bias), so a fresh block is the identity z = x and a network can be built
around it without changing what the rest of the network computes at initialisation. Row i of f is the
attention of query pixel i over the (subsampled) image: ``f[b, i].view(H', W')`` draws it.

Cost: f has N·M entries, O((HW)²); at a 512×512 feature map that is 6.9e10 pairs, far too many. ALEN
therefore uses the block only at the deepest, smallest levels of its U-Net (reference/alen.md §2), and
``nonlocal_memory_bytes`` states what a size costs before you run it.

Paper: Wang, Girshick, Gupta, He, "Non-local Neural Networks", CVPR 2018, Sec. 3.2-3.3 (embedded Gaussian,
Eq. 1-2 and 6). Deviation: the paper (and its reference code) puts a BatchNorm after W_z and zeroes the BN
scale; hdredu has no BN there and zeroes W_z itself, which gives the same identity start without batch
statistics (SID-style low-light training uses batch 1).
Introduced in notebooks/05_alen.ipynb, section 5 *Non-local block*.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from hdredu.utils import check_shape


def nonlocal_attention(
    feat: torch.Tensor,
    theta_weight: torch.Tensor,
    theta_bias: torch.Tensor | None,
    phi_weight: torch.Tensor,
    phi_bias: torch.Tensor | None,
    g_weight: torch.Tensor,
    g_bias: torch.Tensor | None,
    out_weight: torch.Tensor,
    out_bias: torch.Tensor | None,
    subsample: bool = False,
    return_attention: bool = False,
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """Non-local block, embedded Gaussian, functional form: z = W_z * (softmax(θᵀφ) gᵀ)ᵀ + x.

    Args:
        feat: (B, C, H, W) features x.
        theta_weight, phi_weight, g_weight: (C', C, 1, 1) embeddings θ, φ, g; their biases (C',) or None.
        out_weight: (C, C', 1, 1) output projection W_z; out_bias (C,) or None.
        subsample: max-pool φ and g by 2×2 (M = ⌈H/2⌉·⌈W/2⌉ keys: a 4× smaller attention matrix; an odd last
            row or column is pooled on its own, so no pixel is dropped).
        return_attention: also return f.
    Returns:
        z (B, C, H, W); with ``return_attention`` the pair (z, f), f (B, N, M) softmax weights that sum to 1
        over the last axis (N = H·W queries in row-major order, M = H'·W' keys, H' = ⌈H/2⌉ when subsampled).
    """
    sizes = check_shape(feat, "B C H W", "feat")
    channels, height, width = sizes["C"], sizes["H"], sizes["W"]
    embed = theta_weight.shape[0] if theta_weight.dim() == 4 else -1
    for name, weight in (("theta_weight", theta_weight), ("phi_weight", phi_weight), ("g_weight", g_weight)):
        if weight.dim() != 4 or weight.shape != (embed, channels, 1, 1):
            raise ValueError(f"{name} must be (C', C, 1, 1) = (C', {channels}, 1, 1), the same C' for θ, φ and g; got {tuple(weight.shape)}")
    if out_weight.dim() != 4 or out_weight.shape != (channels, embed, 1, 1):
        raise ValueError(f"out_weight must be (C, C', 1, 1) = ({channels}, {embed}, 1, 1); got {tuple(out_weight.shape)}")
    # θ: (B, C', H, W) → (B, C', N) → (B, N, C'): one query vector per pixel
    theta = F.conv2d(feat, theta_weight, theta_bias).flatten(2).transpose(1, 2)
    phi = F.conv2d(feat, phi_weight, phi_bias)
    g = F.conv2d(feat, g_weight, g_bias)
    if subsample:
        # keys and values on the 2× coarser grid: (B, C', ⌈H/2⌉, ⌈W/2⌉)
        phi, g = F.max_pool2d(phi, 2, ceil_mode=True), F.max_pool2d(g, 2, ceil_mode=True)
    # φ: (B, C', M); g: (B, C', M) → (B, M, C')
    phi, g = phi.flatten(2), g.flatten(2).transpose(1, 2)
    # θ_iᵀ φ_j for every query i and key j: (B, N, C') @ (B, C', M) → (B, N, M)
    logits = theta @ phi
    # f = softmax over the keys: each row sums to 1, (B, N, M)
    attn = logits.softmax(dim=-1)
    del logits
    # y_i = Σ_j f_ij g_j: (B, N, M) @ (B, M, C') → (B, N, C') → (B, C', H, W)
    y = (attn @ g).transpose(1, 2).reshape(sizes["B"], embed, height, width)
    # z = W_z * y + x: (B, C, H, W)
    z = F.conv2d(y, out_weight, out_bias) + feat
    return (z, attn) if return_attention else z


def nonlocal_memory_bytes(
    height: int,
    width: int,
    channels: int,
    subsample: bool,
    batch: int = 1,
    bytes_per_element: int = 4,
    embed_channels: int | None = None,
) -> int:
    """Peak memory the forward pass of one non-local block allocates beyond its input, in bytes.

    Two moments compete (N = H·W queries, M keys, C' embedding channels, C input channels):

        softmax:  the logits θᵀφ and f (two N×M) with θ, φ, g alive      2·N·M + C'·N + 2·C'·M
        output:   f, θ, φ, g, y (C'·N), W_z * y (C·N) and z (C·N)         N·M + 2·C'·N + 2·C'·M + 2·C·N
        bytes = e · B · max(softmax, output),   M = ⌈H/2⌉·⌈W/2⌉ if subsample else N,  C' = C // 2

    with e bytes per element (4 for float32). On large maps the softmax moment wins (N·M ≫ C·N): the
    O((HW)²) cost. On small deep maps with many channels the output moment wins. This counts the tensors
    :func:`nonlocal_attention` creates, including z; it equals, to the byte, the peak of live CPU tensors
    measured by the profiler on torch 2.13 (tests/ops/test_ops_nonlocal.py). Training keeps f for the
    backward pass, so each block adds at least e·B·N·M to the activations the step stores.

    Args:
        height, width: size of the feature map the block runs on (not of the image).
        channels: C of the block's input.
        subsample: whether φ and g are max-pooled 2×2.
        batch: B.
        bytes_per_element: e (4 for float32, 2 for bf16).
        embed_channels: C' (default C // 2, at least 1, as :class:`NonLocalBlock`).
    Returns:
        bytes, an int.
    """
    for name, value in (("height", height), ("width", width), ("channels", channels), ("batch", batch)):
        if value < 1:
            raise ValueError(f"{name} must be a positive integer; got {value}")
    queries = height * width
    keys = -(-height // 2) * -(-width // 2) if subsample else queries
    embed = max(channels // 2, 1) if embed_channels is None else embed_channels
    # logits and f, plus θ (C'·N) and the pooled φ, g (C'·M each)
    at_softmax = 2 * queries * keys + embed * queries + 2 * embed * keys
    # f, θ, φ, g, plus y (C'·N), W_z * y and z (C·N each)
    at_output = queries * keys + 2 * embed * queries + 2 * embed * keys + 2 * channels * queries
    return bytes_per_element * batch * max(at_softmax, at_output)


def query_attention(attn: torch.Tensor, height: int, width: int, row: int, col: int, subsample: bool) -> torch.Tensor:
    """The attention of one query pixel over the image, as an image: row ``row·W + col`` of f, reshaped.

    Args:
        attn: (B, N, M) softmax weights f from :func:`nonlocal_attention` on an (H, W) feature map.
        height, width: H, W of that feature map.
        row, col: the query pixel.
        subsample: whether the keys were subsampled (then the map is ⌈H/2⌉ × ⌈W/2⌉).
    Returns:
        (B, H', W') weights over the keys, summing to 1; upsample it to draw it over the image.
    """
    keys_h, keys_w = (-(-height // 2), -(-width // 2)) if subsample else (height, width)
    check_shape(attn, f"B {height * width} {keys_h * keys_w}", "attn")
    if not (0 <= row < height and 0 <= col < width):
        raise ValueError(f"the query pixel (row, col) must lie in the {height}×{width} map; got ({row}, {col})")
    return attn[:, row * width + col].reshape(-1, keys_h, keys_w)


class NonLocalBlock(nn.Module):
    """Non-local block (embedded Gaussian) with a zero-initialised output projection: the identity at start.

    Args:
        channels: C, channels in and out.
        embed_channels: C' of θ, φ and g (default C // 2, at least 1, as in Wang et al.).
        subsample: max-pool keys and values 2×2 (Wang et al.'s ``sub_sample``; 4× less attention memory).

    ``forward(feat, return_attention=False)``: (B, C, H, W) → z (B, C, H, W), or (z, f) with f (B, N, M).

    Paper: Wang et al., "Non-local Neural Networks", CVPR 2018 (see the module docstring for the deviation).
    Introduced in notebooks/05_alen.ipynb, section 5 *Non-local block*.
    """

    def __init__(self, channels: int, embed_channels: int | None = None, subsample: bool = False):
        super().__init__()
        if channels < 1:
            raise ValueError(f"channels must be a positive number of channels; got {channels}")
        embed_channels = max(channels // 2, 1) if embed_channels is None else embed_channels
        if embed_channels < 1:
            raise ValueError(f"embed_channels must be a positive number of channels; got {embed_channels}")
        self.channels, self.embed_channels, self.subsample = channels, embed_channels, subsample
        # θ, φ, g: C → C' (1×1)
        self.theta = nn.Conv2d(channels, embed_channels, 1)
        self.phi = nn.Conv2d(channels, embed_channels, 1)
        self.g = nn.Conv2d(channels, embed_channels, 1)
        # W_z: C' → C (1×1), zeroed so that z = x at initialisation
        self.out = nn.Conv2d(embed_channels, channels, 1)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """PyTorch's default initialisation for θ, φ, g; W_z weights and bias set to zero (identity block)."""
        for conv in (self.theta, self.phi, self.g):
            conv.reset_parameters()
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def memory_bytes(self, height: int, width: int, batch: int = 1, bytes_per_element: int = 4) -> int:
        """:func:`nonlocal_memory_bytes` for this block on a ``height × width`` feature map."""
        return nonlocal_memory_bytes(
            height, width, self.channels, self.subsample, batch, bytes_per_element, self.embed_channels
        )

    def forward(self, feat: torch.Tensor, return_attention: bool = False):
        """z = W_z * y + x: (B, C, H, W) → (B, C, H, W); also f (B, N, M) with ``return_attention``."""
        sizes = check_shape(feat, "B C H W", "feat")
        if sizes["C"] != self.channels:
            raise ValueError(f"feat must have {self.channels} channels (B, {self.channels}, H, W); got {tuple(feat.shape)}")
        return nonlocal_attention(
            feat,
            self.theta.weight, self.theta.bias,
            self.phi.weight, self.phi.bias,
            self.g.weight, self.g.bias,
            self.out.weight, self.out.bias,
            subsample=self.subsample,
            return_attention=return_attention,
        )
