"""The defaults and fixed vocabularies that several layers share, each defined once (stdlib only).

The domain's records, the training and prediction code, the CLI's help and the GUI's choices all
read these names from here, so a default changes in one place and the documentation of it with it.
"""

from __future__ import annotations

DEFAULT_BACKBONE = "tf_efficientnet_lite0"
"""The timm backbone a run uses when none is named (EfficientNet-Lite0: 4.7 M parameters)."""

IMAGE_EXTENSIONS: frozenset[str] = frozenset(
    {".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp"}
)
"""File name suffixes (lower case) the library imports and batch classification and sorting read."""


def image_file_filter() -> str:
    """A file-dialog filter for :data:`IMAGE_EXTENSIONS`, then every file: ``"Images (*.bmp …);;All files (*)"``."""
    patterns = " ".join(f"*{suffix}" for suffix in sorted(IMAGE_EXTENSIONS))
    return f"Images ({patterns});;All files (*)"


PRECISIONS = ("fp32", "bf16", "fp16")
"""Number formats of prediction and of full-mode training steps: float32, or bfloat16 / float16
autocast (fp16 on CUDA only)."""

DEVICES = ("cuda", "mps", "cpu")
"""Devices a user may ask for (``cuda:N`` names one GPU of several); none asked: the best there is."""

LOW_CONFIDENCE = 0.6
"""A prediction whose top probability is below this counts as low confidence (the browser's filter
and :class:`cnndesk.domain.ImageQuery`'s default ``confidence_below``)."""

QUICK_EPOCHS = 60
"""Quick mode (frozen backbone, only the head trains): head epochs when none are given."""
FULL_PRETRAINED_EPOCHS = 6
"""Full mode on a pretrained backbone: epochs when none are given (after the head warm-up)."""
FULL_SCRATCH_EPOCHS = 30
"""Full mode from random weights (``--no-pretrained``, ``simple-cnn``): epochs when none are given."""
EPOCHS_DEFAULTS_TEXT = (
    f"{QUICK_EPOCHS} quick, {FULL_PRETRAINED_EPOCHS} full, {FULL_SCRATCH_EPOCHS} full from scratch"
)
"""The epoch defaults in words, for help texts."""
