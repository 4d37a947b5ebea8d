"""What training exchanges: the config, its progress events, and the evaluation and result of a
run."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

from cnndesk import heldout
from cnndesk.defaults import DEFAULT_BACKBONE
from cnndesk.domain.library import Progress, RefusedFile

# -------------------------------------------------------------------------------------- training

AUGMENT_PRESETS = ("none", "light", "standard", "strong")
"""Augmentation presets, mildest first; what each does is data in ``cnndesk.ml.augment``."""


class TrainMode(str, enum.Enum):
    """``quick``: frozen backbone, cached features, only the head trains (seconds).
    ``full``: every layer trains (minutes); a pretrained backbone gets a head warm-up first."""

    QUICK = "quick"
    FULL = "full"


class TrainPhase(str, enum.Enum):
    """Which part of a training run a :class:`BatchProgress` event reports."""

    PREPARING = "preparing"
    """Loading weights, decoding and caching images."""
    EMBEDDING = "embedding"
    """Quick mode: computing backbone features of images not yet in the feature cache."""
    TRAINING = "training"
    """Epochs: batches of the head (quick mode) or of every layer (full mode)."""
    EVALUATING = "evaluating"
    """Full mode: the model scoring images (validation after each epoch, the held-out images at
    the end, then every library image for its predictions)."""


@dataclass(frozen=True, slots=True)
class TrainConfig:
    """Everything a training run needs to know; ``None`` means "the sensible default"."""

    backbone: str = DEFAULT_BACKBONE
    mode: TrainMode = TrainMode.QUICK
    pretrained: bool = True
    """Start from ImageNet weights (``simple-cnn`` ignores this: it has none)."""
    weights: str | None = None
    """A local weights file (safetensors, or a PyTorch state dict) for the backbone."""
    epochs: int | None = None
    """``None``: :data:`~cnndesk.defaults.EPOCHS_DEFAULTS_TEXT` (quick: 60 head epochs; full: 6
    pretrained or 30 from scratch)."""
    image_size: int | None = None
    """Input side in pixels; ``None`` uses the backbone's own (224 for most)."""
    batch_size: int | None = None
    lr: float | None = None
    """Peak learning rate of the head (quick) or of the whole network (full, from scratch)."""
    augment: str = "light"
    label_smoothing: float = 0.1
    weight_decay: float = 0.01
    patience: int | None = None
    """Early stopping: epochs without a better epoch (higher validation accuracy, ties broken by
    lower validation loss) before stopping."""
    seed: int = 0
    device: str | None = None
    """``cuda``, ``mps`` or ``cpu``; ``None`` picks the best available."""
    threads: int | None = None
    """CPU threads for torch; ``None``: every core on a 1–2 core machine, else all cores but one,
    so the window stays responsive (:func:`cnndesk.ml.device.cpu_threads`)."""
    precision: str | None = None
    """``fp32``, ``bf16`` or ``fp16`` for full-mode training steps; ``None``: AMP on CUDA, and
    on a CPU with bf16 instructions whichever of fp32/bf16 the first steps measure faster."""
    out: str | None = None
    """Model folder to write; ``None`` makes a new one under ``paths.models_dir()``."""

    def as_json(self) -> dict[str, Any]:
        return {
            name: (value.value if isinstance(value, enum.Enum) else value)
            for name, value in ((f, getattr(self, f)) for f in self.__dataclass_fields__)
        }


@dataclass(frozen=True, slots=True)
class TrainStarted(Progress):
    """The first event of a run: what will train, on what."""

    device: str = ""
    """Human-readable, e.g. ``"cpu (1 thread)"`` or ``"cuda: NVIDIA H100 (bf16)"``."""
    backbone: str = ""
    mode: str = ""
    classes: tuple[str, ...] = ()
    train_images: int = 0
    val_images: int = 0
    test_images: int = 0
    weights: str = ""
    """Where the pretrained weights came from (a file, the cache, "none: from scratch")."""


@dataclass(frozen=True, slots=True)
class BatchProgress(Progress):
    """One batch done. ``done``/``total`` count images of the current phase (all its epochs)."""

    phase: TrainPhase = TrainPhase.TRAINING
    epoch: int = 0
    """1-based; 0 outside the training phase."""
    epochs: int = 0
    batch: int = 0
    """1-based index of the batch within the epoch (or the phase)."""
    batches: int = 0
    loss: float | None = None
    smoothed_loss: float | None = None
    images_per_second: float = 0.0
    eta_seconds: float | None = None
    """Time left in this phase."""
    lr: float | None = None
    device: str = ""


@dataclass(frozen=True, slots=True)
class EpochEnd:
    """One epoch done, with the numbers the curves plot."""

    epoch: int
    epochs: int
    train_loss: float
    train_accuracy: float
    val_loss: float | None
    val_accuracy: float | None
    lr: float
    seconds: float
    best_epoch: int
    """The epoch whose weights are kept so far: the highest validation accuracy, ties broken by
    the lowest validation loss (:func:`cnndesk.ml.schedule.better`)."""
    improved: bool
    stage: str = "train"
    """``head`` (full mode's warm-up with a frozen backbone) or ``train``."""
    device: str = ""

    def as_json(self) -> dict[str, Any]:
        """The epoch as ``model.json``'s ``metrics.history`` stores it (what the curves need;
        ``epochs`` and ``best_epoch`` are the run's, stored once beside the history)."""
        return {
            "stage": self.stage,
            "epoch": self.epoch,
            "train_loss": self.train_loss,
            "train_accuracy": self.train_accuracy,
            "val_loss": self.val_loss,
            "val_accuracy": self.val_accuracy,
            "lr": self.lr,
            "seconds": round(self.seconds, 3),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any], *, epochs: int, best_epoch: int) -> EpochEnd:
        """An epoch read back from :meth:`as_json`, in a run of ``epochs`` whose kept epoch is
        ``best_epoch``. Raises ``KeyError``/``TypeError``/``ValueError`` on an unreadable entry."""

        def optional(name: str) -> float | None:
            value = data.get(name)
            return None if value is None else float(value)

        return cls(
            epoch=int(data["epoch"]),
            epochs=epochs,
            train_loss=float(data["train_loss"]),
            train_accuracy=float(data["train_accuracy"]),
            val_loss=optional("val_loss"),
            val_accuracy=optional("val_accuracy"),
            lr=float(data.get("lr") or 0.0),
            seconds=float(data.get("seconds") or 0.0),
            best_epoch=best_epoch,
            improved=False,
            stage=str(data.get("stage", "train")),
        )


@dataclass(frozen=True, slots=True)
class ClassMetrics:
    name: str
    precision: float
    recall: float
    f1: float
    support: int


@dataclass(frozen=True, slots=True)
class SamplePrediction:
    """What the model said about one evaluated image."""

    path: str
    key: str
    image_id: int | None
    label: int
    predicted: int
    probabilities: tuple[float, ...]
    loss: float

    @property
    def correct(self) -> bool:
        return self.label == self.predicted


@dataclass(frozen=True, slots=True)
class ReliabilityBin:
    """One bar of a reliability diagram: predictions whose confidence fell in ``[lo, hi)``."""

    lo: float
    hi: float
    count: int
    confidence: float
    """Their mean top probability (0 when the bin is empty)."""
    accuracy: float
    """How many of them were right (0 when the bin is empty)."""


@dataclass(frozen=True, slots=True)
class Calibration:
    """The temperature that makes a model's confidence honest, and how honest it was before.

    Probabilities are ``softmax(logits / temperature)`` everywhere cnndesk shows or uses them.
    ECE (expected calibration error) is the average gap between confidence and accuracy over
    equal-width confidence bins, weighted by how many predictions fall in each.
    """

    temperature: float
    on: str
    """The held-out predictions it was fitted on (``cross-validation``, ``test+val``, ...)."""
    images: int
    ece_before: float
    ece_after: float
    bins_before: tuple[ReliabilityBin, ...] = ()
    bins_after: tuple[ReliabilityBin, ...] = ()

    def as_json(self) -> dict[str, Any]:
        def bins(items: tuple[ReliabilityBin, ...]) -> list[dict[str, Any]]:
            return [
                {"lo": b.lo, "hi": b.hi, "count": b.count, "confidence": b.confidence,
                 "accuracy": b.accuracy}
                for b in items
            ]  # fmt: skip

        return {
            "temperature": self.temperature,
            "on": self.on,
            "images": self.images,
            "ece_before": self.ece_before,
            "ece_after": self.ece_after,
            "bins_before": bins(self.bins_before),
            "bins_after": bins(self.bins_after),
        }


@dataclass(frozen=True, slots=True)
class Evaluation:
    """The model measured on held-out images, as :mod:`cnndesk.heldout`'s rule chose them.

    ``split`` says which: ``test``, ``test+val``, ``val``, ``cross-validation`` (quick mode's
    out-of-fold predictions over every labeled image) or ``train`` (nothing was held out).
    Probabilities in ``predictions`` are calibrated (divided by ``calibration.temperature``).
    """

    split: str
    classes: tuple[str, ...]
    accuracy: float
    loss: float
    per_class: tuple[ClassMetrics, ...]
    confusion: tuple[tuple[int, ...], ...]
    """``confusion[true][predicted]`` counts."""
    predictions: tuple[SamplePrediction, ...] = field(default=(), repr=False)
    calibration: Calibration | None = None
    cv_accuracy: float | None = None
    """Quick mode: the out-of-fold accuracy of 5-fold cross-validation over ``cv_images``."""
    cv_images: int = 0

    @property
    def images(self) -> int:
        """How many images the accuracy rests on."""
        return sum(map(sum, self.confusion))

    @property
    def correct(self) -> int:
        return sum(row[i] for i, row in enumerate(self.confusion))

    @property
    def ci95(self) -> tuple[float, float]:
        """The Wilson 95 % interval of :attr:`accuracy`."""
        return heldout.wilson(self.correct, self.images)

    @property
    def warning(self) -> str | None:
        """A small-sample warning when the accuracy rests on few images."""
        return heldout.small_sample_warning(self.images)

    @property
    def headline(self) -> str:
        """``96.2 % ± 2.5 (95 % CI 93.1–98.0 %) on 157 validation+test images``."""
        return heldout.headline(self.correct, self.images, self.split)

    def recall_ci95(self, index: int) -> tuple[float, float]:
        """The Wilson 95 % interval of class ``index``'s recall."""
        row = self.confusion[index] if index < len(self.confusion) else ()
        return heldout.wilson(row[index] if row else 0, sum(row))

    def summary(self) -> dict[str, Any]:
        """What ``cnndesk train --json`` and ``cnndesk evaluate --json`` say in one object."""
        lo, hi = self.ci95
        data: dict[str, Any] = {
            "on": self.split,
            "images": self.images,
            "correct": self.correct,
            "accuracy": self.accuracy,
            "ci95": [lo, hi],
            "ece": self.calibration.ece_after if self.calibration else None,
            "ece_uncalibrated": self.calibration.ece_before if self.calibration else None,
            "temperature": self.calibration.temperature if self.calibration else None,
            "warning": self.warning,
        }
        if self.cv_accuracy is not None:
            data["cv_accuracy"] = self.cv_accuracy
            data["cv_images"] = self.cv_images
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Evaluation:
        """The inverse of :meth:`as_json` (``evaluation.json``; older files lack the new keys)."""
        classes = tuple(str(c) for c in data["classes"])
        per_class = tuple(
            ClassMetrics(str(c["name"]), float(c["precision"]), float(c["recall"]),
                         float(c["f1"]), int(c["support"]))
            for c in data.get("per_class", [])
        )  # fmt: skip
        rows = data.get("predictions") or data.get("misclassified") or []
        predictions = tuple(
            SamplePrediction(
                path=str(p["path"]),
                key=str(p.get("key", "")),
                image_id=p.get("image_id"),
                label=int(p["label"]),
                predicted=int(p["predicted"]),
                probabilities=tuple(float(v) for v in p.get("probabilities", ())),
                loss=float(p.get("loss", 0.0)),
            )
            for p in rows
        )
        calibration = None
        c = data.get("calibration")
        if isinstance(c, dict):
            calibration = Calibration(
                temperature=float(c.get("temperature", 1.0)),
                on=str(c.get("on", "")),
                images=int(c.get("images", 0)),
                ece_before=float(c.get("ece_before", 0.0)),
                ece_after=float(c.get("ece_after", 0.0)),
                bins_before=tuple(_bin(b) for b in c.get("bins_before", ())),
                bins_after=tuple(_bin(b) for b in c.get("bins_after", ())),
            )
        cv = data.get("cv_accuracy")
        return cls(
            split=str(data.get("split", "")),
            classes=classes,
            accuracy=float(data.get("accuracy", 0.0)),
            loss=float(data.get("loss", 0.0)),
            per_class=per_class,
            confusion=tuple(tuple(int(v) for v in row) for row in data.get("confusion", [])),
            predictions=predictions,
            calibration=calibration,
            cv_accuracy=float(cv) if isinstance(cv, (int, float)) else None,
            cv_images=int(data.get("cv_images") or 0),
        )

    @property
    def misclassified(self) -> tuple[SamplePrediction, ...]:
        """Wrong predictions, highest loss first."""
        wrong = [p for p in self.predictions if not p.correct]
        return tuple(sorted(wrong, key=lambda p: p.loss, reverse=True))

    def as_json(self, *, with_predictions: bool = False) -> dict[str, Any]:
        data: dict[str, Any] = {
            "split": self.split,
            "classes": list(self.classes),
            "accuracy": self.accuracy,
            "loss": self.loss,
            "per_class": [
                {"name": c.name, "precision": c.precision, "recall": c.recall, "f1": c.f1,
                 "support": c.support}
                for c in self.per_class
            ],
            "confusion": [list(row) for row in self.confusion],
            "misclassified": [_prediction_json(p) for p in self.misclassified],
            "summary": self.summary(),
            "recall_ci95": [list(self.recall_ci95(i)) for i in range(len(self.classes))],
            "calibration": self.calibration.as_json() if self.calibration else None,
            "cv_accuracy": self.cv_accuracy,
            "cv_images": self.cv_images,
        }  # fmt: skip
        if with_predictions:
            data["predictions"] = [_prediction_json(p) for p in self.predictions]
        return data


def _bin(b: dict[str, Any]) -> ReliabilityBin:
    return ReliabilityBin(
        float(b["lo"]), float(b["hi"]), int(b["count"]), float(b["confidence"]),
        float(b["accuracy"]),
    )  # fmt: skip


def _prediction_json(p: SamplePrediction) -> dict[str, Any]:
    return {
        "path": p.path,
        "key": p.key,
        "image_id": p.image_id,
        "label": p.label,
        "predicted": p.predicted,
        "probabilities": list(p.probabilities),
        "loss": p.loss,
    }


@dataclass(frozen=True, slots=True)
class TrainResult:
    """What a training run returns (also when it was cancelled after a first epoch)."""

    model_path: str | None
    backbone: str
    mode: str
    classes: tuple[str, ...]
    device: str
    epochs: int
    """Epochs actually run."""
    best_epoch: int
    val_accuracy: float | None
    val_loss: float | None
    test_accuracy: float | None
    seconds: float
    cancelled: bool = False
    embedded: int = 0
    """Quick mode: images whose features had to be computed in this run."""
    reused: int = 0
    """Quick mode: images whose features came from the cache."""
    history: tuple[EpochEnd, ...] = ()
    evaluation: Evaluation | None = field(default=None, repr=False)
    run_id: int | None = None
    """The library's record of this run (set by ``jobs.train_job``)."""
    unreadable: tuple[RefusedFile, ...] = ()
    """Labeled images that could not be decoded; they were left out (and marked in the library)."""
    library_predictions: tuple[SamplePrediction, ...] = field(default=(), repr=False)
    """The model's calibrated view of every image it was given (``TrainingSet`` train, val,
    test and unlabeled; ``label`` -1 for unlabeled ones). Labeled images carry their
    out-of-fold prediction in quick mode, so a disagreement is a real one."""
    best_stage: str = "train"
    """Which stage's epoch the model is: ``"train"``, or ``"head"`` when a full run's fine-tuning
    never beat its warm-up head (the model is then the pretrained backbone with that head)."""

    @property
    def kept_warmup_head(self) -> bool:
        """A full run whose every-layer epochs (at least one ran) all lost to the head warm-up
        before them; a run stopped during its warm-up is not one."""
        return (
            self.mode == TrainMode.FULL.value
            and self.best_stage == "head"
            and any(e.stage == "train" for e in self.history)
        )

    def best_epoch_words(self) -> str:
        """Which epoch the model is, in words: ``best epoch 3 of 18``, or, when a full run kept
        its warm-up head, that fine-tuning did not beat it and by how much."""
        if not self.kept_warmup_head:
            return f"best epoch {self.best_epoch} of {self.epochs}"
        tuned = [e for e in self.history if e.stage == "train" and e.val_accuracy is not None]
        by = ""
        if tuned and self.val_accuracy is not None:
            best = max(e.val_accuracy for e in tuned)
            if best >= self.val_accuracy:  # a tie on accuracy, lost on the validation loss
                by = f": its best {best:.1%} only tied on the validation images, at a higher loss"
            else:
                by = f": its best {best:.1%} vs {self.val_accuracy:.1%} on the validation images"
        epochs = f"{self.epochs} epoch{'s' if self.epochs != 1 else ''}"
        return (
            f"fine-tuning every layer did not beat the head warm-up in {epochs}{by}; the model is"
            f" the pretrained backbone with the warm-up's head, from its epoch {self.best_epoch}"
        )

    def as_json(self) -> dict[str, Any]:
        evaluation = self.evaluation.summary() if self.evaluation is not None else None
        return {
            "run_id": self.run_id,
            "model": self.model_path,
            "backbone": self.backbone,
            "mode": self.mode,
            "classes": list(self.classes),
            "device": self.device,
            "epochs": self.epochs,
            "best_epoch": self.best_epoch,
            "best_stage": self.best_stage,
            "val_accuracy": self.val_accuracy,
            "val_loss": self.val_loss,
            "test_accuracy": self.test_accuracy,
            "seconds": round(self.seconds, 3),
            "cancelled": self.cancelled,
            "embedded": self.embedded,
            "reused": self.reused,
            "evaluation": evaluation,
            "cv_accuracy": evaluation.get("cv_accuracy") if evaluation else None,
            "predicted": len(self.library_predictions),
        }
