"""The CUDA paths: AMP, channels_last and the device report, on a real GPU.

These run only where CUDA is present (CI has no GPU); elsewhere each is skipped with the reason
printed in pytest's summary (``-ra``). Run them on a GPU machine with ``pytest -m gpu``.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from cnndesk.domain import TrainConfig, TrainingSet, TrainMode, TrainStarted
from cnndesk.ml.predict import Predictor
from cnndesk.ml.train import train
from tests.ml.test_train import drive

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(
        not torch.cuda.is_available(),
        reason="no CUDA device here: the AMP/channels_last training and GPU prediction checks "
        "run only on a machine with an NVIDIA GPU",
    ),
]


@pytest.mark.parametrize("mode", [TrainMode.QUICK, TrainMode.FULL])
def test_training_on_cuda_reports_the_gpu_and_learns(
    mode: TrainMode, toy_set: TrainingSet, tmp_path: Path
) -> None:
    config = TrainConfig(
        backbone="test_efficientnet", pretrained=False, image_size=64, mode=mode, epochs=6,
        out=str(tmp_path / "model"),
    )  # fmt: skip
    events, result = drive(train(toy_set, config))
    started = next(e for e in events if isinstance(e, TrainStarted))
    assert started.device.startswith("cuda")
    assert result.val_accuracy is not None and result.val_accuracy >= 0.75
    predictor = Predictor(Path(result.model_path), device="cuda")
    prediction = predictor.predict(toy_set.val[0].path)
    assert abs(sum(score.p for score in prediction.top) - 1.0) < 1e-3
    assert prediction.top[0].name == toy_set.classes[toy_set.val[0].label]
