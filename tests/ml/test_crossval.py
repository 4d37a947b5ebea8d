"""Cross-validation of the quick-mode head: out-of-fold predictions for every labeled image."""

from __future__ import annotations

import numpy as np
import pytest

from cnndesk.domain import DatasetError
from cnndesk.ml.crossval import cross_validate, fold_assignment


def _separable(n: int, *, classes: int = 2, dim: int = 32, seed: int = 0):
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % classes
    centres = rng.normal(size=(classes, dim)) * 3
    features = centres[labels] + rng.normal(size=(n, dim))
    return features.astype(np.float32), labels


def test_out_of_fold_logits_cover_every_row_in_input_order():
    features, labels = _separable(60, classes=3)
    cv = cross_validate(features, labels, n_classes=3)
    assert cv.logits.shape == (60, 3) and cv.logits.dtype == np.float32
    assert cv.folds.shape == (60,) and set(cv.folds.tolist()) == set(range(5))
    # Row i's logits are about row i: on well separated classes they name its own class.
    assert (cv.logits.argmax(1) == labels).mean() == pytest.approx(cv.accuracy)
    assert cv.accuracy >= 0.95


def test_out_of_fold_accuracy_does_not_reward_memorising():
    # Random labels on random features: a head can fit its training rows, but the rows it
    # never saw are right about half the time, and cross-validation says so.
    rng = np.random.default_rng(1)
    features = rng.normal(size=(120, 64)).astype(np.float32)
    labels = rng.integers(0, 2, 120)
    cv = cross_validate(features, labels, n_classes=2)
    assert 0.3 <= cv.accuracy <= 0.7


def test_folds_are_stratified_and_deterministic():
    labels = np.array([0] * 50 + [1] * 25)
    folds = fold_assignment(labels, folds=5, seed=0)
    for fold in range(5):
        assert (labels[folds == fold] == 0).sum() == 10
        assert (labels[folds == fold] == 1).sum() == 5
    features, labels = _separable(40)
    a = cross_validate(features, labels, n_classes=2, seed=3)
    b = cross_validate(features, labels, n_classes=2, seed=3)
    np.testing.assert_array_equal(a.folds, b.folds)
    np.testing.assert_array_equal(a.logits, b.logits)


def test_a_class_smaller_than_the_fold_count_is_spread_and_still_predicted():
    features, labels = _separable(40, classes=2)
    rare = np.array([[9.0] * 32, [9.5] * 32, [8.5] * 32], dtype=np.float32)
    features = np.concatenate([features, rare])
    labels = np.concatenate([labels, [2, 2, 2]])
    cv = cross_validate(features, labels, n_classes=3)
    # Its three images sit in three different folds, so each one's head saw the other two.
    assert len(set(cv.folds[-3:].tolist())) == 3
    assert cv.logits.shape == (43, 3)
    assert (cv.logits[-3:].argmax(1) == 2).all()


def test_few_images_use_fewer_folds_and_one_image_is_refused():
    features, labels = _separable(6)
    cv = cross_validate(features, labels, n_classes=2, folds=5)
    assert set(cv.folds.tolist()) == {0, 1, 2}
    two = cross_validate(features[:2], labels[:2], n_classes=2)
    assert sorted(two.folds.tolist()) == [0, 1]
    with pytest.raises(DatasetError, match="at least two"):
        cross_validate(features[:1], labels[:1], n_classes=2)
