"""A minimal stand-in for ``torchvision`` so that the optional ColorVideoVDP package imports without it.

Only ``torchvision.transforms.GaussianBlur`` is provided, with torchvision's maths: a normalised,
separable Gaussian kernel of the given size and sigma, applied with reflect padding.
"""

from __future__ import annotations

import sys
import types

import torch
import torch.nn.functional as F


class GaussianBlur(torch.nn.Module):
    """Blur (..., C, H, W) with a separable normalised Gaussian, reflect padding (torchvision semantics)."""

    def __init__(self, kernel_size, sigma: float = 1.0):
        super().__init__()
        self.kernel_size = (kernel_size, kernel_size) if isinstance(kernel_size, int) else tuple(kernel_size)
        if not isinstance(sigma, (int, float)):  # torchvision would sample from a (min, max) range
            raise TypeError(f"the stand-in GaussianBlur takes one fixed sigma; got {sigma!r}")
        self.sigma = (float(sigma), float(sigma))

    @staticmethod
    def _kernel1d(size: int, sigma: float, dtype, device) -> torch.Tensor:
        x = torch.linspace(-(size - 1) / 2, (size - 1) / 2, size, dtype=dtype, device=device)
        kernel = torch.exp(-0.5 * (x / sigma) ** 2)
        return kernel / kernel.sum()

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        kx = self._kernel1d(self.kernel_size[0], self.sigma[0], image.dtype, image.device)
        ky = self._kernel1d(self.kernel_size[1], self.sigma[1], image.dtype, image.device)
        shape = image.shape
        flat = image.reshape(-1, 1, shape[-2], shape[-1])
        pad_x, pad_y = self.kernel_size[0] // 2, self.kernel_size[1] // 2
        flat = F.pad(flat, (pad_x, pad_x, pad_y, pad_y), mode="reflect")
        flat = F.conv2d(flat, kx.view(1, 1, 1, -1))
        flat = F.conv2d(flat, ky.view(1, 1, -1, 1))
        return flat.reshape(shape)


def install() -> None:
    """Register ``torchvision`` and ``torchvision.transforms`` modules holding :class:`GaussianBlur`."""
    torchvision = types.ModuleType("torchvision")
    transforms = types.ModuleType("torchvision.transforms")
    transforms.GaussianBlur = GaussianBlur
    torchvision.transforms = transforms
    torchvision.__version__ = "0.0-hdredu-standin"
    sys.modules["torchvision"] = torchvision
    sys.modules["torchvision.transforms"] = transforms
