"""The class panel takes ``Café`` typed as é and as e + a combining accent as one name (NFC)."""

from __future__ import annotations

import unicodedata
from pathlib import Path

import pytest

from tests.gui.browser_data import open_window, unlabeled_library

NFC = unicodedata.normalize("NFC", "Café")
NFD = unicodedata.normalize("NFD", "Café")


@pytest.fixture
def window(qtbot, tmp_path: Path, monkeypatch):  # type: ignore[no-untyped-def]
    monkeypatch.setattr("cnndesk.gui.class_pane.QMessageBox.warning", lambda *_a: None)
    library = unlabeled_library(tmp_path)
    window = open_window(qtbot, library)
    yield window
    library.close()


def test_the_other_form_of_a_class_name_is_refused(qtbot, window) -> None:  # type: ignore[no-untyped-def]
    pane, context = window.panes["classes"], window.context
    with qtbot.waitSignal(context.classes_loaded):
        assert pane.add_class(NFD)
    assert [c.name for c in context.library.classes()] == ["red", "blue", NFC]
    for attempt in (lambda: pane.add_class(NFC), lambda: pane.rename_class("red", NFD)):
        with qtbot.waitSignal(context.status_message) as message:
            assert not attempt()
        assert "already exists" in message.args[0]
    assert [c.name for c in context.library.classes()] == ["red", "blue", NFC]
