"""The GUI's export goes through the same output check as the CLI: the file dialog's "replace?"
counts as --force, but never for the model's own files or the open library."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from cnndesk.gui.prediction_pane import PredictionPane
from tests.gui.pane_data import prediction_pane
from tests.model_folders import make_model_folder

pane_fixture = pytest.fixture(name="pane")(prediction_pane)


def digests(paths: list[Path]) -> list[str]:
    return [hashlib.sha256(p.read_bytes()).hexdigest() for p in paths]


def test_a_confirmed_dialog_still_never_replaces_the_model_or_the_library(
    qtbot, pane: PredictionPane, tmp_path: Path
) -> None:
    model = make_model_folder(tmp_path / "model")
    pane.context.set_current_model(model)
    library = pane.context.library.path
    guarded = [model / "weights.safetensors", model / "model.json", library]
    before = digests(guarded)
    for out in guarded:
        assert pane.export_model(out, force=True) is None
        assert "never replaces" in pane.export_label.text()
        assert pane.export_button.isEnabled()
    assert digests(guarded) == before


def test_a_confirmed_dialog_replaces_another_file(
    qtbot, pane: PredictionPane, tmp_path: Path
) -> None:
    model = make_model_folder(tmp_path / "model")
    pane.context.set_current_model(model)
    out = tmp_path / "old.onnx"
    out.write_bytes(b"an old file the user chose to replace")
    worker = pane.export_model(out, force=True)
    assert worker is not None
    with qtbot.waitSignal(worker.finished, timeout=60000):
        pass
    assert out.stat().st_size > 1000 and (tmp_path / "old.onnx.json").is_file()
    assert "Exported old.onnx" in pane.export_label.text()
