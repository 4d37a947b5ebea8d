"""Using a trained model: every class's probability for one image, or for thousands in batches.

A :class:`Predictor` loads a model folder once and preprocesses exactly as the model says, with the
functions training and evaluation use (:func:`cnndesk.ml.preprocess.decode_image`,
:func:`~cnndesk.ml.preprocess.resize_crop` and :func:`~cnndesk.ml.preprocess.normalize` with the
saved data config), so its answers agree with them.

Batch classification (:meth:`Predictor.classify`) is what makes sorting a folder fast on a CPU:

- with a graph runtime (below), each core takes a whole batch at a time: one thread per core
  decodes its batch's files, crops and normalises them and runs the batch in the runtime on that
  same core (Pillow and the runtimes release the GIL), a bounded window of batches ahead of the
  results, so memory stays flat and no core waits for another; with PyTorch, whose every
  operation uses all cores, a small thread pool decodes a bounded window ahead of the model
  instead;
- JPEGs are decoded at a reduced DCT scale (``Image.draft``) when that still covers the size the
  model's transform resizes to, and only the centre crop is resampled
  (:func:`~cnndesk.ml.preprocess.resize_crop`); the threads hand over uint8 pixels and each batch
  is normalised in one vectorised step;
- on a CPU in fp32 the network runs from its ONNX export (:mod:`cnndesk.ml.onnx_backend`:
  exported once per model folder into the cache and checked against PyTorch) in OpenVINO, else
  ONNX Runtime (both faster than PyTorch eager, see ``bench/predict.py``), using every core;
  anything wrong with either falls back to the next, then PyTorch, with a log line; bf16 on a CPU
  (asked for) runs in OpenVINO's bf16 where the CPU has bf16 instructions;
- otherwise inference runs in batches under ``torch.inference_mode`` with channels-last memory
  (and autocast to bf16, or fp16 where bf16 is missing, on CUDA; bf16 on a CPU without OpenVINO);
- each BatchNorm that directly follows a convolution is folded into it once, at load time (the
  same function, to about 1e-6; BatchNorm is memory-bound and costs a quarter of a CPU forward).

A file that cannot be read becomes a :class:`~cnndesk.domain.Prediction` with an ``error``; it
never stops the batch.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import Counter, deque
from collections.abc import Generator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.fx as fx

from cnndesk.defaults import DEVICES, PRECISIONS
from cnndesk.domain import (
    ClassifyProgress,
    ClassifyResult,
    ClassScore,
    ImageError,
    ModelError,
    Prediction,
)
from cnndesk.ml.calibration import temperature_of
from cnndesk.ml.device import AMP_DTYPES, prediction_threads
from cnndesk.ml.export import TRACING
from cnndesk.ml.model_io import load_model
from cnndesk.ml.preprocess import decode_image, normalize, resize_crop, scale_size

log = logging.getLogger(__name__)

CPU_BATCH_SIZE = 8
"""PyTorch on a CPU, measured on 2 cores with tf_efficientnet_lite0: 8 beats 1 by ~25 % and 32."""
RUNTIME_BATCH_SIZE = 4
"""OpenVINO / ONNX Runtime, one batch per core: 4 beat 1, 2 and 8 (by 5–10 %) on 2 cores."""
GPU_BATCH_SIZE = 64
BACKENDS = ("torch", "onnxruntime", "openvino")


class _ConvBNTracer(fx.Tracer):
    """Keeps convolutions and batch norms as single nodes, so conv → BN pairs can be found.

    While it traces, torch.fx patches ``nn.Module.__call__`` and ``__getattr__`` for the whole
    process: a module called in *another* thread meanwhile (a decode transform, another model
    predicting or exporting) would be recorded into this graph and fail ("module is not installed
    as a submodule"). Calls from other threads pass straight through.
    """

    def trace(self, root: Any, concrete_args: Any = None) -> fx.Graph:  # type: ignore[override]
        self._thread = threading.get_ident()
        return super().trace(root, concrete_args)

    def call_module(self, m: torch.nn.Module, forward: Any, args: Any, kwargs: Any) -> Any:
        if threading.get_ident() != self._thread:
            return forward(*args, **kwargs)
        return super().call_module(m, forward, args, kwargs)

    def getattr(self, attr: str, attr_val: Any, parameter_proxy_cache: dict) -> Any:
        if threading.get_ident() != self._thread:
            return attr_val
        return super().getattr(attr, attr_val, parameter_proxy_cache)

    def is_leaf_module(self, m: torch.nn.Module, module_qualified_name: str) -> bool:
        # Adaptive pools too: simple-cnn's skips itself when the grid already fits, which fx
        # cannot trace through.
        if isinstance(m, (torch.nn.Conv2d, torch.nn.BatchNorm2d, torch.nn.AdaptiveAvgPool2d)):
            return True
        return super().is_leaf_module(m, module_qualified_name)


def fold_batchnorm(model: torch.nn.Module) -> int:
    """Fold every eval-mode BatchNorm that is the only consumer of a Conv2d into that conv.

    Handles ``nn.BatchNorm2d`` and timm's ``BatchNormAct2d`` (whose dropout and activation stay).
    Changes ``model`` in place and returns how many were folded; a model torch.fx cannot trace is
    left as it is (0). Only for inference: the folded model must not be trained.
    """
    try:
        # torch.fx patches nn.Module.__call__ process-wide while it traces: never beside a
        # torch.jit/ONNX trace in another thread ("module is not installed as a submodule").
        with TRACING:
            graph = _ConvBNTracer().trace(model)
    except Exception as exc:  # fx cannot trace every model; folding is only an optimisation
        log.debug("Not folding batch norms of %s: %s", type(model).__name__, exc)
        return 0
    modules = dict(model.named_modules())
    calls = Counter(n.target for n in graph.nodes if n.op == "call_module")
    folded = 0
    for node in graph.nodes:
        if node.op != "call_module":
            continue
        bn = modules[node.target]
        is_bn_act = type(bn).__name__ == "BatchNormAct2d" and hasattr(bn, "act")
        if not (type(bn) is torch.nn.BatchNorm2d or is_bn_act) or bn.running_var is None:
            continue
        source = node.args[0] if node.args else None
        if not (isinstance(source, fx.Node) and source.op == "call_module"):
            continue
        conv = modules[source.target]
        if len(source.users) != 1 or not isinstance(conv, torch.nn.Conv2d):
            continue
        if calls[source.target] != 1 or calls[node.target] != 1:  # a module used twice
            continue
        if conv.out_channels != bn.num_features:
            continue
        with torch.no_grad():
            scale = torch.rsqrt(bn.running_var + bn.eps)
            if bn.weight is not None:
                scale = scale * bn.weight
            shift = -bn.running_mean * scale
            if bn.bias is not None:
                shift = shift + bn.bias
            conv.weight.mul_(scale.reshape(-1, 1, 1, 1))
            bias = shift if conv.bias is None else conv.bias * scale + shift
            conv.bias = torch.nn.Parameter(bias)
        rest = torch.nn.Sequential(bn.drop, bn.act) if is_bn_act else torch.nn.Identity()
        parent, _, name = node.target.rpartition(".")
        setattr(model.get_submodule(parent) if parent else model, name, rest)
        folded += 1
    return folded


def default_device() -> str:
    """CUDA, then Apple's MPS, then the CPU."""
    if torch.cuda.is_available():
        return "cuda"
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return "mps"
    return "cpu"


def default_workers() -> int:
    """Decoding threads: one per core, at most 8 (more only fights the model for the cores)."""
    return max(1, min(8, os.cpu_count() or 1))


class Predictor:
    """A loaded model folder that answers "what is in this image?" for one file or many.

    ``device`` defaults to the best available one. The model is loaded once, in eval mode, in
    channels-last memory format.

    ``precision`` is ``fp32``, ``bf16`` or ``fp16`` (autocast). The default is fp32 on a CPU, so
    answers match evaluation to about 1e-6, and bf16 (fp16 where bf16 is missing) on CUDA.
    ``bf16`` on a CPU with bf16 instructions (AVX512-BF16, AMX) runs in OpenVINO's bf16, about
    twice as fast as fp32, and moves probabilities by up to about 0.03 (on a trained lite0; more
    where the model is unsure): fine for sorting, not what evaluation reported.

    ``backend`` is ``None`` (for fp32 on a CPU: OpenVINO, else ONNX Runtime, else PyTorch; for
    bf16 on a CPU: OpenVINO, else PyTorch), ``"torch"``, ``"openvino"`` or ``"onnxruntime"``
    (fp32 only); fp16 and GPUs always run in PyTorch.
    Whatever goes wrong with a runtime, the predictor falls back to the next (and logs why);
    :attr:`backend` says which one runs. ``threads`` (CPU only) defaults to every core; torch's
    thread count is set to it, and the runtimes use as many.
    """

    def __init__(
        self,
        model_dir: str | os.PathLike[str],
        *,
        device: str | None = None,
        precision: str | None = None,
        backend: str | None = None,
        threads: int | None = None,
    ) -> None:
        self.model_dir = Path(model_dir)
        if backend not in (None, *BACKENDS):
            raise ModelError(f"Unknown backend {backend!r}: use {', '.join(BACKENDS)}.")
        try:
            self.device = torch.device(device or default_device())
        except RuntimeError as exc:
            raise ModelError(f"Unknown device {device!r}: use {', '.join(DEVICES)}.") from exc
        model, info = load_model(self.model_dir, device=self.device)
        folded = fold_batchnorm(model)
        self.model = model.to(memory_format=torch.channels_last)
        self.info: dict[str, Any] = info
        self.classes: tuple[str, ...] = tuple(info["classes"])
        self.data_config: dict[str, Any] = dict(info["data_config"])
        self.temperature = temperature_of(info)
        """Logits are divided by it before the softmax (calibrated confidence; every engine)."""
        self._resize_crop = resize_crop(self.data_config)
        self._decode_size = scale_size(self.data_config)
        if precision is None and self.device.type == "cuda":
            precision = "bf16" if torch.cuda.is_bf16_supported() else "fp16"
        self.precision = precision or "fp32"
        if self.precision not in PRECISIONS:
            raise ModelError(f"Unknown precision {precision!r}: use {', '.join(PRECISIONS)}.")
        if self.precision == "fp16" and self.device.type != "cuda":
            raise ModelError("fp16 is for CUDA GPUs; on this device use fp32 or bf16.")
        self._amp_dtype = AMP_DTYPES[self.precision]
        self.threads: int | None = None
        if self.device.type == "cpu":
            self.threads = prediction_threads(threads)
            if torch.get_num_threads() != self.threads:
                torch.set_num_threads(self.threads)
        self.backend = "torch"
        self._runner: Any = None
        self._fallback_lock = threading.Lock()
        if backend != "torch":
            self._start_runtime(backend)
        if self.device.type == "cuda":
            self.default_batch_size = GPU_BATCH_SIZE
        else:
            self.default_batch_size = CPU_BATCH_SIZE if self._runner is None else RUNTIME_BATCH_SIZE
        log.debug(
            "Loaded %s on %s, %s (%d batch norms folded)",
            self.model_dir,
            self.device,
            self.backend,
            folded,
        )

    def _start_runtime(self, backend: str | None) -> None:
        """Run the network in a graph runtime when one can run this model here; else PyTorch."""
        from cnndesk.ml import onnx_backend

        forced = backend is not None
        # fp32 in either runtime; bf16 in OpenVINO only (ONNX Runtime has no bf16 CPU kernels).
        engines = onnx_backend.ENGINES if self.precision == "fp32" else ("openvino",)
        if self.device.type != "cpu" or (forced and backend not in engines):
            if forced:
                log.warning(
                    "%s does not run %s on %s; using PyTorch", backend, self.precision, self.device
                )
            return
        for engine in (backend,) if forced else engines:
            if not onnx_backend.engine_available(engine):
                log.log(
                    logging.WARNING if forced else logging.INFO,
                    "%s cannot be imported; not using it",
                    engine,
                )
                continue
            try:
                self._runner = onnx_backend.open_runner(
                    self.model_dir,
                    self.model,
                    self.data_config,
                    threads=self.threads or 1,
                    engine=engine,
                    precision=self.precision,
                    temperature=self.temperature,
                )
            except Exception as exc:  # never an error for the user: PyTorch still works
                log.warning("Not using %s for %s (%s)", engine, self.model_dir, exc)
                continue
            self.backend = engine
            return

    # ----------------------------------------------------------------------------- one image

    def pixels(self, path: str | os.PathLike[str]) -> np.ndarray:
        """uint8 ``[H, W, 3]``: ``path`` decoded, resized and cropped as the model's transform says.

        Raises :class:`~cnndesk.domain.ImageError` when the file cannot be read.
        """
        image = decode_image(path, size=self._decode_size)
        return np.asarray(self._resize_crop(image), dtype=np.uint8)

    def tensor(self, pixels: Sequence[np.ndarray]) -> torch.Tensor:
        """A normalised float ``[N, 3, H, W]`` batch from :meth:`pixels` results."""
        return normalize(torch.from_numpy(np.stack(pixels)), self.data_config)

    def load(self, path: str | os.PathLike[str]) -> torch.Tensor:
        """The ``[3, H, W]`` tensor the model sees for ``path``; raises :class:`ImageError`."""
        return self.tensor([self.pixels(path)])[0]

    def probabilities(self, batch: torch.Tensor) -> torch.Tensor:
        """Calibrated probabilities ``[N, classes]`` (float32, on the CPU) for a ``[N, 3, H, W]``
        batch: ``softmax(logits / temperature)``, whichever engine runs the network."""
        runner = self._runner
        if runner is not None:
            try:
                return runner(batch)
            except Exception as exc:
                with self._fallback_lock:  # several threads may see it fail: warn once
                    if self._runner is runner:
                        log.warning(
                            "%s failed (%s); predicting with PyTorch from now on", self.backend, exc
                        )
                        self._runner = None
                        self.backend = "torch"
        with torch.inference_mode():
            x = batch.to(self.device, non_blocking=True).contiguous(
                memory_format=torch.channels_last
            )
            if self._amp_dtype is not None:
                with torch.autocast(device_type=self.device.type, dtype=self._amp_dtype):
                    logits = self.model(x)
            else:
                logits = self.model(x)
            return torch.softmax(logits.float() / self.temperature, dim=1).cpu()

    def predict(self, image_path: str | os.PathLike[str]) -> Prediction:
        """Every class with its probability for one image, most likely first.

        Raises :class:`~cnndesk.domain.ImageError` when the file cannot be read.
        """
        probs = self.probabilities(self.load(image_path).unsqueeze(0))[0]
        return self._prediction(str(image_path), probs)

    def _prediction(self, file: str, probs: torch.Tensor) -> Prediction:
        values = probs.tolist()
        order = sorted(range(len(values)), key=lambda i: values[i], reverse=True)
        return Prediction(file, tuple(ClassScore(self.classes[i], values[i]) for i in order))

    # ---------------------------------------------------------------------------- many images

    def classify(
        self,
        paths: Sequence[str | os.PathLike[str]],
        *,
        batch_size: int | None = None,
        workers: int | None = None,
        request_id: int | None = None,
    ) -> Generator[ClassifyProgress, None, ClassifyResult]:
        """Classify ``paths`` in batches; yields after every batch, returns all predictions in order.

        ``batch_size`` defaults to what is fastest on the device and backend
        (:attr:`default_batch_size`). ``workers`` is the number of threads: with a graph runtime,
        those that each take a whole batch (default: as many as the runtime runs at once, one per
        core); with PyTorch, the decoding threads (default: one per core, at most 8).

        Unreadable files get a prediction with ``error`` set. Closing the generator stops the
        threads and returns nothing.
        """
        started = time.perf_counter()
        batch_size = batch_size or self.default_batch_size
        files = [str(p) for p in paths]
        results: list[Prediction | None] = [None] * len(files)
        yield ClassifyProgress(0, len(files), message="loading")
        parallel = getattr(self._runner, "parallel", 1)
        if parallel > 1:
            batches = self._batches_per_core(files, batch_size, workers or parallel)
        else:
            batches = self._batches_overlapped(files, batch_size, workers or default_workers())
        done = unreadable = 0
        for rows in batches:
            for i, prediction in rows:
                results[i] = prediction
                unreadable += prediction.error is not None
            done += len(rows)
            yield ClassifyProgress(
                done, len(files), current=rows[-1][1].file if rows else "", unreadable=unreadable
            )
        predictions = tuple(p for p in results if p is not None)
        if len(predictions) != len(files):  # cannot happen; a bug would otherwise drop files
            raise ModelError("Some files were not classified; please report this.")
        return ClassifyResult(
            classes=self.classes,
            predictions=predictions,
            seconds=time.perf_counter() - started,
            device=str(self.device),
            request_id=request_id,
        )

    def _classified(
        self, files: Sequence[str], indices: Sequence[int], pixels: Sequence[np.ndarray]
    ) -> list[tuple[int, Prediction]]:
        if not pixels:
            return []
        probs = self.probabilities(self.tensor(pixels))
        return [(i, self._prediction(files[i], row)) for i, row in zip(indices, probs)]

    def _one_batch(
        self, files: Sequence[str], start: int, stop: int
    ) -> list[tuple[int, Prediction]]:
        """Decode, crop and classify ``files[start:stop]`` on the calling thread."""
        failed: list[tuple[int, Prediction]] = []
        indices: list[int] = []
        pixels: list[np.ndarray] = []
        for i in range(start, stop):
            try:
                pixels.append(self.pixels(files[i]))
                indices.append(i)
            except ImageError as exc:
                failed.append((i, Prediction(files[i], (), error=str(exc))))
        return sorted(failed + self._classified(files, indices, pixels), key=lambda r: r[0])

    def _batches_per_core(
        self, files: Sequence[str], batch_size: int, workers: int
    ) -> Generator[list[tuple[int, Prediction]], None, None]:
        """Whole batches on ``workers`` threads, a bounded window ahead; results in order."""
        starts = iter(range(0, len(files), batch_size))
        window: deque[Future[list[tuple[int, Prediction]]]] = deque()
        pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="cnndesk-classify")

        def submit() -> None:
            start = next(starts, None)
            if start is not None:
                stop = min(start + batch_size, len(files))
                window.append(pool.submit(self._one_batch, files, start, stop))

        try:
            for _ in range(2 * workers):
                submit()
            while window:
                rows = window.popleft().result()
                submit()
                yield rows
        finally:
            pool.shutdown(wait=True, cancel_futures=True)

    def _batches_overlapped(
        self, files: Sequence[str], batch_size: int, workers: int
    ) -> Generator[list[tuple[int, Prediction]], None, None]:
        """Decoding threads a bounded window ahead; batches run on this thread (on every core)."""
        total = len(files)
        pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="cnndesk-decode")
        window: deque[tuple[int, Future[np.ndarray]]] = deque()
        ahead = max(2 * batch_size, 8)  # decode at most this many files ahead of the model
        submitted = 0
        try:
            while window or submitted < total:
                while submitted < total and len(window) < ahead:
                    window.append((submitted, pool.submit(self.pixels, files[submitted])))
                    submitted += 1
                rows: list[tuple[int, Prediction]] = []
                indices: list[int] = []
                pixels: list[np.ndarray] = []
                while window and len(pixels) < batch_size:
                    i, future = window.popleft()
                    try:
                        pixels.append(future.result())
                        indices.append(i)
                    except ImageError as exc:
                        rows.append((i, Prediction(files[i], (), error=str(exc))))
                    if submitted < total:  # keep the pool busy while we wait
                        window.append((submitted, pool.submit(self.pixels, files[submitted])))
                        submitted += 1
                rows += self._classified(files, indices, pixels)
                yield sorted(rows, key=lambda r: r[0])
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
