"""Writing the library's labels out: a CSV, or an ImageFolder tree other tools train on.

Class names become folder names only through :func:`cnndesk.paths.unique_folder_names`, so a
class called ``../../etc`` still lands inside the output folder. The CSV replaces an existing file
only when it is an earlier labels CSV (its header is ours) or with ``force``, and never the open
library (see :mod:`cnndesk.outputs`); it is written to a temporary file renamed into place.
"""

from __future__ import annotations

import csv
import logging
import os
from collections.abc import Generator
from pathlib import Path

from cnndesk.domain import (
    ImageError,
    ImageQuery,
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


def _is_labels_csv(path: Path) -> bool:
    """Whether ``path`` starts like a CSV this module wrote (so it may be replaced)."""
    first = head(path, 256).split(b"\n", 1)[0].rstrip(b"\r")
    return first == ",".join(CSV_HEADER).encode()


def export_labels(
    library: Library, out: str | Path, *, format: str = "csv", force: bool = False
) -> Generator[Progress, None, Path]:
    """Export every human-labeled readable image; yields progress, returns what it wrote.

    Raises :class:`~cnndesk.domain.OutputError` when ``out`` may not be written (see the module
    docstring); nothing is written then.
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
        return out
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
    folders = unique_folder_names(list(classes.values()))
    root = out.resolve()
    for done, record in enumerate(records, start=1):
        source = Path(record.path)
        target_dir = (root / record.split.value / folders[classes[record.class_id]]).resolve()
        if not target_dir.is_relative_to(root):  # belt and braces: the names are already safe
            raise LibraryError(f"Refusing to write outside {root}.")
        target = target_dir / f"{record.sha256[:12]}_{source.name}"
        if not target.exists():
            try:  # a regular file, bounded: never a link to /dev/zero copied without end
                data = read_file(source)
            except ImageError as exc:
                log.warning("left %s out of the export: %s", printable(source), exc)
                continue
            try:
                target_dir.mkdir(parents=True, exist_ok=True)
                with replacing(target, "wb") as handle:  # a full disk leaves no partial copy
                    handle.write(data.data)
                os.utime(target, ns=(data.mtime_ns, data.mtime_ns))
            except OSError as exc:
                raise OutputError(f"Could not write {printable(target)}: {exc}") from exc
        if done % 50 == 0 or done == len(records):
            yield Progress(done=done, total=len(records), message="Copying")
    return out
