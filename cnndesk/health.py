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
    label_findings, cv_accuracy = _label_findings(
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
        cv_accuracy=cv_accuracy,
        seconds=time.perf_counter() - started,
    )


def _label_findings(
    library: Any, x: Any, labels: Any, *, records: list, rows: list, classes: list, folds: int
) -> tuple[list[LabelFinding], float | None]:
    """Likely label errors by confident learning on out-of-fold probabilities, without the
    labels a user already kept; and the out-of-fold accuracy (``None``: too few labels)."""
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
    return findings, cv.accuracy


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
