"""A check of one library never reports into another one opened while it ran."""

from __future__ import annotations

from pathlib import Path

from cnndesk.library import Library
from tests.gui.browser_data import open_window, unlabeled_library


def test_opening_another_library_mid_check_reports_nothing_about_the_old_one(
    qtbot, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    old = unlabeled_library(tmp_path, count=40)
    window = open_window(qtbot, old)
    messages: list[str] = []
    window.context.status_message.connect(messages.append)
    action = next(a for a in window.actions() if a.objectName() == "file.verify")
    action.trigger()  # reads 40 files on the worker...
    other = Library.open(tmp_path / "other.cnndesk")
    with qtbot.waitSignal(window.check_flow.job_handled, timeout=20000):
        window.context.set_library(other)  # ...and is cancelled, or finishes, after the switch
        del messages[:]
    assert not [m for m in messages if "Verif" in m or "Check" in m], messages
    other.close()
