"""The training pane's run history shows a run whose process died as interrupted."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from sqlalchemy import update

from cnndesk.gui.training_pane import TrainingPane
from cnndesk.library import Library
from cnndesk.library.database import write_transaction
from cnndesk.library.processes import current_owner
from cnndesk.library.schema import RunRow
from tests.gui.pane_data import labeled_library, make_context


def test_a_run_whose_process_died_reads_interrupted_in_the_history(qtbot, tmp_path: Path) -> None:
    library = labeled_library(tmp_path, per_class=3)
    run_id = library.create_run({"backbone": "simple-cnn", "mode": "full"})
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    with write_transaction(library.engine) as c:  # as if that finished process had trained it
        c.execute(
            update(RunRow)
            .where(RunRow.id == run_id)
            .values(metrics={"process": {**current_owner(), "pid": child.pid}})
        )
    location = library.location
    library.close()
    library = Library.open(location)  # opening the library again notices the process is gone
    pane = TrainingPane(make_context(library))
    qtbot.addWidget(pane)
    pane._refresh_history()
    statuses = [
        pane.history_table.item(row, pane.history_table.columnCount() - 1).text()
        for row in range(pane.history_table.rowCount())
    ]
    assert statuses == ["interrupted (its process ended)"]
    library.close()
