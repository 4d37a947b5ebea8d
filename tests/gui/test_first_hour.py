"""A newcomer's first hour (issue 15): each of its eight repros, now right.

1 the window fits a 1024×700 screen; 2 a missing X11 library is named with its install command;
3 a flat folder imports unlabeled and Edit → Undo Import removes it; 4 missing weights are not
"Ready"; 5 another library leaves nothing of the old one in any pane; 6 context menus,
double-click, Escape; 7 grid captions keep their underscores; 8 the model is preloaded and a long
status message does not cover the status bar's labels.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from PySide6.QtCore import QByteArray, QEvent, QRect, Qt
from PySide6.QtGui import QGuiApplication, QKeyEvent

from cnndesk.domain import Progress, Split
from cnndesk.gui import platform_check
from cnndesk.gui.import_dialog import ImportController, ImportOptionsDialog, ImportPreview
from cnndesk.gui.main_window import PANES, MainWindow, fit_rect
from tests.conftest import make_image
from tests.gui.browser_data import open_window, unlabeled_library
from tests.gui.layout_settle import settle_layout

ROOT = Path(__file__).resolve().parents[2]


def all_panes(window: MainWindow) -> None:
    for spec in PANES:
        window.show_pane(spec.id)


# ------------------------------------------------------------------------ 1: fits the screen


def test_the_window_can_be_as_small_as_a_1024_by_700_screen(qtbot, tmp_path: Path) -> None:
    window = open_window(qtbot, unlabeled_library(tmp_path))
    all_panes(window)  # every tab's pane exists, so each one's minimum counts
    # Measured once the Train pane's probe has answered (its missing-weights box then shows),
    # whether or not the probe is quicker than this test on the machine at hand.
    training = window.panes["training"]
    qtbot.waitUntil(lambda: training.options is not None, timeout=60000)
    settle_layout(qtbot, window)
    minimum = window.minimumSizeHint().expandedTo(window.minimumSize())
    assert minimum.width() <= 1024 and minimum.height() <= 700, minimum
    window.resize(1024, 700)
    assert window.width() == 1024
    browser = window.browser
    # The search field stays readable next to the filter (it was squeezed to "S…").
    assert browser.search_box.width() >= browser.search_box.fontMetrics().horizontalAdvance(
        "Search file names"
    )


def test_a_saved_window_larger_than_the_screen_is_not_restored(qtbot, tmp_path: Path) -> None:
    window = open_window(qtbot, unlabeled_library(tmp_path))
    available = window.available_geometry()
    window.resize(available.width() + 900, available.height() + 700)
    window.save_layout()  # as if the last session ran on a much larger screen
    context = window.context
    again = MainWindow(context)
    qtbot.addWidget(again)
    again.show_fitted()
    minimum = again.minimumSizeHint()
    assert again.width() <= max(available.width(), minimum.width())
    assert again.height() <= max(available.height(), minimum.height())


def test_fit_rect_shrinks_and_moves_inside_the_screen() -> None:
    screen = QRect(0, 0, 1024, 700)
    assert fit_rect(QRect(-50, 30, 1360, 860), screen) == QRect(0, 0, 1024, 700)
    assert fit_rect(QRect(900, 600, 400, 300), screen) == QRect(624, 400, 400, 300)


def test_first_start_is_no_larger_than_the_screen(qtbot, tmp_path: Path) -> None:
    window = open_window(qtbot, unlabeled_library(tmp_path))
    window.context.settings.window_geometry = QByteArray()  # nothing saved
    fresh = MainWindow(window.context)
    qtbot.addWidget(fresh)
    fresh.show_fitted()
    available = fresh.available_geometry()
    assert fresh.width() <= max(available.width(), fresh.minimumSizeHint().width())
    assert fresh.height() <= max(available.height(), fresh.minimumSizeHint().height())


# --------------------------------------------------------------- 2: the X11 library check


def test_ldd_not_found_lines_become_the_install_command() -> None:
    ldd = (
        "\tlinux-vdso.so.1 (0x00007ffd)\n"
        "\tlibxcb-cursor.so.0 => not found\n"
        "\tlibxkbcommon-x11.so.0 => not found\n"
        "\tlibxcb.so.1 => /lib/x86_64-linux-gnu/libxcb.so.1 (0x7f)\n"
        "\tlibxcb-cursor.so.0 => not found\n"
    )
    names = platform_check.not_found(ldd)
    assert names == ["libxcb-cursor.so.0", "libxkbcommon-x11.so.0"]
    packages = [platform_check.debian_package(n) for n in names]
    assert packages == ["libxcb-cursor0", "libxkbcommon-x11-0"]
    assert platform_check.debian_package("libfoo-bar.so.3") == "libfoo-bar3"


def test_only_an_x11_start_is_checked() -> None:
    linux = sys.platform.startswith("linux")
    assert platform_check.wants_xcb({"DISPLAY": ":0"}) is linux
    assert platform_check.wants_xcb({"DISPLAY": ":0", "QT_QPA_PLATFORM": "xcb"}) is linux
    assert not platform_check.wants_xcb({"DISPLAY": ":0", "QT_QPA_PLATFORM": "offscreen"})
    assert not platform_check.wants_xcb({})


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the X11 check is Linux-only")
def test_the_app_names_the_missing_package_and_exits_2_instead_of_aborting(
    tmp_path: Path, cnndesk_home: Path
) -> None:
    if platform_check.xcb_plugin() is None:
        pytest.skip("this PySide6 has no X11 platform plugin")
    fake = tmp_path / "bin"
    fake.mkdir()
    ldd = fake / "ldd"  # what ldd prints on a fresh Debian 12 desktop
    ldd.write_text('#!/bin/sh\necho "\tlibxcb-cursor.so.0 => not found"\n')
    ldd.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if k not in ("QT_QPA_PLATFORM", "WAYLAND_DISPLAY")}
    env.update(
        PATH=f"{fake}{os.pathsep}{env.get('PATH', '')}",
        DISPLAY=":97",  # no X server there: Qt would abort if it got that far
        CNNDESK_HOME=str(cnndesk_home),
    )
    done = subprocess.run(
        [sys.executable, "-m", "cnndesk"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2, done.stderr
    assert "sudo apt-get install libxcb-cursor0" in done.stderr
    assert "Traceback" not in done.stderr and "Aborted" not in done.stderr


# -------------------------------------------------------------------- 3: import, undo import


def test_a_flat_folder_defaults_to_unlabeled_and_the_preview_says_so(tmp_path: Path, qtbot) -> None:
    flat = tmp_path / "holiday"
    for n in range(4):
        make_image(flat / f"p_{n}.png")
    dialog = ImportOptionsDialog([str(flat)])
    qtbot.addWidget(dialog)
    assert not dialog.checkbox.isChecked()
    assert "No subfolders: the images will be unlabeled (4 images)" in dialog.preview_label.text()
    dialog.checkbox.setChecked(True)  # the user may still ask for it, and sees what it means
    assert "holiday" in dialog.preview_label.text()


def test_class_subfolders_default_to_classes_with_their_counts(tmp_path: Path, qtbot) -> None:
    pets = tmp_path / "pets"
    for n in range(3):
        make_image(pets / "cats" / f"c{n}.png")
    for n in range(2):
        make_image(pets / "dogs" / f"d{n}.png")
    preview = ImportPreview([str(pets)])
    assert preview.has_subfolders and preview.by_class == {"cats": 3, "dogs": 2}
    dialog = ImportOptionsDialog([str(pets)])
    qtbot.addWidget(dialog)
    assert dialog.checkbox.isChecked()
    assert "2 classes found: <b>cats</b> 3, <b>dogs</b> 2" in dialog.preview_label.text()


def test_a_flat_import_is_unlabeled_and_undo_import_removes_it(
    qtbot, tmp_path: Path, monkeypatch
) -> None:
    library = unlabeled_library(tmp_path)
    window = open_window(qtbot, library)
    before = {r.id for r in library.images()}
    flat = tmp_path / "flat"
    for n in range(5):
        make_image(flat / f"new_{n}.png", colour=(10, 200, 10 * n))

    def default_answer(self: ImportController, paths: list[str]) -> bool:
        dialog = ImportOptionsDialog(paths)  # what pressing Import without a change gives
        return dialog.checkbox.isChecked()

    monkeypatch.setattr(ImportController, "ask_folders_as_classes", default_answer)
    with qtbot.waitSignal(window.importer.import_finished, timeout=20000):
        assert window.importer.start([str(flat)])
    added = [r for r in library.images() if r.id not in before]
    assert len(added) == 5 and all(r.class_id is None for r in added)
    assert [c.name for c in library.classes()] == ["red", "blue"]  # no class named "flat"
    undo = window.actions_by_id["edit.undo"]
    assert undo.isEnabled() and "Import" in undo.text()
    with qtbot.waitSignal(window.browser.model.loaded, timeout=5000):
        undo.trigger()
    assert {r.id for r in library.images()} == before
    assert window.browser.model.rowCount() == len(before)
    window.actions_by_id["edit.redo"].trigger()
    assert len(library.images()) == len(before) + 5


def test_import_files_accepts_single_files(qtbot, tmp_path: Path, monkeypatch) -> None:
    library = unlabeled_library(tmp_path)
    window = open_window(qtbot, library)
    one = make_image(tmp_path / "single" / "one_file.png", colour=(1, 2, 3))
    from PySide6.QtWidgets import QFileDialog

    monkeypatch.setattr(QFileDialog, "getOpenFileNames", lambda *a, **k: ([str(one)], ""))
    with qtbot.waitSignal(window.importer.import_finished, timeout=20000):
        window.actions_by_id["file.import_files"].trigger()
    assert str(one) in {r.path for r in library.images()}


# ------------------------------------------------------------------ 4: weights missing


def test_missing_weights_are_not_ready_and_say_what_to_do_in_gui_words(
    qtbot, tmp_path: Path
) -> None:
    from cnndesk.gui.training_pane import (
        DEFAULT_BACKBONE,
        BackboneOption,
        TrainingOptions,
        TrainingPane,
    )
    from tests.gui.pane_data import labeled_library, make_context

    pane = TrainingPane(make_context(labeled_library(tmp_path, per_class=3)))
    qtbot.addWidget(pane)
    assert pane.train_button.isEnabled()  # before the probe knows
    options = TrainingOptions(
        "cpu",
        (BackboneOption(DEFAULT_BACKBONE, "small", None), BackboneOption("simple-cnn", "", None)),
        DEFAULT_BACKBONE,
    )
    pane._apply_options(options)  # what the background probe finds on a machine without them
    assert not pane.train_button.isEnabled()
    summary = pane.summary_label.text()
    assert "Ready" not in summary.replace("Not ready", "") and "not on this computer" in summary
    assert not pane.weights_banner.isHidden()
    # A run that fails for want of weights says it without command-line options.
    pane._on_worker_failed(
        "pretrained weights ... (--weights FILE ...) (--backbone simple-cnn, or --no-pretrained).",
        "Traceback ...\ncnndesk.domain.WeightsUnavailableError: ...",
    )
    shown = pane.message_label.text()
    assert "--" not in shown and "Choose weights file" in shown
    weights = tmp_path / "lite0.safetensors"
    weights.write_bytes(b"x")
    pane.weights_edit.setText(str(weights))  # what "Choose weights file…" does
    assert pane.message_label.isHidden()  # the red error is gone
    assert pane.train_button.isEnabled() and pane.summary_label.text().startswith("Ready")
    assert pane.weights_banner.isHidden()


# ---------------------------------------------------------------- 5: another library


def test_a_new_library_leaves_nothing_of_the_old_one(qtbot, tmp_path: Path) -> None:
    old = tmp_path / "old"
    old.mkdir()
    window = open_window(qtbot, unlabeled_library(old, count=6))
    all_panes(window)
    browser = window.browser
    assert "of 6" in browser.count_label.text()
    browser.search_box.setText("img")
    prediction = window.pane("prediction")
    prediction.image_path = str(old / "images" / "img_0.png")
    prediction.answer_label.setText("red — 90.0%")
    prediction.bars.set_scores([("red", 0.9), ("blue", 0.1)])
    sort = window.pane("sort")
    sort.set_source(old / "images")
    sort._show_message("Sorted 6 images into 2 folders.")
    sort._show_counts({"red": 4, "blue": 2})
    training = window.pane("training")
    training._show_message("Training failed: something", error=True)
    window.context.status_message.emit("Imported 6 images")

    with qtbot.waitSignal(window.context.stats_loaded, timeout=5000):
        assert window.open_library_file(str(tmp_path / "new.cnndesk"))
    qtbot.waitUntil(lambda: not browser.model.loading, timeout=5000)
    assert browser.count_label.text() == "0 shown"
    assert browser.search_box.text() == ""
    assert "0 images" in window.counts_label.text()
    assert prediction.image_path is None and prediction.answer_label.text() == ""
    assert prediction.bars.scores() == []
    assert sort.message_label.text() == "" and sort.source_edit.text() == ""
    assert sort.summary_table.isHidden()
    assert training.message_label.isHidden()
    evaluation = window.pane("evaluation")
    assert evaluation.empty_label.isVisibleTo(evaluation) and evaluation.empty_label.text()
    assert window.context.undo_stack.count() == 0


# ------------------------------------------------------- 6: context menu, double-click, Escape


def find_action(menu, text: str):  # type: ignore[no-untyped-def]
    for action in menu.actions():
        if action.text().replace("&", "") == text:
            return action
        if action.menu() is not None:
            found = find_action(action.menu(), text)
            if found is not None:
                return found
    return None


def menu_action(menu, text: str):  # type: ignore[no-untyped-def]
    found = find_action(menu, text)
    assert found is not None, f"no {text!r} in {[a.text() for a in menu.actions()]}"
    return found


def test_the_grid_context_menu_labels_splits_copies_and_removes_undoably(
    qtbot, tmp_path: Path
) -> None:
    library = unlabeled_library(tmp_path)
    window = open_window(qtbot, library)
    browser = window.browser
    browser.set_current_row(2)
    record = browser.current_record()
    menu = browser.context_menu()
    texts = [a.text() for a in menu.actions() if not a.isSeparator()]
    assert texts == [
        "Label as",
        "Clear label",
        "Open",
        "Show in file manager",
        "Copy path",
        "Set split",
        "Remove from library…",
    ]
    assert [a.text() for a in menu_action(menu, "Label as").menu().actions()] == ["red", "blue"]
    menu_action(menu, "red").trigger()
    assert library.image(record.id).class_id == library.classes()[0].id

    browser.set_current_image(record.id)
    menu = browser.context_menu()
    assert menu_action(menu, "Clear label").isEnabled()
    menu_action(menu, "val").trigger()
    assert library.image(record.id).split == Split.VAL
    menu_action(menu, "Copy path").trigger()
    assert QGuiApplication.clipboard().text() == record.path

    browser.confirm_removal = lambda _question: True
    with qtbot.waitSignal(browser.model.loaded, timeout=5000):
        menu_action(browser.context_menu(), "Remove from library…").trigger()
    assert record.id not in {r.id for r in library.images()}
    assert Path(record.path).is_file()  # the file itself stays
    assert browser.model.row_of(record.id) is None
    with qtbot.waitSignal(browser.model.loaded, timeout=5000):
        window.actions_by_id["edit.undo"].trigger()
    back = library.image(record.id)
    assert back.class_id == library.classes()[0].id and back.split == Split.VAL


def test_the_list_has_the_same_menu_and_a_right_click_opens_it(qtbot, tmp_path: Path) -> None:
    window = open_window(qtbot, unlabeled_library(tmp_path))
    browser = window.browser
    browser.set_list_mode(True)
    assert browser.view.contextMenuPolicy() == Qt.ContextMenuPolicy.CustomContextMenu
    browser.view.selectAll()
    menu = browser.context_menu()
    assert menu_action(menu, "Remove 6 images from library…").isEnabled()
    assert menu_action(menu, "Copy paths").isEnabled()


def test_double_click_opens_the_image_large(qtbot, tmp_path: Path) -> None:
    from cnndesk.gui.image_dialog import ImageDialog

    window = open_window(qtbot, unlabeled_library(tmp_path))
    browser = window.browser
    index = browser.model.index(1)
    browser.view.doubleClicked.emit(index)
    dialogs = [d for d in browser.findChildren(ImageDialog) if d.isVisible()]
    assert len(dialogs) == 1
    assert dialogs[0].path == browser.model.record(1).path and dialogs[0].loaded
    assert dialogs[0].canvas.source() is not None
    dialogs[0].close()


def test_escape_clears_the_search_box(qtbot, tmp_path: Path) -> None:
    window = open_window(qtbot, unlabeled_library(tmp_path))
    browser = window.browser
    browser.focus_search()
    qtbot.keyClicks(browser.search_box, "img_3")
    with qtbot.waitSignal(browser.model.loaded, timeout=5000):
        browser.search_box.returnPressed.emit()
    assert browser.model.rowCount() == 1
    browser.search_box.setFocus()
    with qtbot.waitSignal(browser.model.loaded, timeout=5000):
        qtbot.keyClick(browser.search_box, Qt.Key.Key_Escape)
    assert browser.search_box.text() == ""
    assert browser.model.rowCount() == 6


# --------------------------------------------------------------------- 7: captions, bars


def test_grid_captions_have_room_for_underscores(qapp) -> None:
    from PySide6.QtGui import QFontMetrics

    from cnndesk.gui.image_delegate import ImageDelegate

    delegate = ImageDelegate(side=128)
    tile = QRect(0, 0, delegate.tile_size().width(), delegate.tile_size().height())
    line, baseline = delegate.caption_layout(tile)
    metrics = QFontMetrics(delegate._small)
    ink = metrics.boundingRect("flip_10308379_q.jpg").translated(line.x(), baseline)
    assert line.top() <= ink.top() and ink.bottom() <= line.bottom(), (line, ink)
    assert tile.contains(line)


def test_status_bar_bars_show_no_text_over_their_edge(qtbot, tmp_path: Path) -> None:
    from PySide6.QtWidgets import QProgressBar

    window = open_window(qtbot, unlabeled_library(tmp_path))
    all_panes(window)
    for bar in window.findChildren(QProgressBar):
        # A bar that shows text draws it outside the bar, or in one colour readable on both.
        assert not bar.isTextVisible() or bar.property("readableText"), bar.objectName()


# ------------------------------------------------------------- 8: preload, status message


def test_the_current_model_is_preloaded_in_the_background(qtbot, tmp_path: Path) -> None:
    from cnndesk.gui.prediction_pane import PredictionPane, PredictorCache, predict_request
    from tests.gui.pane_data import labeled_library, make_context
    from tests.model_folders import make_model_folder

    model = make_model_folder(tmp_path / "model", classes=("red", "blue"))
    first = next(predict_request(PredictorCache(), model, image="x.png", request_id=1))
    assert first == Progress(0, 0, "Loading the model…")  # no total: a busy bar, not "0/1"
    context = make_context(labeled_library(tmp_path, per_class=2))
    pane = PredictionPane(context)
    qtbot.addWidget(pane)
    with qtbot.waitSignal(context.job_ended, timeout=60000):
        context.set_current_model(model)  # what the end of a training run does
    assert pane.cache.loaded(model) and pane.cache.loads == 1
    assert pane.preload() is None  # loaded already: nothing to do


def test_a_long_status_message_is_elided_beside_the_labels(qtbot, tmp_path: Path) -> None:
    window = open_window(qtbot, unlabeled_library(tmp_path))
    window.resize(1024, 700)
    message = "The model could not answer: " + "a very long reason " * 20
    window.context.status_message.emit(message)
    qtbot.waitUntil(lambda: window.message_label.width() > 0, timeout=2000)
    settle_layout(qtbot, window)  # the status bar laid out again around the new message
    shown = window.message_label
    assert shown.toolTip() == message and shown.full_text() == message
    assert QLabelText(shown).endswith("…")
    right = shown.geometry().right()
    for label in (window.library_label, window.counts_label, window.device_label):
        assert QLabelText(label) == label.full_text() != ""  # shown whole at 1024 px
        assert not shown.geometry().intersects(label.geometry())
        assert right < label.geometry().left()


def QLabelText(label) -> str:  # type: ignore[no-untyped-def]
    """What a label paints (``ElidedLabel.text()`` answers the whole text)."""
    from PySide6.QtWidgets import QLabel

    return QLabel.text(label)


def test_escape_is_a_key_event_of_the_search_box_only(qtbot, tmp_path: Path) -> None:
    window = open_window(qtbot, unlabeled_library(tmp_path))
    browser = window.browser
    event = QKeyEvent(QEvent.Type.KeyPress, Qt.Key.Key_Escape, Qt.KeyboardModifier.NoModifier)
    assert not browser.eventFilter(browser.view, event)  # other widgets keep their Escape
