"""Undo of a sort also removes the report files that sort wrote, unless they were changed since."""

from __future__ import annotations

import json
from pathlib import Path

from cnndesk import filesort
from cnndesk.cli import main
from cnndesk.jobs import drive, sort_job, undo_sort_job
from tests.conftest import make_image
from tests.model_folders import make_model_folder

REPORTS = ["cnndesk-report.csv", "cnndesk-report.json"]


def sorted_copy(tmp_path: Path) -> tuple[Path, list[Path]]:
    """Copy-sort three photos into ``tmp_path/out`` with a model sure they are bees."""
    model = make_model_folder(tmp_path / "model", classes=("ants", "bees"), constant=(0.0, 2.0))
    photos = [make_image(tmp_path / "in" / f"photo_{i}.png") for i in range(3)]
    dest = tmp_path / "out"
    drive(sort_job(model, tmp_path / "in", dest, threshold=0.5), lambda _e: None)
    assert sorted(p.name for p in dest.iterdir()) == [".cnndesk-sort", "bees", *REPORTS]
    return dest, photos


def test_undo_of_a_copy_sort_removes_its_unchanged_reports(tmp_path: Path) -> None:
    dest, photos = sorted_copy(tmp_path)
    undone = drive(undo_sort_job(dest), lambda _e: None)
    assert undone.removed == 3 and undone.kept == ()
    assert sorted(p.name for p in dest.iterdir()) == [".cnndesk-sort"]  # no report left behind
    assert all(p.exists() for p in photos)


def test_undo_keeps_a_report_the_user_edited_and_says_so(tmp_path: Path, capsys) -> None:
    dest, _ = sorted_copy(tmp_path)
    edited = dest / "cnndesk-report.csv"
    edited.write_text(edited.read_text() + "my notes\n")
    assert main(["sort", "--undo", str(dest)]) == 0
    out = capsys.readouterr().out
    assert sorted(p.name for p in dest.iterdir()) == [".cnndesk-sort", "cnndesk-report.csv"]
    assert edited.read_text().endswith("my notes\n")
    assert f"{edited}: {filesort.REPORT_CHANGED}" in out


def test_undo_keeps_a_report_replaced_by_a_file_of_the_same_size(tmp_path: Path) -> None:
    dest, _ = sorted_copy(tmp_path)
    report = dest / "cnndesk-report.json"
    text = json.loads(report.read_text())
    size = report.stat().st_size
    replaced = json.dumps({"mine": "x" * 10})
    replaced = replaced[:-2] + "x" * (size - len(replaced)) + replaced[-2:]
    report.unlink()
    report.write_text(replaced)  # another file, same size, same name
    assert report.stat().st_size == size and text != replaced
    undone = drive(undo_sort_job(dest), lambda _e: None)
    assert report.read_text() == replaced
    assert [(Path(k.path).name, k.reason) for k in undone.kept] == [
        ("cnndesk-report.json", filesort.REPORT_CHANGED)
    ]


def test_undo_removes_only_the_reports_of_the_sort_it_undoes(tmp_path: Path) -> None:
    dest, _ = sorted_copy(tmp_path)
    model = tmp_path / "model"
    drive(sort_job(model, tmp_path / "in", dest, threshold=0.5), lambda _e: None)
    second = ["cnndesk-report (2).csv", "cnndesk-report (2).json"]
    assert set(second) <= {p.name for p in dest.iterdir()}
    drive(undo_sort_job(dest), lambda _e: None)  # the second sort
    names = {p.name for p in dest.iterdir()}
    assert set(REPORTS) <= names and not set(second) & names
    drive(undo_sort_job(dest), lambda _e: None)  # the first
    assert not set(REPORTS) & {p.name for p in dest.iterdir()}


def test_the_cpu_label_says_why_a_core_is_left_free(monkeypatch) -> None:
    from cnndesk.ml import device

    monkeypatch.setattr(device.os, "sched_getaffinity", lambda _pid: set(range(8)), raising=False)
    assert device.cpu_threads() == 7
    assert device.cpu_description(7) == (
        "cpu (7 of 8 threads; one core is left for decoding images and the window)"
    )
    assert device.cpu_description(3, requested=True) == "cpu (3 threads)"  # --threads 3
    monkeypatch.setattr(device.os, "sched_getaffinity", lambda _pid: {0}, raising=False)
    assert device.cpu_description(device.cpu_threads()) == "cpu (1 thread)"


def test_a_two_core_machine_trains_on_both_cores(monkeypatch) -> None:
    """Leaving one of two cores free made a full fine-tune 1.5–1.8× slower (measured)."""
    from cnndesk.ml import device

    monkeypatch.setattr(device.os, "sched_getaffinity", lambda _pid: {0, 1}, raising=False)
    assert device.cpu_threads() == 2
    assert device.cpu_description(device.cpu_threads()) == "cpu (2 threads)"
    assert device.cpu_threads(1) == 1  # --threads 1 still holds
