"""The issue's scenario: a big validation split, a tiny test split, unlabeled photos, one wrong
label; press Train. The headline must not rest on the 4 test images, must say on which images
and how many with an interval, and the Misclassified filter must fill without a Suggest step."""

from __future__ import annotations

from pathlib import Path

from cnndesk.domain import ImageQuery, ImageView, TrainConfig, TrainMode, TrainResult
from cnndesk.gui.evaluation_pane import EvaluationPane
from cnndesk.gui.training_pane import TrainingPane
from cnndesk.library import Library, import_paths
from tests.conftest import make_image
from tests.gui.pane_data import COLOURS, make_context, open_pane

SPLITS = {"train": 10, "val": 14, "test": 2}


def _scenario(tmp_path: Path) -> tuple[Library, Path]:
    root = tmp_path / "photos"
    for split, n in SPLITS.items():
        for name, colour in COLOURS.items():
            for i in range(n):
                make_image(root / split / name / f"{name}_{i}.png", size=(40, 40), colour=colour)
    # A red photo filed under blue: the kind of mistake the Misclassified filter should show.
    wrong = make_image(root / "train" / "blue" / "actually_red.png", size=(40, 40),
                       colour=COLOURS["red"])  # fmt: skip
    for i in range(6):
        make_image(tmp_path / "new" / f"new_{i}.png", size=(40, 40), colour=(200, 40, 40))
    library = Library.open(tmp_path / "lib.cnndesk")
    for _ in import_paths(library, [root], classes_from_folders=True):
        pass
    for _ in import_paths(library, [tmp_path / "new"]):
        pass
    return library, wrong


def test_headline_rests_on_enough_images_with_its_interval_and_filters_fill(
    qtbot, tmp_path: Path
) -> None:
    library, wrong = _scenario(tmp_path)
    context = make_context(library)
    training = TrainingPane(context)
    evaluation = EvaluationPane(context)
    qtbot.addWidget(training)
    qtbot.addWidget(evaluation)
    config = TrainConfig(
        backbone="test_efficientnet", mode=TrainMode.QUICK, pretrained=False, image_size=32,
        epochs=20,
    )  # fmt: skip
    with qtbot.waitSignal(context.model_changed, timeout=120000):
        worker = training.start_training(config)
        assert worker is not None
    result = worker.result
    assert isinstance(result, TrainResult) and result.evaluation is not None

    # 4 test images are below the rule's 30: the number rests on validation + test (32).
    held_out = 2 * (SPLITS["val"] + SPLITS["test"])
    assert result.evaluation.split == "test+val" and result.evaluation.images == held_out
    headline = evaluation.accuracy_label.text()
    assert "95 % CI" in headline and "±" in headline
    assert f"on {held_out} validation+test images" in evaluation.title_label.text()
    assert "5-fold cross-validation over all 53 labeled images" in evaluation.title_label.text()
    assert evaluation.warning_label.isHidden()  # 32 images: no small-sample warning
    assert f"on {held_out} validation+test images" in training.message_label.text()
    assert f"n={held_out} test+val" in training.history_table.item(0, 4).text()
    assert "●" in training.history_table.item(0, 0).text()  # the current model
    # Per-class recall carries its interval; the reliability diagram has both curves.
    assert "–" in evaluation.metrics_table.item(0, 2).text()
    assert not evaluation.reliability.isHidden()
    x, _ = evaluation.reliability.after_curve.getData()
    assert x is not None and len(x) >= 1
    assert "ECE" in evaluation.reliability.summary_label.text()

    # The model's view of every image, right after Train: no Suggest step.
    stats = library.stats()
    assert stats.predicted == stats.images == 53 + 6
    misclassified = library.images(ImageQuery(view=ImageView.MISCLASSIFIED))
    assert str(wrong) in {r.path for r in misclassified}
    unlabeled = library.images(ImageQuery(view=ImageView.UNLABELED))
    assert len(unlabeled) == 6 and all(r.suggested_class_id is not None for r in unlabeled)
    context.cancel_jobs()
    library.close()


def test_a_tiny_held_out_set_gets_a_visible_warning(qtbot, tmp_path: Path) -> None:
    from dataclasses import replace

    from cnndesk.domain import ClassMetrics, Evaluation

    four = Evaluation(
        split="test", classes=("ants", "bees"), accuracy=1.0, loss=0.1,
        per_class=(ClassMetrics("ants", 1, 1, 1, 2), ClassMetrics("bees", 1, 1, 1, 2)),
        confusion=((2, 0), (0, 2)),
    )  # fmt: skip
    with open_pane(qtbot, Library.open(tmp_path / "lib.cnndesk"), EvaluationPane) as pane:
        pane.set_evaluation(replace(four))
        # Not a bare "100 %": the interval is wide and the warning says why.
        assert "95 % CI 51.0–100.0 %" in pane.accuracy_label.text()
        assert not pane.warning_label.isHidden()
        assert "only 4 images: this number can be far off" in pane.warning_label.text()
