"""The batch report a classification or sort writes: one CSV and one JSON file, never overwriting."""

from __future__ import annotations

import contextlib
import csv
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from cnndesk.domain import Prediction, SortedFile
from cnndesk.outputs import printable, replacing


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
    through :func:`cnndesk.outputs.printable` (bytes that are not UTF-8 read ``\\xff``). A report
    that cannot be written whole (a full disk) raises :class:`~cnndesk.domain.OutputError` and
    leaves neither file.
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
    # Through a temporary file: a full disk leaves no half report (it says so, as OutputError).
    with replacing(csv_path, newline="", encoding="utf-8") as f:
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
    report = {"classes": [printable(c) for c in classes], "threshold": threshold, "files": rows}
    try:
        json_path = _write_json(_unique_path(folder, stem, ".json"), report)
    except BaseException:  # no half report: the CSV goes too (it is new, _unique_path saw to it)
        with contextlib.suppress(OSError):
            csv_path.unlink()
        raise
    return csv_path, json_path


def _write_json(path: Path, report: dict[str, Any]) -> Path:
    with replacing(path, encoding="utf-8") as f:
        json.dump(report, f, indent=1, ensure_ascii=False)
    return path


def _unique_path(folder: Path, stem: str, suffix: str) -> Path:
    path = folder / f"{stem}{suffix}"
    n = 2
    while path.exists():
        path = folder / f"{stem} ({n}){suffix}"
        n += 1
    return path
