"""Shared set-up of the probe tests: a tiny red/blue library and a one-epoch simple-cnn run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cnndesk.cli import main
from tests.conftest import make_image

SIMPLE_CNN_TRAIN = ["train", "--backbone", "simple-cnn", "--mode", "full", "--image-size", "32"]
"""``cnndesk train`` arguments for a model trained in seconds (add ``--epochs``/``--quiet``)."""


def red_blue_photos(root: Path, per_class: int = 6) -> Path:
    """``root/red`` and ``root/blue``, ``per_class`` 40×40 images each; returns ``root``."""
    for name, colour in (("red", (220, 30, 30)), ("blue", (30, 30, 220))):
        for i in range(per_class):
            make_image(root / name / f"{i}.png", size=(40, 40), colour=colour)
    return root


def red_blue_library(tmp_path: Path, per_class: int = 6) -> Path:
    """A library of ``per_class`` red and blue 40×40 images, imported with folder classes."""
    root = red_blue_photos(tmp_path / "photos", per_class)
    path = tmp_path / "lib.cnndesk"
    assert main(["--library", str(path), "import", str(root), "--classes-from-folders"]) == 0
    return path


def runs_json(library: Path, capsys: pytest.CaptureFixture[str]) -> list:
    """``cnndesk runs --json`` of ``library``, parsed."""
    capsys.readouterr()
    assert main(["--library", str(library), "runs", "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def small_pixel_cache(root: Path):  # type: ignore[no-untyped-def]
    """A pixel cache under ``root`` for 32×32 centre crops (the cache tests' geometry)."""
    from cnndesk.ml.data import PixelCache, geometry

    config = {"input_size": (3, 32, 32), "interpolation": "bilinear", "crop_pct": 1.0,
              "crop_mode": "center"}  # fmt: skip
    return PixelCache(geometry(config), root=root)
