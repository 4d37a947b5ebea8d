"""Which files a batch classification or sort looks at: the image files under a folder."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from cnndesk.defaults import IMAGE_EXTENSIONS
from cnndesk.domain import SortError


def image_files(
    root: str | os.PathLike[str], *, exclude: Iterable[str | os.PathLike[str]] = ()
) -> list[Path]:
    """Every image file under ``root`` (or ``root`` itself when it is a file), in a stable order.

    Hidden files and folders (a leading dot) and the folders in ``exclude`` (say, the destination
    of a sort inside its source) are skipped; links to folders are not followed.
    """
    root = Path(root).absolute()
    if root.is_file():
        return [root]
    if not root.is_dir():
        raise SortError(f"There is no folder {root}.")
    skip = {Path(e).absolute() for e in exclude}
    found: list[Path] = []
    for folder, dirs, files in os.walk(root):
        here = Path(folder)
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and here / d not in skip)
        found.extend(
            here / f
            for f in sorted(files)
            if not f.startswith(".") and Path(f).suffix.lower() in IMAGE_EXTENSIONS
        )
    return found
