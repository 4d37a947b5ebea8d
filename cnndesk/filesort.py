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
"""

from __future__ import annotations

import contextlib
import csv
import errno
import hashlib
import json
import logging
import os
import shutil
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
)
from cnndesk.paths import UNCERTAIN_FOLDER, unique_folder_names

log = logging.getLogger(__name__)

JOURNAL_DIR = ".cnndesk-sort"
JOURNAL_VERSION = 1
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


class _Journal:
    """An append-only JSON-lines file; every record is flushed and fsync'd before we go on."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file = open(path, "x", encoding="utf-8")  # noqa: SIM115 - closed in close()
        _fsync_dir(path.parent)

    def write(self, record: dict[str, Any], *, sync: bool = True) -> None:
        self._file.write(json.dumps(record, ensure_ascii=False) + "\n")
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
) -> Generator[SortProgress, None, SortResult]:
    """Copy (default) or move each source into ``dest/<class folder>/``; ``None`` → ``_uncertain``.

    ``classes`` are the model's classes in output order; listing them all keeps folder names
    stable between runs (names the decisions use that are not in it are added). Yields a
    :class:`SortProgress` before each file and returns a :class:`SortResult`. Closing the
    generator stops between two files: everything sorted so far stays sorted and undoable.
    A source that cannot be read is reported (status ``failed``) and left in place.
    """
    started = time.perf_counter()
    dest = Path(dest).absolute()
    if dest.exists() and not dest.is_dir():
        raise SortError(f"The destination {dest} exists and is not a folder.")
    names = list(dict.fromkeys([*classes, *(c for _, c in decisions if c is not None)]))
    folders = class_folders(names, dest)
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
                journal = _Journal(_new_journal_path(dest))
                journal.write(
                    {
                        "type": "begin",
                        "version": JOURNAL_VERSION,
                        "mode": "move" if move else "copy",
                        "dest": str(dest),
                        "total": total,
                        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                    }
                )
            except OSError as exc:
                raise SortError(f"Cannot write into {dest}: {exc.strerror or exc}.") from exc
        for i, (source, class_name) in enumerate(decisions):
            src = Path(source).absolute()
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


def _read_journal(
    path: Path,
) -> tuple[dict[str, Any], list[dict[str, Any]], dict[int, dict[str, Any]], list[str]]:
    """``(begin, intents in order, done records by index, folders created)``.

    A last line cut short by a crash is ignored; the file system state decides what was done.
    """
    begin: dict[str, Any] | None = None
    intents: list[dict[str, Any]] = []
    done: dict[int, dict[str, Any]] = {}
    mkdirs: list[str] = []
    with open(path, encoding="utf-8") as f:
        lines = f.read().splitlines()
    for n, line in enumerate(lines):
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            if n == len(lines) - 1:
                log.warning("Ignoring a half-written last line in %s", path)
                continue
            raise SortError(
                f"The sort journal {path} is damaged at line {n + 1}; undo cannot go on."
            ) from None
        kind = record.get("type")
        if kind == "begin":
            begin = record
        elif kind == "intent":
            intents.append(record)
        elif kind == "done":
            done[record["i"]] = record
        elif kind == "mkdir":
            mkdirs.append(record["path"])
    if begin is None or begin.get("version") != JOURNAL_VERSION:
        raise SortError(f"{path} is not a sort journal this version of cnndesk can undo.")
    return begin, intents, done, mkdirs


def undo_sort(dest: str | os.PathLike[str]) -> Generator[SortProgress, None, UndoResult]:
    """Undo the most recent sort into ``dest``, also one a crash interrupted.

    Moved files go back to their old paths (when that path is taken by another file meanwhile,
    beside it as ``name (restored).ext``). Copies are removed when they still match their original
    and the original is still there; otherwise they are kept and listed in ``UndoResult.kept``.
    Empty class folders the sort created are removed. The journal is then renamed ``*.undone``,
    so undoing again undoes the sort before it.
    """
    started = time.perf_counter()
    dest = Path(dest).absolute()
    path = latest_journal(dest)
    if path is None:
        raise SortError(f"There is no sort to undo in {dest} (no journal in {dest / JOURNAL_DIR}).")
    begin, intents, done, mkdirs = _read_journal(path)
    root = dest.resolve()
    restored = removed = 0
    kept: list[RefusedFile] = []
    renamed: list[RefusedFile] = []
    total = len(intents)
    for n, intent in enumerate(reversed(intents)):
        src, dst = Path(intent["src"]), Path(intent["dst"])
        yield SortProgress(n, total, current=str(dst))
        if not dst.resolve().is_relative_to(root):
            kept.append(RefusedFile(str(dst), "not inside the destination; left alone"))
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
        with contextlib.suppress(OSError):  # not empty: something else lives there now
            os.rmdir(folder)
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
    with their reason in ``error``. Existing reports are never overwritten.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    where = {s.source: s for s in sorted_files}
    rows: list[dict[str, Any]] = []
    for p in predictions:
        probs = {s.name: s.p for s in p.top}
        s = where.get(str(Path(p.file).absolute()))
        rows.append(
            {
                "file": p.file,
                "predicted": p.label or "",
                "confidence": round(p.confidence, 6),
                "probabilities": {c: round(probs.get(c, 0.0), 6) for c in classes} if p.top else {},
                "destination": s.destination if s else None,
                "status": s.status if s else ("unreadable" if p.error else "classified"),
                "error": p.error or (s.error if s else None),
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
                *(f"p_{c}" for c in classes),
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
                    *(r["probabilities"].get(c, "") for c in classes),
                    r["destination"] or "",
                    r["status"],
                    r["error"] or "",
                ]
            )
    json_path = _unique_path(folder, stem, ".json")
    with open(json_path, "x", encoding="utf-8") as f:
        json.dump(
            {"classes": list(classes), "threshold": threshold, "files": rows},
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
