"""The Sort Folders pane's dry run: only the report is written, and the pane says so."""

from __future__ import annotations

from pathlib import Path

import pytest

from cnndesk.gui.batch_sort_pane import BatchSortPane
from cnndesk.library import Library
from tests.conftest import make_image
from tests.gui.pane_data import open_pane
from tests.model_folders import make_model_folder


@pytest.fixture
def pane(qtbot, tmp_path: Path):  # type: ignore[no-untyped-def]
    with open_pane(qtbot, Library.open(tmp_path / "lib.cnndesk"), BatchSortPane) as pane:
        yield pane


def test_a_dry_run_moves_nothing_and_says_where_the_report_is(qtbot, pane, tmp_path) -> None:
    model = make_model_folder(tmp_path / "model", classes=("ants", "bees"), constant=(0.0, 2.0))
    pane.context.set_current_model(model)
    source = tmp_path / "in"
    originals = [make_image(source / f"photo_{i}.png") for i in range(3)]
    pane.set_source(source)
    pane.move_radio.setChecked(True)
    pane.threshold_slider.setValue(50)
    pane.dry_run_check.setChecked(True)
    with qtbot.waitSignal(pane.context.job_ended, timeout=30000):
        pane.sort_button.click()
    dest = tmp_path / "in sorted"
    assert all(p.exists() for p in originals)  # Move was chosen, yet nothing moved
    assert sorted(p.name for p in dest.iterdir()) == ["cnndesk-report.csv", "cnndesk-report.json"]
    text = pane.message_label.text()
    assert "nothing was moved or copied" in text
    assert str(dest / "cnndesk-report.csv") in text
    assert "Moved" not in text
    # The table shows where the files would go.
    assert pane.summary_table.item(0, 0).text() == "bees"
    assert pane.summary_table.item(0, 1).text() == "3"
    assert not pane.undo_button.isEnabled()  # nothing to undo

    pane.dry_run_check.setChecked(False)
    with qtbot.waitSignal(pane.context.job_ended, timeout=30000):
        pane.sort_button.click()
    assert not any(p.exists() for p in originals)
    assert "Moved 3 images" in pane.message_label.text()
