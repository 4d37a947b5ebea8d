"""What the library exchanges: images, classes, labels, splits, runs, and the import and check
events and results."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

# ------------------------------------------------------------------------------------- library


class Split(str, enum.Enum):
    """Which part of the data an image belongs to."""

    TRAIN = "train"
    VAL = "val"
    TEST = "test"


class ImageStatus(str, enum.Enum):
    """What the library last found at an image's path (``cnndesk check`` reads every file again)."""

    OK = "ok"
    MISSING = "missing"
    """No file at the path (moved, deleted, or its bytes now belong to another image's record)."""
    UNREADABLE = "unreadable"
    """A file is there but cannot be used: not a regular file, too large, or not decodable."""


class LabelSource(str, enum.Enum):
    """Who gave a label: the user, or the model as a suggestion (replaced by every training)."""

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
