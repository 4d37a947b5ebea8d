"""Undoing the most recent sort into DEST as a whole, also one that a crash cut short.

Undo reads the latest verified journal and looks at what is actually on disk for each intent, so a
partly applied journal is handled like a complete one. A moved file goes back to where it was, byte
for byte. A copy is removed only when it still matches what was copied and its original is still
there; otherwise it is kept and reported (undo never deletes the last copy of anything). Undo is
idempotent: run it again after a crash and it finishes the job.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Generator
from pathlib import Path
from typing import Any

from cnndesk.domain import RefusedFile, SortError, SortProgress, UndoResult
from cnndesk.filesort import files
from cnndesk.filesort.journal import (
    JOURNAL_DIR,
    clean_path,
    journal_key,
    latest_journal,
    read_journal,
    sha256_of,
)
from cnndesk.filesort.names import claim
from cnndesk.outputs import printable

log = logging.getLogger(__name__)

_UNDONE_SUFFIX = ".undone"
REPORT_CHANGED = "kept: this report was changed since the sort wrote it"
"""The reason in :attr:`UndoResult.kept` for a report file undo left because it was changed."""


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
    src, dst = clean_path(intent.get("src")), clean_path(intent.get("dst"))
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
    Empty class folders the sort created are removed, and so are the report files the sort wrote
    (recorded by :func:`~cnndesk.filesort.journal.record_report`) while they are still the very
    bytes it wrote; a report changed since is kept and listed in ``kept`` with the reason
    :data:`REPORT_CHANGED`. The journal is then renamed ``*.undone``,
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
    begin, intents, done, mkdirs, reports = read_journal(
        path, journal_key() if key is None else key
    )
    roots = [r for r in map(clean_path, begin.get("sources") or []) if r is not None]
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
        tmp = files.tmp_for(dst)
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
    _remove_reports(reports, dest, kept)
    for folder in reversed(mkdirs):
        made = clean_path(folder)
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


def _remove_reports(reports: list[dict[str, Any]], dest: Path, kept: list[RefusedFile]) -> None:
    """Remove the report files the sort wrote, each only while it is still the very same bytes."""
    for record in reports:
        report = clean_path(record.get("path"))
        if report is None or report.parent != dest or not os.path.lexists(report):
            continue  # not one of ours, or the user removed it already
        try:
            same = sha256_of(report) == (record.get("size"), record.get("sha256"))
        except OSError:  # a link or a folder now stands there: not the file the sort wrote
            same = False
        if same and not os.path.islink(report):
            report.unlink()
        else:
            kept.append(RefusedFile(str(report), REPORT_CHANGED))


def _undo_copy(src: Path, dst: Path, record: dict[str, Any] | None, kept: list[RefusedFile]) -> int:
    """Remove one copy if it is still what was copied and its original is still there."""
    if not os.path.lexists(dst):
        return 0
    if not src.is_file():
        kept.append(
            RefusedFile(str(dst), f"kept: its original {src} is gone, so this is the only copy")
        )
        return 0
    dst_hash = files.sha256(dst)
    if record is None and dst_hash[0] == 0 and os.path.getsize(src) > 0:
        dst.unlink()  # the empty placeholder claimed just before a crash
        return 0
    recorded = record.get("sha256") if record is not None else None
    if dst_hash == files.sha256(src) and recorded in (None, dst_hash[1]):
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
    files.tmp_for(src).unlink(missing_ok=True)
    src_there, dst_there = os.path.lexists(src), os.path.lexists(dst)
    if not dst_there:
        if not src_there:
            kept.append(RefusedFile(str(src), f"missing: it is neither at {dst} nor back at {src}"))
        return 0  # never moved, or already put back
    if src_there:
        if files.same_content(src, dst):
            # A crash after a verified copy and before the source was removed: the source is the
            # original, the copy goes.
            dst.unlink()
            return 0
        if record is None and os.path.getsize(dst) == 0:
            dst.unlink()  # the placeholder claimed just before a crash; the source is untouched
            return 0
        if os.path.getsize(src) == 0:
            # The placeholder of an undo that a crash cut short (the moved file is not empty).
            files.transfer(dst, src, move=True)
            return 1
        target = claim(src.parent, src.name, word="restored")
        files.transfer(dst, target, move=True)
        renamed.append(
            RefusedFile(str(target), f"put back beside {src.name}, which another file now uses")
        )
        return 1
    src.parent.mkdir(parents=True, exist_ok=True)
    target = claim(src.parent, src.name)
    if target != src:  # a file appeared at src this very moment
        renamed.append(
            RefusedFile(str(target), f"put back beside {src.name}, which another file now uses")
        )
    files.transfer(dst, target, move=True)
    return 1
