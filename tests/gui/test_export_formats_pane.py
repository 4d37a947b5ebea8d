"""The prediction pane's export dialog offers every format of cnndesk.export_formats, and the
suffix the user picks chooses the format: ``m.xml`` becomes OpenVINO IR (``m.xml`` + ``m.bin``)."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtWidgets import QFileDialog

from tests.gui.pane_data import prediction_pane
from tests.model_folders import make_model_folder

pane_fixture = pytest.fixture(name="pane")(prediction_pane)


def test_the_dialog_offers_every_format_and_xml_exports_openvino_ir(
    qtbot, pane, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = make_model_folder(tmp_path / "model", classes=("ants", "bees"))
    pane.context.set_current_model(model)
    asked: list[str] = []
    out = tmp_path / "exported" / "m.xml"

    def save_dialog(parent, title, start, filters):  # type: ignore[no-untyped-def]
        asked.append(filters)
        return str(out), filters.split(";;")[-1]

    monkeypatch.setattr(QFileDialog, "getSaveFileName", staticmethod(save_dialog))
    exported = lambda title: title == "Exporting the model"  # noqa: E731 (not the model's preload)
    with qtbot.waitSignal(pane.context.job_ended, timeout=120000, check_params_cb=exported):
        pane.export_button.click()

    assert asked == ["ONNX (*.onnx);;TorchScript (*.pt);;OpenVINO IR: m.xml + m.bin (*.xml)"]
    assert sorted(p.name for p in out.parent.iterdir()) == ["m.bin", "m.xml", "m.xml.json"]
    assert "Exported m.xml" in pane.export_label.text() and "Checked on" in pane.export_label.text()
