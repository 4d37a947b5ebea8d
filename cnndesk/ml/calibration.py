"""Calibrated confidence: temperature scaling, the reliability diagram, and "unknown" thresholds.

A network trained with cross-entropy is usually over-confident: of the images it calls 99 % sure,
fewer than 99 % are right. Temperature scaling (Guo et al., 2017) divides every logit by one
number ``T`` fitted on held-out predictions to minimise their negative log-likelihood; it never
changes which class wins, only how sure the model says it is. cnndesk fits ``T`` on the
out-of-fold predictions of quick mode's cross-validation, or on the held-out evaluation images,
stores it in ``model.json`` (``temperature``) and divides by it wherever probabilities come out.

:func:`precision_threshold` answers "be right 95 % of the time": the lowest confidence at which
the held-out predictions at or above it reach the target precision, and the share of images
(coverage) that still get an answer; below it the answer is "unknown".
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from cnndesk.domain import Calibration, ModelError, ReliabilityBin

BINS = 10
T_RANGE = (0.05, 20.0)


def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    z = np.asarray(logits, dtype=np.float64) / temperature
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def nll(logits: np.ndarray, labels: np.ndarray, temperature: float) -> float:
    z = np.asarray(logits, dtype=np.float64) / temperature
    z = z - z.max(axis=1, keepdims=True)
    log_p = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    return float(-log_p[np.arange(len(labels)), labels].mean())


def fit_temperature(logits: np.ndarray, labels: Sequence[int] | np.ndarray) -> float:
    """The temperature minimising the NLL of ``logits`` (``[N, C]``) on ``labels``.

    A 1-D search over ``log T``: a coarse grid, then golden-section refinement. NLL is convex in
    ``1/T``, so this finds the minimum in :data:`T_RANGE`. Fewer than two images give 1.0.
    """
    y = np.asarray(labels, dtype=np.int64)
    if len(y) < 2:
        return 1.0
    lo, hi = math.log(T_RANGE[0]), math.log(T_RANGE[1])
    grid = np.linspace(lo, hi, 41)
    losses = [nll(logits, y, math.exp(g)) for g in grid]
    best = int(np.argmin(losses))
    a, b = grid[max(0, best - 1)], grid[min(len(grid) - 1, best + 1)]
    ratio = (math.sqrt(5) - 1) / 2
    c, d = b - ratio * (b - a), a + ratio * (b - a)
    fc, fd = nll(logits, y, math.exp(c)), nll(logits, y, math.exp(d))
    for _ in range(40):
        if fc < fd:
            b, d, fd = d, c, fc
            c = b - ratio * (b - a)
            fc = nll(logits, y, math.exp(c))
        else:
            a, c, fc = c, d, fd
            d = a + ratio * (b - a)
            fd = nll(logits, y, math.exp(d))
    return float(math.exp((a + b) / 2))


def reliability(
    probabilities: np.ndarray, labels: Sequence[int] | np.ndarray, *, bins: int = BINS
) -> tuple[float, tuple[ReliabilityBin, ...]]:
    """ECE and the reliability diagram's bins (equal-width in top-class confidence)."""
    p = np.asarray(probabilities, dtype=np.float64)
    y = np.asarray(labels, dtype=np.int64)
    if len(y) == 0:
        return 0.0, ()
    confidence = p.max(axis=1)
    correct = (p.argmax(axis=1) == y).astype(np.float64)
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.searchsorted(edges, confidence, side="right") - 1, 0, bins - 1)
    out, ece = [], 0.0
    for i in range(bins):
        mask = which == i
        count = int(mask.sum())
        conf = float(confidence[mask].mean()) if count else 0.0
        acc = float(correct[mask].mean()) if count else 0.0
        ece += count / len(y) * abs(conf - acc)
        out.append(ReliabilityBin(float(edges[i]), float(edges[i + 1]), count, conf, acc))
    return float(ece), tuple(out)


def calibrate(logits: np.ndarray, labels: Sequence[int] | np.ndarray, *, on: str) -> Calibration:
    """Fit a temperature on held-out ``logits`` and measure the ECE before and after."""
    y = np.asarray(labels, dtype=np.int64)
    temperature = fit_temperature(logits, y)
    before, bins_before = reliability(softmax(logits), y)
    after, bins_after = reliability(softmax(logits, temperature), y)
    return Calibration(
        temperature=temperature,
        on=on,
        images=len(y),
        ece_before=before,
        ece_after=after,
        bins_before=bins_before,
        bins_after=bins_after,
    )


@dataclass(frozen=True)
class PrecisionThreshold:
    """The answer to "be right ``target`` of the time" on held-out predictions."""

    target: float
    threshold: float | None
    """Answer only at or above this calibrated confidence; ``None``: no threshold reaches it."""
    precision: float
    """The held-out precision of the answered images at that threshold."""
    coverage: float
    """The share of held-out images that still get an answer (the rest: "unknown")."""
    images: int


def precision_threshold(
    confidence: Sequence[float] | np.ndarray,
    correct: Sequence[bool] | np.ndarray,
    *,
    target: float,
) -> PrecisionThreshold:
    """The lowest confidence threshold whose answered held-out images reach ``target`` precision.

    Images are answered when their confidence is at or above the threshold; of all thresholds
    (each held-out confidence) that reach the target, the one answering the most images wins.
    """
    c = np.asarray(confidence, dtype=np.float64)
    ok = np.asarray(correct, dtype=np.float64)
    n = len(c)
    if n == 0:
        return PrecisionThreshold(target, None, 0.0, 0.0, 0)
    order = np.argsort(-c, kind="stable")
    c, ok = c[order], ok[order]
    answered = np.arange(1, n + 1)
    precision = np.cumsum(ok) / answered
    # Only cut where the confidence changes: equal confidences are answered together.
    last_of_value = np.append(c[1:] != c[:-1], True)
    reaching = np.flatnonzero(last_of_value & (precision >= target - 1e-12))
    if len(reaching) == 0:
        return PrecisionThreshold(target, None, float(precision.max()), 0.0, n)
    k = int(reaching[-1])
    return PrecisionThreshold(target, float(c[k]), float(precision[k]), (k + 1) / n, n)


def temperature_of(info: dict) -> float:
    """A model description's temperature (1.0 for models saved before calibration existed)."""
    value = info.get("temperature", 1.0)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ModelError(f"model.json's temperature must be a number, not {value!r}")
    if not (math.isfinite(value) and T_RANGE[0] / 2 <= value <= T_RANGE[1] * 2):
        raise ModelError(
            f"model.json's temperature {value} is outside {T_RANGE[0]}..{T_RANGE[1]}:"
            " the file was changed or damaged; train the model again"
        )
    return float(value)


class NoHeldOutPredictions(ModelError):
    """The model keeps no held-out predictions (saved by an older cnndesk, or before any)."""


def held_out_points(info: dict) -> tuple[list[float], list[int]]:
    """``model.json``'s ``calibration.confidence`` and ``calibration.correct``, checked.

    Raises :class:`NoHeldOutPredictions` only when the model truly lacks them (an older format,
    or a run that measured nothing); a damaged entry raises :class:`ModelError` naming it."""
    calibration = info.get("calibration")
    damaged = "model.json's calibration entry is damaged: {}; train the model again"
    if calibration is not None and not isinstance(calibration, dict):
        raise ModelError(damaged.format(f"it must be an object, not {type(calibration).__name__}"))
    confidence, correct = (calibration or {}).get("confidence"), (calibration or {}).get("correct")
    if calibration == {}:  # an older model's calibration always says its temperature
        raise ModelError(damaged.format("it is empty"))
    if confidence is None and correct is None:
        raise NoHeldOutPredictions(
            "this model keeps no held-out predictions to choose a threshold from (it was saved"
            " by an older cnndesk); train it again, or give a --threshold instead"
        )
    for key, value in (("confidence", confidence), ("correct", correct)):
        if not isinstance(value, list):
            raise ModelError(damaged.format(f"calibration.{key} must be a list, not {value!r:.40}"))
    if len(confidence) != len(correct):
        raise ModelError(
            damaged.format(
                f"calibration.confidence holds {len(confidence)} values and calibration.correct"
                f" {len(correct)}; they must pair up"
            )
        )
    for i, (c, r) in enumerate(zip(confidence, correct, strict=True)):
        if isinstance(c, bool) or not isinstance(c, (int, float)) or not 0 <= c <= 1:
            raise ModelError(
                damaged.format(f"calibration.confidence[{i}] must be from 0 to 1, not {c!r:.40}")
            )
        if isinstance(r, bool) or r not in (0, 1):
            raise ModelError(
                damaged.format(f"calibration.correct[{i}] must be 0 or 1, not {r!r:.40}")
            )
    if not confidence:
        raise NoHeldOutPredictions(
            "this model keeps no held-out predictions to choose a threshold from (training"
            " measured it on none); train it again, or give a --threshold instead"
        )
    return confidence, correct


def threshold_for(info: dict, target: float) -> PrecisionThreshold:
    """The "unknown" threshold for ``target`` precision, from the held-out predictions a model
    folder's ``model.json`` keeps (``calibration.confidence`` / ``calibration.correct``)."""
    if not 0.0 < target <= 1.0:
        raise ModelError(f"the target precision must be above 0 and at most 1 (got {target})")
    confidence, correct = held_out_points(info)
    values = np.asarray(confidence, dtype=np.float64)
    right = np.asarray(correct, dtype=np.float64)
    return precision_threshold(values, right > 0.5, target=target)
