"""A full run whose fine-tuning never beat its head warm-up says so, in the CLI and the app."""

from __future__ import annotations

import argparse

import pytest

from cnndesk.domain import EpochEnd, RunRecord, TrainResult
from cnndesk.gui.readiness import result_text


def _epoch(stage: str, epoch: int, accuracy: float) -> EpochEnd:
    return EpochEnd(
        epoch=epoch, epochs=6, train_loss=0.3, train_accuracy=0.9, val_loss=0.2,
        val_accuracy=accuracy, lr=1e-4, seconds=1.0, best_epoch=3, improved=False, stage=stage,
    )  # fmt: skip


def _full_run(best_stage: str) -> TrainResult:
    head = [_epoch("head", e, a) for e, a in enumerate((0.92, 0.95, 0.961, 0.94), start=1)]
    tuned = [_epoch("train", e, a) for e, a in enumerate((0.922, 0.935, 0.935), start=1)]
    return TrainResult(
        model_path="/m", backbone="tf_efficientnet_lite0", mode="full", classes=("ants", "bees"),
        device="cpu", epochs=3, best_epoch=3, val_accuracy=0.961, val_loss=0.18,
        test_accuracy=None, seconds=109.0, history=(*head, *tuned), best_stage=best_stage,
    )  # fmt: skip


def test_a_full_run_that_kept_its_warm_up_head_says_so_and_by_how_much() -> None:
    result = _full_run("head")
    assert result.kept_warmup_head
    words = result.best_epoch_words()
    assert "did not beat the head warm-up in 3 epochs" in words
    assert "its best 93.5% vs 96.1% on the validation images" in words
    text = result_text(result)
    assert "best epoch 3 of 3" not in text  # the old words: epoch 3 of the warm-up, not of 3
    assert "did not beat the head warm-up" in text
    depth = [0]
    for ch in text:
        depth.append(depth[-1] + (ch == "(") - (ch == ")"))
    assert max(depth) == 1 and depth[-1] == 0  # one aside, no parenthesis inside another
    assert result.as_json()["best_stage"] == "head"


def test_a_tie_on_accuracy_is_called_a_tie() -> None:
    result = _full_run("head")
    tied = TrainResult(**{**_fields(result), "val_accuracy": 0.935})
    assert "its best 93.5% only tied on the validation images, at a higher loss" in (
        tied.best_epoch_words()
    )


def _fields(result: TrainResult) -> dict:  # type: ignore[type-arg]
    from dataclasses import fields

    return {f.name: getattr(result, f.name) for f in fields(result)}


def test_a_full_run_stopped_during_its_warm_up_does_not_claim_fine_tuning_lost() -> None:
    result = _full_run("head")
    stopped = TrainResult(
        **{**_fields(result), "epochs": 0, "cancelled": True,
           "history": tuple(e for e in result.history if e.stage == "head")}
    )  # fmt: skip
    assert not stopped.kept_warmup_head
    assert "did not beat" not in stopped.best_epoch_words()


def test_a_run_whose_fine_tuning_won_names_its_epoch_as_before() -> None:
    result = _full_run("train")
    assert not result.kept_warmup_head
    assert result.best_epoch_words() == "best epoch 3 of 3"
    assert "(best epoch 3 of 3)." in result_text(result)


def _run(
    run_id: int, mode: str, best_stage: str | None, backbone: str = "lite0", epochs: int = 3
) -> RunRecord:
    metrics = {"mode": mode, "epochs": epochs} | ({"best_stage": best_stage} if best_stage else {})
    return RunRecord(
        id=run_id, created="2026-12-01T13:00:00", status="done",
        config={"backbone": backbone, "mode": mode}, metrics=metrics, model_path=f"/m{run_id}",
    )  # fmt: skip


def test_the_runs_tables_mark_a_full_run_that_kept_its_warm_up_head(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from cnndesk.cli import training
    from cnndesk.gui.run_history import run_row
    from cnndesk.model_folder import KEPT_HEAD_LABEL, run_mode_label

    runs = [
        _run(1, "quick", "train"),
        _run(2, "full", "train"),
        _run(3, "full", "head"),
        _run(4, "quick", None, backbone="simple-cnn"),  # always trains every layer
    ]
    assert [run_mode_label(r) for r in runs] == ["quick", "full", KEPT_HEAD_LABEL, "full"]
    # Stopped during the warm-up: no fine-tuning lost to anything, so no "head kept" either.
    assert run_mode_label(_run(5, "full", "head", epochs=0)) == "full"
    assert run_row(runs[2], current=True)[3] == KEPT_HEAD_LABEL

    class _Library:
        def runs(self) -> list[RunRecord]:
            return runs

    monkeypatch.setattr(training, "open_library", lambda args: _Library())
    args = argparse.Namespace(compare=None, json=False)
    assert training.cmd_runs(args) == 0
    lines = capsys.readouterr().out.splitlines()
    rows = {r.split()[0]: r for r in (line.lstrip("* ") for line in lines[1:]) if r}
    assert f"  {KEPT_HEAD_LABEL}  " in rows["3"]
    assert rows["4"].split()[4] == "full"
    assert lines[-1].startswith(f"{KEPT_HEAD_LABEL}: fine-tuning every layer did not beat")


def test_the_curves_mark_the_warm_up_epoch_when_fine_tuning_never_beat_it(qtbot) -> None:
    from dataclasses import replace

    from cnndesk.gui.curves import TrainingCurves
    from cnndesk.model_folder import epoch_history

    result = _full_run("head")  # head epochs 1-4 (best 3), then 3 fine-tuning epochs
    live = [
        replace(e, improved=(e.stage == "head" and e.epoch <= 3), best_epoch=min(e.epoch, 3))
        if e.stage == "head"
        else e
        for e in result.history
    ]
    curves = TrainingCurves()
    qtbot.addWidget(curves)
    for event in live:  # as training streams them
        curves.add_epoch(event)
    assert curves.best_epoch_lines[0].value() == 3.0  # the warm-up's epoch 3, not 4 + 3

    metrics = {
        "best_epoch": 3,
        "best_stage": "head",
        "history": [e.as_json() for e in result.history],
    }
    saved = epoch_history(metrics)  # as the pane replays a saved model
    assert [(e.stage, e.epoch) for e in saved if e.improved] == [("head", 3)]
    curves.reset()
    for event in saved:
        curves.add_epoch(event)
    assert curves.best_epoch_lines[0].value() == 3.0
