"""Sorting files into class folders, crash-safely, and undoing a sort as a whole.

This module owns what a batch sort writes into its destination folder ``DEST``: the class folders
and the files in them, the journal that makes a sort undoable, and the CSV/JSON report. It uses
the standard library only; it gets decisions, never a model: a list of ``(source path, class name
| None)`` where ``None`` means "uncertain" (the caller applies the confidence threshold).

Guarantees, and how they are kept:

- **Nothing is written outside DEST.** Class names become folder names through
  :func:`cnndesk.paths.unique_folder_names`; every folder is then checked with
  ``Path.resolve().is_relative_to(DEST)`` and a folder that is a symbolic link is refused.
- **Nothing is overwritten.** A file's name in its class folder is claimed with an exclusive create
  (``O_EXCL``) before anything is copied or moved; on a collision the name gets `` (2)``,
  `` (3)``... before its extension.
- **Nothing is lost.** Before touching a file, the sort appends an ``intent`` record to a journal
  in ``DEST/.cnndesk-sort/`` (JSON lines, flushed and ``fsync``'d). Within one filesystem a move is
  one atomic rename. Across filesystems, and for every copy, the bytes go to a temporary file
  beside the target, are ``fsync``'d, read back and compared (size and SHA-256) with what was read
  from the source, and only then renamed into place; a moved source is removed after that.
- **Only this installation's journals are undone.** Every journal record carries an HMAC-SHA256
  chained over the records before it, keyed with a random per-user key in the data folder
  (:func:`journal_key`). Undo trusts a journal only when every record verifies; for any other
  (copied from elsewhere, edited, written by an older cnndesk) it refuses and lists where it
  would have written. Even a verified journal only ever moves files from inside DEST (not
  through a link) back into the source folders that sort read (recorded in the journal).
- **A sort can be undone**, also after a crash part-way: :func:`undo_sort` reads the latest
  journal and looks at what is actually on disk for each intent, so a partly applied journal is
  handled like a complete one. A moved file goes back to where it was, byte for byte. A copy is
  removed only when it still matches what was copied and its original is still there; a copy that
  was changed since, or whose original is gone, is kept and reported (undo never deletes the last
  copy of anything). Undo is idempotent: run it again after a crash and it finishes the job.
- **A crash** leaves at most one stray thing that undo does not know about: the empty file that
  claims a name, if the crash falls between claiming it and journaling the file (the journal
  line is written right after). Every file is always at its source or at its journaled
  destination, so nothing is lost.
- **A full disk** stops the sort with a :class:`~cnndesk.domain.SortError` saying how far it got;
  the file in flight is left at its source, everything already sorted stays sorted and undoable.

A dry run writes nothing at all: it only plans where each file would go (the caller may write the
report).

File names that are not valid UTF-8 are sorted and undone like any other: the journal stores
them as JSON ``\\udcXX`` escapes (Python's ``surrogateescape``), which read back to the very same
bytes; the report shows such bytes as ``\\xff`` (:func:`cnndesk.outputs.printable`).
"""

from __future__ import annotations

import contextlib
import csv
import errno
import hashlib
import hmac
import json
import logging
import os
import secrets
import shutil
import stat
import tempfile
import time
from collections.abc import Generator, Iterable, Sequence
from pathlib import Path
from typing import Any

from cnndesk.domain import (
    Prediction,
    RefusedFile,
    SortedFile,
    SortError,
    SortProgress,
    SortResult,
    UndoResult,
    UntrustedJournalError,
)
from cnndesk.outputs import printable
from cnndesk.paths import UNCERTAIN_FOLDER, data_dir, unique_folder_names

log = logging.getLogger(__name__)

JOURNAL_DIR = ".cnndesk-sort"
JOURNAL_VERSION = 2
"""2: records carry a chained HMAC (``mac``) and ``begin`` lists the source folders."""
KEY_FILE = "sort-journal.key"
_MAC_START = b"cnndesk sort journal 2\n"
_MAX_JOURNAL_BYTES = 1 << 30
_SHOWN_TARGETS = 10
_UNDONE_SUFFIX = ".undone"
_CHUNK = 1 << 20
_DISK_FULL = {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)}

Decision = tuple[str | os.PathLike[str], str | None]


# ------------------------------------------------------------------------------- small helpers


def _fsync_dir(path: Path) -> None:
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


def _sha256(path: Path) -> tuple[int, str]:
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return size, digest.hexdigest()


def _same_content(a: Path, b: Path) -> bool:
    try:
        if os.path.getsize(a) != os.path.getsize(b):
            return False
        return _sha256(a) == _sha256(b)
    except OSError:
        return False


def _numbered(name: str, n: int, *, word: str = "") -> str:
    """``photo.jpg`` → ``photo (2).jpg`` (or ``photo (restored 2).jpg`` with ``word``)."""
    stem, dot, ext = name.rpartition(".")
    if not stem:  # no extension, or a dotfile such as ".hidden"
        stem, dot, ext = name, "", ""
    tag = f"{word} {n}" if word and n > 1 else (word or str(n))
    return f"{stem} ({tag}){dot}{ext}"


def _claim(folder: Path, name: str, *, word: str = "") -> Path:
    """Create an empty file with a name no other file in ``folder`` has, and return its path.

    The exclusive create is what makes "never overwrite" hold even if another program writes into
    the folder at the same time.
    """
    n = 1
    while True:
        candidate = _numbered(name, n, word=word) if word or n > 1 else name
        n += 1
        path = folder / candidate
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            continue
        os.close(fd)
        return path


def _plan_name(folder: Path, name: str, taken: set[str]) -> Path:
    """Like :func:`_claim` without creating anything (dry runs)."""
    n = 1
    while True:
        candidate = name if n == 1 else _numbered(name, n)
        n += 1
        if candidate.casefold() in taken or os.path.lexists(folder / candidate):
            continue
        return folder / candidate


def _copy_verified(src: Path, tmp: Path) -> tuple[int, str]:
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
        written = _sha256(tmp)
        if written != (size, digest.hexdigest()):
            raise SortError(
                f"The copy of {src} does not match the original (size or checksum differs); the "
                "original was left untouched. Check the destination disk."
            )
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return size, digest.hexdigest()


def _tmp_for(path: Path) -> Path:
    """The temporary name a copy to ``path`` is written under (short: any name length works)."""
    digest = hashlib.sha256(path.name.encode("utf-8", "surrogateescape")).hexdigest()[:16]
    return path.with_name(f".cnndesk-{digest}.tmp")


def _same_filesystem(path: Path, folder: Path) -> bool:
    return os.stat(path).st_dev == os.stat(folder).st_dev


def _transfer(src: Path, dst: Path, *, move: bool) -> dict[str, Any]:
    """Put ``src``'s bytes at ``dst`` (an empty file this process claimed), keeping or removing ``src``.

    Within one filesystem a move is a single atomic rename over the claimed placeholder. Otherwise
    the bytes go through a verified temporary copy (see :func:`_copy_verified`), which is renamed
    over the placeholder; a moved source is removed only after that rename is durable.
    Returns what the journal's ``done`` record should carry.
    """
    if move:
        try:
            if _same_filesystem(src, dst.parent):
                os.replace(src, dst)
                return {"how": "rename"}
        except OSError as exc:
            if exc.errno != errno.EXDEV:
                raise
    tmp = _tmp_for(dst)
    try:
        size, sha = _copy_verified(src, tmp)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    os.replace(tmp, dst)
    if move:
        _fsync_dir(dst.parent)
        os.unlink(src)
    return {"how": "copy", "size": size, "sha256": sha}


def _is_disk_full(exc: BaseException) -> bool:
    return isinstance(exc, OSError) and exc.errno in _DISK_FULL


def journal_key(folder: Path | None = None) -> bytes:
    """This installation's journal key (32 random bytes), created on first use.

    It lives in ``folder`` (default: the data folder) as ``sort-journal.key``, mode 0600,
    written under a temporary name and linked into place, so two processes starting at once
    agree on one key and nobody ever reads half a key.
    """
    folder = data_dir() if folder is None else Path(folder)
    path = folder / KEY_FILE
    for _ in range(3):
        try:
            text = path.read_text(encoding="ascii").strip()
        except FileNotFoundError:
            _create_key(path)
            continue
        except (OSError, UnicodeDecodeError) as exc:
            raise SortError(f"Cannot read the sort journal key {path}: {exc}.") from exc
        try:
            key = bytes.fromhex(text)
        except ValueError:
            key = b""
        if len(key) != 32:
            raise SortError(
                f"The sort journal key {path} is damaged. Delete it to make a new one (sorts made "
                "with the old key can then no longer be undone by cnndesk)."
            )
        return key
    raise SortError(f"Cannot create the sort journal key {path}.")


def _create_key(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".sort-journal-", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="ascii") as f:  # mkstemp: mode 0600
            f.write(secrets.token_hex(32) + "\n")
            f.flush()
            os.fsync(f.fileno())
        try:
            os.link(tmp, path)  # fails if another process made the key first: keep theirs
        except FileExistsError:
            pass
        except OSError:  # no hard links on this file system
            with contextlib.suppress(FileExistsError):
                fd2 = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd2, "w", encoding="ascii") as f:
                    f.write(Path(tmp).read_text(encoding="ascii"))
                    os.fsync(f.fileno())
    finally:
        with contextlib.suppress(OSError):
            os.unlink(tmp)


def _canonical(record: dict[str, Any]) -> bytes:
    return json.dumps(record, ensure_ascii=True, sort_keys=True, separators=(",", ":")).encode()


def _mac(key: bytes, previous: bytes, record: dict[str, Any]) -> str:
    return hmac.new(key, previous + _canonical(record), hashlib.sha256).hexdigest()


class _Journal:
    """An append-only JSON-lines file; every record is flushed and fsync'd before we go on.

    Each record gets ``mac``: HMAC-SHA256 under :func:`journal_key` over the previous record's
    MAC and this record, so records can be neither changed, forged, reordered nor dropped in
    the middle. Lines are ASCII (``ensure_ascii``): names that are not UTF-8 round-trip exactly.
    """

    def __init__(self, path: Path, key: bytes) -> None:
        self.path = path
        self._key = key
        self._previous = _MAC_START
        self._file = open(path, "x", encoding="ascii")  # noqa: SIM115 - closed in close()
        _fsync_dir(path.parent)

    def write(self, record: dict[str, Any], *, sync: bool = True) -> None:
        mac = _mac(self._key, self._previous, record)
        self._previous = mac.encode()
        self._file.write(json.dumps({**record, "mac": mac}, ensure_ascii=True) + "\n")
        self._file.flush()
        if sync:
            os.fsync(self._file.fileno())

    def close(self) -> None:
        if not self._file.closed:
            self._file.close()


def _new_journal_path(dest: Path) -> Path:
    folder = dest / JOURNAL_DIR
    folder.mkdir(exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
    n = 1
    while True:
        path = folder / f"sort-{stamp}-{n:03d}.jsonl"
        if not path.exists():
            return path
        n += 1


# ------------------------------------------------------------------------------------- sources

IMAGE_EXTENSIONS = frozenset(
    {".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp"}
)
"""File types a batch classification looks at (the same as the library imports)."""


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


# ---------------------------------------------------------------------------------------- sort


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


def sort_files(
    decisions: Sequence[Decision],
    dest: str | os.PathLike[str],
    *,
    classes: Sequence[str] = (),
    move: bool = False,
    dry_run: bool = False,
    sources: Sequence[str | os.PathLike[str]] | None = None,
    key: bytes | None = None,
) -> Generator[SortProgress, None, SortResult]:
    """Copy (default) or move each source into ``dest/<class folder>/``; ``None`` → ``_uncertain``.

    ``classes`` are the model's classes in output order; listing them all keeps folder names
    stable between runs (names the decisions use that are not in it are added). ``sources``
    are the folders (or files) the sort read, recorded in the journal: undo puts files back
    only inside them (default: the folders of the decisions' files). ``key`` signs the journal
    (default: :func:`journal_key`). Yields a
    :class:`SortProgress` before each file and returns a :class:`SortResult`. Closing the
    generator stops between two files: everything sorted so far stays sorted and undoable.
    A source that cannot be read is reported (status ``failed``) and left in place.
    """
    started = time.perf_counter()
    dest = Path(os.path.normpath(Path(dest).absolute()))
    if dest.exists() and not dest.is_dir():
        raise SortError(f"The destination {dest} exists and is not a folder.")
    names = list(dict.fromkeys([*classes, *(c for _, c in decisions if c is not None)]))
    folders = class_folders(names, dest)
    roots = _source_roots(decisions, sources)
    total = len(decisions)
    results: list[SortedFile] = []
    journal: _Journal | None = None
    taken: dict[Path, set[str]] = {}
    placed = 0  # files copied or moved so far
    complete = False
    try:
        if not dry_run:
            try:
                dest.mkdir(parents=True, exist_ok=True)
                journal = _Journal(_new_journal_path(dest), journal_key() if key is None else key)
                journal.write(
                    {
                        "type": "begin",
                        "version": JOURNAL_VERSION,
                        "id": secrets.token_hex(16),
                        "mode": "move" if move else "copy",
                        "dest": str(dest),
                        "sources": [str(r) for r in roots],
                        "total": total,
                        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                    }
                )
            except OSError as exc:
                raise SortError(f"Cannot write into {dest}: {exc.strerror or exc}.") from exc
        for i, (source, class_name) in enumerate(decisions):
            src = Path(os.path.normpath(Path(source).absolute()))
            yield SortProgress(i, total, current=str(src))
            folder = folders[class_name]
            if dry_run:
                used = taken.setdefault(folder, set())
                target = _plan_name(folder, src.name, used)
                used.add(target.name.casefold())
                results.append(
                    SortedFile(str(src), str(target), folder.name, class_name, "planned")
                )
                continue
            assert journal is not None
            outcome = _sort_one(
                src,
                folder,
                class_name,
                index=i,
                move=move,
                journal=journal,
                done=placed,
                total=total,
            )
            placed += outcome.destination is not None
            results.append(outcome)
        complete = True
    finally:
        if journal is not None:
            try:
                journal.write({"type": "end", "complete": complete, "sorted": len(results)})
            except OSError:
                log.warning("Could not write the end of the sort journal %s", journal.path)
            journal.close()
            for folder in {folders[c] for _, c in decisions[: len(results)]}:
                _fsync_dir(folder)
    seconds = time.perf_counter() - started
    return SortResult(
        dest=str(dest),
        move=move,
        dry_run=dry_run,
        files=tuple(results),
        journal=str(journal.path) if journal is not None else None,
        complete=complete,
        seconds=seconds,
    )


def _source_roots(
    decisions: Sequence[Decision], sources: Sequence[str | os.PathLike[str]] | None
) -> list[Path]:
    """The folders undo may put files back into; every decision's file must be inside one."""
    if sources is None:
        roots = sorted({Path(src).absolute().parent for src, _ in decisions})
    else:
        roots = [Path(r).absolute() for r in sources]
        roots = [r.parent if r.is_file() else r for r in roots]
    roots = [Path(os.path.normpath(r)) for r in roots]
    for src, _ in decisions:
        path = Path(os.path.normpath(Path(src).absolute()))
        if not any(path.is_relative_to(r) for r in roots):
            raise SortError(f"{printable(path)} is not inside the folders being sorted.")
    return roots


def _sort_one(
    src: Path,
    folder: Path,
    class_name: str | None,
    *,
    index: int,
    move: bool,
    journal: _Journal,
    done: int,
    total: int,
) -> SortedFile:
    """Sort one file; raises :class:`SortError` only when the sort as a whole must stop."""
    op = "move" if move else "copy"
    if not src.is_file():
        reason = "it no longer exists" if not os.path.lexists(src) else "it is not a regular file"
        return SortedFile(
            str(src), None, folder.name, class_name, "failed", f"not sorted: {reason}"
        )
    target: Path | None = None
    try:
        if not folder.is_dir():
            folder.mkdir()
            journal.write({"type": "mkdir", "path": str(folder)})
        target = _claim(folder, src.name)
        journal.write({"type": "intent", "i": index, "op": op, "src": str(src), "dst": str(target)})
        record = _transfer(src, target, move=move)
    except BaseException as exc:
        # The source is untouched unless _transfer returned; drop the empty placeholder we claimed.
        placeholder = target is not None and os.path.lexists(target) and src.exists()
        if placeholder and os.path.getsize(target) == 0:
            target.unlink(missing_ok=True)
        if _is_disk_full(exc):
            raise SortError(
                f"The destination disk is full: {done} of {total} files were sorted and nothing "
                f"was lost ({src} is still where it was). Free some space and sort again, or undo "
                f"this sort with: cnndesk sort --undo {journal.path.parent.parent}"
            ) from exc
        if isinstance(exc, OSError):
            reason = f"not sorted: {exc.strerror or exc}"
            return SortedFile(str(src), None, folder.name, class_name, "failed", reason)
        raise
    try:
        journal.write({"type": "done", "i": index, **record}, sync=False)
    except OSError:  # informational only: undo looks at the files themselves
        log.warning("Could not record in %s that %s was sorted", journal.path, src)
    status = "moved" if move else "copied"
    return SortedFile(str(src), str(target), folder.name, class_name, status)


# ---------------------------------------------------------------------------------------- undo


def latest_journal(dest: str | os.PathLike[str]) -> Path | None:
    """The journal of the most recent sort into ``dest`` that has not been undone, if any."""
    folder = Path(dest) / JOURNAL_DIR
    if not folder.is_dir():
        return None
    journals = sorted(folder.glob("sort-*.jsonl"))
    return journals[-1] if journals else None


def _clean_path(value: Any) -> Path | None:
    """``value`` as an absolute path without ``..`` or doubled separators, else ``None``."""
    if not isinstance(value, str) or not value or "\x00" in value:
        return None
    if not os.path.isabs(value) or os.path.normpath(value) != value:
        return None
    return Path(value)


def _journal_text(path: Path) -> str:
    """The journal's text: a regular file (not a link, a FIFO or a device), at most 1 GiB."""
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        raise SortError(f"Cannot read the sort journal {printable(path)}: {exc.strerror}.") from exc
    with os.fdopen(fd, "rb") as f:
        info = os.fstat(f.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise SortError(f"The sort journal {printable(path)} is not a regular file.")
        if info.st_size > _MAX_JOURNAL_BYTES:
            raise SortError(
                f"The sort journal {printable(path)} is too large to be one (over 1 GiB)."
            )
        return f.read(_MAX_JOURNAL_BYTES + 1).decode("utf-8", "surrogateescape")


def _untrusted(path: Path, lines: list[str], problem: str) -> UntrustedJournalError:
    """The refusal for a journal that does not verify, listing where undo would have written."""
    targets: list[str] = []
    seen: set[str] = set()
    for line in lines:
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if not isinstance(record, dict) or record.get("type") != "intent":
            continue
        where = record.get("dst") if record.get("op") == "copy" else record.get("src")
        if isinstance(where, str) and where not in seen:
            seen.add(where)
            targets.append(where)
    shown = "".join(f"\n  {printable(t)}" for t in targets[:_SHOWN_TARGETS])
    more = len(targets) - _SHOWN_TARGETS
    listing = (
        f" Undo would have written to or deleted {len(targets)} files:{shown}"
        + (f"\n  … and {more} more" if more > 0 else "")
        if targets
        else " It lists no files."
    )
    return UntrustedJournalError(
        f"Refusing to undo with {printable(path)}: {problem}, so it was not written by this "
        "cnndesk installation or was changed since, and nothing was touched."
        f"{listing}\nIf this sort was made on another computer, undo it there; otherwise move "
        f"the journal out of {printable(path.parent)} to undo the sort before it.",
        journal=str(path),
        targets=tuple(targets[:_SHOWN_TARGETS]),
        count=len(targets),
    )


def _read_journal(
    path: Path, key: bytes
) -> tuple[dict[str, Any], list[dict[str, Any]], dict[int, dict[str, Any]], list[str]]:
    """``(begin, intents in order, done records by index, folders created)``, all verified.

    Raises :class:`UntrustedJournalError` unless every record's MAC verifies under ``key``. A last
    line cut short by a crash is ignored; the file system state decides what was done.
    """
    lines = _journal_text(path).splitlines()
    records: list[dict[str, Any]] = []
    previous = _MAC_START
    for n, line in enumerate(lines):
        try:
            record = json.loads(line)
        except ValueError:
            if n == len(lines) - 1:
                log.warning("Ignoring a half-written last line in %s", path)
                continue
            raise _untrusted(path, lines, f"line {n + 1} is damaged") from None
        mac = record.pop("mac", None) if isinstance(record, dict) else None
        if not isinstance(mac, str) or not hmac.compare_digest(mac, _mac(key, previous, record)):
            version = record.get("version") if isinstance(record, dict) else None
            why = (
                "it was written by an older cnndesk that did not sign its journals"
                if n == 0 and version == 1
                else f"line {n + 1} does not carry this installation's signature"
            )
            raise _untrusted(path, lines, why)
        previous = mac.encode()
        records.append(record)
    if not records and len(lines) <= 1:
        # A crash right after the journal was created: the sort had not touched a file yet.
        return {"type": "begin", "version": JOURNAL_VERSION, "mode": "move"}, [], {}, []
    if not records or records[0].get("type") != "begin":
        raise _untrusted(path, lines, "it does not start like a sort journal")
    begin = records[0]
    if begin.get("version") != JOURNAL_VERSION:
        raise SortError(
            f"{printable(path)} is not a sort journal this version of cnndesk can undo."
        )
    intents: list[dict[str, Any]] = []
    done: dict[int, dict[str, Any]] = {}
    mkdirs: list[str] = []
    for record in records[1:]:
        kind = record.get("type")
        if kind == "intent":
            intents.append(record)
        elif kind == "done":
            done[record["i"]] = record
        elif kind == "mkdir":
            mkdirs.append(record["path"])
    return begin, intents, done, mkdirs


def _inside(path: Path, root: Path) -> bool:
    """``path`` is under ``root`` as written and where links lead (its nearest existing folder)."""
    if not path.is_relative_to(root):
        return False
    folder = path.parent
    while not os.path.lexists(folder) and folder != root and folder.is_relative_to(root):
        folder = folder.parent
    return folder.resolve().is_relative_to(root.resolve())


def _refusal(
    intent: dict[str, Any], dest: Path, roots: list[Path]
) -> tuple[Path | None, Path | None, str | None]:
    """``(src, dst, None)`` when undo may act on ``intent``, else why not (as the third item)."""
    src, dst = _clean_path(intent.get("src")), _clean_path(intent.get("dst"))
    if src is None or dst is None or intent.get("op") not in ("copy", "move"):
        return src, dst, "not undone: the journal entry is malformed"
    if not _inside(dst, dest):
        return src, dst, "not undone: it is not inside the destination (or reached through a link)"
    if os.path.islink(dst):
        return src, dst, "not undone: it is a link, not the file that was sorted"
    if intent["op"] == "move" and not any(_inside(src, r) for r in roots):
        return (
            src,
            dst,
            (f"not undone: its old place {printable(src)} is outside the folders the sort read"),
        )
    return src, dst, None


def undo_sort(
    dest: str | os.PathLike[str], *, key: bytes | None = None
) -> Generator[SortProgress, None, UndoResult]:
    """Undo the most recent sort into ``dest``, also one a crash interrupted.

    Raises :class:`~cnndesk.domain.UntrustedJournalError`, before touching anything, when the
    journal does not verify under ``key`` (default: :func:`journal_key`). Entries of a verified
    journal that would take a file from outside ``dest`` (or through a link) or put one back
    outside the folders the sort read are left alone and listed in ``kept``.

    Moved files go back to their old paths (when that path is taken by another file meanwhile,
    beside it as ``name (restored).ext``). Copies are removed when they still match their original
    and the original is still there; otherwise they are kept and listed in ``UndoResult.kept``.
    Empty class folders the sort created are removed. The journal is then renamed ``*.undone``,
    so undoing again undoes the sort before it.
    """
    started = time.perf_counter()
    dest = Path(os.path.normpath(Path(dest).absolute()))
    path = latest_journal(dest)
    if path is None:
        raise SortError(
            f"There is no sort to undo in {printable(dest)} (no journal in "
            f"{printable(dest / JOURNAL_DIR)})."
        )
    begin, intents, done, mkdirs = _read_journal(path, journal_key() if key is None else key)
    roots = [r for r in map(_clean_path, begin.get("sources") or []) if r is not None]
    restored = removed = 0
    kept: list[RefusedFile] = []
    renamed: list[RefusedFile] = []
    total = len(intents)
    for n, intent in enumerate(reversed(intents)):
        src, dst, refused = _refusal(intent, dest, roots)
        yield SortProgress(n, total, current=str(dst))
        if refused is not None or src is None or dst is None:
            kept.append(RefusedFile(str(dst or intent.get("dst")), refused or "not undone"))
            continue
        tmp = _tmp_for(dst)
        if tmp.exists():  # a copy cut short by a crash; its source was never touched
            tmp.unlink()
        record = done.get(intent["i"])
        try:
            if intent["op"] == "copy":
                removed += _undo_copy(src, dst, record, kept)
            else:
                restored += _undo_move(src, dst, record, kept, renamed)
        except OSError as exc:
            raise SortError(
                f"Undo stopped at {dst}: {exc.strerror or exc}. Nothing was lost; fix this and run "
                "the undo again, it continues where it stopped."
            ) from exc
    for folder in reversed(mkdirs):
        made = _clean_path(folder)
        if made is None or made.parent != dest or os.path.islink(made):
            continue
        with contextlib.suppress(OSError):  # not empty: something else lives there now
            os.rmdir(made)
    undone = path.with_name(path.name + _UNDONE_SUFFIX)
    os.replace(path, undone)
    log.info(
        "Undid sort %s (%s mode): %d restored, %d removed", path, begin["mode"], restored, removed
    )
    return UndoResult(
        dest=str(dest),
        journal=str(undone),
        restored=restored,
        removed=removed,
        kept=tuple(kept),
        renamed=tuple(renamed),
        seconds=time.perf_counter() - started,
    )


def _undo_copy(src: Path, dst: Path, record: dict[str, Any] | None, kept: list[RefusedFile]) -> int:
    """Remove one copy if it is still what was copied and its original is still there."""
    if not os.path.lexists(dst):
        return 0
    if not src.is_file():
        kept.append(
            RefusedFile(str(dst), f"kept: its original {src} is gone, so this is the only copy")
        )
        return 0
    dst_hash = _sha256(dst)
    if record is None and dst_hash[0] == 0 and os.path.getsize(src) > 0:
        dst.unlink()  # the empty placeholder claimed just before a crash
        return 0
    recorded = record.get("sha256") if record is not None else None
    if dst_hash == _sha256(src) and recorded in (None, dst_hash[1]):
        dst.unlink()
        return 1
    kept.append(RefusedFile(str(dst), "kept: it no longer matches its original"))
    return 0


def _undo_move(
    src: Path,
    dst: Path,
    record: dict[str, Any] | None,
    kept: list[RefusedFile],
    renamed: list[RefusedFile],
) -> int:
    """Put one moved file back; returns 1 when a file went back."""
    # A temporary copy left by an undo that a crash cut short (moving back across filesystems).
    _tmp_for(src).unlink(missing_ok=True)
    src_there, dst_there = os.path.lexists(src), os.path.lexists(dst)
    if not dst_there:
        if not src_there:
            kept.append(RefusedFile(str(src), f"missing: it is neither at {dst} nor back at {src}"))
        return 0  # never moved, or already put back
    if src_there:
        if _same_content(src, dst):
            # A crash after a verified copy and before the source was removed: the source is the
            # original, the copy goes.
            dst.unlink()
            return 0
        if record is None and os.path.getsize(dst) == 0:
            dst.unlink()  # the placeholder claimed just before a crash; the source is untouched
            return 0
        if os.path.getsize(src) == 0:
            # The placeholder of an undo that a crash cut short (the moved file is not empty).
            _transfer(dst, src, move=True)
            return 1
        target = _claim(src.parent, src.name, word="restored")
        _transfer(dst, target, move=True)
        renamed.append(
            RefusedFile(str(target), f"put back beside {src.name}, which another file now uses")
        )
        return 1
    src.parent.mkdir(parents=True, exist_ok=True)
    target = _claim(src.parent, src.name)
    if target != src:  # a file appeared at src this very moment
        renamed.append(
            RefusedFile(str(target), f"put back beside {src.name}, which another file now uses")
        )
    _transfer(dst, target, move=True)
    return 1


# -------------------------------------------------------------------------------------- report


def write_report(
    predictions: Sequence[Prediction],
    *,
    classes: Sequence[str],
    folder: str | os.PathLike[str],
    sorted_files: Sequence[SortedFile] = (),
    threshold: float | None = None,
    stem: str = "cnndesk-report",
) -> tuple[Path, Path]:
    """Write the batch report as CSV and JSON into ``folder``; returns both paths.

    One row per file: the file, the predicted class, its confidence, every class's probability and,
    when the files were sorted, where each went (or why it did not). Unreadable files are rows too,
    with their reason in ``error``. Existing reports are never overwritten. Names are written
    through :func:`cnndesk.outputs.printable` (bytes that are not UTF-8 read ``\\xff``).
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    where = {s.source: s for s in sorted_files}
    rows: list[dict[str, Any]] = []
    for p in predictions:
        probs = {s.name: s.p for s in p.top}
        s = where.get(str(Path(p.file).absolute()))
        destination = s.destination if s else None
        error = p.error or (s.error if s else None)
        rows.append(
            {
                "file": printable(p.file),
                "predicted": printable(p.label or ""),
                "confidence": round(p.confidence, 6),
                "probabilities": (
                    {printable(c): round(probs.get(c, 0.0), 6) for c in classes} if p.top else {}
                ),
                "destination": printable(destination) if destination else None,
                "status": s.status if s else ("unreadable" if p.error else "classified"),
                "error": printable(error) if error else None,
            }
        )
    csv_path = _unique_path(folder, stem, ".csv")
    with open(csv_path, "x", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(
            [
                "file",
                "predicted",
                "confidence",
                *(f"p_{printable(c)}" for c in classes),
                "destination",
                "status",
                "error",
            ]
        )
        for r in rows:
            writer.writerow(
                [
                    r["file"],
                    r["predicted"],
                    r["confidence"] if r["predicted"] else "",
                    *(r["probabilities"].get(printable(c), "") for c in classes),
                    r["destination"] or "",
                    r["status"],
                    r["error"] or "",
                ]
            )
    json_path = _unique_path(folder, stem, ".json")
    with open(json_path, "x", encoding="utf-8") as f:
        json.dump(
            {"classes": [printable(c) for c in classes], "threshold": threshold, "files": rows},
            f,
            indent=1,
            ensure_ascii=False,
        )
    return csv_path, json_path


def _unique_path(folder: Path, stem: str, suffix: str) -> Path:
    path = folder / f"{stem}{suffix}"
    n = 2
    while path.exists():
        path = folder / f"{stem} ({n}){suffix}"
        n += 1
    return path
