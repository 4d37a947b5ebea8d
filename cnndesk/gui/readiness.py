"""What the training pane knows and says without Qt: whether Train can start, and in which words.

This module imports no Qt (a test checks), so its rules can be read and tested on their own: the
background probe of the device and the backbones' local weights (:func:`probe_training_options`,
run on the worker), whether the chosen backbone's weights are missing, the readiness line above the
Train button, what Train will do, and the progress bar's words for a batch.
"""

from __future__ import annotations

from collections.abc import Generator, Mapping
from dataclasses import dataclass

from cnndesk.domain import BatchProgress, Progress, TrainMode, TrainPhase, TrainResult
from cnndesk.model_folder import SCRATCH_BACKBONE

DEFAULT_BACKBONE = "tf_efficientnet_lite0"
"""Mirrors ``cnndesk.ml.backbones.DEFAULT_BACKBONE`` (which imports torch, so not imported here)."""
FEW_IMAGES_PER_CLASS = 10
"""Below this many labeled images a class still trains, but the pane suggests labeling more."""

PHASE_WORDS = {
    TrainPhase.PREPARING: "Preparing images",
    TrainPhase.EMBEDDING: "Computing features",
    TrainPhase.TRAINING: "Training",
    TrainPhase.EVALUATING: "Evaluating",
}

__all__ = [
    "DEFAULT_BACKBONE",
    "FEW_IMAGES_PER_CLASS",
    "PHASE_WORDS",
    "SCRATCH_BACKBONE",
    "BackboneOption",
    "Readiness",
    "TrainingOptions",
    "batch_text",
    "format_duration",
    "format_percent",
    "plan_words",
    "probe_training_options",
    "readiness",
    "result_text",
    "weights_banner_text",
    "weights_missing",
    "weights_missing_text",
]


@dataclass(frozen=True)
class BackboneOption:
    name: str
    description: str
    weights: str | None
    """A weights file on this computer, or ``None`` (``simple-cnn`` needs none)."""


@dataclass(frozen=True)
class TrainingOptions:
    """What the background probe found: the device and which backbones can start pretrained."""

    device: str
    backbones: tuple[BackboneOption, ...]
    default_backbone: str


@dataclass(frozen=True)
class Readiness:
    """Whether Train can start, and the summary line that says why (not)."""

    ready: bool
    text: str


def probe_training_options() -> Generator[Progress, None, TrainingOptions]:
    """Find the training device and the curated backbones' local weights (imports torch).

    A generator like every job, so it runs on the worker; it has no progress worth showing.
    """
    if False:  # pragma: no cover - makes this a generator without a progress event
        yield Progress(0, 0)
    from cnndesk.ml import backbones, weights
    from cnndesk.ml.device import pick_device

    device = pick_device().description
    options = []
    for name, description in backbones.CURATED_BACKBONES:
        found = None if name == backbones.SIMPLE_CNN else weights.cached_weights(name)
        options.append(BackboneOption(name, description, str(found) if found else None))
    return TrainingOptions(device, tuple(options), backbones.DEFAULT_BACKBONE)


def weights_missing(options: TrainingOptions | None, backbone: str, weights_file: str) -> bool:
    """The chosen backbone starts pretrained, its weights are not on this computer (the
    background probe says so) and no weights file is chosen: Train cannot start."""
    known = {o.name: o for o in options.backbones} if options else {}
    option = known.get(backbone)
    return (
        option is not None
        and option.name != SCRATCH_BACKBONE
        and option.weights is None
        and not weights_file.strip()
    )


def weights_missing_text(backbone: str) -> str:
    """What to do when a backbone's pretrained weights are not here, in the pane's words."""
    return (
        f"The pretrained weights for {backbone} are not on this computer. Press “Choose weights"
        " file…” to use a weights file you have, or “Train from scratch” to train a small"
        " network without them."
    )


def weights_banner_text(backbone: str) -> str:
    """The banner above the advanced settings when the backbone's weights are missing."""
    return (
        f"The pretrained weights for {backbone} are not on this computer. Choose a"
        " weights file (.safetensors or a PyTorch state dict), or train a small network"
        " from scratch (needs more images and learns more slowly)."
    )


def plan_words(backbone: str, mode: str | None) -> str:
    """What pressing Train will do, in words (the summary line)."""
    if backbone == SCRATCH_BACKBONE:
        return "trains a small CNN from scratch (every layer, takes longer)"
    if mode == TrainMode.QUICK.value:
        return f"makes a quick model: {backbone}'s last layer learns your classes (seconds)"
    return f"fine-tunes every layer of {backbone} (minutes)"


def readiness(
    counts: Mapping[str, int], *, missing_weights: bool, backbone: str, plan: str
) -> Readiness:
    """Train is ready with two classes that have labels and weights to start from.

    ``counts`` are the labeled images per class (classes without any left out).
    """
    ready = len(counts) >= 2 and not missing_weights
    if not counts:
        return Readiness(
            ready,
            "Nothing to train on yet. Import images, add at least two classes, and label"
            " a few images of each with the class hotkeys (1, 2, …).",
        )
    if len(counts) == 1:
        ((name, n),) = counts.items()
        return Readiness(
            ready,
            f"Only one class has labels ({name}: {n}). A classifier needs at"
            " least two: label some images of another class, then train.",
        )
    if missing_weights:
        return Readiness(
            ready,
            f"Not ready: the pretrained weights for {backbone} are not on this"
            " computer. Choose a weights file, or train from scratch (the buttons below).",
        )
    total = sum(counts.values())
    text = f"Ready: {total} labeled images in {len(counts)} classes. Train {plan}."
    few = [f"{name} ({n})" for name, n in counts.items() if n < FEW_IMAGES_PER_CLASS]
    if few:
        text += f" Few images in {', '.join(few)}: {FEW_IMAGES_PER_CLASS}+ per class train better."
    return Readiness(ready, text)


def format_duration(seconds: float | None) -> str:
    """``42 s``, ``3:07`` or ``1:02:03``; empty when unknown."""
    if seconds is None:
        return ""
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}:{seconds:02d}"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{seconds:02d}"


def format_percent(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:.1f}%"


def batch_text(event: BatchProgress) -> str:
    """The progress bar's words for a batch: phase, epoch, speed and time left."""
    parts = [PHASE_WORDS.get(event.phase, str(event.phase.value).capitalize())]
    if event.phase is TrainPhase.TRAINING and event.epochs:
        parts.append(f"epoch {event.epoch}/{event.epochs}")
    if event.images_per_second:
        parts.append(f"{event.images_per_second:.0f} images/s")
    if event.eta_seconds is not None:
        parts.append(f"{format_duration(event.eta_seconds)} left")
    return " · ".join(parts)


def result_text(result: TrainResult) -> str:
    """What a finished (or stopped) run measured, on which images, and its best epoch."""
    evaluation = result.evaluation
    if evaluation is not None:
        measured = evaluation.headline
        if evaluation.warning:
            measured += f" ⚠ {evaluation.warning}"
    else:
        measured = f"{format_percent(result.val_accuracy)} on the validation images"
    if result.cancelled:
        return f"Stopped; kept the best epoch ({result.best_epoch}): {measured}."
    return (
        f"Trained in {format_duration(result.seconds)}: {measured} ({result.best_epoch_words()})."
    )
