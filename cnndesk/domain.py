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

    def as_json(self) -> dict[str, Any]:
        return {
            "images": self.images,
            "unreadable": self.unreadable,
            "missing": self.missing,
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

    @property
    def seen(self) -> int:
        return self.added + self.duplicates + self.unchanged + len(self.refused)


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
