"""Caches that make every epoch after the first cheap: decoded pixels and backbone features.

- :class:`PixelCache`: each image decoded once (with draft downscaling), resized and cropped
  exactly as timm's eval transform for a given geometry, and kept as uint8 ``.npy`` under
  ``paths.cache_dir()/pixels/<geometry>/``, keyed by content hash.
- :class:`FeatureStore`: quick mode's frozen-backbone features, under
  ``paths.cache_dir()/features/<id>/`` where the id hashes (backbone, weights, preprocessing); each
  embedding pass adds a shard, so a retrain after new labels embeds only the new images.

Everything here may be deleted at any time; it is rebuilt on demand.
"""

from __future__ import annotations

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
from cnndesk.ml.preprocess import decode_image, eval_resize_crop, scale_size

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
    return f"{h}x{w}-{config['interpolation']}-{config['crop_pct']}-{config['crop_mode']}"


def _write_atomic(path: Path, save) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        with open(tmp, "wb") as handle:
            save(handle)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


class PixelCache:
    """uint8 ``[H, W, 3]`` pixels of images for one geometry, on disk and in memory."""

    def __init__(self, config: Mapping[str, Any], *, root: Path | None = None) -> None:
        self.config = dict(config)
        self.folder = (root or paths.cache_dir() / "pixels") / _tag(self.config)
        self._resize_crop = eval_resize_crop({**self.config, "mean": (0,) * 3, "std": (1,) * 3})
        self._decode_side = scale_size(self.config)
        self.decoded = 0
        """Images decoded from their files (not found in the cache) since this object was made."""

    def file(self, key: str) -> Path:
        return self.folder / key[:2] / f"{key}.npy"

    def pixels(self, sample: TrainingSample, *, store: bool = True) -> np.ndarray:
        """One image's pixels: from the cache, else decoded (and cached when ``store``)."""
        file = self.file(sample.key)
        if file.is_file():
            try:
                return np.load(file, allow_pickle=False)
            except (OSError, ValueError):
                log.warning("pixel cache file %s is damaged; decoding again", file)
        image = decode_image(sample.path, size=self._decode_side)
        pixels = np.ascontiguousarray(np.asarray(self._resize_crop(image), dtype=np.uint8))
        self.decoded += 1
        if store:
            _write_atomic(file, lambda handle: np.save(handle, pixels, allow_pickle=False))
        return pixels

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
        the GIL while it decodes).
        """
        result: dict[str, np.ndarray] = {}
        failed: list[tuple[str, str]] = []
        unique = list({s.key: s for s in samples}.values())
        with ThreadPoolExecutor(max(1, threads)) as pool:
            futures = [pool.submit(self.pixels, sample, store=store) for sample in unique]
            try:
                for done, (sample, future) in enumerate(zip(unique, futures), start=1):
                    try:
                        result[sample.key] = future.result()
                    except ImageError as exc:
                        failed.append((sample.path, str(exc)))
                    if done % 16 == 0 or done == len(unique):
                        yield Progress(done, len(unique), message)
            finally:
                for future in futures:
                    future.cancel()
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
