"""The architecture's import rules, checked the way a user would feel them: start-up cost."""

from __future__ import annotations

import json
import subprocess
import sys


def _modules_after(code: str) -> set[str]:
    script = f"{code}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    return set(json.loads(out.stdout.splitlines()[-1]))


def test_core_imports_neither_qt_nor_torch() -> None:
    loaded = _modules_after("import cnndesk.library, cnndesk.jobs, cnndesk.cli, cnndesk.domain")
    heavy = {
        m
        for m in loaded
        if m.split(".")[0] in {"PySide6", "pyqtgraph", "torch", "timm", "torchvision"}
    }
    assert not heavy, f"core import pulled in {sorted(heavy)[:5]}"


def test_gui_modules_do_not_import_torch() -> None:
    loaded = _modules_after("import cnndesk.gui.app")
    assert not {m for m in loaded if m.split(".")[0] in {"torch", "timm"}}
