"""The trained-model folder: ``weights.safetensors`` + ``model.json``. A contract; keep it stable.

``model.json`` holds at least ``format`` ("cnndesk-model"), ``format_version`` (1),
``cnndesk_version``, ``backbone`` (a timm name or "simple-cnn"), ``classes`` (names in output
order), ``data_config`` (timm's: ``input_size``, ``mean``, ``std``, ``interpolation``,
``crop_pct``, ``crop_mode``), ``metrics``, ``training``, ``dataset``, ``device`` and ``created``.
The weights are the state dict of a full timm model, so
``timm.create_model(backbone, pretrained=False, num_classes=len(classes))`` + ``load_state_dict``
reproduces it. Loading never unpickles anything.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import json
import os
from pathlib import Path
from typing import Any

import torch

import cnndesk
from cnndesk.domain import ModelError
from cnndesk.model_folder import (
    FLOAT_DTYPES,
    FORMAT,
    FORMAT_VERSION,
    INFO_FILE,
    INT_DTYPES,
    WEIGHTS_FILE,
    ModelInfo,
    check_weights_header,
    read_model_info,
)
from cnndesk.outputs import printable

_REQUIRED = ("backbone", "classes", "data_config")


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "item") and callable(value.item):  # numpy / torch scalars
        return value.item()
    return value


def save_model(folder: Path, model: torch.nn.Module, info: dict) -> Path:
    """Write ``model`` and ``info`` into ``folder`` (created if needed) and return the folder.

    ``info`` must hold ``backbone``, ``classes`` and ``data_config``; ``format``,
    ``format_version``, ``cnndesk_version`` and ``created`` are filled in, and ``metrics``,
    ``training``, ``dataset`` and ``device`` default to empty. Files are written to temporary
    names and renamed, so a crash never leaves half a model behind a complete ``model.json``.
    """
    from safetensors import SafetensorError
    from safetensors.torch import save_file

    missing = [key for key in _REQUIRED if key not in info]
    if missing:
        raise ModelError(f"cannot save a model without {', '.join(missing)}")
    folder = Path(folder)
    meta: dict[str, Any] = {
        "metrics": {},
        "training": {},
        "dataset": [],
        "device": "cpu",
        **_jsonable(info),
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "cnndesk_version": cnndesk.__version__,
        "created": info.get("created") or dt.datetime.now(dt.timezone.utc).isoformat(),
    }
    meta["classes"] = [str(name) for name in meta["classes"]]
    # Clone so tensors that share storage (tied weights, views) are saved as independent copies.
    state = {k: v.detach().to("cpu").contiguous().clone() for k, v in model.state_dict().items()}
    weights_tmp = folder / f".{WEIGHTS_FILE}.tmp"
    info_tmp = folder / f".{INFO_FILE}.tmp"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        save_file(
            state, str(weights_tmp), metadata={"format": FORMAT, "backbone": meta["backbone"]}
        )
        info_tmp.write_text(json.dumps(meta, indent=2, ensure_ascii=False), encoding="utf-8")
        os.replace(weights_tmp, folder / WEIGHTS_FILE)
        os.replace(info_tmp, folder / INFO_FILE)
    except BaseException as exc:  # Ctrl+C too: no temporary file left behind
        for tmp in (weights_tmp, info_tmp):
            with contextlib.suppress(OSError):
                tmp.unlink(missing_ok=True)
        if not isinstance(exc, (OSError, SafetensorError)):  # safetensors wraps an OSError
            raise
        raise ModelError(f"Could not save the model in {printable(folder)}: {_why(exc)}") from exc
    return folder


def _why(exc: Exception) -> str:
    """What a failed model write says: a full disk in words, else the system's reason."""
    if getattr(exc, "errno", None) in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)) or (
        "os error 28" in str(exc)  # safetensors reports ENOSPC only in its message
    ):
        return "the disk is full; free some space (or give --out on another disk) and train again."
    return f"{getattr(exc, 'strerror', None) or exc}."


def read_info(folder: Path) -> dict[str, Any]:
    """Read and check ``model.json`` without touching the weights (cheap: no torch work).

    The checks are :func:`cnndesk.model_folder.read_model_info`'s; this returns the checked
    description as a dict (``classes`` and ``data_config`` normalised).
    """
    return read_model_info(folder).raw


def build_model(backbone: str, num_classes: int, **kwargs: Any) -> torch.nn.Module:
    """An untrained ``backbone`` with ``num_classes`` outputs, through ``timm.create_model``."""
    import timm

    from cnndesk.ml import backbones  # noqa: F401  (registers simple-cnn with timm)

    try:
        return timm.create_model(backbone, pretrained=False, num_classes=num_classes, **kwargs)
    except RuntimeError as exc:  # timm: "Unknown model (...)"
        raise ModelError(
            f"unknown backbone {backbone!r} ({exc}): this cnndesk cannot build it; use a timm"
            " model name (timm.list_models()) or simple-cnn, or update cnndesk"
        ) from exc


def load_model(folder: Path, *, device: str | torch.device = "cpu") -> tuple[torch.nn.Module, dict]:
    """Load a model folder: the model (in eval mode, on ``device``) and its ``model.json``.

    Refused with a :class:`ModelError` before anything is loaded: a description that fails
    :func:`~cnndesk.model_folder.read_model_info`, a weights file that is not a whole
    safetensors file of numbers, and weights whose tensors or classifier do not match the
    description. After loading, weights holding NaN or infinite values are refused too.
    """
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    folder = Path(folder)
    checked = read_model_info(folder)
    info = checked.raw
    header = check_weights_header(checked)
    model = build_model(checked.backbone, len(checked.classes), **checked.model_kwargs)
    _check_fits(model, header, checked)
    try:
        state = load_file(str(checked.weights_file), device="cpu")
    except (SafetensorError, OSError) as exc:
        raise ModelError(f"{checked.weights_file} is damaged: {exc}") from exc
    for name, tensor in state.items():
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            raise ModelError(
                f"{checked.weights_file} holds NaN or infinite values (in {name}): the model that"
                " was saved had diverged. Train it again, with a lower learning rate."
            )
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise ModelError(
            f"the weights in {folder} do not fit a {checked.backbone} with"
            f" {len(checked.classes)} classes: {str(exc).splitlines()[0]}"
        ) from exc
    return model.to(device).eval(), info


def _check_fits(
    model: torch.nn.Module, header: dict[str, tuple[str, tuple[int, ...]]], info: ModelInfo
) -> None:
    """Every tensor of ``model`` is in the file, with its shape and a number type that fits."""
    expected = model.state_dict()
    head = getattr(model, "pretrained_cfg", {}).get("classifier")
    head_key = f"{head}.weight" if isinstance(head, str) else None
    if head_key in expected and head_key in header:
        outputs = header[head_key][1][0] if header[head_key][1] else 0
        if outputs != len(info.classes):
            raise ModelError(
                f"{info.folder}: the weights' classifier has {outputs} outputs but model.json"
                f" names {len(info.classes)} classes. The two files come from different models;"
                " copy the model folder again as a whole."
            )
    missing = [name for name in expected if name not in header]
    extra = [name for name in header if name not in expected]
    if missing or extra:
        names = ", ".join((missing or extra)[:3])
        raise ModelError(
            f"the weights in {info.folder} do not fit a {info.backbone} with {len(info.classes)}"
            f" classes ({len(missing)} tensors missing, {len(extra)} unexpected, e.g. {names})."
            " The weights file belongs to another model; copy the model folder again as a whole."
        )
    for name, tensor in expected.items():
        dtype, shape = header[name]
        if tuple(tensor.shape) != shape:
            raise ModelError(
                f"the weights in {info.folder} do not fit a {info.backbone}: {name} has shape"
                f" {list(shape)}, the model needs {list(tensor.shape)}."
            )
        floating = tensor.is_floating_point()
        if dtype not in (FLOAT_DTYPES if floating else INT_DTYPES):
            kind = "floating-point numbers" if floating else "whole numbers"
            raise ModelError(
                f"the weights in {info.folder} hold {dtype} values for {name}, where the model"
                f" needs {kind}. Use the weights file that was saved with this model."
            )
