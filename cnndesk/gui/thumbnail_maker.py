"""What a thumbnail process runs: make (or read) the cached thumbnail, return display-size pixels.

Runs in a separate process (``thumbnails.ThumbnailLoader``), because decoding JPEGs holds the GIL
for 5-20 ms at a time (measured: Pillow's decoder and ``QImage`` loading both do), and a GUI thread
that must re-enter Python for every item it paints cannot wait that long. No Qt here: the child
process imports Pillow and the thumbnail cache only.
"""

from __future__ import annotations

import os


def make_thumbnail_pixels(
    path: str, sha256: str, side: int, home: str | None
) -> tuple[int, int, bytes]:
    """``(width, height, RGB bytes)`` of the image's thumbnail, at most ``side`` pixels a side.

    ``home`` is the parent's ``CNNDESK_HOME`` (it may change after the process started, in tests).
    Raises :class:`~cnndesk.domain.ImageError` when the image cannot be read.
    """
    if home:
        os.environ["CNNDESK_HOME"] = home
    else:
        os.environ.pop("CNNDESK_HOME", None)
    from PIL import Image

    from cnndesk.domain import ImageError
    from cnndesk.library.thumbnails import thumbnail

    cached = thumbnail(path, sha256)
    try:
        with Image.open(cached) as image:
            image.draft("RGB", (side, side))
            rgb = image.convert("RGB")
    except OSError as exc:
        raise ImageError(f"the cached thumbnail cannot be read ({exc})") from exc
    if max(rgb.size) > side:
        rgb.thumbnail((side, side), Image.Resampling.BILINEAR)
    return rgb.width, rgb.height, rgb.tobytes()


def warm_up() -> bool:
    """A no-op task that makes the pool start its processes (and import Pillow) early."""
    import PIL.Image  # noqa: F401

    return True
