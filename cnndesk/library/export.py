"""Writing the library's labels out: a CSV, or an ImageFolder tree other tools train on.

Class names become folder names only through :func:`cnndesk.paths.unique_folder_names`, so a
class called ``../../etc`` still lands inside the output folder. The CSV replaces an existing file
only when it is an earlier labels CSV (its header is ours) or with ``force``, and never the open
library (see :mod:`cnndesk.outputs`); it is written to a temporary file renamed into place.
"""

from __future__ import annotations

import csv
import errno
import logging
import os
from collections.abc import Generator
from dataclasses import dataclass
from pathlib import Path

from cnndesk.domain import (
    ImageError,
    ImageQuery,
    ImageRecord,
    ImageStatus,
    LibraryError,
    OutputError,
    Progress,
)
from cnndesk.imageio import read_file
from cnndesk.library.library import Library
from cnndesk.outputs import check_output, head, library_files, printable, replacing
from cnndesk.paths import unique_folder_names

log = logging.getLogger(__name__)

FORMATS = ("csv", "imagefolder")
CSV_HEADER = ("path", "class", "split", "sha256", "width", "height")


@dataclass(frozen=True)
class LabelsExport:
    """What :func:`export_labels` wrote (``path``), and the photos it left out: (path, why)."""

    path: Path
    left_out: tuple[tuple[str, str], ...] = ()


def _is_labels_csv(path: Path) -> bool:
    """Whether ``path`` starts like a CSV this module wrote (so it may be replaced)."""
    first = head(path, 256).split(b"\n", 1)[0].rstrip(b"\r")
    return first == ",".join(CSV_HEADER).encode()


def export_labels(
    library: Library, out: str | Path, *, format: str = "csv", force: bool = False
) -> Generator[Progress, None, LabelsExport]:
    """Export every human-labeled readable image; yields progress, returns what it wrote.

    An image-folder export copies each photo with its permission bits and time; a photo that is
    no longer a readable regular file is left out (logged, and listed in the result).

    Raises :class:`~cnndesk.domain.OutputError` when ``out`` may not be written (see the module
    docstring); nothing is written then. An image-folder export that fails or is stopped part
    way (a full disk, a cancel) removes the files and folders it created, nothing else, so the
    same command can run again.
    """
    if format not in FORMATS:
        raise LibraryError(f"Unknown export format {format!r}; use one of {', '.join(FORMATS)}.")
    classes = {c.id: c.name for c in library.classes()}
    records = [
        r
        for r in library.images(ImageQuery())
        if r.class_id is not None and r.status is ImageStatus.OK
    ]
    if format == "csv":
        out = check_output(
            out,
            force=force,
            protected=library_files(library.path),
            ours=_is_labels_csv,
            what="CSV file",
        )
        with replacing(out, "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(CSV_HEADER)
            for record in records:
                writer.writerow(
                    [
                        printable(record.path),
                        printable(classes[record.class_id]),
                        record.split.value,
                        record.sha256,
                        record.width,
                        record.height,
                    ]
                )
        yield Progress(done=len(records), total=len(records), message="Written")
        return LabelsExport(out)
    out = Path(out).expanduser().absolute()
    if os.path.lexists(out) and not out.is_dir():
        raise OutputError(
            f"{printable(out)} is a file, not a folder; export an image folder into a new or "
            "empty folder."
        )
    if out.exists() and any(out.iterdir()):
        raise LibraryError(
            f"{out} is not empty; export an image folder into a new or empty folder."
        )
    written = _Written()
    left_out: list[tuple[str, str]] = []
    try:
        yield from _copy_tree(records, classes, out, written, left_out)
    except BaseException as exc:  # a full disk, a cancel, Ctrl-C: take back what this export wrote
        left = written.remove()
        if not isinstance(exc, (OSError, OutputError)):
            raise
        what = str(exc).split(". Nothing was replaced", 1)[0].rstrip(".")
        if left:
            then = (
                f", except {left} it could not remove: remove {printable(out)} (or give "
                "another folder) before trying again."
            )
        elif _disk_full(exc):
            then = "; free some space (or choose a folder on another disk) and try again."
        else:
            then = "; the same command can run again once that is fixed."
        raise OutputError(
            f"{what}. The export stopped and removed the files and folders it had written{then}"
        ) from exc
    return LabelsExport(out, tuple(left_out))


def _disk_full(exc: BaseException | None) -> bool:
    while exc is not None:
        if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", 0)):
            return True
        exc = exc.__cause__
    return False


class _Written:
    """The files and folders one image-folder export created, to remove if it fails."""

    def __init__(self) -> None:
        self.files: list[Path] = []
        self.folders: list[Path] = []

    def mkdir(self, folder: Path) -> None:
        """Create ``folder`` and its missing parents, remembering each one created here."""
        missing = []
        while not os.path.lexists(folder) and folder != folder.parent:
            missing.append(folder)
            folder = folder.parent
        for made in reversed(missing):
            made.mkdir()
            self.folders.append(made)

    def remove(self) -> int:
        """Remove every file and (then empty) folder recorded; how many could not be removed."""
        left = 0
        for path in reversed(self.files):
            try:
                path.unlink()
            except FileNotFoundError:
                pass
            except OSError:
                left += 1
        for folder in reversed(self.folders):  # deepest first; a folder with others' files stays
            try:
                folder.rmdir()
            except FileNotFoundError:
                pass
            except OSError:
                left += 1
        return left


def _copy_tree(
    records: list[ImageRecord],
    classes: dict[int, str],
    out: Path,
    written: _Written,
    left_out: list[tuple[str, str]],
) -> Generator[Progress, None, None]:
    """Copy each record to ``out/<split>/<class folder>/``, recording in ``written`` what it made
    and in ``left_out`` the photos it could not read (path, why)."""
    folders = unique_folder_names(list(classes.values()))
    root = out.resolve()
    for done, record in enumerate(records, start=1):
        source = Path(record.path)
        target_dir = (root / record.split.value / folders[classes[record.class_id]]).resolve()
        if not target_dir.is_relative_to(root):  # belt and braces: the names are already safe
            raise LibraryError(f"Refusing to write outside {root}.")
        target = target_dir / f"{record.sha256[:12]}_{source.name}"
        if not target.exists():
            _copy_one(source, target, target_dir, written, left_out)
        if done % 50 == 0 or done == len(records):
            yield Progress(done=done, total=len(records), message="Copying")


def _copy_one(
    source: Path,
    target: Path,
    target_dir: Path,
    written: _Written,
    left_out: list[tuple[str, str]],
) -> None:
    """Copy one photo (its bytes, permission bits and time), or note in ``left_out`` why not."""
    try:  # a regular file, bounded: never a link to /dev/zero copied without end
        data = read_file(source)
    except ImageError as exc:
        log.warning("left %s out of the export: %s", printable(source), exc)
        left_out.append((str(source), str(exc)))
        return
    try:
        written.mkdir(target_dir)
        # a full disk leaves no partial copy; a private (0600) photo stays private
        written.files.append(target)  # first: an interrupt after the rename still takes it back
        with replacing(target, "wb", permissions=data.mode) as handle:
            handle.write(data.data)
        os.utime(target, ns=(data.mtime_ns, data.mtime_ns))
    except OSError as exc:
        why = "the disk is full" if _disk_full(exc) else str(exc)
        raise OutputError(f"Could not write {printable(target)}: {why}") from exc
