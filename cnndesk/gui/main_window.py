"""The main window: lays out the panes, builds the actions, connects signals. Nothing else.

Panes come from the :data:`PANES` table: ``center`` panes are tabs (created the first time their
tab is shown, so a pane that imports pyqtgraph costs nothing at start-up), the others are dock
widgets created at once. A pane whose module cannot be imported becomes a placeholder that says
why, instead of taking the window down. Window geometry and dock layout persist in the settings.
"""

from __future__ import annotations

import importlib
import logging
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QRect, QSize, Qt, QTimer, Slot
from PySide6.QtGui import QAction, QCloseEvent, QGuiApplication, QKeySequence, QResizeEvent
from PySide6.QtWidgets import (
    QAbstractSpinBox,
    QApplication,
    QDockWidget,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMainWindow,
    QMenu,
    QProgressBar,
    QPushButton,
    QSizePolicy,
    QTabWidget,
    QTextEdit,
    QVBoxLayout,
    QWidget,
)

from cnndesk.defaults import image_file_filter
from cnndesk.domain import (
    CheckResult,
    CnndeskError,
    ImageQuery,
    ImageView,
    LibraryStats,
    Progress,
)
from cnndesk.gui.actions import (
    ACTIONS,
    ActionSpec,
    class_hotkeys,
    effective_shortcuts,
    normalized,
    pane_action,
    shortcut_conflicts,
)
from cnndesk.gui.context import AppContext
from cnndesk.gui.error_dialog import show_error
from cnndesk.gui.import_dialog import DropImporter, ImportController

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class PaneSpec:
    """One pane: a stable id (``--pane``), a title, where its class lives, and where it goes."""

    id: str
    title: str
    module: str
    class_name: str
    area: str
    """``center`` (a tab), ``left``, ``right`` or ``bottom`` (a dock)."""


PANES: tuple[PaneSpec, ...] = (
    PaneSpec("browser", "Library", "cnndesk.gui.browser_pane", "BrowserPane", "center"),
    PaneSpec("training", "Train", "cnndesk.gui.training_pane", "TrainingPane", "center"),
    PaneSpec("evaluation", "Evaluate", "cnndesk.gui.evaluation_pane", "EvaluationPane", "center"),
    PaneSpec("prediction", "Predict", "cnndesk.gui.prediction_pane", "PredictionPane", "center"),
    PaneSpec("sort", "Sort Folders", "cnndesk.gui.batch_sort_pane", "BatchSortPane", "center"),
    PaneSpec("classes", "Classes", "cnndesk.gui.class_pane", "ClassPane", "left"),
    PaneSpec("viewer", "Image", "cnndesk.gui.viewer_pane", "ViewerPane", "right"),
    PaneSpec("health", "Data Health", "cnndesk.gui.health_pane", "HealthPane", "center"),
)

_DOCK_AREAS = {
    "left": Qt.DockWidgetArea.LeftDockWidgetArea,
    "right": Qt.DockWidgetArea.RightDockWidgetArea,
    "bottom": Qt.DockWidgetArea.BottomDockWidgetArea,
}
DEVICE_UNKNOWN = "device: detected when training starts"
IMAGE_FILES_FILTER = image_file_filter()
DEFAULT_SIZE = QSize(1360, 860)
"""The window's size on first start, where the screen has room for it."""
DOCK_MIN_WIDTHS = {"left": 170, "right": 200}
STATUS_MESSAGE_MS = 6000
PRELOAD_DELAY_MS = 1500
"""After start, the current model is loaded in the background this much later (the window and
its first thumbnails come first)."""


def fit_rect(wanted: QRect, available: QRect) -> QRect:
    """``wanted`` made no larger than ``available`` and moved inside it."""
    width = min(wanted.width(), available.width())
    height = min(wanted.height(), available.height())
    x = max(available.left(), min(wanted.left(), available.right() - width + 1))
    y = max(available.top(), min(wanted.top(), available.bottom() - height + 1))
    return QRect(x, y, width, height)


class ElidedLabel(QLabel):
    """A one-line label that shows as much of its text as fits, "…" for the rest, and the whole
    text as its tooltip; it never asks for more width than it is given."""

    def __init__(self, text: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._full = ""
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Preferred)
        self.set_full_text(text)

    def sizeHint(self) -> QSize:
        hint = super().sizeHint()
        width = self.fontMetrics().horizontalAdvance(self._full) + 8
        return QSize(min(width, self.maximumWidth()), hint.height())

    def minimumSizeHint(self) -> QSize:
        return QSize(min(40, self.sizeHint().width()), super().minimumSizeHint().height())

    def full_text(self) -> str:
        return self._full

    def text(self) -> str:  # the whole text; what is painted may be elided
        return self._full

    def setText(self, text: str) -> None:
        self.set_full_text(text)

    def set_full_text(self, text: str) -> None:
        changed = text != self._full
        self._full = text
        self.setToolTip(text)
        self._elide()
        if changed:
            self.updateGeometry()  # the layout asks for the new size hint

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._elide()

    def _elide(self) -> None:
        shown = self.fontMetrics().elidedText(
            self._full, Qt.TextElideMode.ElideRight, max(self.width(), 0)
        )
        QLabel.setText(self, shown)


def check_summary(result: CheckResult) -> str:
    """File → Check Library's status message: "Checked 398 images: 3 changed, 2 missing, 1
    readable again" (only the counts that are not zero)."""
    counts = (
        (result.changed, "changed"),
        (result.missing, "missing"),
        (result.unreadable, "unreadable"),
        (result.restored, "readable again"),
    )
    found = ", ".join(f"{n:,} {what}" for n, what in counts if n)
    noun = "image" if result.checked == 1 else "images"
    return f"Checked {result.checked:,} {noun}: {found or 'all readable, none changed'}"


def spec_text(action: QAction) -> str:
    """An action's menu text without its mnemonic ampersand."""
    return action.text().replace("&", "")


def create_pane(spec: PaneSpec, context: AppContext) -> QWidget:
    """Import the pane's module and build it; a placeholder saying why if that fails."""
    try:
        module = importlib.import_module(spec.module)
        return getattr(module, spec.class_name)(context)
    except Exception as exc:  # a pane boundary: one broken pane must not stop the app
        log.exception("the %s pane cannot be created", spec.id)
        placeholder = QLabel(f"The {spec.title} pane is not available:\n{exc}")
        placeholder.setAlignment(Qt.AlignmentFlag.AlignCenter)
        placeholder.setWordWrap(True)
        return placeholder


class JobStatusWidget(QWidget):
    """Status-bar progress of the running job, with a Cancel button; hidden when idle."""

    def __init__(self, context: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._context = context
        self.label = ElidedLabel(parent=self)
        self.label.setMaximumWidth(220)
        self.bar = QProgressBar(self)
        self.bar.setFixedWidth(120)
        self.bar.setTextVisible(False)
        self.cancel_button = QPushButton("Cancel", self)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.label)
        layout.addWidget(self.bar)
        layout.addWidget(self.cancel_button)
        self.cancel_button.clicked.connect(self._on_cancel_button_clicked)
        context.job_started.connect(self._on_context_job_started)
        context.job_ended.connect(self._on_context_job_ended)
        context.job_progressed.connect(self._on_context_job_progressed)
        self.hide()

    @Slot(str)
    def _on_context_job_started(self, title: str) -> None:
        self.label.set_full_text(f"{title}…")
        self.bar.setRange(0, 0)
        self.show()

    @Slot(str)
    def _on_context_job_ended(self, _title: str) -> None:
        if not self._context.running_jobs:
            self.hide()

    @Slot(str, object)
    def _on_context_job_progressed(self, title: str, event: object) -> None:
        if not isinstance(event, Progress):
            return
        if event.total:
            self.bar.setRange(0, event.total)
            self.bar.setValue(min(event.done, event.total))
            text = f"{title}: {event.done:,}/{event.total:,}"
        else:
            self.bar.setRange(0, 0)  # busy indicator: the total is not known yet
            text = f"{title}: {event.message}" if event.message else f"{title}…"
        self.label.set_full_text(text)

    @Slot()
    def _on_cancel_button_clicked(self) -> None:
        self._context.cancel_jobs(wait_ms=0)


class MainWindow(QMainWindow):
    """The window; ``panes`` maps pane id → widget (only created panes)."""

    def __init__(self, context: AppContext) -> None:
        super().__init__()
        self.setObjectName("MainWindow")
        self.context = context
        self.panes: dict[str, QWidget] = {}
        self.docks: dict[str, QDockWidget] = {}
        self.actions_by_id: dict[str, QAction] = {}
        self.persist_layout = True
        """False for ``--screenshot``: its window size must not become the user's."""
        self._class_actions: list[QAction] = []
        self._tab_specs: list[PaneSpec] = []
        self.setDockOptions(
            QMainWindow.DockOption.AnimatedDocks | QMainWindow.DockOption.AllowTabbedDocks
        )
        self.tabs = QTabWidget(self)
        self.tabs.setObjectName("paneTabs")
        self.tabs.setDocumentMode(True)
        self.setCentralWidget(self.tabs)
        for spec in PANES:
            self._add_pane(spec)
        self.browser = self.panes["browser"]

        self.importer = ImportController(context, parent_widget=self)
        self.drop_importer = DropImporter(self)
        self.drop_importer.watch(self)
        if hasattr(self.browser, "drop_target"):
            self.drop_importer.watch(self.browser.drop_target())

        self._build_actions()
        self._build_menus()
        self._build_status_bar()
        self._update_title()
        self.resize(DEFAULT_SIZE)
        self._layout_restored = False
        self._restore_layout()

        self.tabs.currentChanged.connect(self._on_tabs_current_changed)
        self.drop_importer.paths_dropped.connect(self._on_drop_importer_paths_dropped)
        context.status_message.connect(self._on_context_status_message)
        context.library_opened.connect(self._on_context_library_opened)
        context.classes_loaded.connect(self._on_context_classes_loaded)
        context.stats_loaded.connect(self._on_context_stats_loaded)
        context.device_detected.connect(self._on_context_device_detected)
        context.pane_requested.connect(self.show_pane)
        QApplication.instance().focusChanged.connect(self._on_app_focus_changed)  # type: ignore[union-attr]
        context.refresh()

    # ------------------------------------------------------------------------------- panes

    def _add_pane(self, spec: PaneSpec) -> None:
        if spec.area == "center":
            holder = QWidget(self.tabs)
            holder.setObjectName(f"{spec.id}Tab")
            QVBoxLayout(holder).setContentsMargins(0, 0, 0, 0)
            self.tabs.addTab(holder, spec.title)
            self._tab_specs.append(spec)
            if len(self._tab_specs) == 1:
                self._create_tab_pane(0)
            return
        dock = QDockWidget(spec.title, self)
        dock.setObjectName(f"{spec.id}Dock")
        dock.setFeatures(
            QDockWidget.DockWidgetFeature.DockWidgetMovable
            | QDockWidget.DockWidgetFeature.DockWidgetFloatable
            | QDockWidget.DockWidgetFeature.DockWidgetClosable
        )
        pane = create_pane(spec, self.context)
        dock.setWidget(pane)
        self.addDockWidget(_DOCK_AREAS.get(spec.area, Qt.DockWidgetArea.RightDockWidgetArea), dock)
        self.panes[spec.id] = pane
        self.docks[spec.id] = dock
        if spec.area in DOCK_MIN_WIDTHS:
            dock.setMinimumWidth(DOCK_MIN_WIDTHS[spec.area])

    def _create_tab_pane(self, index: int) -> QWidget:
        spec = self._tab_specs[index]
        if spec.id in self.panes:
            return self.panes[spec.id]
        pane = create_pane(spec, self.context)
        self.tabs.widget(index).layout().addWidget(pane)
        self.panes[spec.id] = pane
        return pane

    def pane(self, pane_id: str) -> QWidget | None:
        """The pane with this id, created (if it is a tab not shown yet) on the way."""
        for index, spec in enumerate(self._tab_specs):
            if spec.id == pane_id:
                return self._create_tab_pane(index)
        return self.panes.get(pane_id)

    @Slot(str)
    def show_pane(self, pane_id: str) -> bool:
        """Bring a pane to the front; ``False`` for an unknown id."""
        for index, spec in enumerate(self._tab_specs):
            if spec.id == pane_id:
                self._create_tab_pane(index)
                self.tabs.setCurrentIndex(index)
                return True
        dock = self.docks.get(pane_id)
        if dock is None:
            return False
        dock.show()
        dock.raise_()
        return True

    @Slot(int)
    def _on_tabs_current_changed(self, index: int) -> None:
        if 0 <= index < len(self._tab_specs):
            self._create_tab_pane(index)

    # ----------------------------------------------------------------------------- actions

    def _handlers(self) -> dict[str, object]:
        browser = self.browser
        handlers: dict[str, object] = {
            "file.new": self.new_library,
            "file.open": self.open_library,
            "file.import": self.import_folder,
            "file.check": self.check_library,
            "file.import_files": self.import_files,
            "file.quit": self.close,
            "edit.undo": self.context.undo_stack.undo,
            "edit.redo": self.context.undo_stack.redo,
            "edit.find": getattr(browser, "focus_search", None),
            "edit.select_all": getattr(browser, "select_all", None),
            "edit.shortcuts": self.edit_shortcuts,
            "label.accept": getattr(browser, "accept_suggestion", None),
            "label.clear": getattr(browser, "clear_label", None),
            "go.next": lambda: browser.go(1),
            "go.previous": lambda: browser.go(-1),
            "go.next_unlabeled": lambda: browser.go(1, unlabeled=True),
            "go.previous_unlabeled": lambda: browser.go(-1, unlabeled=True),
            "view.list_mode": lambda: browser.set_list_mode(
                self.actions_by_id["view.list_mode"].isChecked()
            ),
            "view.zoom_in": lambda: browser.zoom(1),
            "view.zoom_out": lambda: browser.zoom(-1),
            "view.refresh": self.refresh,
            "view.heatmap": getattr(self.panes.get("viewer"), "toggle_heatmap", None),
            "model.train": self.train_now,
            "model.stop": self.stop_training,
        }
        for n in range(1, 10):
            handlers[f"label.class.{n}"] = lambda _=False, n=n: browser.label_with_position(n - 1)
        return handlers

    @Slot()
    def train_now(self) -> None:
        """Model → Train: bring the Train tab forward and start a run with its settings."""
        self.show_pane("training")
        pane = self.pane("training")
        if pane is not None:
            pane.start_training()

    @Slot()
    def stop_training(self) -> None:
        """Model → Stop Training: the running run stops and keeps its best epoch."""
        pane = self.panes.get("training")
        if pane is not None:
            pane.stop_training()

    def all_action_specs(self) -> list[ActionSpec]:
        panes = [pane_action(spec.id, spec.title, i) for i, spec in enumerate(PANES)]
        return [*ACTIONS, *panes]

    def _build_actions(self) -> None:
        overrides = self.context.settings.shortcut_overrides()
        specs = self.all_action_specs()
        shortcuts = effective_shortcuts(specs, overrides)
        conflicts = shortcut_conflicts(shortcuts)
        for sequence, ids in conflicts.items():
            log.warning("shortcut %s is used by %s; only the first keeps it", sequence, ids)
            for action_id in ids[1:]:
                shortcuts[action_id] = ""
        handlers = self._handlers()
        for spec in specs:
            action = QAction(spec.text, self)
            action.setObjectName(spec.id)
            action.setCheckable(spec.checkable)
            if shortcuts[spec.id]:
                action.setShortcut(QKeySequence(shortcuts[spec.id]))
                action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
            if spec.tip:
                action.setStatusTip(spec.tip)
            if spec.id.startswith("pane."):
                pane_id = spec.id.removeprefix("pane.")
                action.triggered.connect(lambda _=False, p=pane_id: self.show_pane(p))
            elif handlers.get(spec.id) is not None:
                action.triggered.connect(handlers[spec.id])
            else:
                action.setEnabled(False)
            action.setProperty("bare", spec.bare)
            self.addAction(action)
            self.actions_by_id[spec.id] = action
        if hasattr(self.browser, "add_tool_action"):
            for action_id, short in (
                ("view.zoom_out", "−"),
                ("view.zoom_in", "+"),
                ("view.list_mode", "List"),
            ):
                action = self.actions_by_id[action_id]
                action.setIconText(short)  # what a tool button shows; menus keep the text
                action.setToolTip(f"{spec_text(action)} ({action.shortcut().toString()})")
                self.browser.add_tool_action(action)
        self.actions_by_id["view.list_mode"].setChecked(
            self.context.settings.browser_mode == "list"
        )
        self.context.undo_stack.canUndoChanged.connect(self.actions_by_id["edit.undo"].setEnabled)
        self.context.undo_stack.canRedoChanged.connect(self.actions_by_id["edit.redo"].setEnabled)
        self.actions_by_id["edit.undo"].setEnabled(False)
        self.actions_by_id["edit.redo"].setEnabled(False)
        self.context.undo_stack.undoTextChanged.connect(self._on_undo_stack_undo_text_changed)
        self.context.undo_stack.redoTextChanged.connect(self._on_undo_stack_redo_text_changed)
        self.context.action_shortcuts = dict(shortcuts)

    def _build_menus(self) -> None:
        menus: dict[str, QMenu] = {}
        bar = self.menuBar()
        for name in ("File", "Edit", "Label", "Go", "Model", "View"):
            menus[name] = bar.addMenu(f"&{name}")
        self.recent_menu = QMenu("Open &Recent", self)
        self.recent_menu.aboutToShow.connect(self._on_recent_menu_about_to_show)
        for spec in self.all_action_specs():
            if spec.menu in menus:
                menu = menus[spec.menu]
                menu.addAction(self.actions_by_id[spec.id])
                if spec.id == "file.open":
                    menu.addMenu(self.recent_menu)
                if spec.id in ("file.import_files", "edit.redo", "label.class.9", "view.refresh"):
                    menu.addSeparator()
        self.class_menu = menus["Label"]

    def _rebuild_class_actions(self) -> None:
        """Each class's own hotkey (keys 1–9 are fixed actions that follow the class order)."""
        for action in self._class_actions:
            self.removeAction(action)
            self.class_menu.removeAction(action)
            action.deleteLater()
        self._class_actions = []
        used = {k.lower() for k in self.context.action_shortcuts.values() if k}
        for position, info in enumerate(self.context.classes):
            label = self.actions_by_id.get(f"label.class.{position + 1}")
            if label is not None:
                label.setText(f"Label as {info.name}")
        for n in range(len(self.context.classes) + 1, 10):
            self.actions_by_id[f"label.class.{n}"].setText(f"Label as Class {n} (none yet)")
        for action_id, hotkey in class_hotkeys(self.context.classes).items():
            if hotkey.lower() in used:
                log.warning("class hotkey %s clashes with an action; ignored", hotkey)
                continue
            class_id = int(action_id.rsplit(".", 1)[1])
            info = self.context.class_by_id(class_id)
            action = QAction(f"Label as {info.name if info else class_id}", self)
            action.setObjectName(action_id)
            action.setShortcut(QKeySequence(hotkey))
            action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
            action.setProperty("bare", True)
            action.triggered.connect(lambda _=False, c=class_id: self.browser.label_with(c))
            self.addAction(action)
            self.class_menu.addAction(action)
            self._class_actions.append(action)

    def refresh(self) -> None:
        """Read everything again: the filter's images (labeled ones leave "Unlabeled"), counts."""
        if hasattr(self.browser, "reload"):
            self.browser.reload()
        self.context.refresh()

    def edit_shortcuts(self) -> None:
        from cnndesk.gui.shortcuts_dialog import ShortcutsDialog

        specs = self.all_action_specs()
        dialog = ShortcutsDialog(
            specs,
            self.context.action_shortcuts,
            reserved=class_hotkeys(self.context.classes),
            names=self._shortcut_owner_names(),
            parent=self,
        )
        if dialog.exec() == ShortcutsDialog.DialogCode.Accepted:
            self.apply_shortcuts(dialog.shortcuts())

    def _shortcut_owner_names(self) -> dict[str, str]:
        names = {a.id: f"“{a.text.replace('&', '')}”" for a in self.all_action_specs()}
        for info in self.context.classes:
            names[f"label.hotkey.{info.id}"] = f"the class {info.name!r}"
        return names

    def apply_shortcuts(self, shortcuts: dict[str, str]) -> list[str]:
        """Use these keys (action id → key) now and from now on; the problems if they collide."""
        from cnndesk.gui.shortcuts_dialog import check_shortcuts

        wanted = {**self.context.action_shortcuts, **shortcuts}
        problems = check_shortcuts(
            wanted, class_hotkeys(self.context.classes), self._shortcut_owner_names()
        )
        if problems:
            return problems
        defaults = {spec.id: spec.shortcut for spec in self.all_action_specs()}
        settings = self.context.settings
        for action_id, sequence in shortcuts.items():
            action = self.actions_by_id.get(action_id)
            if action is None:
                continue
            action.setShortcut(QKeySequence(sequence))
            spec_bare = bool(sequence) and not any(
                mod in sequence for mod in ("Ctrl+", "Alt+", "Meta+")
            )
            action.setProperty("bare", spec_bare)
            if normalized(sequence) == normalized(defaults.get(action_id, "")):
                settings.reset_shortcut(action_id)
            else:
                settings.set_shortcut(action_id, sequence)
        settings.sync()
        self.context.action_shortcuts = wanted
        self._rebuild_class_actions()
        return []

    @Slot(QWidget, QWidget)
    def _on_app_focus_changed(self, _old: QWidget | None, new: QWidget | None) -> None:
        """Plain-key actions are off while a text field has the focus (typing is not labeling)."""
        typing = isinstance(new, QLineEdit | QTextEdit | QAbstractSpinBox)
        for action in [*self.actions_by_id.values(), *self._class_actions]:
            if action.property("bare"):
                action.setEnabled(not typing)

    # ----------------------------------------------------------------------------- library

    def new_library(self) -> None:
        path, _ = QFileDialog.getSaveFileName(
            self, "New library", str(Path.home() / "images.cnndesk"), "cnndesk library (*.cnndesk)"
        )
        if path:
            if not path.endswith(".cnndesk"):
                path += ".cnndesk"
            self.open_library_file(path)

    def open_library(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Open library", str(Path.home()), "cnndesk library (*.cnndesk);;All files (*)"
        )
        if path:
            self.open_library_file(path)

    def open_library_file(self, path: str) -> bool:
        from cnndesk.library import Library

        try:
            library = Library.open(path)
        except CnndeskError as exc:
            show_error(self, "Cannot open the library", str(exc))
            return False
        except Exception as exc:  # a user action boundary
            log.exception("opening %s failed", path)
            show_error(self, "Cannot open the library", f"{path}: {exc}")
            return False
        self.context.set_library(library)
        return True

    def check_library(self) -> None:
        """File → Check Library: re-read every image's file on the worker (``cnndesk check``)."""
        from cnndesk.jobs import check_job

        library = self.context.library
        worker = self.context.run_job(lambda: check_job(library), title="Checking the library")
        worker.finished.connect(self._on_check_worker_finished)
        worker.failed.connect(self._on_check_worker_failed)
        self._check_worker = worker

    @Slot(object)
    def _on_check_worker_finished(self, result: object) -> None:
        if isinstance(result, CheckResult):
            self.context.status_message.emit(check_summary(result))
            # The offer goes with its message (hidden by the next message or the timeout).
            self.show_changed_button.setVisible(result.changed > 0)
        self.context.refresh()
        self.browser.reload()  # the shown records' statuses and "changed" marks are stale

    def show_changed_images(self) -> None:
        """Show the browser's "Changed — check the label" filter (the status bar's offer)."""
        self.show_changed_button.hide()
        self.show_pane("browser")
        self.browser.set_query(ImageQuery(view=ImageView.CHANGED))

    @Slot(str, str)
    def _on_check_worker_failed(self, message: str, _details: str) -> None:
        show_error(self, "Cannot check the library", message)

    def import_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Import a folder of images")
        if folder:
            self.importer.start([folder])

    def import_files(self) -> None:
        files, _ = QFileDialog.getOpenFileNames(
            self, "Import image files", str(Path.home()), IMAGE_FILES_FILTER
        )
        if files:
            self.importer.start(list(files))

    @Slot(str)
    def _on_undo_stack_undo_text_changed(self, text: str) -> None:
        self.actions_by_id["edit.undo"].setText(f"&Undo {text}" if text else "&Undo")

    @Slot(str)
    def _on_undo_stack_redo_text_changed(self, text: str) -> None:
        self.actions_by_id["edit.redo"].setText(f"&Redo {text}" if text else "&Redo")

    @Slot()
    def _on_recent_menu_about_to_show(self) -> None:
        self.recent_menu.clear()
        recent = self.context.settings.recent_libraries
        if not recent:
            self.recent_menu.addAction("(none yet)").setEnabled(False)
        for path in recent:
            action = self.recent_menu.addAction(path)
            action.triggered.connect(lambda _=False, p=path: self.open_library_file(p))

    @Slot(list)
    def _on_drop_importer_paths_dropped(self, paths: list) -> None:
        self.show_pane("browser")
        self.importer.start([str(p) for p in paths])

    # -------------------------------------------------------------------------- status bar

    def _build_status_bar(self) -> None:
        status = self.statusBar()
        self.message_label = ElidedLabel(parent=self)
        """Status messages: elided beside the permanent labels (never over them), whole in the
        tooltip; cleared after a few seconds."""
        self.message_label.setObjectName("statusMessage")
        self.message_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self._message_timer = QTimer(self)
        self._message_timer.setSingleShot(True)
        self._message_timer.setInterval(STATUS_MESSAGE_MS)
        self._message_timer.timeout.connect(self._on_message_timer_timeout)
        self.library_label = ElidedLabel(parent=self)
        self.library_label.setObjectName("libraryLabel")
        self.library_label.setMaximumWidth(200)
        self.counts_label = ElidedLabel(parent=self)
        self.counts_label.setObjectName("countsLabel")
        self.counts_label.setMaximumWidth(280)
        self.job_status = JobStatusWidget(self.context, self)
        self.device_label = ElidedLabel(DEVICE_UNKNOWN, self)
        self.device_label.setObjectName("deviceLabel")
        self.device_label.setMaximumWidth(240)
        self.show_changed_button = QPushButton("Show changed", self)
        self.show_changed_button.setObjectName("showChangedButton")
        self.show_changed_button.setToolTip(
            "Show the images whose files changed since they were labeled: check their labels"
        )
        self.show_changed_button.setFlat(True)
        self.show_changed_button.hide()
        self.show_changed_button.clicked.connect(self.show_changed_images)
        status.addWidget(self.message_label, 1)
        status.addWidget(self.show_changed_button)
        status.addPermanentWidget(self.job_status)
        status.addPermanentWidget(self.library_label)
        status.addPermanentWidget(self.counts_label)
        status.addPermanentWidget(self.device_label)

    def _update_title(self) -> None:
        library = self.context.library
        self.setWindowTitle(f"{library.display_name} — cnndesk")
        self.library_label.set_full_text(f"library: {library.display_name}")
        self.library_label.setToolTip(str(library.path or library.location))

    @Slot(str)
    def _on_context_status_message(self, message: str) -> None:
        self.show_changed_button.hide()
        self.message_label.set_full_text(message)
        self._message_timer.start()

    @Slot()
    def _on_message_timer_timeout(self) -> None:
        self.show_changed_button.hide()
        self.message_label.set_full_text("")

    @Slot()
    def _on_context_library_opened(self) -> None:
        self._update_title()

    @Slot(list)
    def _on_context_classes_loaded(self, _classes: list) -> None:
        self._rebuild_class_actions()

    @Slot(object)
    def _on_context_stats_loaded(self, stats: object) -> None:
        if isinstance(stats, LibraryStats):
            self.counts_label.set_full_text(
                f"{stats.images:,} images · {stats.unlabeled:,} unlabeled · "
                f"{len(stats.classes)} classes"
            )

    @Slot(str)
    def _on_context_device_detected(self, device: str) -> None:
        self.device_label.set_full_text(f"device: {device}")

    # ---------------------------------------------------------------------------- lifecycle

    def _restore_layout(self) -> None:
        settings = self.context.settings
        if settings.window_geometry is not None:
            self._layout_restored = self.restoreGeometry(settings.window_geometry)
        if settings.window_state is not None:
            self.restoreState(settings.window_state)
        else:
            self._size_docks(self.width())

    def _size_docks(self, width: int) -> None:
        """The docks' first widths: a fifth and a quarter of the window, at least their minimum."""
        self.resizeDocks(
            [self.docks["classes"], self.docks["viewer"]],
            [max(DOCK_MIN_WIDTHS["left"], min(270, width // 5)),
             max(DOCK_MIN_WIDTHS["right"], min(420, width // 4))],
            Qt.Orientation.Horizontal,
        )  # fmt: skip

    def available_geometry(self) -> QRect:
        """The screen area the window may use (without panels and docks of the desktop)."""
        screen = self.screen() or QGuiApplication.primaryScreen()
        return screen.availableGeometry() if screen is not None else QRect(0, 0, 1024, 700)

    def show_fitted(self) -> None:
        """Show the window inside the screen's available area: on first start as large as
        :data:`DEFAULT_SIZE` where that fits, a saved geometry never larger than the screen."""
        room = self.available_geometry()
        if self._layout_restored:
            wanted = self.geometry()
        else:
            wanted = QRect(0, 0, DEFAULT_SIZE.width(), DEFAULT_SIZE.height())
            wanted.moveCenter(room.center())
        fitted = fit_rect(wanted, room)
        self.setGeometry(fitted)
        if not self._layout_restored and self.context.settings.window_state is None:
            self._size_docks(fitted.width())
        self.show()
        QTimer.singleShot(0, self._keep_on_screen)

    @Slot()
    def _keep_on_screen(self) -> None:
        """Once the window manager framed the window: shrink and move it so the frame fits too."""
        if self.isMaximized() or self.isFullScreen():
            return
        available = self.available_geometry()
        frame = self.frameGeometry()
        if available.contains(frame):
            return
        extra = QSize(frame.width() - self.width(), frame.height() - self.height())
        fitted = fit_rect(frame, available)
        self.resize(fitted.width() - extra.width(), fitted.height() - extra.height())
        self.move(fitted.topLeft())

    def preload_in_background(self, delay_ms: int = PRELOAD_DELAY_MS) -> None:
        """Load the current model for predictions soon after start, off the GUI thread."""
        QTimer.singleShot(delay_ms, self._on_preload_timer_timeout)

    @Slot()
    def _on_preload_timer_timeout(self) -> None:
        pane = self.pane("prediction")
        if pane is not None and hasattr(pane, "preload"):
            pane.preload()

    def save_layout(self) -> None:
        settings = self.context.settings
        settings.window_geometry = self.saveGeometry()
        settings.window_state = self.saveState()
        settings.sync()

    def closeEvent(self, event: QCloseEvent) -> None:
        if self.persist_layout:
            self.save_layout()
        self.context.cancel_jobs()
        super().closeEvent(event)
