"""The decoded-pixel cache: each image decoded once, kept in a few shards, survives damage and
cancels, and gives back exactly what decoding gives."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

from cnndesk.domain import TrainingSample
from cnndesk.ml.data import PixelCache, geometry
from tests.conftest import make_image, result_of

CONFIG = {
    "input_size": (3, 32, 32),
    "interpolation": "bilinear",
    "crop_pct": 0.875,
    "crop_mode": "center",
    "mean": (0.5, 0.5, 0.5),
    "std": (0.5, 0.5, 0.5),
}


def samples(folder: Path, count: int) -> list[TrainingSample]:
    out = []
    for i in range(count):
        path = make_image(
            folder / f"img{i}.jpg", size=(40 + i, 30 + 2 * i), colour=(i * 9, 90, 200)
        )
        key = hashlib.sha256(path.read_bytes()).hexdigest()
        out.append(TrainingSample(str(path), key, i % 2, None))
    return out


def test_images_are_decoded_once_and_kept_in_shards(tmp_path: Path) -> None:
    items = samples(tmp_path / "images", 40)
    first = PixelCache(geometry(CONFIG), root=tmp_path / "cache")
    pixels, failed = result_of(first.load(items))
    assert not failed and first.decoded == 40 and len(pixels) == 40
    assert all(p.shape == (32, 32, 3) and p.dtype == np.uint8 for p in pixels.values())
    files = list(first.folder.iterdir())
    assert len(files) == 2  # one shard (data + keys), not a file per image

    again = PixelCache(geometry(CONFIG), root=tmp_path / "cache")
    cached, failed = result_of(again.load(items[::-1]))
    assert again.decoded == 0 and not failed
    assert all(np.array_equal(cached[k], pixels[k]) for k in pixels)
    # What the cache holds is what decoding gives.
    assert np.array_equal(again.pixels(items[3]), pixels[items[3].key])


def test_only_new_images_are_decoded_and_a_damaged_shard_is_decoded_again(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    items = samples(tmp_path / "images", 12)
    cache = PixelCache(geometry(CONFIG), root=tmp_path / "cache")
    result_of(cache.load(items[:8]))
    more = PixelCache(geometry(CONFIG), root=tmp_path / "cache")
    result_of(more.load(items))
    assert more.decoded == 4

    for data in cache.folder.glob("*.npy"):
        if not data.name.endswith(".keys.npy"):
            data.write_bytes(b"garbage")
    fresh = PixelCache(geometry(CONFIG), root=tmp_path / "cache")
    pixels, failed = result_of(fresh.load(items))
    assert fresh.decoded == 12 and len(pixels) == 12 and not failed
    assert "damaged" in caplog.text


def test_a_cancelled_load_keeps_what_it_decoded(tmp_path: Path) -> None:
    items = samples(tmp_path / "images", 200)
    cache = PixelCache(geometry(CONFIG), root=tmp_path / "cache")
    job = cache.load(items, threads=1)
    next(job)  # the first progress: 64 images are in
    job.close()
    later = PixelCache(geometry(CONFIG), root=tmp_path / "cache")
    result_of(later.load(items))
    assert later.decoded <= 200 - 64


def test_unreadable_images_are_reported_not_cached(tmp_path: Path) -> None:
    items = samples(tmp_path / "images", 3)
    broken = tmp_path / "images" / "broken.jpg"
    broken.write_bytes(b"\xff\xd8 not really a jpeg")
    items.append(TrainingSample(str(broken), "f" * 64, 0, None))
    cache = PixelCache(geometry(CONFIG), root=tmp_path / "cache")
    pixels, failed = result_of(cache.load(items))
    assert len(pixels) == 3 and [Path(p).name for p, _ in failed] == ["broken.jpg"]
    again = PixelCache(geometry(CONFIG), root=tmp_path / "cache")
    _, failed = result_of(again.load(items))
    assert again.decoded == 0 and len(failed) == 1  # good ones cached; the bad one still reported
