"""Full mode's fine-tuning: every layer trains on cached, batch-augmented pixels through the one
epoch loop (:func:`cnndesk.ml.loop.fit`), and the model's logits for any samples.

:func:`fine_tune` is the train step and the validation that :mod:`cnndesk.ml.train` runs after
the warm-up head: AdamW with a lower rate for a pretrained backbone, warm-up + cosine, label
smoothing, class weights, channels_last; on CUDA also AMP, and an out-of-memory error halves the
batch and carries on. The best epoch is ranked as :func:`cnndesk.ml.schedule.better` says
(accuracy first, then validation loss) and must beat the warm-up head to replace it.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Generator, Sequence
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F

from cnndesk.domain import (
    BatchProgress,
    DatasetError,
    EpochEnd,
    Progress,
    TrainingSample,
    TrainPhase,
)
from cnndesk.ml.augment import PRESETS, augment_batch
from cnndesk.ml.data import PixelCache, geometry
from cnndesk.ml.device import PrecisionProbe
from cnndesk.ml.head import autocast
from cnndesk.ml.loop import Best, EpochStats, Validation, fit
from cnndesk.ml.preprocess import normalize, scale_size
from cnndesk.ml.schedule import Meter, class_weights, lr_factor, set_lr

if TYPE_CHECKING:
    from cnndesk.ml.train import _Run

log = logging.getLogger(__name__)

Event = Progress | EpochEnd
BACKBONE_LR_FACTOR = 0.2
"""Full mode on a pretrained backbone: its layers learn at this fraction of the head's rate."""


def require_readable(run: _Run, usable: Sequence[TrainingSample], wanted: int) -> None:
    """Stop with a clear message (not a division by zero) when no training image could be read."""
    if usable:
        return
    reasons = sorted(set(run.unreadable.values()))
    example = f" (e.g. {reasons[0]})" if reasons else ""
    raise DatasetError(
        f"none of the {wanted} training images can be read: {len(run.unreadable)} unreadable"
        f"{example}; run `cnndesk check`"
    )


def as_preparing(gen: Generator[Progress, None, object], choice: object):
    """Re-yield a sub-generator's plain progress as ``preparing`` batch progress."""
    while True:
        try:
            event = next(gen)
        except StopIteration as stop:
            return stop.value
        yield BatchProgress(
            event.done, event.total, event.message, phase=TrainPhase.PREPARING,
            device=choice.description,  # type: ignore[attr-defined]
        )  # fmt: skip


def read_pixels(
    run: _Run, samples: Sequence[TrainingSample], *, side: int | None, message: str
) -> Generator[Event, None, tuple[list[TrainingSample], dict[str, np.ndarray]]]:
    """The readable ``samples`` and their cached pixels; the others go to ``run.unreadable``."""
    cache = PixelCache(geometry(run.data_config, side=side))
    found, failed = yield from as_preparing(cache.load(samples, message=message), run.choice)
    for path, reason in failed:
        log.warning("skipped %s: %s", path, reason)
        run.unreadable[str(path)] = str(reason)
    return [s for s in samples if s.key in found], found


def model_logits(
    run: _Run,
    samples: Sequence[TrainingSample],
    pixels: dict[str, np.ndarray],
    *,
    epoch: int,
    batch_size: int,
) -> Generator[Event, None, torch.Tensor]:
    """The model's logits for ``samples`` (eval mode, no gradients), with ``evaluating`` progress."""
    run.model.eval()
    out = []
    meter = Meter()
    batches = (len(samples) + batch_size - 1) // batch_size
    for b in range(batches):
        chunk = samples[b * batch_size : (b + 1) * batch_size]
        x = normalize(torch.from_numpy(np.stack([pixels[s.key] for s in chunk])), run.data_config)
        x = x.to(run.choice.device).contiguous(memory_format=torch.channels_last)
        with torch.inference_mode(), autocast(run.choice):
            out.append(run.model(x).float().cpu())
        meter.update(0.0, len(chunk))
        done = b * batch_size + len(chunk)
        yield BatchProgress(
            done, len(samples), "Evaluating", phase=TrainPhase.EVALUATING, epoch=epoch,
            batch=b + 1, batches=batches, images_per_second=meter.images_per_second,
            eta_seconds=meter.eta(len(samples) - done), device=run.choice.description,
        )  # fmt: skip
    return torch.cat(out) if out else torch.empty(0, len(run.data.classes))


class _FineTuning:
    """The train step and the validation of full mode, with what they keep between epochs."""

    def __init__(self, run: _Run, train_set, train_px, val_set, val_px, *, pretrained: bool):
        config, settings, model = run.config, run.settings, run.model
        self.run, self.pretrained = run, pretrained
        self.train_set, self.train_px, self.val_set, self.val_px = (
            train_set, train_px, val_set, val_px
        )  # fmt: skip
        self.preset = PRESETS[config.augment]
        classifier = set(id(p) for p in model.get_classifier().parameters())
        head_params = [p for p in model.parameters() if id(p) in classifier]
        body_params = [p for p in model.parameters() if id(p) not in classifier]
        lr = settings["lr"]
        self.body_lr = lr * BACKBONE_LR_FACTOR if pretrained else lr
        self.optimizer = torch.optim.AdamW(
            [{"params": body_params, "lr": self.body_lr}, {"params": head_params, "lr": lr}],
            weight_decay=config.weight_decay,
        )
        for group in self.optimizer.param_groups:
            group["peak_lr"] = group["lr"]
        for p in model.parameters():
            p.requires_grad_(True)
        self.weights = class_weights([s.label for s in train_set], len(run.data.classes)).to(
            run.choice.device
        )
        self.generator = torch.Generator().manual_seed(config.seed)
        self.epochs, self.n = settings["epochs"], len(train_set)
        self.total = self.epochs * self.n
        e = self.epochs
        self.warmup = min(0.3, 1.0 / e) if pretrained else min(0.2, 2.0 / e)
        self.batch_size = max(1, min(settings["batch_size"], self.n))
        self.mean = torch.tensor(run.data_config["mean"]).view(1, 3, 1, 1)
        self.std = torch.tensor(run.data_config["std"]).view(1, 3, 1, 1)
        self.meter, self.seen = Meter(), 0
        self.probe = PrecisionProbe(run.choice, config.precision)
        self.scaler = torch.amp.GradScaler(
            enabled=run.choice.device.type == "cuda" and self.probe.chosen == torch.float16
        )

    def _train_mode(self) -> None:
        self.run.model.train()
        if self.pretrained:
            # Small data sets: keep the pretrained batch-norm statistics (their scales and shifts
            # still train); batch statistics of 32 photos would wash them out.
            for module in self.run.model.modules():
                if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
                    module.eval()

    def _inputs(self, chunk: Sequence[TrainingSample]) -> torch.Tensor:
        raw = torch.from_numpy(np.stack([self.train_px[s.key] for s in chunk]))
        if self.preset.is_identity:
            x = normalize(raw, self.run.data_config)
        else:
            _, height, width = self.run.data_config["input_size"]
            augmented = augment_batch(
                raw, self.preset, size=(height, width), generator=self.generator
            )
            x = (augmented - self.mean) / self.std
        return x.to(self.run.choice.device).contiguous(memory_format=torch.channels_last)

    def _step(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor] | None:
        """One optimiser step: (logits, loss), or ``None`` when it ran out of memory (the batch
        size is halved then, and the caller puts the images back)."""
        dtype = self.probe.dtype()
        try:
            with torch.autocast(
                self.run.choice.device.type, dtype=dtype, enabled=dtype is not None
            ):
                out = self.run.model(x)
                loss = F.cross_entropy(
                    out.float(), y, weight=self.weights,
                    label_smoothing=self.run.config.label_smoothing,
                )  # fmt: skip
            self.optimizer.zero_grad(set_to_none=True)
            self.scaler.scale(loss).backward()
            self.scaler.step(self.optimizer)
            self.scaler.update()
        except torch.OutOfMemoryError:
            if self.batch_size == 1:
                raise
            self.optimizer.zero_grad(set_to_none=True)
            if self.run.choice.device.type == "cuda":
                torch.cuda.empty_cache()
            self.batch_size //= 2
            log.warning("out of memory: batch size halved to %d", self.batch_size)
            return None
        return out, loss

    def epoch(self, epoch: int) -> Generator[BatchProgress, None, EpochStats]:
        """One pass over the training images (shuffled, augmented), a progress event per batch."""
        self._train_mode()
        n, total = self.n, self.total
        queue = deque(torch.randperm(n, generator=self.generator).tolist())
        correct, loss_sum, batch = 0, 0.0, 0
        batches = (n + self.batch_size - 1) // self.batch_size
        lr_now = self.body_lr
        while queue:
            idx = [queue.popleft() for _ in range(min(self.batch_size, len(queue)))]
            chunk = [self.train_set[i] for i in idx]
            x = self._inputs(chunk)
            y = torch.tensor([s.label for s in chunk], device=self.run.choice.device)
            lr_now = set_lr(self.optimizer, lr_factor(self.seen / total, warmup=self.warmup))
            step_started = time.perf_counter()
            stepped = self._step(x, y)
            if stepped is None:
                queue.extendleft(reversed(idx))
                continue
            out, loss = stepped
            batch += 1
            self.seen += len(idx)
            correct += int((out.argmax(1) == y).sum())
            loss_value = float(loss.detach())
            self.probe.record(time.perf_counter() - step_started, len(idx))
            loss_sum += loss_value * len(idx)
            self.meter.update(loss_value, len(idx))
            yield BatchProgress(
                (epoch - 1) * n + n - len(queue), total, f"Epoch {epoch}/{self.epochs}",
                phase=TrainPhase.TRAINING, epoch=epoch, epochs=self.epochs, batch=batch,
                batches=max(batches, batch), loss=loss_value,
                smoothed_loss=self.meter.smoothed_loss,
                images_per_second=self.meter.images_per_second,
                eta_seconds=self.meter.eta(total - self.seen), lr=lr_now,
                device=self.run.choice.description,
            )  # fmt: skip
        return EpochStats(loss=loss_sum / n, accuracy=correct / n, lr=lr_now)

    def validate(self, epoch: int, stats: EpochStats) -> Generator[Event, None, Validation]:
        """Loss and accuracy on the validation images (the training loss ranks without any)."""
        val_set = self.val_set
        out = yield from model_logits(
            self.run, val_set, self.val_px, epoch=epoch, batch_size=self.batch_size * 2
        )
        labels = torch.tensor([s.label for s in val_set], dtype=torch.long)
        if not len(val_set):
            return Validation(loss=None, accuracy=None, score=stats.loss)
        loss = float(F.cross_entropy(out, labels))
        return Validation(loss, float((out.argmax(1) == labels).float().mean()), score=loss)


def fine_tune(
    run: _Run,
    train_set: Sequence[TrainingSample],
    val_set: Sequence[TrainingSample],
    *,
    pretrained: bool,
) -> Generator[Event, None, int]:
    """Train every layer; each better epoch goes to ``run.keep_best`` at once. Returns the
    batch size it ended with (smaller after an out-of-memory error)."""
    config, settings = run.config, run.settings
    preset = PRESETS.get(config.augment)
    if preset is None:
        raise DatasetError(f"unknown augmentation {config.augment!r}: use {', '.join(PRESETS)}")
    side = None if preset.is_identity else scale_size(run.data_config)
    train_set, train_px = yield from read_pixels(
        run, train_set, side=side, message="Reading training images"
    )
    val_set, val_px = yield from read_pixels(
        run, val_set, side=None, message="Reading validation images"
    )
    require_readable(run, train_set, len(train_set) + len(run.unreadable))
    tuning = _FineTuning(run, train_set, train_px, val_set, val_px, pretrained=pretrained)
    yield from fit(
        run.model,
        epochs=settings["epochs"],
        patience=settings["patience"],
        train_epoch=tuning.epoch,
        validate=tuning.validate,
        stage="train",
        device=run.choice.description,
        best=Best(run.best_epoch, run.val_loss, run.val_accuracy),
        on_best=lambda best, state: run.keep_best(
            best.epoch, best.score, best.accuracy, stage="train", state=state
        ),
        history=run.history,
    )
    settings["precision"] = tuning.probe.name
    return tuning.batch_size
