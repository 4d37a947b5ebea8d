"""Writing the library's labels out: a CSV, or an ImageFolder tree other tools train on.

Class names become folder names only through :func:`cnndesk.paths.unique_folder_names`, so a
class called ``../../etc`` still lands inside the output folder.
"""

from __future__ import annotations

import csv
import shutil
from collections.abc import Generator
from pathlib import Path

from cnndesk.domain import ImageQuery, ImageStatus, LibraryError, Progress
from cnndesk.library.library import Library
from cnndesk.paths import unique_folder_names

FORMATS = ("csv", "imagefolder")


def export_labels(
    library: Library, out: str | Path, *, format: str = "csv"
) -> Generator[Progress, None, Path]:
    """Export every human-labeled readable image; yields progress, returns what it wrote."""
    if format not in FORMATS:
        raise LibraryError(f"Unknown export format {format!r}; use one of {', '.join(FORMATS)}.")
    classes = {c.id: c.name for c in library.classes()}
    records = [
        r
        for r in library.images(ImageQuery())
        if r.class_id is not None and r.status is ImageStatus.OK
    ]
    out = Path(out).expanduser()
    if format == "csv":
        out.parent.mkdir(parents=True, exist_ok=True)
        temp = out.with_name(out.name + ".part")
        with temp.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(["path", "class", "split", "sha256", "width", "height"])
            for record in records:
                writer.writerow(
                    [
                        record.path,
                        classes[record.class_id],
                        record.split.value,
                        record.sha256,
                        record.width,
                        record.height,
                    ]
                )
        temp.replace(out)
        yield Progress(done=len(records), total=len(records), message="Written")
        return out
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
        target_dir.mkdir(parents=True, exist_ok=True)
        target = target_dir / f"{record.sha256[:12]}_{source.name}"
        if not target.exists():
            shutil.copy2(source, target)
        if done % 50 == 0 or done == len(records):
            yield Progress(done=done, total=len(records), message="Copying")
    return out
