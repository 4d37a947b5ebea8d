"""The values every layer exchanges: one import path, and epochs that survive model.json."""

from __future__ import annotations

import json

import cnndesk.domain as domain
from cnndesk.domain import EpochEnd


def test_every_value_is_importable_from_cnndesk_domain() -> None:
    for name in domain.__all__:
        value = getattr(domain, name)
        if isinstance(value, type):  # defined in the package, not borrowed from elsewhere
            assert value.__module__.startswith("cnndesk.domain."), name
    assert {"CnndeskError", "ImageRecord", "Prediction", "TrainConfig", "Evaluation"} <= set(
        domain.__all__
    )


def test_an_epoch_round_trips_through_model_json() -> None:
    epoch = EpochEnd(epoch=3, epochs=9, train_loss=0.5, train_accuracy=0.75, val_loss=None,
                     val_accuracy=0.8, lr=1e-3, seconds=1.23456, best_epoch=2, improved=True,
                     stage="head", device="cpu")  # fmt: skip
    stored = json.loads(json.dumps(epoch.as_json()))
    assert stored["seconds"] == 1.235 and "device" not in stored
    back = EpochEnd.from_json(stored, epochs=9, best_epoch=2)
    assert (back.epoch, back.stage, back.val_loss, back.val_accuracy) == (3, "head", None, 0.8)
    assert back.train_loss == 0.5 and back.lr == 1e-3 and back.best_epoch == 2
