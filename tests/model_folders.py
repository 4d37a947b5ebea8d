"""Tiny model folders for prediction, sorting and export tests (CPU, well under a second each).

A timm test network with a chosen classifier bias: with ``constant`` the classifier ignores the
image (zero weights), so every image gets the same, known probabilities — which makes threshold
and sorting behaviour exact to test.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch

from cnndesk.ml.model_io import build_model, save_model


def make_model_folder(
    folder: Path,
    *,
    classes: Sequence[str] = ("ants", "bees"),
    constant: Sequence[float] | None = None,
    size: int = 64,
    seed: int = 0,
) -> Path:
    """Save a ``test_efficientnet`` model with ``classes`` into ``folder`` and return it.

    ``constant`` gives logits every image gets (the classifier's weights are zeroed).
    """
    torch.manual_seed(seed)
    model = build_model("test_efficientnet", len(classes)).eval()
    if constant is not None:
        head = model.get_classifier()
        with torch.no_grad():
            head.weight.zero_()
            head.bias.copy_(torch.tensor(list(constant), dtype=torch.float32))
    data_config = {
        "input_size": [3, size, size],
        "interpolation": "bicubic",
        "mean": [0.485, 0.456, 0.406],
        "std": [0.229, 0.224, 0.225],
        "crop_pct": 0.875,
        "crop_mode": "center",
    }
    info = {"backbone": "test_efficientnet", "classes": list(classes), "data_config": data_config}
    return save_model(folder, model, info)
