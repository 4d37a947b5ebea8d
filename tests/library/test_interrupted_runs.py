"""A run whose process died is shown as "interrupted", never "running" forever; a run whose
process is alive is left alone. The crash tests kill real processes (``-m crash``)."""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from cnndesk.cli import main
from cnndesk.library import Library, import_paths
from cnndesk.library.processes import current_owner, owner_is_gone
from cnndesk.library.schema import RunRow
from tests.conftest import make_image, result_of


def _set_owner(library: Library, run_id: int, owner: dict) -> None:
    from sqlalchemy import update

    from cnndesk.library.database import write_transaction

    with write_transaction(library.engine) as c:
        c.execute(update(RunRow).where(RunRow.id == run_id).values(metrics={"process": owner}))


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid  # reaped: nothing has this pid now (reuse within a test is negligible)


def test_this_process_is_alive_and_a_finished_process_is_gone() -> None:
    me = current_owner()
    assert not owner_is_gone(me)
    assert owner_is_gone({**me, "pid": _dead_pid()})
    assert owner_is_gone({**me, "start": (me["start"] or 0) + 1})  # our pid, another start: reused
    assert not owner_is_gone({**me, "pid": _dead_pid(), "host": socket.gethostname() + "-x"})
    assert not owner_is_gone(None) and not owner_is_gone({"pid": "12"})


def test_a_run_of_a_live_process_stays_running(tmp_path: Path) -> None:
    with Library.open(tmp_path / "lib.cnndesk") as library:
        run_id = library.create_run({"backbone": "x", "mode": "quick"})
        assert [r.status for r in library.runs()] == ["running"]
    with Library.open(tmp_path / "lib.cnndesk") as library:
        assert library.run(run_id).status == "running"


def test_a_run_whose_process_died_is_marked_interrupted_on_open(tmp_path: Path, capsys) -> None:
    path = tmp_path / "lib.cnndesk"
    with Library.open(path) as library:
        dead = library.create_run({"backbone": "simple-cnn", "mode": "full"})
        _set_owner(library, dead, {**current_owner(), "pid": _dead_pid()})
        other_host = library.create_run({"backbone": "simple-cnn", "mode": "full"})
        _set_owner(library, other_host, {**current_owner(), "host": "elsewhere", "pid": 1})
    with Library.open(path) as library:
        assert library.run(dead).status == "interrupted"
        assert "ended before the run finished" in library.run(dead).metrics["interrupted"]
        assert library.run(other_host).status == "running"  # cannot tell: left alone
    assert main(["--library", str(path), "runs"]) == 0
    out = capsys.readouterr().out
    assert "interrupted" in out.splitlines()[1]


def test_a_read_only_library_reports_interrupted_without_writing(tmp_path: Path) -> None:
    import hashlib

    path = tmp_path / "lib.cnndesk"
    with Library.open(path) as library:
        dead = library.create_run({"backbone": "x", "mode": "quick"})
        _set_owner(library, dead, {**current_owner(), "pid": _dead_pid()})
    with Library.open(path, read_only=True) as library:
        before = hashlib.sha256(path.read_bytes()).hexdigest()
        assert library.run(dead).status == "running"  # what is stored
        assert [r.status for r in library.runs()] == ["interrupted"]  # what is shown
        assert hashlib.sha256(path.read_bytes()).hexdigest() == before


# ------------------------------------------------------------------------------- crash tests


def _photos(root: Path, per_class: int = 12) -> Path:
    for name, colour in (("red", (220, 30, 30)), ("blue", (30, 30, 220))):
        for i in range(per_class):
            make_image(root / name / f"{i}.png", size=(40, 40), colour=colour)
    return root


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "cnndesk", *args]


@pytest.mark.crash
def test_a_killed_training_run_shows_as_interrupted(tmp_path: Path, capsys) -> None:
    library = tmp_path / "lib.cnndesk"
    assert main(["--library", str(library), "import", str(_photos(tmp_path / "photos")),
                 "--classes-from-folders"]) == 0  # fmt: skip
    env = {**os.environ, "CNNDESK_HOME": os.environ["CNNDESK_HOME"]}
    trainer = subprocess.Popen(
        _cli(
            "--library",
            str(library),
            "train",
            "--backbone",
            "simple-cnn",
            "--mode",
            "full",
            "--image-size",
            "32",
            "--epochs",
            "500",
        ),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=env,
    )
    try:
        # Wait for the first epoch line: the run is recorded and training is under way.
        assert trainer.stderr is not None
        for line in trainer.stderr:
            if b"epoch 1/" in line:
                break
        else:
            pytest.fail(f"training ended before its first epoch (exit {trainer.wait()})")
        capsys.readouterr()
        assert main(["--library", str(library), "runs", "--json"]) == 0
        live = json.loads(capsys.readouterr().out)
        assert [r["status"] for r in live] == ["running"]  # another live process: not touched
        trainer.send_signal(signal.SIGKILL)
        trainer.wait(timeout=30)
    finally:
        if trainer.poll() is None:
            trainer.kill()
            trainer.wait()
    assert main(["--library", str(library), "runs", "--json"]) == 0
    (run,) = json.loads(capsys.readouterr().out)
    assert run["status"] == "interrupted" and run["finished"] is not None
    with Library.open(library) as opened:
        assert opened.integrity_ok()


LABELER = textwrap.dedent(
    """
    import sys
    from cnndesk.library import Library
    lib = Library.open(sys.argv[1])
    classes = [c.id for c in lib.classes()]
    for n, record in enumerate(lib.images()):
        lib.set_labels([record.id], classes[n % len(classes)])
        print(record.id, classes[n % len(classes)], flush=True)
    print("done", flush=True)
    sys.stdin.readline()  # wait for the kill: a fast machine may finish before it lands
    """
)


@pytest.mark.crash
def test_labels_survive_kill_9_at_random_points(tmp_path: Path) -> None:
    path = tmp_path / "lib.cnndesk"
    with Library.open(path) as library:
        result_of(import_paths(library, [_photos(tmp_path / "photos", per_class=30)]))
        library.add_class("cat")
        library.add_class("dog")
        total = library.count()
    rng = random.Random(11)
    lost = 0
    for _ in range(8):
        with Library.open(path) as library:  # start each round from no labels
            library.set_labels([r.id for r in library.images()], None)
        kill_after = rng.randint(1, total - 1)
        child = subprocess.Popen(
            [sys.executable, "-c", LABELER, str(path)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        confirmed: dict[int, int] = {}
        assert child.stdout is not None
        for line in child.stdout:
            if line.strip() == "done":
                break
            image_id, class_id = map(int, line.split())
            confirmed[image_id] = class_id
            if len(confirmed) >= kill_after:
                time.sleep(rng.random() * 0.01)  # land the kill anywhere in the next label
                child.send_signal(signal.SIGKILL)
                break
        child.wait(timeout=60)
        child.stdin.close()
        child.stdout.close()
        assert child.returncode == -signal.SIGKILL
        with Library.open(path) as library:
            assert library.integrity_ok()
            labels = {r.id: r.class_id for r in library.images()}
        lost += sum(1 for i, k in confirmed.items() if labels.get(i) != k)
    assert lost == 0
