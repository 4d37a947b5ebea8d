"""The PyInstaller packaging (``packaging/``): a fast check of the spec, and a build check.

The fast tests run the spec with stand-ins for PyInstaller's build objects, so they see exactly
what the spec hands to ``Analysis``/``COLLECT``: the entry point, the excludes, the torchvision
libraries hooks-contrib misses, the data files, and which CUDA libraries the CPU-only variant
drops (none that a library it keeps links at load time: read from the ELF headers of the installed
torch wheel). The build test builds the app (or takes a built one) and runs ``--self-test`` in an
environment with no virtualenv and no checkout; it runs only with ``CNNDESK_BUILD_TESTS=1``.
"""

from __future__ import annotations

import ast
import configparser
import importlib.util
import json
import os
import re
import struct
import subprocess
import sys
import types
from pathlib import Path

import pytest

from tests.conftest import make_image

ROOT = Path(__file__).resolve().parents[1]
SPEC = ROOT / "packaging" / "cnndesk.spec"
BUILD_SH = ROOT / "packaging" / "build.sh"
DESKTOP = ROOT / "resources" / "cnndesk.desktop"


class _Recorder:
    """Stands in for one of PyInstaller's build classes; remembers its arguments."""

    calls: dict[str, list[_Recorder]]

    def __init__(self, kind: str, *args: object, **kwargs: object) -> None:
        self.kind, self.args, self.kwargs = kind, args, kwargs
        self.calls.setdefault(kind, []).append(self)


def run_spec(variant: str, binaries: list[tuple[str, str, str]] | None = None) -> dict:
    """Execute the spec as PyInstaller would, with recorders for Analysis, PYZ, EXE, COLLECT."""
    calls: dict[str, list[_Recorder]] = {}
    _Recorder.calls = calls

    def factory(kind: str):  # type: ignore[no-untyped-def]
        def make(*args: object, **kwargs: object) -> _Recorder:
            obj = _Recorder(kind, *args, **kwargs)
            if kind == "Analysis":
                obj.binaries = list(binaries or [])  # type: ignore[attr-defined]
                obj.datas, obj.pure, obj.scripts = [], [], []  # type: ignore[attr-defined]
            return obj

        return make

    hooks = types.ModuleType("PyInstaller.utils.hooks")
    hooks.collect_submodules = lambda name: [name]  # type: ignore[attr-defined]
    stubs = {
        "PyInstaller": types.ModuleType("PyInstaller"),
        "PyInstaller.utils": types.ModuleType("PyInstaller.utils"),
        "PyInstaller.utils.hooks": hooks,
    }
    namespace: dict = {"SPECPATH": str(SPEC.parent), "__file__": str(SPEC), "__name__": "__main__"}
    for kind in ("Analysis", "PYZ", "EXE", "COLLECT", "BUNDLE"):
        namespace[kind] = factory(kind)
    saved = {name: sys.modules.get(name) for name in stubs}
    saved_env = os.environ.get("CNNDESK_VARIANT")
    try:
        sys.modules.update(stubs)
        os.environ["CNNDESK_VARIANT"] = variant
        exec(compile(SPEC.read_text(encoding="utf-8"), str(SPEC), "exec"), namespace)
    finally:
        for name, module in saved.items():
            if module is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module
        if saved_env is None:
            os.environ.pop("CNNDESK_VARIANT", None)
        else:
            os.environ["CNNDESK_VARIANT"] = saved_env
    namespace["_calls"] = calls
    return namespace


def _torch_wheel_libraries() -> list[Path]:
    """The shared libraries of the installed torch, torchvision and nvidia wheels."""
    site = Path(importlib.util.find_spec("torch").origin).parents[1]  # type: ignore[arg-type, union-attr]
    found: list[Path] = []
    for folder in ("torch/lib", "torchvision", "torchvision.libs", "nvidia"):
        base = site / folder
        if base.is_dir():
            found += [p for p in base.rglob("*.so*") if p.is_file()]
    return found


def elf_needed(path: Path) -> list[str]:
    """DT_NEEDED entries of a 64-bit little-endian ELF file (what the loader links at load time)."""
    with path.open("rb") as f:
        head = f.read(64)
        if head[:4] != b"\x7fELF" or head[4] != 2 or head[5] != 1:
            return []
        (shoff,) = struct.unpack_from("<Q", head, 0x28)
        shentsize, shnum = struct.unpack_from("<HH", head, 0x3A)
        f.seek(shoff)
        table = f.read(shentsize * shnum)
        sections = [struct.unpack_from("<IIQQQQIIQQ", table, i * shentsize) for i in range(shnum)]
        for _name, kind, _flags, _addr, offset, size, link, *_ in sections:
            if kind != 6:  # SHT_DYNAMIC
                continue
            f.seek(offset)
            dynamic = f.read(size)
            strtab = sections[link]
            f.seek(strtab[4])
            strings = f.read(strtab[5])
            needed = []
            for i in range(0, len(dynamic) - 15, 16):
                tag, value = struct.unpack_from("<qQ", dynamic, i)
                if tag == 0:
                    break
                if tag == 1:  # DT_NEEDED
                    needed.append(strings[value : strings.index(b"\0", value)].decode())
            return needed
    return []


# ------------------------------------------------------------------------------------- fast


def test_spec_is_python_and_builds_one_folder_app_from_main_py() -> None:
    ast.parse(SPEC.read_text(encoding="utf-8"), filename=str(SPEC))
    spec = run_spec("cuda")
    (analysis,) = spec["_calls"]["Analysis"]
    scripts = analysis.args[0]
    assert [Path(s) for s in scripts] == [ROOT / "main.py"]
    (exe,) = spec["_calls"]["EXE"]
    assert exe.kwargs["name"] == "cnndesk"
    assert exe.kwargs["exclude_binaries"] is True, "one-folder: binaries go to COLLECT"
    (collect,) = spec["_calls"]["COLLECT"]
    assert collect.kwargs["name"] == "cnndesk"
    assert analysis.kwargs["runtime_hooks"] == []
    cpu = run_spec("cpu")["_calls"]
    assert cpu["COLLECT"][0].kwargs["name"] == "cnndesk-cpu"
    # The CPU-only build hides GPUs from torch (it lacks the libraries GPU work opens).
    (hook,) = cpu["Analysis"][0].kwargs["runtime_hooks"]
    assert 'os.environ["CUDA_VISIBLE_DEVICES"] = ""' in Path(hook).read_text(encoding="utf-8")


def test_spec_bundles_every_cnndesk_module() -> None:
    """Panes are imported by name: a module the analysis cannot see must still be bundled."""
    hidden = set(run_spec("cuda")["_calls"]["Analysis"][0].kwargs["hiddenimports"])
    package = ROOT / "cnndesk"
    modules = {
        ".".join(p.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        for p in package.rglob("*.py")
    }
    assert "cnndesk.gui.browser_pane" in modules
    assert modules <= hidden, sorted(modules - hidden)


def test_spec_excludes_triton_and_dev_tools_but_not_onnx() -> None:
    excludes = set(run_spec("cuda")["_calls"]["Analysis"][0].kwargs["excludes"])
    for name in ("triton", "pytest", "ruff", "importlinter", "tkinter", "PySide6.QtNetwork"):
        assert name in excludes
    assert "openvino_telemetry" in excludes  # the app sends nothing anywhere
    assert not {"PySide6.QtCore", "PySide6.QtGui", "PySide6.QtWidgets"} & excludes
    # The app offers ONNX export (onnx to write, onnxruntime to check the file) and predicts with
    # OpenVINO or ONNX Runtime.
    assert not {"onnx", "onnxruntime", "onnxscript", "openvino"} & excludes


def test_spec_adds_torchvision_stable_libraries_and_resources() -> None:
    if importlib.util.find_spec("torchvision") is None:
        pytest.skip("torchvision is not installed")
    kwargs = run_spec("cuda")["_calls"]["Analysis"][0].kwargs
    binaries = {Path(src).name.split(".")[0]: dest for src, dest in kwargs["binaries"]}
    torchvision = {name: dest for name, dest in binaries.items() if dest == "torchvision"}
    assert torchvision == {"_C_stable": "torchvision", "image_stable": "torchvision"}
    if importlib.util.find_spec("openvino") is not None:
        # OpenVINO's CPU plugin and ONNX frontend, found at run time; not its GPU/NPU plugins.
        openvino = {name.removeprefix("lib") for name, dest in binaries.items()
                    if dest == "openvino/libs"}  # fmt: skip
        assert {"openvino_intel_cpu_plugin", "openvino_onnx_frontend", "openvino"} <= openvino
        assert not {"openvino_intel_gpu_plugin", "openvino_intel_npu_plugin"} & openvino
    assert set(binaries.values()) <= {"torchvision", "openvino/libs"}
    assert all(Path(src).is_file() for src, _ in kwargs["binaries"])
    datas = {Path(src).name for src, _ in kwargs["datas"]}
    assert {"cnndesk.png", "cnndesk.svg", "cnndesk.desktop"} <= datas
    assert all(Path(src).is_file() for src, _ in kwargs["datas"])


def test_spec_source_names_what_it_must() -> None:
    """Plain-text guard for readers of the spec (the runs above check the behaviour)."""
    text = SPEC.read_text(encoding="utf-8")
    for needle in ("main.py", '"triton"', "_C_stable", "image_stable", "COLLECT("):
        assert needle in text
    assert "onefile" not in text.lower().replace("one-file", "")


def test_cpu_variant_drops_only_libraries_nothing_kept_links() -> None:
    if not sys.platform.startswith("linux"):
        pytest.skip("the CPU-only filter is for Linux's CUDA torch wheel")
    if importlib.util.find_spec("torch") is None:
        pytest.skip("torch is not installed")
    libraries = _torch_wheel_libraries()
    if not any("nvidia" in p.parts for p in libraries):
        pytest.skip("the installed torch is not the CUDA wheel; nothing for the filter to drop")
    binaries = [(p.name, str(p), "BINARY") for p in libraries]
    kept = {Path(dest).name for dest, _, _ in run_spec("cpu", binaries)["a"].binaries}
    dropped = {p.name for p in libraries} - kept
    # What the CPU build must drop to be worth having (about 1 GB), and what it must keep.
    assert any(name.startswith("libcudnn_engines_precompiled") for name in dropped)
    assert any(name.startswith("libcusolver.so") for name in dropped)
    for must_keep in ("libtorch_cuda.so", "libcudart.so", "libcudnn.so", "libcublas.so"):
        assert any(name.startswith(must_keep) for name in kept), must_keep
    # Nothing kept links (DT_NEEDED) a dropped library: the loader would fail at `import torch`.
    for path in libraries:
        if path.name in kept:
            broken = set(elf_needed(path)) & dropped
            assert not broken, f"{path.name} links {sorted(broken)}, which the CPU build drops"
    assert run_spec("cuda", binaries)["a"].binaries == binaries, "the CUDA build keeps everything"


def test_desktop_file_has_required_keys() -> None:
    parser = configparser.ConfigParser(interpolation=None, strict=True)
    parser.optionxform = str  # type: ignore[assignment, method-assign]  # keys are case-sensitive
    parser.read_string(DESKTOP.read_text(encoding="utf-8"))
    entry = parser["Desktop Entry"]
    for key in ("Type", "Name", "Exec", "Icon", "Categories", "Terminal"):
        assert entry.get(key), f"{key}= missing"
    assert entry["Type"] == "Application"
    assert entry["Exec"].split()[0] == "cnndesk"
    assert entry["Terminal"] in ("true", "false")
    assert entry["Categories"].endswith(";")
    assert (ROOT / "resources" / f"{entry['Icon']}.png").is_file()
    assert (ROOT / "resources" / f"{entry['Icon']}.svg").is_file()


def test_build_script_is_valid_bash_with_pinned_pyinstaller() -> None:
    text = BUILD_SH.read_text(encoding="utf-8")
    assert "pyinstaller==6.22.3" in text and "pyinstaller-hooks-contrib==2026.9" in text
    assert "-c constraints.txt" in text
    subprocess.run(["bash", "-n", str(BUILD_SH)], check=True)
    subprocess.run(["bash", "-n", str(ROOT / "packaging" / "install-linux.sh")], check=True)


# ------------------------------------------------------------------------------------ build

BUILD_TESTS = os.environ.get("CNNDESK_BUILD_TESTS") == "1"


@pytest.mark.build
@pytest.mark.timeout(3600)
@pytest.mark.skipif(
    not BUILD_TESTS,
    reason="builds the PyInstaller app (minutes, ~10 GB of disk): set CNNDESK_BUILD_TESTS=1; "
    "CNNDESK_BUILT_APP=dist/cnndesk checks an app already built",
)
def test_built_app_passes_self_test_in_a_clean_environment(tmp_path: Path) -> None:
    if not sys.platform.startswith("linux"):
        pytest.skip("the build test runs the Linux one-folder app")
    given = os.environ.get("CNNDESK_BUILT_APP")
    if given:
        app = Path(given).resolve()
    else:
        variant = os.environ.get("CNNDESK_BUILD_VARIANT", "cuda")
        args = ["bash", str(BUILD_SH), "--no-test"] + (["--cpu"] if variant == "cpu" else [])
        subprocess.run(args, cwd=ROOT, check=True, timeout=3000)
        app = ROOT / "dist" / ("cnndesk-cpu" if variant == "cpu" else "cnndesk")
    exe = app / "cnndesk"
    assert exe.is_file(), f"no built app at {app}"
    internal = app / "_internal"
    assert (internal / "torchvision" / "_C_stable.so").is_file()
    assert (internal / "torchvision" / "image_stable.so").is_file()
    assert (internal / "resources" / "cnndesk.desktop").is_file()
    assert not (internal / "triton").exists()
    assert not (internal / "pytest").exists() and not (internal / "_pytest").exists()

    # As a user starts it: no virtualenv, no checkout, no PYTHONPATH, from another folder.
    home = tmp_path / "home"
    home.mkdir()
    env = {"HOME": str(home), "PATH": "/usr/bin:/bin", "QT_QPA_PLATFORM": "offscreen"}
    version = subprocess.run(
        [str(exe), "--version"], cwd=home, env=env, capture_output=True, text=True, timeout=120
    )
    assert version.returncode == 0 and version.stdout.startswith("cnndesk "), version
    result = subprocess.run(
        [str(exe), "--self-test"], cwd=home, env=env, capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, f"self-test failed:\n{result.stdout}\n{result.stderr}"
    assert result.stdout.strip().splitlines()[-1] == "ok", result.stdout

    # Every pane opens in the bundle (a pane whose module was left out shows a placeholder and
    # logs "cannot be created"; the self-test only sees the panes of the start-up layout).
    panes = re.findall(r'PaneSpec\(\s*"(\w+)"', (ROOT / "cnndesk/gui/main_window.py").read_text())
    assert panes
    for pane in panes:
        shot = tmp_path / f"{pane}.png"
        args = ["--library", str(tmp_path / "lib.cnndesk"), "--screenshot", str(shot)]
        run = subprocess.run(
            [str(exe), *args, "--pane", pane],
            cwd=home,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        output = run.stdout + run.stderr
        assert run.returncode == 0 and shot.is_file(), f"{pane}: {output}"
        assert "cannot be created" not in output, f"{pane}: {output}"

    # The CLI's whole path in the bundle: import, train a small network (backward pass, optimizer,
    # safetensors), predict with the saved model.
    for klass, colour in (("red", (220, 30, 30)), ("blue", (30, 30, 220))):
        for i in range(8):
            make_image(tmp_path / "images" / klass / f"{i}.png", colour=colour)
    library = ["--library", str(tmp_path / "e2e.cnndesk")]

    def cli(*args: str) -> str:
        run = subprocess.run(
            [str(exe), *library, *args],
            cwd=home,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert run.returncode == 0, f"cnndesk {' '.join(args)}:\n{run.stdout}\n{run.stderr}"
        return run.stdout

    cli("import", "--classes-from-folders", str(tmp_path / "images"))
    out = tmp_path / "model"
    cli("train", "--backbone", "simple-cnn", "--epochs", "2", "--quiet", "--out", str(out))
    assert (out / "model.json").is_file()
    predicted = json.loads(cli("predict", "--json", str(out), str(tmp_path / "images/red/0.png")))
    assert predicted, predicted

    # The runtimes' telemetry stayed off: no device ids or queued events in the user's home.
    assert not (home / "intel").exists() and not (home / ".cache" / "Microsoft").exists()
    # On a CPU, prediction runs in OpenVINO: the model was exported into the cache (it falls
    # back to PyTorch quietly, so look for the export, and for no record of a failed one).
    on_cpu = app.name.endswith("-cpu") or not Path("/dev/nvidiactl").exists()
    if on_cpu:
        assert list(home.rglob("*.onnx")), "predict did not export the model for ONNX Runtime"
        assert not list(home.rglob("*.failed")), [p.read_text() for p in home.rglob("*.failed")]
        assert list(home.rglob("*.openvino.ok")), "OpenVINO did not run the export in the bundle"
    # Export to ONNX, checked by onnxruntime inside the bundle.
    onnx_file = tmp_path / "model.onnx"
    cli("export", str(out), "--format", "onnx", "--out", str(onnx_file))
    assert onnx_file.is_file()
