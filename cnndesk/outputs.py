"""What cnndesk may replace when it writes an output file, how it writes one, and how names look.

One rule for every command and dialog that writes a file a user names (``export-labels``,
``export``, the GUI's export dialogs), kept here so every layer applies the same one:

- A file that is already there is replaced only when the caller recognises it as an earlier
  output of the same kind (``ours``) or the user said so (``--force``, or a file dialog's
  "replace?" confirmation).
- A *protected* path is never replaced, not even with ``force``: the open library (and its
  ``-wal``/``-shm``/``-journal`` files) and a model folder's own files. A protected folder
  protects every file already in it; new files may still be written there.
- A folder is never replaced by a file. Missing parent folders are created (after every other
  check passed); a parent that is a file is an error.

Writes go to a temporary file in the target's folder that is renamed over the target only when
complete (:func:`replacing`, :func:`temp_beside`); on any failure, a full disk included, the
temporary file is removed and the old file is untouched.

:func:`printable` turns a file name into text that is safe to print or write as UTF-8: bytes that
are not UTF-8 (Python's ``surrogateescape``) read ``\\xff``; control characters are escaped, so a
name can never move a terminal's cursor.

Standard library only; every layer may import it.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import tempfile
import unicodedata
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import IO, Any

from cnndesk.domain import OutputError

_DISK_FULL = {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)}
_UMASK = os.umask(0o022)  # read once, at import (setting it is process-wide)
os.umask(_UMASK)
LIBRARY_SIDE_FILES = ("-wal", "-shm", "-journal")
"""SQLite's companions of a library file; replacing one damages the library as much."""


def library_files(path: str | os.PathLike[str] | None) -> list[Path]:
    """The library file and SQLite's side files beside it (nothing for a library that is no file)."""
    if path is None:
        return []
    path = Path(path).expanduser().absolute()
    return [path, *(path.with_name(path.name + s) for s in LIBRARY_SIDE_FILES)]


def printable(text: str | os.PathLike[str]) -> str:
    """``text`` as valid, harmless UTF-8: undecodable bytes as ``\\xNN``, controls escaped."""
    text = os.fspath(text)
    if any(0xD800 <= ord(c) <= 0xDFFF for c in text):
        text = text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    if not any(unicodedata.category(c) in ("Cc", "Cs") or c in "\u2028\u2029" for c in text):
        return text
    return "".join(
        c.encode("unicode_escape").decode("ascii")
        if unicodedata.category(c) in ("Cc", "Cs") or c in "\u2028\u2029"
        else c
        for c in text
    )


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def _protected_by(path: Path, protected: Iterable[str | os.PathLike[str]]) -> Path | None:
    """The protected entry that forbids writing ``path``, if any."""
    exists = os.path.lexists(path)
    real = path.resolve()
    for entry in protected:
        guard = Path(entry).expanduser().absolute()
        if guard.is_dir():
            if exists and (path.is_relative_to(guard) or real.is_relative_to(guard.resolve())):
                return guard
            continue
        if path == guard or real == guard.resolve() or (exists and _same_file(path, guard)):
            return guard
    return None


def check_output(
    path: str | os.PathLike[str],
    *,
    force: bool = False,
    protected: Iterable[str | os.PathLike[str]] = (),
    ours: Callable[[Path], bool] | None = None,
    what: str = "file",
) -> Path:
    """Check that ``path`` may be written; return it as an absolute path.

    Raises :class:`OutputError` (with what to do instead) when ``path`` names a folder, lies
    under a file, is protected (see the module docstring; ``force`` does not help), or exists
    and is not recognised by ``ours`` and ``force`` is false. Then creates missing parent
    folders.
    """
    raw = os.fspath(path)
    out = Path(raw).expanduser().absolute()
    shown = printable(out)
    if raw.endswith((os.sep, "/")) or out.is_dir():
        raise OutputError(
            f"{shown} is a folder; give the name of the {what} to write, e.g. "
            f"{printable(out / ('labels.csv' if what == 'CSV file' else 'model.onnx'))}."
        )
    parent = out.parent
    while not os.path.lexists(parent) and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise OutputError(
            f"Cannot write {shown}: {printable(parent)} is a file, not a folder. Choose another "
            "place."
        )
    guard = _protected_by(out, protected)
    if guard is not None and not (guard.is_dir() and ours is not None and _ours(ours, out)):
        raise OutputError(
            f"Refusing to write {shown}: it would replace "
            + (f"a file in {printable(guard)}" if guard.is_dir() else printable(guard))
            + ", which cnndesk never replaces (the open library or a model's own files), not "
            "even with --force. Choose another file name."
        )
    recognised = out.is_file() and not out.is_symlink() and ours is not None and _ours(ours, out)
    if os.path.lexists(out) and not force and not recognised:
        raise OutputError(
            f"{shown} already exists and cnndesk did not write it; nothing was changed. Choose "
            "another file name, or add --force to replace it."
        )
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(
            f"Cannot create the folder {printable(out.parent)}: {exc.strerror}."
        ) from exc
    return out


def _ours(ours: Callable[[Path], bool], path: Path) -> bool:
    try:
        return bool(ours(path))
    except (OSError, ValueError):
        return False


def head(path: Path, size: int = 4096) -> bytes:
    """The first ``size`` bytes of a regular file (``b""`` for anything else): for ``ours`` checks."""
    try:
        fd = os.open(
            path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOFOLLOW", 0)
        )
    except OSError:
        return b""
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return b""
        return os.read(fd, size)
    finally:
        os.close(fd)


def _disk_full_error(path: Path, exc: OSError) -> OutputError:
    return OutputError(
        f"Could not write {printable(path)}: the disk is full. Nothing was replaced and no partial "
        "file was left; free some space and try again."
    )


@contextlib.contextmanager
def temp_beside(path: str | os.PathLike[str], *, permissions: int | None = None) -> Iterator[Path]:
    """A fresh temporary file name in ``path``'s folder; renamed over ``path`` if the block succeeds.

    The temporary file exists (empty) when the block starts, so writers that open by name work.
    The file gets ``permissions`` (a copy keeps its source's), by default those of a new file
    (0o666 less the umask), before it takes ``path``'s name.
    On any exception it is removed and ``path`` is untouched; a full disk becomes an
    :class:`OutputError` that says so.
    """
    out = Path(path).absolute()
    try:
        fd, name = tempfile.mkstemp(prefix=f".{out.name[:80]}.", suffix=".part", dir=out.parent)
    except OSError as exc:
        if exc.errno in _DISK_FULL:
            raise _disk_full_error(out, exc) from exc
        raise OutputError(
            f"Cannot write into {printable(out.parent)}: {exc.strerror or exc}."
        ) from exc
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        _set_permissions(tmp, permissions)
        os.replace(tmp, out)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        if isinstance(exc, OSError) and exc.errno in _DISK_FULL:
            raise _disk_full_error(out, exc) from exc
        raise


@contextlib.contextmanager
def replacing(
    path: str | os.PathLike[str],
    mode: str = "w",
    *,
    permissions: int | None = None,
    **open_args: Any,
) -> Iterator[IO[Any]]:
    """Open a temporary file beside ``path`` for writing; it becomes ``path`` if the block succeeds.

    ``permissions``: as for :func:`temp_beside`.
    """
    with temp_beside(path, permissions=permissions) as tmp, open(tmp, mode, **open_args) as f:
        yield f


_CHMOD_REFUSED = {errno.EPERM, errno.ENOTSUP, errno.EINVAL}
"""What a file system without Unix permissions (FAT, exFAT, some network shares) answers to a
mode its mount options do not allow."""


def _set_permissions(path: Path, permissions: int | None) -> None:
    """Give ``path`` the mode a new file gets (``0666`` less the umask), or ``permissions``.

    A file system that refuses ``permissions`` (a FAT USB stick allows only its mount's mode)
    keeps the mode it gives: the copy is written, only its permission bits are not the photo's.
    """
    default = 0o666 & ~_UMASK
    try:
        os.chmod(path, default if permissions is None else permissions)
    except OSError as exc:
        if permissions is None or exc.errno not in _CHMOD_REFUSED:
            raise
        with contextlib.suppress(OSError):
            os.chmod(path, default)
