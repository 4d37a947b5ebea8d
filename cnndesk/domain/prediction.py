"""What using a model exchanges: predictions, classifying and sorting folders, suggestions,
exports, and the browser's image queries."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

from cnndesk.defaults import LOW_CONFIDENCE
from cnndesk.domain.library import Progress, RefusedFile, Split

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
    checked_on: str = ""
    """Which images the check ran on, in words: ``"3 real images"`` or ``"8 generated images"``."""

    def as_json(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "format": self.format,
            "max_abs_diff": self.max_abs_diff,
            "images_checked": self.images_checked,
            "checked_on": self.checked_on,
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
    confidence_below: float = LOW_CONFIDENCE
    order: str = "path"
    """``path``, ``added``, or ``least_confident`` (model suggestions, most doubtful first)."""
    limit: int | None = None
    image_ids: tuple[int, ...] | None = None
    """Only these images (e.g. an evaluation's "true A, predicted B" cell); ``None``: no limit."""
    title: str = ""
    """What the browser shows as the filter's name when it cannot be named from the view."""
