"""The :class:`Library`: one SQLite file holding images, classes, labels, splits, runs, predictions.

Each public method is one unit of work in its own transaction, so every user action (a label, a
class edit) is committed when the call returns: a crash or power cut loses nothing the user saw
applied. Methods take and return the frozen dataclasses of :mod:`cnndesk.domain`; ORM rows never
leave this package. A ``Library`` may be used from several threads (each call opens its own
connection from the pool).

``Library`` owns the engine and its lifecycle; the work is done by managers it is composed of,
one per concept, each in its own module: :class:`~.classes.ClassManager`,
:class:`~.labels.LabelManager` (labels, splits, kept labels), :class:`~.ingest.IngestManager`
(the importer's store), :class:`~.images.ImageManager` (queries), :func:`~.file_check.check_files`,
:class:`~.runs.RunManager`, :class:`~.predictions.PredictionManager` and
:class:`~.suggestions.SuggestionManager`. The methods below are the public face and delegate.
"""

from __future__ import annotations

from collections.abc import Collection, Generator, Iterable, Sequence
from pathlib import Path
from typing import Any

from cnndesk import paths
from cnndesk.domain import (
    CheckResult,
    ClassInfo,
    ImageQuery,
    ImageRecord,
    ImageView,
    LibraryError,
    LibraryStats,
    Progress,
    RunRecord,
    Split,
    TrainingSet,
)
from cnndesk.library.classes import ClassManager
from cnndesk.library.database import (
    integrity_ok,
    is_read_only,
    library_file,
    make_engine,
    migrate,
)
from cnndesk.library.file_check import check_files
from cnndesk.library.images import ImageManager
from cnndesk.library.importer import BatchOutcome, NewImage
from cnndesk.library.ingest import IngestManager
from cnndesk.library.labels import LabelManager
from cnndesk.library.predictions import PredictionManager
from cnndesk.library.runs import RunManager
from cnndesk.library.suggestions import SuggestionManager


class Library:
    """An open cnndesk library. Create with :meth:`open`; close with :meth:`close` or ``with``."""

    def __init__(self, location: str | Path, *, read_only: bool | None = None) -> None:
        self.location = str(location)
        self.engine = make_engine(location, read_only=read_only)
        self._classes = ClassManager(self.engine)
        self._labels = LabelManager(self.engine, self._classes)
        self._ingest = IngestManager(self.engine, self._classes)
        self._images = ImageManager(self.engine, self._classes)
        self._runs = RunManager(self.engine)
        self._predictions = PredictionManager(self.engine, self._runs)
        self._suggestions = SuggestionManager(
            self.engine, classes=self._classes, labels=self._labels, images=self._images
        )
        try:
            migrate(self.engine)
            if not self.read_only:
                self.mark_interrupted_runs()
        except Exception:
            self.engine.dispose()
            raise

    # ------------------------------------------------------------------------------ lifecycle

    @classmethod
    def open(cls, location: str | Path | None = None, *, read_only: bool | None = None) -> Library:
        """Open (creating when needed) a library file or database URL; default: the embedded one.

        A file that is not a cnndesk library is refused unchanged. A library that cannot be
        written (or ``read_only=True``) opens for reading; writes then raise a
        :class:`LibraryError` saying it is read-only.
        """
        location = location if location is not None else paths.default_library_path()
        return cls(location, read_only=read_only)

    @property
    def read_only(self) -> bool:
        return is_read_only(self.engine)

    @property
    def path(self) -> Path | None:
        """The library file, for SQLite libraries."""
        probe = library_file(self.engine)
        return probe.path if probe is not None else None

    @property
    def display_name(self) -> str:
        path = self.path
        return (
            path.stem if path is not None else self.engine.url.render_as_string(hide_password=True)
        )

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Library:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def integrity_ok(self) -> bool:
        return integrity_ok(self.engine)

    def backup(self, target: str | Path) -> Path:
        """Write a consistent copy of a live library (``VACUUM INTO``; never a file copy)."""
        target = Path(target)
        if target.exists():
            raise LibraryError(f"{target} already exists; choose a new file for the backup.")
        raw = self.engine.raw_connection()  # autocommit: VACUUM cannot run inside a transaction
        try:
            raw.driver_connection.execute("VACUUM INTO ?", (str(target),))
        finally:
            raw.close()
        return target

    # -------------------------------------------------------------------------------- classes

    def classes(self) -> list[ClassInfo]:
        """All classes in their display order, with their human-label counts."""
        return self._classes.all()

    def class_by_name(self, name: str) -> ClassInfo | None:
        return self._classes.by_name(name)

    def require_class(self, name: str) -> ClassInfo:
        """The class named ``name``; a :class:`LibraryError` listing the classes if none is."""
        return self._classes.require(name)

    def add_class(
        self, name: str, *, hotkey: str | None = None, colour: str | None = None
    ) -> ClassInfo:
        """Add a class; its name is stored as typed, in Unicode NFC (``Café`` has one form)."""
        return self._classes.add(name, hotkey=hotkey, colour=colour)

    def rename_class(self, old: str, new: str) -> ClassInfo:
        return self._classes.rename(old, new)

    def update_class(
        self, name: str, *, hotkey: str | type[...] | None = ..., colour: str | None = None
    ) -> ClassInfo:
        """Change a class's hotkey (``None`` clears it) and/or colour."""
        return self._classes.update(name, hotkey=hotkey, colour=colour)

    def move_class(self, name: str, position: int) -> list[ClassInfo]:
        """Put a class at ``position`` in the display (and hotkey 1–9) order."""
        return self._classes.move(name, position)

    def remove_class(self, name: str) -> int:
        """Delete a class; its images become unlabeled. Returns how many images lost a label."""
        return self._classes.remove(name)

    # ------------------------------------------------------------------------ labels, splits

    def set_labels(self, image_ids: Iterable[int], class_id: int | None) -> dict[int, int | None]:
        """Give images a human label (``None`` clears it); each one's previous label, for undo.

        See :meth:`.labels.LabelManager.set` (a first label moves an auto-split image into its
        class's stratified split).
        """
        return self._labels.set(image_ids, class_id)

    def restore_labels(self, previous: dict[int, int | None]) -> None:
        """Undo :meth:`set_labels`: put back each image's earlier label (in one transaction)."""
        self._labels.restore(previous)

    def label_files(
        self, files: Iterable[str | Path], class_name: str | None
    ) -> tuple[int, list[str]]:
        """Label images by file path (CLI). Returns (labeled count, paths not in the library)."""
        return self._labels.label_files(files, class_name)

    def held_elsewhere(self, paths: Iterable[str]) -> dict[str, str]:
        """Files not in the library whose photo is, at a path still there: path → that path."""
        return self._labels.held_elsewhere(paths)

    def set_split(self, image_ids: Iterable[int], split: Split) -> dict[int, tuple[Split, str]]:
        """Put images into a split by hand (they keep it from then on); for undo, each one's
        previous split and ``split_source`` (``"user"`` or ``"auto"``)."""
        return self._labels.set_split(image_ids, split)

    def restore_splits(self, previous: dict[int, tuple[Split, str]]) -> None:
        """Undo :meth:`set_split`: each image's earlier split and who chose it."""
        self._labels.restore_splits(previous)

    def labeled_status_counts(self) -> dict[str, int]:
        """How many human-labeled images there are in each status (``ok``, ``missing``, …)."""
        return self._labels.status_counts()

    def labeled_image_ids(self) -> list[int]:
        """Every human-labeled image, whatever its status (what training would like to use)."""
        return self._labels.labeled_ids()

    def keep_labels(self, image_ids: Iterable[int]) -> int:
        """Remember "reviewed — keep label" for these images' current human labels (the count)."""
        return self._labels.keep(image_ids)

    def kept_labels(self) -> dict[int, int]:
        """Image id → the label the user kept after the audit flagged it (still that label)."""
        return self._labels.kept()

    # ---------------------------------------------------------------------- import and files

    def known_files(self) -> dict[str, tuple[int, int]]:
        """Paths already read with their (size, mtime_ns); images not ``ok`` are left out."""
        return self._ingest.known_files()

    def add_images(self, images: list[NewImage]) -> BatchOutcome:
        """Write a batch of probed images in one transaction (the importer's store protocol)."""
        return self._ingest.add_images(images)

    def check(
        self,
        image_ids: Iterable[int] | None = None,
        *,
        failed: Collection[int] = (),
        verify: bool = False,
    ) -> Generator[Progress, None, CheckResult]:
        """Re-read the status of every image (or of ``image_ids``) from its file; a generator.

        See :func:`.file_check.check_files`: gone files become ``missing``, undecodable ones
        ``unreadable``, new content is re-hashed and ``changed``; ``failed`` images (they failed
        to decode in training) that are unchanged become unreadable. Files with unchanged size
        and mtime are trusted unread unless ``verify`` (then every file is read and hashed).
        """
        return check_files(self.engine, image_ids, failed=failed, verify=verify)

    def refresh_status(self, image_ids: Iterable[int] | None = None) -> CheckResult:
        """:meth:`check`, run to the end (for callers that need no progress)."""
        job = self.check(image_ids)
        while True:
            try:
                next(job)
            except StopIteration as stop:
                return stop.value

    def mark_unreadable(self, image_ids: Iterable[int]) -> None:
        """Remember that these images could not be decoded (they leave training and counts)."""
        self._images.mark_unreadable(image_ids)

    # -------------------------------------------------------------------------------- queries

    def count(self) -> int:
        """Every image, whatever its status."""
        return self._images.count()

    def image(self, image_id: int) -> ImageRecord:
        """One image; a :class:`LibraryError` if it is no longer in the library."""
        return self._images.get(image_id)

    def images_by_id(self, image_ids: Sequence[int]) -> list[ImageRecord]:
        """Records for the given ids, in the given order (unknown ids are left out)."""
        return self._images.by_id(image_ids)

    def find_image(self, path: str | Path) -> ImageRecord | None:
        return self._images.find(path)

    def images(
        self, query: ImageQuery | None = None, *, ids: Sequence[int] | None = None
    ) -> list[ImageRecord]:
        """The images matching ``query``, fully described, in the query's order."""
        return self._images.query(query, ids=ids)

    def unlabeled_images(self) -> list[ImageRecord]:
        return self._images.query(ImageQuery(view=ImageView.UNLABELED))

    def unlabeled_queue(self, order: str = "least_confident") -> list[ImageRecord]:
        """Unlabeled images in labeling order: least confident model suggestion first."""
        return self._suggestions.unlabeled_queue(order)

    def stats(self) -> LibraryStats:
        return self._images.stats(predicted=self._predictions.count())

    def training_set(self) -> TrainingSet:
        """Every readable human-labeled image, split, for a training run; and the readable
        unlabeled images (``label`` -1), which the run predicts without training on them."""
        return self._images.training_set()

    # ---------------------------------------------------------------- model suggestions

    def set_suggestions(self, rows: Iterable[tuple[int, str, float]]) -> int:
        """Store model suggestions ``(image id, class name, confidence)``; human labels stay.

        Classes the model knows but the library lacks are created. Returns how many were stored.
        """
        return self._suggestions.store(rows)

    def accept_suggestions(self, image_ids: Iterable[int]) -> dict[int, int | None]:
        """Turn the model's suggestions for these images into human labels (undoable)."""
        return self._suggestions.accept(image_ids)

    # ---------------------------------------------------------------- runs and predictions

    def create_run(
        self, config: dict[str, Any], *, dataset: list[dict[str, Any]] | None = None
    ) -> int:
        """Record a run as ``running``, owned by this process (see :mod:`.processes`)."""
        return self._runs.create(config, dataset=dataset)

    def mark_interrupted_runs(self) -> list[int]:
        """Mark ``running`` runs whose process is gone as ``interrupted``; the ids marked."""
        return self._runs.mark_interrupted()

    def finish_run(
        self, run_id: int, *, status: str, metrics: dict[str, Any], model_path: str | None
    ) -> None:
        self._runs.finish(run_id, status=status, metrics=metrics, model_path=model_path)

    def runs(self) -> list[RunRecord]:
        """Every run, oldest first; a run whose process died shows as ``interrupted``."""
        return self._runs.all()

    def run(self, run_id: int) -> RunRecord:
        return self._runs.get(run_id)

    def current_model_path(self) -> str | None:
        """The newest run's model folder: the model the library's filters and counts show."""
        return self._runs.current_model_path()

    def store_predictions(
        self, *, model_path: str, run_id: int | None, rows: Iterable[dict[str, Any]]
    ) -> int:
        """Store what a model said about images (see :meth:`.predictions.PredictionManager.store`)."""
        return self._predictions.store(model_path=model_path, run_id=run_id, rows=rows)

    def predicted_count(self, model_path: str | None = None) -> int:
        """Readable images with a stored prediction of ``model_path`` (default: the current)."""
        return self._predictions.count(model_path)

    def predictions(
        self, *, model_path: str | None = None, run_id: int | None = None
    ) -> list[dict[str, Any]]:
        """Stored predictions of one model or run, highest loss first when losses are known."""
        return self._predictions.all(model_path=model_path, run_id=run_id)


__all__ = ["Library"]
