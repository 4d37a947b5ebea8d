"""Reading a user's file safely: only regular files are opened, and reads are bounded.

Every place that reads an image the user pointed at (import, thumbnails, training's pixel cache,
prediction, batch sorting) reads it through :func:`read_file`, so no FIFO, device, socket,
directory or endless file (``x.jpg -> /dev/zero``) is ever read, and no file bigger than
:data:`MAX_FILE_BYTES` is loaded into memory. The check happens on the opened descriptor
(``fstat`` after ``open``), so a file swapped for a FIFO between a ``stat`` and the ``open`` is
refused too; ``O_NONBLOCK`` makes opening a FIFO return at once instead of waiting for a writer.

Stdlib only (both ``cnndesk.library`` and ``cnndesk.ml`` import it; neither may import the other).
"""

from __future__ import annotations

import hashlib
import os
import stat as stat_module
from dataclasses import dataclass
from pathlib import Path

from cnndesk.domain import ImageError

MAX_FILE_BYTES = 256 << 20
"""256 MiB. The largest camera files (a 100-megapixel TIFF or PNG) are 150–300 MB; JPEGs of
the largest sensors are ~60 MB. Past this a file is far more likely to be a mistake (a video,
a disk image, an endless or sparse file) than a photo, and reading it whole would cost that
much memory per decoding thread."""

_OPEN_FLAGS = (
    os.O_RDONLY
    | getattr(os, "O_NONBLOCK", 0)
    | getattr(os, "O_NOCTTY", 0)
    | getattr(os, "O_BINARY", 0)
    | getattr(os, "O_CLOEXEC", 0)
)


@dataclass(frozen=True, slots=True)
class FileBytes:
    """The bytes of one regular file, with the ``fstat`` of the descriptor they were read from."""

    data: bytes
    size: int
    mtime_ns: int
    mode: int
    """The file's permission bits (``st_mode & 0o777``), for a copy that keeps them."""

    def sha256(self) -> str:
        """The content hash cnndesk keys images and every cache by."""
        return hashlib.sha256(self.data).hexdigest()


def _kind(mode: int) -> str:
    if stat_module.S_ISDIR(mode):
        return "a folder"
    if stat_module.S_ISFIFO(mode):
        return "a pipe (FIFO)"
    if stat_module.S_ISCHR(mode) or stat_module.S_ISBLK(mode):
        return "a device"
    if stat_module.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def os_error_reason(exc: OSError) -> str:
    """Why a file could not be opened, in words (for :class:`ImageError` messages)."""
    if isinstance(exc, FileNotFoundError):
        return "the file is missing (moved or deleted?)"
    if isinstance(exc, PermissionError):
        return "permission denied: cnndesk may not read this file"
    if isinstance(exc, IsADirectoryError):
        return "it is a folder, not an image file"
    return f"the file cannot be read: {exc.strerror or exc}"


def regular_file_problem(st: os.stat_result, *, max_bytes: int = MAX_FILE_BYTES) -> str | None:
    """Why a file with this ``stat`` is not read (``None``: it is a regular file small enough)."""
    if not stat_module.S_ISREG(st.st_mode):
        return f"it is {_kind(st.st_mode)}, not an image file"
    if st.st_size > max_bytes:
        return (
            f"the file is too large ({st.st_size / 2**20:,.0f} MB; cnndesk reads images up to "
            f"{max_bytes >> 20} MB)"
        )
    if st.st_size == 0:
        return "the file is empty (0 bytes)"
    return None


def read_file(path: str | os.PathLike[str], *, max_bytes: int = MAX_FILE_BYTES) -> FileBytes:
    """Read a whole regular file of at most ``max_bytes``; raise :class:`ImageError` saying why not.

    Symbolic links are followed (a link to a photo is a photo); what they point at must be a
    regular file. A file that grows past the cap while it is read is refused as well.
    """
    try:
        fd = os.open(os.fspath(path), _OPEN_FLAGS)
    except OSError as exc:
        try:  # a socket (ENXIO) or other special file says more by its kind than by errno
            problem = regular_file_problem(os.stat(path))
        except OSError:
            problem = None
        raise ImageError(problem or os_error_reason(exc)) from exc
    try:
        st = os.fstat(fd)
        problem = regular_file_problem(st, max_bytes=max_bytes)
        if problem is not None:
            raise ImageError(problem)
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        chunks: list[bytes] = []
        total = 0
        while total <= max_bytes:
            chunk = os.read(fd, min(1 << 22, max_bytes + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
        if total > max_bytes:
            raise ImageError(f"the file is too large (it grew past {max_bytes >> 20} MB)")
        if total == 0:
            raise ImageError("the file is empty (0 bytes)")
    except OSError as exc:
        raise ImageError(os_error_reason(exc)) from exc
    finally:
        os.close(fd)
    return FileBytes(
        data=b"".join(chunks), size=total, mtime_ns=st.st_mtime_ns, mode=st.st_mode & 0o777
    )


def file_name_problem(path: str | Path) -> str | None:
    """Why a path cannot be stored in the library (``None``: it can): it must be valid UTF-8.

    On POSIX a file name is bytes; Python shows undecodable bytes as lone surrogates
    (``b'\\xff.jpg'`` → ``'\\udcff.jpg'``), which neither SQLite nor a terminal can take.
    """
    try:
        str(path).encode("utf-8")
    except UnicodeEncodeError:
        return "its name is not valid UTF-8 text (rename the file or folder to import it)"
    return None
