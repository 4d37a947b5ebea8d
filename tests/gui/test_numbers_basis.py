"""Every number says what it rests on: Data Health's label check and empty lists, Evaluate's
Confidence line (what a new user found in the real window)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

from cnndesk.domain import Calibration
from cnndesk.gui.health_pane import HealthPane
from cnndesk.health import AuditReport, LabelFinding
from cnndesk.library import Library
from tests.gui.pane_data import labeled_library, make_context
from tests.gui.test_evaluation_pane import fake_model, make_pane  # noqa: F401  (a fixture)
from tests.test_audit import audited_library  # noqa: F401  (a fixture)


def _report(**changes: object) -> AuditReport:
    """An audit of 398 labeled images that found nothing; 378 of them agree in 5 folds."""
    report = AuditReport(
        label_issues=(),
        near_duplicates=(),
        outliers=(),
        class_balance=(),
        model_path="",
        images=398,
        labeled=398,
        cv_accuracy=378 / 398,
        seconds=1.0,
        cv_images=398,
        cv_correct=378,
        cv_folds=5,
    )
    return replace(report, **changes)  # type: ignore[arg-type]


def _pane(qtbot, library: Library) -> HealthPane:  # type: ignore[no-untyped-def]
    pane = HealthPane(make_context(library))
    qtbot.addWidget(pane)
    pane.resize(560, 600)
    pane.show()
    return pane


def test_empty_findings_lists_say_none_were_found_and_on_what(qtbot, tmp_path: Path) -> None:
    pane = _pane(qtbot, labeled_library(tmp_path, per_class=2))
    # Before any audit: what to do, not a blank white box.
    assert pane.empty_labels[0].isVisible() and not pane.labels_list.isVisible()
    assert "press Run audit" in pane.empty_labels[0].text()
    assert "near-duplicate" in pane.empty_labels[1].text()

    pane.show_report(_report())
    assert pane.tabs.tabText(0) == "Labels (0)"
    assert pane.empty_labels[0].isVisible()
    assert pane.empty_labels[0].text() == "No likely label errors among the 398 labeled images."
    assert pane.empty_labels[1].text() == "No near-duplicates among the 398 images audited."
    assert pane.empty_labels[2].text().startswith("No odd images among the 398 images")
    assert pane.empty_labels[3].text().startswith("No class-balance warnings for the 398")

    # Too few labels for a label check: the Labels tab says so instead of "none found".
    pane.show_report(_report(labeled=3, cv_accuracy=None, cv_images=0, cv_correct=0, cv_folds=0))
    assert pane.empty_labels[0].text().startswith("No label check: it needs")
    assert "(3 labeled)" in pane.empty_labels[0].text()


def test_a_list_emptied_by_hand_says_its_findings_are_dealt_with(qtbot, tmp_path: Path) -> None:
    library = labeled_library(tmp_path, per_class=2)
    image = library.images()[0]
    pane = _pane(qtbot, library)
    finding = LabelFinding(image.id, image.path, "red", "blue", 0.9)
    pane.show_report(_report(label_issues=(finding,)))
    assert pane.labels_list.isVisible() and not pane.empty_labels[0].isVisible()
    assert pane.keep_current()
    assert pane.empty_labels[0].isVisible()
    assert pane.empty_labels[0].text().startswith("The one finding the audit made here is dealt")
    library.close()


def test_the_health_summary_says_what_its_accuracy_rests_on(qtbot, tmp_path: Path) -> None:
    pane = _pane(qtbot, labeled_library(tmp_path, per_class=2))
    pane.show_report(_report())
    text = pane.summary.text()
    # 378 of 398: 95.0 %, Wilson 95 % interval 92.4–96.7 % (as Evaluate computes it).
    assert "agrees with 95.0 % of the 398 labels (95 % CI 92.4–96.7 %, 5-fold" in text
    assert "the audit's own quick head" in text
    assert "not the trained model's accuracy (see Evaluate)" in text
    assert pane.summary.wordWrap()  # wraps in a 1024 px window instead of widening it


def test_a_real_audit_records_how_its_label_check_was_done(qtbot, audited_library) -> None:  # noqa: F811
    library = Library.open(audited_library[0])
    pane = _pane(qtbot, library)
    with qtbot.waitSignal(pane.audit_finished, timeout=600_000) as done:
        pane.run_button.click()
    report = done.args[0]
    assert report.cv_images == report.labeled > 0
    assert report.cv_correct == round(report.cv_accuracy * report.labeled)
    assert report.cv_folds == 5
    assert f"of the {report.labeled} labels (95 % CI" in pane.summary.text()
    library.close()


def test_evaluate_confidence_names_the_images_it_is_measured_on(
    make_pane,  # noqa: F811
    tmp_path: Path,
) -> None:
    library = labeled_library(tmp_path, per_class=5)
    folder, evaluation = fake_model(tmp_path / "model", library)
    # The headline is on 10 test images; calibration and coverage rest on 12 out-of-fold ones.
    calibration = Calibration(0.8, "cross-validation", 12, 0.1, 0.05)
    (folder / "evaluation.json").write_text(
        json.dumps(replace(evaluation, calibration=calibration).as_json(with_predictions=True)),
        encoding="utf-8",
    )
    info = json.loads((folder / "model.json").read_text(encoding="utf-8"))
    info["calibration"] = {
        **calibration.as_json(),
        "confidence": [0.99] * 9 + [0.6] * 3,
        "correct": [1] * 9 + [0, 1, 0],
    }
    (folder / "model.json").write_text(json.dumps(info), encoding="utf-8")
    context = make_context(library)
    pane = make_pane(context)
    context.set_current_model(folder)
    text = pane.reliability.summary_label.text()
    assert "<b>Confidence</b> on 12 labeled images, out of fold in 5-fold cross-validation" in text
    assert "ECE) 0.100 → 0.050" in text
    assert "it answers 75% of these 12 images (confidence ≥ 99%)" in text
    assert "on 10 test images" in pane.title_label.text()
    library.close()
