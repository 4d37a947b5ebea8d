"""Thumbnails, cached by content hash under the user cache folder and made on first request.

The cache can be deleted at any time; a missing thumbnail is simply made again. Files are written
to a temporary name and renamed, so a crash never leaves half a thumbnail behind.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from cnndesk import paths
from cnndesk.domain import ImageError
from cnndesk.library.imagefile import open_upright

THUMBNAIL_SIDE = 256


def thumbnail_path(sha256: str, *, side: int = THUMBNAIL_SIDE) -> Path:
    return paths.thumbnails_dir() / f"{side}" / sha256[:2] / f"{sha256}.jpg"


def thumbnail(image_path: str | Path, sha256: str, *, side: int = THUMBNAIL_SIDE) -> Path:
    """Return the cached thumbnail of an image, making it first if needed.

    Raises :class:`~cnndesk.domain.ImageError` when the original cannot be read.
    """
    target = thumbnail_path(sha256, side=side)
    if target.is_file():
        return target
    image = open_upright(image_path, max_side=side)
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temp = tempfile.mkstemp(dir=target.parent, suffix=".part")
    try:
        with os.fdopen(handle, "wb") as out:
            image.save(out, format="JPEG", quality=85)
        os.replace(temp, target)
    except OSError as exc:
        Path(temp).unlink(missing_ok=True)
        raise ImageError(f"cannot write the thumbnail cache: {exc.strerror or exc}") from exc
    return target
