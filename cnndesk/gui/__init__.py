"""The PySide6 desktop app. The only package that imports Qt or pyqtgraph."""

from cnndesk.gui.refcounts import guard_singletons

# PySide6 6.12 under-counts references to None/True/False on Python < 3.12 (see refcounts.py):
# without this, any GUI process aborts after a few thousand signal emits.
guard_singletons()
