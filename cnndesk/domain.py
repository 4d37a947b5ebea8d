"""The small frozen values every layer exchanges, and the error hierarchy.

Records, configs, progress events and results live here so that ``library``, ``ml``, ``jobs``,
``gui`` and ``cli`` can talk without importing each other. Nothing here imports more than the
standard library. ORM objects never leave ``cnndesk.library``; these dataclasses do.

Long operations are generators that ``yield`` progress events (subclasses of :class:`Progress`)
and ``return`` a result; see ``DESIGN.md`` §2.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

from cnndesk import heldout

# --------------------------------------------------------------------------------------- errors


class CnndeskError(Exception):
    """Base of every error cnndesk raises on purpose; its message is for the user."""


class LibraryError(CnndeskError):
    """The library file cannot be opened, read or written, or a request makes no sense for it."""


class ImageError(CnndeskError):
    """One image cannot be read (empty, not an image, truncated, too large, unreadable)."""


class ModelError(CnndeskError):
    """A model cannot be built, loaded, trained or exported."""


class WeightsUnavailableError(ModelError):
    """Pretrained weights are neither on disk nor downloadable."""


class DatasetError(CnndeskError):
    """The labeled data cannot train a model (too few classes or images, say)."""


class SortError(CnndeskError):
    """A batch sort or its undo cannot go ahead safely."""


class UntrustedJournalError(SortError):
    """Undo refused a sort journal this installation did not write (or that was changed since).

    ``targets`` are the first paths undo would have written to or deleted, ``count`` how many
    there are in all.
    """

    def __init__(self, message: str, *, journal: str, targets: tuple[str, ...], count: int):
        super().__init__(message)
        self.journal = journal
        self.targets = targets
        self.count = count


class OutputError(CnndeskError):
    """An output file cannot be written without replacing something cnndesk must not replace."""


class Cancelled(CnndeskError):
    """A job stopped because the user asked it to."""


# ------------------------------------------------------------------------------------- library


class Split(str, enum.Enum):
    """Which part of the data an image belongs to."""

    TRAIN = "train"
    VAL = "val"
    TEST = "test"


class ImageStatus(str, enum.Enum):
    OK = "ok"
    MISSING = "missing"
    UNREADABLE = "unreadable"


class LabelSource(str, enum.Enum):
    HUMAN = "human"
    MODEL = "model"


@dataclass(frozen=True, slots=True)
class ClassInfo:
    """One class of the library, with how many images carry it (human labels)."""

    id: int
    name: str
    hotkey: str | None
    colour: str
    order: int
    count: int = 0


@dataclass(frozen=True, slots=True)
class ImageRecord:
    """One image of the library, as the browser and the jobs see it."""

    id: int
    path: str
    sha256: str
    size: int
    width: int
    height: int
    format: str
    status: ImageStatus
    split: Split
    class_id: int | None = None
    """The human label, or ``None`` when the image is unlabeled."""
    suggested_class_id: int | None = None
    """The model's suggestion (label source ``model``), when there is one."""
    suggestion_confidence: float | None = None
    changed: bool = False
    """The file's bytes changed under the same path after it was labeled: check the label."""

    @property
    def name(self) -> str:
        return self.path.replace("\\", "/").rsplit("/", 1)[-1]


@dataclass(frozen=True, slots=True)
class LibraryStats:
    images: int
    unreadable: int
    missing: int
    unlabeled: int
    classes: dict[str, int]
    splits: dict[str, int]
    changed: int = 0
    """Readable images whose content changed under their path since labeled (check the label)."""
    predicted: int = 0
    """Readable images with a prediction of the current model (the newest run's)."""

    def as_json(self) -> dict[str, Any]:
        return {
            "images": self.images,
            "unreadable": self.unreadable,
            "missing": self.missing,
            "changed": self.changed,
            "predicted": self.predicted,
            "unlabeled": self.unlabeled,
            "classes": dict(self.classes),
            "splits": dict(self.splits),
        }


@dataclass(frozen=True, slots=True)
class TrainingSample:
    """What ``ml`` needs of a labeled image: where it is, a content key for caches, its class."""

    path: str
    key: str
    label: int
    image_id: int | None = None


# --------------------------------------------------------------------------------------- events


@dataclass(frozen=True, slots=True)
class Progress:
    """Base of all progress events: ``done`` of ``total`` units (``total`` 0 when unknown)."""

    done: int
    total: int
    message: str = ""

    @property
    def fraction(self) -> float | None:
        return self.done / self.total if self.total else None


@dataclass(frozen=True, slots=True)
class CheckResult:
    """What ``cnndesk check`` / File → Check Library found when it re-read every image's file."""

    checked: int
    ok: int
    """Images readable now (``changed`` and ``restored`` included)."""
    missing: int
    unreadable: int
    changed: int
    """Images whose content changed under the same path in this check (re-hashed, label kept)."""
    restored: int
    """Images that were missing or unreadable and are readable again."""
    problems: tuple[RefusedFile, ...] = ()
    """Each missing or unreadable file, with the reason."""

    def as_json(self) -> dict[str, Any]:
        return {
            "checked": self.checked,
            "ok": self.ok,
            "missing": self.missing,
            "unreadable": self.unreadable,
            "changed": self.changed,
            "restored": self.restored,
            "problems": [{"path": p.path, "reason": p.reason} for p in self.problems],
        }


@dataclass(frozen=True, slots=True)
class ImportProgress(Progress):
    added: int = 0
    duplicates: int = 0
    refused: int = 0
    current: str = ""


@dataclass(frozen=True, slots=True)
class RefusedFile:
    """A file an import skipped, and why, in words a user understands."""

    path: str
    reason: str


@dataclass(frozen=True, slots=True)
class ImportResult:
    added: int
    duplicates: int
    unchanged: int
    """Files skipped without reading them because path, size and mtime were already known."""
    refused: tuple[RefusedFile, ...]
    classes_created: tuple[str, ...] = ()
    labeled: int = 0
    seconds: float = 0.0
    added_ids: tuple[int, ...] = field(default=(), repr=False)
    changed: int = 0
    """Known paths whose bytes changed: re-hashed, label and split kept, marked "check the label"."""
    moved: int = 0
    """Known images found again by content at a new path (their old file is gone): label kept."""
    restored: int = 0
    """Images marked missing or unreadable whose file is readable again (same content)."""
    skipped: tuple[RefusedFile, ...] = ()
    """Files in the folders that are not in a format cnndesk reads (``.heic``, ``.svg``, …)."""

    @property
    def seen(self) -> int:
        return (
            self.added
            + self.duplicates
            + self.unchanged
            + self.changed
            + self.moved
            + self.restored
            + len(self.refused)
        )


@dataclass(frozen=True, slots=True)
class TrainingSet:
    """The labeled images a model trains on, split, with classes in output order.

    ``classes`` holds only classes that have at least one human-labeled readable image, in the
    library's class order; ``TrainingSample.label`` indexes into it.
    """

    classes: tuple[str, ...]
    train: tuple[TrainingSample, ...]
    val: tuple[TrainingSample, ...]
    test: tuple[TrainingSample, ...]
    unlabeled: tuple[TrainingSample, ...] = ()
    """Readable images without a human label (``label`` -1): a run predicts them, never
    trains on them, so the model's view of every image is there right after Train."""

    @property
    def total(self) -> int:
        return len(self.train) + len(self.val) + len(self.test)


@dataclass(frozen=True, slots=True)
class RunRecord:
    """One training run as the library remembers it."""

    id: int
    created: str
    status: str
    config: dict[str, Any]
    metrics: dict[str, Any]
    model_path: str | None
    finished: str | None = None


# ------------------------------------------------------------------------ prediction and sorting


@dataclass(frozen=True, slots=True)
class ClassScore:
    """One class and the probability a model gives it."""

    name: str
    p: float


@dataclass(frozen=True, slots=True)
class Prediction:
    """What a model says about one file: every class with its probability, most likely first.

    When the file cannot be read, ``top`` is empty and ``error`` says why.
    """

    file: str
    top: tuple[ClassScore, ...]
    error: str | None = None

    @property
    def label(self) -> str | None:
        return self.top[0].name if self.top else None

    @property
    def confidence(self) -> float:
        return self.top[0].p if self.top else 0.0

    def as_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "file": self.file,
            "top": [{"class": s.name, "p": s.p} for s in self.top],
        }
        if self.error is not None:
            data["error"] = self.error
        return data


@dataclass(frozen=True, slots=True)
class ClassifyProgress(Progress):
    """Batch classification: ``done`` of ``total`` files have a prediction (or an error)."""

    current: str = ""
    unreadable: int = 0


@dataclass(frozen=True, slots=True)
class ClassifyResult:
    """Predictions for a list of files, in the order the files were given."""

    classes: tuple[str, ...]
    predictions: tuple[Prediction, ...]
    seconds: float = 0.0
    device: str = "cpu"
    report_csv: str | None = None
    report_json: str | None = None
    request_id: int | None = None
    """Echoes the request this answers, so a view can drop stale results."""

    @property
    def unreadable(self) -> tuple[Prediction, ...]:
        return tuple(p for p in self.predictions if p.error is not None)


@dataclass(frozen=True, slots=True)
class SortProgress(Progress):
    """A batch sort (or its undo): ``done`` of ``total`` files handled."""

    current: str = ""


@dataclass(frozen=True, slots=True)
class SortedFile:
    """Where one file went, or why it stayed where it was.

    ``status`` is ``copied``, ``moved``, ``planned`` (dry run), ``skipped`` (unreadable: left in
    place) or ``failed`` (``error`` says why; the source is untouched).
    """

    source: str
    destination: str | None
    folder: str | None
    class_name: str | None
    status: str
    error: str | None = None


@dataclass(frozen=True, slots=True)
class SortResult:
    """The outcome of a batch sort. ``complete`` is false when it was cancelled part-way."""

    dest: str
    move: bool
    dry_run: bool
    files: tuple[SortedFile, ...]
    journal: str | None
    complete: bool = True
    threshold: float | None = None
    report_csv: str | None = None
    report_json: str | None = None
    seconds: float = 0.0

    @property
    def counts(self) -> dict[str, int]:
        """Files per destination folder (sorted or, in a dry run, planned)."""
        counts: dict[str, int] = {}
        for f in self.files:
            if f.folder is not None and f.status in ("copied", "moved", "planned"):
                counts[f.folder] = counts.get(f.folder, 0) + 1
        return counts


@dataclass(frozen=True, slots=True)
class UndoResult:
    """The outcome of undoing a sort: files put back, copies removed, and anything left alone."""

    dest: str
    journal: str
    restored: int
    removed: int
    kept: tuple[RefusedFile, ...] = ()
    """Files undo left where they are (in DEST), and why."""
    renamed: tuple[RefusedFile, ...] = ()
    """Files put back under another name because their old name was taken; ``reason`` says which."""
    seconds: float = 0.0


@dataclass(frozen=True, slots=True)
class SuggestProgress(Progress):
    """Suggesting labels for the library's unlabeled images."""


@dataclass(frozen=True, slots=True)
class SuggestResult:
    suggested: int
    unreadable: tuple[RefusedFile, ...] = ()
    classes: tuple[str, ...] = ()
    seconds: float = 0.0


@dataclass(frozen=True, slots=True)
class ExportProgress(Progress):
    """Exporting a model: ``message`` names the stage (export, check)."""


@dataclass(frozen=True, slots=True)
class ExportResult:
    """An exported model, and how far its probabilities are from PyTorch's on real images."""

    file: str
    format: str
    max_abs_diff: float
    images_checked: int
    sidecar: str | None = None
    seconds: float = 0.0

    def as_json(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "format": self.format,
            "max_abs_diff": self.max_abs_diff,
            "images_checked": self.images_checked,
            "sidecar": self.sidecar,
            "seconds": round(self.seconds, 3),
        }


class ImageView(str, enum.Enum):
    """Which images the browser shows."""

    ALL = "all"
    UNLABELED = "unlabeled"
    CLASS = "class"
    PREDICTED = "predicted"
    """Images the model suggests as ``class_id`` (human label or not)."""
    MISCLASSIFIED = "misclassified"
    """Images whose human label differs from the model's prediction."""
    LOW_CONFIDENCE = "low_confidence"
    """Images the model is unsure about (top probability below ``confidence_below``)."""
    CHANGED = "changed"
    """Images whose file changed under the same path since they were labeled (check the label)."""


@dataclass(frozen=True, slots=True)
class ImageQuery:
    """A filter over the library's images, as the browser and the CLI ask for them."""

    view: ImageView = ImageView.ALL
    class_id: int | None = None
    search: str = ""
    """Case-insensitive substring of the file name."""
    split: Split | None = None
    confidence_below: float = 0.6
    order: str = "path"
    """``path``, ``added``, or ``least_confident`` (model suggestions, most doubtful first)."""
    limit: int | None = None
    image_ids: tuple[int, ...] | None = None
    """Only these images (e.g. an evaluation's "true A, predicted B" cell); ``None``: no limit."""
    title: str = ""
    """What the browser shows as the filter's name when it cannot be named from the view."""


# -------------------------------------------------------------------------------------- training

AUGMENT_PRESETS = ("none", "light", "standard", "strong")
"""Augmentation presets, mildest first; what each does is data in ``cnndesk.ml.augment``."""


class TrainMode(str, enum.Enum):
    """``quick``: frozen backbone, cached features, only the head trains (seconds).
    ``full``: every layer trains (minutes); a pretrained backbone gets a head warm-up first."""

    QUICK = "quick"
    FULL = "full"


class TrainPhase(str, enum.Enum):
    PREPARING = "preparing"
    """Loading weights, decoding and caching images."""
    EMBEDDING = "embedding"
    """Quick mode: computing backbone features of images not yet in the feature cache."""
    TRAINING = "training"
    EVALUATING = "evaluating"


@dataclass(frozen=True, slots=True)
class TrainConfig:
    """Everything a training run needs to know; ``None`` means "the sensible default"."""

    backbone: str = "tf_efficientnet_lite0"
    mode: TrainMode = TrainMode.QUICK
    pretrained: bool = True
    """Start from ImageNet weights (``simple-cnn`` ignores this: it has none)."""
    weights: str | None = None
    """A local weights file (safetensors, or a PyTorch state dict) for the backbone."""
    epochs: int | None = None
    """Quick: 40 head epochs; full: 12 (pretrained) or 30 (from scratch)."""
    image_size: int | None = None
    """Input side in pixels; ``None`` uses the backbone's own (224 for most)."""
    batch_size: int | None = None
    lr: float | None = None
    """Peak learning rate of the head (quick) or of the whole network (full, from scratch)."""
    augment: str = "light"
    label_smoothing: float = 0.1
    weight_decay: float = 0.01
    patience: int | None = None
    """Early stopping: epochs without a better validation loss before stopping."""
    seed: int = 0
    device: str | None = None
    """``cuda``, ``mps`` or ``cpu``; ``None`` picks the best available."""
    threads: int | None = None
    """CPU threads for torch; ``None``: all cores but one, so the window stays responsive."""
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
    """The epoch whose weights are kept so far (lowest validation loss)."""
    improved: bool
    stage: str = "train"
    """``head`` (full mode's warm-up with a frozen backbone) or ``train``."""
    device: str = ""


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
