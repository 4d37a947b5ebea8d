"""Exporting a trained model for use outside cnndesk: ONNX or TorchScript, checked after export.

The exported network takes a float32 batch ``[N, 3, H, W]`` (any ``N``) preprocessed as the model
folder says, and returns softmax **probabilities** ``[N, classes]`` (the softmax is part of the
exported graph). Beside the file, ``FILE.json`` (the sidecar) holds the classes in output order
and the preprocessing: the data config (mean, std, size, interpolation, crop) and the exact steps
in words, derived from the very transform cnndesk uses. TorchScript files carry the same JSON
inside them too (``torch.jit.load(f, _extra_files={"cnndesk.json": ""})``).

After writing, the export runs the exported file (ONNX Runtime for ONNX, ``torch.jit.load`` for
TorchScript) and the PyTorch model on the same images — real ones when given, generated ones
otherwise — and reports the largest probability difference (``max_abs_diff``). Above
:data:`TOLERANCE` the export fails and the file is removed, so a wrong model is never left behind.
An existing file is replaced only when it is an earlier cnndesk export (its sidecar names it) or
with ``force``; a model folder's own files and the open library never are (see
:mod:`cnndesk.outputs`). Both files are written under temporary names and renamed into place.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import threading
import time
import warnings
from collections.abc import Callable, Generator, Sequence
from pathlib import Path
from typing import Any

import torch

import cnndesk
from cnndesk.domain import ExportProgress, ExportResult, ImageError, ModelError, OutputError
from cnndesk.ml.calibration import temperature_of
from cnndesk.ml.model_io import load_model
from cnndesk.ml.preprocess import decode_image, eval_transform, scale_size
from cnndesk.outputs import check_output, head, replacing, temp_beside

log = logging.getLogger(__name__)

FORMATS = ("onnx", "torchscript")
TOLERANCE = 1e-3
"""Largest probability difference between the exported model and PyTorch that passes."""
ONNX_OPSET = 17


class _WithSoftmax(torch.nn.Module):
    """The classifier, its logits divided by the model's temperature, then a softmax: exported
    files output the same calibrated probabilities as cnndesk itself."""

    def __init__(self, model: torch.nn.Module, temperature: float = 1.0) -> None:
        super().__init__()
        self.model = model
        self.temperature = float(temperature)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.model(x) / self.temperature, dim=1)


def preprocessing_steps(data_config: dict[str, Any]) -> list[str]:
    """The exact preprocessing, in words, read from the transform cnndesk itself applies."""
    steps = [
        "Decode the image file, apply its EXIF orientation and convert it to RGB (transparent "
        "pixels become white). cnndesk decodes JPEGs with DCT scaling (Pillow's Image.draft) to "
        f"the smallest scale whose both sides are still at least {scale_size(data_config)} "
        "pixels; a full-size decode gives nearly the same pixels."
    ]
    for t in eval_transform(data_config).transforms:
        name = type(t).__name__
        if name in ("Resize", "ResizeKeepRatio"):
            size = t.size
            interp = getattr(getattr(t, "interpolation", None), "value", "bilinear")
            if isinstance(size, int) or (isinstance(size, (list, tuple)) and len(size) == 1):
                side = size if isinstance(size, int) else size[0]
                steps.append(
                    f"Resize so that the shorter side is {side} pixels, keeping the aspect ratio "
                    f"({interp} interpolation, antialiased)."
                )
            else:
                steps.append(f"Resize to {size[0]}×{size[1]} pixels (height×width, {interp}).")
        elif name in ("CenterCrop", "CenterCropOrPad"):
            h, w = (t.size, t.size) if isinstance(t.size, int) else tuple(t.size)
            steps.append(f"Crop the central {h}×{w} pixels (height×width).")
        elif name in ("ToTensor", "MaybeToTensor", "PILToTensor"):
            steps.append("Convert to float32 values in [0, 1], channels first (3×H×W, RGB).")
        elif name == "Normalize":
            mean = [round(float(m), 6) for m in t.mean]
            std = [round(float(s), 6) for s in t.std]
            steps.append(f"Per channel (R, G, B): subtract mean {mean}, then divide by std {std}.")
        else:
            steps.append(repr(t))
    steps.append("Stack images into a float32 batch [N, 3, H, W] (NCHW).")
    return steps


def _sidecar(
    info: dict[str, Any],
    *,
    fmt: str,
    file: Path,
    max_abs_diff: float | None,
    checked: str,
    opset: int | None = None,
) -> dict[str, Any]:
    config = info["data_config"]
    _, height, width = config["input_size"]
    return {
        "format": fmt,
        "file": file.name,
        "classes": list(info["classes"]),
        "backbone": info.get("backbone"),
        "input": {
            "name": "input",
            "shape": ["batch", 3, height, width],
            "dtype": "float32",
            "layout": "NCHW",
        },
        "output": {
            "name": "probabilities",
            "shape": ["batch", len(info["classes"])],
            "meaning": "calibrated softmax probabilities (softmax(logits / temperature), the"
            " temperature is part of the graph), one per class, in the order of 'classes'",
            "temperature": temperature_of(info),
        },
        "preprocessing": {
            "input_size": list(config["input_size"]),
            "mean": list(config["mean"]),
            "std": list(config["std"]),
            "interpolation": config.get("interpolation"),
            "crop_pct": config.get("crop_pct"),
            "crop_mode": config.get("crop_mode"),
            "resize_shorter_side_to": scale_size(config),
            "steps": preprocessing_steps(config),
        },
        "onnx_opset": opset,
        "check": (
            None
            if max_abs_diff is None
            else {"max_abs_diff": max_abs_diff, "tolerance": TOLERANCE, "images": checked}
        ),
        "cnndesk_version": cnndesk.__version__,
    }


def _check_batch(
    data_config: dict[str, Any], images: Sequence[Path], *, count: int = 8
) -> tuple[torch.Tensor, str]:
    """The batch the check runs on: the readable ones of ``images``, else generated images."""
    transform = eval_transform(data_config)
    tensors: list[torch.Tensor] = []
    for path in images:
        try:
            tensors.append(transform(decode_image(path, size=scale_size(data_config))))
        except ImageError as exc:
            log.info("Export check skips %s", exc)
    if tensors:
        return torch.stack(tensors), f"{len(tensors)} real images"
    from PIL import Image

    generator = torch.Generator().manual_seed(0)
    for i in range(count):
        # Smooth colour fields with noise: more like photos than pure noise, and all different.
        low = torch.rand(3, 4 + i, 5 + i, generator=generator)
        field = torch.nn.functional.interpolate(low[None], size=(180 + 7 * i, 240 - 5 * i))[0]
        noise = torch.rand(field.shape, generator=generator) * 0.15
        pixels = ((field * 0.85 + noise).clamp(0, 1) * 255).to(torch.uint8)
        image = Image.fromarray(pixels.permute(1, 2, 0).numpy(), mode="RGB")
        tensors.append(transform(image))
    return torch.stack(tensors), f"{count} generated images"


def _run_onnx(file: Path, batch: torch.Tensor) -> torch.Tensor:
    try:
        import onnxruntime as ort
    except ImportError as exc:
        raise ModelError(
            "Checking an ONNX export needs onnxruntime: pip install 'cnndesk[onnx]'"
        ) from exc
    session = ort.InferenceSession(str(file), providers=["CPUExecutionProvider"])
    (output,) = session.run(None, {"input": batch.numpy()})
    return torch.from_numpy(output)


TRACING = threading.Lock()
"""Held while torch traces a model (``torch.jit.trace``, either ONNX exporter). The tracer keeps
process-wide state: two traces at once (an export while the prediction pane's background preload
builds its ONNX cache) corrupt each other and fail with "Tracing failed sanity checks"."""


def _export_onnx(wrapped: torch.nn.Module, example: torch.Tensor, tmp: Path) -> None:
    """The TorchScript-based exporter first (fast and reliable for timm CNNs), else dynamo's."""
    with TRACING:
        _export_onnx_unlocked(wrapped, example, tmp)


def _export_onnx_unlocked(wrapped: torch.nn.Module, example: torch.Tensor, tmp: Path) -> None:
    try:
        import onnx  # noqa: F401  (both exporters need it)
    except ImportError as exc:
        raise ModelError("Exporting to ONNX needs onnx: pip install 'cnndesk[onnx]'") from exc
    common: dict[str, Any] = {
        "input_names": ["input"],
        "output_names": ["probabilities"],
        "dynamic_axes": {"input": {0: "batch"}, "probabilities": {0: "batch"}},
    }
    try:
        with warnings.catch_warnings():  # "legacy exporter": chosen on purpose, see above
            warnings.simplefilter("ignore", DeprecationWarning)
            torch.onnx.export(
                wrapped,
                (example,),
                str(tmp),
                opset_version=ONNX_OPSET,
                do_constant_folding=True,
                dynamo=False,
                **common,
            )
    except Exception as exc:
        log.warning("The TorchScript-based ONNX exporter failed (%s); trying torch.export", exc)
        tmp.unlink(missing_ok=True)
        torch.onnx.export(
            wrapped, (example,), str(tmp), opset_version=max(ONNX_OPSET, 18), dynamo=True, **common
        )


def _onnx_opset(file: Path) -> int | None:
    import onnx

    model = onnx.load(str(file), load_external_data=False)
    versions = [o.version for o in model.opset_import if o.domain in ("", "ai.onnx")]
    return max(versions) if versions else None


def _sidecar_names(file: Path) -> Callable[[Path], bool]:
    """A check for ``ours``: whether a JSON file is the sidecar of an export named ``file``."""

    def is_sidecar(path: Path) -> bool:
        data = json.loads(head(path, 1 << 20).decode("utf-8"))
        return (
            isinstance(data, dict) and data.get("file") == file.name and "cnndesk_version" in data
        )

    return is_sidecar


def _is_export(path: Path) -> bool:
    """Whether ``path`` is an earlier export: its sidecar beside it names it."""
    sidecar = path.with_name(path.name + ".json")
    return sidecar.is_file() and _sidecar_names(path)(sidecar)


def export_model(
    model_dir: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    format: str = "onnx",
    check_images: Sequence[str | os.PathLike[str]] = (),
    force: bool = False,
    protected: Sequence[str | os.PathLike[str]] = (),
) -> Generator[ExportProgress, None, ExportResult]:
    """Export ``model_dir`` to ``out`` (ONNX or TorchScript) with its sidecar, and check it.

    Yields an :class:`ExportProgress` per stage; returns an :class:`ExportResult` with
    ``max_abs_diff``. Raises :class:`ModelError` when the export fails or disagrees with PyTorch
    by more than :data:`TOLERANCE` (nothing is left behind then), and
    :class:`~cnndesk.domain.OutputError` before any work when ``out`` or its sidecar would
    replace a file that is not an earlier export (unless ``force``), a file of ``model_dir``,
    or one of ``protected`` (the open library, say), not even with ``force``.
    """
    started = time.perf_counter()
    if format not in FORMATS:
        raise ModelError(f"Unknown export format {format!r}: choose one of {', '.join(FORMATS)}.")
    guarded = [Path(model_dir).absolute(), *protected]
    out = check_output(out, force=force, protected=guarded, ours=_is_export, what="model file")
    sidecar = out.with_name(out.name + ".json")
    check_output(sidecar, force=force, protected=guarded, ours=_sidecar_names(out))
    yield ExportProgress(0, 3, message="loading the model")
    model, info = load_model(Path(model_dir), device="cpu")
    wrapped = _WithSoftmax(model.float(), temperature_of(info)).eval()
    config = info["data_config"]
    batch, checked = _check_batch(config, [Path(p) for p in check_images])
    example = batch[:1]

    yield ExportProgress(1, 3, message=f"exporting to {format}")
    with temp_beside(out) as tmp:
        try:
            if format == "onnx":
                _export_onnx(wrapped, example, tmp)
            else:
                meta = json.dumps(
                    _sidecar(info, fmt=format, file=out, max_abs_diff=None, checked="")
                )
                with (
                    warnings.catch_warnings()
                ):  # "deprecated": still the portable format we promise
                    warnings.simplefilter("ignore", FutureWarning)
                    with TRACING:
                        traced = torch.jit.trace(wrapped, example)
                    torch.jit.save(traced, str(tmp), _extra_files={"cnndesk.json": meta})
        except (ModelError, OutputError):
            raise
        except OSError as exc:
            if exc.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)):
                raise  # temp_beside says "the disk is full"
            raise ModelError(f"Exporting {info.get('backbone')} to {format} failed: {exc}") from exc
        except Exception as exc:  # exporters raise many kinds; the user needs one clear line
            raise ModelError(f"Exporting {info.get('backbone')} to {format} failed: {exc}") from exc

        yield ExportProgress(2, 3, message=f"checking the export on {checked}")
        with torch.no_grad():
            expected = wrapped(batch)
            if format == "onnx":
                got = _run_onnx(tmp, batch)
            else:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", FutureWarning)
                    got = torch.jit.load(str(tmp), map_location="cpu")(batch)
        if got.shape != expected.shape:
            raise ModelError(
                f"The exported model outputs {tuple(got.shape)}, not {tuple(expected.shape)}."
            )
        max_abs_diff = float((got.float() - expected.float()).abs().max())
        if not max_abs_diff <= TOLERANCE:  # also catches NaN
            raise ModelError(
                f"The exported {format} model disagrees with PyTorch: probabilities differ by up "
                f"to {max_abs_diff:.2e} on {checked} (allowed: {TOLERANCE:g}). Nothing was written."
            )
        opset = _onnx_opset(tmp) if format == "onnx" else None
    with replacing(sidecar, "w", encoding="utf-8") as f:
        json.dump(
            _sidecar(
                info,
                fmt=format,
                file=out,
                max_abs_diff=max_abs_diff,
                checked=checked,
                opset=opset,
            ),
            f,
            indent=2,
            ensure_ascii=False,
        )
    yield ExportProgress(3, 3, message="done")
    log.info("Exported %s to %s (max_abs_diff %.2e on %s)", model_dir, out, max_abs_diff, checked)
    return ExportResult(
        file=str(out),
        format=format,
        max_abs_diff=max_abs_diff,
        images_checked=len(batch),
        sidecar=str(sidecar),
        seconds=time.perf_counter() - started,
    )
