"""Toy data sets for the ML tests: small generated images in two clearly different colours."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from cnndesk.domain import TrainingSample, TrainingSet
from tests.conftest import make_image

COLOURS = {"red": (220, 30, 30), "blue": (30, 30, 220)}


def make_samples(root: Path, split: str, per_class: int, *, start: int = 0) -> list[TrainingSample]:
    samples = []
    for label, (name, colour) in enumerate(COLOURS.items()):
        for i in range(start, start + per_class):
            path = make_image(root / split / name / f"{i}.png", size=(48, 40), colour=colour)
            key = hashlib.sha256(path.read_bytes()).hexdigest()
            samples.append(TrainingSample(str(path), key, label, image_id=None))
    return samples


@pytest.fixture
def toy_set(tmp_path: Path) -> TrainingSet:
    """Two colour classes, 8 training and 4 validation images each (no test split)."""
    return TrainingSet(
        classes=tuple(COLOURS),
        train=tuple(make_samples(tmp_path, "train", 8)),
        val=tuple(make_samples(tmp_path, "val", 4)),
        test=(),
    )
