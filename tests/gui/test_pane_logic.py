"""The panes' Qt-free rules (readiness, evaluation words) and the one per-class metrics formula."""

from __future__ import annotations

from pathlib import Path

import pytest

from cnndesk.domain import BatchProgress, Evaluation, SamplePrediction, TrainPhase
from cnndesk.gui import evaluation_text, readiness
from cnndesk.model_folder import evaluation_from_predictions, per_class_metrics
from tests.fresh_imports import loaded_by


def test_the_panes_rules_load_without_qt() -> None:
    code = "import cnndesk.gui.readiness, cnndesk.gui.evaluation_text, cnndesk.model_folder"
    assert loaded_by(code, ("PySide6", "pyqtgraph", "torch")) == []


def test_per_class_metrics_from_a_confusion_matrix() -> None:
    # 4 ants: 3 right, 1 taken for a bee; 2 bees, both right; no wasps at all.
    metrics = per_class_metrics(["ants", "bees", "wasps"], [[3, 1, 0], [0, 2, 0], [0, 0, 0]])
    ants, bees, wasps = metrics
    assert (ants.precision, ants.recall, ants.support) == (1.0, 0.75, 4)
    assert ants.f1 == pytest.approx(2 * 0.75 / 1.75)
    assert bees.precision == pytest.approx(2 / 3) and bees.recall == 1.0
    assert (wasps.precision, wasps.recall, wasps.f1, wasps.support) == (0.0, 0.0, 0.0, 0)


def test_training_and_stored_predictions_measure_per_class_the_same_way() -> None:
    rows = [
        {"true_class": "ants", "class": "ants", "probabilities": {"ants": 0.9, "bees": 0.1}},
        {"true_class": "ants", "class": "bees", "probabilities": {"ants": 0.3, "bees": 0.7}},
        {"true_class": "bees", "class": "bees", "probabilities": {"ants": 0.2, "bees": 0.8}},
    ]
    evaluation = evaluation_from_predictions(["ants", "bees"], rows)
    assert evaluation.confusion == ((1, 1), (0, 1))
    assert evaluation.per_class == per_class_metrics(["ants", "bees"], [[1, 1], [0, 1]])


def test_readiness_needs_two_classes_and_weights() -> None:
    plan = readiness.plan_words("tf_efficientnet_lite0", "quick")
    state = readiness.readiness({}, missing_weights=False, backbone="b", plan=plan)
    assert not state.ready and state.text.startswith("Nothing to train on yet")
    state = readiness.readiness({"ants": 4}, missing_weights=False, backbone="b", plan=plan)
    assert not state.ready and "(ants: 4)" in state.text and "at least two" in state.text
    counts = {"ants": 12, "bees": 3}
    state = readiness.readiness(counts, missing_weights=True, backbone="lite0", plan=plan)
    assert not state.ready and "weights for lite0 are not on this computer" in state.text
    state = readiness.readiness(counts, missing_weights=False, backbone="lite0", plan=plan)
    assert state.ready and state.text.startswith("Ready: 15 labeled images in 2 classes.")
    assert "last layer learns your classes" in state.text
    assert "Few images in bees (3): 10+ per class train better." in state.text


def test_weights_are_missing_only_for_a_probed_pretrained_backbone_without_a_file() -> None:
    options = readiness.TrainingOptions(
        "cpu",
        (
            readiness.BackboneOption("lite0", "small", None),
            readiness.BackboneOption("resnet", "", "/cache/resnet.safetensors"),
            readiness.BackboneOption("simple-cnn", "", None),
        ),
        "lite0",
    )
    assert readiness.weights_missing(options, "lite0", "")
    assert not readiness.weights_missing(options, "lite0", "/my/lite0.safetensors")
    assert not readiness.weights_missing(options, "resnet", "")
    assert not readiness.weights_missing(options, "simple-cnn", "")
    assert not readiness.weights_missing(options, "some_timm_name", "")  # not probed: try it
    assert not readiness.weights_missing(None, "lite0", "")  # before the probe knows


def test_progress_words_for_a_training_batch() -> None:
    event = BatchProgress(
        done=5,
        total=10,
        phase=TrainPhase.TRAINING,
        epoch=2,
        epochs=6,
        images_per_second=123.4,
        eta_seconds=75,
    )
    assert readiness.batch_text(event) == "Training · epoch 2/6 · 123 images/s · 1:15 left"
    assert readiness.format_duration(3725) == "1:02:05"
    assert readiness.format_duration(None) == ""


def _evaluation() -> Evaluation:
    def p(label: int, predicted: int, loss: float, image_id: int) -> SamplePrediction:
        probabilities = (0.2, 0.8) if predicted else (0.8, 0.2)
        return SamplePrediction(
            f"{image_id}.jpg", "", image_id, label, predicted, probabilities, loss
        )

    predictions = (p(0, 1, 0.5, 1), p(0, 1, 2.0, 2), p(0, 0, 0.1, 3), p(1, 1, 0.2, 4))
    return Evaluation(
        split="test",
        classes=("ants", "bees"),
        accuracy=0.5,
        loss=0.7,
        per_class=per_class_metrics(["ants", "bees"], [[1, 2], [0, 1]]),
        confusion=((1, 2), (0, 1)),
        predictions=predictions,
    )


def test_evaluation_words_and_cells() -> None:
    evaluation = _evaluation()
    assert evaluation_text.most_confused(evaluation) == [(0, 1, 2)]
    assert "<a href='0,1'>ants taken for bees</a>: 2" in evaluation_text.most_confused_html(
        evaluation
    )
    # A cell's images, the highest loss first (what the browser shows on a click).
    assert evaluation_text.cell_image_ids(evaluation, evaluation_text.Cell(0, 1)) == (2, 1)
    assert evaluation_text.metric_cells(evaluation, 0)[:2] == ["ants", "100.0%"]
    assert evaluation_text.gallery_heading(evaluation).endswith(": 2")
    figure, title = evaluation_text.headline(evaluation, "m1")
    assert "95 % CI" in figure and "m1: 2 mistakes" in title


def test_coverage_says_nothing_for_a_model_without_held_out_predictions(tmp_path: Path) -> None:
    assert evaluation_text.coverage_text(None) == ""
    assert evaluation_text.coverage_text(tmp_path) == ""  # no model.json there
