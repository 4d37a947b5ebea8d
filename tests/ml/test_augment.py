"""Augmentation presets are data, and the batched augmenter keeps images images."""

from __future__ import annotations

import torch

from cnndesk.domain import AUGMENT_PRESETS
from cnndesk.ml.augment import PRESETS, augment_batch


def test_every_preset_the_ui_offers_exists() -> None:
    assert tuple(PRESETS) == AUGMENT_PRESETS
    assert PRESETS["none"].is_identity and not PRESETS["light"].is_identity


def test_augmented_batch_has_the_model_size_and_valid_pixels() -> None:
    pixels = torch.randint(0, 256, (5, 72, 72, 3), dtype=torch.uint8)
    gen = torch.Generator().manual_seed(0)
    for name, preset in PRESETS.items():
        out = augment_batch(pixels, preset, size=(64, 64), generator=gen)
        assert out.shape == (5, 3, 64, 64), name
        assert float(out.min()) >= 0.0 and float(out.max()) <= 1.0


def test_no_augmentation_only_resizes() -> None:
    pixels = torch.full((2, 32, 32, 3), 100, dtype=torch.uint8)
    out = augment_batch(pixels, PRESETS["none"], size=(32, 32), generator=torch.Generator())
    assert torch.allclose(out, torch.full_like(out, 100 / 255), atol=1e-5)


def test_flip_preset_mirrors_some_images() -> None:
    pixels = torch.zeros(16, 32, 32, 3, dtype=torch.uint8)
    pixels[:, :, :16] = 255  # left half white
    from cnndesk.ml.augment import Augment

    out = augment_batch(pixels, Augment(flip=True), size=(32, 32), generator=torch.Generator())
    left_white = out[:, 0, :, :16].mean(dim=(1, 2)) > 0.5
    assert 0 < int(left_white.sum()) < 16
