"""Reading a model folder's ``model.json`` strictly, with the standard library only.

:func:`read_model_info` is the one reader of ``model.json``: prediction, evaluation, export, the
jobs and the GUI panes all go through it, so a tampered or damaged description is refused the same
way everywhere, with a :class:`~cnndesk.domain.ModelError` that says what is wrong and what to do.
It imports no torch (the GUI calls it on the GUI thread). The weights file is checked here only as
far as its safetensors header goes (:func:`check_weights_header`); values are checked after
loading, in :mod:`cnndesk.ml.model_io`.

The rest of a model folder is read here too: its ``evaluation.json`` (:func:`read_evaluation`,
falling back to the library's stored predictions), the newest model of a library
(:func:`latest_model_folder`), a run's accuracy and mode as every view shows them, and the one
:func:`per_class_metrics` that both training and the Evaluate pane use.
"""

from __future__ import annotations

import json
import logging
import math
import os
import stat
import struct
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from cnndesk import heldout
from cnndesk.domain import (
    ClassMetrics,
    CnndeskError,
    EpochEnd,
    Evaluation,
    ModelError,
    RunRecord,
    SamplePrediction,
    TrainMode,
)
from cnndesk.evaluation_file import is_int, is_number, load_evaluation

FORMAT = "cnndesk-model"
FORMAT_VERSION = 1
WEIGHTS_FILE = "weights.safetensors"
INFO_FILE = "model.json"
EVALUATION_FILE = "evaluation.json"
SCRATCH_BACKBONE = "simple-cnn"
"""The small CNN trained from scratch (``cnndesk.ml.backbones.SIMPLE_CNN``): no pretrained
weights, and it always trains every layer."""

log = logging.getLogger(__name__)

MAX_INFO_BYTES = 64 << 20
"""``model.json`` lists every training image (about 110 bytes each): 64 MiB is half a million
images; anything larger is not a file cnndesk wrote, and is refused before it is read."""
MAX_HEADER_BYTES = 16 << 20
"""A safetensors header is a few hundred bytes per tensor; 16 MiB is far beyond any backbone."""
MAX_CLASS_NAME = 200
MAX_CLASSES = 10_000
INTERPOLATIONS = ("nearest", "bilinear", "bicubic", "box", "hamming", "lanczos")
CROP_MODES = ("center", "squash", "border")
MODEL_KWARGS = ("drop_rate", "drop_path_rate")
"""The only ``timm.create_model`` arguments a model folder may carry (others, such as
``checkpoint_path``, would make loading read files the folder does not own)."""
FLOAT_DTYPES = frozenset({"F16", "BF16", "F32", "F64"})
INT_DTYPES = frozenset({"I8", "I16", "I32", "I64", "U8"})
_DTYPE_BYTES = {"F16": 2, "BF16": 2, "F32": 4, "F64": 8, "I8": 1, "I16": 2, "I32": 4}
_DTYPE_BYTES |= {"I64": 8, "U8": 1, "BOOL": 1}

_FIX = "Train the model again, or copy the model folder again from where it came from."


@dataclass(frozen=True)
class DataConfig:
    """How images are prepared for the model (timm's data config, checked)."""

    input_size: tuple[int, int, int]
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    interpolation: str = "bilinear"
    crop_pct: float = 0.875
    crop_mode: str = "center"

    def as_dict(self) -> dict[str, Any]:
        return {
            "input_size": list(self.input_size),
            "mean": list(self.mean),
            "std": list(self.std),
            "interpolation": self.interpolation,
            "crop_pct": self.crop_pct,
            "crop_mode": self.crop_mode,
        }


@dataclass(frozen=True)
class ModelInfo:
    """A checked ``model.json``. ``raw`` is the whole description, with ``data_config`` and
    ``classes`` replaced by their checked values (what older callers index into)."""

    folder: Path
    backbone: str
    classes: tuple[str, ...]
    data_config: DataConfig
    format_version: int
    model_kwargs: dict[str, float] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def weights_file(self) -> Path:
        return self.folder / WEIGHTS_FILE


def _bad(path: Path, what: str, fix: str = _FIX) -> ModelError:
    return ModelError(f"{path} is not a usable model description: {what}. {fix}")


def owned_file(folder: Path, name: str, *, what: str) -> Path:
    """``folder/name`` as a regular file inside ``folder`` (a link may not lead outside it)."""
    path = folder / name
    try:
        status = os.stat(path)  # follows links: a FIFO or device behind a link is refused too
    except FileNotFoundError:
        raise ModelError(
            f"{folder} has no {name}: it is not a complete cnndesk model folder. {_FIX}"
        ) from None
    except OSError as exc:
        raise ModelError(f"{path} cannot be read: {exc.strerror or exc}") from exc
    if not stat.S_ISREG(status.st_mode):
        raise ModelError(f"{path} is not a regular file, so it cannot be the model's {what}.")
    if path.is_symlink():
        try:
            inside = path.resolve().is_relative_to(folder.resolve())
        except OSError:
            inside = False
        if not inside:
            raise ModelError(
                f"{path} is a link to {os.path.realpath(path)}, outside the model folder; "
                f"a model's {what} must be its own file. Copy the real file into the folder."
            )
    return path


def _read_text(path: Path) -> str:
    size = os.stat(path).st_size
    if size > MAX_INFO_BYTES:
        raise _bad(
            path,
            f"it is {size / 2**20:.0f} MiB (a model.json is at most {MAX_INFO_BYTES >> 20} MiB)",
        )
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_INFO_BYTES + 1)
    except OSError as exc:
        raise ModelError(f"{path} cannot be read: {exc.strerror or exc}") from exc
    if len(data) > MAX_INFO_BYTES:
        raise _bad(path, f"it is larger than {MAX_INFO_BYTES >> 20} MiB")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _bad(path, f"it is not UTF-8 text (byte {exc.start})") from None


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not a number JSON allows")


def read_model_info(folder: str | Path) -> ModelInfo:
    """Read and check ``folder/model.json``; raise :class:`ModelError` naming what is wrong."""
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        what = "does not exist" if not folder.exists() else "is not a folder"
        raise ModelError(f"{folder} {what}; give a model folder (one holding {INFO_FILE}).")
    try:
        path = owned_file(folder, INFO_FILE, what="description")
    except ModelError as exc:
        if not (folder / INFO_FILE).exists() and not (folder / INFO_FILE).is_symlink():
            raise ModelError(
                f"{folder} is not a cnndesk model folder (no {INFO_FILE}); give a folder that"
                " a training run saved."
            ) from None
        raise exc
    text = _read_text(path)
    try:
        raw = json.loads(text, parse_constant=_no_constants)
    except RecursionError:
        raise _bad(path, "it is nested too deeply to be a model description") from None
    except ValueError as exc:
        raise _bad(path, f"it is not valid JSON ({exc})") from None
    return parse_model_info(raw, folder=folder, path=path)


def parse_model_info(raw: Any, *, folder: Path, path: Path | None = None) -> ModelInfo:
    """Check a decoded ``model.json`` (see :func:`read_model_info`)."""
    path = path or folder / INFO_FILE
    if not isinstance(raw, dict) or raw.get("format") != FORMAT:
        raise _bad(path, f'it does not say "format": "{FORMAT}"', "Give a cnndesk model folder.")
    version = raw.get("format_version")
    if not is_int(version):
        raise _bad(path, f"format_version must be a whole number, not {version!r}")
    if version > FORMAT_VERSION:
        raise ModelError(
            f"{folder} was saved by a newer cnndesk (model format {version}; this one reads up"
            f" to {FORMAT_VERSION}); update cnndesk to open it."
        )
    if version < 1:
        raise _bad(path, f"format_version {version} does not exist (versions start at 1)")
    missing = [key for key in ("backbone", "classes", "data_config") if key not in raw]
    if missing:
        raise _bad(path, f"it lacks {', '.join(missing)}")
    backbone = raw["backbone"]
    if not isinstance(backbone, str) or not backbone.strip() or len(backbone) > 200:
        raise _bad(path, f"backbone must be a model name, not {backbone!r}")
    if not backbone.isprintable():
        raise _bad(path, "backbone contains control characters")
    classes = _classes(raw["classes"], path)
    data_config = _data_config(raw["data_config"], path)
    kwargs = raw.get("model_kwargs", {})
    if not isinstance(kwargs, dict):
        raise _bad(path, "model_kwargs must be an object")
    for key, value in kwargs.items():
        if key not in MODEL_KWARGS:
            raise _bad(path, f"model_kwargs may only hold {', '.join(MODEL_KWARGS)}, not {key!r}")
        if not is_number(value) or not 0 <= value < 1:
            raise _bad(path, f"model_kwargs.{key} must be a number from 0 to below 1")
    for key, kind in (("metrics", dict), ("training", dict), ("dataset", list)):
        if key in raw and not isinstance(raw[key], kind):
            raise _bad(path, f"{key} must be a JSON {'object' if kind is dict else 'list'}")
    checked = {**raw, "classes": list(classes), "data_config": data_config.as_dict()}
    return ModelInfo(
        folder=folder,
        backbone=backbone,
        classes=classes,
        data_config=data_config,
        format_version=version,
        model_kwargs=dict(kwargs),
        metrics=dict(raw.get("metrics") or {}),
        raw=checked,
    )


def _classes(value: Any, path: Path) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise _bad(path, f"classes must be a list of names, not {type(value).__name__}")
    if len(value) < 2:
        raise _bad(path, f"a model needs at least 2 classes (this one lists {len(value)})")
    if len(value) > MAX_CLASSES:
        raise _bad(path, f"it lists {len(value)} classes (at most {MAX_CLASSES})")
    seen: set[str] = set()
    for index, name in enumerate(value):
        if not isinstance(name, str) or not name.strip():
            raise _bad(path, f"class {index + 1} must be a non-empty name, not {name!r}")
        if len(name) > MAX_CLASS_NAME:
            raise _bad(path, f"class {index + 1} is longer than {MAX_CLASS_NAME} characters")
        if not name.isprintable():
            raise _bad(path, f"class {index + 1} ({name!r}) contains control characters")
        if name in seen:
            raise _bad(path, f"the class {name!r} is listed twice")
        seen.add(name)
    return tuple(value)


def _triple(value: Any, key: str, path: Path) -> tuple[float, float, float]:
    if not isinstance(value, list) or len(value) != 3 or not all(map(is_number, value)):
        raise _bad(path, f"data_config.{key} must be 3 finite numbers (R, G, B), not {value!r}")
    return (float(value[0]), float(value[1]), float(value[2]))


def _data_config(value: Any, path: Path) -> DataConfig:
    if not isinstance(value, dict):
        raise _bad(path, "data_config must be an object")
    size = value.get("input_size")
    if (
        not isinstance(size, list)
        or len(size) != 3
        or not all(map(is_int, size))
        or size[0] != 3
        or not all(8 <= side <= 4096 for side in size[1:])
    ):
        raise _bad(
            path,
            f"data_config.input_size must be [3, height, width] with sides 8..4096, not {size!r}",
        )
    mean = _triple(value.get("mean"), "mean", path)
    std = _triple(value.get("std"), "std", path)
    if min(std) <= 0:
        raise _bad(
            path, f"data_config.std must be above 0 (it divides the pixels), not {list(std)}"
        )
    interpolation = value.get("interpolation") or "bilinear"
    if interpolation not in INTERPOLATIONS:
        raise _bad(path, f"data_config.interpolation must be one of {', '.join(INTERPOLATIONS)}")
    crop_pct = value.get("crop_pct")
    crop_pct = 0.875 if crop_pct is None else crop_pct
    if not is_number(crop_pct) or not 0.1 <= crop_pct <= 1:
        raise _bad(path, f"data_config.crop_pct must be a number from 0.1 to 1, not {crop_pct!r}")
    crop_mode = value.get("crop_mode") or "center"
    if crop_mode not in CROP_MODES:
        raise _bad(path, f"data_config.crop_mode must be one of {', '.join(CROP_MODES)}")
    return DataConfig(
        input_size=(3, size[1], size[2]),
        mean=mean,
        std=std,
        interpolation=interpolation,
        crop_pct=float(crop_pct),
        crop_mode=crop_mode,
    )


def check_weights_header(info: ModelInfo) -> dict[str, tuple[str, tuple[int, ...]]]:
    """Check ``weights.safetensors`` is a whole safetensors file; return name → (dtype, shape).

    Reads only the header (never unpickles): a pickle, a truncated file, or tensors that are not
    numbers are refused before torch sees the file.
    """
    path = owned_file(info.folder, WEIGHTS_FILE, what="weights")
    return read_safetensors_header(path)


def read_safetensors_header(path: Path) -> dict[str, tuple[str, tuple[int, ...]]]:
    """The tensors a ``.safetensors`` file holds (name → (dtype, shape)), checked for truncation."""
    size = os.stat(path).st_size
    fix = "It is damaged or not a safetensors file; use the file as it was saved."
    try:
        with open(path, "rb") as handle:
            head = handle.read(8)
            if len(head) < 8:
                raise ModelError(f"{path} is {size} bytes long, too short to hold weights. {fix}")
            (length,) = struct.unpack("<Q", head)
            if length > MAX_HEADER_BYTES or 8 + length > size:
                if head[:1] == b"\x80" or head[:4] == b"PK\x03\x04":  # pickle / torch.save zip
                    raise ModelError(
                        f"{path} is not a safetensors file: it looks like a pickle or a"
                        " torch.save archive renamed, and cnndesk never unpickles model files"
                        " (they can run code). Convert it to safetensors where it was made."
                    )
                raise ModelError(f"{path} is not a safetensors file (no valid header). {fix}")
            header = json.loads(handle.read(length).decode("utf-8"), parse_constant=_no_constants)
    except (UnicodeDecodeError, ValueError):
        raise ModelError(
            f"{path} is not a safetensors file (its header is not JSON). {fix}"
        ) from None
    except OSError as exc:
        raise ModelError(f"{path} cannot be read: {exc.strerror or exc}") from exc
    if not isinstance(header, dict):
        raise ModelError(f"{path} is not a safetensors file. {fix}")
    tensors: dict[str, tuple[str, tuple[int, ...]]] = {}
    end = 0
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        try:
            dtype = entry["dtype"]
            shape = tuple(int(n) for n in entry["shape"])
            start, stop = (int(n) for n in entry["data_offsets"])
        except (KeyError, TypeError, ValueError):
            raise ModelError(f"{path}: the tensor {name!r} is described wrongly. {fix}") from None
        if dtype not in _DTYPE_BYTES:
            raise ModelError(
                f"{path}: the tensor {name!r} holds {dtype} values, not numbers. {fix}"
            )
        expected = math.prod(shape) * _DTYPE_BYTES[dtype]
        if start < 0 or stop - start != expected:
            raise ModelError(f"{path}: the tensor {name!r} does not match its size. {fix}")
        end = max(end, stop)
        tensors[name] = (dtype, shape)
    if 8 + length + end > size:
        raise ModelError(
            f"{path} is truncated ({size} bytes; its header needs {8 + length + end}). {fix}"
        )
    return tensors


# ----------------------------------------------------------------- evaluation and runs


def per_class_metrics(
    classes: Sequence[str], confusion: Sequence[Sequence[int]]
) -> tuple[ClassMetrics, ...]:
    """Precision, recall, F1 and support of every class from ``confusion[true][predicted]``."""
    n = len(classes)
    metrics = []
    for i, name in enumerate(classes):
        tp = int(confusion[i][i])
        support = int(sum(confusion[i]))
        predicted_as = int(sum(confusion[r][i] for r in range(n)))
        precision = tp / predicted_as if predicted_as else 0.0
        recall = tp / support if support else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        metrics.append(ClassMetrics(name, precision, recall, f1, support))
    return tuple(metrics)


def evaluation_from_predictions(classes: list[str], rows: list[dict[str, Any]]) -> Evaluation:
    """An :class:`Evaluation` rebuilt from ``Library.predictions`` rows that know the true class."""
    index = {name: i for i, name in enumerate(classes)}
    n = len(classes)
    confusion = [[0] * n for _ in range(n)]
    predictions = []
    for row in rows:
        true, predicted = index.get(row.get("true_class")), index.get(row.get("class"))
        if true is None or predicted is None:
            continue
        confusion[true][predicted] += 1
        probabilities = row.get("probabilities") or {}
        predictions.append(
            SamplePrediction(
                path=str(row.get("path", "")),
                key="",
                image_id=row.get("image_id"),
                label=true,
                predicted=predicted,
                probabilities=tuple(float(probabilities.get(c, 0.0)) for c in classes),
                loss=float(row.get("loss") or 0.0),
            )
        )
    total = sum(map(sum, confusion))
    correct = sum(confusion[i][i] for i in range(n))
    losses = [p.loss for p in predictions]
    return Evaluation(
        split="",
        classes=tuple(classes),
        accuracy=correct / total if total else 0.0,
        loss=sum(losses) / len(losses) if losses else 0.0,
        per_class=per_class_metrics(classes, confusion),
        confusion=tuple(tuple(row) for row in confusion),
        predictions=tuple(predictions),
    )


def read_evaluation(model_dir: str | Path, library: Any = None) -> Evaluation | None:
    """The evaluation of a model folder: its ``evaluation.json``, else the ``library``'s stored
    predictions for that model (``None`` when there is neither).

    An ``evaluation.json`` is checked against the ``model.json`` beside it
    (:func:`cnndesk.evaluation_file.load_evaluation`): one that is damaged or was changed raises
    :class:`~cnndesk.evaluation_file.DamagedEvaluation` (a :class:`ModelError`) saying what is
    wrong, and a damaged ``model.json`` its own :class:`ModelError`; neither is shown as true."""
    folder = Path(model_dir)
    path = folder / EVALUATION_FILE
    if path.exists() or path.is_symlink():
        info = read_model_info(folder)
        return load_evaluation(owned_file(folder, EVALUATION_FILE, what="evaluation"), info.classes)
    if library is None:
        return None
    try:
        info = read_model_info(folder)
        rows = [r for r in library.predictions(model_path=str(folder)) if r.get("true_class")]
    except (OSError, ValueError, CnndeskError) as exc:
        log.warning("cannot read the evaluation of %s: %s", folder, exc)
        return None
    if not rows:
        return None
    return evaluation_from_predictions(list(info.classes), rows)


def latest_model_folder(library: Any) -> Path | None:
    """The newest run's model folder that still exists (what panes show when no model is
    current yet, e.g. right after the app starts)."""
    try:
        runs = library.runs()
    except Exception as exc:  # an unreadable library: the panes show their empty state
        log.warning("cannot read the library's runs: %s", exc)
        return None
    for run in reversed(runs):
        if run.model_path and (Path(run.model_path) / INFO_FILE).is_file():
            return Path(run.model_path)
    return None


def run_accuracy(run: RunRecord) -> tuple[float | None, str]:
    """The accuracy a run is best known by, and on which images (test before validation)."""
    metrics = run.metrics or {}
    summary = metrics.get("evaluation")
    if isinstance(summary, dict) and isinstance(summary.get("accuracy"), (int, float)):
        return float(summary["accuracy"]), str(summary.get("on") or "")
    for key, split in (("test_accuracy", "test"), ("evaluation_accuracy", ""), ("val_accuracy", "val")):  # fmt: skip
        value = metrics.get(key)
        if isinstance(value, (int, float)):
            return float(value), split or str(metrics.get("evaluation_split") or "")
    return None, ""


def run_evaluation_text(run: RunRecord) -> str:
    """One definition for every run: ``96.2 % [93.1–98.0] n=157 test+val`` (or ``—``)."""
    summary = (run.metrics or {}).get("evaluation")
    if isinstance(summary, dict) and isinstance(summary.get("images"), int):
        n = summary["images"]
        correct = summary.get("correct")
        if not isinstance(correct, int):
            correct = round(float(summary.get("accuracy") or 0.0) * n)
        return heldout.short(correct, n, str(summary.get("on", "")))
    accuracy, split = run_accuracy(run)
    if accuracy is None:
        return "—"
    percent = f"{100 * accuracy:.1f}%"
    return percent + (f" ({split}, n unknown)" if split else " (n unknown)")


def run_mode(run: RunRecord) -> str:
    """The mode a run really trained in (``simple-cnn`` always trains every layer)."""
    mode = (run.metrics or {}).get("mode") or (run.config or {}).get("mode") or ""
    if (run.config or {}).get("backbone") == SCRATCH_BACKBONE:
        return TrainMode.FULL.value
    return str(mode)


KEPT_HEAD_LABEL = "full, head kept"
KEPT_HEAD_MEANING = (
    "fine-tuning every layer did not beat the warm-up head, so the model is the pretrained"
    " backbone with that head"
)


def run_mode_label(run: RunRecord) -> str:
    """The runs tables' Mode cell: :func:`run_mode`, or :data:`KEPT_HEAD_LABEL` for a full run
    whose model is its warm-up head although fine-tuning ran (``best_stage`` "head" and
    ``epochs``, the fine-tuning epochs, above 0; a run stopped during its warm-up is "full")."""
    mode = run_mode(run)
    metrics = run.metrics or {}
    epochs = metrics.get("epochs")
    tuned = isinstance(epochs, int) and epochs > 0
    if mode == TrainMode.FULL.value and metrics.get("best_stage") == "head" and tuned:
        return KEPT_HEAD_LABEL
    return mode


def epoch_history(metrics: dict[str, Any]) -> tuple[EpochEnd, ...]:
    """The epochs a saved model was trained with (``model.json``'s ``metrics.history``), as the
    :class:`EpochEnd` events training emitted; entries that cannot be read are left out.

    The kept epoch is marked ``improved``: the one of ``metrics.best_stage`` (a full run's
    warm-up head when fine-tuning never beat it), else the last one with that number."""
    best = int(metrics.get("best_epoch") or 0)
    history = metrics.get("history") or []
    events = []
    for entry in history:
        try:
            events.append(EpochEnd.from_json(entry, epochs=len(history), best_epoch=best))
        except (KeyError, TypeError, ValueError, AttributeError):
            continue
    stage = metrics.get("best_stage")
    kept = [i for i, e in enumerate(events) if e.epoch == best and stage in (None, e.stage)]
    if kept:
        events[kept[-1]] = replace(events[kept[-1]], improved=True)
    return tuple(events)
