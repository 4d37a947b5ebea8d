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
