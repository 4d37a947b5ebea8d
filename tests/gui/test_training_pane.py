"""The training pane: readiness messages, a tiny real run that draws the curves, and Stop."""

from __future__ import annotations

from pathlib import Path

import pytest

from cnndesk.domain import EpochEnd, TrainResult
from cnndesk.gui.training_pane import TrainingPane
from cnndesk.library import Library
from tests.gui.pane_data import labeled_library, make_context, open_pane


@pytest.fixture
def pane(qtbot, tmp_path: Path):  # type: ignore[no-untyped-def]
    with open_pane(qtbot, labeled_library(tmp_path, per_class=10), TrainingPane) as pane:
        # A tiny network from scratch on 32-pixel images: a couple of seconds on a CPU.
        pane.backbone_combo.setCurrentText("simple-cnn")
        pane.image_size_spin.setValue(32)
        yield pane


def test_an_empty_library_says_what_to_do_and_cannot_train(qtbot, tmp_path: Path) -> None:
    with open_pane(qtbot, Library.open(tmp_path / "empty.cnndesk"), TrainingPane) as pane:
        assert not pane.train_button.isEnabled()
        assert "label" in pane.summary_label.text().lower()
        assert pane.start_training() is None


def test_one_class_is_not_enough(qtbot, tmp_path: Path) -> None:
    library = labeled_library(tmp_path, per_class=3)
    library.remove_class("blue")
    with open_pane(qtbot, library, TrainingPane) as pane:
        assert not pane.train_button.isEnabled()
        assert "at least two" in pane.summary_label.text()


def test_training_draws_the_curves_and_makes_the_model_current(qtbot, pane) -> None:
    pane.epochs_spin.setValue(3)
    assert pane.train_button.isEnabled() and "20 labeled images in 2 classes" in (
        pane.summary_label.text()
    )
    changed: list[str] = []
    pane.context.model_changed.connect(changed.append)
    with qtbot.waitSignal(pane.context.model_changed, timeout=60000):
        worker = pane.start_training()
        assert worker is not None and pane.stop_button.isEnabled()
    assert isinstance(worker.result, TrainResult)
    assert not pane.training and pane.train_button.isEnabled()
    epochs, train_loss = pane.curves.train_loss_curve.getData()
    assert list(epochs) == [1.0, 2.0, 3.0] and all(v > 0 for v in train_loss)
    val_x, val_acc = pane.curves.val_accuracy_curve.getData()
    assert len(val_x) == 3 and all(0.0 <= v <= 1.0 for v in val_acc)
    batch_x, _ = pane.curves.batch_loss_curve.getData()
    assert batch_x is not None and len(batch_x) >= 1
    assert Path(changed[-1]).joinpath("model.json").is_file()
    assert pane.history_table.rowCount() == 1
    assert "%" in pane.history_table.item(0, 4).text()
    assert pane.device_label.text().startswith("Device: cpu")
    assert "95 % CI" in pane.message_label.text() and "validation+test images" in (
        pane.message_label.text()
    )
    pages: list[str] = []
    pane.context.pane_requested.connect(pages.append)
    pane.message_label.linkActivated.emit("evaluation")  # "See where it is wrong →"
    assert pages == ["evaluation"]
    # A pane opened later draws the saved model's curves and starts from the same settings.
    later = TrainingPane(pane.context)
    qtbot.addWidget(later)
    x, _ = later.curves.train_loss_curve.getData()
    assert list(x) == [1.0, 2.0, 3.0]
    assert later.backbone_combo.currentText() == "simple-cnn"
    assert Path(changed[-1]).name in later.curves_label.text()


def test_stop_keeps_the_best_model_so_far(qtbot, pane) -> None:
    pane.epochs_spin.setValue(500)
    worker = pane.start_training()
    assert worker is not None

    def first_epoch(event: object) -> bool:
        return isinstance(event, EpochEnd)

    qtbot.waitSignal(worker.event, timeout=60000, check_params_cb=first_epoch).wait()
    with qtbot.waitSignal(pane.context.model_changed, timeout=30000) as changed:
        pane.stop_button.click()
    assert Path(changed.args[0], "weights.safetensors").is_file()
    assert not pane.training and not worker.is_running()
    assert pane.curves.epochs_plotted < 500
    assert "kept" in pane.message_label.text()
    run = pane.context.library.runs()[-1]
    assert run.status == "cancelled" and run.model_path == changed.args[0]


def test_a_failed_run_says_why_and_offers_details(qtbot, pane) -> None:
    pane.backbone_combo.setCurrentText("no_such_backbone_anywhere")
    with qtbot.waitSignal(pane.context.job_ended, timeout=60000):
        worker = pane.start_training()
        assert worker is not None
    assert not pane.training and pane.train_button.isEnabled()
    text = pane.message_label.text()
    assert "Training failed" in text and "no_such_backbone_anywhere" in text
    assert "Details" in text and pane._last_error_details


def test_the_probe_lists_backbones_and_offers_ways_out_without_weights(
    qtbot, tmp_path: Path
) -> None:
    library = labeled_library(tmp_path, per_class=3)
    context = make_context(library)
    pane = TrainingPane(context)
    qtbot.addWidget(pane)
    with qtbot.waitSignal(context.device_detected, timeout=60000) as device:
        pane.probe()
    assert device.args[0].startswith("cpu") and pane.device_label.text().startswith("Device: cpu")
    names = [pane.backbone_combo.itemText(i) for i in range(pane.backbone_combo.count())]
    assert {"tf_efficientnet_lite0", "resnet18", "simple-cnn"} <= set(names)
    # This test's home has no cached weights and downloads are off: say so, offer both ways out.
    assert pane.backbone_combo.currentText() == "tf_efficientnet_lite0"
    assert not pane.weights_banner.isHidden()
    assert "not on this computer" in pane.summary_label.text()  # said once, the box says what to do
    assert "Choose a weights file" in pane.weights_banner_label.text()
    pane.weights_edit.setText(str(tmp_path / "lite0.safetensors"))
    assert pane.weights_banner.isHidden()
    pane.weights_edit.clear()
    pane.scratch_button.click()
    assert pane.config().backbone == "simple-cnn" and pane.config().mode.value == "full"
    assert pane.weights_banner.isHidden()
    assert "from scratch" in pane.summary_label.text()
    library.close()


def test_the_model_suggests_labels_for_unlabeled_images(qtbot, tmp_path: Path) -> None:
    from cnndesk.domain import ImageView
    from cnndesk.library import import_paths
    from tests.conftest import make_image
    from tests.model_folders import make_model_folder

    library = labeled_library(tmp_path, per_class=3)
    new = [make_image(tmp_path / "new" / f"n{i}.png") for i in range(4)]
    for _ in import_paths(library, [tmp_path / "new"]):
        pass
    context = make_context(library)
    pane = TrainingPane(context)
    qtbot.addWidget(pane)
    assert pane.suggest_button.isHidden()  # no model yet
    context.set_current_model(make_model_folder(tmp_path / "m", classes=("red", "blue")))
    pane.refresh()
    assert not pane.suggest_button.isHidden()
    assert "4 unlabeled" in pane.suggest_button.text()
    with qtbot.waitSignal(context.show_images_requested, timeout=60000) as shown:
        pane.suggest_button.click()
    query = shown.args[0]
    assert query.view is ImageView.UNLABELED and query.order == "least_confident"
    records = library.images(query)
    assert len(records) == len(new) and all(r.suggested_class_id is not None for r in records)
    assert "suggested labels for 4 images" in pane.message_label.text()
    library.close()


def test_curves_continue_across_the_head_warm_up_and_fine_tuning(qtbot) -> None:
    from cnndesk.domain import BatchProgress, TrainPhase
    from cnndesk.gui.curves import TrainingCurves

    curves = TrainingCurves()
    qtbot.addWidget(curves)

    def batch(epoch: int, n: int) -> BatchProgress:
        return BatchProgress(0, 0, phase=TrainPhase.TRAINING, epoch=epoch, epochs=2, batch=n,
                             batches=2, loss=1.0 / (epoch + n), smoothed_loss=1.0 / (epoch + n))  # fmt: skip

    def end(epoch: int, stage: str, best: int) -> EpochEnd:
        return EpochEnd(epoch=epoch, epochs=2, train_loss=0.5, train_accuracy=0.8, val_loss=0.4,
                        val_accuracy=0.9, lr=1e-3, seconds=1.0, best_epoch=best, improved=True,
                        stage=stage)  # fmt: skip

    for stage in ("head", "train"):
        for epoch in (1, 2):
            curves.add_batch(batch(epoch, 1))
            curves.add_batch(batch(epoch, 2))
            curves.add_epoch(end(epoch, stage, best=epoch))
    x, _ = curves.train_loss_curve.getData()
    assert list(x) == [1.0, 2.0, 3.0, 4.0]
    bx, _ = curves.batch_loss_curve.getData()
    assert list(bx) == [0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0]
    assert curves.best_epoch_lines[0].value() == 4.0
    # Downsampling and clip-to-view keep long runs cheap.
    assert (
        curves.batch_loss_curve.opts["clipToView"]
        and curves.batch_loss_curve.opts["autoDownsample"]
    )
    curves.reset()
    assert (
        curves.train_loss_curve.getData()[0] is None
        or len(curves.train_loss_curve.getData()[0]) == 0
    )
