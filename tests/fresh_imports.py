"""Which modules a piece of code loads, measured in a fresh interpreter (nothing imported yet)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Sequence


def loaded_by(code: str, watched: Sequence[str], *args: str) -> list[str]:
    """Run ``code`` (a script; ``sys.argv[1:]`` is ``args``) in a new Python and return those of
    ``watched`` (module names) that are in ``sys.modules`` afterwards, in ``watched``'s order."""
    probe = (
        "\nimport json as _j, sys as _s\n"
        f"print(_j.dumps([m for m in {list(watched)!r} if m in _s.modules]))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code + probe, *args], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])
