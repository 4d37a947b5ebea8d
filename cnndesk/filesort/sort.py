"""Sorting files into class folders inside DEST, journaled so that the sort can be undone.

The sort gets decisions, never a model: a list of ``(source path, class name | None)`` where
``None`` means "uncertain" (the caller applies the confidence threshold). Before touching a file it
journals an ``intent``; the bytes move through :func:`cnndesk.filesort.files.transfer`. A full disk
stops the sort with a :class:`~cnndesk.domain.SortError` saying how far it got; the file in flight
is left at its source, everything already sorted stays sorted and undoable. A dry run writes nothing.
"""

from __future__ import annotations

import logging
import os
import secrets
import time
from collections.abc import Generator, Sequence
from pathlib import Path

from cnndesk.domain import SortedFile, SortError, SortProgress, SortResult
from cnndesk.filesort import files
from cnndesk.filesort.journal import JOURNAL_VERSION, Journal, journal_key, new_journal_path
from cnndesk.filesort.names import claim, class_folders, plan_name
from cnndesk.outputs import printable

log = logging.getLogger(__name__)

Decision = tuple[str | os.PathLike[str], str | None]


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
    journal: Journal | None = None
    taken: dict[Path, set[str]] = {}
    placed = 0  # files copied or moved so far
    complete = False
    try:
        if not dry_run:
            journal = _open_journal(dest, key=key, move=move, roots=roots, total=total)
        for i, (source, class_name) in enumerate(decisions):
            src = Path(os.path.normpath(Path(source).absolute()))
            yield SortProgress(i, total, current=str(src))
            folder = folders[class_name]
            if dry_run:
                target = plan_name(folder, src.name, taken.setdefault(folder, set()))
                taken[folder].add(target.name.casefold())
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
            _close_journal(journal, complete=complete, sorted_count=len(results))
            for folder in {folders[c] for _, c in decisions[: len(results)]}:
                files.fsync_dir(folder)
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


def _open_journal(
    dest: Path, *, key: bytes | None, move: bool, roots: Sequence[Path], total: int
) -> Journal:
    """Create ``dest`` if needed and a new journal in it, and write its signed ``begin`` record."""
    try:
        dest.mkdir(parents=True, exist_ok=True)
        journal = Journal(new_journal_path(dest), journal_key() if key is None else key)
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
    return journal


def _close_journal(journal: Journal, *, complete: bool, sorted_count: int) -> None:
    """Write the ``end`` record (best effort: undo looks at the files themselves) and close."""
    try:
        journal.write({"type": "end", "complete": complete, "sorted": sorted_count})
    except OSError:
        log.warning("Could not write the end of the sort journal %s", journal.path)
    journal.close()


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
    journal: Journal,
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
        target = claim(folder, src.name)
        journal.write({"type": "intent", "i": index, "op": op, "src": str(src), "dst": str(target)})
        record = files.transfer(src, target, move=move)
    except BaseException as exc:
        # The source is untouched unless transfer returned; drop the empty placeholder we claimed.
        placeholder = target is not None and os.path.lexists(target) and src.exists()
        if placeholder and os.path.getsize(target) == 0:
            target.unlink(missing_ok=True)
        if files.is_disk_full(exc):
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
