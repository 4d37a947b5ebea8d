"""What the Evaluate pane says about an evaluation, without Qt: its headline, the most confused
class pairs, one confusion-matrix cell's images and the coverage at a target precision.

This module imports no Qt (a test checks); the pane and its parts (``confusion_matrix``,
``class_metrics``, ``mistakes_gallery``) only put these words and numbers on screen.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cnndesk import heldout
from cnndesk.domain import Calibration, CnndeskError, Evaluation
from cnndesk.model_folder import read_model_info

MOST_CONFUSED_LIMIT = 8
TARGET_PRECISION = 0.95
"""The precision the pane shows the coverage of ("cnndesk predict --target-precision")."""


@dataclass(frozen=True)
class Cell:
    true: int
    predicted: int


def most_confused(evaluation: Evaluation) -> list[tuple[int, int, int]]:
    """``(true, predicted, count)`` for every non-empty off-diagonal cell, largest first."""
    pairs = [
        (t, p, n)
        for t, row in enumerate(evaluation.confusion)
        for p, n in enumerate(row)
        if t != p and n > 0
    ]
    return sorted(pairs, key=lambda cell: (-cell[2], cell[0], cell[1]))


def most_confused_html(evaluation: Evaluation, limit: int = MOST_CONFUSED_LIMIT) -> str:
    """fastai's "most confused": the off-diagonal cells, largest first, as ``true,predicted``
    links."""
    pairs = most_confused(evaluation)[:limit]
    if not pairs:
        return "<b>Most confused</b><br>No class was taken for another."
    lines = [
        f"<a href='{t},{p}'>{evaluation.classes[t]} taken for {evaluation.classes[p]}</a>: {n}"
        for t, p, n in pairs
    ]
    return "<b>Most confused</b><br>" + "<br>".join(lines)


def cell_image_ids(evaluation: Evaluation, cell: Cell) -> tuple[int, ...]:
    """The library ids of the evaluated images in one confusion-matrix cell, highest loss first."""
    hits = [
        p
        for p in evaluation.predictions
        if p.label == cell.true and p.predicted == cell.predicted and p.image_id is not None
    ]
    hits.sort(key=lambda p: p.loss, reverse=True)
    return tuple(int(p.image_id) for p in hits)  # type: ignore[arg-type]


def headline(evaluation: Evaluation, name: str) -> tuple[str, str]:
    """The big figure and the line under it.

    ``("96.2 % ± 2.5 (95 % CI 93.1–98.0 %)", "on 157 validation+test images; m: 6 mistakes.")``,
    with the 5-fold cross-validation figure appended where it was measured besides.
    """
    figure, _, where = evaluation.headline.partition(") on ")
    wrong = evaluation.images - evaluation.correct
    lines = [f"on {where}" if where else "", f"{name}: {wrong} mistakes"]
    if evaluation.cv_accuracy is not None and evaluation.split != "cross-validation":
        correct = round(evaluation.cv_accuracy * evaluation.cv_images)
        lo, hi = heldout.wilson(correct, evaluation.cv_images)
        lines.append(
            f"5-fold cross-validation over all {evaluation.cv_images} labeled images:"
            f" {100 * evaluation.cv_accuracy:.1f} % (95 % CI {100 * lo:.1f}–{100 * hi:.1f} %)"
        )
    title = "; ".join(line for line in lines if line) + "."
    return (figure + ")" if where else figure), title


def metric_cells(evaluation: Evaluation, row: int) -> list[str]:
    """One class's row of the per-class table: name, precision, recall (95 % interval), F1, n."""
    metrics = evaluation.per_class[row]
    lo, hi = evaluation.recall_ci95(row)
    return [
        metrics.name,
        f"{100 * metrics.precision:.1f}%",
        f"{100 * metrics.recall:.1f}% ({100 * lo:.0f}–{100 * hi:.0f})",
        f"{metrics.f1:.3f}",
        str(metrics.support),
    ]


def gallery_heading(evaluation: Evaluation) -> str:
    """The heading over the biggest mistakes: how many, or why none are shown."""
    wrong = sum(
        n for t, row in enumerate(evaluation.confusion) for p, n in enumerate(row) if t != p
    )
    if evaluation.misclassified:
        return f"<b>Biggest mistakes</b> (highest loss first): {len(evaluation.misclassified)}"
    if wrong:
        return "<b>Biggest mistakes</b>: this model was saved without its evaluated images"
    return "<b>Biggest mistakes</b>: none — every evaluated image was right"


def images_on(n: int, on: str) -> str:
    """Which images a confidence figure is measured on: "398 labeled images, out of fold in
    5-fold cross-validation", "153 validation images"."""
    s = "s" if n != 1 else ""
    if on == "cross-validation":
        return f"{n} labeled image{s}, out of fold in {heldout.CV_FOLDS}-fold cross-validation"
    return f"{n} {heldout.ON_WORDS.get(on, on or 'held-out')} image{s}"


def confidence_text(calibration: Calibration) -> str:
    """The Confidence line: the calibration error before and after temperature scaling, and the
    images both are measured on (the ones the temperature was fitted on)."""
    return (
        f"<b>Confidence</b> on {images_on(calibration.images, calibration.on)}: calibration"
        f" error (ECE) {calibration.ece_before:.3f} → {calibration.ece_after:.3f} after"
        f" temperature scaling (T = {calibration.temperature:.2f}, fitted on these images)"
    )


def coverage_text(
    model_dir: str | Path | None,
    target: float = TARGET_PRECISION,
    *,
    shown: Calibration | None = None,
) -> str:
    """ "To be right 95 % of the time it answers 81 % of the 153 validation images" from the
    held-out predictions the model keeps (those its calibration was fitted on); "of these 153
    images" where they are the ones ``shown`` (the Confidence line above it) names."""
    if model_dir is None:
        return ""
    from cnndesk.ml.calibration import NoHeldOutPredictions, threshold_for  # numpy, no torch

    try:
        info = read_model_info(model_dir).raw
    except Exception:  # no model (or a damaged one, which the pane says): nothing to add
        return ""
    try:
        found = threshold_for(info, target)
    except NoHeldOutPredictions:  # an older model keeps no held-out predictions: say nothing
        return ""
    except CnndeskError as exc:  # a damaged calibration entry says so
        return f"No confidence threshold: {exc}"
    calibration = info.get("calibration") or {}
    on = calibration.get("on") if isinstance(calibration.get("on"), str) else ""
    n = len(calibration.get("confidence") or ())
    same = shown is not None and (shown.on, shown.images) == (on, n)
    images = f"these {n} images" if same else f"the {images_on(n, on)}"
    if found.threshold is None:
        return f"No confidence threshold makes it right {target:.0%} of the time on {images}."
    return (
        f"To be right {target:.0%} of the time it answers {found.coverage:.0%} of"
        f" {images} (confidence ≥ {found.threshold:.0%}), the rest “unknown”"
    )
