"""A small library and a shown main window for the browser, labeling and import tests."""

from __future__ import annotations

from pathlib import Path

from cnndesk.library import Library, import_paths
from tests.conftest import make_image


def unlabeled_library(tmp_path: Path, *, count: int = 6) -> Library:
    """``count`` unlabeled images (``img_0.png`` ...) and the classes ``red`` and ``blue``."""
    folder = tmp_path / "images"
    for n in range(count):
        make_image(folder / f"img_{n}.png", colour=(30 * n % 255, 90, 200))
    library = Library.open(tmp_path / "test.cnndesk")
    for _event in import_paths(library, [folder]):
        pass
    library.add_class("red")
    library.add_class("blue", hotkey="B")
    return library


def open_window(qtbot, library: Library):  # type: ignore[no-untyped-def]
    """A shown main window on ``library`` with its first query, classes and stats loaded."""
    from cnndesk.gui.context import AppContext
    from cnndesk.gui.main_window import MainWindow

    context = AppContext(library)
    with qtbot.waitSignals([context.classes_loaded], timeout=5000):
        window = MainWindow(context)
    qtbot.addWidget(window)
    window.show()
    browser = window.browser
    if browser.model.loading or browser.model.rowCount() == 0:
        qtbot.waitUntil(lambda: not browser.model.loading, timeout=5000)
    return window
