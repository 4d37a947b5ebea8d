"""``--weights FILE`` must fit the backbone: a file for another architecture, a pickle in
disguise, or a partial state dict is refused by name and numbers, never trained on silently."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from cnndesk.cli import main
from cnndesk.domain import ModelError
from cnndesk.ml.model_io import build_model
from cnndesk.ml.weights import create_backbone
from tests.conftest import LITE0_WEIGHTS, result_of

MARKER_NAME = "payload-ran"


class _Payload:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def _backbone(name: str, file: Path):
    return result_of(create_backbone(name, 3, weights_file=file))


def test_weights_of_another_architecture_are_refused_with_the_numbers(tmp_path: Path) -> None:
    file = tmp_path / "simple.safetensors"
    save_file(build_model("simple-cnn", 2).state_dict(), str(file))
    with pytest.raises(ModelError) as caught:
        _backbone("test_efficientnet", file)
    message = str(caught.value)
    assert str(file) in message and "test_efficientnet" in message
    assert "fill 0 of" in message and "another architecture" in message


def test_a_file_filling_less_than_90_percent_is_refused(tmp_path: Path) -> None:
    state = build_model("test_efficientnet", 1000).state_dict()
    names = [k for k in state if not k.startswith("classifier")]
    partial = {k: v for k, v in state.items() if k not in names[: len(names) // 5]}
    file = tmp_path / "partial.safetensors"
    save_file(partial, str(file))
    with pytest.raises(ModelError, match=r"fill \d+ of \d+ tensors of test_efficientnet"):
        _backbone("test_efficientnet", file)


def test_matching_names_with_other_shapes_do_not_count(tmp_path: Path) -> None:
    state = build_model("test_efficientnet", 1000).state_dict()
    reshaped = {k: v.reshape(-1).contiguous() if v.dim() > 1 else v for k, v in state.items()}
    file = tmp_path / "flat.safetensors"
    save_file(reshaped, str(file))
    with pytest.raises(ModelError, match="do not fit test_efficientnet"):
        _backbone("test_efficientnet", file)


def test_a_fitting_file_loads_every_backbone_tensor_and_keeps_the_new_head(tmp_path: Path) -> None:
    torch.manual_seed(5)
    source = build_model("test_efficientnet", 1000)
    file = tmp_path / "weights.pth"
    torch.save({"state_dict": source.state_dict()}, file)  # a plain checkpoint, weights_only-safe
    backbone = _backbone("test_efficientnet", file)
    loaded = backbone.model.state_dict()
    assert torch.equal(loaded["conv_stem.weight"], source.state_dict()["conv_stem.weight"])
    assert loaded["classifier.weight"].shape[0] == 3  # the library's classes, not ImageNet's
    assert backbone.pretrained and str(file) in backbone.source


@pytest.mark.slow
def test_the_real_lite0_weights_load_exactly_as_timm_loads_them() -> None:
    import timm

    if not LITE0_WEIGHTS.is_file():
        pytest.skip(f"{LITE0_WEIGHTS} is not on this machine")
    ours = _backbone("tf_efficientnet_lite0", LITE0_WEIGHTS).model.eval()
    theirs = timm.create_model(
        "tf_efficientnet_lite0",
        pretrained=True,
        pretrained_cfg_overlay={"file": str(LITE0_WEIGHTS)},
        num_classes=3,
    ).eval()
    x = torch.randn(1, 3, 224, 224)
    with torch.no_grad():
        assert torch.equal(ours.forward_features(x), theirs.forward_features(x))


@pytest.mark.parametrize("suffix", [".safetensors", ".pt", ".pth"])
def test_a_pickle_payload_never_runs(tmp_path: Path, suffix: str) -> None:
    marker = tmp_path / MARKER_NAME
    file = tmp_path / f"evil{suffix}"
    if suffix == ".safetensors":
        file.write_bytes(pickle.dumps({"w": _Payload(marker)}))
    else:
        torch.save({"w": _Payload(marker)}, file)
    with pytest.raises(ModelError, match="safetensors"):
        _backbone("test_efficientnet", file)
    assert not marker.exists()


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("weights.txt", b"hello", "not a weights file cnndesk reads"),
        ("empty.safetensors", b"", "too short"),
        ("cut.pth", b"PK\x03\x04 not really", "cannot be read as weights"),
        ("list.pt", None, "holds no state dict"),
    ],
)
def test_unreadable_weight_files_get_one_clear_line(
    tmp_path: Path, name: str, content: bytes | None, expected: str
) -> None:
    file = tmp_path / name
    if content is None:
        torch.save([torch.zeros(2)], file)
    else:
        file.write_bytes(content)
    with pytest.raises(ModelError) as caught:
        _backbone("test_efficientnet", file)
    assert expected in str(caught.value) and "\n" not in str(caught.value)


def test_train_with_weights_for_another_architecture_exits_cleanly(tmp_path: Path, capsys) -> None:
    from tests.conftest import make_image

    library = tmp_path / "lib.cnndesk"
    for cls, colour in (("red", (220, 20, 20)), ("blue", (20, 20, 220))):
        for i in range(4):
            make_image(tmp_path / "photos" / cls / f"{i}.png", colour=colour)
    assert main(["--library", str(library), "import", str(tmp_path / "photos"),
                 "--classes-from-folders"]) == 0  # fmt: skip
    file = tmp_path / "simple.safetensors"
    save_file(build_model("simple-cnn", 2).state_dict(), str(file))
    capsys.readouterr()
    code = main(["--library", str(library), "train", "--backbone", "test_efficientnet",
                 "--weights", str(file), "--image-size", "64", "--epochs", "1"])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 1
    assert "fill 0 of" in err and "Traceback" not in err and "unexpected" not in err
    assert main(["--library", str(library), "runs", "--json"]) == 0
    import json

    runs = json.loads(capsys.readouterr().out)
    assert [r["status"] for r in runs] == ["failed"]  # no "done" run from a random backbone


def test_a_file_covering_most_tensors_loads_what_fits(tmp_path: Path) -> None:
    torch.manual_seed(9)
    state = build_model("test_efficientnet", 1000).state_dict()
    odd = next(k for k, v in state.items() if v.dim() == 4 and k != "conv_stem.weight")
    file = tmp_path / "mostly.safetensors"
    save_file({**state, odd: state[odd].reshape(-1).contiguous()}, str(file))
    model = _backbone("test_efficientnet", file).model
    assert torch.equal(model.state_dict()["conv_stem.weight"], state["conv_stem.weight"])
    assert model.state_dict()[odd].shape == state[odd].shape  # left as built, not reshaped
