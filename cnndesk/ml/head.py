"""Quick mode's two halves: embed images with the frozen backbone (through the feature cache),
and fit a linear head on the cached features, then fold it into the model's own classifier.

The head sees standardised features; the standardisation is folded into the weights copied into
``model.get_classifier()``, so the saved model is a plain timm model that gives the same logits.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Generator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from cnndesk.defaults import QUICK_EPOCHS
from cnndesk.domain import (
    BatchProgress,
    EpochEnd,
    ModelError,
    TrainConfig,
    TrainingSample,
    TrainPhase,
)
from cnndesk.ml.data import FeatureStore, PixelCache
from cnndesk.ml.device import DeviceChoice
from cnndesk.ml.loop import EpochStats, Validation, fit
from cnndesk.ml.preprocess import normalize
from cnndesk.ml.schedule import Meter, class_weights, lr_factor, set_lr

log = logging.getLogger(__name__)

_CONFIG = TrainConfig()


@dataclass(frozen=True, slots=True)
class HeadSettings:
    """How :func:`fit_head` fits the head; the defaults are quick mode's (and the config's
    ``weight_decay``, ``label_smoothing`` and ``seed``)."""

    epochs: int = QUICK_EPOCHS
    batch_size: int = 64
    lr: float = 3e-3
    """Peak learning rate (warm-up over the first 5 % of steps, then cosine)."""
    patience: int = 15
    """Early stopping: epochs without a better one before stopping."""
    weight_decay: float = _CONFIG.weight_decay
    label_smoothing: float = _CONFIG.label_smoothing
    seed: int = _CONFIG.seed
    """Seeds the head's initial state and the order of its batches: the same seed, the same head."""


QUICK_HEAD = HeadSettings()
"""Quick mode's head settings (the defaults of :class:`HeadSettings`); a run's own epochs, batch
size, learning rate and patience replace them where its config gives them."""


def autocast(choice: DeviceChoice):
    if choice.amp_dtype is None:
        return nullcontext()
    return torch.autocast(choice.device.type, dtype=choice.amp_dtype)


def pooled_features(model: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    """What the model's classifier sees: ``forward_head(forward_features(x), pre_logits=True)``."""
    return model.forward_head(model.forward_features(x), pre_logits=True)


def embed(
    model: torch.nn.Module,
    samples: Sequence[TrainingSample],
    *,
    store: FeatureStore,
    pixels: PixelCache,
    data_config: dict,
    choice: DeviceChoice,
    batch_size: int = 32,
    stats: dict,
) -> Generator[BatchProgress, None, tuple[dict[str, np.ndarray], list[tuple[str, str]]]]:
    """Features for ``samples`` by key: from ``store``, computing (and storing) only the missing.

    ``stats`` receives ``embedded`` and ``reused`` counts. Unreadable images are returned
    with their reason instead of stopping the run.
    """
    unique = list({s.key: s for s in samples}.values())
    features = store.load(s.key for s in unique)
    missing = [s for s in unique if s.key not in features]
    stats["reused"] = len(unique) - len(missing)
    stats["embedded"] = 0
    failed: list[tuple[str, str]] = []
    if not missing:
        return features, failed
    model.eval()
    meter = Meter()
    workers = max(1, (os.cpu_count() or 2) - torch.get_num_threads())
    pending_keys: list[str] = []
    pending: list[np.ndarray] = []
    batches = (len(missing) + batch_size - 1) // batch_size
    with ThreadPoolExecutor(workers) as pool:
        # Decoding runs a few batches ahead on spare cores while the backbone works.
        futures: dict[int, Future] = {}
        submitted = 0
        try:
            for b in range(batches):
                while submitted < min(len(missing), (b + 3) * batch_size):
                    futures[submitted] = pool.submit(pixels.pixels, missing[submitted])
                    submitted += 1
                chunk = range(b * batch_size, min(len(missing), (b + 1) * batch_size))
                keys, arrays = [], []
                for i in chunk:
                    try:
                        arrays.append(futures.pop(i).result())
                        keys.append(missing[i].key)
                    except Exception as exc:  # an unreadable image must not stop the run
                        failed.append((missing[i].path, str(exc)))
                if arrays:
                    x = normalize(torch.from_numpy(np.stack(arrays)), data_config)
                    x = x.to(choice.device).contiguous(memory_format=torch.channels_last)
                    with torch.inference_mode(), autocast(choice):
                        out = pooled_features(model, x).float().cpu().numpy()
                    for key, row in zip(keys, out):
                        features[key] = row
                    pending_keys += keys
                    pending.append(out)
                    stats["embedded"] += len(keys)
                    meter.update(0.0, len(keys))
                if len(pending_keys) >= 256 or b == batches - 1:
                    store.add(pending_keys, np.concatenate(pending) if pending else np.empty(0))
                    pending_keys, pending = [], []
                done = chunk.stop
                yield BatchProgress(
                    done,
                    len(missing),
                    f"Computing features of {len(missing)} new images",
                    phase=TrainPhase.EMBEDDING,
                    batch=b + 1,
                    batches=batches,
                    images_per_second=meter.images_per_second,
                    eta_seconds=meter.eta(len(missing) - done),
                    device=choice.description,
                )
        finally:
            for future in futures.values():
                future.cancel()
            # Keep what was computed before a cancel: the next run will not redo it.
            if pending_keys:
                store.add(pending_keys, np.concatenate(pending))
    return features, failed


@dataclass
class HeadFit:
    weight: torch.Tensor
    bias: torch.Tensor
    best_epoch: int
    epochs: int
    val_loss: float | None
    val_accuracy: float | None
    history: list[EpochEnd]


def _tensor(features: dict[str, np.ndarray], samples: Sequence[TrainingSample]) -> torch.Tensor:
    if not samples:
        return torch.empty(0, 0)
    return torch.from_numpy(np.stack([features[s.key] for s in samples])).float()


def fit_head(
    features: dict[str, np.ndarray],
    train: Sequence[TrainingSample],
    val: Sequence[TrainingSample],
    *,
    n_classes: int,
    settings: HeadSettings,
    device_description: str,
    stage: str = "train",
) -> Generator[BatchProgress | EpochEnd, None, HeadFit]:
    """Train a linear head on cached features with AdamW, warm-up + cosine, early stopping.

    Epochs run through :func:`cnndesk.ml.loop.fit`; the best one (highest validation accuracy,
    ties broken by the lowest validation loss) is kept and folded into the returned weights.
    """
    torch.manual_seed(settings.seed)
    x_train, x_val = _tensor(features, train), _tensor(features, val)
    y_train = torch.tensor([s.label for s in train], dtype=torch.long)
    mean = x_train.mean(0)
    std = x_train.std(0).clamp(min=1e-6) if len(train) > 1 else torch.ones_like(mean)
    head = torch.nn.Linear(x_train.shape[1], n_classes)
    torch.nn.init.zeros_(head.weight)
    torch.nn.init.zeros_(head.bias)
    xs_train = (x_train - mean) / std
    xs_val = (x_val - mean) / std if len(val) else x_val
    train_epoch = _head_epochs(
        head, xs_train, y_train, n_classes=n_classes, settings=settings, device=device_description
    )
    y_val = torch.tensor([s.label for s in val], dtype=torch.long)
    result = yield from fit(
        head,
        epochs=settings.epochs,
        patience=settings.patience,
        train_epoch=train_epoch,
        validate=_head_validation(head, xs_val, y_val),
        stage=stage,
        device=device_description,
    )
    assert result.best_state is not None
    head.load_state_dict(result.best_state)
    # Fold the standardisation into the weights: W' = W / std, b' = b - W' @ mean.
    weight = head.weight.detach() / std
    bias = head.bias.detach() - weight @ mean
    best = result.best
    best_entry = result.history[best.epoch - 1]
    return HeadFit(
        weight, bias, best.epoch, result.epochs, best_entry.val_loss, best.accuracy, result.history
    )


def _head_epochs(
    head: torch.nn.Module,
    xs_train: torch.Tensor,
    y_train: torch.Tensor,
    *,
    n_classes: int,
    settings: HeadSettings,
    device: str,
) -> Callable[[int], Generator[BatchProgress, None, EpochStats]]:
    """The head's train step for :func:`cnndesk.ml.loop.fit`: one shuffled pass per call, AdamW
    with warm-up + cosine over all epochs, class weights, a progress event per batch."""
    lr, epochs, label_smoothing = settings.lr, settings.epochs, settings.label_smoothing
    optimizer = torch.optim.AdamW(head.parameters(), lr=lr, weight_decay=settings.weight_decay)
    for group in optimizer.param_groups:
        group["peak_lr"] = lr
    weights = class_weights(y_train.tolist(), n_classes)
    generator = torch.Generator().manual_seed(settings.seed)
    n = len(y_train)
    batch_size = max(1, min(settings.batch_size, n))
    batches = (n + batch_size - 1) // batch_size
    total = epochs * n
    meter = Meter()

    def train_epoch(epoch: int) -> Generator[BatchProgress, None, EpochStats]:
        order = torch.randperm(n, generator=generator)
        correct, loss_sum = 0, 0.0
        lr_now = lr
        for b in range(batches):
            idx = order[b * batch_size : (b + 1) * batch_size]
            seen = (epoch - 1) * n + b * batch_size
            lr_now = set_lr(optimizer, lr_factor(seen / total, warmup=0.05))
            logits = head(xs_train[idx])
            loss = F.cross_entropy(
                logits, y_train[idx], weight=weights, label_smoothing=label_smoothing
            )
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            correct += int((logits.argmax(1) == y_train[idx]).sum())
            loss_value = float(loss.detach())
            loss_sum += loss_value * len(idx)
            meter.update(loss_value, len(idx))
            done = seen + len(idx)
            yield BatchProgress(
                done, total, "Training the head", phase=TrainPhase.TRAINING, epoch=epoch,
                epochs=epochs, batch=b + 1, batches=batches, loss=loss_value,
                smoothed_loss=meter.smoothed_loss, images_per_second=meter.images_per_second,
                eta_seconds=meter.eta(total - done), lr=lr_now, device=device,
            )  # fmt: skip
        return EpochStats(loss=loss_sum / n, accuracy=correct / n, lr=lr_now)

    return train_epoch


def _head_validation(
    head: torch.nn.Module, xs_val: torch.Tensor, y_val: torch.Tensor
) -> Callable[[int, EpochStats], Generator[BatchProgress, None, Validation]]:
    """The head's validation for :func:`cnndesk.ml.loop.fit` (the training loss ranks without
    validation images)."""

    def validate(epoch: int, stats: EpochStats) -> Generator[BatchProgress, None, Validation]:
        yield from ()  # no progress to report: the whole validation set is one matrix product
        if not len(y_val):
            return Validation(loss=None, accuracy=None, score=stats.loss)
        with torch.no_grad():
            logits = head(xs_val)
            loss = float(F.cross_entropy(logits, y_val))
            return Validation(loss, float((logits.argmax(1) == y_val).float().mean()), score=loss)

    return validate


def fit_head_quietly(
    features: dict[str, np.ndarray],
    train: Sequence[TrainingSample],
    val: Sequence[TrainingSample],
    *,
    n_classes: int,
    settings: HeadSettings,
) -> HeadFit:
    """:func:`fit_head` run to its end without its progress events (cross-validation folds)."""
    fitting = fit_head(
        features, train, val, n_classes=n_classes, settings=settings, device_description=""
    )
    while True:
        try:
            next(fitting)
        except StopIteration as stop:
            return stop.value


def install_head(model: torch.nn.Module, fit: HeadFit) -> None:
    """Copy a fitted head into ``model.get_classifier()`` (a Linear layer of the right shape)."""
    classifier = model.get_classifier()
    if not isinstance(classifier, torch.nn.Linear) or classifier.weight.shape != fit.weight.shape:
        raise ModelError(
            f"quick mode needs a backbone whose classifier is one linear layer of"
            f" {tuple(fit.weight.shape)}; {type(model).__name__} has {classifier}. Use --mode full."
        )
    with torch.no_grad():
        classifier.weight.copy_(fit.weight.to(classifier.weight))
        classifier.bias.copy_(fit.bias.to(classifier.bias))


def head_logits(fit: HeadFit, x: torch.Tensor) -> torch.Tensor:
    return x @ fit.weight.T + fit.bias
