"""Tampered model folders and weights files: each is refused with one clear line, nothing runs.

Every case starts from a good model folder and breaks one thing, as a hostile or unlucky user
would: the description (``model.json``) or the weights. Loading must raise a
:class:`ModelError` whose message is one line; ``cnndesk predict`` must exit 1 with that line and
no traceback; and no pickle payload may run (its marker file must never appear).
"""

from __future__ import annotations

import json
import os
import pickle
import struct
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from cnndesk.cli import main
from cnndesk.domain import ModelError
from cnndesk.ml.model_io import build_model, load_model
from cnndesk.model_folder import read_model_info
from tests.conftest import make_image
from tests.model_folders import make_model_folder

MARKER = Path(os.environ.get("TMPDIR", "/tmp")) / "cnndesk-tampered-payload-ran"


class _Payload:
    """Unpickling this writes MARKER: the proof that a pickle was executed."""

    def __reduce__(self):
        return (open, (str(MARKER), "w"))


def _edit_json(change: Callable[[dict], None]) -> Callable[[Path], None]:
    def tamper(folder: Path) -> None:
        path = folder / "model.json"
        info = json.loads(path.read_text(encoding="utf-8"))
        change(info)
        path.write_text(json.dumps(info), encoding="utf-8")

    return tamper


def _set(*keys: str, value: object) -> Callable[[Path], None]:
    def change(info: dict) -> None:
        target = info
        for key in keys[:-1]:
            target = target[key]
        target[keys[-1]] = value

    return _edit_json(change)


def _drop(key: str) -> Callable[[Path], None]:
    return _edit_json(lambda info: info.pop(key))


def _write(text: str | bytes, name: str = "model.json") -> Callable[[Path], None]:
    def tamper(folder: Path) -> None:
        path = folder / name
        path.unlink()
        if isinstance(text, bytes):
            path.write_bytes(text)
        else:
            path.write_text(text, encoding="utf-8")

    return tamper


def _replace_text(old: str, new: str) -> Callable[[Path], None]:
    def tamper(folder: Path) -> None:
        path = folder / "model.json"
        text = path.read_text(encoding="utf-8")
        assert old in text
        path.write_text(text.replace(old, new, 1), encoding="utf-8")

    return tamper


def _huge(folder: Path) -> None:
    with open(folder / "model.json", "r+b") as handle:
        handle.truncate(200 << 20)  # sparse: 200 MiB long, takes no disk


def _nested(folder: Path) -> None:
    (folder / "model.json").write_text("[" * 100_000 + "]" * 100_000)


def _as_folder(name: str) -> Callable[[Path], None]:
    def tamper(folder: Path) -> None:
        (folder / name).unlink()
        (folder / name).mkdir()

    return tamper


def _as_fifo(name: str) -> Callable[[Path], None]:
    def tamper(folder: Path) -> None:
        (folder / name).unlink()
        os.mkfifo(folder / name)

    return tamper


def _link_outside(name: str) -> Callable[[Path], None]:
    def tamper(folder: Path) -> None:
        outside = folder.parent / f"outside-{name}"
        (folder / name).rename(outside)
        (folder / name).symlink_to(outside)

    return tamper


def _weights(change: Callable[[dict[str, torch.Tensor]], dict[str, torch.Tensor]]):
    def tamper(folder: Path) -> None:
        from safetensors.torch import load_file, save_file

        path = folder / "weights.safetensors"
        state = change(load_file(str(path)))
        path.unlink()
        save_file(state, str(path))

    return tamper


def _with_nan(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    name = next(k for k, v in state.items() if v.is_floating_point() and v.numel() > 4)
    state[name] = state[name].clone()
    state[name].view(-1)[3] = float("nan")
    return state


def _with_inf(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    name = next(k for k, v in state.items() if v.is_floating_point() and v.numel() > 4)
    state[name] = state[name].clone()
    state[name].view(-1)[0] = float("inf")
    return state


def _as_int(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k: (v * 100).to(torch.int32) if v.is_floating_point() else v for k, v in state.items()}


def _as_bool(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k: v > 0 if v.is_floating_point() else v for k, v in state.items()}


def _another_architecture(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return build_model("simple-cnn", 2).state_dict()


def _one_tensor_missing(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    state.pop(next(iter(state)))
    return state


def _one_tensor_extra(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    state["extra.weight"] = torch.zeros(3)
    return state


def _reshaped(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    name = next(k for k, v in state.items() if v.dim() == 4)
    state[name] = state[name].reshape(state[name].shape[0], -1, 1, 1).contiguous()
    return state


def _truncate(fraction: float) -> Callable[[Path], None]:
    def tamper(folder: Path) -> None:
        path = folder / "weights.safetensors"
        data = path.read_bytes()
        path.write_bytes(data[: int(len(data) * fraction)])

    return tamper


def _pickle_as_safetensors(folder: Path) -> None:
    (folder / "weights.safetensors").write_bytes(pickle.dumps({"state": _Payload()}))


def _torch_save_as_safetensors(folder: Path) -> None:
    torch.save({"conv.weight": _Payload()}, folder / "weights.safetensors")


def _bogus_header_length(folder: Path) -> None:
    path = folder / "weights.safetensors"
    data = path.read_bytes()
    path.write_bytes(struct.pack("<Q", 1 << 40) + data[8:])


def _header_not_json(folder: Path) -> None:
    body = b"{not json at all" + b" " * 16
    (folder / "weights.safetensors").write_bytes(struct.pack("<Q", len(body)) + body)


def _header_unknown_dtype(folder: Path) -> None:
    header = json.dumps({"a": {"dtype": "PICKLE", "shape": [2], "data_offsets": [0, 8]}}).encode()
    (folder / "weights.safetensors").write_bytes(struct.pack("<Q", len(header)) + header + bytes(8))


def _checkpoint_path_kwarg(folder: Path) -> None:
    evil = folder.parent / "evil.pth"
    torch.save({"state_dict": _Payload()}, evil)
    _set("model_kwargs", value={"checkpoint_path": str(evil)})(folder)


CASES: dict[str, tuple[Callable[[Path], None], str]] = {
    # model.json: the format and its version
    "format_version is a string": (_set("format_version", value="1"), "whole number"),
    "format_version is 1.5": (_set("format_version", value=1.5), "whole number"),
    "format_version is true": (_set("format_version", value=True), "whole number"),
    "format_version is 0": (_set("format_version", value=0), "does not exist"),
    "format_version is -1": (_set("format_version", value=-1), "does not exist"),
    "format_version is newer": (_set("format_version", value=99), "newer cnndesk"),
    "format is missing": (_drop("format"), '"format": "cnndesk-model"'),
    "format is another program's": (_set("format", value="keras"), "cnndesk-model"),
    "top level is a list": (_write("[1, 2, 3]"), "cnndesk-model"),
    # model.json: required keys and their types
    "backbone is missing": (_drop("backbone"), "lacks backbone"),
    "classes are missing": (_drop("classes"), "lacks classes"),
    "data_config is missing": (_drop("data_config"), "lacks data_config"),
    "backbone is a number": (_set("backbone", value=42), "backbone must be"),
    "backbone is empty": (_set("backbone", value=""), "backbone must be"),
    "backbone has an escape": (_set("backbone", value="x\x1b[2J"), "control characters"),
    "backbone is unknown": (_set("backbone", value="no_such_network"), "unknown backbone"),
    "classes is a string": (_set("classes", value="ab"), "list of names"),
    "classes is empty": (_set("classes", value=[]), "at least 2 classes"),
    "one class only": (_set("classes", value=["ants"]), "at least 2 classes"),
    "a class twice": (_set("classes", value=["ants", "ants"]), "listed twice"),
    "an empty class name": (_set("classes", value=["ants", " "]), "non-empty name"),
    "a class name is a number": (_set("classes", value=["ants", 3]), "non-empty name"),
    "a class name has an escape": (_set("classes", value=["ants", "b\x1b[31m"]), "control"),
    "a class name is 250 characters": (_set("classes", value=["ants", "b" * 250]), "longer"),
    "more classes than the head": (_set("classes", value=["a", "b", "c"]), "2 outputs"),
    "data_config is a list": (_set("data_config", value=[3, 64, 64]), "must be an object"),
    "input_size [3, 0, 0]": (_set("data_config", "input_size", value=[3, 0, 0]), "input_size"),
    "input_size negative": (_set("data_config", "input_size", value=[3, -5, 64]), "input_size"),
    "input_size one channel": (_set("data_config", "input_size", value=[1, 64, 64]), "[3,"),
    "input_size a string": (_set("data_config", "input_size", value="224"), "input_size"),
    "input_size fractional": (_set("data_config", "input_size", value=[3, 64.5, 64]), "input"),
    "input_size enormous": (_set("data_config", "input_size", value=[3, 10**6, 10**6]), "8..4096"),
    "mean of two numbers": (_set("data_config", "mean", value=[0.5, 0.5]), "3 finite numbers"),
    "mean is missing": (_edit_json(lambda i: i["data_config"].pop("mean")), "mean must be 3"),
    "std is zero": (_set("data_config", "std", value=[0, 0, 0]), "above 0"),
    "std is negative": (_set("data_config", "std", value=[0.2, -0.2, 0.2]), "above 0"),
    "std has a string": (_set("data_config", "std", value=["a", 1, 1]), "3 finite numbers"),
    "interpolation unknown": (_set("data_config", "interpolation", value="evil"), "bicubic"),
    "crop_pct zero": (_set("data_config", "crop_pct", value=0), "crop_pct"),
    "crop_pct five": (_set("data_config", "crop_pct", value=5), "crop_pct"),
    "crop_mode unknown": (_set("data_config", "crop_mode", value="zoom"), "crop_mode"),
    "model_kwargs checkpoint_path": (_checkpoint_path_kwarg, "may only hold"),
    "model_kwargs not an object": (_set("model_kwargs", value=[1]), "must be an object"),
    "metrics is a list": (_set("metrics", value=[1, 2]), "metrics must be"),
    "dataset is a string": (_set("dataset", value="all"), "dataset must be"),
    # model.json: the bytes themselves
    "JSON with NaN": (_replace_text('"std": [', '"std": [NaN, '), "not valid JSON"),
    "JSON with Infinity": (_replace_text('"mean": [', '"mean": [Infinity, '), "not valid JSON"),
    "not UTF-8": (_write(b'{"format": "cnndesk-model", "backbone": "\xff\xfe"}'), "not UTF-8"),
    "not JSON (cut short)": (_write('{"format": "cnndesk-model", "backbone": '), "valid JSON"),
    "empty model.json": (_write(""), "not valid JSON"),
    "huge model.json": (_huge, "MiB"),
    "deeply nested JSON": (_nested, "model description"),
    "model.json is a folder": (_as_folder("model.json"), "not a regular file"),
    "model.json is a FIFO": (_as_fifo("model.json"), "not a regular file"),
    "model.json links outside": (_link_outside("model.json"), "outside the model folder"),
    "model.json is missing": (lambda f: (f / "model.json").unlink(), "no model.json"),
    # the weights file
    "weights missing": (lambda f: (f / "weights.safetensors").unlink(), "no weights.safetensors"),
    "weights empty": (_truncate(0.0), "too short"),
    "weights truncated to half": (_truncate(0.5), "truncated"),
    "weights missing the last byte": (_truncate(0.99999), "truncated"),
    "weights header length bogus": (_bogus_header_length, "not a safetensors file"),
    "weights header not JSON": (_header_not_json, "not a safetensors file"),
    "weights header unknown dtype": (_header_unknown_dtype, "not numbers"),
    "pickle renamed .safetensors": (_pickle_as_safetensors, "never unpickles"),
    "torch.save renamed .safetensors": (_torch_save_as_safetensors, "never unpickles"),
    "weights are integers": (_weights(_as_int), "I32 values"),
    "weights are booleans": (_weights(_as_bool), "BOOL values"),
    "weights hold NaN": (_weights(_with_nan), "NaN or infinite"),
    "weights hold infinity": (_weights(_with_inf), "NaN or infinite"),
    "weights of another architecture": (_weights(_another_architecture), "do not fit"),
    "weights lack a tensor": (_weights(_one_tensor_missing), "1 tensors missing"),
    "weights have an extra tensor": (_weights(_one_tensor_extra), "1 unexpected"),
    "weights reshaped": (_weights(_reshaped), "has shape"),
    "weights link outside": (_link_outside("weights.safetensors"), "outside the model folder"),
    "weights are a folder": (_as_folder("weights.safetensors"), "not a regular file"),
    "weights are a FIFO": (_as_fifo("weights.safetensors"), "not a regular file"),
}


@pytest.fixture(scope="module")
def good_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_model_folder(tmp_path_factory.mktemp("good") / "model", classes=("ants", "bees"))


@pytest.fixture
def tampered(request: pytest.FixtureRequest, good_model: Path, tmp_path: Path) -> Path:
    import shutil

    folder = tmp_path / "model"
    shutil.copytree(good_model, folder)
    tamper, _ = CASES[request.param]
    MARKER.unlink(missing_ok=True)
    tamper(folder)
    return folder


def test_the_corpus_is_big_enough() -> None:
    assert len(CASES) >= 25


def test_the_good_model_loads(good_model: Path) -> None:
    model, info = load_model(good_model)
    assert info["classes"] == ["ants", "bees"]
    assert model(torch.zeros(1, 3, 64, 64)).shape == (1, 2)
    assert read_model_info(good_model).data_config.input_size == (3, 64, 64)


@pytest.mark.parametrize("tampered", list(CASES), indirect=True)
def test_tampered_model_is_refused_with_one_clear_line(
    tampered: Path, request: pytest.FixtureRequest
) -> None:
    _, expected = CASES[request.node.callspec.params["tampered"]]
    with pytest.raises(ModelError) as caught:
        load_model(tampered)
    message = str(caught.value)
    assert expected in message
    assert "\n" not in message
    assert not MARKER.exists(), "a pickle payload ran"


@pytest.mark.parametrize("tampered", list(CASES), indirect=True)
def test_predict_refuses_a_tampered_model_without_a_traceback(
    tampered: Path, request: pytest.FixtureRequest, tmp_path: Path, capsys
) -> None:
    _, expected = CASES[request.node.callspec.params["tampered"]]
    image = make_image(tmp_path / "photo.jpg")
    code = main(["predict", str(tampered), str(image)])
    captured = capsys.readouterr()
    assert code == 1
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("cnndesk: "), captured.err
    assert expected in lines[0]
    assert "unexpected error" not in captured.err and "Traceback" not in captured.err
    assert not MARKER.exists(), "a pickle payload ran"


def test_std_zero_no_longer_prints_nan_percent(good_model: Path, tmp_path: Path, capsys) -> None:
    import shutil

    folder = tmp_path / "model"
    shutil.copytree(good_model, folder)
    _set("data_config", "std", value=[0, 0, 0])(folder)
    code = main(["predict", str(folder), str(make_image(tmp_path / "p.jpg"))])
    captured = capsys.readouterr()
    assert code == 1 and "nan%" not in captured.out
    assert "std must be above 0" in captured.err


def test_the_gui_reads_class_names_through_the_same_checks(good_model: Path, tmp_path) -> None:
    import shutil

    from cnndesk.gui.prediction_pane import model_classes

    assert model_classes(good_model) == ["ants", "bees"]
    folder = tmp_path / "model"
    shutil.copytree(good_model, folder)
    _set("classes", value=["ants", "b\x1b[31m"])(folder)
    assert model_classes(folder) == []


@pytest.mark.parametrize("tampered", list(CASES), indirect=True)
def test_evaluate_refuses_a_tampered_model_in_one_line(tampered: Path, capsys) -> None:
    code = main(["evaluate", str(tampered)])
    captured = capsys.readouterr()
    assert code == 1
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("cnndesk: "), captured.err
    assert "unexpected error" not in captured.err and "Traceback" not in captured.err
