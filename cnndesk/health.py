"""The data-health audit job: the library's images, the current model's embeddings, the findings.

:func:`audit_job` joins the library and ``ml`` (like :mod:`cnndesk.jobs`): it embeds every
readable image with the model's backbone (cached: a second audit embeds only new images),
cross-validates quick mode's head over the labeled ones for out-of-fold probabilities, and hands
arrays to :mod:`cnndesk.ml.audit`, whose row indices it turns back into files, labels and
splits. Labels the user kept after review (``Library.keep_labels``) are not flagged again.
"""

from __future__ import annotations

import time
from collections.abc import Generator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cnndesk.domain import DatasetError, ImageQuery, ImageRecord, ImageStatus, Progress


@dataclass(frozen=True, slots=True)
class LabelFinding:
    image_id: int
    file: str
    label: str
    suggested: str
    score: float


@dataclass(frozen=True, slots=True)
class DuplicateFinding:
    image_ids: tuple[int, ...]
    files: tuple[str, ...]
    splits: tuple[str, ...]
    similarity: float

    @property
    def leaks(self) -> bool:
        """The group straddles train/val/test: the same picture is trained on and tested on."""
        return len(set(self.splits)) > 1


@dataclass(frozen=True, slots=True)
class OutlierFinding:
    image_id: int
    file: str
    reason: str


@dataclass(frozen=True, slots=True)
class BalanceFinding:
    class_name: str
    count: int
    reason: str


@dataclass(frozen=True, slots=True)
class AuditReport:
    label_issues: tuple[LabelFinding, ...]
    """Worst first."""
    near_duplicates: tuple[DuplicateFinding, ...]
    outliers: tuple[OutlierFinding, ...]
    class_balance: tuple[BalanceFinding, ...]
    model_path: str
    images: int
    labeled: int
    cv_accuracy: float | None
    seconds: float
    cv_images: int = 0
    """How many labeled images the label check cross-validated (0: none, or not recorded)."""
    cv_correct: int = 0
    """Of those, how many the audit's quick head predicted as labeled, out of fold."""
    cv_folds: int = 0
    """How many folds that cross-validation used."""

    def as_json(self) -> dict[str, Any]:
        return {
            "label_issues": [
                {"file": f.file, "label": f.label, "suggested": f.suggested, "score": f.score}
                for f in self.label_issues
            ],
            "near_duplicates": [
                {"files": list(f.files), "splits": list(f.splits), "similarity": f.similarity}
                for f in self.near_duplicates
            ],
            "outliers": [{"file": f.file, "reason": f.reason} for f in self.outliers],
            "class_balance": [
                {"class": f.class_name, "count": f.count, "reason": f.reason}
                for f in self.class_balance
            ],
        }


FINDING_KINDS = ("labels", "duplicates", "outliers", "balance")
"""The Data health pane's tabs, in order."""


def label_check_text(report: AuditReport) -> str:
    """What the audit's label check found and what it rests on, e.g. "Label check: the audit's
    own quick head agrees with 95.0 % of the 398 labels (95 % CI 92.4–96.8 %, 5-fold
    cross-validation), a check of the labels, not the trained model's accuracy (see Evaluate)."

    The check fits :data:`cnndesk.ml.audit.AUDIT_HEAD` on cached embeddings, not the trained
    model, so its figure differs from Evaluate's and must not pass for it."""
    from cnndesk import heldout

    if report.cv_accuracy is None:
        return (
            f"No label check: it needs 2 classes with labeled images and at least 4 labeled"
            f" images ({report.labeled} labeled)."
        )
    n = report.cv_images or report.labeled
    correct = report.cv_correct if report.cv_images else round(report.cv_accuracy * n)
    lo, hi = heldout.wilson(correct, n)
    folds = f", {report.cv_folds}-fold cross-validation" if report.cv_folds else ""
    return (
        f"Label check: the audit's own quick head agrees with {100 * report.cv_accuracy:.1f} %"
        f" of the {n} labels (95 % CI {100 * lo:.1f}–{100 * hi:.1f} %{folds}), a check of the"
        " labels, not the trained model's accuracy (see Evaluate)."
    )


def summary_text(report: AuditReport) -> str:
    """The Data health pane's summary: what was audited, what was found, the label check."""
    leaks = sum(1 for d in report.near_duplicates if d.leaks)
    return (
        f"{report.images} images, {report.labeled} labeled: "
        f"{len(report.label_issues)} likely label errors, "
        f"{len(report.near_duplicates)} duplicate groups ({leaks} across splits), "
        f"{len(report.outliers)} odd images. {label_check_text(report)}"
    )


def empty_findings_text(report: AuditReport | None, kind: str) -> str:
    """What an empty findings list says: none found, and on what; before any audit, what to do.

    Where the audit did find some, the list was emptied by hand (accepted, kept, one split)."""
    found = {
        "labels": len(report.label_issues),
        "duplicates": len(report.near_duplicates),
        "outliers": len(report.outliers),
        "balance": len(report.class_balance),
    }[kind] if report is not None else 0  # fmt: skip
    if found:
        which = "The one finding" if found == 1 else f"All {found} findings"
        verb = "is" if found == 1 else "are"
        return f"{which} the audit made here {verb} dealt with; run it again to check anew."
    if report is None:
        what = {
            "labels": "likely label errors",
            "duplicates": "near-duplicate images",
            "outliers": "odd images",
            "balance": "classes with too few images",
        }[kind]
        return f"No audit yet: press Run audit to look for {what} (it uses the newest model)."
    if kind == "labels":
        if report.cv_accuracy is None:
            return label_check_text(report)
        return (
            f"No likely label errors among the {report.cv_images or report.labeled} labeled images."
        )
    if kind == "duplicates":
        return f"No near-duplicates among the {report.images} images audited."
    if kind == "outliers":
        return (
            f"No odd images among the {report.images} images audited (none far from every"
            " class, tiny, uniform, very dark or bright, or of an extreme shape)."
        )
    return (
        f"No class-balance warnings for the {report.labeled} labeled images: no class has too"
        " few, or far fewer than the largest."
    )


def latest_model(library: Any) -> Path | None:
    """The newest run's model folder that still exists."""
    for run in reversed(library.runs()):
        if run.model_path and (Path(run.model_path) / "model.json").is_file():
            return Path(run.model_path)
    return None


def audit_job(
    library: Any,
    *,
    model_dir: str | Path | None = None,
    duplicate_threshold: float | None = None,
    folds: int = 5,
) -> Generator[Progress, None, AuditReport]:
    """Audit the library's data with ``model_dir`` (default: the newest trained model)."""
    import numpy as np

    from cnndesk.domain import TrainingSample
    from cnndesk.ml.embeddings import image_statistics, model_embeddings

    started = time.perf_counter()
    folder = Path(model_dir) if model_dir is not None else latest_model(library)
    if folder is None:
        raise DatasetError(
            "The audit uses a trained model's backbone: train one first (cnndesk train)."
        )
    classes = [c for c in library.classes() if c.count > 0]
    index = {c.id: i for i, c in enumerate(classes)}
    records: list[ImageRecord] = [
        r for r in library.images(ImageQuery()) if r.status == ImageStatus.OK
    ]
    if not records:
        raise DatasetError("The library has no readable images to audit.")
    samples = [
        TrainingSample(r.path, r.sha256, index.get(r.class_id, -1), image_id=r.id) for r in records
    ]
    features, _failed = yield from model_embeddings(folder, samples)
    statistics = yield from image_statistics(samples)
    yield Progress(0, 0, "Cross-validating the labels")
    rows = [i for i, s in enumerate(samples) if s.key in features]
    x = np.stack([features[samples[i].key] for i in rows]) if rows else np.zeros((0, 1))
    labels = np.array([samples[i].label for i in rows], dtype=np.int64)
    label_findings, cv = _label_findings(
        library, x, labels, records=records, rows=rows, classes=classes, folds=folds
    )
    yield Progress(0, 0, "Looking for near-duplicates")
    duplicates = _duplicate_findings(x, records=records, rows=rows, threshold=duplicate_threshold)
    outliers = _outlier_findings(
        x, labels, records=records, rows=rows, samples=samples, statistics=statistics,
        n_classes=len(classes),
    )  # fmt: skip
    counts = [c.count for c in library.classes()]
    names = [c.name for c in library.classes()]
    from cnndesk.ml import audit

    balance = [
        BalanceFinding(names[b.class_index], b.count, b.reason) for b in audit.class_balance(counts)
    ]
    return AuditReport(
        label_issues=tuple(label_findings),
        near_duplicates=tuple(duplicates),
        outliers=tuple(outliers),
        class_balance=tuple(balance),
        model_path=str(folder),
        images=len(records),
        labeled=int((labels >= 0).sum()),
        cv_accuracy=cv.accuracy if cv is not None else None,
        seconds=time.perf_counter() - started,
        cv_images=len(cv.folds) if cv is not None else 0,
        cv_correct=round(cv.accuracy * len(cv.folds)) if cv is not None else 0,
        cv_folds=len(set(cv.folds.tolist())) if cv is not None else 0,
    )


def _label_findings(
    library: Any, x: Any, labels: Any, *, records: list, rows: list, classes: list, folds: int
) -> tuple[list[LabelFinding], Any]:
    """Likely label errors by confident learning on out-of-fold probabilities, without the
    labels a user already kept; and the cross-validation (``None``: too few labels)."""
    import numpy as np

    from cnndesk.ml import audit
    from cnndesk.ml.crossval import cross_validate

    labeled = np.flatnonzero(labels >= 0)
    if len(classes) < 2 or len(labeled) < 4:
        return [], None
    cv = cross_validate(
        x[labeled], labels[labeled], n_classes=len(classes), folds=folds, head=audit.AUDIT_HEAD
    )
    kept = library.kept_labels()
    findings = []
    for issue in audit.label_issues(
        audit.softmax(cv.logits), labels[labeled], n_classes=len(classes)
    ):
        record = records[rows[labeled[issue.index]]]
        if kept.get(record.id) == record.class_id:
            continue
        findings.append(
            LabelFinding(
                record.id,
                record.path,
                classes[issue.given].name,
                classes[issue.suggested].name,
                round(issue.score, 6),
            )
        )
    return findings, cv


def _duplicate_findings(
    x: Any, *, records: list, rows: list, threshold: float | None
) -> list[DuplicateFinding]:
    """Groups of near-identical images, the ones that straddle splits (leakage) first."""
    from cnndesk.ml import audit

    threshold = threshold if threshold is not None else audit.DUPLICATE_THRESHOLD
    duplicates = []
    for group in audit.duplicate_groups(x, threshold=threshold):
        members = [records[rows[i]] for i in group.indices]
        duplicates.append(
            DuplicateFinding(
                tuple(r.id for r in members),
                tuple(r.path for r in members),
                tuple(r.split.value for r in members),
                group.similarity,
            )
        )
    duplicates.sort(key=lambda d: (not d.leaks, -d.similarity))
    return duplicates


def _outlier_findings(
    x: Any, labels: Any, *, records: list, rows: list, samples: list, statistics: dict,
    n_classes: int,
) -> list[OutlierFinding]:  # fmt: skip
    """Images far from every class, and odd ones (tiny, uniform, dark, bright, extreme shape)."""
    import numpy as np

    from cnndesk.ml import audit

    reasons: dict[int, list[str]] = {}
    for i, z in audit.far_from_classes(x, labels, n_classes=n_classes):
        reasons.setdefault(rows[i], []).append(f"far from every class (z = {z:.1f})")
    stats = np.array([statistics.get(s.key, (np.nan, np.nan)) for s in samples], dtype=float)
    odd = audit.odd_images(
        width=np.array([r.width for r in records]),
        height=np.array([r.height for r in records]),
        brightness=stats[:, 0],
        contrast=stats[:, 1],
    )
    for finding in odd:
        reasons.setdefault(finding.index, []).insert(0, finding.reason)
    return [
        OutlierFinding(records[i].id, records[i].path, "; ".join(reasons[i]))
        for i in sorted(reasons)
    ]
