"""The one epoch loop of training, in Lightning Fabric's shape: :func:`fit` runs a train step and a
validation per epoch, keeps the best state, stops early, and yields an :class:`EpochEnd` per epoch.

Quick mode's head (:func:`cnndesk.ml.head.fit_head`) and full fine-tuning
(:func:`cnndesk.ml.full.full`) both train through it; they differ only in their epoch and their
validation. The best epoch is ranked as :func:`cnndesk.ml.schedule.better` says: the highest
validation accuracy, its ties broken by the lowest validation loss (the training loss where there
are no validation images). Progress is observed through the yielded events, never callbacks.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass, field

import torch

from cnndesk.domain import BatchProgress, EpochEnd, Progress
from cnndesk.ml.schedule import better

log = logging.getLogger(__name__)

Event = Progress | EpochEnd


@dataclass(frozen=True)
class EpochStats:
    """What one training epoch measured (returned by the train step)."""

    loss: float
    accuracy: float
    lr: float


@dataclass(frozen=True)
class Validation:
    """One epoch's validation: ``loss`` and ``accuracy`` are ``None`` without validation images;
    ``score`` is the loss the epoch is ranked by (the validation loss, else the training loss)."""

    loss: float | None
    accuracy: float | None
    score: float


@dataclass(frozen=True)
class Best:
    """The best epoch so far: its number, its ranking loss and its validation accuracy."""

    epoch: int
    score: float | None
    accuracy: float | None


@dataclass
class Fit:
    """What :func:`fit` returns: the best epoch, its state (``None`` when no epoch beat the
    ``best`` it started from), the epochs' events (after any ``history`` given), and how many
    epochs ran."""

    best: Best
    best_state: dict[str, torch.Tensor] | None
    history: list[EpochEnd] = field(default_factory=list)
    epochs: int = 0


def snapshot(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    """A CPU copy of ``module``'s state, which later training steps leave untouched."""
    return {k: v.detach().to("cpu", copy=True) for k, v in module.state_dict().items()}


def fit(
    module: torch.nn.Module,
    *,
    epochs: int,
    patience: int,
    train_epoch: Callable[[int], Generator[BatchProgress, None, EpochStats]],
    validate: Callable[[int, EpochStats], Generator[Event, None, Validation]],
    stage: str,
    device: str,
    best: Best | None = None,
    on_best: Callable[[Best, dict[str, torch.Tensor]], None] | None = None,
    history: list[EpochEnd] | None = None,
) -> Generator[Event, None, Fit]:
    """Train ``module`` for up to ``epochs`` epochs; stop after ``patience`` epochs without a
    better one.

    Each epoch runs ``train_epoch(epoch)`` then ``validate(epoch, stats)`` (both re-yielded),
    then yields its :class:`EpochEnd`. ``best`` is a result to beat from an earlier stage (full
    mode's warm-up head); ``on_best(best, state)`` hears of every new best epoch at once, and
    each :class:`EpochEnd` is appended to ``history`` (the result's own list when not given) as it
    happens, so a run stopped mid-way can save both.
    """
    result = Fit(
        best=best or Best(0, None, None),
        best_state=None,
        history=[] if history is None else history,
    )
    stale = 0
    for epoch in range(1, epochs + 1):
        started = time.perf_counter()
        stats = yield from train_epoch(epoch)
        val = yield from validate(epoch, stats)
        improved = better(
            val.accuracy,
            val.score,
            best_accuracy=result.best.accuracy,
            best_loss=result.best.score,
        )
        if improved:
            result.best = Best(epoch, val.score, val.accuracy)
            result.best_state = snapshot(module)
            stale = 0
            if on_best is not None:
                on_best(result.best, result.best_state)
        else:
            stale += 1
        event = EpochEnd(
            epoch=epoch,
            epochs=epochs,
            train_loss=stats.loss,
            train_accuracy=stats.accuracy,
            val_loss=val.loss,
            val_accuracy=val.accuracy,
            lr=stats.lr,
            seconds=time.perf_counter() - started,
            best_epoch=result.best.epoch,
            improved=improved,
            stage=stage,
            device=device,
        )
        result.history.append(event)
        result.epochs = epoch
        yield event
        if stale >= patience:
            log.info("%s: early stop after epoch %d; best was %d", stage, epoch, result.best.epoch)
            break
    return result
