"""Running a model folder's network from its ONNX export on the CPU: the same answers, faster.

PyTorch eager runs a small CNN such as ``tf_efficientnet_lite0`` op by op; a graph runtime
optimises the whole graph (fused convolution + activation, blocked-layout convolutions) first.
Two runtimes ("engines") can run the export:

- ``openvino`` (OpenVINO, fp32 forced: ``INFERENCE_PRECISION_HINT=f32``): for lite0 at batch 8 on
  this machine's 2 cores (AVX-512) 5.0 ms per image;
- ``onnxruntime`` (ONNX Runtime): 6.5 ms per image;

against PyTorch's 11.2 (BN folded, channels-last), measured on a quiet machine
(``bench/predict.py`` prints these rows). :class:`~cnndesk.ml.predict.Predictor` tries them in
that order for fp32 inference on a CPU.

On first use for a model folder the network (batch norms already folded, softmax appended) is
exported to ONNX with the code :mod:`cnndesk.ml.export` uses (opset 17, dynamic batch, the
TorchScript-based exporter) into ``cache_dir()/onnx/<sha256 of weights.safetensors and
model.json>.onnx``. The file is written under a temporary name, checked against PyTorch on
generated images (largest probability difference at most :data:`CHECK_TOLERANCE`) and only then
renamed into place, so a cached file is always one that passed. Each engine's own result on the
file is checked the same way the first time that engine opens it, and the outcome is noted beside
the file (``<name>.<engine>.ok`` or ``<name>.<engine>.failed``): a failed engine is not tried
again for that model, and a checked one opens without the check.

Every failure here raises; the predictor catches it, logs why and tries the next engine, then
PyTorch.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from cnndesk import paths
from cnndesk.ml.export import ONNX_OPSET, _check_batch, _export_onnx, _WithSoftmax

log = logging.getLogger(__name__)

CHECK_TOLERANCE = 1e-4
"""Largest probability difference from PyTorch that a cached ONNX file may have."""


ENGINES = ("openvino", "onnxruntime")
"""The runtimes that can run a model's ONNX export, fastest first (on the CPUs measured)."""


class OnnxUnavailable(RuntimeError):
    """An engine cannot run this model here (the message says why)."""


def engine_available(engine: str) -> bool:
    """Whether ``engine``'s package imports (a broken install must not hurt: PyTorch still works)."""
    try:
        if engine == "openvino":
            import openvino  # noqa: F401
        elif engine == "onnxruntime":
            import onnxruntime  # noqa: F401
        else:
            return False
    except Exception:  # ImportError, or a native library that fails to load
        return False
    return True


def cache_file(model_dir: str | os.PathLike[str]) -> Path:
    """Where the ONNX export of ``model_dir`` is cached: named by its weights and model.json."""
    folder = Path(model_dir)
    digest = hashlib.sha256()
    for name in ("weights.safetensors", "model.json"):
        with open(folder / name, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                digest.update(chunk)
    return paths.cache_dir() / "onnx" / f"{digest.hexdigest()}.onnx"


class OnnxRunner:
    """One engine running one model's ONNX export: a float32 batch in, probabilities out."""

    def __init__(
        self,
        run: Callable[[np.ndarray], np.ndarray],
        file: Path,
        *,
        engine: str,
        exported: bool,
        max_abs_diff: float | None,
    ) -> None:
        self._run = run
        self.file = file
        self.engine = engine
        """``"openvino"`` or ``"onnxruntime"``."""
        self.exported = exported
        """True when this runner exported the file (False: it came from the cache)."""
        self.max_abs_diff = max_abs_diff
        """The check's largest probability difference (``None`` when it was checked before)."""

    def __call__(self, batch: torch.Tensor) -> torch.Tensor:
        """Probabilities ``[N, classes]`` (float32, CPU) for a ``[N, 3, H, W]`` batch."""
        x = batch.detach().to("cpu", torch.float32).contiguous().numpy()
        return torch.from_numpy(np.array(self._run(x), dtype=np.float32, copy=True))


def _openvino(file: Path, threads: int) -> Callable[[np.ndarray], np.ndarray]:
    import openvino as ov

    core = ov.Core()
    compiled = core.compile_model(
        core.read_model(str(file)),
        "CPU",
        {
            # fp32 whatever the CPU: OpenVINO would otherwise pick bf16 on CPUs that have it,
            # which moves probabilities by about 0.01 (bf16 is the predictor's opt-in).
            "INFERENCE_PRECISION_HINT": "f32",
            "PERFORMANCE_HINT": "LATENCY",
            "INFERENCE_NUM_THREADS": max(1, threads),
            # Unpinned: the decoding threads share these cores, and a pinned inference thread
            # waits behind them (measured: 61 → 94 images/s end to end on 2 cores).
            "ENABLE_CPU_PINNING": False,
        },
    )
    request = compiled.create_infer_request()
    lock = threading.Lock()  # one request: callers from several threads take turns

    def run(x: np.ndarray) -> np.ndarray:
        with lock:
            return request.infer({0: x})[0]

    return run


def _onnxruntime(file: Path, threads: int) -> Callable[[np.ndarray], np.ndarray]:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = max(1, threads)
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3  # errors only: ORT's warnings are not for our users
    # Idle ORT threads sleep instead of spinning: the decoding threads (and torch, in the same
    # process) need those cores between batches.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    session = ort.InferenceSession(
        str(file), sess_options=options, providers=["CPUExecutionProvider"]
    )
    name, output = session.get_inputs()[0].name, session.get_outputs()[0].name
    return lambda x: session.run([output], {name: x})[0]


_OPENERS: dict[str, Callable[[Path, int], Callable[[np.ndarray], np.ndarray]]] = {
    "openvino": _openvino,
    "onnxruntime": _onnxruntime,
}


def _note(file: Path, engine: str, outcome: str) -> Path:
    """Where the outcome (``ok`` or ``failed``) of checking ``engine`` on ``file`` is noted."""
    return file.with_name(f"{file.stem}.{engine}.{outcome}")


def _compare(runner: OnnxRunner, model: torch.nn.Module, batch: torch.Tensor) -> float:
    with torch.inference_mode():
        expected = torch.softmax(model(batch).float(), dim=1)
    got = runner(batch)
    if got.shape != expected.shape:
        raise OnnxUnavailable(
            f"the ONNX model outputs {tuple(got.shape)}, not {tuple(expected.shape)}"
        )
    return float((got - expected).abs().max())


def _checked(
    runner: OnnxRunner, model: torch.nn.Module, data_config: dict[str, Any], file: Path
) -> tuple[float, str]:
    """Compare ``runner`` with PyTorch and note the outcome beside ``file``.

    Raises :class:`OnnxUnavailable` (after writing the ``.failed`` note) beyond the tolerance.
    """
    batch, checked = _check_batch(data_config, [])
    diff = _compare(runner, model, batch)
    if not diff <= CHECK_TOLERANCE:  # also catches NaN
        reason = (
            f"{runner.engine} differs from PyTorch by up to {diff:.2e} in probability on "
            f"{checked} (allowed: {CHECK_TOLERANCE:g})"
        )
        _note(file, runner.engine, "failed").write_text(f"{reason}\n", encoding="utf-8")
        raise OnnxUnavailable(reason)
    _note(file, runner.engine, "ok").write_text(f"{diff:.3e}\n", encoding="utf-8")
    return diff, checked


def open_runner(
    model_dir: str | os.PathLike[str],
    model: torch.nn.Module,
    data_config: dict[str, Any],
    *,
    threads: int,
    engine: str = "onnxruntime",
) -> OnnxRunner:
    """A runner for ``model`` (the loaded, eval-mode network of ``model_dir``) on ``engine``.

    Uses the cached export when there is one; otherwise exports, checks and caches it. An engine
    is checked against PyTorch the first time it runs a file. Raises (:class:`OnnxUnavailable`,
    ``ImportError``, or whatever the exporter or the engine raise) when ``engine`` cannot be
    used; the caller moves on to the next engine, then PyTorch.
    """
    if engine not in _OPENERS:
        raise OnnxUnavailable(f"unknown engine {engine!r}: use {', '.join(ENGINES)}")
    if not engine_available(engine):  # fail before exporting anything
        raise OnnxUnavailable(f"{engine} cannot be imported")
    opener = _OPENERS[engine]
    file = cache_file(model_dir)
    for failed in (file.with_suffix(".failed"), _note(file, engine, "failed")):
        if failed.exists():
            raise OnnxUnavailable(failed.read_text(encoding="utf-8").strip())
    if file.exists():
        runner = OnnxRunner(
            opener(file, threads), file, engine=engine, exported=False, max_abs_diff=None
        )
        if not _note(file, engine, "ok").exists():
            runner.max_abs_diff, _ = _checked(runner, model, data_config, file)
        log.debug("%s runs %s from the cache (%s)", engine, model_dir, file.name)
        return runner

    file.parent.mkdir(parents=True, exist_ok=True)
    tmp = file.with_name(f".{file.stem}.{os.getpid()}.{threading.get_ident()}.tmp.onnx")
    try:
        batch, _ = _check_batch(data_config, [])
        with torch.no_grad():
            _export_onnx(_WithSoftmax(model).eval(), batch[:1], tmp)
        runner = OnnxRunner(opener(tmp, threads), file, engine=engine, exported=True,
                            max_abs_diff=None)  # fmt: skip
        diff, checked = _checked(runner, model, data_config, file)
        runner.max_abs_diff = diff
        os.replace(tmp, file)
    finally:
        tmp.unlink(missing_ok=True)
    log.info(
        "Exported %s to ONNX (opset %d) for %s: %s; max probability difference from PyTorch "
        "%.1e on %s",
        model_dir,
        ONNX_OPSET,
        engine,
        file,
        diff,
        checked,
    )
    return runner
