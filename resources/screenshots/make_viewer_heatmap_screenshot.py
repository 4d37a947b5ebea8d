"""Render the README screenshot of the viewer's heat-map overlay (key H) on one library image.

Like ``cnndesk --screenshot FILE``, but it shows the image named ``NAME``, presses H and waits
for the map. Usage (the ants/bees photos, a quick lite0 model)::

    cnndesk --library L import COPY_OF_HYMENOPTERA --classes-from-folders
    cnndesk --library L train --backbone tf_efficientnet_lite0 --weights LITE0.safetensors
    python resources/screenshots/make_viewer_heatmap_screenshot.py L NAME OUT.png
"""

from __future__ import annotations

import os
import sys
import time


def main(library: str, name: str, out: str) -> int:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PIL import Image
    from PySide6.QtCore import QEventLoop, QTimer

    from cnndesk.domain import ImageQuery
    from cnndesk.gui.app import _application, _shut_down, build_window

    def pump(ms: int = 200) -> None:
        loop = QEventLoop()
        QTimer.singleShot(ms, loop.quit)
        loop.exec()

    _app = _application()  # kept alive while the window exists
    window = build_window(library)
    window.resize(1440, 900)
    window.show()
    browser, viewer = window.browser, window.panes["viewer"]
    browser.set_query(ImageQuery(search=name))
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline and browser.model.rowCount() == 0:
        pump()
    browser.set_current_row(0)
    while time.monotonic() < deadline and not (viewer.shown is not None and viewer.settled):
        pump()
    window.actions_by_id["view.heatmap"].trigger()  # what pressing H does
    while time.monotonic() < deadline and viewer.heat_map is None:
        pump()
    pump(500)
    window.grab().save(out)
    Image.open(out).convert("RGB").quantize(256).save(out, optimize=True)
    print(viewer.heatmap_label.text())
    _shut_down(window)
    return 0 if viewer.heat_map is not None else 1


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
