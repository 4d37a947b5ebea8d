"""Evaluation numbers from a model's logits: accuracy, per-class precision/recall/F1 (through
:func:`cnndesk.model_folder.per_class_metrics`, the one definition), the confusion matrix, and every
prediction with its probabilities and loss (for "sort by loss")."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from cnndesk.domain import Evaluation, SamplePrediction, TrainingSample
from cnndesk.model_folder import per_class_metrics


def evaluation_from_logits(
    logits: torch.Tensor,
    samples: Sequence[TrainingSample],
    *,
    classes: Sequence[str],
    split: str,
) -> Evaluation:
    """Measure ``logits`` (``[N, C]``, rows in ``samples`` order) against the samples' labels."""
    logits = logits.detach().float().cpu()
    labels = torch.tensor([s.label for s in samples], dtype=torch.long)
    n_classes = len(classes)
    if len(samples) == 0:
        empty = tuple(tuple(0 for _ in classes) for _ in classes)
        return Evaluation(split, tuple(classes), 0.0, 0.0, per_class_metrics(classes, empty), empty)
    probabilities = logits.softmax(dim=1)
    losses = F.cross_entropy(logits, labels, reduction="none")
    predicted = probabilities.argmax(dim=1)
    confusion = torch.zeros(n_classes, n_classes, dtype=torch.long)
    confusion.index_put_((labels, predicted), torch.ones_like(labels), accumulate=True)
    counts = tuple(tuple(int(v) for v in row) for row in confusion)
    predictions = tuple(
        SamplePrediction(
            path=s.path,
            key=s.key,
            image_id=s.image_id,
            label=s.label,
            predicted=int(predicted[i]),
            probabilities=tuple(round(float(p), 6) for p in probabilities[i]),
            loss=float(losses[i]),
        )
        for i, s in enumerate(samples)
    )
    return Evaluation(
        split=split,
        classes=tuple(classes),
        accuracy=float((predicted == labels).float().mean()),
        loss=float(losses.mean()),
        per_class=per_class_metrics(classes, counts),
        confusion=counts,
        predictions=predictions,
    )
