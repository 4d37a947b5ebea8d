"""Deterministic, stratified train/val/test assignment.

New images of one class (or of "unlabeled") are taken in content-hash order and each goes to the
split furthest below its target share within that class, counting the images the class already
has. The result depends only on the images' hashes and the order of imports, it is stratified
per class, and an image's split never changes once assigned: a validation image can never leak
into training between two runs.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from cnndesk.domain import Split

DEFAULT_FRACTIONS: Mapping[Split, float] = {Split.TRAIN: 0.70, Split.VAL: 0.15, Split.TEST: 0.15}


def assign_splits(
    hashes: Iterable[str],
    *,
    existing: Mapping[Split, int] | None = None,
    fractions: Mapping[Split, float] = DEFAULT_FRACTIONS,
) -> dict[str, Split]:
    """Assign a split to each new hash of one stratum, given the counts it already has."""
    counts = {split: (existing or {}).get(split, 0) for split in fractions}
    total = sum(counts.values())
    result: dict[str, Split] = {}
    for sha in sorted(set(hashes)):
        total += 1
        best = max(fractions, key=lambda s: (fractions[s] * total - counts[s], fractions[s]))
        counts[best] += 1
        result[sha] = best
    return result


def split_from_path(parts: Iterable[str]) -> Split | None:
    """The split named by a folder in an ImageFolder-style path (``train``/``val``/``test``)."""
    found: Split | None = None
    for part in parts:
        split = _FOLDER_SPLITS.get(part.casefold())
        if split is not None:
            found = split
    return found


_FOLDER_SPLITS = {
    "train": Split.TRAIN,
    "training": Split.TRAIN,
    "val": Split.VAL,
    "valid": Split.VAL,
    "validation": Split.VAL,
    "test": Split.TEST,
    "testing": Split.TEST,
}
