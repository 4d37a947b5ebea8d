"""The main window: lays out the panes, builds the actions, connects signals. Nothing else.

Panes come from the :data:`PANES` table: ``center`` panes are tabs (created the first time their
tab is shown, so a pane that imports pyqtgraph costs nothing at start-up), the others are dock
widgets created at once. A pane whose module cannot be imported becomes a placeholder that says
why, instead of taking the window down. Window geometry and dock layout persist in the settings.

What the window's commands do lives beside it: the menus and shortcuts in ``window_actions``,
opening libraries in ``library_opener``, importing in ``import_flow`` (the import itself in
``import_dialog``), File → Check Library in ``check_flow``, the status bar in ``status_bar``.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable
from dataclasses import dataclass

from PySide6.QtCore import QRect, QSize, Qt, QTimer, Slot
from PySide6.QtGui import QCloseEvent, QGuiApplication
from PySide6.QtWidgets import (
    QDockWidget,
    QLabel,
    QMainWindow,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from cnndesk.gui.actions import ACTIONS, ActionSpec, pane_action
from cnndesk.gui.check_flow import CheckLibraryFlow
from cnndesk.gui.context import AppContext
from cnndesk.gui.import_flow import ImportFlow
from cnndesk.gui.library_opener import LibraryOpener
from cnndesk.gui.status_bar import WindowStatus
from cnndesk.gui.window_actions import WindowActions

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
DEFAULT_SIZE = QSize(1360, 860)
"""The window's size on first start, where the screen has room for it."""
DOCK_MIN_WIDTHS = {"left": 170, "right": 200}
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


class MainWindow(QMainWindow):
    """The window; ``panes`` maps pane id → widget (only created panes)."""

    def __init__(self, context: AppContext) -> None:
        super().__init__()
        self.setObjectName("MainWindow")
        self.context = context
        self.panes: dict[str, QWidget] = {}
        self.docks: dict[str, QDockWidget] = {}
        self.persist_layout = True
        """False for ``--screenshot``: its window size must not become the user's."""
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

        self.import_flow = ImportFlow(context, window=self)
        self.importer = self.import_flow.controller
        if hasattr(self.browser, "drop_target"):
            self.import_flow.watch(self.browser.drop_target())
        self.opener = LibraryOpener(context, window=self)
        self._build_actions()
        self._build_status_bar()
        self.check_flow = CheckLibraryFlow(
            context,
            status=self.status,
            reload_images=getattr(self.browser, "reload", lambda: None),
            parent_widget=self,
        )
        self._update_title()
        self.resize(DEFAULT_SIZE)
        self._layout_restored = False
        self._restore_layout()

        self.tabs.currentChanged.connect(self._on_tabs_current_changed)
        context.library_opened.connect(self._on_context_library_opened)
        context.pane_requested.connect(self.show_pane)
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

    def _handlers(self) -> dict[str, Callable[..., object] | None]:
        """What each action does (action id → callable; ``None``: the pane lacks it)."""
        browser = self.browser
        handlers: dict[str, Callable[..., object] | None] = {
            "file.new": self.opener.new_library,
            "file.open": self.opener.open_library,
            "file.import": self.import_flow.import_folder,
            "file.check": lambda: self.check_flow.start(),
            "file.verify": lambda: self.check_flow.start(verify=True),
            "file.import_files": self.import_flow.import_files,
            "file.quit": self.close,
            "edit.undo": self.context.undo_stack.undo,
            "edit.redo": self.context.undo_stack.redo,
            "edit.find": getattr(browser, "focus_search", None),
            "edit.select_all": getattr(browser, "select_all", None),
            "edit.shortcuts": lambda: self.window_actions.edit_shortcuts(),
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

    def _build_actions(self) -> None:
        self.window_actions = WindowActions(
            self,
            self.context,
            specs=self.all_action_specs(),
            handlers=self._handlers(),
            show_pane=self.show_pane,
            label_with=lambda class_id: self.browser.label_with(class_id),
            recent_menu=self.opener.recent_menu,
        )
        self.actions_by_id = self.window_actions.by_id
        if hasattr(self.browser, "add_tool_action"):
            self.window_actions.add_tool_actions(self.browser.add_tool_action)

    def all_action_specs(self) -> list[ActionSpec]:
        """Every action of the window: the table's, then one "show pane" action per pane."""
        panes = [pane_action(spec.id, spec.title, i) for i, spec in enumerate(PANES)]
        return [*ACTIONS, *panes]

    def apply_shortcuts(self, shortcuts: dict[str, str]) -> list[str]:
        """Use these keys (action id → key) now and from now on; the problems if they collide."""
        return self.window_actions.apply_shortcuts(shortcuts)

    def _on_app_focus_changed(self, old: QWidget | None, new: QWidget | None) -> None:
        self.window_actions.on_focus_changed(old, new)

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

    def refresh(self) -> None:
        """Read everything again: the filter's images (labeled ones leave "Unlabeled"), counts."""
        if hasattr(self.browser, "reload"):
            self.browser.reload()
        self.context.refresh()

    def open_library_file(self, path: str) -> bool:
        """Open (or create) the library at ``path``; ``False`` (after a dialog) if it cannot."""
        return self.opener.open_library_file(path)

    # -------------------------------------------------------------------------- status bar

    def _build_status_bar(self) -> None:
        self.status = WindowStatus(self.context, self)
        self.message_label = self.status.message_label
        self.library_label = self.status.library_label
        self.counts_label = self.status.counts_label
        self.device_label = self.status.device_label
        self.job_status = self.status.job_status
        self.show_changed_button = self.status.show_changed_button

    def _update_title(self) -> None:
        self.setWindowTitle(f"{self.context.library.display_name} — cnndesk")

    @Slot()
    def _on_context_library_opened(self) -> None:
        self._update_title()

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
