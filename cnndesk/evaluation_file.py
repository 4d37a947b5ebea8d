"""Reading a model folder's ``evaluation.json`` strictly, against the model it sits beside.

Every number the Evaluate pane and ``cnndesk evaluate`` show comes from this file, so a file that
was edited or damaged must not be shown as if it were true (``"confusion": [[1]]`` for a model of
two classes read as "100 % on 1 image"). :func:`load_evaluation` checks the file against the
model's classes (``model.json``): the confusion matrix is square with one row per class and holds
counts; the accuracy and the per-class numbers agree with the matrix; each listed prediction is of
a known class, with probabilities, and no matrix cell has fewer images than predictions listed in
it; the calibration's bins add up to its images and its errors to what the bins say. A file that
fails raises :class:`DamagedEvaluation`, which names the file and, in words, what is wrong.

Standard library only (the GUI reads it on the GUI thread).
"""

from __future__ import annotations

import json
import math
import os
import stat
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from cnndesk import heldout
from cnndesk.domain import (
    Calibration,
    ClassMetrics,
    Evaluation,
    ModelError,
    ReliabilityBin,
    SamplePrediction,
)

MAX_EVALUATION_BYTES = 256 << 20
"""``evaluation.json`` lists every evaluated image (about 300 bytes each)."""
TOLERANCE = 1e-3
"""How far a stored fraction may be from the one the matrix gives (below what is shown, 0.1 %)."""
TEMPERATURES = (0.025, 40.0)
"""Half the smallest and twice the largest temperature training fits (``T_RANGE`` in
:mod:`cnndesk.ml.calibration`, which reads ``model.json``'s with the same bounds)."""


class DamagedEvaluation(ModelError):
    """A model folder's ``evaluation.json`` is there but cannot be trusted."""


def _damaged(path: Path, what: str) -> DamagedEvaluation:
    return DamagedEvaluation(
        f"{path} is damaged, so this model's evaluation cannot be trusted: {what}. Train the"
        " model again to measure it (or copy the model folder again from where it came from)."
    )


def _too_large(path: Path, size: int) -> ModelError:
    """Not damaged, perhaps: a model of very many classes evaluated on very many images lists a
    probability of every class for every image. Too large to read, said as that."""
    return ModelError(
        f"{path} is {size >> 20} MiB, more than cnndesk reads ({MAX_EVALUATION_BYTES >> 20} MiB"
        " at most), so its evaluation is not shown; the model itself still predicts."
    )


def is_int(value: Any) -> bool:
    """Whether a JSON value is a whole number (``true`` is not 1 here)."""
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: Any) -> bool:
    """Whether a JSON value is a finite number (not a bool, not NaN or infinity)."""
    return (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and math.isfinite(float(value))
    )


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _fraction(path: Path, value: Any, field: str) -> float:
    if not is_number(value) or not 0 <= value <= 1:
        raise _damaged(path, f"{field} must be a number from 0 to 1, not {_shown(value)}")
    return float(value)


def _count(path: Path, value: Any, field: str) -> int:
    if not is_int(value) or value < 0:
        raise _damaged(path, f"{field} must be a count of images (0 or more), not {_shown(value)}")
    return int(value)


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not a number JSON allows")


def load_evaluation(path: Path, classes: Sequence[str]) -> Evaluation:
    """Read ``path`` (an ``evaluation.json``) and check it against the model's ``classes``."""
    try:
        status = os.stat(path)
        if not stat.S_ISREG(status.st_mode):
            raise _damaged(path, "it is not a regular file")
        if status.st_size > MAX_EVALUATION_BYTES:
            raise _too_large(path, status.st_size)
        with open(path, "rb") as handle:
            data = handle.read(MAX_EVALUATION_BYTES + 1)
    except OSError as exc:
        raise ModelError(f"{path} cannot be read: {exc.strerror or exc}") from exc
    if len(data) > MAX_EVALUATION_BYTES:
        raise _too_large(path, len(data))
    try:
        raw = json.loads(data.decode("utf-8"), parse_constant=_no_constants)
    except UnicodeDecodeError as exc:
        raise _damaged(path, f"it is not UTF-8 text (byte {exc.start})") from None
    except RecursionError:
        raise _damaged(path, "it is nested too deeply") from None
    except ValueError as exc:
        raise _damaged(path, f"it is not valid JSON ({exc})") from None
    return check_evaluation(raw, classes, path)


def check_evaluation(raw: Any, classes: Sequence[str], path: Path) -> Evaluation:
    """An :class:`Evaluation` from decoded ``evaluation.json`` data, or :class:`DamagedEvaluation`."""
    if not isinstance(raw, dict):
        raise _damaged(path, f"it must be a JSON object, not {type(raw).__name__}")
    if raw.get("classes") != list(classes):
        raise _damaged(
            path,
            f"its classes ({_shown(raw.get('classes'))}) are not the model's"
            f" ({_shown(list(classes))}, in model.json)",
        )
    confusion = _confusion(path, raw.get("confusion"), len(classes))
    total = sum(map(sum, confusion))
    correct = sum(row[i] for i, row in enumerate(confusion))
    accuracy = _fraction(path, raw.get("accuracy"), "accuracy")
    expected = correct / total if total else 0.0
    if abs(accuracy - expected) > TOLERANCE:
        raise _damaged(
            path,
            f"accuracy is {accuracy:.1%}, but its confusion matrix has {correct} of {total}"
            f" images right ({expected:.1%})",
        )
    loss = raw.get("loss", 0.0)
    if not is_number(loss) or loss < 0:
        raise _damaged(path, f"loss must be a number of 0 or more, not {_shown(loss)}")
    split = _split(path, raw.get("split", ""), "split")
    cv_images = raw.get("cv_images")
    cv, cv_images = (
        raw.get("cv_accuracy"),
        _count(path, cv_images if cv_images is not None else 0, "cv_images"),
    )
    if cv is not None:
        cv = _fraction(path, cv, "cv_accuracy")
        if cv_images == 0:
            raise _damaged(path, "cv_accuracy is given but cv_images (how many images) is 0")
    return Evaluation(
        split=split,
        classes=tuple(classes),
        accuracy=accuracy,
        loss=float(loss),
        per_class=_per_class(path, raw.get("per_class"), classes, confusion),
        confusion=confusion,
        predictions=_predictions(path, raw, len(classes), confusion),
        calibration=_calibration(path, raw.get("calibration")),
        cv_accuracy=cv,
        cv_images=cv_images,
    )


def _split(path: Path, value: Any, field: str) -> str:
    """Which images were measured on: one of :data:`cnndesk.heldout.ON_WORDS` (or unsaid)."""
    if not isinstance(value, str) or (value != "" and value not in heldout.ON_WORDS):
        names = ", ".join(heldout.ON_WORDS)
        raise _damaged(path, f"{field} must be one of {names}, not {_shown(value)}")
    return str(value)


def _confusion(path: Path, value: Any, n: int) -> tuple[tuple[int, ...], ...]:
    if value is None:
        raise _damaged(path, "it has no confusion matrix (confusion)")
    if not isinstance(value, list) or len(value) != n:
        size = len(value) if isinstance(value, list) else type(value).__name__
        raise _damaged(
            path,
            f"its confusion matrix must have one row per class of the model ({n}), not {size}",
        )
    for i, row in enumerate(value):
        if not isinstance(row, list) or len(row) != n:
            what = f"row {i + 1} of its confusion matrix must hold {n} counts"
            raise _damaged(path, f"{what}, not {_shown(row)}")
        for j, count in enumerate(row):
            _count(path, count, f"confusion[{i}][{j}]")
    return tuple(tuple(int(v) for v in row) for row in value)


def _per_class(
    path: Path, value: Any, classes: Sequence[str], confusion: tuple[tuple[int, ...], ...]
) -> tuple[ClassMetrics, ...]:
    """The stored per-class numbers, each checked against the matrix (recomputed when absent)."""
    n = len(classes)
    computed = []
    for i, name in enumerate(classes):
        tp, support = confusion[i][i], sum(confusion[i])
        predicted_as = sum(confusion[r][i] for r in range(n))
        precision = tp / predicted_as if predicted_as else 0.0
        recall = tp / support if support else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        computed.append(ClassMetrics(name, precision, recall, f1, support))
    if value is None:  # an older file: the matrix says it all
        return tuple(computed)
    if not isinstance(value, list) or len(value) != n:
        raise _damaged(path, f"per_class must list the model's {n} classes, not {_shown(value)}")
    stored = []
    for i, (entry, want) in enumerate(zip(value, computed, strict=True)):
        if not isinstance(entry, dict) or entry.get("name") != want.name:
            what = f"per_class[{i}] must be the class {want.name!r}"
            raise _damaged(path, f"{what}, not {_shown(entry)}")
        support = _count(path, entry.get("support"), f"per_class[{i}].support")
        if support != want.support:
            raise _damaged(
                path,
                f"per_class says {want.name!r} has {support} images, but its confusion matrix"
                f" row has {want.support}",
            )
        numbers = []
        for key in ("precision", "recall", "f1"):
            got = _fraction(path, entry.get(key), f"per_class[{i}].{key}")
            if abs(got - getattr(want, key)) > TOLERANCE:
                raise _damaged(
                    path,
                    f"the {key} of {want.name!r} is {got:.1%}, but its confusion matrix gives"
                    f" {getattr(want, key):.1%}",
                )
            numbers.append(got)
        stored.append(ClassMetrics(want.name, *numbers, support))
    return tuple(stored)


def _predictions(
    path: Path, raw: dict[str, Any], n: int, confusion: tuple[tuple[int, ...], ...]
) -> tuple[SamplePrediction, ...]:
    key = "predictions" if raw.get("predictions") is not None else "misclassified"
    rows = raw.get(key)
    if key == "predictions" and rows == []:  # an older file keeps only the wrong ones
        key, rows = "misclassified", raw.get("misclassified")
    rows = [] if rows is None else rows
    if not isinstance(rows, list):
        raise _damaged(path, f"{key} must be a list, not {type(rows).__name__}")
    out = [_prediction(path, row, f"{key}[{i}]", n) for i, row in enumerate(rows)]
    cells = Counter((p.label, p.predicted) for p in out)
    for (true, predicted), listed in cells.items():
        if listed > confusion[true][predicted]:
            raise _damaged(
                path,
                f"{key} lists {listed} images of class {true + 1} predicted as class"
                f" {predicted + 1}, but its confusion matrix counts"
                f" {confusion[true][predicted]}",
            )
    return tuple(out)


def _prediction(path: Path, row: Any, field: str, n: int) -> SamplePrediction:
    if not isinstance(row, dict):
        raise _damaged(path, f"{field} must be an object, not {_shown(row)}")
    for key in ("label", "predicted"):
        value = row.get(key)
        if not is_int(value) or not 0 <= value < n:
            what = f"{field}.{key} must be a class number from 0 to {n - 1}"
            raise _damaged(path, f"{what}, not {_shown(value)}")
    file, image_id = row.get("path"), row.get("image_id")
    if not isinstance(file, str) or not file:
        raise _damaged(path, f"{field}.path must be the image's file, not {_shown(file)}")
    if image_id is not None and not is_int(image_id):
        raise _damaged(path, f"{field}.image_id must be a whole number, not {_shown(image_id)}")
    probabilities = row.get("probabilities", [])  # older files may leave them out
    if not isinstance(probabilities, list) or len(probabilities) not in (0, n):
        what = f"{field}.probabilities must hold {n} numbers (one per class)"
        raise _damaged(path, f"{what}, not {_shown(probabilities)}")
    for j, p in enumerate(probabilities):
        _fraction(path, p, f"{field}.probabilities[{j}]")
    loss = row.get("loss", 0.0)
    if not is_number(loss) or loss < 0:
        raise _damaged(path, f"{field}.loss must be a number of 0 or more, not {_shown(loss)}")
    key = row.get("key", "")
    return SamplePrediction(
        path=file,
        key=key if isinstance(key, str) else "",
        image_id=image_id,
        label=row["label"],
        predicted=row["predicted"],
        probabilities=tuple(float(p) for p in probabilities),
        loss=float(loss),
    )


def _calibration(path: Path, value: Any) -> Calibration | None:
    if value is None:  # an older file, or a run that measured nothing
        return None
    if not isinstance(value, dict):
        raise _damaged(path, f"calibration must be an object, not {type(value).__name__}")
    temperature = value.get("temperature")
    low, high = TEMPERATURES
    if not is_number(temperature) or not low <= temperature <= high:
        what = f"calibration.temperature must be a number from {low} to {high}"
        raise _damaged(path, f"{what}, not {_shown(temperature)}")
    on = _split(path, value.get("on", ""), "calibration.on")
    images = _count(path, value.get("images"), "calibration.images")
    ece_before, bins_before = _stage(path, value, "before", images)
    ece_after, bins_after = _stage(path, value, "after", images)
    return Calibration(
        float(temperature), on, images, ece_before, ece_after, bins_before, bins_after
    )


def _stage(
    path: Path, value: dict[str, Any], stage: str, images: int
) -> tuple[float, tuple[ReliabilityBin, ...]]:
    """One reliability diagram (before or after scaling): its ECE, checked against its bins."""
    ece = _fraction(path, value.get(f"ece_{stage}"), f"calibration.ece_{stage}")
    bins = _bins(path, value.get(f"bins_{stage}", []), f"calibration.bins_{stage}")
    if not bins:
        return ece, bins
    held = sum(b.count for b in bins)
    if held != images:
        raise _damaged(
            path,
            f"calibration.bins_{stage} hold {held} predictions, but calibration.images says"
            f" {images}",
        )
    gap = sum(b.count / images * abs(b.confidence - b.accuracy) for b in bins) if images else 0.0
    if abs(gap - ece) > TOLERANCE:
        raise _damaged(path, f"calibration.ece_{stage} is {ece:.3f}, but its bins give {gap:.3f}")
    return ece, bins


def _bins(path: Path, value: Any, field: str) -> tuple[ReliabilityBin, ...]:
    if not isinstance(value, list):
        raise _damaged(path, f"{field} must be a list, not {type(value).__name__}")
    out = []
    for i, entry in enumerate(value):
        name = f"{field}[{i}]"
        if not isinstance(entry, dict):
            raise _damaged(path, f"{name} must be an object, not {_shown(entry)}")
        lo, hi = (_fraction(path, entry.get(k), f"{name}.{k}") for k in ("lo", "hi"))
        if lo > hi:
            raise _damaged(path, f"{name} goes from {lo} down to {hi}")
        count = _count(path, entry.get("count"), f"{name}.count")
        confidence = _fraction(path, entry.get("confidence"), f"{name}.confidence")
        accuracy = _fraction(path, entry.get("accuracy"), f"{name}.accuracy")
        out.append(ReliabilityBin(lo, hi, count, confidence, accuracy))
    return tuple(out)
