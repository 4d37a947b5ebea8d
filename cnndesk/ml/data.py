"""Caches that make every epoch after the first cheap: decoded pixels and backbone features.

- :class:`PixelCache`: each image decoded once (with draft downscaling), resized and cropped
  as timm's eval transform does for a given geometry (:func:`~cnndesk.ml.preprocess.resize_crop`),
  and kept as uint8 in ``.npy`` shards under ``paths.cache_dir()/pixels/<geometry>/``, keyed by
  content hash.

Both caches are keyed by the sha256 of the bytes actually decoded: :meth:`PixelCache.pixels`
hashes what it read and refuses a file whose bytes no longer match the sample's key (so nothing
is ever stored under a stale key), and a cache hit is only as fresh as the key the caller passes:
``jobs.train_job`` re-checks every training file first (``Library.check``), which re-hashes any
file whose size or mtime changed and gives it its new key.
- :class:`FeatureStore`: quick mode's frozen-backbone features, under
  ``paths.cache_dir()/features/<id>/`` where the id hashes (backbone, weights, preprocessing); each
  embedding pass adds a shard, so a retrain after new labels embeds only the new images.

Everything here may be deleted at any time; it is rebuilt on demand.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import uuid
from collections.abc import Generator, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from cnndesk import paths
from cnndesk.domain import ImageError, Progress, TrainingSample
from cnndesk.ml.preprocess import decode_file, resize_crop, scale_size

log = logging.getLogger(__name__)


def geometry(data_config: Mapping[str, Any], *, side: int | None = None) -> dict[str, Any]:
    """The resize/crop part of a data config; with ``side``: a square of that side, uncropped."""
    config = {k: data_config[k] for k in ("input_size", "interpolation", "crop_pct", "crop_mode")}
    config["input_size"] = tuple(config["input_size"])
    if side is not None:
        config.update(input_size=(3, side, side), crop_pct=1.0, crop_mode="center")
    return config


def _tag(config: Mapping[str, Any]) -> str:
    _, h, w = config["input_size"]
    # "-s2": sharded, resized with resize_crop (earlier caches kept one file per image)
    return f"{h}x{w}-{config['interpolation']}-{config['crop_pct']}-{config['crop_mode']}-s2"


def _write_atomic(path: Path, save) -> bool:
    """Write a cache file through a temporary name; False (logged) when it could not be written.

    The caches are optional: a full disk or an unwritable cache folder costs the next run the
    work again, never this one.
    """
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(tmp, "wb") as handle:
            save(handle)
        os.replace(tmp, path)
    except OSError as exc:
        log.warning("could not write the cache file %s (%s); going on without it", path, exc)
        return False
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
    return True


class PixelCache:
    """uint8 ``[H, W, 3]`` pixels of images for one geometry, on disk and in memory.

    On disk the pixels live in shards of up to :attr:`SHARD_BYTES`: ``<id>.npy`` holds
    ``[N, H, W, 3]`` and ``<id>.keys.npy`` the N content keys (written last, so a shard without
    its keys file is an unfinished one and is ignored). One file per image made a 60,000-image
    CIFAR library 60,000 tiny writes on the first run and 60,000 opens on every later one; a
    shard is one read, and only the rows a run wants are read from it.
    """

    SHARD_BYTES = 64 << 20

    def __init__(self, config: Mapping[str, Any], *, root: Path | None = None) -> None:
        self.config = dict(config)
        self.folder = (root or paths.cache_dir() / "pixels") / _tag(self.config)
        self._resize_crop = resize_crop({**self.config, "mean": (0,) * 3, "std": (1,) * 3})
        self._decode_side = scale_size(self.config)
        self.decoded = 0
        """Images decoded from their files (not found in the cache) since this object was made."""

    def pixels(self, sample: TrainingSample) -> np.ndarray:
        """One image decoded, resized and cropped (not cached: :meth:`load` caches in shards).

        Raises :class:`ImageError` when the file's bytes no longer hash to ``sample.key``: its
        pixels belong under another key, and storing them under this one would poison the
        cache for the old content.
        """
        image, sha = decode_file(sample.path, size=self._decode_side)
        if sha != sample.key:
            raise ImageError(
                f"{Path(sample.path).name}: the file changed since the library last read it "
                "(run `cnndesk check`)"
            )
        pixels = np.ascontiguousarray(np.asarray(self._resize_crop(image), dtype=np.uint8))
        self.decoded += 1
        return pixels

    def cached(self, wanted: Iterable[str]) -> dict[str, np.ndarray]:
        """The cached pixels of the ``wanted`` keys that are on disk (damaged shards are skipped)."""
        keep = set(wanted)
        found: dict[str, np.ndarray] = {}
        if not keep or not self.folder.is_dir():
            return found
        for keys_file in sorted(self.folder.glob("*.keys.npy")):
            data_file = keys_file.with_name(keys_file.name.removesuffix(".keys.npy") + ".npy")
            try:
                keys = np.load(keys_file, allow_pickle=False).tolist()
                rows = [i for i, key in enumerate(keys) if key in keep and key not in found]
                if not rows:
                    continue
                data = np.load(data_file, mmap_mode="r", allow_pickle=False)
                if data.ndim != 4 or data.shape[0] != len(keys) or data.dtype != np.uint8:
                    raise ValueError(f"shape {data.shape}, {data.dtype}, {len(keys)} keys")
                block = np.array(data[rows])  # reads just these rows
                del data
            except (OSError, ValueError) as exc:
                log.warning("pixel cache shard %s is damaged (%s); decoding again", data_file, exc)
                continue
            for row, i in enumerate(rows):
                found[keys[i]] = block[row]
        return found

    def _write_shard(self, keys: Sequence[str], arrays: Sequence[np.ndarray]) -> None:
        if not keys:
            return
        name = uuid.uuid4().hex
        data = np.stack(arrays)
        key_array = np.asarray(list(keys), dtype=str)
        data_file = self.folder / f"{name}.npy"
        if _write_atomic(
            data_file, lambda h: np.save(h, data, allow_pickle=False)
        ) and not _write_atomic(  # the keys file last: a shard without it is ignored
            self.folder / f"{name}.keys.npy",
            lambda h: np.save(h, key_array, allow_pickle=False),
        ):  # ignored, but it would fill the disk for nothing: it goes
            with contextlib.suppress(OSError):
                data_file.unlink()

    def load(
        self,
        samples: Sequence[TrainingSample],
        *,
        store: bool = True,
        threads: int = 2,
        message: str = "Reading images",
    ) -> Generator[Progress, None, tuple[dict[str, np.ndarray], list[tuple[str, str]]]]:
        """Pixels for ``samples`` by key, decoding what is not cached; also the unreadable ones.

        Yields progress every few images; decoding runs on ``threads`` threads (Pillow releases
        the GIL while it decodes). With ``store``, what was decoded is written to the cache in
        shards as it goes, so a cancelled run keeps most of its work.
        """
        unique = list({s.key: s for s in samples}.values())
        result = self.cached(s.key for s in unique)
        missing = [s for s in unique if s.key not in result]
        failed: list[tuple[str, str]] = []
        total = len(unique)
        if not missing:
            yield Progress(total, total, message)
            return result, failed
        pending: dict[tuple[int, ...], tuple[list[str], list[np.ndarray]]] = {}
        pending_bytes = 0

        def flush() -> None:
            nonlocal pending_bytes
            for keys, arrays in pending.values():
                self._write_shard(keys, arrays)
            pending.clear()
            pending_bytes = 0

        with ThreadPoolExecutor(max(1, threads)) as pool:
            futures = [pool.submit(self.pixels, sample) for sample in missing]
            try:
                for done, (sample, future) in enumerate(zip(missing, futures), start=1):
                    try:
                        pixels = result[sample.key] = future.result()
                    except ImageError as exc:
                        failed.append((sample.path, str(exc)))
                    else:
                        if store:
                            keys, arrays = pending.setdefault(pixels.shape, ([], []))
                            keys.append(sample.key)
                            arrays.append(pixels)
                            pending_bytes += pixels.nbytes
                            if pending_bytes >= self.SHARD_BYTES:
                                flush()
                    if done % 64 == 0 or done == len(missing):
                        yield Progress(total - len(missing) + done, total, message)
            finally:
                for future in futures:
                    future.cancel()
                if store:
                    flush()  # keep what was decoded before a cancel
        return result, failed


def featurizer_id(*, backbone: str, weights_id: str, data_config: Mapping[str, Any]) -> str:
    """A short hash naming one frozen feature extractor exactly."""
    ident = {"backbone": backbone, "weights": weights_id, "data_config": dict(data_config)}
    text = json.dumps(ident, sort_keys=True, default=list)
    return hashlib.sha256(text.encode()).hexdigest()[:24]


class FeatureStore:
    """Backbone features by content key for one feature extractor, as shards on disk."""

    def __init__(self, ident: str, *, root: Path | None = None) -> None:
        self.folder = (root or paths.cache_dir() / "features") / ident

    def load(self, wanted: Iterable[str] | None = None) -> dict[str, np.ndarray]:
        """The cached features (only the ``wanted`` keys, when given)."""
        keep = set(wanted) if wanted is not None else None
        features: dict[str, np.ndarray] = {}
        for shard in sorted(self.folder.glob("*.npz")) if self.folder.is_dir() else ():
            try:
                with np.load(shard, allow_pickle=False) as data:
                    keys, values = data["keys"], data["features"]
                    for i, key in enumerate(keys.tolist()):
                        if keep is None or key in keep:
                            features[key] = values[i]
            except (OSError, ValueError, KeyError):
                log.warning("feature cache shard %s is damaged; ignoring it", shard)
        return features

    def add(self, keys: Sequence[str], features: np.ndarray) -> None:
        """Write one shard (atomically: a cancelled run never leaves half a shard)."""
        if not len(keys):
            return
        shard = self.folder / f"{uuid.uuid4().hex}.npz"
        key_array = np.asarray(list(keys), dtype=str)

        def save(handle) -> None:
            np.savez(handle, keys=key_array, features=features.astype(np.float32))

        _write_atomic(shard, save)
