"""Reading image files safely: which formats we accept, and why a file is refused.

Every image that enters the library passes :func:`probe`: it reads the bytes once, hashes them,
parses them with only the formats cnndesk supports and refuses decompression bombs before
decoding. A JPEG or PNG that ends with its end-of-image marker is accepted from its header (a
full decode costs several times more than everything else an import does); any other file is
decoded at reduced size (JPEG DCT scaling through ``Image.draft``) so that truncated files are
caught at import. Damage in the middle of a complete-looking file shows up at first decode (the
thumbnail, training), where the image is marked unreadable. Errors become
:class:`~cnndesk.domain.ImageError` with a reason a user can read.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageOps, UnidentifiedImageError

from cnndesk.defaults import IMAGE_EXTENSIONS
from cnndesk.domain import ImageError
from cnndesk.imageio import read_file

SUPPORTED_EXTENSIONS = IMAGE_EXTENSIONS
PIL_FORMATS = ("JPEG", "PNG", "BMP", "GIF", "TIFF", "WEBP")
MAX_PIXELS = 89_478_485
"""Larger images are refused as possible decompression bombs (Pillow's own threshold)."""

Image.init()  # register every plugin now, so ``formats=PIL_FORMATS`` finds TIFF and WebP

_ORIENTATION_TAG = 0x0112
_EXIF_FORMATS = {"JPEG", "MPO", "TIFF", "WEBP", "PNG"}
_JPEG_END = b"\xff\xd9"
_PNG_END = b"IEND\xaeB`\x82"


def _complete(data: bytes, fmt: str) -> bool:
    """Whether a JPEG or PNG ends with its end-of-image marker (other formats: unknown)."""
    tail = data[-4096:].rstrip(b"\x00\r\n \t")
    if fmt in {"JPEG", "MPO"}:
        return tail.endswith(_JPEG_END)
    if fmt == "PNG":
        return tail.endswith(_PNG_END)
    return False


_SWAPS_AXES = {5, 6, 7, 8}


@dataclass(frozen=True, slots=True)
class ProbedImage:
    """What the library stores about a readable image file."""

    path: str
    sha256: str
    size: int
    mtime_ns: int
    width: int
    height: int
    format: str


def is_supported(path: Path) -> bool:
    return path.suffix.lower() in SUPPORTED_EXTENSIONS


def file_sha256(path: Path) -> str:
    """The content hash of a regular image file (bounded read; :class:`ImageError` if refused)."""
    return read_file(path).sha256()


def probe(path: Path, *, stat: os.stat_result | None = None) -> ProbedImage:
    """Read, hash and check one image file; raise :class:`ImageError` saying why it is refused.

    Only a regular file of at most :data:`cnndesk.imageio.MAX_FILE_BYTES` is read (see
    :func:`cnndesk.imageio.read_file`); ``stat`` is accepted for compatibility, but size and
    mtime are taken from the descriptor actually read.
    """
    del stat
    read = read_file(path)
    width, height, fmt = check_image_bytes(read.data)
    return ProbedImage(
        path=str(path),
        sha256=read.sha256(),
        size=read.size,
        mtime_ns=read.mtime_ns,
        width=width,
        height=height,
        format=fmt,
    )


def check_image_bytes(data: bytes) -> tuple[int, int, str]:
    """Parse and decode (at reduced size) an image; return its upright width, height and format."""
    try:
        with Image.open(io.BytesIO(data), formats=PIL_FORMATS) as image:
            fmt = image.format or "?"
            width, height = image.size
            if width * height > MAX_PIXELS:
                raise ImageError(
                    f"the image is {width}×{height} pixels, too large to be a photo "
                    "(refused as a possible decompression bomb)"
                )
            orientation = image.getexif().get(_ORIENTATION_TAG, 1) if fmt in _EXIF_FORMATS else 1
            if not _complete(data, fmt):
                # No end marker: decode (at 1/8 scale for JPEG) to tell a truncated file from
                # one with trailing bytes. Files with an end marker are decoded at first use.
                image.draft("RGB", (max(1, width // 8), max(1, height // 8)))
                image.load()
    except ImageError:
        raise
    except Image.DecompressionBombError as exc:
        raise ImageError(
            "the image declares so many pixels that decoding it could exhaust memory "
            f"(refused as a decompression bomb: {exc})"
        ) from exc
    except UnidentifiedImageError as exc:
        raise ImageError(
            "not an image cnndesk can read (supported: JPEG, PNG, BMP, GIF, TIFF, WebP)"
        ) from exc
    except (OSError, ValueError, SyntaxError, EOFError, IndexError, TypeError) as exc:
        message = str(exc) or type(exc).__name__
        if "truncated" in message.lower():
            raise ImageError("the image is truncated (the file was cut off)") from exc
        raise ImageError(f"the image is damaged and cannot be decoded ({message})") from exc
    except MemoryError as exc:
        raise ImageError("the image is too large to decode") from exc
    if orientation in _SWAPS_AXES:
        width, height = height, width
    return width, height, fmt


def open_upright(path: str | Path, *, max_side: int | None = None) -> Image.Image:
    """Open an image for display: EXIF orientation applied, RGB, first frame, optionally reduced.

    With ``max_side`` the JPEG decoder itself scales down (``draft``), which is several times
    faster than decoding at full size and resizing. Only a regular, bounded file is read
    (:func:`cnndesk.imageio.read_file`).
    """
    data = read_file(path).data
    try:
        with Image.open(io.BytesIO(data), formats=PIL_FORMATS) as image:
            if image.width * image.height > MAX_PIXELS:
                raise ImageError(f"{image.width}×{image.height} pixels is too large to display")
            if max_side is not None:
                image.draft("RGB", (max_side, max_side))
            image.load()
            upright = ImageOps.exif_transpose(image) or image
            rgb = upright.convert("RGB")
    except ImageError:
        raise
    except (OSError, ValueError, SyntaxError, EOFError, Image.DecompressionBombError) as exc:
        raise ImageError(f"the image cannot be decoded ({exc})") from exc
    if max_side is not None and max(rgb.size) > max_side:
        rgb.thumbnail((max_side, max_side), Image.Resampling.BILINEAR, reducing_gap=2.0)
    return rgb
