"""The error hierarchy: every failure a user can act on is a :class:`CnndeskError`."""

from __future__ import annotations

# --------------------------------------------------------------------------------------- errors


class CnndeskError(Exception):
    """Base of every error cnndesk raises on purpose; its message is for the user."""


class LibraryError(CnndeskError):
    """The library file cannot be opened, read or written, or a request makes no sense for it."""


class ImageError(CnndeskError):
    """One image cannot be read (empty, not an image, truncated, too large, unreadable)."""


class ModelError(CnndeskError):
    """A model cannot be built, loaded, trained or exported."""


class WeightsUnavailableError(ModelError):
    """Pretrained weights are neither on disk nor downloadable."""


class DatasetError(CnndeskError):
    """The labeled data cannot train a model (too few classes or images, say)."""


class SortError(CnndeskError):
    """A batch sort or its undo cannot go ahead safely."""


class UntrustedJournalError(SortError):
    """Undo refused a sort journal this installation did not write (or that was changed since).

    ``targets`` are the first paths undo would have written to or deleted, ``count`` how many
    there are in all.
    """

    def __init__(self, message: str, *, journal: str, targets: tuple[str, ...], count: int):
        super().__init__(message)
        self.journal = journal
        self.targets = targets
        self.count = count


class OutputError(CnndeskError):
    """An output file cannot be written without replacing something cnndesk must not replace."""


class Cancelled(CnndeskError):
    """A job stopped because the user asked it to."""
