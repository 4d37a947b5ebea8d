"""Backbones by name: the curated list, and ``simple-cnn`` registered with timm.

Every model is built by ``timm.create_model(name, pretrained=..., num_classes=N)``; there is no
branching over architectures. ``simple-cnn`` (the Keras tutorials' Conv32-Pool-Conv64-Pool-Conv64-
Flatten-Dense64-DenseN network, with batch norm) is registered as a timm model so it takes the same
path. Importing this module registers it.
"""

from __future__ import annotations

import logging
from typing import Any

import torch
from timm.models import register_model
from torch import nn

# Re-exported (``backbones.DEFAULT_BACKBONE``); the one definition is in cnndesk.defaults.
from cnndesk.defaults import DEFAULT_BACKBONE as DEFAULT_BACKBONE

log = logging.getLogger(__name__)

SIMPLE_CNN = "simple-cnn"

CURATED_BACKBONES: tuple[tuple[str, str], ...] = (
    ("mobilenetv3_large_100", "MobileNetV3 large: smallest and fastest, 5.5 M parameters"),
    ("tf_efficientnet_lite0", "EfficientNet-Lite0: small, fast, accurate, 4.7 M parameters"),
    ("efficientnet_b0", "EfficientNet-B0: 5.3 M parameters"),
    ("resnet18", "ResNet-18: classic, 11.7 M parameters"),
    ("resnet50", "ResNet-50: classic, 25.6 M parameters"),
    ("convnext_tiny", "ConvNeXt-Tiny: most accurate here, slowest, 28.6 M parameters"),
    (SIMPLE_CNN, "Small CNN trained from scratch (no pretrained weights), for small images"),
)
"""(timm name, one-line description), small and fast first. Any other timm name works too."""


# timm reads pretrained configs from a module-level ``default_cfgs`` when a model is registered.
default_cfgs: dict[str, dict[str, Any]] = {
    SIMPLE_CNN: {
        "url": "",
        "num_classes": 10,
        "input_size": (3, 32, 32),
        "pool_size": None,
        "crop_pct": 1.0,
        "crop_mode": "center",
        "interpolation": "bilinear",
        "mean": (0.5, 0.5, 0.5),
        "std": (0.25, 0.25, 0.25),
        "first_conv": "features.0",
        "classifier": "fc",
        "license": "mit",
    }
}


class _PoolTo(nn.AdaptiveAvgPool2d):
    """``AdaptiveAvgPool2d`` that passes an input already at its output size straight through.

    At the tutorials' 32 px the grid is already 8×8; the identity pool still cost 7 % of a CPU
    training step (its backward in channels-last).
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        size = self.output_size
        size = (size, size) if isinstance(size, int) else tuple(size)
        return x if tuple(x.shape[-2:]) == size else super().forward(x)


class SimpleCNN(nn.Module):
    """Conv32-Pool-Conv64-Pool-Conv64-Flatten-Dense64-DenseN, with batch norm and dropout.

    The flatten sees an 8×8×64 grid whatever the input size (an adaptive average pool makes
    inputs other than 32 px work; at 32 px it is the identity), so the parameter count and the
    saved weights never depend on the image size. Dropout acts on the 64 hidden units: on the
    4,096 flattened ones, drawing its random mask alone took a tenth of a CPU training step.
    """

    def __init__(
        self, num_classes: int = 10, in_chans: int = 3, drop_rate: float = 0.3, **_: Any
    ) -> None:
        super().__init__()

        def block(cin: int, cout: int) -> list[nn.Module]:
            return [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU()]

        self.features = nn.Sequential(
            *block(in_chans, 32),
            nn.MaxPool2d(2),
            *block(32, 64),
            nn.MaxPool2d(2),
            *block(64, 64),
            _PoolTo(8),
        )
        self.num_features = self.head_hidden_size = 64
        # The Identity keeps the Linear at index 2, where models saved before the dropout moved
        # have its weights.
        self.hidden = nn.Sequential(
            nn.Flatten(), nn.Identity(), nn.Linear(64 * 8 * 8, 64), nn.ReLU(), nn.Dropout(drop_rate)
        )
        self.num_classes = num_classes
        self.fc: nn.Module = nn.Linear(64, num_classes) if num_classes else nn.Identity()

    def get_classifier(self) -> nn.Module:
        return self.fc

    def reset_classifier(self, num_classes: int, *_: Any, **__: Any) -> None:
        self.num_classes = num_classes
        self.fc = nn.Linear(64, num_classes) if num_classes else nn.Identity()

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = self.hidden(x)
        return x if pre_logits else self.fc(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))


def _simple_cnn(pretrained: bool = False, **kwargs: Any) -> SimpleCNN:
    from timm.models import build_model_with_cfg

    if pretrained:
        log.info("simple-cnn has no pretrained weights; it trains from scratch")
    return build_model_with_cfg(SimpleCNN, SIMPLE_CNN, pretrained=False, **kwargs)


_simple_cnn.__name__ = SIMPLE_CNN
register_model(_simple_cnn)


def has_pretrained_weights(name: str) -> bool:
    """Whether timm knows published weights for ``name`` (``simple-cnn`` has none)."""
    import timm

    return name != SIMPLE_CNN and bool(timm.list_pretrained(name.split(".")[0] + "*"))
