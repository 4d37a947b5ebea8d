"""The Data health pane: the audit's findings as lists, each a way into the library browser.

"Run audit" runs :func:`cnndesk.health.audit_job` on the worker. A click on a finding shows its
images in the browser (``AppContext.show_images``, as the Evaluate pane does). In the label list,
``A`` accepts the suggested label (undoable, like any label) and ``K`` keeps the given one and
marks it reviewed, so the audit does not bring it back; the keys act only while the list has the
focus. "One split" puts a duplicate group into the split most of it is in (train on a tie;
undoable). Undoing an accept or a split puts its finding back in the list; opening another
library clears the findings.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QEvent, QObject, Qt, Signal, Slot
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QStackedWidget,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from cnndesk.domain import ImageQuery, Split
from cnndesk.gui.context import AppContext
from cnndesk.health import FINDING_KINDS, empty_findings_text, summary_text
from cnndesk.outputs import printable

log = logging.getLogger(__name__)

NOT_RUN = "Run the audit to check the data (uses the newest model)."
ACCEPT_KEY = Qt.Key.Key_A
KEEP_KEY = Qt.Key.Key_K


def _name(path: str) -> str:
    return printable(path.replace("\\", "/").rsplit("/", 1)[-1])


@dataclass
class _Taken:
    """A finding taken out of its list by the undo step that ended at ``step`` on the stack."""

    step: int
    command: object
    """The undo step itself: a new edit after an undo replaces it at the same index."""
    view: QListWidget
    row: int
    item: QListWidgetItem
    back: bool = False
    """Whether the step is undone, so the finding is in its list again."""


class HealthPane(QWidget):
    """Findings of the data-health audit (signals: ``audit_finished``, ``finding_resolved``)."""

    audit_finished = Signal(object)
    finding_resolved = Signal(str)

    def __init__(self, context: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.context = context
        self.report: Any = None
        self.run_button = QPushButton("Run audit", self)
        self.run_button.setToolTip("Look for likely label errors, duplicates and odd images")
        self.summary = QLabel(NOT_RUN, self)
        self.summary.setWordWrap(True)
        self.tabs = QTabWidget(self)
        self.labels_list = QListWidget(self)
        self.labels_list.setToolTip(
            "Likely label errors, worst first. Click: show in the library. "
            "A: accept the suggestion. K: keep the label (reviewed)."
        )
        self.duplicates_list = QListWidget(self)
        self.outliers_list = QListWidget(self)
        self.balance_list = QListWidget(self)
        self.one_split_button = QPushButton("Put group in one split", self)
        self.one_split_button.setEnabled(False)
        self._stacks: list[QStackedWidget] = []
        self.empty_labels: list[QLabel] = []
        """Per tab, what its list says when empty: none found and on what, or what to do."""
        for view in self._views():
            stack = QStackedWidget(self)
            empty = QLabel(self)
            empty.setWordWrap(True)
            empty.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
            empty.setMargin(12)
            stack.addWidget(view)
            stack.addWidget(empty)
            self._stacks.append(stack)
            self.empty_labels.append(empty)
        duplicates = QWidget(self)
        box = QVBoxLayout(duplicates)
        box.setContentsMargins(0, 0, 0, 0)
        box.addWidget(self._stacks[1])
        box.addWidget(self.one_split_button)
        self.tabs.addTab(self._stacks[0], "Labels")
        self.tabs.addTab(duplicates, "Duplicates")
        self.tabs.addTab(self._stacks[2], "Outliers")
        self.tabs.addTab(self._stacks[3], "Balance")
        top = QHBoxLayout()
        top.addWidget(self.run_button)
        top.addWidget(self.summary, 1)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.tabs, 1)
        self.run_button.clicked.connect(self._on_run_button_clicked)
        for view in (self.labels_list, self.duplicates_list, self.outliers_list):
            view.itemClicked.connect(self._on_finding_clicked)
        self.duplicates_list.currentItemChanged.connect(self._on_duplicate_current_changed)
        self.one_split_button.clicked.connect(self._on_one_split_clicked)
        self.labels_list.installEventFilter(self)
        self._worker = None
        self._taken: list[_Taken] = []
        context.undo_stack.indexChanged.connect(self._on_undo_index_changed)
        context.library_opened.connect(self._on_library_opened)
        self._show_empty_lists()

    # --------------------------------------------------------------------------- running

    @Slot()
    def _on_run_button_clicked(self) -> None:
        self.run_audit()

    def run_audit(self) -> None:
        """Start the audit on the worker (the findings appear when it ends)."""
        from cnndesk.health import audit_job

        library = self.context.library
        model = self.context.current_model
        self.run_button.setEnabled(False)
        self.summary.setText("Auditing…")
        self._worker = self.context.run_job(
            lambda: audit_job(library, model_dir=model), title="Auditing the data"
        )
        self._worker.finished.connect(self._on_worker_finished)
        self._worker.failed.connect(self._on_worker_failed)
        self._worker.cancelled.connect(self._on_worker_cancelled)

    @Slot(object)
    def _on_worker_finished(self, report: object) -> None:
        self.run_button.setEnabled(True)
        self.show_report(report)
        self.audit_finished.emit(report)

    @Slot(str, str)
    def _on_worker_failed(self, message: str, _details: str) -> None:
        self.run_button.setEnabled(True)
        self.summary.setText(f"The audit failed: {message}")

    @Slot()
    def _on_worker_cancelled(self) -> None:
        self.run_button.setEnabled(True)
        self.summary.setText("Audit cancelled.")

    @Slot()
    def _on_library_opened(self) -> None:
        """Another library: the findings were about the old one, so they all go."""
        self.report = None
        self._taken = []
        for i, view in enumerate(self._views()):
            view.clear()
            self.tabs.setTabText(i, self.tabs.tabText(i).split(" (")[0])
        self.one_split_button.setEnabled(False)
        self.summary.setText(NOT_RUN)
        self._show_empty_lists()

    def _views(self) -> tuple[QListWidget, ...]:
        return (self.labels_list, self.duplicates_list, self.outliers_list, self.balance_list)

    def _show_empty_lists(self) -> None:
        """An empty list gives way to words: none found and on what, or run the audit."""
        for kind, view, stack, empty in zip(
            FINDING_KINDS, self._views(), self._stacks, self.empty_labels, strict=True
        ):
            if not view.count():
                empty.setText(empty_findings_text(self.report, kind))
            stack.setCurrentIndex(0 if view.count() else 1)

    # --------------------------------------------------------------------------- showing

    def show_report(self, report: Any) -> None:
        self.report = report
        self._taken = []  # a new audit: what earlier steps resolved is measured afresh
        self.summary.setText(summary_text(report))
        self.labels_list.clear()
        for f in report.label_issues:
            self._add(
                self.labels_list,
                f"{f.score:.2f}  {_name(f.file)}: {printable(f.label)} → {printable(f.suggested)}?",
                f,
            )
        self.duplicates_list.clear()
        for d in report.near_duplicates:
            where = "/".join(sorted(set(d.splits)))
            flag = "LEAK " if d.leaks else ""
            names = ", ".join(_name(p) for p in d.files[:3])
            more = f" +{len(d.files) - 3}" if len(d.files) > 3 else ""
            self._add(self.duplicates_list, f"{flag}{d.similarity:.3f} {where}: {names}{more}", d)
        self.outliers_list.clear()
        for o in report.outliers:
            self._add(self.outliers_list, f"{_name(o.file)}: {o.reason}", o)
        self.balance_list.clear()
        for b in report.class_balance:
            self._add(self.balance_list, f"{printable(b.class_name)}: {b.reason}", b)
        self.tabs.setTabText(0, f"Labels ({len(report.label_issues)})")
        self.tabs.setTabText(1, f"Duplicates ({len(report.near_duplicates)})")
        self.tabs.setTabText(2, f"Outliers ({len(report.outliers)})")
        self.tabs.setTabText(3, f"Balance ({len(report.class_balance)})")
        if self.labels_list.count():
            self.labels_list.setCurrentRow(0)
        self._show_empty_lists()

    @staticmethod
    def _add(view: QListWidget, text: str, finding: object) -> None:
        item = QListWidgetItem(text)
        item.setData(Qt.ItemDataRole.UserRole, finding)
        item.setToolTip(text)
        view.addItem(item)

    @Slot(QListWidgetItem)
    def _on_finding_clicked(self, item: QListWidgetItem) -> None:
        self.show_finding(item.data(Qt.ItemDataRole.UserRole))

    def show_finding(self, finding: Any) -> ImageQuery:
        """Show a finding's images in the library browser; returns the query sent."""
        ids = tuple(getattr(finding, "image_ids", None) or (finding.image_id,))
        query = ImageQuery(image_ids=ids, title=f"Data health ({len(ids)})")
        self.context.show_images(query)
        return query

    # --------------------------------------------------------------------------- actions

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self.labels_list and event.type() in (
            QEvent.Type.ShortcutOverride,
            QEvent.Type.KeyPress,
        ):
            key = QKeyEvent(event).key() if not isinstance(event, QKeyEvent) else event.key()
            if key in (ACCEPT_KEY, KEEP_KEY):
                if event.type() == QEvent.Type.KeyPress:
                    if key == ACCEPT_KEY:
                        self.accept_current()
                    else:
                        self.keep_current()
                event.accept()
                return True
        return super().eventFilter(watched, event)

    def _take_current_label_finding(self) -> Any:
        row = self.labels_list.currentRow()
        if row < 0:
            return None
        item = self.labels_list.takeItem(row)
        self._show_empty_lists()
        return item.data(Qt.ItemDataRole.UserRole)

    def _resolved_by_undoable_step(self, view: QListWidget, item: QListWidgetItem) -> None:
        """Take ``item`` out of ``view`` after the undo step just pushed; it comes back when that
        step is undone (and goes again on redo)."""
        stack = self.context.undo_stack
        row = view.row(item)
        view.takeItem(row)
        step = stack.index()
        self._taken.append(_Taken(step, stack.command(step - 1), view, row, item))
        self._show_empty_lists()

    @Slot(int)
    def _on_undo_index_changed(self, index: int) -> None:
        stack = self.context.undo_stack
        # A step undone and then replaced by a new edit is gone for good (its finding stays in
        # the list); so is every step of a cleared stack (another library).
        self._taken = [
            t
            for t in self._taken
            if t.step <= stack.count() and stack.command(t.step - 1) is t.command
        ]
        for taken in reversed(self._taken):  # the latest first, so rows land where they were
            if taken.step > index and not taken.back:
                taken.view.insertItem(min(taken.row, taken.view.count()), taken.item)
                taken.view.setCurrentItem(taken.item)
                taken.back = True
        for taken in self._taken:
            if taken.step <= index and taken.back:
                taken.view.takeItem(taken.view.row(taken.item))
                taken.back = False
        self._show_empty_lists()

    def accept_current(self) -> bool:
        """Give the current finding's image the suggested label (undoable: Edit → Undo brings
        the finding back); next finding."""
        from cnndesk.gui.undo import push_labels

        item = self.labels_list.currentItem()
        if item is None:
            return False
        finding = item.data(Qt.ItemDataRole.UserRole)
        target = self.context.library.class_by_name(finding.suggested)
        if target is None:
            return False
        if not push_labels(
            self.context,
            {finding.image_id: target.id},
            text=f"Relabel {_name(finding.file)} as {finding.suggested}",
        ):
            return False  # refused (the status bar says why): the finding stays
        self._resolved_by_undoable_step(self.labels_list, item)
        self.finding_resolved.emit("accepted")
        return True

    def keep_current(self) -> bool:
        """Keep the current finding's label and remember it was reviewed; next finding."""
        finding = self._take_current_label_finding()
        if finding is None:
            return False
        self.context.library.keep_labels([finding.image_id])
        self.context.status_message.emit(f"Kept the label of {_name(finding.file)} (reviewed)")
        self.finding_resolved.emit("kept")
        return True

    @Slot(QListWidgetItem, QListWidgetItem)
    def _on_duplicate_current_changed(self, current: QListWidgetItem | None, _old: object) -> None:
        finding = current.data(Qt.ItemDataRole.UserRole) if current is not None else None
        self.one_split_button.setEnabled(bool(finding is not None and finding.leaks))

    @Slot()
    def _on_one_split_clicked(self) -> None:
        self.put_current_group_in_one_split()

    def put_current_group_in_one_split(self) -> Split | None:
        """Move the current duplicate group into the split most of it is in (train on a tie).

        Undoable (Edit → Undo) like any split set by hand, and the undo brings the group back
        into the list; ``None`` if nothing moved.
        """
        from cnndesk.gui.undo import push_split

        item = self.duplicates_list.currentItem()
        if item is None:
            return None
        group = item.data(Qt.ItemDataRole.UserRole)
        counts = Counter(group.splits)
        best = max(counts.values())
        split = next(s for s in (Split.TRAIN, Split.VAL, Split.TEST) if counts[s.value] == best)
        n = len(group.image_ids)
        if not push_split(
            self.context, list(group.image_ids), split, text=f"Put {n} duplicates in {split.value}"
        ):
            return None
        self._resolved_by_undoable_step(self.duplicates_list, item)
        self.context.status_message.emit(f"{len(group.image_ids)} duplicates now in {split.value}")
        self.finding_resolved.emit("one split")
        return split
