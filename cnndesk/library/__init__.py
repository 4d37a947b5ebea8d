"""The image library: one SQLite file (or a PostgreSQL database) of images, classes and labels.

No torch and no Qt here. ``Library`` is the entry point; ``import_paths`` imports files and
folders as a generator of progress events; ``export_labels`` writes the labels out.
"""

from cnndesk.library.export import export_labels
from cnndesk.library.importer import import_paths
from cnndesk.library.library import Library
from cnndesk.library.thumbnails import thumbnail

__all__ = ["Library", "export_labels", "import_paths", "thumbnail"]
