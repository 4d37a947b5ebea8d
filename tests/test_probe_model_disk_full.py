"""``cnndesk train`` onto a full disk: one line that says so, no half-written model left.

Before, saving the model ended the run with "unexpected error: Error while serializing: I/O
error: No space left on device (os error 28)", and a full disk when writing ``evaluation.json``
turned a saved model into a failed run.
"""

from __future__ import annotations

import contextlib
import errno
from pathlib import Path

import pytest
import safetensors.torch
from safetensors import SafetensorError

from cnndesk.cli import main
from tests.probe_helpers import SIMPLE_CNN_TRAIN, red_blue_library, runs_json

TRAIN = [*SIMPLE_CNN_TRAIN, "--epochs", "1", "--quiet"]


@pytest.fixture
def library(tmp_path: Path) -> Path:
    return red_blue_library(tmp_path)


def test_no_room_for_the_weights(
    library: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch
) -> None:
    def full_disk(state, filename, metadata=None) -> None:
        Path(filename).write_bytes(b"\x00" * 100)  # what got written before the disk filled
        raise SafetensorError("Error while serializing: I/O error: No space left on device (os error 28)")  # fmt: skip

    monkeypatch.setattr(safetensors.torch, "save_file", full_disk)
    out = tmp_path / "model"
    capsys.readouterr()
    assert main(["--library", str(library), *TRAIN, "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert "Could not save the model in" in err and "the disk is full" in err
    assert "unexpected error" not in err
    assert list(out.iterdir()) == []  # no temporary or partial file left behind
    assert [r["status"] for r in runs_json(library, capsys)] == ["failed"]


def test_no_room_for_the_evaluation_keeps_the_model(
    library: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch
) -> None:
    @contextlib.contextmanager
    def full_disk(path, *args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")
        yield

    monkeypatch.setattr("cnndesk.ml.train.replacing", full_disk)
    out = tmp_path / "model"
    assert main(["--library", str(library), *TRAIN, "--out", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["model.json", "weights.safetensors"]
    assert "the model is saved without its evaluation.json" in capsys.readouterr().err
    assert [r["status"] for r in runs_json(library, capsys)] == ["done"]
    assert main(["predict", str(out), str(next((tmp_path / "photos" / "red").iterdir()))]) == 0
