"""The signed journal a sort writes into ``DEST/.cnndesk-sort/``, and reading it back for undo.

Every record is a JSON line, flushed and ``fsync``'d, carrying an HMAC-SHA256 chained over the
records before it and keyed with a random per-user key in the data folder (:func:`journal_key`).
:func:`read_journal` trusts a journal only when every record verifies; for any other (copied from
elsewhere, edited, written by an older cnndesk) it raises
:class:`~cnndesk.domain.UntrustedJournalError` listing where undo would have written.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import logging
import os
import secrets
import stat
import tempfile
import time
from pathlib import Path
from typing import Any

from cnndesk.domain import SortError, UntrustedJournalError
from cnndesk.filesort.files import fsync_dir
from cnndesk.outputs import printable
from cnndesk.paths import data_dir

log = logging.getLogger(__name__)

JOURNAL_DIR = ".cnndesk-sort"
JOURNAL_VERSION = 2
"""2: records carry a chained HMAC (``mac``) and ``begin`` lists the source folders."""
KEY_FILE = "sort-journal.key"
_MAC_START = b"cnndesk sort journal 2\n"
_MAX_JOURNAL_BYTES = 1 << 30
_SHOWN_TARGETS = 10


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


class Journal:
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
        fsync_dir(path.parent)

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


def record_report(path: Path, reports: list[Path], *, key: bytes | None = None) -> bool:
    """Append a signed ``report`` record (size and SHA-256) for each report file the sort wrote.

    Undo removes a report only while it is still exactly these bytes. The journal's chain is
    verified first and continued (``key``: default :func:`journal_key`); a journal that does not
    verify, or ends in a half-written line, is left as it is and ``False`` returned (undo then
    keeps the reports, as before).
    """
    key = journal_key() if key is None else key
    try:
        text = _journal_text(path)
    except SortError:
        return False
    previous = _MAC_START
    for line in text.splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            return False
        mac = record.pop("mac", None) if isinstance(record, dict) else None
        if not isinstance(mac, str) or not hmac.compare_digest(mac, _mac(key, previous, record)):
            return False
        previous = mac.encode()
    if previous == _MAC_START or not text.endswith("\n"):
        return False
    try:
        records = [_report_record(p) for p in reports]
        with open(path, "a", encoding="ascii") as f:
            for record in records:
                mac = _mac(key, previous, record)
                previous = mac.encode()
                f.write(json.dumps({**record, "mac": mac}, ensure_ascii=True) + "\n")
            f.flush()
            os.fsync(f.fileno())
    except OSError:
        log.warning("Could not record the report files in %s", path)
        return False
    return True


def _report_record(path: Path) -> dict[str, Any]:
    size, digest = sha256_of(path)
    return {"type": "report", "path": str(path), "size": size, "sha256": digest}


def sha256_of(path: Path) -> tuple[int, str]:
    """``(size, SHA-256 hex)`` of the regular file at ``path`` (not followed through a link)."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
            raise OSError(f"{path} is not a regular file")
        digest = hashlib.sha256()
        size = 0
        while chunk := f.read(1 << 20):
            digest.update(chunk)
            size += len(chunk)
    return size, digest.hexdigest()


def new_journal_path(dest: Path) -> Path:
    folder = dest / JOURNAL_DIR
    folder.mkdir(exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
    n = 1
    while True:
        path = folder / f"sort-{stamp}-{n:03d}.jsonl"
        if not path.exists():
            return path
        n += 1


def latest_journal(dest: str | os.PathLike[str]) -> Path | None:
    """The journal of the most recent sort into ``dest`` that has not been undone, if any."""
    folder = Path(dest) / JOURNAL_DIR
    if not folder.is_dir():
        return None
    journals = sorted(folder.glob("sort-*.jsonl"))
    return journals[-1] if journals else None


def clean_path(value: Any) -> Path | None:
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


def read_journal(
    path: Path, key: bytes
) -> tuple[
    dict[str, Any], list[dict[str, Any]], dict[int, dict[str, Any]], list[str], list[dict[str, Any]]
]:
    """``(begin, intents, done records by index, folders created, reports)``, all verified.

    ``reports`` are the :func:`record_report` records: the report files the sort wrote.

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
        return {"type": "begin", "version": JOURNAL_VERSION, "mode": "move"}, [], {}, [], []
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
    reports: list[dict[str, Any]] = []
    for record in records[1:]:
        kind = record.get("type")
        if kind == "intent":
            intents.append(record)
        elif kind == "done":
            done[record["i"]] = record
        elif kind == "mkdir":
            mkdirs.append(record["path"])
        elif kind == "report":
            reports.append(record)
    return begin, intents, done, mkdirs, reports
