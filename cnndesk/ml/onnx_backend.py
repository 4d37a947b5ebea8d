"""Running a model folder's network from its ONNX export on the CPU: the same answers, faster.

PyTorch eager runs a small CNN such as ``tf_efficientnet_lite0`` op by op; a graph runtime
optimises the whole graph (fused convolution + activation, blocked-layout convolutions) first.
Two runtimes ("engines") can run the export:

- ``openvino`` (OpenVINO, fp32 forced: ``INFERENCE_PRECISION_HINT=f32``): for lite0 on one core of
  this machine (AVX-512) about 9.3 ms per image;
- ``onnxruntime`` (ONNX Runtime): about 13 ms per image;

against PyTorch's 20 (BN folded, channels-last, one core) (``bench/predict.py`` prints the rows for
two cores). :class:`~cnndesk.ml.predict.Predictor` tries them in that order for fp32 inference on a
CPU.

A runner serves :attr:`OnnxRunner.parallel` callers at once, each on one thread of its own (an
OpenVINO stream, or an ONNX Runtime run with one intra-op thread), rather than one caller on every
core: the predictor gives each core a whole batch (decode, crop, run), so no core ever waits at a
barrier for another that a decoding thread has taken (measured on 2 cores: 14 instead of 19 CPU-ms
per image, 100 → 134 images/s end to end).

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

Both engines load with their telemetry off (:mod:`cnndesk._privacy`, run when ``cnndesk`` is
imported): cnndesk sends nothing anywhere and writes nothing outside its own folders.
"""

from __future__ import annotations

import hashlib
import logging
import os
import queue
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from cnndesk import paths
from cnndesk.defaults import PRECISIONS as ALL_PRECISIONS
from cnndesk.ml.device import cpu_bf16_forced_off
from cnndesk.ml.export import ONNX_OPSET, _check_batch, _export_onnx, _WithSoftmax

log = logging.getLogger(__name__)

CHECK_TOLERANCE = 1e-4
"""Largest probability difference from PyTorch that a cached ONNX file (fp32) may have."""

BF16_CHECK_TOLERANCE = 0.1
"""The same for OpenVINO in bf16, which rounds every activation to 8 bits of mantissa: on a trained
lite0, 0.026 at most on 153 photos (PyTorch's bf16 autocast: the same), so this catches a broken
engine, not rounding."""

PRECISIONS = tuple(p for p in ALL_PRECISIONS if p != "fp16")
"""What a runner computes in (fp32, bf16; not fp16): ``bf16`` only in OpenVINO, on a CPU with bf16
instructions."""


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


Opened = tuple[Callable[[np.ndarray], np.ndarray], int]
"""What an engine's opener returns: the thread-safe run function (returning an array of its own,
never one the engine reuses) and how many may run at once."""


class OnnxRunner:
    """One engine running one model's ONNX export: a float32 batch in, probabilities out.

    Thread-safe: up to :attr:`parallel` threads run batches at the same time, each on one core;
    more callers wait their turn.
    """

    def __init__(
        self,
        opened: Opened,
        file: Path,
        *,
        engine: str,
        exported: bool,
        max_abs_diff: float | None,
        precision: str = "fp32",
    ) -> None:
        self._run, self.parallel = opened
        """How many batches can run at once (one thread each): one per core asked for."""
        self.file = file
        self.engine = engine
        """``"openvino"`` or ``"onnxruntime"``."""
        self.precision = precision
        """``"fp32"`` or ``"bf16"``."""
        self.exported = exported
        """True when this runner exported the file (False: it came from the cache)."""
        self.max_abs_diff = max_abs_diff
        """The check's largest probability difference (``None`` when it was checked before)."""

    def __call__(self, batch: torch.Tensor) -> torch.Tensor:
        """Probabilities ``[N, classes]`` (float32, CPU) for a ``[N, 3, H, W]`` batch."""
        x = batch.detach().to("cpu", torch.float32).contiguous().numpy()
        return torch.from_numpy(np.asarray(self._run(x), dtype=np.float32))  # a fresh array


def openvino_has_bf16() -> bool:
    """Whether OpenVINO runs bf16 natively on this CPU (AVX512-BF16 or AMX; elsewhere it would only
    emulate it, slower than fp32), unless ``CNNDESK_CPU_BF16=0`` turns detection off."""
    if cpu_bf16_forced_off() or not engine_available("openvino"):
        return False
    import openvino as ov

    return "BF16" in ov.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")


def _openvino(file: Path, threads: int, precision: str) -> Opened:
    import openvino as ov

    streams = max(1, threads)
    core = ov.Core()
    if precision == "bf16" and not openvino_has_bf16():
        raise OnnxUnavailable("this CPU has no bf16 instructions (AVX512-BF16 or AMX)")
    compiled = core.compile_model(
        core.read_model(str(file)),
        "CPU",
        {
            # fp32 unless bf16 was asked for: OpenVINO would otherwise pick bf16 on CPUs that
            # have it, which moves probabilities by about 0.01 (bf16 is the predictor's opt-in).
            "INFERENCE_PRECISION_HINT": "bf16" if precision == "bf16" else "f32",
            # One stream per core, one thread per stream: each caller's batch runs on one core.
            "PERFORMANCE_HINT": "THROUGHPUT",
            "NUM_STREAMS": streams,
            "INFERENCE_NUM_THREADS": streams,
        },
    )
    requests: queue.SimpleQueue[Any] = queue.SimpleQueue()
    for _ in range(streams):
        requests.put(compiled.create_infer_request())

    def run(x: np.ndarray) -> np.ndarray:
        request = requests.get()  # waits while every stream is busy
        try:
            # Copied before the request goes back: its output buffer is reused by the next run.
            return np.array(request.infer({0: x})[0], dtype=np.float32, copy=True)
        finally:
            requests.put(request)

    return run, streams


def _onnxruntime(file: Path, threads: int, precision: str) -> Opened:
    import onnxruntime as ort

    if precision != "fp32":
        raise OnnxUnavailable(f"ONNX Runtime runs fp32 only on a CPU, not {precision}")

    options = ort.SessionOptions()
    # One thread per run, run by as many callers as there are cores (runs are thread-safe).
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3  # errors only: ORT's warnings are not for our users
    session = ort.InferenceSession(
        str(file), sess_options=options, providers=["CPUExecutionProvider"]
    )
    name, output = session.get_inputs()[0].name, session.get_outputs()[0].name
    return (lambda x: session.run([output], {name: x})[0]), max(1, threads)


_OPENERS: dict[str, Callable[[Path, int, str], Opened]] = {
    "openvino": _openvino,
    "onnxruntime": _onnxruntime,
}


def _note(file: Path, engine: str, outcome: str, precision: str = "fp32") -> Path:
    """Where the outcome (``ok`` or ``failed``) of checking ``engine`` on ``file`` is noted.

    ``<stem>.openvino.ok`` for fp32, ``<stem>.openvino-bf16.ok`` for bf16.
    """
    key = engine if precision == "fp32" else f"{engine}-{precision}"
    return file.with_name(f"{file.stem}.{key}.{outcome}")


def _compare(
    runner: OnnxRunner, model: torch.nn.Module, batch: torch.Tensor, temperature: float = 1.0
) -> float:
    with torch.inference_mode():
        expected = torch.softmax(model(batch).float() / temperature, dim=1)
    got = runner(batch)
    if got.shape != expected.shape:
        raise OnnxUnavailable(
            f"the ONNX model outputs {tuple(got.shape)}, not {tuple(expected.shape)}"
        )
    return float((got - expected).abs().max())


def _checked(
    runner: OnnxRunner,
    model: torch.nn.Module,
    data_config: dict[str, Any],
    file: Path,
    temperature: float = 1.0,
) -> tuple[float, str]:
    """Compare ``runner`` with PyTorch and note the outcome beside ``file``.

    Raises :class:`OnnxUnavailable` (after writing the ``.failed`` note) beyond the tolerance.
    """
    batch, checked = _check_batch(data_config, [])
    diff = _compare(runner, model, batch, temperature)
    tolerance = BF16_CHECK_TOLERANCE if runner.precision == "bf16" else CHECK_TOLERANCE
    if not diff <= tolerance:  # also catches NaN
        reason = (
            f"{runner.engine} ({runner.precision}) differs from PyTorch (fp32) by up to "
            f"{diff:.2e} in probability on {checked} (allowed: {tolerance:g})"
        )
        _note(file, runner.engine, "failed", runner.precision).write_text(
            f"{reason}\n", encoding="utf-8"
        )
        raise OnnxUnavailable(reason)
    _note(file, runner.engine, "ok", runner.precision).write_text(f"{diff:.3e}\n", encoding="utf-8")
    return diff, checked


def open_runner(
    model_dir: str | os.PathLike[str],
    model: torch.nn.Module,
    data_config: dict[str, Any],
    *,
    threads: int,
    engine: str = "onnxruntime",
    precision: str = "fp32",
    temperature: float = 1.0,
) -> OnnxRunner:
    """A runner for ``model`` (the loaded, eval-mode network of ``model_dir``) on ``engine``.

    ``precision`` ``"bf16"`` (OpenVINO only, on a CPU with bf16 instructions) is checked against
    PyTorch's fp32 within :data:`BF16_CHECK_TOLERANCE`, and noted apart from fp32. The export
    divides the logits by the model's ``temperature`` before its softmax (the file's name is
    keyed by ``model.json``, which holds it).

    Uses the cached export when there is one; otherwise exports, checks and caches it. An engine
    is checked against PyTorch the first time it runs a file. Raises (:class:`OnnxUnavailable`,
    ``ImportError``, or whatever the exporter or the engine raise) when ``engine`` cannot be
    used; the caller moves on to the next engine, then PyTorch.
    """
    if engine not in _OPENERS:
        raise OnnxUnavailable(f"unknown engine {engine!r}: use {', '.join(ENGINES)}")
    if precision not in PRECISIONS:
        raise OnnxUnavailable(f"unknown precision {precision!r}: use {', '.join(PRECISIONS)}")
    if not engine_available(engine):  # fail before exporting anything
        raise OnnxUnavailable(f"{engine} cannot be imported")

    def opener(path: Path) -> Opened:
        return _OPENERS[engine](path, threads, precision)

    file = cache_file(model_dir)
    for failed in (file.with_suffix(".failed"), _note(file, engine, "failed", precision)):
        if failed.exists():
            raise OnnxUnavailable(failed.read_text(encoding="utf-8").strip())
    if file.exists():
        runner = OnnxRunner(
            opener(file), file, engine=engine, exported=False, max_abs_diff=None,
            precision=precision,
        )  # fmt: skip
        if not _note(file, engine, "ok", precision).exists():
            runner.max_abs_diff, _ = _checked(runner, model, data_config, file, temperature)
        log.debug("%s runs %s from the cache (%s)", engine, model_dir, file.name)
        return runner

    file.parent.mkdir(parents=True, exist_ok=True)
    tmp = file.with_name(f".{file.stem}.{os.getpid()}.{threading.get_ident()}.tmp.onnx")
    try:
        batch, _ = _check_batch(data_config, [])
        with torch.no_grad():
            _export_onnx(_WithSoftmax(model, temperature).eval(), batch[:1], tmp)
        runner = OnnxRunner(opener(tmp), file, engine=engine, exported=True,
                            max_abs_diff=None, precision=precision)  # fmt: skip
        diff, checked = _checked(runner, model, data_config, file, temperature)
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
