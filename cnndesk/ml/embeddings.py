"""Embeddings and small image statistics for the data-health audit, through the on-disk caches.

- :func:`model_embeddings`: what a saved model's classifier sees (its pooled backbone features)
  for each image, computed with quick mode's :func:`~cnndesk.ml.head.embed` into a
  :class:`~cnndesk.ml.data.FeatureStore` named by the model's *backbone* weights (every tensor
  but the classifier's). Models that differ only in their head — every quick-mode retrain —
  share one cache, so a second audit embeds only new images.
- :func:`image_statistics`: mean and standard deviation of each image's luminance, from a small
  draft decode, cached the same way.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Generator, Sequence
from pathlib import Path

import numpy as np
import torch

from cnndesk.domain import BatchProgress, ImageError, Progress, TrainingSample
from cnndesk.ml.data import FeatureStore, PixelCache, featurizer_id, geometry
from cnndesk.ml.device import pick_device
from cnndesk.ml.head import embed
from cnndesk.ml.preprocess import decode_image

log = logging.getLogger(__name__)

STATS_STORE = "image-stats-v1"
STATS_SIDE = 64


def backbone_digest(model: torch.nn.Module) -> str:
    """A hash of every tensor of ``model`` except its classifier's."""
    classifier = model.get_classifier() if hasattr(model, "get_classifier") else None
    skip = {id(p) for p in classifier.parameters()} if classifier is not None else set()
    skip |= {id(b) for b in classifier.buffers()} if classifier is not None else set()
    digest = hashlib.sha256()
    for name, tensor in model.state_dict(keep_vars=True).items():
        if id(tensor) in skip:
            continue
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()[:24]


def model_embeddings(
    model_dir: str | Path, samples: Sequence[TrainingSample], *, store_root: Path | None = None
) -> Generator[BatchProgress, None, tuple[dict[str, np.ndarray], list[tuple[str, str]]]]:
    """Pooled backbone features of ``samples`` by key (cached), and the unreadable images."""
    from cnndesk.ml.model_io import load_model

    model, info = load_model(Path(model_dir))
    model = model.float()
    ident = featurizer_id(
        backbone=info["backbone"],
        weights_id=f"backbone-{backbone_digest(model)}",
        data_config=info["data_config"],
    )
    choice = pick_device(None)
    model = model.to(choice.device)
    stats: dict[str, int] = {}
    root = store_root / "features" if store_root is not None else None
    return (
        yield from embed(
            model,
            samples,
            store=FeatureStore(ident, root=root),
            pixels=PixelCache(geometry(info["data_config"])),
            data_config=info["data_config"],
            choice=choice,
            stats=stats,
        )
    )


def image_statistics(
    samples: Sequence[TrainingSample], *, store_root: Path | None = None
) -> Generator[Progress, None, dict[str, np.ndarray]]:
    """``key → [mean, std]`` of each image's luminance (0–1); unreadable images are left out."""
    from cnndesk.ml.audit import luminance_stats

    store = FeatureStore(STATS_STORE, root=store_root / "features" if store_root else None)
    unique = list({s.key: s for s in samples}.values())
    found = store.load(s.key for s in unique)
    missing = [s for s in unique if s.key not in found]
    keys: list[str] = []
    rows: list[np.ndarray] = []
    try:
        for n, sample in enumerate(missing, start=1):
            try:
                image = decode_image(sample.path, size=STATS_SIDE)
                image.thumbnail((STATS_SIDE * 2, STATS_SIDE * 2))
                row = np.array(luminance_stats(np.asarray(image)), dtype=np.float32)
            except (ImageError, OSError, ValueError) as exc:
                log.info("no statistics for %s: %s", sample.path, exc)
                continue
            found[sample.key] = row
            keys.append(sample.key)
            rows.append(row)
            if n % 32 == 0 or n == len(missing):
                yield Progress(n, len(missing), f"Measuring {len(missing)} images")
    finally:
        if keys:
            store.add(keys, np.stack(rows))
    return found
