"""The viewer's heat-map overlay (key H) and the reusable pieces of gui/heatmap.py.

A synthetic "red detector" (tests/ml/test_gradcam.py) stands in for the model: its evidence for
"red" is a red square in one quadrant of a grey image, so the map's peak must lie there.
"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QIcon, QImage, QPixmap
from PySide6.QtWidgets import QLabel, QListWidget, QListWidgetItem

from cnndesk.gui import heatmap
from cnndesk.library import Library, import_paths
from tests.gui.browser_data import open_window

torch = pytest.importorskip("torch")

from tests.ml.test_gradcam import (  # noqa: E402  (needs torch)
    DATA_CONFIG,
    RedDetector,
    _image_with_patch,
    _peak_quadrant,
)

QUADRANTS = {"top_right.png": (0, 1), "bottom_left.png": (1, 0)}


class HeldExplainer:
    """The real Grad-CAM of the red detector; explaining an image in ``hold`` waits until
    ``release`` is set (so a test can switch images while that map is still being computed)."""

    def __init__(self, cache: Path) -> None:
        from cnndesk.ml.gradcam import GradCam

        self.cam = GradCam(
            RedDetector(), classes=["green", "red"], data_config=DATA_CONFIG, cache_root=cache
        )
        self.hold: set[str] = set()
        self.release = threading.Event()

    def explain(self, image, classes=None, *, top=1):  # type: ignore[no-untyped-def]
        if str(image) in self.hold:
            self.release.wait(30)
        return self.cam.explain(image, classes, top=top)


@pytest.fixture
def explainer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> HeldExplainer:
    held = HeldExplainer(tmp_path / "gradcam-cache")
    monkeypatch.setattr(heatmap, "_explainer", lambda _folder: held)
    return held


@pytest.fixture
def window(qtbot, tmp_path: Path, explainer: HeldExplainer):  # type: ignore[no-untyped-def]
    folder = tmp_path / "images"
    folder.mkdir()
    for name, quadrant in QUADRANTS.items():
        _image_with_patch(folder / name, quadrant, size=160)
    library = Library.open(tmp_path / "test.cnndesk")
    for _event in import_paths(library, [folder]):
        pass
    library.add_class("green")
    library.add_class("red")
    window = open_window(qtbot, library)
    window.context.current_model = tmp_path / "red-detector"  # what _explainer is asked for
    yield window
    explainer.release.set()
    window.context.cancel_jobs()
    library.close()


def _show(qtbot, window, name: str):  # type: ignore[no-untyped-def]
    browser, viewer = window.browser, window.panes["viewer"]
    row = [r.name for r in browser.model.records()].index(name)
    browser.set_current_row(row)
    qtbot.waitUntil(
        lambda: viewer.shown is not None and viewer.shown.record.name == name and viewer.settled,
        timeout=5000,
    )
    return viewer


def _pixels(pixmap: QPixmap) -> np.ndarray:
    """A copy of the pixmap's pixels as ``[H, W, 3]`` RGB (the QImage goes away on return)."""
    image = pixmap.toImage().convertToFormat(QImage.Format.Format_RGB888)
    rows = np.frombuffer(image.constBits(), np.uint8).reshape(image.height(), image.bytesPerLine())
    return rows[:, : 3 * image.width()].reshape(image.height(), image.width(), 3).copy()


def test_pressing_h_overlays_the_map_where_the_evidence_is_and_again_hides_it(
    qtbot, window
) -> None:
    viewer = _show(qtbot, window, "top_right.png")
    assert window.actions_by_id["view.heatmap"].shortcut().toString() == "H"
    window.activateWindow()
    window.browser.view.setFocus()
    with qtbot.waitSignal(viewer.heatmaps.ready, timeout=30000):
        qtbot.keyClick(window.browser.view, Qt.Key.Key_H)
    assert viewer.heatmap_visible and viewer.heat_map is not None
    assert viewer.heat_map.class_name == "red"
    assert _peak_quadrant(viewer.heat_map.heat) == QUADRANTS["top_right.png"]
    assert viewer.heatmap_label.text().startswith("Heat map for: red (model says ")
    assert viewer.heatmap_label.text().endswith(" %)") and viewer.heatmap_label.isVisibleTo(viewer)

    plain, shown = _pixels(viewer.canvas.source()), _pixels(viewer.canvas.displayed())
    assert plain.shape == shown.shape
    difference = np.abs(plain.astype(int) - shown.astype(int)).sum(axis=2)
    assert difference.max() > 40  # the colours are really drawn over the picture
    # The hottest colours sit over the red square (top right), not over the grey elsewhere.
    h, w = difference.shape
    hot = viewer.heat_map.heat
    assert (
        hot[: hot.shape[0] // 2, hot.shape[1] // 2 :].mean()
        > 3 * hot[hot.shape[0] // 2 :, : hot.shape[1] // 2].mean()
    )
    assert not np.array_equal(shown[h // 4, 3 * w // 4], shown[3 * h // 4, w // 4])

    qtbot.keyClick(window.browser.view, Qt.Key.Key_H)
    assert not viewer.heatmap_visible and viewer.heat_map is None
    assert viewer.canvas.displayed() is viewer.canvas.source()
    assert not viewer.heatmap_label.isVisibleTo(viewer)


def test_switching_image_drops_the_map_still_being_computed(qtbot, window, explainer) -> None:
    viewer = _show(qtbot, window, "top_right.png")
    # Both maps wait: the second image's own map must not arrive before the switch is checked
    # (a worker of its own computes it while the first one's is still held).
    explainer.hold = {str(r.path) for r in window.browser.model.records()}
    arrived: list[str] = []
    viewer.heatmaps.ready.connect(lambda answer: arrived.append(Path(answer.image).name))
    old = viewer.heatmaps
    viewer.toggle_heatmap()
    old_worker = old._worker
    assert old_worker is not None and old_worker.is_running()

    viewer = _show(qtbot, window, "bottom_left.png")
    assert viewer.heat_map is None and viewer.canvas.displayed() is viewer.canvas.source()
    with qtbot.waitSignal(viewer.heatmaps.ready, timeout=30000):
        explainer.release.set()  # the first image's map is done now, too late
    qtbot.waitUntil(lambda: not old_worker.is_running(), timeout=10000)
    assert arrived == ["bottom_left.png"]
    assert _peak_quadrant(viewer.heat_map.heat) == QUADRANTS["bottom_left.png"]
    assert viewer.heatmap_visible and "red" in viewer.heatmap_label.text()


def test_without_a_model_h_says_what_to_do(qtbot, window) -> None:
    window.context.current_model = None  # the library has no runs either
    viewer = _show(qtbot, window, "top_right.png")
    viewer.toggle_heatmap()
    assert viewer.heat_map is None
    assert viewer.heatmap_label.text() == "No heat map: train a model first (the Train tab)."


def test_the_strip_shows_one_map_per_top_class(qtbot, window, tmp_path: Path) -> None:
    strip = heatmap.HeatMapStrip(window.context, top=2)
    qtbot.addWidget(strip)
    image = str(tmp_path / "images" / "bottom_left.png")
    assert strip.explain(window.context.current_model, image) == 0  # box not ticked: nothing
    with qtbot.waitSignal(strip.requester.ready, timeout=30000):
        strip.toggle.setChecked(True)  # computes for the image asked last
    assert [m.class_name for m in strip.maps] == ["red", "green"]
    assert strip.maps[0].probability > strip.maps[1].probability
    labels = [w for w in strip.findChildren(QLabel) if w is not strip.note]
    captions = [w.text() for w in labels if w.text()]
    assert captions == [heatmap.caption(m) for m in strip.maps]
    assert captions[0].startswith("red ") and captions[0].endswith(" %")
    pictures = [w.pixmap() for w in labels if not w.pixmap().isNull()]
    assert len(pictures) == 2 and max(pictures[0].width(), pictures[0].height()) == strip.SIDE
    assert pictures[0].toImage() != pictures[1].toImage()  # each class has its own map


def test_gallery_thumbnails_get_the_predicted_class_map_and_lose_it_again(
    qtbot, window, tmp_path: Path
) -> None:
    gallery = QListWidget()
    qtbot.addWidget(gallery)
    gallery.setIconSize(QPixmap(96, 96).size())
    items = []
    for name in QUADRANTS:
        path = str(tmp_path / "images" / name)
        item = QListWidgetItem(QIcon(QPixmap(path)), name)
        gallery.addItem(item)
        items.append((item, path, "red"))
    plain = [item.icon().cacheKey() for item, _, _ in items]
    painter = heatmap.GalleryHeatMaps(window.context, gallery)
    painter.set_items(window.context.current_model, items)
    assert painter.painted == 0  # nothing until the box is ticked
    painter.toggle.setChecked(True)
    qtbot.waitUntil(lambda: painter.painted == 2, timeout=30000)
    for (item, _, _), key in zip(items, plain):
        assert item.icon().cacheKey() != key
    painter.toggle.setChecked(False)
    assert painter.painted == 0
    assert [item.icon().cacheKey() for item, _, _ in items] == plain


def test_the_viewer_and_heat_map_helpers_load_no_torch(tmp_path: Path) -> None:
    from tests.fresh_imports import loaded_by

    code = (
        "import os, sys\n"
        "os.environ['QT_QPA_PLATFORM'] = 'offscreen'\n"
        "from PySide6.QtWidgets import QApplication\n"
        "app = QApplication([])\n"
        "from cnndesk.library import Library\n"
        "from cnndesk.gui.context import AppContext\n"
        "from cnndesk.gui.viewer_pane import ViewerPane\n"
        "from cnndesk.gui.heatmap import HeatMapStrip\n"
        "context = AppContext(Library.open(sys.argv[1]))\n"
        "pane, strip = ViewerPane(context), HeatMapStrip(context)\n"
    )
    watched = ("torch", "timm", "torchvision", "cnndesk.ml")
    assert loaded_by(code, watched, str(tmp_path / "t.cnndesk")) == []


def test_the_predict_pane_shows_a_map_per_top_class_of_its_image(
    qtbot, window, tmp_path: Path
) -> None:
    pane = window.pane("prediction")
    strip = pane.heatmaps
    assert strip.toggle.text().startswith("Heat maps")
    strip.toggle.setChecked(True)
    image = str(tmp_path / "images" / "bottom_left.png")
    with qtbot.waitSignal(strip.requester.ready, timeout=30000):
        pane.predict(image)  # the strip follows what the pane was asked
    assert strip.maps and strip.maps[0].class_name == "red"
