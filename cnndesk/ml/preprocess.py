"""Turning an image file into the tensor a model sees, identically for training and inference.

``decode_image`` opens a file safely (DCT-domain downscaling with ``Image.draft`` for JPEGs, EXIF
orientation, RGB), ``eval_transform`` is exactly timm's evaluation transform for a model's data
config (resize, centre crop per ``crop_pct``, normalise), and ``load_for_model`` is the two together.
Prediction, batch sorting and export use these functions so they agree with training.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from cnndesk.domain import ImageError

SUPPORTED_FORMATS = ("JPEG", "MPO", "PNG", "GIF", "BMP", "TIFF", "WEBP")
"""Formats ``decode_image`` parses; anything else is refused without being interpreted."""


def _formats() -> list[str]:
    Image.init()
    return [name for name in SUPPORTED_FORMATS if name in Image.OPEN]


def scale_size(data_config: Mapping[str, Any]) -> int:
    """The shorter side (in pixels) timm's eval transform resizes to before it crops."""
    _, height, width = data_config["input_size"]
    crop_pct = data_config.get("crop_pct") or 0.875
    return max(math.floor(height / crop_pct), math.floor(width / crop_pct))


def _draft_box(image: Image.Image, size: int | tuple[int, int]) -> tuple[int, int]:
    if isinstance(size, int):
        return (size, size)
    width, height = size
    # The draft happens before the EXIF rotation: a 90° orientation swaps the wanted box.
    if image.getexif().get(0x0112, 1) in (5, 6, 7, 8):
        return (height, width)
    return (width, height)


def _to_rgb(image: Image.Image) -> Image.Image:
    if image.mode == "RGB":
        return image
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        # Transparent pixels become white, not whatever colour happens to sit under the alpha.
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")


def decode_image(path: str | Path, *, size: int | tuple[int, int] | None = None) -> Image.Image:
    """Decode ``path`` to an upright RGB image at least ``size`` big (no smaller than needed).

    ``size`` is the shorter side wanted (an int) or a ``(width, height)`` box the result must
    cover; JPEGs are then decoded at the smallest DCT scale (1/2, 1/4, 1/8) that still covers it,
    which is several times faster than a full decode of a photo. ``None`` decodes at full size.
    The result is not resized further: callers resize exactly as their transform says.

    Raises :class:`cnndesk.domain.ImageError` (with the reason in words) for missing, empty,
    truncated, oversized or non-image files.
    """
    path = Path(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path, formats=_formats()) as image:
                if size is not None and image.format in ("JPEG", "MPO"):
                    image.draft("RGB", _draft_box(image, size))
                image.load()
                upright = ImageOps.exif_transpose(image)
                return _to_rgb(upright)
    except FileNotFoundError as exc:
        raise ImageError(f"{path.name}: the file is missing ({path})") from exc
    except UnidentifiedImageError as exc:
        raise ImageError(f"{path.name}: not an image cnndesk can read") from exc
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageError(f"{path.name}: the image is too large to open safely") from exc
    except (OSError, ValueError, SyntaxError, EOFError, MemoryError) as exc:
        raise ImageError(f"{path.name}: the image is damaged or truncated ({exc})") from exc


def eval_transform(data_config: Mapping[str, Any]) -> Callable[[Image.Image], torch.Tensor]:
    """timm's evaluation transform for ``data_config``: PIL image → normalised float tensor CHW."""
    from timm.data import create_transform

    config = dict(data_config)
    return create_transform(
        input_size=tuple(config["input_size"]),
        is_training=False,
        interpolation=config.get("interpolation", "bilinear"),
        mean=tuple(config["mean"]),
        std=tuple(config["std"]),
        crop_pct=config.get("crop_pct"),
        crop_mode=config.get("crop_mode"),
    )


def eval_resize_crop(data_config: Mapping[str, Any]) -> Callable[[Image.Image], Image.Image]:
    """The geometric part of :func:`eval_transform` (resize + crop), stopping at a PIL image.

    The caches store its output as uint8; ``normalize`` then gives exactly what
    :func:`eval_transform` gives.
    """
    from torchvision import transforms

    full = eval_transform(data_config)
    steps = [
        t for t in full.transforms if isinstance(t, (transforms.Resize, transforms.CenterCrop))
    ]
    steps += [
        t for t in full.transforms if type(t).__name__ in ("ResizeKeepRatio", "CenterCropOrPad")
    ]
    order = [t for t in full.transforms if t in steps]
    return transforms.Compose(order)


def normalize(pixels: torch.Tensor, data_config: Mapping[str, Any]) -> torch.Tensor:
    """uint8 ``[N, H, W, 3]`` or ``[H, W, 3]`` pixels → normalised float ``[N, 3, H, W]``/``[3, H, W]``."""
    mean = torch.tensor(data_config["mean"], dtype=torch.float32).view(3, 1, 1)
    std = torch.tensor(data_config["std"], dtype=torch.float32).view(3, 1, 1)
    x = pixels.movedim(-1, -3).float().div_(255.0)
    return x.sub_(mean).div_(std)


_TRANSFORMS: dict[str, Callable[[Image.Image], torch.Tensor]] = {}


def load_for_model(path: str | Path, data_config: Mapping[str, Any]) -> torch.Tensor:
    """Decode ``path`` at the size the model needs and apply :func:`eval_transform` → ``[3, H, W]``."""
    key = repr(sorted((k, tuple(v) if isinstance(v, list) else v) for k, v in data_config.items()))
    transform = _TRANSFORMS.get(key)
    if transform is None:
        transform = _TRANSFORMS[key] = eval_transform(data_config)
    return transform(decode_image(path, size=scale_size(data_config)))
