"""The evaluation pane: accuracy, per-class metrics, a confusion matrix that opens the browser."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PySide6.QtCore import Qt

from cnndesk.domain import ClassMetrics, Evaluation, ImageQuery, SamplePrediction
from cnndesk.gui.background import stop_background_work
from cnndesk.gui.evaluation_pane import EvaluationPane, read_evaluation
from cnndesk.library import Library
from tests.gui.pane_data import labeled_library, make_context
from tests.model_folders import make_model_folder


@pytest.fixture
def make_pane(qtbot):  # type: ignore[no-untyped-def]
    """Build evaluation panes that live until the gallery's thumbnail loads have ended (pool
    threads emit to the pane's loader; qtbot only keeps weak references to widgets)."""
    panes: list[EvaluationPane] = []

    def make(context) -> EvaluationPane:  # type: ignore[no-untyped-def]
        pane = EvaluationPane(context)
        qtbot.addWidget(pane)
        panes.append(pane)
        return pane

    yield make
    stop_background_work(wait_ms=10000)
    panes.clear()


def fake_model(folder: Path, library: Library) -> tuple[Path, Evaluation]:
    """A model folder whose evaluation says: 3 red right, 2 red taken for blue, 4 blue right,
    1 blue taken for red (the numbers are what matter here, not the weights)."""
    classes = ("red", "blue")
    red = [r for r in library.images() if "red_" in r.name][:5]
    blue = [r for r in library.images() if "blue_" in r.name][:5]
    rows = [(r, 0, 0) for r in red[:3]] + [(r, 0, 1) for r in red[3:]]
    rows += [(r, 1, 1) for r in blue[:4]] + [(r, 1, 0) for r in blue[4:]]
    predictions = tuple(
        SamplePrediction(
            path=r.path,
            key=r.sha256,
            image_id=r.id,
            label=label,
            predicted=predicted,
            probabilities=(0.9, 0.1) if predicted == 0 else (0.2, 0.8),
            loss=0.1 if label == predicted else 1.0 + n / 10,
        )
        for n, (r, label, predicted) in enumerate(rows)
    )
    evaluation = Evaluation(
        split="test",
        classes=classes,
        accuracy=0.7,
        loss=0.45,
        per_class=(
            ClassMetrics("red", 0.75, 0.6, 0.667, 5),
            ClassMetrics("blue", 0.667, 0.8, 0.727, 5),
        ),
        confusion=((3, 2), (1, 4)),
        predictions=predictions,
    )
    folder.mkdir(parents=True)
    info = {"format": "cnndesk-model", "format_version": 1, "backbone": "test_efficientnet",
            "classes": list(classes), "data_config": {"input_size": [3, 32, 32],
            "mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5]}}  # fmt: skip
    (folder / "model.json").write_text(json.dumps(info), encoding="utf-8")  # read beside it
    text = json.dumps(evaluation.as_json(with_predictions=True))
    (folder / "evaluation.json").write_text(text, encoding="utf-8")
    return folder, evaluation


def test_without_a_model_the_pane_says_how_to_get_one(make_pane, qtbot, tmp_path: Path) -> None:
    library = Library.open(tmp_path / "empty.cnndesk")
    pane = make_pane(make_context(library))
    assert pane.evaluation is None
    assert not pane.empty_label.isHidden() and pane.splitter.isHidden()
    assert "Train a model" in pane.empty_label.text()
    library.close()


def test_a_model_shows_accuracy_metrics_matrix_and_mistakes(
    make_pane, qtbot, tmp_path: Path
) -> None:
    library = labeled_library(tmp_path, per_class=5)
    folder, evaluation = fake_model(tmp_path / "model", library)
    context = make_context(library)
    pane = make_pane(context)
    context.set_current_model(folder)
    assert read_evaluation(folder) == evaluation
    # 7 of 10: the figure, its Wilson interval, and on which images and how many.
    assert pane.accuracy_label.text() == "70.0 % ± 24.8 (95 % CI 39.7–89.2 %)"
    assert "on 10 test images" in pane.title_label.text()
    assert "only 10 images: this number can be far off" in pane.warning_label.text()
    assert pane.metrics_table.rowCount() == 2
    assert pane.metrics_table.item(0, 0).text() == "red"
    assert (
        pane.metrics_table.item(1, 2).text() == "80.0% (38–96)"
    )  # blue's recall, 4 of 5, with its interval
    model = pane.confusion_model
    assert [[model.index(r, c).data() for c in range(2)] for r in range(2)] == [
        ["3", "2"],
        ["1", "4"],
    ]
    assert model.headerData(1, Qt.Orientation.Horizontal) == "blue"
    assert "red taken for blue</a>: 2" in pane.confused_label.text()
    # Mistakes, highest loss first, each with true → predicted and the probability.
    assert pane.gallery.count() == 3
    texts = [pane.gallery.item(i).text() for i in range(3)]
    assert texts[0].startswith("blue → red") and "90% sure" in texts[0]
    assert sum(t.startswith("red → blue") for t in texts) == 2
    # "Why did it say red?": each mistake is explained by the class the model said.
    assert pane.why.toggle.text().startswith("Why?") and not pane.why.toggle.isChecked()
    explained = [(item.text(), cls) for item, _, cls in pane.why._items]
    assert len(explained) == 3 and all(t.split("\n")[0].endswith(c) for t, c in explained)
    library.close()


def test_clicking_a_cell_asks_the_browser_for_exactly_its_images(
    make_pane, qtbot, tmp_path: Path
) -> None:
    library = labeled_library(tmp_path, per_class=5)
    folder, evaluation = fake_model(tmp_path / "model", library)
    context = make_context(library)
    pane = make_pane(context)
    context.set_current_model(folder)
    pane.resize(900, 700)
    pane.show()
    qtbot.waitExposed(pane)
    view = pane.confusion_view
    index = pane.confusion_model.index(0, 1)  # true red, predicted blue
    expected = {p.image_id for p in evaluation.predictions if p.label == 0 and p.predicted == 1}
    pages: list[str] = []
    context.pane_requested.connect(pages.append)
    with qtbot.waitSignal(context.show_images_requested, timeout=2000) as blocker:
        qtbot.mouseClick(
            view.viewport(), Qt.MouseButton.LeftButton, pos=view.visualRect(index).center()
        )
    query = blocker.args[0]
    assert isinstance(query, ImageQuery)
    assert set(query.image_ids) == expected and len(query.image_ids) == 2
    assert query.title.startswith("True red, predicted blue")
    assert pages == ["browser"]
    # The library can list exactly those images (and they are red ones).
    records = library.images(ids=list(query.image_ids))
    assert {r.id for r in records} == expected and all("red_" in r.name for r in records)
    # Relabeling one of them marks the evaluation as out of date.
    context.labels_changed.emit([next(iter(expected))])
    assert not pane.stale_label.isHidden()
    library.close()


def test_the_evaluation_can_be_rebuilt_from_stored_predictions(
    make_pane, qtbot, tmp_path: Path
) -> None:
    library = labeled_library(tmp_path, per_class=3)
    folder = make_model_folder(tmp_path / "model", classes=("red", "blue"))
    rows = []
    for r in library.images():
        true = "red" if "red_" in r.name else "blue"
        predicted = "blue"  # a model that always says blue
        rows.append({"image_id": r.id, "class": predicted, "confidence": 0.7,
                     "probabilities": {"red": 0.3, "blue": 0.7}, "true_class": true, "loss": 1.2 if true == "red" else 0.36})  # fmt: skip
    library.store_predictions(model_path=str(folder), run_id=None, rows=rows)
    evaluation = read_evaluation(folder, library)
    assert evaluation is not None
    assert evaluation.confusion == ((0, 3), (0, 3))
    assert evaluation.accuracy == 0.5
    assert len(evaluation.misclassified) == 3
    library.close()


def test_a_model_without_evaluation_says_so(make_pane, qtbot, tmp_path: Path) -> None:
    library = Library.open(tmp_path / "lib.cnndesk")
    folder = tmp_path / "stopped-model"
    folder.mkdir()
    (folder / "model.json").write_text(json.dumps({"classes": ["a", "b"]}), encoding="utf-8")
    context = make_context(library)
    pane = make_pane(context)
    context.set_current_model(folder)
    assert pane.evaluation is None and not pane.empty_label.isHidden()
    assert "No evaluation for stopped-model" in pane.empty_label.text()
    library.close()


def test_an_edited_evaluation_shows_what_is_wrong_not_its_numbers(
    make_pane, qtbot, tmp_path: Path
) -> None:
    library = labeled_library(tmp_path, per_class=5)
    folder, _ = fake_model(tmp_path / "model", library)
    path = folder / "evaluation.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    data["confusion"] = [[1]]  # one image, all right: "100 %" if it were believed
    path.write_text(json.dumps(data), encoding="utf-8")
    context = make_context(library)
    pane = make_pane(context)
    context.set_current_model(folder)
    assert pane.evaluation is None and pane.splitter.isHidden()
    assert not pane.empty_label.isHidden() and pane.accuracy_label.text() == ""
    text = pane.empty_label.text()
    assert "The evaluation of model cannot be trusted" in text
    assert "evaluation.json is damaged" in text
    assert "one row per class of the model (2), not 1" in text
    library.close()
