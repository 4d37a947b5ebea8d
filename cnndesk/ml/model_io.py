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

import datetime as dt
import json
import os
from pathlib import Path
from typing import Any

import torch

import cnndesk
from cnndesk.domain import ModelError

FORMAT = "cnndesk-model"
FORMAT_VERSION = 1
WEIGHTS_FILE = "weights.safetensors"
INFO_FILE = "model.json"
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
    from safetensors.torch import save_file

    missing = [key for key in _REQUIRED if key not in info]
    if missing:
        raise ModelError(f"cannot save a model without {', '.join(missing)}")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
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
    save_file(state, str(weights_tmp), metadata={"format": FORMAT, "backbone": meta["backbone"]})
    info_tmp.write_text(json.dumps(meta, indent=2, ensure_ascii=False), encoding="utf-8")
    os.replace(weights_tmp, folder / WEIGHTS_FILE)
    os.replace(info_tmp, folder / INFO_FILE)
    return folder


def read_info(folder: Path) -> dict[str, Any]:
    """Read and check ``model.json`` without touching the weights (cheap: no torch work)."""
    path = Path(folder) / INFO_FILE
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ModelError(f"{folder} is not a cnndesk model folder (no {INFO_FILE})") from exc
    except (OSError, ValueError) as exc:
        raise ModelError(f"{path} cannot be read: {exc}") from exc
    if not isinstance(info, dict) or info.get("format") != FORMAT:
        raise ModelError(f"{path} is not a cnndesk model description")
    if info.get("format_version", 0) > FORMAT_VERSION:
        raise ModelError(
            f"{folder} was saved by a newer cnndesk (model format {info.get('format_version')});"
            " update cnndesk to open it"
        )
    missing = [key for key in _REQUIRED if key not in info]
    if missing:
        raise ModelError(f"{path} lacks {', '.join(missing)}")
    return info


def build_model(backbone: str, num_classes: int, **kwargs: Any) -> torch.nn.Module:
    """An untrained ``backbone`` with ``num_classes`` outputs, through ``timm.create_model``."""
    import timm

    from cnndesk.ml import backbones  # noqa: F401  (registers simple-cnn with timm)

    try:
        return timm.create_model(backbone, pretrained=False, num_classes=num_classes, **kwargs)
    except RuntimeError as exc:  # timm: "Unknown model (...)"
        raise ModelError(f"unknown backbone {backbone!r}: {exc}") from exc


def load_model(folder: Path, *, device: str | torch.device = "cpu") -> tuple[torch.nn.Module, dict]:
    """Load a model folder: the model (in eval mode, on ``device``) and its ``model.json``."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    folder = Path(folder)
    info = read_info(folder)
    model = build_model(info["backbone"], len(info["classes"]), **info.get("model_kwargs", {}))
    try:
        state = load_file(str(folder / WEIGHTS_FILE), device=str(device))
    except FileNotFoundError as exc:
        raise ModelError(f"{folder} has no {WEIGHTS_FILE}") from exc
    except (SafetensorError, OSError) as exc:
        raise ModelError(f"{folder / WEIGHTS_FILE} is damaged: {exc}") from exc
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise ModelError(
            f"the weights in {folder} do not fit a {info['backbone']} with"
            f" {len(info['classes'])} classes: {str(exc).splitlines()[0]}"
        ) from exc
    return model.to(device).eval(), info
