"""Data health from numbers alone: likely label errors, near-duplicates, outliers, class balance.

Everything here is numpy on arrays (out-of-fold probabilities, embeddings, image statistics) and
returns row indices; :func:`cnndesk.jobs.audit_job` turns them into files, labels and splits.

- **Likely label errors** by confident learning (Northcutt, Jiang & Chuang, JAIR 2021): the
  threshold of class ``j`` is the mean out-of-fold probability of ``j`` over the images labeled
  ``j``; an image "confidently belongs" to every class whose probability reaches its threshold
  (the most probable of those when several do), which fills the confident joint
  ``C[given, guessed]``. Its off-diagonal total, the images confidently in another class than
  their label, estimates *how many* labels are wrong, ``n``; the issues are the ``n`` images
  with the lowest self-confidence ``p[given]`` (the paper's ranking; ``score`` is
  ``1 - p[given]``), worst first, less those whose most probable class is the given one.
  The joint is used as counted, not calibrated to the class sizes (the paper's eq. 3), which
  spreads the images confident in no class over their row: on ``bench/audit.py`` (5 % flipped)
  calibration estimated 827 wrong labels where 250 of 5,000 CIFAR-10 labels were flipped, the raw
  count 511. The raw count's mean F1 over five flip seeds beat cleanlab's default
  ``find_label_issues`` on CIFAR-10 and ants/bees at 2, 5, 10 and 20 % flipped (0.572 vs 0.402
  and 0.730 vs 0.683 at 5 %).
- **Near-duplicates**: cosine similarity of centred, L2-normalised embeddings above a threshold,
  computed in float32 block by block (never an ``N × N`` matrix: 50,000 × 1280 needs the
  embeddings plus one ``block × block`` tile) and grouped with union-find. Projecting on the top
  :data:`DUPLICATE_DIMS` principal components first (``project=True``) is an option, not the
  default: it raises the similarity of unrelated images, so the threshold would no longer hold.
- **Outliers**: far from every class centroid in embedding space (a robust z-score of the
  distance to the nearest centroid), and odd images by their own statistics: tiny, nearly
  uniform, very dark or bright, extreme aspect ratio.
- **Class balance**: classes with too few labeled images for a trustworthy estimate.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

DUPLICATE_THRESHOLD = 0.80
"""Cosine similarity of centred embeddings above which two images count as near-duplicates.

Chosen on ``bench/audit.py``: 50 planted copies of ants/bees photos (resized, JPEG q60, cropped
10 %, mirrored) score 0.83 or more but one, and no two distinct photos reach 0.73."""
EXACT_THRESHOLD = 0.9999
DUPLICATE_DIMS = 256
"""Principal components kept when the duplicate search is asked to project (``project=True``)."""
AUDIT_HEAD = {"epochs": 5, "weight_decay": 5.0}
"""Head settings of the audit's cross-validation (:func:`cnndesk.ml.crossval.cross_validate`).

Quick mode's head (60 epochs, weight decay 0.01) overfits when a fold is scored by a head that
never sees validation images: on 5,000 CIFAR-10 embeddings its out-of-fold accuracy was 0.57.
Five epochs with decoupled weight decay 5 reached 0.72 (ants/bees 0.84 → 0.87), chosen by
out-of-fold log-loss on the noisy labels, the same for every data set."""
MIN_IMAGES_PER_CLASS = 20
"""Below this many labeled images a class's accuracy has a 95 % interval wider than ±20 points."""
TINY_SIDE = 32
DARK, BRIGHT = 0.08, 0.92
"""Mean luminance (0–1) below/above which an image is very dark/bright."""
UNIFORM_STD = 0.02
"""Luminance standard deviation (0–1) below which an image is nearly one flat colour."""
EXTREME_ASPECT = 4.0
OUTLIER_Z = 4.0
"""Robust z-score of the distance to the nearest class centroid above which an image is far away."""


@dataclass(frozen=True)
class LabelIssue:
    """An image whose label looks wrong: row ``index`` is labeled ``given``; the out-of-fold
    probabilities favour ``suggested`` (the most probable other class)."""

    index: int
    given: int
    suggested: int
    score: float
    """``1 - p[given]`` (one minus the self-confidence) in [0, 1]: higher is more likely wrong."""


@dataclass(frozen=True)
class DuplicateGroup:
    """Rows whose embeddings are near-duplicates of each other (joined pair by pair), ascending."""

    indices: tuple[int, ...]
    similarity: float
    """The lowest similarity among the pairs that joined the group."""


@dataclass(frozen=True)
class Outlier:
    """An image far from every class or odd by its own statistics; ``reason`` says how, in words
    ("tiny (20×18 px); very dark"), joined by "; " when several apply."""

    index: int
    reason: str


@dataclass(frozen=True)
class ClassBalance:
    """A class with too few labeled images (``count``) for a trustworthy estimate, or far fewer
    than the largest class; ``reason`` says which, in words."""

    class_index: int
    count: int
    reason: str


# --------------------------------------------------------------------------- label issues


def confident_thresholds(probs: np.ndarray, labels: np.ndarray, n_classes: int) -> np.ndarray:
    """``t_j``: the mean probability of class ``j`` over the images labeled ``j`` (inf if none)."""
    t = np.full(n_classes, np.inf)
    for j in range(n_classes):
        members = labels == j
        if members.any():
            t[j] = float(probs[members, j].mean())
    return t


def confident_joint(
    probs: np.ndarray, labels: np.ndarray, n_classes: int
) -> tuple[np.ndarray, np.ndarray]:
    """The confident joint ``C[given, guessed]`` and each image's guess (-1: confident in none)."""
    t = confident_thresholds(probs, labels, n_classes)
    confident = probs >= t - 1e-6
    masked = np.where(confident, probs, -np.inf)
    guess = np.where(confident.any(1), masked.argmax(1), -1)
    joint = np.zeros((n_classes, n_classes), dtype=np.int64)
    counted = guess >= 0
    np.add.at(joint, (labels[counted], guess[counted]), 1)
    return joint, guess


def estimated_issue_count(probs: np.ndarray, labels: np.ndarray, n_classes: int) -> int:
    """How many labels look wrong: the off-diagonal total of the confident joint, as counted."""
    joint, _ = confident_joint(probs, labels, n_classes)
    return int(joint.sum() - np.trace(joint))


def label_issues(probs: np.ndarray, labels: np.ndarray, *, n_classes: int) -> list[LabelIssue]:
    """Likely label errors, worst (lowest self-confidence) first. See the module docstring.

    ``suggested`` is the most probable class other than the given one.
    """
    probs = np.asarray(probs, dtype=np.float64)
    labels = np.asarray(labels, dtype=np.int64)
    if not len(labels):
        return []
    count = min(estimated_issue_count(probs, labels, n_classes), len(labels))
    rows = np.arange(len(labels))
    self_confidence = probs[rows, labels]
    worst = np.argsort(self_confidence, kind="stable")[:count]
    others = probs.copy()
    others[rows, labels] = -np.inf
    suggested = others.argmax(1)
    # The model agrees with the label (a tie counts as agreeing): not an issue.
    worst = worst[others[worst, suggested[worst]] > self_confidence[worst]]
    return [
        LabelIssue(int(i), int(labels[i]), int(suggested[i]), float(1.0 - self_confidence[i]))
        for i in worst
    ]


def softmax(logits: np.ndarray) -> np.ndarray:
    z = np.asarray(logits, dtype=np.float64)
    z = z - z.max(1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(1, keepdims=True)


# ----------------------------------------------------------------------------- duplicates


def normalized_embeddings(embeddings: np.ndarray) -> np.ndarray:
    """Centre (subtract the mean) and L2-normalise rows, as float32 (a new array)."""
    x = np.asarray(embeddings, dtype=np.float32)
    x = x - x.mean(0, keepdims=True, dtype=np.float64).astype(np.float32)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    x /= np.maximum(norms, 1e-12)
    return x


def projected(unit: np.ndarray, dims: int | None) -> np.ndarray:
    """``unit`` (centred rows) on its top ``dims`` principal components, rows re-normalised.

    Unchanged when ``dims`` is None or not smaller than both the dimension and the row count.
    """
    n, d = unit.shape
    if dims is None or dims >= d or dims >= n:
        return unit
    covariance = np.zeros((d, d), dtype=np.float64)
    for start in range(0, n, 8192):
        chunk = unit[start : start + 8192]
        covariance += (chunk.T @ chunk).astype(np.float64)
    _, vectors = np.linalg.eigh(covariance)  # ascending eigenvalues
    basis = np.ascontiguousarray(vectors[:, -dims:][:, ::-1], dtype=np.float32)
    x = unit @ basis
    x /= np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    return x


def similar_pairs(
    unit: np.ndarray, *, threshold: float = DUPLICATE_THRESHOLD, block: int = 2048
) -> tuple[np.ndarray, np.ndarray]:
    """Index pairs ``(i < j)`` whose rows of ``unit`` have a dot product ≥ ``threshold``, and it.

    Works on ``block × block`` tiles of the upper triangle: memory is ``unit`` plus one tile.
    Returns ``pairs [M, 2]`` (sorted) and ``similarity [M]``.
    """
    n = len(unit)
    found_pairs: list[np.ndarray] = []
    found_sims: list[np.ndarray] = []
    for start in range(0, n, block):
        rows = unit[start : start + block]
        for col in range(start, n, block):
            tile = rows @ unit[col : col + block].T
            if col == start:
                tile = np.triu(tile, k=1) + np.tril(np.full_like(tile, -2.0))
            i, j = np.nonzero(tile >= threshold)
            if len(i):
                found_pairs.append(np.stack([i + start, j + col], 1))
                found_sims.append(tile[i, j])
            del tile
    if not found_pairs:
        return np.empty((0, 2), dtype=np.int64), np.empty(0, dtype=np.float32)
    pairs = np.concatenate(found_pairs).astype(np.int64)
    sims = np.concatenate(found_sims)
    order = np.lexsort((pairs[:, 1], pairs[:, 0]))
    return pairs[order], sims[order]


def duplicate_groups(
    embeddings: np.ndarray,
    *,
    threshold: float = DUPLICATE_THRESHOLD,
    block: int = 2048,
    dims: int | None = DUPLICATE_DIMS,
    project: bool = False,
) -> list[DuplicateGroup]:
    """Groups of near-identical images (union-find over similar pairs), most similar first.

    ``project=True`` searches in the top ``dims`` principal components (see :func:`projected`).
    """
    if len(embeddings) < 2:
        return []
    unit = normalized_embeddings(embeddings)
    if project:
        unit = projected(unit, dims)
    pairs, sims = similar_pairs(unit, threshold=threshold, block=block)
    parent = list(range(len(embeddings)))

    def root(a: int) -> int:
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    for a, b in pairs.tolist():
        ra, rb = root(a), root(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    members: dict[int, list[int]] = {}
    lowest: dict[int, float] = {}
    for (a, _b), s in zip(pairs.tolist(), sims.tolist()):
        r = root(a)
        lowest[r] = min(lowest.get(r, 1.0), float(s))
    for a in {int(x) for x in pairs.ravel().tolist()}:
        members.setdefault(root(a), []).append(a)
    groups = [
        DuplicateGroup(tuple(sorted(m)), min(1.0, round(lowest[r], 6))) for r, m in members.items()
    ]
    return sorted(groups, key=lambda g: (-g.similarity, g.indices))


# ------------------------------------------------------------------------------- outliers


def far_from_classes(
    embeddings: np.ndarray, labels: np.ndarray, *, n_classes: int, z: float = OUTLIER_Z
) -> list[tuple[int, float]]:
    """Rows far from every class centroid: ``(index, robust z-score)``, farthest first.

    ``labels`` holds -1 for unlabeled rows (they are judged, but do not shape the centroids).
    """
    if len(embeddings) < 8:
        return []
    unit = normalized_embeddings(embeddings)
    centroids = []
    for j in range(n_classes):
        members = unit[labels == j]
        if len(members):
            c = members.mean(0)
            centroids.append(c / max(float(np.linalg.norm(c)), 1e-12))
    if not centroids:
        return []
    distance = 1.0 - (unit @ np.stack(centroids).T).max(1)
    median = float(np.median(distance))
    mad = float(np.median(np.abs(distance - median))) * 1.4826
    if mad <= 1e-9:
        return []
    scores = (distance - median) / mad
    far = np.flatnonzero(scores > z)
    return [(int(i), float(scores[i])) for i in far[np.argsort(-scores[far])]]


def odd_images(
    *,
    width: np.ndarray,
    height: np.ndarray,
    brightness: np.ndarray | None = None,
    contrast: np.ndarray | None = None,
) -> list[Outlier]:
    """Images odd by their own statistics; ``brightness``/``contrast`` are luminance mean/std (0–1)."""
    width, height = np.asarray(width, dtype=float), np.asarray(height, dtype=float)
    found: list[Outlier] = []
    for i in range(len(width)):
        w, h = width[i], height[i]
        reasons = []
        if min(w, h) < TINY_SIDE:
            reasons.append(f"tiny ({int(w)}×{int(h)} px)")
        if min(w, h) > 0 and max(w, h) / min(w, h) >= EXTREME_ASPECT:
            reasons.append(f"extreme aspect ratio ({max(w, h) / min(w, h):.1f}:1)")
        if contrast is not None and np.isfinite(contrast[i]) and contrast[i] < UNIFORM_STD:
            reasons.append("nearly uniform (one flat colour)")
        elif brightness is not None and np.isfinite(brightness[i]):
            if brightness[i] < DARK:
                reasons.append("very dark")
            elif brightness[i] > BRIGHT:
                reasons.append("very bright")
        if reasons:
            found.append(Outlier(i, "; ".join(reasons)))
    return found


def luminance_stats(pixels: np.ndarray) -> tuple[float, float]:
    """Mean and standard deviation of an RGB uint8 image's luminance, both in 0–1."""
    rgb = np.asarray(pixels, dtype=np.float32) / 255.0
    lum = rgb[..., 0] * 0.299 + rgb[..., 1] * 0.587 + rgb[..., 2] * 0.114
    return float(lum.mean()), float(lum.std())


# -------------------------------------------------------------------------- class balance


def class_balance(
    counts: Sequence[int], *, minimum: int = MIN_IMAGES_PER_CLASS
) -> list[ClassBalance]:
    """Classes with too few labeled images for a trustworthy estimate, or far fewer than most."""
    found: list[ClassBalance] = []
    largest = max(counts, default=0)
    for j, count in enumerate(counts):
        if count < minimum:
            found.append(
                ClassBalance(
                    j,
                    int(count),
                    f"only {count} labeled images: too few for a trustworthy estimate"
                    f" (label at least {minimum})",
                )
            )
        elif largest >= 10 * count:
            found.append(
                ClassBalance(
                    j, int(count), f"{largest / count:.0f}× fewer images than the largest class"
                )
            )
    return found
