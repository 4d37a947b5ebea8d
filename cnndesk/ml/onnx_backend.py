"""Running a model folder's network with ONNX Runtime on the CPU: the same answers, faster.

PyTorch eager runs a small CNN such as ``tf_efficientnet_lite0`` op by op; ONNX Runtime optimises
the whole graph (fused convolution + activation, blocked-layout convolutions) first. For lite0 at
batch 8 on 2 shared cores it measured 6.4 ms per image against PyTorch's 11.6 (BN folded,
channels-last) at load average 1.9, 14–19 against 38–65 under heavier load (``bench/predict.py``).
:class:`~cnndesk.ml.predict.Predictor` uses it for fp32 inference on a CPU.

On first use for a model folder the network (batch norms already folded, softmax appended) is
exported to ONNX with the code :mod:`cnndesk.ml.export` uses (opset 17, dynamic batch, the
TorchScript-based exporter) into ``cache_dir()/onnx/<sha256 of weights.safetensors and
model.json>.onnx``. The file is written under a temporary name, checked against PyTorch on
generated images (largest probability difference at most :data:`CHECK_TOLERANCE`) and only then
renamed into place, so a cached file is always one that passed. A model that fails the check
leaves a ``.failed`` note beside it, so it is not exported again on every run.

Every failure here raises; the predictor catches it, logs why and uses PyTorch instead.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
from pathlib import Path
from typing import Any

import torch

from cnndesk import paths
from cnndesk.ml.export import ONNX_OPSET, _check_batch, _export_onnx, _WithSoftmax

log = logging.getLogger(__name__)

CHECK_TOLERANCE = 1e-4
"""Largest probability difference from PyTorch that a cached ONNX file may have."""


class OnnxUnavailable(RuntimeError):
    """ONNX Runtime cannot run this model here (the message says why)."""


def onnxruntime_available() -> bool:
    """Whether ``onnxruntime`` imports (it is a dependency, but a broken install must not hurt)."""
    try:
        import onnxruntime  # noqa: F401
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
    """An ``onnxruntime.InferenceSession`` for one model: a float32 batch in, probabilities out."""

    def __init__(self, session: Any, file: Path, *, exported: bool, max_abs_diff: float | None):
        self.session = session
        self.file = file
        self.exported = exported
        """True when this runner exported the file (False: it came from the cache)."""
        self.max_abs_diff = max_abs_diff
        """The check's largest probability difference (``None`` for a cached, checked file)."""
        self._input = session.get_inputs()[0].name
        self._output = session.get_outputs()[0].name

    def __call__(self, batch: torch.Tensor) -> torch.Tensor:
        """Probabilities ``[N, classes]`` (float32, CPU) for a ``[N, 3, H, W]`` batch."""
        x = batch.detach().to("cpu", torch.float32).contiguous().numpy()
        (out,) = self.session.run([self._output], {self._input: x})
        return torch.from_numpy(out)


def _session(file: Path, threads: int) -> Any:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = max(1, threads)
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3  # errors only: ORT's warnings are not for our users
    # Idle ORT threads sleep instead of spinning: the decoding threads (and torch, in the same
    # process) need those cores between batches.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(str(file), sess_options=options, providers=["CPUExecutionProvider"])


def _compare(runner: OnnxRunner, model: torch.nn.Module, batch: torch.Tensor) -> float:
    with torch.inference_mode():
        expected = torch.softmax(model(batch).float(), dim=1)
    got = runner(batch)
    if got.shape != expected.shape:
        raise OnnxUnavailable(
            f"the ONNX model outputs {tuple(got.shape)}, not {tuple(expected.shape)}"
        )
    return float((got - expected).abs().max())


def open_runner(
    model_dir: str | os.PathLike[str],
    model: torch.nn.Module,
    data_config: dict[str, Any],
    *,
    threads: int,
) -> OnnxRunner:
    """An ONNX Runtime runner for ``model`` (the loaded, eval-mode network of ``model_dir``).

    Uses the cached export when there is one; otherwise exports, checks and caches it. Raises
    (:class:`OnnxUnavailable`, ``ImportError``, or whatever the exporter or ONNX Runtime raise)
    when ONNX Runtime cannot be used; the caller falls back to PyTorch.
    """
    import onnxruntime  # noqa: F401  (fail before exporting anything)

    file = cache_file(model_dir)
    failed = file.with_suffix(".failed")
    if failed.exists():
        raise OnnxUnavailable(failed.read_text(encoding="utf-8").strip())
    if file.exists():
        runner = OnnxRunner(_session(file, threads), file, exported=False, max_abs_diff=None)
        log.debug("ONNX Runtime runs %s from the cache (%s)", model_dir, file.name)
        return runner

    file.parent.mkdir(parents=True, exist_ok=True)
    tmp = file.with_name(f".{file.stem}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        batch, checked = _check_batch(data_config, [])
        with torch.no_grad():
            _export_onnx(_WithSoftmax(model).eval(), batch[:1], tmp)
        runner = OnnxRunner(_session(tmp, threads), file, exported=True, max_abs_diff=None)
        diff = _compare(runner, model, batch)
        if not diff <= CHECK_TOLERANCE:  # also catches NaN
            reason = (
                f"its ONNX export differs from PyTorch by up to {diff:.2e} in probability on "
                f"{checked} (allowed: {CHECK_TOLERANCE:g})"
            )
            failed.write_text(reason + "\n", encoding="utf-8")
            raise OnnxUnavailable(reason)
        runner.max_abs_diff = diff
        os.replace(tmp, file)
    finally:
        tmp.unlink(missing_ok=True)
    log.info(
        "Exported %s to ONNX (opset %d) for ONNX Runtime: %s; max probability difference "
        "from PyTorch %.1e on %s",
        model_dir,
        ONNX_OPSET,
        file,
        diff,
        checked,
    )
    return runner
