"""Which device trains: CUDA, then Apple's MPS, then the CPU, described in words for the user.

On the CPU one core is left free (``torch.set_num_threads(cores - 1)``) so the window stays
responsive while a model trains. On CUDA, mixed precision uses bf16 where the GPU supports it;
on a CPU, :class:`PrecisionProbe` measures whether bf16 pays off for the model at hand.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Any

import torch

from cnndesk.defaults import DEVICES, PRECISIONS
from cnndesk.domain import ModelError

log = logging.getLogger(__name__)

AMP_DTYPES: dict[str, torch.dtype | None] = dict(
    zip(PRECISIONS, (None, torch.bfloat16, torch.float16), strict=True)
)
"""Each of :data:`cnndesk.defaults.PRECISIONS` as the autocast dtype it means (``None``: fp32)."""


@dataclass(frozen=True)
class DeviceChoice:
    device: torch.device
    description: str
    amp_dtype: torch.dtype | None
    """Autocast dtype on CUDA (bf16 or fp16); ``None`` trains in fp32."""


CPU_BF16_ENV = "CNNDESK_CPU_BF16"
"""Set to ``0`` to treat the CPU as having no native bf16 instructions, whatever it has: CI runs
the suite once this way, so the no-bf16 branches are tested on machines that have bf16 too."""


def cpu_bf16_forced_off() -> bool:
    """Whether :data:`CPU_BF16_ENV` turns native CPU bf16 detection off (``0``/``off``/``false``)."""
    return os.environ.get(CPU_BF16_ENV, "").strip().lower() in {"0", "off", "false", "no"}


def cpu_has_native_bf16() -> bool:
    """Whether this CPU runs bf16 natively (AVX512-BF16 or AMX) for PyTorch's oneDNN kernels,
    unless :data:`CPU_BF16_ENV` turns detection off."""
    return not cpu_bf16_forced_off() and bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())


ALL_CORES_UP_TO = 2
"""On a machine of this many cores or fewer, training uses every core: leaving one of two free
halves the compute. Measured on a 2-core machine (``cnndesk train --mode full --epochs 2`` of
tf_efficientnet_lite0 on the 398 ants/bees photos): 60.8 s on 2 threads, 90.7–110.3 s on 1."""


def cpu_threads(requested: int | None = None) -> int:
    """Threads for torch when training on the CPU: ``requested``; else every core on a machine
    of :data:`ALL_CORES_UP_TO` cores or fewer, all cores but one on a larger one (that core
    decodes images and keeps the window responsive)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    if requested:
        return max(1, requested)
    cores = cores or 1
    return cores if cores <= ALL_CORES_UP_TO else cores - 1


def prediction_threads(requested: int | None = None) -> int:
    """Threads for torch (and ONNX Runtime) when predicting: ``requested``, or every core.

    Unlike training, prediction is short and the user is waiting for it, so no core is left free.
    """
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, requested if requested else (cores or 1))


def pick_device(requested: str | None = None, *, threads: int | None = None) -> DeviceChoice:
    """The best device available (or the one asked for), with torch's CPU threads set."""
    name = (requested or "").lower() or None
    if name not in (None, *DEVICES) and not (name or "").startswith("cuda:"):
        raise ModelError(f"unknown device {requested!r}: use {', '.join(DEVICES)}")
    if name is None:
        if torch.cuda.is_available():
            name = "cuda"
        elif getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            name = "mps"
        else:
            name = "cpu"
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ModelError("CUDA was asked for but no CUDA GPU is available; use --device cpu")
        device = torch.device(name)
        bf16 = torch.cuda.is_bf16_supported()
        amp = torch.bfloat16 if bf16 else torch.float16
        gpu = torch.cuda.get_device_name(device)
        return DeviceChoice(device, f"cuda: {gpu} ({'bf16' if bf16 else 'fp16'} AMP)", amp)
    if name == "mps":
        if not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
            raise ModelError("Apple MPS was asked for but is not available; use --device cpu")
        return DeviceChoice(torch.device("mps"), "mps: Apple GPU", None)
    count = cpu_threads(threads)
    torch.set_num_threads(count)
    return DeviceChoice(torch.device("cpu"), cpu_description(count, requested=bool(threads)), None)


def cpu_description(count: int, *, requested: bool = False) -> str:
    """The CPU device in words: ``count`` torch threads, and why not every core when one is free.

    ``cpu (1 of 2 threads; one core is left for decoding images and the window)``.
    """
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    plural = "thread" if count == 1 else "threads"
    if requested or not cores or count >= cores:
        return f"cpu ({count} {plural})"
    return f"cpu ({count} of {cores} threads; one core is left for decoding images and the window)"


class PrecisionProbe:
    """Which autocast dtype training steps use (``None``: fp32).

    CUDA uses the device's AMP dtype. On a CPU with native bf16 instructions and no explicit
    ``precision``, the first real training steps are timed in fp32 and then in bf16, and the
    faster is kept: bf16 speeds small CNNs up by ~1.6× here, but slows depthwise-convolution
    backbones down. Nothing is wasted: the probe steps are ordinary training steps.
    """

    _PLAN = (None, None, None, torch.bfloat16, torch.bfloat16, torch.bfloat16)
    """Per step: a warm-up then two timed steps, for each dtype."""

    def __init__(self, choice: DeviceChoice, precision: str | None) -> None:
        self._step = 0
        self._times: dict[Any, float] = {}
        self.chosen: torch.dtype | None = choice.amp_dtype
        self.decided = True
        if precision is not None and precision != "auto":
            if precision not in AMP_DTYPES:
                raise ModelError(f"unknown precision {precision!r}: use {', '.join(PRECISIONS)}")
            self.chosen = AMP_DTYPES[precision]
        elif choice.device.type == "cpu" and cpu_has_native_bf16():
            self.decided = False

    @property
    def name(self) -> str:
        return next(name for name, dtype in AMP_DTYPES.items() if dtype == self.chosen)

    def dtype(self) -> torch.dtype | None:
        return self.chosen if self.decided else self._PLAN[self._step]

    def record(self, seconds: float, images: int) -> None:
        if self.decided:
            return
        if self._step % 3:  # not a warm-up step
            dtype = self._PLAN[self._step]
            self._times[dtype] = self._times.get(dtype, 0.0) + seconds / max(1, images)
        self._step += 1
        if self._step == len(self._PLAN):
            self.decided = True
            self.chosen = min(self._times, key=lambda d: self._times[d])
            log.info("CPU precision probe: %s per image; using %s", self._times, self.name)
