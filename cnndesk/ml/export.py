"""Exporting a trained model for use outside cnndesk: ONNX, TorchScript or OpenVINO IR, checked.

Each format is one row of :data:`WRITERS` (how it is written, how it is run for the check), named
as in :data:`cnndesk.export_formats.EXPORT_FORMATS` (its suffix and description). The exported
network takes a float32 batch ``[N, 3, H, W]`` (any ``N``) preprocessed as the model folder says,
and returns softmax **probabilities** ``[N, classes]`` (the softmax is part of the exported graph).
Beside the file, ``FILE.json`` (the sidecar) holds the classes in output order and the
preprocessing: the data config (mean, std, size, interpolation, crop) and the exact steps in
words, derived from the very transform cnndesk uses. TorchScript files carry the same JSON inside
them too (``torch.jit.load(f, _extra_files={"cnndesk.json": ""})``). OpenVINO IR is two files,
``m.xml`` and its weights ``m.bin`` (fp32), converted from the ONNX export; the sidecar lists both.

After writing, the export runs the exported file (ONNX Runtime for ONNX, ``torch.jit.load`` for
TorchScript, OpenVINO for its IR) and the PyTorch model on the same images — real ones when given,
generated ones otherwise — and reports the largest probability difference (``max_abs_diff``).
Above :data:`TOLERANCE` the export fails and its files are removed, so a wrong model is never left
behind. An existing file (the export's or its sidecar) is replaced only when it is an earlier
cnndesk export (its sidecar names it) or with ``force``; a ``.bin`` beside it only when that
sidecar lists it (``force`` was about the file the user named); a model folder's own files and the
open library never are (see :mod:`cnndesk.outputs`). Every file is written under a
temporary name and renamed into place.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import tempfile
import threading
import time
import warnings
from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

import cnndesk
from cnndesk._privacy import no_telemetry
from cnndesk.domain import ExportProgress, ExportResult, ImageError, ModelError, OutputError
from cnndesk.export_formats import EXPORT_FORMATS
from cnndesk.ml.calibration import temperature_of
from cnndesk.ml.model_io import load_model
from cnndesk.ml.preprocess import decode_image, eval_transform, scale_size
from cnndesk.outputs import check_output, head, printable, replacing, temp_beside

log = logging.getLogger(__name__)

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
    files: Sequence[Path],
    max_abs_diff: float | None,
    checked: str,
    opset: int | None = None,
) -> dict[str, Any]:
    config = info["data_config"]
    _, height, width = config["input_size"]
    return {
        "format": fmt,
        "file": files[0].name,
        "files": [f.name for f in files],
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


TRACING = threading.RLock()
"""Held while torch traces a model (``torch.jit.trace``, either ONNX exporter, torch.fx in
:func:`cnndesk.ml.predict.fold_batchnorm`). Tracers keep process-wide state: two traces at once
(an export while the prediction pane's background preload folds batch norms or builds its ONNX
cache) corrupt each other ("Tracing failed sanity checks", "module is not installed as a
submodule"). Re-entrant, so a traced step may call another."""


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
            # The trace is for one input size (the model's); a shape test it freezes is right.
            warnings.simplefilter("ignore", torch.jit.TracerWarning)
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


def _write_onnx(
    wrapped: torch.nn.Module, example: torch.Tensor, files: list[Path], meta: str
) -> int | None:
    _export_onnx(wrapped, example, files[0])
    return _onnx_opset(files[0])


def _run_onnx_files(files: list[Path], batch: torch.Tensor) -> torch.Tensor:
    return _run_onnx(files[0], batch)


def _write_torchscript(
    wrapped: torch.nn.Module, example: torch.Tensor, files: list[Path], meta: str
) -> int | None:
    with warnings.catch_warnings():  # "deprecated": still the portable format we promise
        warnings.simplefilter("ignore", FutureWarning)
        warnings.simplefilter("ignore", torch.jit.TracerWarning)  # as in _export_onnx_unlocked
        with TRACING:
            traced = torch.jit.trace(wrapped, example)
        torch.jit.save(traced, str(files[0]), _extra_files={"cnndesk.json": meta})
    return None


def _run_torchscript(files: list[Path], batch: torch.Tensor) -> torch.Tensor:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        return torch.jit.load(str(files[0]), map_location="cpu")(batch)


def _openvino() -> Any:
    no_telemetry()  # a no-op once openvino is loaded; cnndesk's import already ran it
    try:
        import openvino
    except ImportError as exc:
        raise ModelError("Exporting to OpenVINO IR needs openvino: pip install openvino") from exc
    return openvino


def _write_openvino(
    wrapped: torch.nn.Module, example: torch.Tensor, files: list[Path], meta: str
) -> int | None:
    """The ONNX export, converted by OpenVINO into ``files`` (the ``.xml`` and its ``.bin``), fp32."""
    ov = _openvino()
    xml, weights = files
    with tempfile.TemporaryDirectory(prefix=".cnndesk-export.", dir=xml.parent) as work:
        onnx_file = Path(work) / "model.onnx"
        _export_onnx(wrapped, example, onnx_file)
        opset = _onnx_opset(onnx_file)
        ir = Path(work) / "model.xml"
        # fp16 weights (OpenVINO's default) would move probabilities by more than TOLERANCE.
        ov.save_model(ov.convert_model(str(onnx_file)), str(ir), compress_to_fp16=False)
        os.replace(ir, xml)
        os.replace(ir.with_suffix(".bin"), weights)
    return opset


def _run_openvino(files: list[Path], batch: torch.Tensor) -> torch.Tensor:
    ov = _openvino()
    core = ov.Core()
    compiled = core.compile_model(
        core.read_model(model=str(files[0]), weights=str(files[1])),
        "CPU",
        {"INFERENCE_PRECISION_HINT": "f32"},  # the IR as written, not bf16 where the CPU has it
    )
    return torch.from_numpy(np.array(compiled({0: batch.numpy()})[0], dtype=np.float32))


@dataclass(frozen=True)
class _Writer:
    """How one format of :data:`~cnndesk.export_formats.EXPORT_FORMATS` is written and checked.

    ``write(wrapped, example, files, meta)`` writes ``files`` (the main file, then one per
    ``companions`` suffix) and returns the ONNX opset when the format goes through ONNX;
    ``run(files, batch)`` runs the written files on a batch and returns the probabilities.
    """

    write: Callable[[torch.nn.Module, torch.Tensor, list[Path], str], int | None]
    run: Callable[[list[Path], torch.Tensor], torch.Tensor]
    companions: tuple[str, ...] = ()


WRITERS: dict[str, _Writer] = {
    "onnx": _Writer(_write_onnx, _run_onnx_files),
    "torchscript": _Writer(_write_torchscript, _run_torchscript),
    "openvino": _Writer(_write_openvino, _run_openvino, companions=(".bin",)),
}
"""Each format's writer and checker, by the names of :data:`EXPORT_FORMATS`."""
FORMATS = tuple(EXPORT_FORMATS)
assert set(WRITERS) == set(FORMATS), "every export format needs a writer"


def _companions(out: Path, writer: _Writer) -> list[Path]:
    """The files written beside ``out`` (OpenVINO's ``m.bin`` beside ``m.xml``)."""
    return [out.with_suffix(suffix) for suffix in writer.companions]


def _companion_of(out: Path) -> Callable[[Path], bool]:
    """A check for ``ours``: whether a file is a companion that ``out``'s sidecar lists."""

    def is_companion(path: Path) -> bool:
        sidecar = out.with_name(out.name + ".json")
        try:
            if path.is_symlink() or not (sidecar.is_file() and _sidecar_names(out)(sidecar)):
                return False
            return path.name in json.loads(head(sidecar, 1 << 20).decode("utf-8")).get("files", [])
        except (OSError, ValueError):  # an unreadable or broken sidecar recognises nothing
            return False

    return is_companion


def _check_outputs(
    out: str | os.PathLike[str], writer: _Writer, *, force: bool, guarded: list[Any]
) -> tuple[Path, list[Path], Path]:
    """The export's file, its companions and its sidecar, each checked (:func:`check_output`).

    ``force`` replaces the file the user named, never a companion cnndesk did not write (the user
    did not name it, and a file dialog's "replace?" was not about it).
    """
    out = check_output(out, force=force, protected=guarded, ours=_is_export, what="model file")
    companions = _companions(out, writer)
    for companion in companions:
        ours = _companion_of(out)
        check_output(companion, force=True, protected=guarded, ours=ours, what="model file")
        if os.path.lexists(companion) and not ours(companion):
            raise OutputError(
                f"{printable(companion)} already exists and cnndesk did not write it; the export "
                f"writes {printable(out.name)}'s weights there. Nothing was changed: choose "
                f"another file name, or move {printable(companion.name)} away."
            )
    sidecar = out.with_name(out.name + ".json")
    check_output(sidecar, force=force, protected=guarded, ours=_sidecar_names(out))
    return out, companions, sidecar


def _compare(got: torch.Tensor, expected: torch.Tensor, format: str, checked: str) -> float:
    """The largest probability difference; :class:`ModelError` when it is above the tolerance."""
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
    return max_abs_diff


@contextlib.contextmanager
def _export_errors(info: dict[str, Any], format: str) -> Iterator[None]:
    """Any exporter's failure as one clear :class:`ModelError` (a full disk stays an OSError)."""
    try:
        yield
    except (ModelError, OutputError):
        raise
    except OSError as exc:
        if exc.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)):
            raise  # temp_beside says "the disk is full"
        raise ModelError(f"Exporting {info.get('backbone')} to {format} failed: {exc}") from exc
    except Exception as exc:  # exporters raise many kinds; the user needs one clear line
        raise ModelError(f"Exporting {info.get('backbone')} to {format} failed: {exc}") from exc


def export_model(
    model_dir: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    format: str = "onnx",
    check_images: Sequence[str | os.PathLike[str]] = (),
    force: bool = False,
    protected: Sequence[str | os.PathLike[str]] = (),
) -> Generator[ExportProgress, None, ExportResult]:
    """Export ``model_dir`` to ``out`` in one of :data:`FORMATS` with its sidecar, and check it.

    Yields an :class:`ExportProgress` per stage; returns an :class:`ExportResult` with
    ``max_abs_diff``. Raises :class:`ModelError` when the export fails or disagrees with PyTorch
    by more than :data:`TOLERANCE` (nothing is left behind then), and
    :class:`~cnndesk.domain.OutputError` before any work when ``out``, a file written beside it
    (OpenVINO's ``.bin``, never replaced unless an earlier export wrote it) or its sidecar
    would replace a file that is not an earlier export (unless ``force``), a file of ``model_dir``, or one of ``protected`` (the open library, say),
    not even with ``force``.
    """
    started = time.perf_counter()
    writer = WRITERS.get(format)
    if writer is None:
        raise ModelError(f"Unknown export format {format!r}: choose one of {', '.join(FORMATS)}.")
    guarded = [Path(model_dir).absolute(), *protected]
    out, companions, sidecar = _check_outputs(out, writer, force=force, guarded=guarded)
    yield ExportProgress(0, 3, message="loading the model")
    model, info = load_model(Path(model_dir), device="cpu")
    wrapped = _WithSoftmax(model.float(), temperature_of(info)).eval()
    batch, checked = _check_batch(info["data_config"], [Path(p) for p in check_images])
    files = [out, *companions]

    def sidecar_of(max_abs_diff: float | None, opset: int | None = None) -> dict[str, Any]:
        return _sidecar(
            info, fmt=format, files=files, max_abs_diff=max_abs_diff, checked=checked, opset=opset
        )

    yield ExportProgress(1, 3, message=f"exporting to {format}")
    with contextlib.ExitStack() as temps:
        # Companions are renamed into place before the main file (the stack unwinds backwards).
        tmps = [temps.enter_context(temp_beside(f)) for f in files]
        with _export_errors(info, format):
            opset = writer.write(wrapped, batch[:1], tmps, json.dumps(sidecar_of(None)))
        yield ExportProgress(2, 3, message=f"checking the export on {checked}")
        with torch.no_grad():
            expected = wrapped(batch)
            with _export_errors(info, format):
                got = writer.run(tmps, batch)
        max_abs_diff = _compare(got, expected, format, checked)
    with replacing(sidecar, "w", encoding="utf-8") as f:
        json.dump(sidecar_of(max_abs_diff, opset), f, indent=2, ensure_ascii=False)
    yield ExportProgress(3, 3, message="done")
    log.info("Exported %s to %s (max_abs_diff %.2e on %s)", model_dir, out, max_abs_diff, checked)
    return ExportResult(
        file=str(out),
        format=format,
        max_abs_diff=max_abs_diff,
        images_checked=len(batch),
        sidecar=str(sidecar),
        seconds=time.perf_counter() - started,
        checked_on=checked,
    )
