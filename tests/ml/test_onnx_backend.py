"""OpenVINO and ONNX Runtime behind the predictor: the same probabilities as PyTorch, exported once
per model and cached, and the next engine (at last PyTorch) whenever one cannot be used (never an
error for the user)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from cnndesk import paths
from cnndesk.cli import main
from cnndesk.domain import ModelError
from cnndesk.jobs import drive
from cnndesk.ml import onnx_backend
from cnndesk.ml.device import CPU_BF16_ENV, cpu_has_native_bf16, prediction_threads
from cnndesk.ml.predict import Predictor
from tests.conftest import make_image
from tests.model_folders import make_model_folder

CLASSES = ("ants", "bees", "wasps")
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_model_folder(tmp_path_factory.mktemp("model") / "m", classes=CLASSES, seed=3)


@pytest.fixture
def images(tmp_path: Path) -> list[Path]:
    sizes = [(64, 48), (300, 200), (40, 90), (640, 480), (64, 64), (90, 70)]
    out = [
        make_image(tmp_path / f"img{i}.jpg", size=s, colour=(40 * i, 200 - 30 * i, 90))
        for i, s in enumerate(sizes)
    ]
    out.append(make_image(tmp_path / "pic.png", size=(80, 60), colour=(10, 220, 10)))
    return out


def scores(prediction) -> dict[str, float]:
    return {s.name: s.p for s in prediction.top}


def classify(predictor: Predictor, files) -> list:
    job = predictor.classify(files, batch_size=3)
    return list(drive(job, lambda _event: None).predictions)


def assert_same(a, b, tol: float = 1e-4) -> None:
    assert [p.file for p in a] == [p.file for p in b]
    for x, y in zip(a, b):
        sx, sy = scores(x), scores(y)
        assert sx.keys() == sy.keys() == set(CLASSES)
        assert max(abs(sx[k] - sy[k]) for k in sx) <= tol


def test_openvino_is_the_cpu_default_and_agrees_with_torch(model_dir: Path, images) -> None:
    fast = Predictor(model_dir, device="cpu")
    pt = Predictor(model_dir, device="cpu", backend="torch")
    assert fast.backend == "openvino" and pt.backend == "torch"
    assert fast._runner.max_abs_diff <= onnx_backend.CHECK_TOLERANCE
    assert_same(classify(fast, images), classify(pt, images))


@pytest.mark.parametrize("engine", onnx_backend.ENGINES)
def test_each_engine_agrees_with_torch(model_dir: Path, images, engine: str) -> None:
    fast = Predictor(model_dir, device="cpu", backend=engine)
    pt = Predictor(model_dir, device="cpu", backend="torch")
    assert fast.backend == engine
    assert_same(classify(fast, images), classify(pt, images))
    one_fast, one_pt = fast.predict(images[1]), pt.predict(images[1])
    assert type(one_fast) is type(one_pt) and len(one_fast.top) == len(one_pt.top) == 3
    assert_same([one_fast], [one_pt])
    batch = torch.stack([fast.load(p) for p in images])
    got, expected = fast.probabilities(batch), pt.probabilities(batch)
    assert got.shape == expected.shape and got.dtype == expected.dtype == torch.float32
    assert float((got - expected).abs().max()) <= 1e-4


def test_the_export_is_cached_and_reused(model_dir: Path, images, monkeypatch) -> None:
    first = Predictor(model_dir, device="cpu")
    assert first.backend == "openvino" and first._runner.exported
    cached = onnx_backend.cache_file(model_dir)
    assert cached.parent == paths.cache_dir() / "onnx" and cached.is_file()
    # No temporary file left; the engine's check is noted beside the file.
    assert sorted(p.name for p in cached.parent.iterdir()) == sorted(
        [cached.name, f"{cached.stem}.openvino.ok"]
    )

    def no_export(*args, **kwargs):
        raise AssertionError("exported again")

    monkeypatch.setattr(onnx_backend, "_export_onnx", no_export)
    second = Predictor(model_dir, device="cpu")
    assert second.backend == "openvino" and not second._runner.exported
    assert second._runner.max_abs_diff is None  # checked before: not checked again
    assert_same(classify(second, images), classify(first, images), tol=0)
    # Another engine on the cached file is checked once, then noted.
    ort = Predictor(model_dir, device="cpu", backend="onnxruntime")
    assert ort.backend == "onnxruntime" and ort._runner.max_abs_diff <= 1e-4
    assert (cached.parent / f"{cached.stem}.onnxruntime.ok").is_file()
    assert_same(classify(ort, images), classify(first, images))


def test_a_broken_engine_falls_back_to_the_next(
    model_dir: Path, images, monkeypatch, caplog
) -> None:
    import onnxruntime
    import openvino

    def broken(*args, **kwargs):
        raise RuntimeError("no model for you")

    monkeypatch.setattr(openvino.Core, "compile_model", broken)
    predictor = Predictor(model_dir, device="cpu")
    assert predictor.backend == "onnxruntime"
    assert "no model for you" in caplog.text
    monkeypatch.setattr(onnxruntime, "InferenceSession", broken)
    predictor = Predictor(model_dir, device="cpu")
    assert predictor.backend == "torch"
    pt = Predictor(model_dir, device="cpu", backend="torch")
    assert_same(classify(predictor, images), classify(pt, images), tol=0)


def test_an_engine_failing_mid_way_falls_back_to_torch(model_dir: Path, images) -> None:
    predictor = Predictor(model_dir, device="cpu")
    assert predictor.backend == "openvino"

    class Broken:
        parallel = 2  # as OpenVINO on two cores: batches run on two threads at once

        def __call__(self, batch):
            raise RuntimeError("engine died")

    predictor._runner = Broken()
    got = classify(predictor, images)
    assert predictor.backend == "torch" and all(p.error is None for p in got)
    assert_same(got, classify(Predictor(model_dir, device="cpu", backend="torch"), images))


def test_without_the_engines_the_predictor_uses_torch(model_dir: Path, images, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "openvino", None)  # import openvino raises ImportError
    assert Predictor(model_dir, device="cpu").backend == "onnxruntime"
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    predictor = Predictor(model_dir, device="cpu")
    forced = Predictor(model_dir, device="cpu", backend="onnxruntime")
    assert predictor.backend == forced.backend == "torch"
    assert len(predictor.predict(images[0]).top) == 3


def test_nothing_is_exported_when_no_engine_imports(model_dir: Path, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "openvino", None)
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    assert Predictor(model_dir, device="cpu").backend == "torch"
    assert not (paths.cache_dir() / "onnx").exists()


def test_a_failed_check_falls_back_and_is_remembered(model_dir: Path, monkeypatch) -> None:
    monkeypatch.setattr(onnx_backend, "CHECK_TOLERANCE", -1.0)
    assert Predictor(model_dir, device="cpu").backend == "torch"
    cached = onnx_backend.cache_file(model_dir)
    assert not cached.exists()
    for engine in onnx_backend.ENGINES:
        note = cached.parent / f"{cached.stem}.{engine}.failed"
        assert "differs from PyTorch" in note.read_text()
    monkeypatch.setattr(onnx_backend, "_export_onnx", pytest.fail)  # not exported again
    assert Predictor(model_dir, device="cpu").backend == "torch"


def _check_bf16_prediction(model_dir: Path, images, capsys, *, native: bool) -> None:
    predictor = Predictor(model_dir, device="cpu", precision="bf16")
    assert predictor.precision == "bf16"
    cached = onnx_backend.cache_file(model_dir)
    if native:
        assert predictor.backend == "openvino" and predictor._runner.precision == "bf16"
        assert predictor._runner.max_abs_diff <= onnx_backend.BF16_CHECK_TOLERANCE
        # Noted apart from fp32: the fp32 runner is still checked to 1e-4 on its own.
        assert (cached.parent / f"{cached.stem}.openvino-bf16.ok").is_file()
    else:  # OpenVINO would only emulate bf16 here: PyTorch's autocast runs it
        assert predictor.backend == "torch"
        assert not (cached.parent / f"{cached.stem}.openvino-bf16.ok").exists()
    exact = Predictor(model_dir, device="cpu")
    assert exact.backend == "openvino" and exact._runner.precision == "fp32"
    assert (cached.parent / f"{cached.stem}.openvino.ok").is_file()
    assert_same(classify(predictor, images), classify(exact, images), tol=0.05)
    # ONNX Runtime has no bf16 on a CPU: asking for both gets PyTorch.
    forced = Predictor(model_dir, device="cpu", precision="bf16", backend="onnxruntime")
    assert forced.backend == "torch"
    assert len(predictor.predict(images[0]).top) == 3
    capsys.readouterr()  # only the command's own output is parsed below
    assert main(["predict", str(model_dir), str(images[0]), "--precision", "bf16", "--json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert row["file"] == str(images[0])


@pytest.mark.skipif(
    not onnx_backend.openvino_has_bf16(),
    reason="this CPU has no native bf16 (AVX512-BF16/AMX) or CNNDESK_CPU_BF16=0: the OpenVINO bf16"
    " path cannot run here; test_bf16_falls_back_to_pytorch_without_native_bf16 covers this CPU",
)
def test_bf16_runs_in_openvino_where_the_cpu_has_it(model_dir: Path, images, capsys) -> None:
    _check_bf16_prediction(model_dir, images, capsys, native=True)


def test_bf16_falls_back_to_pytorch_without_native_bf16(
    model_dir: Path, images, capsys, monkeypatch
) -> None:
    # Forced off, so this branch runs on every CPU, with or without bf16 instructions.
    monkeypatch.setenv(CPU_BF16_ENV, "0")
    assert not onnx_backend.openvino_has_bf16() and not cpu_has_native_bf16()
    _check_bf16_prediction(model_dir, images, capsys, native=False)


def test_unknown_backend_is_refused(model_dir: Path) -> None:
    with pytest.raises(ModelError, match="backend"):
        Predictor(model_dir, device="cpu", backend="tensorrt")


def test_prediction_uses_every_core_unless_told(model_dir: Path) -> None:
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        predictor = Predictor(model_dir, device="cpu")
        assert predictor.threads == prediction_threads() == torch.get_num_threads()
        one = Predictor(model_dir, device="cpu", threads=1)
        assert one.threads == torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)


def test_training_gives_the_thread_count_back(toy_set) -> None:
    from cnndesk.domain import TrainConfig, TrainMode
    from cnndesk.ml.train import train

    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        job = train(
            toy_set,
            TrainConfig(
                backbone="test_efficientnet",
                pretrained=False,
                image_size=64,
                mode=TrainMode.QUICK,
                epochs=1,
                threads=1,
            ),
        )
        next(job)
        assert torch.get_num_threads() == 1  # training runs on the threads it was given
        job.close()  # stopped early, or finished: the count comes back either way
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


def test_the_runtimes_send_no_telemetry_and_write_nothing_in_home(
    model_dir: Path, tmp_path
) -> None:
    """Plain imports of onnxruntime and openvino write a device id and queued events (OS, CPU,
    memory) under ~/.cache/Microsoft and ~/intel and send them to Microsoft and Google Analytics;
    predicting and exporting with them through cnndesk does none of that."""
    home = tmp_path / "home"
    home.mkdir()
    code = (
        "from cnndesk.cli import main\n"
        "from cnndesk.ml.predict import Predictor\n"
        f"m = {str(model_dir)!r}\n"
        "for backend in ('openvino', 'onnxruntime'):\n"
        "    assert Predictor(m, device='cpu', backend=backend).backend == backend\n"
        f"assert main(['export', m, '--format', 'onnx', '--out', {str(tmp_path / 'm.onnx')!r}]) == 0\n"
    )
    env = {**os.environ, "HOME": str(home), "CNNDESK_HOME": str(tmp_path / "cnndesk")}
    for name in ("CI", "ORT_DISABLE_TELEMETRY"):  # as a user runs it: no CI=true, nothing set
        env.pop(name, None)
    subprocess.run([sys.executable, "-c", code], env=env, check=True, cwd=ROOT, timeout=300)
    assert sorted(p.relative_to(home).as_posix() for p in home.rglob("*")) == []
