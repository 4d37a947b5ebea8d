"""Learning-rate schedule and running statistics shared by the head and full training loops."""

from __future__ import annotations

import math
import time
from collections.abc import Sequence

import torch


def lr_factor(progress: float, *, warmup: float) -> float:
    """Linear warm-up over the first ``warmup`` of training, then cosine down to 1 %.

    ``progress`` is the fraction of all training images seen so far (0..1), so the schedule
    survives a change of batch size (CUDA out-of-memory halves it).
    """
    if warmup > 0 and progress < warmup:
        return max(progress / warmup, 0.01)
    rest = (progress - warmup) / max(1e-9, 1 - warmup)
    return 0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * min(1.0, max(0.0, rest))))


def set_lr(optimizer: torch.optim.Optimizer, factor: float) -> float:
    """Scale every parameter group's ``peak_lr`` by ``factor``; return the first group's lr."""
    for group in optimizer.param_groups:
        group["lr"] = group["peak_lr"] * factor
    return optimizer.param_groups[0]["lr"]


def class_weights(labels: Sequence[int], n_classes: int) -> torch.Tensor:
    """Inverse-frequency weights (mean 1 over the present classes), so rare classes count."""
    counts = torch.bincount(torch.tensor(list(labels), dtype=torch.long), minlength=n_classes)
    counts = counts.float()
    weights = torch.where(counts > 0, counts.sum() / (n_classes * counts.clamp(min=1)), 0.0)
    return weights.clamp(max=10.0)


class Meter:
    """Smoothed loss and throughput for progress events (bias-corrected moving averages)."""

    def __init__(self, beta: float = 0.9) -> None:
        self.beta = beta
        self._loss = 0.0
        self._steps = 0
        self._started = time.perf_counter()
        self._images = 0

    def update(self, loss: float, images: int) -> None:
        self._steps += 1
        self._loss = self.beta * self._loss + (1 - self.beta) * loss
        self._images += images

    @property
    def smoothed_loss(self) -> float | None:
        if not self._steps:
            return None
        return self._loss / (1 - self.beta**self._steps)

    @property
    def images_per_second(self) -> float:
        elapsed = time.perf_counter() - self._started
        return self._images / elapsed if elapsed > 0 else 0.0

    def eta(self, remaining_images: int) -> float | None:
        ips = self.images_per_second
        return remaining_images / ips if ips > 0 else None


def better(
    accuracy: float | None,
    loss: float,
    *,
    best_accuracy: float | None,
    best_loss: float | None,
) -> bool:
    """Whether an epoch beats the best so far: higher validation accuracy, or the same accuracy
    with a lower validation loss (accuracy is what the user sees; loss breaks the ties that a
    small validation set makes common)."""
    if best_loss is None:
        return True
    if accuracy is not None and best_accuracy is not None and accuracy != best_accuracy:
        return accuracy > best_accuracy
    return loss < best_loss - 1e-5
