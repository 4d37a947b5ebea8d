"""Running a job to its end the one way (``cnndesk.jobs.drive``), and Ctrl+C in the command line."""

from __future__ import annotations

import json
from collections.abc import Generator
from pathlib import Path

import pytest

from cnndesk.cli import main
from cnndesk.export_formats import EXPORT_FORMATS
from cnndesk.jobs import drive
from tests.conftest import make_image


def _counting(n: int, closed: list[str]) -> Generator[int, None, str]:
    try:
        yield from range(n)
        return f"counted {n}"
    finally:
        closed.append("cleaned up")


def test_drive_sees_every_event_in_order_and_returns_the_result() -> None:
    seen: list[int] = []
    closed: list[str] = []
    assert drive(_counting(4, closed), seen.append) == "counted 4"
    assert seen == [0, 1, 2, 3]
    assert closed == ["cleaned up"]


def test_ctrl_c_between_events_closes_the_job_and_reaches_the_caller() -> None:
    closed: list[str] = []
    job = _counting(100, closed)

    def interrupt_at_3(event: int) -> None:
        if event == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        drive(job, interrupt_at_3)
    assert closed == ["cleaned up"]  # the job's finally ran: it was closed, not abandoned
    with pytest.raises(StopIteration):
        next(job)


@pytest.fixture
def pics(tmp_path: Path) -> Path:
    for cls in ("cat", "dog"):
        for i in range(3):
            make_image(tmp_path / "pics" / cls / f"{cls}{i}.jpg", colour=(80 * i, 40, 120))
    return tmp_path / "pics"


def test_ctrl_c_during_import_says_cancelled_and_the_library_still_works(
    capsys: pytest.CaptureFixture[str], pics: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cnndesk.cli.progress import ProgressBar

    def ctrl_c(self: ProgressBar, *args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt  # the user presses Ctrl+C while the bar is drawn

    with monkeypatch.context() as patched:
        patched.setattr(ProgressBar, "update", ctrl_c)
        code = main(["import", str(pics), "--classes-from-folders"])
    err = capsys.readouterr().err
    assert code == 130
    assert "cnndesk: cancelled" in err and "Traceback" not in err

    assert main(["import", str(pics), "--classes-from-folders", "--json"]) == 0
    imported = json.loads(capsys.readouterr().out)
    assert imported["library"]["images"] == 6
    assert imported["library"]["classes"] == {"cat": 3, "dog": 3}


def test_export_offers_every_format_of_the_table(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["export", str(tmp_path), "--format", "nope", "--out", str(tmp_path / "m.onnx")])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "invalid choice: 'nope'" in err
    assert all(f"'{name}'" in err for name in EXPORT_FORMATS)
