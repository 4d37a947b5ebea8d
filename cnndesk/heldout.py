"""What an accuracy rests on: the held-out rule, the Wilson interval, and how to say it.

Every accuracy cnndesk shows names the images it was measured on, how many, and a 95 % interval.
This module is the one place that decides which images that is (:func:`held_out`), and that
turns a count of right answers into words (:func:`headline`); the training engine, the CLI and
the panes all use it, so every run is measured and described the same way.

**The held-out rule** (:func:`held_out`), for a model trained on the train split:

1. the test split alone, when it has at least :data:`MIN_TEST_IMAGES` images and at least
   :data:`MIN_TEST_PER_CLASS` of every class (``"test"``);
2. otherwise the test and validation splits together (``"test+val"``), or validation alone when
   there are no test images (``"val"``);
3. in quick mode, when those held-out images are fewer than :data:`SMALL_SAMPLE` and
   cross-validation covers more images, the out-of-fold predictions of
   :data:`CV_FOLDS`-fold cross-validation over every labeled image (``"cross-validation"``).

Quick mode always runs the cross-validation too and reports its accuracy beside the headline
(``cv_accuracy``). Validation images also choose the head's best epoch, so "test+val" and "val"
are a little optimistic; the cross-validated figure is not.

Below :data:`SMALL_SAMPLE` images every figure carries a warning (:func:`small_sample_warning`).
Standard library only: the GUI and the CLI import it without torch.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

MIN_TEST_IMAGES = 30
MIN_TEST_PER_CLASS = 5
SMALL_SAMPLE = 30
"""Fewer evaluated images than this and the number "can be far off" (and says so)."""
CV_FOLDS = 5
Z95 = 1.959963984540054

ON_WORDS = {
    "test": "test",
    "test+val": "validation+test",
    "val": "validation",
    "cross-validation": "labeled (5-fold cross-validation)",
    "train": "training (not held out)",
}
"""How each kind of evaluation names its images: "on 157 validation+test images"."""


def held_out(test_counts: Mapping[int, int], val_counts: Mapping[int, int], *, classes: int) -> str:
    """``"test"``, ``"test+val"``, ``"val"`` or ``""`` (nothing held out), by the rule above.

    ``test_counts`` and ``val_counts`` map class index → images of that class in the split.
    """
    test, val = sum(test_counts.values()), sum(val_counts.values())
    big_enough = test >= MIN_TEST_IMAGES and all(
        test_counts.get(c, 0) >= MIN_TEST_PER_CLASS for c in range(classes)
    )
    if big_enough:
        return "test"
    if test and val:
        return "test+val"
    if val:
        return "val"
    return "test" if test else ""


def prefer_cross_validation(held_out_images: int, cv_images: int) -> bool:
    """Rule 3: whether quick mode's headline rests on cross-validation instead."""
    return held_out_images < SMALL_SAMPLE and cv_images > held_out_images


def wilson(correct: int, n: int, *, z: float = Z95) -> tuple[float, float]:
    """The Wilson score interval (95 % by default) for ``correct`` successes out of ``n``.

    Unlike "p ± 1.96·SE" it stays inside 0..1 and is honest at 0 % and 100 %: 4 right out of 4
    gives 51–100 %, not 100 ± 0 %. ``n == 0`` gives the whole range.
    """
    if n <= 0:
        return 0.0, 1.0
    p = correct / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


def small_sample_warning(n: int) -> str | None:
    """A warning for fewer than :data:`SMALL_SAMPLE` images, else ``None``."""
    if n >= SMALL_SAMPLE:
        return None
    if n == 0:
        return "no held-out images: this model has not been measured"
    return f"only {n} image{'s' if n != 1 else ''}: this number can be far off"


def percent(value: float) -> str:
    return f"{100 * value:.1f} %"


def headline(correct: int, n: int, on: str) -> str:
    """``96.2 % ± 2.5 (95 % CI 93.1–98.0 %) on 157 validation+test images``."""
    if n == 0:
        return f"no {ON_WORDS.get(on, on or 'held-out')} images to measure on"
    lo, hi = wilson(correct, n)
    words = ON_WORDS.get(on, on or "held-out")
    return (
        f"{percent(correct / n)} ± {100 * (hi - lo) / 2:.1f}"
        f" (95 % CI {100 * lo:.1f}–{100 * hi:.1f} %) on {n} {words} image{'s' if n != 1 else ''}"
    )


def short(correct: int, n: int, on: str) -> str:
    """The runs table's cell: ``96.2 % [93.1–98.0] n=157 val+test``."""
    if n == 0:
        return "—"
    lo, hi = wilson(correct, n)
    return f"{percent(correct / n)} [{100 * lo:.1f}–{100 * hi:.1f}] n={n} {on}"


def class_counts(labels: Sequence[int]) -> dict[int, int]:
    counts: dict[int, int] = {}
    for label in labels:
        counts[label] = counts.get(label, 0) + 1
    return counts
