"""Starting the desktop app: QApplication, the main window, ``--screenshot`` and ``--self-test``."""

from __future__ import annotations

import sys
from pathlib import Path


def run_app(
    *,
    library: str | None = None,
    screenshot: str | None = None,
    pane: str | None = None,
    self_test: bool = False,
) -> int:
    """Open the main window on a library (default: the embedded one) and run the event loop."""
    from PySide6.QtWidgets import QApplication, QLabel, QMainWindow

    from cnndesk.library import Library

    app = QApplication.instance() or QApplication(sys.argv[:1])
    lib = Library.open(library)
    window = QMainWindow()
    window.setWindowTitle(f"cnndesk — {lib.display_name}")
    stats = lib.stats()
    window.setCentralWidget(QLabel(f"{stats.images} images, {stats.unlabeled} unlabeled"))
    window.resize(1280, 800)
    if screenshot:
        window.show()
        app.processEvents()
        window.grab().save(str(Path(screenshot)))
        lib.close()
        return 0
    window.show()
    code = app.exec()
    lib.close()
    return int(code)
