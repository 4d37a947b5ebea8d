"""Re-reading image files to update their status (:func:`check_files`): missing, unreadable, changed.

Nothing is decided forever from one failed read: every check starts again from the file. Files
whose size and mtime are unchanged are not read, except those not ``ok`` (they get a fresh
chance, decoded in full) and those that failed to decode elsewhere (training).
"""

from __future__ import annotations

import os
from collections.abc import Collection, Generator, Iterable
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
_TITLE = "Checking the library's files"


def check_files(
    engine: Engine, image_ids: Iterable[int] | None = None, *, failed: Collection[int] = ()
) -> Generator[Progress, None, CheckResult]:
    """Re-read the status of every image (or of ``image_ids``) from its file; a generator.

    A file that is gone becomes ``missing``; one that is not a regular file, is too large or
    cannot be decoded becomes ``unreadable``; one whose size or mtime changed is read again: the
    same content is ``ok`` (a missing or unreadable image comes back), new content is re-hashed
    and marked ``changed`` (label and split kept), unless another image already has that content
    (then this one is ``missing``). Images in ``failed`` that are unchanged become unreadable.
    """
    rows = _rows(engine, None if image_ids is None else list(dict.fromkeys(image_ids)))
    failed = set(failed)
    total = len(rows)
    counts = dict.fromkeys(("ok", "missing", "unreadable", "changed", "restored"), 0)
    problems: list[RefusedFile] = []
    yield Progress(0, total, _TITLE)
    for start in range(0, total, STEP):
        updates: list[tuple[int, dict[str, Any]]] = []
        for row in rows[start : start + STEP]:
            status, values, reason = _check_row(engine, row, decode_failed=row.id in failed)
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
        yield Progress(min(total, start + STEP), total, _TITLE)
    return CheckResult(
        checked=total,
        ok=counts["ok"],
        missing=counts["missing"],
        unreadable=counts["unreadable"],
        changed=counts["changed"],
        restored=counts["restored"],
        problems=tuple(problems),
    )


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
    engine: Engine, row: Any, *, decode_failed: bool
) -> tuple[str, dict[str, Any], str | None]:
    """:func:`_recheck`, and a changed file whose new content another image has is ``missing``."""
    status, values, reason = _recheck(row, decode_failed=decode_failed)
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


def _recheck(row: Any, *, decode_failed: bool) -> tuple[str, dict[str, Any], str | None]:
    """(status, columns to update, reason) for one image row, from its file as it is now."""
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
    if same_stat and row.status == ImageStatus.OK.value and not decode_failed:
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
    return ImageStatus.OK.value, values, None
