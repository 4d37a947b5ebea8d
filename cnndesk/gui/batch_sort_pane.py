"""The batch sort pane: let the current model sort a folder of images into class folders.

Drop a folder on the pane (or browse), choose where the sorted images go, copy or move, and how
sure the model must be (images below the threshold go to ``_uncertain``); a dry run only writes
the report of where each image would go. The sort runs
:func:`cnndesk.jobs.sort_job` on the worker, with progress; afterwards the pane lists how many
images went into each folder, opens the destination in the file manager, and can undo the last
sort into it (:func:`cnndesk.jobs.undo_sort_job`: moved files go back, copies are removed).
"""

from __future__ import annotations

import logging
from collections.abc import Generator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt, QUrl, Slot
from PySide6.QtGui import QDesktopServices, QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import (
    QAbstractScrollArea,
    QButtonGroup,
    QCheckBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QRadioButton,
    QSlider,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from cnndesk import filesort
from cnndesk.domain import ClassifyProgress, Progress, SortProgress, SortResult, UndoResult
from cnndesk.gui.progress_style import readable_progress_bar
from cnndesk.gui.results_table import results_table
from cnndesk.paths import UNCERTAIN_FOLDER

if TYPE_CHECKING:
    from cnndesk.gui.context import AppContext
    from cnndesk.gui.worker import Worker

log = logging.getLogger(__name__)

DEFAULT_THRESHOLD = 60
"""Percent: by default, images the model is less sure of than this go to ``_uncertain``."""


def _row(*widgets: QWidget, stretch_last: bool = False) -> QHBoxLayout:
    """A form row: the first widget stretches (or, with ``stretch_last``, the space after all)."""
    box = QHBoxLayout()
    box.setContentsMargins(0, 0, 0, 0)
    for n, widget in enumerate(widgets):
        box.addWidget(widget, 1 if n == 0 and not stretch_last else 0)
    if stretch_last:
        box.addStretch(1)
    return box


class BatchSortPane(QWidget):
    """Sort a folder of images into one folder per class with the current model."""

    def __init__(self, context: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("batch_sort_pane")
        self.setAcceptDrops(True)
        self.context = context
        self.worker: Worker | None = None
        self.result: SortResult | None = None
        self._undoing = False
        self._dry_run = False
        """The running sort only plans (a dry run): its progress says so."""

        self.model_label = QLabel()
        self.model_label.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.addWidget(self.model_label)
        layout.addLayout(self._build_form())
        layout.addLayout(self._build_buttons())
        self._build_progress()
        layout.addWidget(self.progress_bar)
        layout.addWidget(self.message_label)
        layout.addWidget(self._build_summary_table())
        layout.addStretch(1)
        layout.insertWidget(layout.count() - 1, self._build_empty_label())
        self.summary_table.hide()
        self.progress_bar.hide()

        context.model_changed.connect(self._on_context_model_changed)
        context.library_opened.connect(self._on_context_library_opened)
        self._on_threshold_slider_value_changed(self.threshold_slider.value())
        self._update_state()

    # ---------------------------------------------------------------------------- building

    def _build_form(self) -> QFormLayout:
        """Where the images come from and go, copy or move, and how sure the model must be."""
        self.source_edit = QLineEdit()
        self.source_edit.setPlaceholderText("Drop a folder of images on this pane, or browse")
        self.source_edit.textChanged.connect(self._on_source_edit_text_changed)
        source_browse = QPushButton("Browse…")
        source_browse.clicked.connect(self._on_source_browse_clicked)
        self.dest_edit = QLineEdit()
        self.dest_edit.setPlaceholderText("Where the class folders go")
        self.dest_edit.textChanged.connect(self._on_dest_edit_text_changed)
        dest_browse = QPushButton("Browse…")
        dest_browse.clicked.connect(self._on_dest_browse_clicked)
        self.copy_radio = QRadioButton("Copy (originals stay)")
        self.move_radio = QRadioButton("Move")
        self.copy_radio.setChecked(True)
        self._mode_group = QButtonGroup(self)
        self._mode_group.addButton(self.copy_radio)
        self._mode_group.addButton(self.move_radio)
        self.dry_run_check = QCheckBox("Dry run (only write the report)")
        self.dry_run_check.setToolTip(
            "Classify every image and write the report of where it would go, but copy or move"
            " nothing (like cnndesk sort --dry-run)"
        )
        self.threshold_slider = QSlider(Qt.Orientation.Horizontal)
        self.threshold_slider.setRange(0, 99)
        self.threshold_slider.setValue(DEFAULT_THRESHOLD)
        self.threshold_slider.valueChanged.connect(self._on_threshold_slider_value_changed)
        self.threshold_label = QLabel()
        self.threshold_label.setWordWrap(True)
        self.threshold_label.setMinimumWidth(140)
        form = QFormLayout()
        form.addRow("Images to sort", _row(self.source_edit, source_browse))
        form.addRow("Sort into", _row(self.dest_edit, dest_browse))
        form.addRow(
            "Files",
            _row(self.copy_radio, self.move_radio, self.dry_run_check, stretch_last=True),
        )
        form.addRow("Only when sure", _row(self.threshold_slider, self.threshold_label))
        return form

    def _build_buttons(self) -> QHBoxLayout:
        """Sort and Stop on the left, Open folder and Undo last sort on the right."""
        self.sort_button = QPushButton("Sort")
        self.sort_button.setDefault(True)
        self.sort_button.clicked.connect(self._on_sort_button_clicked)
        self.stop_button = QPushButton("Stop")
        self.stop_button.setEnabled(False)
        self.stop_button.clicked.connect(self._on_stop_button_clicked)
        self.open_button = QPushButton("Open folder")
        self.open_button.clicked.connect(self._on_open_button_clicked)
        self.undo_button = QPushButton("Undo last sort")
        self.undo_button.setToolTip("Put moved files back and remove the copies of the last sort")
        self.undo_button.clicked.connect(self._on_undo_button_clicked)
        buttons = QHBoxLayout()
        for button in (self.sort_button, self.stop_button, self.open_button, self.undo_button):
            button.setMinimumHeight(32)  # as wide as its text needs, never clipped
        for button in (self.sort_button, self.stop_button):
            buttons.addWidget(button)
        buttons.addStretch(1)
        for button in (self.open_button, self.undo_button):
            buttons.addWidget(button)
        return buttons

    def _build_progress(self) -> None:
        self.progress_bar = readable_progress_bar()
        self.progress_bar.setRange(0, 1000)
        self.progress_bar.setValue(0)
        self.progress_bar.setFormat("")
        self.message_label = QLabel()
        self.message_label.setWordWrap(True)
        self.message_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

    def _build_summary_table(self) -> QTableWidget:
        """How many images went into each folder (double-click opens one)."""
        self.summary_table = table = results_table(["Folder", "Images", "Share"], stretch=(0, 2))
        table.setSizeAdjustPolicy(QAbstractScrollArea.SizeAdjustPolicy.AdjustToContents)
        table.setToolTip("Double-click a folder to open it")
        table.cellDoubleClicked.connect(self._on_summary_table_cell_double_clicked)
        return table

    def _build_empty_label(self) -> QLabel:
        self.empty_label = QLabel(
            "<h3>Let the model sort a folder</h3><p>Drop a folder of images on this pane. The"
            " model puts a copy of each image (or the image itself, with Move) into a folder"
            " named after its class, inside the folder you sort into; images it is unsure about"
            f" go to <i>{UNCERTAIN_FOLDER}</i>. A report lists every file with its"
            " probabilities, and Undo last sort puts everything back.</p>"
        )
        self.empty_label.setWordWrap(True)
        self.empty_label.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        return self.empty_label

    # ------------------------------------------------------------------------------ state

    @property
    def source(self) -> Path | None:
        text = self.source_edit.text().strip()
        return Path(text) if text else None

    @property
    def dest(self) -> Path | None:
        text = self.dest_edit.text().strip()
        return Path(text) if text else None

    @property
    def model_dir(self) -> Path | None:
        """The current model, or the newest trained one when none is current yet."""
        return self.context.model_folder()

    @property
    def threshold(self) -> float:
        return self.threshold_slider.value() / 100

    @property
    def busy(self) -> bool:
        return self.worker is not None

    def set_source(self, folder: str | Path) -> None:
        """Sort this folder; the destination defaults to ``<folder> sorted`` beside it."""
        folder = Path(folder)
        self.source_edit.setText(str(folder))
        if not self.dest_edit.text().strip() or self._dest_was_default:
            self.dest_edit.setText(str(folder.with_name(f"{folder.name} sorted")))
            self._dest_was_default = True

    _dest_was_default = False

    def _update_state(self) -> None:
        model = self.model_dir
        if model is None:
            self.model_label.setText(
                "No model yet: train one in the Training pane, then let it sort folders here."
            )
        else:
            self.model_label.setText(f"Sorting with <b>{model.name}</b>")
        source, dest = self.source, self.dest
        ready = model is not None and source is not None and dest is not None
        self.sort_button.setEnabled(ready and not self.busy)
        self.stop_button.setEnabled(self.busy)
        self.open_button.setEnabled(dest is not None and dest.is_dir())
        can_undo = dest is not None and filesort.latest_journal(dest) is not None
        self.undo_button.setEnabled(can_undo and not self.busy)

    def _show_message(self, text: str, *, error: bool = False) -> None:
        self.message_label.setStyleSheet("color: #c0392b" if error else "")
        self.message_label.setText(text)

    def _show_counts(self, counts: dict[str, int]) -> None:
        self.summary_table.setVisible(bool(counts))
        self.empty_label.setVisible(not counts)
        ordered = sorted(counts.items(), key=lambda kv: (kv[0] == UNCERTAIN_FOLDER, kv[0]))
        total = sum(counts.values())
        self.summary_table.setRowCount(len(ordered))
        for row, (folder, n) in enumerate(ordered):
            name = QTableWidgetItem(folder)
            if folder == UNCERTAIN_FOLDER:
                name.setToolTip("The model was less sure than the threshold about these")
            share = n / total if total else 0.0
            count = QTableWidgetItem(str(n))
            count.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            bar = readable_progress_bar()
            bar.setRange(0, 1000)
            bar.setValue(round(1000 * share))
            bar.setFormat(f"{100 * share:.0f}%")
            self.summary_table.setItem(row, 0, name)
            self.summary_table.setItem(row, 1, count)
            self.summary_table.setCellWidget(row, 2, bar)
        self.summary_table.updateGeometry()

    # ---------------------------------------------------------------------------- actions

    def start_sort(self) -> Worker | None:
        """Sort :attr:`source` into :attr:`dest` with the current model (``None``: cannot)."""
        model, source, dest = self.model_dir, self.source, self.dest
        if self.busy:
            return self.worker
        if model is None:
            self._show_message("Train a model first (Training pane).", error=True)
            return None
        if source is None or not source.is_dir():
            self._show_message("Choose a folder of images to sort.", error=True)
            return None
        if dest is None:
            self._show_message("Choose where the sorted images should go.", error=True)
            return None
        move, threshold = self.move_radio.isChecked(), self.threshold
        dry_run = self.dry_run_check.isChecked()

        def job() -> Generator[Progress, None, SortResult]:
            from cnndesk.jobs import sort_job

            return (
                yield from sort_job(
                    model, source, dest, move=move, threshold=threshold, dry_run=dry_run
                )
            )

        self.result = None
        self._dry_run = dry_run
        self._show_counts({})
        self._show_message("")
        self.progress_bar.setValue(0)
        self.progress_bar.setFormat("Loading the model…")
        return self._run(job, title="Sorting")

    def undo_last_sort(self) -> Worker | None:
        """Undo the latest sort into :attr:`dest`."""
        dest = self.dest
        if self.busy or dest is None or filesort.latest_journal(dest) is None:
            return None

        def job() -> Generator[Progress, None, UndoResult]:
            from cnndesk.jobs import undo_sort_job

            return (yield from undo_sort_job(dest))

        self._undoing = True
        self.progress_bar.setValue(0)
        self.progress_bar.setFormat("Undoing…")
        return self._run(job, title="Undoing sort")

    def _run(self, job: Any, *, title: str) -> Worker:
        self.progress_bar.show()
        self.worker = self.context.run_job(job, title=title)
        self.worker.event.connect(self._on_worker_event)
        self.worker.finished.connect(self._on_worker_finished)
        self.worker.failed.connect(self._on_worker_failed)
        self.worker.cancelled.connect(self._on_worker_cancelled)
        self._update_state()
        return self.worker

    def _ended(self) -> None:
        self.worker = None
        self._undoing = False
        self._update_state()

    # ------------------------------------------------------------------------------ events

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if any(url.isLocalFile() for url in event.mimeData().urls()):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        paths = [Path(url.toLocalFile()) for url in event.mimeData().urls() if url.isLocalFile()]
        folders = [p if p.is_dir() else p.parent for p in paths]
        if folders:
            event.acceptProposedAction()
            self.set_source(folders[0])

    # ------------------------------------------------------------------------------ slots

    @Slot(str)
    def _on_source_edit_text_changed(self, _text: str) -> None:
        self._update_state()

    @Slot(str)
    def _on_dest_edit_text_changed(self, _text: str) -> None:
        self._dest_was_default = False
        self._update_state()

    @Slot()
    def _on_source_browse_clicked(self) -> None:
        start = str(self.source or Path.home())
        folder = QFileDialog.getExistingDirectory(self, "Folder of images to sort", start)
        if folder:
            self.set_source(folder)

    @Slot()
    def _on_dest_browse_clicked(self) -> None:
        start = str(self.dest or self.source or Path.home())
        folder = QFileDialog.getExistingDirectory(self, "Sort into", start)
        if folder:
            self.dest_edit.setText(folder)

    @Slot(int)
    def _on_threshold_slider_value_changed(self, value: int) -> None:
        if value == 0:
            self.threshold_label.setText("Sort every image, however unsure")
        else:
            self.threshold_label.setText(f"Below {value}% sure → {UNCERTAIN_FOLDER}")

    @Slot()
    def _on_sort_button_clicked(self) -> None:
        self.start_sort()

    @Slot()
    def _on_stop_button_clicked(self) -> None:
        if self.worker is not None:
            self.worker.cancel()
            self.progress_bar.setFormat("Stopping…")

    @Slot()
    def _on_undo_button_clicked(self) -> None:
        self.undo_last_sort()

    @Slot()
    def _on_open_button_clicked(self) -> None:
        if self.dest is not None:
            QDesktopServices.openUrl(QUrl.fromLocalFile(str(self.dest)))

    @Slot(int, int)
    def _on_summary_table_cell_double_clicked(self, row: int, _column: int) -> None:
        item = self.summary_table.item(row, 0)
        if item is not None and self.dest is not None:
            QDesktopServices.openUrl(QUrl.fromLocalFile(str(self.dest / item.text())))

    @Slot(object)
    def _on_worker_event(self, event: object) -> None:
        if not isinstance(event, Progress):
            return
        if event.fraction is not None:
            self.progress_bar.setValue(round(1000 * event.fraction))
        if isinstance(event, ClassifyProgress):
            verb = "Classifying"
        elif isinstance(event, SortProgress):
            verb = (
                "Undoing"
                if self._undoing
                else "Planning"
                if self._dry_run
                else ("Moving" if self.move_radio.isChecked() else "Copying")
            )
        else:
            verb = event.message or "Working"
        self.progress_bar.setFormat(
            f"{verb} {event.done} of {event.total}" if event.total else verb
        )

    @Slot(object)
    def _on_worker_finished(self, result: object) -> None:
        self.progress_bar.setValue(1000)
        if isinstance(result, SortResult):
            self.result = result
            counts = result.counts
            self._show_counts(counts)
            sorted_n = sum(counts.values())
            skipped = sum(1 for f in result.files if f.status == "skipped")
            failed = sum(1 for f in result.files if f.status == "failed")
            verb = "Moved" if result.move else "Copied"
            text = f"{verb} {sorted_n} images into {len(counts)} folders in {result.seconds:.1f} s."
            if result.dry_run:
                text = (
                    f"Dry run: nothing was moved or copied. {sorted_n} images would go into"
                    f" {len(counts)} folders (listed below) in {result.seconds:.1f} s."
                )
            if skipped:
                text += f" {skipped} unreadable files were left where they are."
            if failed:
                text += f" {failed} files could not be sorted (see the report)."
            if result.report_csv:
                text += f"\nReport: {result.report_csv}"
            self.progress_bar.setFormat("Dry run done" if result.dry_run else "Done")
            self._show_message(text, error=bool(failed))
            self.context.status_message.emit(text.split("\n", 1)[0])
        elif isinstance(result, UndoResult):
            self._show_counts({})
            text = f"Undone: {result.restored} files put back, {result.removed} copies removed."
            reports = [k for k in result.kept if k.reason == filesort.REPORT_CHANGED]
            files_kept = len(result.kept) - len(reports)
            if files_kept:
                text += f" {files_kept} files were kept in place (changed since the sort)."
            for report in reports:
                text += f"\nKept the report {report.path}: it was changed since the sort wrote it."
            self.progress_bar.setFormat("Undone")
            self._show_message(text)
            self.context.status_message.emit(text)
        self._ended()

    @Slot(str, str)
    def _on_worker_failed(self, message: str, _details: str) -> None:
        self.progress_bar.setFormat("Failed")
        self._show_message(message, error=True)
        self._ended()

    @Slot()
    def _on_worker_cancelled(self) -> None:
        self.progress_bar.setFormat("Stopped")
        self._show_message(
            "Stopped. Files already sorted stay sorted; Undo last sort puts them back."
        )
        self._ended()

    @Slot(str)
    def _on_context_model_changed(self, _folder: str) -> None:
        self._update_state()

    @Slot()
    def _on_context_library_opened(self) -> None:
        # Nothing of the old library's sort stays: its folders, message, counts and progress.
        if not self.busy:
            self.result = None
            self.source_edit.clear()
            self.dest_edit.clear()
            self._dest_was_default = False
            self._show_counts({})
            self._show_message("")
            self.progress_bar.hide()
            self.progress_bar.setValue(0)
            self.progress_bar.setFormat("")
        self._update_state()
