"""Random crops of a pool of examples: simulate (or load) a few hundred items once, then draw many crops.

Simulating a bracket costs more than a training step of a tiny model, so notebooks simulate a pool of larger
items once and train on random windows of it, flipped at random (the official AHDRNet recipe flips too).
Introduced in notebooks/01_ahdrnet.ipynb, section 4 *Training on simulated brackets of moving scenes*.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from hdredu.utils import item_generator, random_window


class RandomCrops(torch.utils.data.Dataset):
    """Random ``crop × crop`` windows of a pool of ``(inputs, target)`` pairs, randomly flipped.

    Item k picks a pool entry, a window and two flips (horizontal, vertical) from
    :func:`hdredu.utils.item_generator` (seed, k) alone, so it is the same in every process and order.
    Inputs and target share their last two (H, W) dimensions and are cut and flipped together.

    Args:
        pool: a sequence of (inputs (..., H, W), target (C, H, W)) pairs, e.g. ``[dataset[i] for i in ...]``.
        crop: side of the windows (at most the smallest H, W in the pool).
        length: number of items.
        seed: base seed.
    """

    def __init__(self, pool: Sequence[tuple[torch.Tensor, torch.Tensor]], crop: int, length: int, seed: int = 0):
        if len(pool) == 0:
            raise ValueError("pool must hold at least one (inputs, target) pair")
        smallest = min(min(target.shape[-2:]) for _, target in pool)
        if not 1 <= crop <= smallest:
            raise ValueError(f"crop must be in [1, {smallest}] (the smallest item side in the pool); got {crop}")
        if length < 1:
            raise ValueError(f"length must be a positive integer; got {length}")
        self.pool, self.crop, self.length, self.seed = pool, crop, length, seed

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        if not 0 <= index < self.length:
            raise IndexError(f"index {index} out of range for {self.length} crops")
        generator = item_generator(self.seed, index)
        inputs, target = self.pool[int(torch.randint(len(self.pool), (), generator=generator))]
        window = random_window(*target.shape[-2:], self.crop, generator)
        inputs, target = inputs[window], target[window]  # (..., c, c), (C, c, c)
        for dim in (-1, -2):  # horizontal, vertical flip
            if torch.rand((), generator=generator) < 0.5:
                inputs, target = inputs.flip(dim), target.flip(dim)
        return inputs, target
