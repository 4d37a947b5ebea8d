"""Jobs: the long operations the GUI and the CLI run, where the library and the models meet.

Each job is a generator (DESIGN §2): it yields progress events from :mod:`cnndesk.domain` at least
once per batch and returns its result. The GUI runs it on a worker thread, the CLI with a
progress bar, a test with ``list()``. Cancel by calling ``close()``: the job cleans up in
``finally`` and keeps whatever is already safe.

``cnndesk.ml`` (and with it torch) is imported inside the jobs that need it, never at module
level: opening the window must not wait for torch.
"""

from __future__ import annotations

from collections.abc import Generator, Iterable
from pathlib import Path

from cnndesk.domain import ImportProgress, ImportResult, Progress
from cnndesk.library import Library, export_labels, import_paths

# ------------------------------------------------------------------------------------ import


def import_job(
    library: Library, paths: Iterable[str | Path], *, classes_from_folders: bool = False
) -> Generator[ImportProgress, None, ImportResult]:
    """Import files and folders into the library (see :func:`cnndesk.library.import_paths`)."""
    return (yield from import_paths(library, paths, classes_from_folders=classes_from_folders))


def export_labels_job(
    library: Library, out: str | Path, *, format: str = "csv"
) -> Generator[Progress, None, Path]:
    """Write the library's labels as a CSV or an ImageFolder tree."""
    return (yield from export_labels(library, out, format=format))
