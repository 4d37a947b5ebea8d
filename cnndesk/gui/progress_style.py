"""Progress bars whose text reads everywhere.

A native progress bar draws its text in one colour over the filled part and another over the
empty part, so where the bar's edge crosses the text half of it is white on light grey (or black
on dark blue). :func:`readable_progress_bar` gives a bar a light, translucent fill and one text
colour (the palette's text colour), which contrasts with both parts.
"""

from __future__ import annotations

from PySide6.QtWidgets import QProgressBar, QWidget

STYLE = (
    "QProgressBar { border: 1px solid palette(mid); border-radius: 3px;"
    " background: palette(base); color: palette(text); text-align: center; min-height: 1.3em; }"
    " QProgressBar::chunk { background-color: rgba(78, 121, 167, 85); border-radius: 2px; }"
)


def readable_progress_bar(parent: QWidget | None = None) -> QProgressBar:
    """A progress bar whose text keeps one readable colour over its fill and its groove."""
    bar = QProgressBar(parent)
    bar.setStyleSheet(STYLE)
    bar.setProperty("readableText", True)
    return bar
