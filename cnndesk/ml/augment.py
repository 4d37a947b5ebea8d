"""Augmentation presets (data, not branches) and a batched augmenter that runs them.

Each preset is a :class:`Augment` value. The augmenter works on a whole batch of cached uint8
pixels at once: one random affine per image (a random-resized crop, flip and rotation) applied with
``grid_sample``, then per-image colour jitter and random erasing, so the CPU spends its time in the
model, not in per-image Python.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class Augment:
    flip: bool = False
    scale: tuple[float, float] = (1.0, 1.0)
    """Area of the crop as a fraction of the (square) cached image."""
    ratio: tuple[float, float] = (1.0, 1.0)
    """Aspect ratio range of the crop."""
    rotate: float = 0.0
    """Maximum rotation, degrees either way."""
    brightness: float = 0.0
    contrast: float = 0.0
    saturation: float = 0.0
    erase: float = 0.0
    """Probability of blanking one random rectangle (up to a quarter of the image)."""

    @property
    def is_identity(self) -> bool:
        return self == Augment()


PRESETS: dict[str, Augment] = {
    "none": Augment(),
    "light": Augment(flip=True, scale=(0.6, 1.0), ratio=(0.85, 1.18)),
    "standard": Augment(
        flip=True, scale=(0.35, 1.0), ratio=(0.75, 1.33), brightness=0.2, contrast=0.2,
        saturation=0.2,
    ),
    "strong": Augment(
        flip=True, scale=(0.15, 1.0), ratio=(0.75, 1.33), rotate=15.0, brightness=0.4,
        contrast=0.4, saturation=0.4, erase=0.25,
    ),
}  # fmt: skip


def _uniform(n: int, low: float, high: float, generator: torch.Generator) -> torch.Tensor:
    return torch.rand(n, generator=generator) * (high - low) + low


def augment_batch(
    pixels: torch.Tensor,
    preset: Augment,
    *,
    size: tuple[int, int],
    generator: torch.Generator,
) -> torch.Tensor:
    """uint8 ``[N, S, S, 3]`` → float ``[N, 3, H, W]`` in [0, 1], randomly augmented per image."""
    n = pixels.shape[0]
    x = pixels.movedim(-1, 1).float().div_(255.0)
    area = _uniform(n, *preset.scale, generator)
    log_ratio = _uniform(n, math.log(preset.ratio[0]), math.log(preset.ratio[1]), generator)
    ratio = log_ratio.exp()
    width = (area * ratio).sqrt().clamp(max=1.0)
    height = (area / ratio).sqrt().clamp(max=1.0)
    cx = (torch.rand(n, generator=generator) * 2 - 1) * (1 - width)
    cy = (torch.rand(n, generator=generator) * 2 - 1) * (1 - height)
    flip = torch.ones(n)
    if preset.flip:
        flip = torch.where(torch.rand(n, generator=generator) < 0.5, -1.0, 1.0)
    angle = _uniform(n, -preset.rotate, preset.rotate, generator) * (math.pi / 180)
    cos, sin = angle.cos(), angle.sin()
    theta = torch.stack(
        [
            torch.stack([width * flip * cos, -height * sin, cx], dim=1),
            torch.stack([width * flip * sin, height * cos, cy], dim=1),
        ],
        dim=1,
    )
    grid = F.affine_grid(theta, [n, 3, *size], align_corners=False)
    x = F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=False)
    view = (n, 1, 1, 1)
    if preset.brightness:
        x = x * _uniform(n, 1 - preset.brightness, 1 + preset.brightness, generator).view(view)
    if preset.contrast:
        mean = x.mean(dim=(1, 2, 3), keepdim=True)
        factor = _uniform(n, 1 - preset.contrast, 1 + preset.contrast, generator).view(view)
        x = (x - mean) * factor + mean
    if preset.saturation:
        grey = (x * torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)).sum(1, keepdim=True)
        factor = _uniform(n, 1 - preset.saturation, 1 + preset.saturation, generator).view(view)
        x = (x - grey) * factor + grey
    if preset.erase:
        h, w = size
        for i in torch.nonzero(torch.rand(n, generator=generator) < preset.erase).flatten():
            eh = int(_uniform(1, 0.1, 0.5, generator).item() * h)
            ew = int(_uniform(1, 0.1, 0.5, generator).item() * w)
            top = int(torch.randint(0, h - eh + 1, (1,), generator=generator))
            left = int(torch.randint(0, w - ew + 1, (1,), generator=generator))
            x[i, :, top : top + eh, left : left + ew] = 0.5
    return x.clamp_(0.0, 1.0)
