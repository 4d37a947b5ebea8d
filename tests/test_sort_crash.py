"""kill -9 in the middle of a move-sort or an undo, at seeded random points: nothing is lost, and
undo (run again) puts every file back byte for byte.

The child process counts the file-system calls the sort makes (open, fsync, rename, unlink,
mkdir, ...) and sends itself SIGKILL just before or just after call number k, with k drawn from
the calls a complete run makes (seeded). Marked ``crash``: a slower suite (~12 s on 2 cores) that
CI runs by default.
"""

from __future__ import annotations

import hashlib
import os
import random
import shutil
import signal
import subprocess
import sys
import textwrap
from collections import Counter
from pathlib import Path

import pytest

from cnndesk import filesort
from tests.conftest import make_image, result_of

pytestmark = [
    pytest.mark.crash,
    pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL (POSIX)"),
]

REPO = Path(__file__).resolve().parents[1]
POINTS = 10
SEED = int(os.environ.get("CNNDESK_CRASH_SEED", "20261201"))
"""Fixed, so CI repeats the same points; set ``CNNDESK_CRASH_SEED`` to try others."""

CHILD = """
import builtins, os, signal, sys
from pathlib import Path
from cnndesk import filesort

what, src, dest, k, after, cross = sys.argv[1:7]
k, after, cross = int(k), after == "1", cross == "1"
if cross:
    filesort.files.same_filesystem = lambda *_: False
calls = [0]

def counted(real):
    def wrapper(*args, **kwargs):
        calls[0] += 1
        n = calls[0]  # nested calls move the counter on
        if n == k and not after:
            os.kill(os.getpid(), signal.SIGKILL)
        try:
            return real(*args, **kwargs)
        finally:  # also after a call that raised (a missing file, an existing folder)
            if n == k and after:
                os.kill(os.getpid(), signal.SIGKILL)
    return wrapper

for name in ("open", "fsync", "replace", "unlink", "mkdir", "rmdir", "link", "rename"):
    setattr(os, name, counted(getattr(os, name)))
builtins.open = counted(builtins.open)
if what == "sort":
    files = sorted(p for p in Path(src).rglob("*") if p.is_file())
    labels = ["cat", "dog", None]
    job = filesort.sort_files(
        [(p, labels[i % 3]) for i, p in enumerate(files)], Path(dest), move=True, sources=[src]
    )
else:
    job = filesort.undo_sort(Path(dest))
for _ in job:
    pass
print(calls[0])
"""


def contents(root: Path) -> Counter[str]:
    """sha256 of every real file under ``root``: no journal, report, temporary file or placeholder."""
    found: Counter[str] = Counter()
    for path in root.rglob("*"):
        if not path.is_file() or filesort.JOURNAL_DIR in path.parts:
            continue
        if path.name.startswith(".cnndesk-") or path.stat().st_size == 0:
            continue
        found[hashlib.sha256(path.read_bytes()).hexdigest()] += 1
    return found


def tree(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def child(what: str, src: Path, dest: Path, k: int, *, after: bool, cross: bool):  # type: ignore[no-untyped-def]
    args = [what, str(src), str(dest), str(k), str(int(after)), str(int(cross))]
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(CHILD), *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        timeout=60,
    )


@pytest.fixture(scope="module")
def photos(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("crash") / "photos"
    for i in range(9):
        make_image(root / ("a" if i % 2 else "b") / f"p{i}.jpg", size=(24, 16), colour=(i, 9, 90))
    make_image(root / "b" / "p1.jpg", size=(16, 24), colour=(200, 1, 1))  # a name twice
    return root


def calls_in_a_full_run(what: str, photos: Path, tmp_path: Path, *, cross: bool) -> int:
    src, dest = tmp_path / "count-src", tmp_path / "count-dest"
    shutil.copytree(photos, src)
    if what == "undo":
        result_of(filesort.sort_files(_decisions(src), dest, move=True, sources=[src]))
    done = child(what, src, dest, 0, after=False, cross=cross)
    assert done.returncode == 0, done.stderr
    shutil.rmtree(src)
    shutil.rmtree(dest)
    return int(done.stdout.split()[-1])


def _decisions(src: Path) -> list[tuple[Path, str | None]]:
    files = sorted(p for p in src.rglob("*") if p.is_file())
    labels = ["cat", "dog", None]
    return [(p, labels[i % 3]) for i, p in enumerate(files)]


@pytest.mark.parametrize("what", ["sort", "undo"])
def test_kill_9_at_random_points_loses_nothing_and_undo_finishes(
    what: str, photos: Path, tmp_path: Path
) -> None:
    original = tree(photos)
    wanted = Counter(original.values())
    rng = random.Random(f"{SEED}-{what}")
    filesort.journal_key()  # made once, before counting: the count is then the same every run
    totals = {cross: calls_in_a_full_run(what, photos, tmp_path, cross=cross) for cross in (0, 1)}
    killed = before_journal = 0
    for point in range(POINTS):
        cross = bool(point % 2)  # rename within a filesystem, verified copy across them
        k, after = rng.randint(1, totals[cross]), rng.random() < 0.5
        src, dest = tmp_path / f"src{point}", tmp_path / f"dest{point}"
        shutil.copytree(photos, src)
        if what == "undo":
            result_of(filesort.sort_files(_decisions(src), dest, move=True, sources=[src]))

        proc = child(what, src, dest, k, after=after, cross=cross)
        where = f"{what} killed at call {k}/{totals[cross]} ({'after' if after else 'before'}, cross={cross})"
        assert proc.returncode == -signal.SIGKILL, f"{where}: {proc.stderr}"
        killed += 1

        # Nothing lost: every original is still somewhere, byte for byte, and nothing else is.
        found = contents(src) + contents(dest)
        assert set(found) == set(wanted), where
        assert all(found[h] >= n for h, n in wanted.items()), where
        if not cross:  # a rename is atomic: each file is in exactly one place
            assert found == wanted, where

        if filesort.latest_journal(dest) is None:  # killed before the journal existed
            assert tree(src) == original and contents(dest) == Counter(), where
            before_journal += 1
            continue
        undone = result_of(filesort.undo_sort(dest))
        assert tree(src) == original, where
        assert contents(dest) == Counter(), where
        assert not undone.kept and not undone.renamed, where
        assert not [p for p in src.rglob(".cnndesk-*")], where
    assert killed == POINTS
    assert before_journal <= POINTS // 2  # most points fall where files are on the move
    print(f"{what}: {killed} kills, {before_journal} before the journal existed, {totals}")
