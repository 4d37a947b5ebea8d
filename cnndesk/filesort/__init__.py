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
  The report files the sort wrote go too (their size and SHA-256 are in the journal), but only
  while they are still those bytes: a report the user edited or replaced is kept and listed.
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

The package's parts: :mod:`~cnndesk.filesort.sources` (which files), :mod:`~cnndesk.filesort.names`
(safe folder and file names), :mod:`~cnndesk.filesort.files` (verified copies and atomic moves),
:mod:`~cnndesk.filesort.journal` (the signed journal), :mod:`~cnndesk.filesort.sort`,
:mod:`~cnndesk.filesort.undo` and :mod:`~cnndesk.filesort.report`.
"""

from cnndesk.filesort.journal import (
    JOURNAL_DIR,
    JOURNAL_VERSION,
    KEY_FILE,
    journal_key,
    latest_journal,
    record_report,
)
from cnndesk.filesort.names import class_folders
from cnndesk.filesort.report import write_report
from cnndesk.filesort.sort import Decision, sort_files
from cnndesk.filesort.sources import IMAGE_EXTENSIONS, image_files
from cnndesk.filesort.undo import REPORT_CHANGED, undo_sort

__all__ = [
    "IMAGE_EXTENSIONS",
    "JOURNAL_DIR",
    "JOURNAL_VERSION",
    "KEY_FILE",
    "REPORT_CHANGED",
    "Decision",
    "class_folders",
    "image_files",
    "journal_key",
    "latest_journal",
    "record_report",
    "sort_files",
    "undo_sort",
    "write_report",
]
