"""Where a sorted file goes: class names to safe folders inside DEST, and file names nothing else uses.

Class names become folder names through :func:`cnndesk.paths.unique_folder_names`; every folder is
then checked with ``Path.resolve().is_relative_to(DEST)`` and a folder that is a symbolic link is
refused. A file's name in its class folder is claimed with an exclusive create (``O_EXCL``) before
anything is copied or moved; on a collision the name gets `` (2)``, `` (3)``... before its extension.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from cnndesk.domain import SortError
from cnndesk.paths import UNCERTAIN_FOLDER, unique_folder_names


def numbered(name: str, n: int, *, word: str = "") -> str:
    """``photo.jpg`` → ``photo (2).jpg`` (or ``photo (restored 2).jpg`` with ``word``)."""
    stem, dot, ext = name.rpartition(".")
    if not stem:  # no extension, or a dotfile such as ".hidden"
        stem, dot, ext = name, "", ""
    tag = f"{word} {n}" if word and n > 1 else (word or str(n))
    return f"{stem} ({tag}){dot}{ext}"


def claim(folder: Path, name: str, *, word: str = "") -> Path:
    """Create an empty file with a name no other file in ``folder`` has, and return its path.

    The exclusive create is what makes "never overwrite" hold even if another program writes into
    the folder at the same time.
    """
    n = 1
    while True:
        candidate = numbered(name, n, word=word) if word or n > 1 else name
        n += 1
        path = folder / candidate
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            continue
        os.close(fd)
        return path


def plan_name(folder: Path, name: str, taken: set[str]) -> Path:
    """Like :func:`claim` without creating anything (dry runs)."""
    n = 1
    while True:
        candidate = name if n == 1 else numbered(name, n)
        n += 1
        if candidate.casefold() in taken or os.path.lexists(folder / candidate):
            continue
        return folder / candidate


def class_folders(classes: Iterable[str], dest: Path) -> dict[str | None, Path]:
    """Map each class name (and ``None``, "uncertain") to its folder inside ``dest``.

    Raises :class:`SortError` when a folder would not lie inside ``dest`` (for instance because a
    folder of that name already exists as a link to somewhere else).
    """
    dest = Path(dest).absolute()
    root = dest.resolve()
    names = list(dict.fromkeys(classes))
    folders: dict[str | None, Path] = {n: dest / f for n, f in unique_folder_names(names).items()}
    folders[None] = dest / UNCERTAIN_FOLDER
    for name, folder in folders.items():
        if (
            folder.parent != dest
            or folder.name in ("", ".", "..")
            or os.path.islink(folder)
            or not folder.resolve().is_relative_to(root)
        ):
            raise SortError(
                f"Refusing to sort class {name!r} into {folder}: that folder is not inside "
                f"{dest} (is it a link?). Choose another destination."
            )
        if os.path.lexists(folder) and not folder.is_dir():
            raise SortError(
                f"Cannot sort class {name!r} into {folder}: a file of that name is in the way. "
                "Move it, or choose another destination."
            )
    return folders
