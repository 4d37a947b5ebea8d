"""The training generator, driven the way the GUI and the CLI drive it, on tiny timm models."""

from __future__ import annotations

import dataclasses
import json
import math
import urllib.request
from collections.abc import Generator
from pathlib import Path
from typing import Any

import pytest
import torch

from cnndesk import jobs
from cnndesk.domain import (
    BatchProgress,
    DatasetError,
    EpochEnd,
    TrainConfig,
    TrainingSet,
    TrainMode,
    TrainPhase,
    TrainResult,
    TrainStarted,
    WeightsUnavailableError,
)
from cnndesk.ml.model_io import load_model
from cnndesk.ml.preprocess import load_for_model
from cnndesk.ml.train import train
from tests.ml.conftest import make_samples

TINY = dict(backbone="test_efficientnet", pretrained=False, image_size=64)


def drive(gen: Generator[Any, None, TrainResult]) -> tuple[list[Any], TrainResult]:
    events: list[Any] = []
    result = jobs.drive(gen, events.append)
    return events, result


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("a test tried to reach the network")

    monkeypatch.setattr(urllib.request, "urlopen", refuse)


def test_quick_mode_event_sequence_and_a_loadable_model(
    toy_set: TrainingSet, tmp_path: Path
) -> None:
    config = TrainConfig(**TINY, mode=TrainMode.QUICK, epochs=5, out=str(tmp_path / "model"))
    events, result = drive(train(toy_set, config))

    assert isinstance(events[0], TrainStarted)
    assert events[0].device.startswith("cpu") and events[0].train_images == 16
    phases = [e.phase for e in events if isinstance(e, BatchProgress)]
    assert phases[0] is TrainPhase.EMBEDDING and TrainPhase.TRAINING in phases
    epochs = [e for e in events if isinstance(e, EpochEnd)]
    assert [e.epoch for e in epochs] == list(range(1, len(epochs) + 1))
    assert all(e.val_accuracy is not None and e.lr > 0 for e in epochs)
    progress = [
        e for e in events if isinstance(e, BatchProgress) and e.phase is TrainPhase.TRAINING
    ]
    assert all(e.images_per_second > 0 and e.smoothed_loss is not None for e in progress)
    assert progress[-1].eta_seconds == pytest.approx(0.0, abs=1e-6)

    assert result.model_path == str(tmp_path / "model") and result.embedded == 24
    _, info = load_model(Path(result.model_path))
    assert info["classes"] == ["red", "blue"] and info["training"]["mode"] == "quick"
    assert info["data_config"]["input_size"] == [3, 64, 64]
    assert {d["split"] for d in info["dataset"]} == {"train", "val"}
    # 8 validation images are too few to rest a number on: it rests on cross-validation of
    # all 24 labeled images instead (cnndesk.heldout's rule).
    assert result.evaluation is not None and result.evaluation.split == "cross-validation"
    assert result.evaluation.images == 24 and result.evaluation.cv_accuracy is not None
    assert json.loads((tmp_path / "model" / "evaluation.json").read_text())["accuracy"] == (
        result.evaluation.accuracy
    )


def test_loaded_model_predicts_what_the_run_reported(toy_set: TrainingSet, tmp_path: Path) -> None:
    """Training's view of unlabeled images and inference agree: same preprocessing, same
    weights, the same temperature."""
    unlabeled = tuple(
        dataclasses.replace(s, label=-1) for s in make_samples(tmp_path / "u", "unlabeled", 2)
    )
    data = dataclasses.replace(toy_set, unlabeled=unlabeled)
    _, result = drive(train(data, TrainConfig(**TINY, epochs=5)))
    model, info = load_model(Path(result.model_path))
    assert info["temperature"] == result.evaluation.calibration.temperature
    seen = {p.key: p for p in result.library_predictions}
    assert len(seen) == 24 + 4
    for sample in unlabeled:
        x = load_for_model(sample.path, info["data_config"]).unsqueeze(0)
        with torch.no_grad():
            p = (model(x) / info["temperature"]).softmax(1)[0]
        assert p.tolist() == pytest.approx(list(seen[sample.key].probabilities), abs=1e-4)


def test_quick_retrain_embeds_only_new_images(toy_set: TrainingSet, tmp_path: Path) -> None:
    drive(train(toy_set, TrainConfig(**TINY, epochs=2)))
    events, again = drive(train(toy_set, TrainConfig(**TINY, epochs=2)))
    assert again.embedded == 0 and again.reused == 24
    assert not [e for e in events if getattr(e, "phase", None) is TrainPhase.EMBEDDING]

    more = dataclasses.replace(
        toy_set, train=toy_set.train + tuple(make_samples(tmp_path / "new", "train", 1, start=50))
    )
    _, third = drive(train(more, TrainConfig(**TINY, epochs=2)))
    assert (third.embedded, third.reused) == (2, 24)


def test_full_mode_loss_is_finite_and_falls_on_a_separable_set(toy_set: TrainingSet) -> None:
    config = TrainConfig(
        backbone="simple-cnn", mode=TrainMode.FULL, epochs=12, image_size=32, lr=3e-3,
        batch_size=8, augment="none", patience=50, precision="bf16",
    )  # fmt: skip
    events, result = drive(train(toy_set, config))
    losses = [e.train_loss for e in events if isinstance(e, EpochEnd)]
    assert all(math.isfinite(v) for v in losses)
    assert min(losses[-3:]) < losses[0] * 0.7
    assert result.val_accuracy == 1.0 and result.mode == "full"
    _, info = load_model(Path(result.model_path))
    assert info["training"]["precision"] == "bf16"


def test_full_mode_with_augmentation_and_early_stopping_restores_the_best_epoch(
    toy_set: TrainingSet,
) -> None:
    config = TrainConfig(**TINY, mode=TrainMode.FULL, epochs=6, augment="strong", patience=2)
    events, result = drive(train(toy_set, config))
    epochs = [e for e in events if isinstance(e, EpochEnd)]
    # The kept epoch: highest validation accuracy, ties broken by the lower validation loss.
    best = max(epochs, key=lambda e: (e.val_accuracy, -e.val_loss, -e.epoch))
    assert [e.epoch for e in epochs if e.improved][-1] == best.epoch
    assert len(epochs) == 6 or len(epochs) - best.epoch == 2  # patience 2
    assert result.best_epoch == best.epoch
    assert result.val_loss == pytest.approx(best.val_loss)
    _, info = load_model(Path(result.model_path))
    assert info["metrics"]["best_epoch"] == best.epoch
    assert info["training"]["precision"] in ("fp32", "bf16")  # measured on the first steps


def test_cancel_mid_epoch_keeps_the_best_model_so_far(toy_set: TrainingSet, tmp_path: Path) -> None:
    out = tmp_path / "cancelled"
    config = TrainConfig(**TINY, mode=TrainMode.FULL, epochs=5, batch_size=4, out=str(out))
    gen = train(toy_set, config)
    seen_epoch = False
    for event in gen:
        seen_epoch = seen_epoch or isinstance(event, EpochEnd)
        if (
            seen_epoch
            and isinstance(event, BatchProgress)
            and event.epoch == 2
            and event.batch == 2
        ):
            break
    gen.close()  # what the GUI's Cancel does
    model, info = load_model(out)
    assert info["metrics"]["cancelled"] is True
    assert info["metrics"]["best_epoch"] == 1
    assert model(torch.zeros(1, 3, 64, 64)).shape == (1, 2)


def test_cancel_before_any_epoch_leaves_no_model(toy_set: TrainingSet, tmp_path: Path) -> None:
    out = tmp_path / "nothing"
    gen = train(toy_set, TrainConfig(**TINY, mode=TrainMode.FULL, epochs=3, out=str(out)))
    next(gen)
    gen.close()
    assert not (out / "model.json").exists()


def test_out_of_memory_halves_the_batch_and_goes_on(
    toy_set: TrainingSet, monkeypatch: pytest.MonkeyPatch
) -> None:
    import cnndesk.ml.full as engine

    real = engine.F.cross_entropy
    calls = {"oom": 0}

    def flaky(logits: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
        if logits.requires_grad and logits.shape[0] > 4:
            calls["oom"] += 1
            raise torch.OutOfMemoryError("simulated")
        return real(logits, *args, **kwargs)

    monkeypatch.setattr(engine.F, "cross_entropy", flaky)
    config = TrainConfig(**TINY, mode=TrainMode.FULL, epochs=1, batch_size=16)
    events, result = drive(train(toy_set, config))
    batches = [e for e in events if isinstance(e, BatchProgress) and e.phase is TrainPhase.TRAINING]
    assert calls["oom"] == 2  # 16 → 8 → 4
    assert sum(1 for e in batches if e.epoch == 1) == 4 and batches[-1].done == 16
    assert result.epochs == 1


def test_offline_pretrained_request_fails_fast_with_both_ways_out(toy_set: TrainingSet) -> None:
    config = TrainConfig(backbone="test_efficientnet", pretrained=True, image_size=64)
    with pytest.raises(WeightsUnavailableError) as error:
        drive(train(toy_set, config))
    assert "--weights FILE" in str(error.value) and "simple-cnn" in str(error.value)


def test_a_local_weights_file_is_used_and_keys_the_feature_cache(
    toy_set: TrainingSet, tmp_path: Path
) -> None:
    import timm
    from safetensors.torch import save_file

    files = []
    for seed in (1, 2):
        torch.manual_seed(seed)
        net = timm.create_model("test_efficientnet", num_classes=1000)
        files.append(tmp_path / f"weights{seed}.safetensors")
        save_file(net.state_dict(), str(files[-1]))
    config = TrainConfig(
        backbone="test_efficientnet", weights=str(files[0]), image_size=64, epochs=2
    )
    events, first = drive(train(toy_set, config))
    assert str(files[0]) in events[0].weights and first.embedded == 24
    _, same = drive(train(toy_set, config))
    assert same.embedded == 0
    _, other = drive(train(toy_set, dataclasses.replace(config, weights=str(files[1]))))
    assert other.embedded == 24  # other weights, other features


def test_weights_for_another_architecture_are_refused_clearly(
    toy_set: TrainingSet, tmp_path: Path
) -> None:
    import timm
    from safetensors.torch import save_file

    from cnndesk.domain import ModelError

    file = tmp_path / "resnet.safetensors"
    save_file(timm.create_model("test_resnet").state_dict(), str(file))
    config = TrainConfig(backbone="test_efficientnet", weights=str(file), image_size=64)
    with pytest.raises(ModelError, match="do not fit test_efficientnet"):
        drive(train(toy_set, config))


def test_one_class_is_not_enough(toy_set: TrainingSet) -> None:
    single = TrainingSet(("red",), toy_set.train[:8], toy_set.val[:4], ())
    with pytest.raises(DatasetError, match="at least two classes"):
        drive(train(single, TrainConfig(**TINY)))


def test_evaluation_uses_the_test_split_and_lists_mistakes_by_loss(
    toy_set: TrainingSet, tmp_path: Path
) -> None:
    test = tuple(make_samples(tmp_path / "t", "test", 3))
    # One image labeled wrongly, as real folders have: the evaluation must surface it.
    wrong = dataclasses.replace(test[0], label=1)
    data = dataclasses.replace(toy_set, test=(wrong, *test[1:]))
    _, result = drive(train(data, TrainConfig(**TINY, epochs=10)))
    evaluation = result.evaluation
    # 6 test + 8 validation images are under 30: the number rests on cross-validation of all
    # 30 labeled images, where the mislabeled one is still the biggest mistake.
    assert evaluation is not None and evaluation.split == "cross-validation"
    assert result.test_accuracy is None
    assert sum(map(sum, evaluation.confusion)) == 30
    assert [c.support for c in evaluation.per_class] == [14, 16]
    assert evaluation.misclassified and evaluation.misclassified[0].key == wrong.key
