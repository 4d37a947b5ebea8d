"""Importing files and folders into the library, as a generator of progress events.

``import_paths`` walks the given files and folders, skips files whose path, size and mtime the
library already knows (no re-reading), reads and checks the rest on a small thread pool (Pillow
and hashlib release the GIL), dedupes by content hash, and commits in batches: a cancelled or
crashed import keeps every batch committed so far. Bad files are reported one by one with a
reason and never stop the import: a name that is not UTF-8, a folder name that cannot be a class
name, a pipe, a device or an oversized file is refused on its own (see :mod:`cnndesk.imageio`).
Files in a format cnndesk does not read (``.heic``, ``.svg``, ``.txt``…) are listed as skipped.

What an image is (its content, found at a path): a known path whose bytes changed keeps its row, label and split,
is re-hashed and marked "changed — check the label"; known content found at a new path while its
old file is gone is the same image moved (path updated, label kept); a file marked missing or
unreadable that reads again is restored. The store (:meth:`ImportStore.add_images`) decides which.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Generator, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from cnndesk.domain import (
    ImageError,
    ImportProgress,
    ImportResult,
    RefusedFile,
    Split,
)
from cnndesk.imageio import file_name_problem, os_error_reason
from cnndesk.library.imagefile import ProbedImage, is_supported, probe
from cnndesk.library.names import class_name_problem, normal_class_name
from cnndesk.library.splits import split_from_path

log = logging.getLogger(__name__)

BATCH_SIZE = 256


@dataclass(frozen=True, slots=True)
class Candidate:
    """A file found by the walk, with what its location says about class and split."""

    path: Path
    stat: os.stat_result
    class_name: str | None
    split: Split | None


@dataclass(frozen=True, slots=True)
class NewImage:
    """A readable, not-yet-known image ready to be written, with its folder-given class/split."""

    probed: ProbedImage
    class_name: str | None
    split: Split | None


def unsupported_reason(path: Path) -> str:
    suffix = path.suffix.lower()
    if not suffix:
        return "not an image file (no extension; cnndesk reads JPEG, PNG, BMP, GIF, TIFF, WebP)"
    return f"unsupported format {suffix} (cnndesk reads JPEG, PNG, BMP, GIF, TIFF, WebP)"


def walk(
    roots: Iterable[str | Path],
    *,
    classes_from_folders: bool,
    refused: list[RefusedFile],
    skipped: list[RefusedFile] | None = None,
) -> list[Candidate]:
    """Find the image files under ``roots`` (hidden files and folders are skipped).

    Files in other formats go to ``skipped`` with the reason; files that cannot be imported
    (a name that is not UTF-8, a folder name that cannot be a class) go to ``refused``.
    """
    found: list[Candidate] = []
    seen: set[str] = set()
    skipped = skipped if skipped is not None else []
    for root in roots:
        root_path = Path(root).expanduser().absolute()
        if root_path.is_dir():
            for folder, dirnames, filenames in os.walk(root_path, followlinks=False):
                dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
                for name in sorted(filenames):
                    if name.startswith("."):
                        continue
                    file_path = Path(folder) / name
                    if is_supported(file_path):
                        _add(found, seen, file_path, root_path, classes_from_folders, refused)
                    else:
                        skipped.append(RefusedFile(str(file_path), unsupported_reason(file_path)))
        elif os.path.lexists(root_path):
            # Not a folder: a file, or a pipe, device or broken link the probe refuses by name.
            if is_supported(root_path):
                _add(found, seen, root_path, root_path.parent, classes_from_folders, refused)
            else:
                skipped.append(RefusedFile(str(root_path), unsupported_reason(root_path)))
        else:
            refused.append(RefusedFile(str(root_path), "no such file or folder"))
    return found


def _add(
    found: list[Candidate],
    seen: set[str],
    file_path: Path,
    root: Path,
    classes_from_folders: bool,
    refused: list[RefusedFile],
) -> None:
    key = str(file_path)
    if key in seen:
        return
    seen.add(key)
    problem = file_name_problem(key)
    if problem is not None:
        refused.append(RefusedFile(key, problem))
        return
    try:
        stat = file_path.stat()
    except OSError as exc:
        refused.append(RefusedFile(key, os_error_reason(exc)))
        return
    class_name = split = None
    if classes_from_folders:
        relative = file_path.parent.relative_to(root.parent).parts
        split = split_from_path(relative)
        parent = file_path.parent.name
        if split_from_path([parent]) is None and file_path.parent != root.parent:
            class_name = normal_class_name(parent)  # macOS disks give names in NFD
            problem = class_name_problem(parent)
            if problem is not None:
                refused.append(
                    RefusedFile(
                        key,
                        f"its folder name cannot be a class name: {problem} "
                        "Rename the folder, or import without classes from folders.",
                    )
                )
                return
    found.append(Candidate(file_path, stat, class_name, split))


def _probe(candidate: Candidate) -> NewImage | RefusedFile:
    try:
        probed = probe(candidate.path, stat=candidate.stat)
    except ImageError as exc:
        return RefusedFile(str(candidate.path), str(exc))
    except Exception as exc:  # a worker boundary: one odd file must never stop an import
        log.exception("Unexpected error reading %s", candidate.path)
        return RefusedFile(str(candidate.path), f"unexpected error: {exc}")
    return NewImage(probed, candidate.class_name, candidate.split)


def _batches(items: list[Candidate], size: int) -> Iterator[list[Candidate]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def import_paths(
    store: ImportStore,
    paths: Iterable[str | Path],
    *,
    classes_from_folders: bool = False,
    workers: int | None = None,
) -> Generator[ImportProgress, None, ImportResult]:
    """Import images from files and folders; yields progress, returns an :class:`ImportResult`."""
    started = time.perf_counter()
    refused: list[RefusedFile] = []
    skipped: list[RefusedFile] = []
    yield ImportProgress(done=0, total=0, message="Looking for images…")
    candidates = walk(
        paths, classes_from_folders=classes_from_folders, refused=refused, skipped=skipped
    )
    known = store.known_files()
    todo: list[Candidate] = []
    unchanged = 0
    for candidate in candidates:
        entry = known.get(str(candidate.path))
        if entry is not None and entry == (candidate.stat.st_size, candidate.stat.st_mtime_ns):
            unchanged += 1
        else:
            todo.append(candidate)
    total = len(candidates)
    added = duplicates = labeled = changed = moved = restored = 0
    added_ids: list[int] = []
    classes_created: list[str] = []
    done = unchanged
    yield ImportProgress(done=done, total=total, message="Importing", refused=len(refused))
    workers = workers or min(4, (os.cpu_count() or 2) + 1)
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="cnndesk-import") as pool:
        for batch in _batches(todo, BATCH_SIZE):
            results = list(pool.map(_probe, batch))
            good = [r for r in results if isinstance(r, NewImage)]
            refused.extend(r for r in results if isinstance(r, RefusedFile))
            outcome = store.add_images(good)
            added += len(outcome.added_ids)
            added_ids.extend(outcome.added_ids)
            duplicates += outcome.duplicates
            labeled += outcome.labeled
            changed += outcome.changed
            moved += outcome.moved
            restored += outcome.restored
            refused.extend(outcome.refused)
            classes_created.extend(outcome.classes_created)
            done += len(batch)
            yield ImportProgress(
                done=done,
                total=total,
                message="Importing",
                added=added,
                duplicates=duplicates,
                refused=len(refused),
                current=str(batch[-1].path),
            )
    return ImportResult(
        added=added,
        duplicates=duplicates,
        unchanged=unchanged,
        refused=tuple(refused),
        classes_created=tuple(classes_created),
        labeled=labeled,
        seconds=time.perf_counter() - started,
        added_ids=tuple(added_ids),
        changed=changed,
        moved=moved,
        restored=restored,
        skipped=tuple(skipped),
    )


@dataclass(frozen=True, slots=True)
class BatchOutcome:
    added_ids: tuple[int, ...]
    duplicates: int
    labeled: int
    classes_created: tuple[str, ...]
    changed: int = 0
    moved: int = 0
    restored: int = 0
    refused: tuple[RefusedFile, ...] = ()


class ImportStore(Protocol):
    """What the importer needs from the library (implemented by :class:`~cnndesk.library.Library`)."""

    def known_files(self) -> dict[str, tuple[int, int]]:
        """Every file path already read, with its (size, mtime_ns) at the time.

        Paths of images marked missing or unreadable are left out, so they are read again.
        """
        ...

    def add_images(self, images: list[NewImage]) -> BatchOutcome:
        """Write one batch of new images in one transaction; dedupe by content hash."""
        ...
