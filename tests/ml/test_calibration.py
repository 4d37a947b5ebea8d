"""Calibrated confidence: temperature scaling and the target-precision "unknown" threshold."""

from __future__ import annotations

import math

import numpy as np
import pytest

from cnndesk.heldout import wilson
from cnndesk.ml.calibration import (
    calibrate,
    fit_temperature,
    precision_threshold,
    reliability,
    softmax,
    threshold_for,
)


def _overconfident(n: int, *, seed: int, classes: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """Logits of a model that is right about 75 % of the time but claims ~99 % certainty:
    honest logits (true log-probabilities of a noisy classifier) multiplied by 4."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, classes, n)
    honest = rng.normal(0, 1.0, (n, classes))
    honest[np.arange(n), labels] += 1.6
    return (4.0 * honest).astype(np.float32), labels


def test_temperature_scaling_lowers_the_ece_of_an_overconfident_model():
    logits, labels = _overconfident(2000, seed=0)
    before, _ = reliability(softmax(logits), labels)
    t = fit_temperature(logits, labels)
    # The logits were inflated by 4: the fitted temperature takes most of that back.
    assert 2.5 < t < 6.0
    # Fitted on one half, measured on the other: calibration carries over to new images.
    test_logits, test_labels = _overconfident(2000, seed=1)
    after_fit_elsewhere, _ = reliability(softmax(test_logits, t), test_labels)
    assert before > 0.1 and after_fit_elsewhere < before / 3
    calibration = calibrate(logits, labels, on="cross-validation")
    assert calibration.ece_after < calibration.ece_before / 3
    # Accuracy is unchanged: dividing by T never changes which class wins.
    assert (softmax(logits, t).argmax(1) == logits.argmax(1)).all()
    assert sum(b.count for b in calibration.bins_after) == 2000


def test_target_precision_threshold_holds_on_new_held_out_images():
    logits, labels = _overconfident(1500, seed=2)
    t = fit_temperature(logits, labels)
    p = softmax(logits, t)
    found = precision_threshold(p.max(1), p.argmax(1) == labels, target=0.95)
    assert found.threshold is not None and found.precision >= 0.95
    assert 0.05 < found.coverage < 0.9  # the price: some images become "unknown"
    # On images the threshold was not chosen on, precision is the target within noise.
    new_logits, new_labels = _overconfident(3000, seed=3)
    q = softmax(new_logits, t)
    answered = q.max(1) >= found.threshold
    correct = int((q.argmax(1) == new_labels)[answered].sum())
    lo, hi = wilson(correct, int(answered.sum()))
    assert lo - 0.02 <= 0.95 <= hi + 0.02
    assert abs(answered.mean() - found.coverage) < 0.05


def test_an_unreachable_target_says_so_and_a_model_without_points_is_refused():
    found = precision_threshold([0.9, 0.8, 0.7], [False, False, True], target=0.99)
    assert found.threshold is None and found.coverage == 0.0
    from cnndesk.domain import ModelError

    with pytest.raises(ModelError, match="older cnndesk"):
        threshold_for({"temperature": 1.0}, 0.95)
    info = {"calibration": {"confidence": [0.99, 0.9, 0.6], "correct": [1, 1, 0]}}
    assert threshold_for(info, 0.95).threshold == pytest.approx(0.9)
    assert math.isclose(threshold_for(info, 0.95).coverage, 2 / 3)
