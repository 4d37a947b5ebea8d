"""Re-reading image files to update their status (:func:`check_files`): missing, unreadable, changed.

Nothing is decided forever from one failed read: every check starts again from the file. The
plain check is stat-based: files whose size and mtime are unchanged are not read, except those
not ``ok`` (they get a fresh chance, decoded in full) and those that failed to decode elsewhere
(training). So a file rewritten in place with its size and mtime kept (``touch -r``, a copy tool
preserving times, bit rot) is not noticed. ``verify=True`` (``cnndesk check --verify``) reads and
re-hashes (sha256) every file whatever its stat says, at the cost of reading every byte.
"""

from __future__ import annotations

import os
from collections.abc import Collection, Generator, Iterable, Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, select, update

from cnndesk.domain import CheckResult, ImageError, ImageStatus, Progress, RefusedFile
from cnndesk.imageio import os_error_reason, regular_file_problem
from cnndesk.library.database import read_transaction, write_transaction
from cnndesk.library.imagefile import open_upright, probe
from cnndesk.library.schema import ImageRow
from cnndesk.library.sql import chunks

STEP = 200
"""Images checked (and their updates committed) between two progress events."""
VERIFY_STEP_BYTES = 64 * 1024 * 1024
"""A verifying check also commits and reports once this many bytes (by stored size) were read,
so progress moves and a cancel (between two steps) comes soon on large photos."""
_TITLE = "Checking the library's files"
_VERIFY_TITLE = "Verifying the library's files (sha256 of every byte)"


def check_files(
    engine: Engine,
    image_ids: Iterable[int] | None = None,
    *,
    failed: Collection[int] = (),
    verify: bool = False,
) -> Generator[Progress, None, CheckResult]:
    """Re-read the status of every image (or of ``image_ids``) from its file; a generator.

    A file that is gone becomes ``missing``; one that is not a regular file, is too large or
    cannot be decoded becomes ``unreadable``; one whose size or mtime changed is read again: the
    same content is ``ok`` (a missing or unreadable image comes back), new content is re-hashed
    and marked ``changed`` (label and split kept), unless another image already has that content
    (then this one is ``missing``). Images in ``failed`` that are unchanged become unreadable.

    Without ``verify`` a file whose size and mtime are unchanged is trusted unread. With
    ``verify`` every file is read and hashed, so content rewritten under the same size and mtime
    is found too (with the same outcomes). Progress counts images; updates are committed before
    each progress event, so closing the generator there (a cancel) keeps every status so far.
    """
    rows = _rows(engine, None if image_ids is None else list(dict.fromkeys(image_ids)))
    failed = set(failed)
    total = len(rows)
    title = _VERIFY_TITLE if verify else _TITLE
    counts = dict.fromkeys(("ok", "missing", "unreadable", "changed", "restored"), 0)
    problems: list[RefusedFile] = []
    yield Progress(0, total, title)
    done = 0
    for batch in _batches(rows, verify=verify):
        updates: list[tuple[int, dict[str, Any]]] = []
        for row in batch:
            status, values, reason = _check_row(
                engine, row, decode_failed=row.id in failed, verify=verify
            )
            if status == ImageStatus.OK.value:
                counts["ok"] += 1
                counts["changed"] += bool(values.get("changed"))
                counts["restored"] += row.status != ImageStatus.OK.value
            else:
                counts[status] += 1
                problems.append(RefusedFile(row.path, reason or status))
            if status != row.status or values:
                updates.append((row.id, {"status": status, **values}))
        if updates:
            with write_transaction(engine) as c:
                for image_id, values in updates:
                    c.execute(update(ImageRow).where(ImageRow.id == image_id).values(**values))
        done += len(batch)
        yield Progress(done, total, title)
    return CheckResult(
        checked=total,
        ok=counts["ok"],
        missing=counts["missing"],
        unreadable=counts["unreadable"],
        changed=counts["changed"],
        restored=counts["restored"],
        problems=tuple(problems),
    )


def _batches(rows: list[Any], *, verify: bool) -> Iterator[list[Any]]:
    """The rows in steps of :data:`STEP` images; a verifying check also ends a step after
    :data:`VERIFY_STEP_BYTES` (every file is read then, not only the changed ones)."""
    if not verify:
        for start in range(0, len(rows), STEP):
            yield rows[start : start + STEP]
        return
    batch: list[Any] = []
    size = 0
    for row in rows:
        batch.append(row)
        size += row.size or 0
        if len(batch) >= STEP or size >= VERIFY_STEP_BYTES:
            yield batch
            batch, size = [], 0
    if batch:
        yield batch


def _rows(engine: Engine, image_ids: list[int] | None) -> list[Any]:
    """The stored facts of the images to check, in id order when checking them all."""
    columns = (
        ImageRow.id,
        ImageRow.path,
        ImageRow.sha256,
        ImageRow.size,
        ImageRow.mtime_ns,
        ImageRow.status,
    )
    with read_transaction(engine) as c:
        if image_ids is None:
            return list(c.execute(select(*columns).order_by(ImageRow.id)).all())
        rows: list[Any] = []
        for chunk in chunks(image_ids):
            rows += c.execute(select(*columns).where(ImageRow.id.in_(chunk))).all()
        return rows


def _check_row(
    engine: Engine, row: Any, *, decode_failed: bool, verify: bool
) -> tuple[str, dict[str, Any], str | None]:
    """:func:`_recheck`, and a changed file whose new content another image has is ``missing``."""
    status, values, reason = _recheck(row, decode_failed=decode_failed, verify=verify)
    if status == ImageStatus.OK.value and "sha256" in values:
        with read_transaction(engine) as c:
            owner = c.execute(
                select(ImageRow.path).where(
                    ImageRow.sha256 == values["sha256"], ImageRow.id != row.id
                )
            ).scalar()
        if owner is not None:
            reason = (
                f"its content changed and is now the same as another image in the library ({owner})"
            )
            return ImageStatus.MISSING.value, {}, reason
    return status, values, reason


def _recheck(
    row: Any, *, decode_failed: bool, verify: bool = False
) -> tuple[str, dict[str, Any], str | None]:
    """(status, columns to update, reason) for one image row, from its file as it is now.

    The file is read only when its size or mtime changed, it is not ``ok`` or it failed to
    decode, or ``verify`` is set (then always: read in full and hashed).
    """
    try:
        st = os.stat(row.path)
    except FileNotFoundError:
        return ImageStatus.MISSING.value, {}, "the file is missing (moved or deleted?)"
    except NotADirectoryError:
        return ImageStatus.MISSING.value, {}, "the file is missing (its folder is gone)"
    except (OSError, ValueError) as exc:
        reason = os_error_reason(exc) if isinstance(exc, OSError) else str(exc)
        return ImageStatus.UNREADABLE.value, {}, reason
    problem = regular_file_problem(st)
    if problem is not None:
        return ImageStatus.UNREADABLE.value, {}, problem
    same_stat = (st.st_size, st.st_mtime_ns) == (row.size, row.mtime_ns)
    if same_stat and row.status == ImageStatus.OK.value and not decode_failed and not verify:
        return ImageStatus.OK.value, {}, None
    try:
        probed = probe(Path(row.path))
        if row.status != ImageStatus.OK.value or decode_failed:
            open_upright(row.path, max_side=256)  # a real decode, not only the header
    except ImageError as exc:
        missing = "missing" in str(exc)
        status = ImageStatus.MISSING.value if missing else ImageStatus.UNREADABLE.value
        return status, {}, str(exc)
    values: dict[str, Any] = {
        "size": probed.size,
        "mtime_ns": probed.mtime_ns,
        "width": probed.width,
        "height": probed.height,
        "format": probed.format,
    }
    if probed.sha256 != row.sha256:
        values.update(sha256=probed.sha256, changed=True)
    elif decode_failed:
        return ImageStatus.UNREADABLE.value, {}, "the image cannot be decoded"
    elif verify and (probed.size, probed.mtime_ns) == (row.size, row.mtime_ns):
        values = {}  # verified unchanged: nothing to write (a status change is written anyway)
    return ImageStatus.OK.value, values, None
