"""Data health from numbers alone: likely label errors, near-duplicates, outliers, class balance.

Everything here is numpy on arrays (out-of-fold probabilities, embeddings, image statistics) and
returns row indices; :func:`cnndesk.jobs.audit_job` turns them into files, labels and splits.

- **Likely label errors** by confident learning (Northcutt, Jiang & Chuang, JAIR 2021): the
  threshold of class ``j`` is the mean out-of-fold probability of ``j`` over the images labeled
  ``j``; an image "confidently belongs" to every class whose probability reaches its threshold
  (the most probable of those when several do), which fills the confident joint
  ``C[given, guessed]``. Its off-diagonal entries whose guess is also the model's top class are
  the issues, ranked by normalized margin ``p[suggested] - p[given]`` (the ``score``), worst first.
- **Near-duplicates**: cosine similarity of centred, L2-normalised embeddings above a threshold,
  computed block by block (never an ``N × N`` matrix: 50,000 × 1280 needs the embeddings plus
  one ``block × block`` tile) and grouped with union-find.
- **Outliers**: far from every class centroid in embedding space (a robust z-score of the
  distance to the nearest centroid), and odd images by their own statistics: tiny, nearly
  uniform, very dark or bright, extreme aspect ratio.
- **Class balance**: classes with too few labeled images for a trustworthy estimate.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

DUPLICATE_THRESHOLD = 0.90
"""Cosine similarity of centred embeddings above which two images count as near-duplicates."""
EXACT_THRESHOLD = 0.9999
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
    index: int
    given: int
    suggested: int
    score: float
    """Normalized margin ``p[suggested] - p[given]`` in (0, 1]: higher is more likely wrong."""


@dataclass(frozen=True)
class DuplicateGroup:
    indices: tuple[int, ...]
    similarity: float
    """The lowest similarity among the pairs that joined the group."""


@dataclass(frozen=True)
class Outlier:
    index: int
    reason: str


@dataclass(frozen=True)
class ClassBalance:
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


def label_issues(probs: np.ndarray, labels: np.ndarray, *, n_classes: int) -> list[LabelIssue]:
    """Likely label errors, worst (highest normalized margin) first. See the module docstring."""
    probs = np.asarray(probs, dtype=np.float64)
    labels = np.asarray(labels, dtype=np.int64)
    if not len(labels):
        return []
    _, guess = confident_joint(probs, labels, n_classes)
    top = probs.argmax(1)
    rows = np.flatnonzero((guess >= 0) & (guess != labels) & (top == guess))
    given_p = probs[rows, labels[rows]]
    margin = probs[rows, guess[rows]] - given_p
    order = np.lexsort((given_p, -margin))  # ties: the lower self-confidence first
    return [
        LabelIssue(int(rows[i]), int(labels[rows[i]]), int(guess[rows[i]]), float(margin[i]))
        for i in order
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
    embeddings: np.ndarray, *, threshold: float = DUPLICATE_THRESHOLD, block: int = 2048
) -> list[DuplicateGroup]:
    """Groups of near-identical images (union-find over similar pairs), most similar first."""
    if len(embeddings) < 2:
        return []
    pairs, sims = similar_pairs(normalized_embeddings(embeddings), threshold=threshold, block=block)
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
