"""Byte-level file operations of a sort and its undo: verified copies, atomic moves, durable renames.

Within one filesystem a move is one atomic rename. Across filesystems, and for every copy, the bytes
go to a temporary file beside the target, are ``fsync``'d, read back and compared (size and SHA-256)
with what was read from the source, and only then renamed into place; a moved source is removed
after that. :mod:`cnndesk.filesort.sort` and :mod:`cnndesk.filesort.undo` call :func:`transfer`
through this module (``files.transfer``), so a test can replace one step here for both.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import shutil
from pathlib import Path
from typing import Any

from cnndesk.domain import SortError

_CHUNK = 1 << 20
_DISK_FULL = {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)}


def fsync_dir(path: Path) -> None:
    """Make a rename or create inside ``path`` durable (a no-op where directories cannot be opened)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def sha256(path: Path) -> tuple[int, str]:
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return size, digest.hexdigest()


def same_content(a: Path, b: Path) -> bool:
    try:
        if os.path.getsize(a) != os.path.getsize(b):
            return False
        return sha256(a) == sha256(b)
    except OSError:
        return False


def copy_verified(src: Path, tmp: Path) -> tuple[int, str]:
    """Copy ``src`` to the new file ``tmp``, fsync it, read it back and compare size and SHA-256.

    Returns ``(size, sha256)``. On any failure ``tmp`` is removed and the error propagates.
    """
    digest = hashlib.sha256()
    size = 0
    try:
        with open(src, "rb") as fin, open(tmp, "xb") as fout:
            while chunk := fin.read(_CHUNK):
                digest.update(chunk)
                size += len(chunk)
                fout.write(chunk)
            fout.flush()
            os.fsync(fout.fileno())
        with contextlib.suppress(OSError):  # timestamps are nice to keep; bytes are what matter
            shutil.copystat(src, tmp)
        written = sha256(tmp)
        if written != (size, digest.hexdigest()):
            raise SortError(
                f"The copy of {src} does not match the original (size or checksum differs); the "
                "original was left untouched. Check the destination disk."
            )
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return size, digest.hexdigest()


def tmp_for(path: Path) -> Path:
    """The temporary name a copy to ``path`` is written under (short: any name length works)."""
    digest = hashlib.sha256(path.name.encode("utf-8", "surrogateescape")).hexdigest()[:16]
    return path.with_name(f".cnndesk-{digest}.tmp")


def same_filesystem(path: Path, folder: Path) -> bool:
    return os.stat(path).st_dev == os.stat(folder).st_dev


def transfer(src: Path, dst: Path, *, move: bool) -> dict[str, Any]:
    """Put ``src``'s bytes at ``dst`` (an empty file this process claimed), keeping or removing ``src``.

    Within one filesystem a move is a single atomic rename over the claimed placeholder. Otherwise
    the bytes go through a verified temporary copy (see :func:`copy_verified`), which is renamed
    over the placeholder; a moved source is removed only after that rename is durable.
    Returns what the journal's ``done`` record should carry.
    """
    if move:
        try:
            if same_filesystem(src, dst.parent):
                os.replace(src, dst)
                return {"how": "rename"}
        except OSError as exc:
            if exc.errno != errno.EXDEV:
                raise
    tmp = tmp_for(dst)
    try:
        size, sha = copy_verified(src, tmp)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    os.replace(tmp, dst)
    if move:
        fsync_dir(dst.parent)
        os.unlink(src)
    return {"how": "copy", "size": size, "sha256": sha}


def is_disk_full(exc: BaseException) -> bool:
    return isinstance(exc, OSError) and exc.errno in _DISK_FULL
