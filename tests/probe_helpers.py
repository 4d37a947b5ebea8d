"""Shared set-up of the probe tests: a tiny red/blue library and a one-epoch simple-cnn run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cnndesk.cli import main
from tests.conftest import make_image

SIMPLE_CNN_TRAIN = ["train", "--backbone", "simple-cnn", "--mode", "full", "--image-size", "32"]
"""``cnndesk train`` arguments for a model trained in seconds (add ``--epochs``/``--quiet``)."""


def red_blue_library(tmp_path: Path, per_class: int = 6) -> Path:
    """A library of ``per_class`` red and blue 40×40 images, imported with folder classes."""
    root = tmp_path / "photos"
    for name, colour in (("red", (220, 30, 30)), ("blue", (30, 30, 220))):
        for i in range(per_class):
            make_image(root / name / f"{i}.png", size=(40, 40), colour=colour)
    path = tmp_path / "lib.cnndesk"
    assert main(["--library", str(path), "import", str(root), "--classes-from-folders"]) == 0
    return path


def runs_json(library: Path, capsys: pytest.CaptureFixture[str]) -> list:
    """``cnndesk runs --json`` of ``library``, parsed."""
    capsys.readouterr()
    assert main(["--library", str(library), "runs", "--json"]) == 0
    return json.loads(capsys.readouterr().out)
