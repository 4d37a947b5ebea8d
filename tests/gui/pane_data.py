"""Libraries and contexts for the tests of the training, evaluation, prediction and sort panes."""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

from cnndesk.library import Library, import_paths
from tests.conftest import make_image

COLOURS = {"red": (220, 30, 30), "blue": (30, 40, 220)}


def make_class_folders(root: Path, *, per_class: int = 10, size: int = 40) -> Path:
    """``root/<class>/<n>.png`` for each class in :data:`COLOURS` (easy to tell apart)."""
    for name, colour in COLOURS.items():
        for n in range(per_class):
            make_image(root / name / f"{name}_{n}.png", size=(size, size), colour=colour)
    return root


def labeled_library(tmp_path: Path, *, per_class: int = 10) -> Library:
    """A library with ``per_class`` labeled images of each class of :data:`COLOURS`."""
    folders = make_class_folders(tmp_path / "images", per_class=per_class)
    library = Library.open(tmp_path / "test.cnndesk")
    gen = import_paths(library, [folders], classes_from_folders=True)
    for _event in gen:
        pass
    return library


def make_context(library: Library):  # type: ignore[no-untyped-def]
    from cnndesk.gui.context import AppContext

    return AppContext(library)


@contextmanager
def open_pane(qtbot, library: Library, pane_class):  # type: ignore[no-untyped-def]
    """``pane_class(context)`` on ``library``, shown to qtbot; afterwards its jobs are cancelled
    and the library closed."""
    context = make_context(library)
    pane = pane_class(context)
    qtbot.addWidget(pane)
    try:
        yield pane
    finally:
        context.cancel_jobs()
        library.close()


def prediction_pane(qtbot, tmp_path: Path):  # type: ignore[no-untyped-def]
    """A prediction pane on an empty library of its own; its jobs cancelled afterwards.

    A fixture body: ``pane_fixture = pytest.fixture(name="pane")(prediction_pane)`` in a test
    module (the prediction, export and export-format tests share it)."""
    from cnndesk.gui.prediction_pane import PredictionPane

    with open_pane(qtbot, Library.open(tmp_path / "lib.cnndesk"), PredictionPane) as pane:
        yield pane
