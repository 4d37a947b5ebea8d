"""The predictor: every class, sorted, summing to one, preprocessed exactly as the model says;
batch classification keeps going past unreadable files and stops cleanly when cancelled."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
import torch

from cnndesk.domain import ClassifyProgress, ImageError
from cnndesk.jobs import drive
from cnndesk.ml.model_io import load_model
from cnndesk.ml.predict import Predictor
from cnndesk.ml.preprocess import load_for_model
from tests.conftest import make_image
from tests.model_folders import make_model_folder

CLASSES = ("ants", "bees", "wasps")


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_model_folder(tmp_path_factory.mktemp("model") / "m", classes=CLASSES)


@pytest.fixture(scope="module")
def predictor(model_dir: Path) -> Predictor:
    return Predictor(model_dir, device="cpu")


@pytest.fixture(scope="module", params=["default", "torch"])
def batch_predictor(request: pytest.FixtureRequest, model_dir: Path) -> Predictor:
    """Both ways of running batches: a runtime taking a whole batch per core (OpenVINO, on a
    machine with more than one core), and PyTorch with decoding threads ahead of it."""
    if request.param == "default":
        return Predictor(model_dir, device="cpu", threads=2)
    return Predictor(model_dir, device="cpu", backend="torch")


@pytest.fixture
def images(tmp_path: Path) -> list[Path]:
    sizes = [(64, 48), (300, 200), (40, 90), (1200, 900), (64, 64)]
    out = [
        make_image(tmp_path / f"img{i}.jpg", size=s, colour=(40 * i, 200 - 30 * i, 90))
        for i, s in enumerate(sizes)
    ]
    out.append(make_image(tmp_path / "pic.png", size=(80, 60), colour=(10, 220, 10)))
    return out


def test_predict_gives_every_class_sorted_summing_to_one(predictor: Predictor, images) -> None:
    prediction = predictor.predict(images[1])
    assert sorted(s.name for s in prediction.top) == sorted(CLASSES)
    ps = [s.p for s in prediction.top]
    assert ps == sorted(ps, reverse=True)
    assert sum(ps) == pytest.approx(1.0, abs=1e-5)
    assert prediction.label == prediction.top[0].name and prediction.confidence == ps[0]


def test_predict_uses_the_preprocessing_saved_with_the_model(
    predictor: Predictor, model_dir: Path, images
) -> None:
    model, info = load_model(model_dir)
    for path in images[:4]:
        with torch.no_grad():
            expected = torch.softmax(model(load_for_model(path, info["data_config"])[None]), 1)[0]
        got = {s.name: s.p for s in predictor.predict(path).top}
        for i, name in enumerate(CLASSES):
            assert got[name] == pytest.approx(expected[i].item(), abs=1e-5)


def test_unreadable_file_raises_for_one_image(predictor: Predictor, tmp_path: Path) -> None:
    bad = tmp_path / "notes.jpg"
    bad.write_text("not a picture")
    with pytest.raises(ImageError, match=r"notes\.jpg"):
        predictor.predict(bad)


def test_batch_keeps_order_and_reports_unreadable_files(
    batch_predictor: Predictor, predictor: Predictor, images, tmp_path: Path
) -> None:
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    text = tmp_path / "text.png"
    text.write_text("hello")
    truncated = tmp_path / "cut.jpg"
    truncated.write_bytes(images[3].read_bytes()[:300])
    missing = tmp_path / "gone.jpg"
    files = [images[0], empty, *images[1:3], text, truncated, missing, *images[3:]]

    gen = batch_predictor.classify(files, batch_size=2, workers=2)
    events: list = []
    result = drive(gen, events.append)

    assert [p.file for p in result.predictions] == [str(f) for f in files]
    bad = {Path(p.file).name: p.error for p in result.unreadable}
    assert set(bad) == {"empty.jpg", "text.png", "cut.jpg", "gone.jpg"}
    assert all(reason for reason in bad.values())
    assert all(isinstance(e, ClassifyProgress) for e in events)
    assert [e.done for e in events] == sorted(e.done for e in events)
    assert events[-1].done == len(files) and events[-1].unreadable == 4
    # Batched answers are the single-image answers.
    for path in images:
        single = predictor.predict(path)
        batched = next(p for p in result.predictions if p.file == str(path))
        assert batched.label == single.label
        assert batched.confidence == pytest.approx(single.confidence, abs=1e-5)
        assert sum(s.p for s in batched.top) == pytest.approx(1.0, abs=1e-5)


def test_closing_the_batch_stops_its_threads(batch_predictor: Predictor, images) -> None:
    gen = batch_predictor.classify(images * 20, batch_size=4)
    next(gen)
    next(gen)
    # A runtime takes whole batches on its own threads; PyTorch has decoding threads.
    kind = "decode" if batch_predictor.backend == "torch" else "classify"
    assert [t for t in threading.enumerate() if t.name.startswith(f"cnndesk-{kind}")]
    gen.close()
    assert not [t for t in threading.enumerate() if t.name.startswith("cnndesk-")]


@pytest.mark.parametrize("backbone", ["test_efficientnet", "test_resnet", "simple-cnn"])
def test_folding_batch_norms_keeps_the_answers(backbone: str) -> None:
    from cnndesk.ml.model_io import build_model
    from cnndesk.ml.predict import fold_batchnorm

    torch.manual_seed(0)
    model = build_model(backbone, 4).eval()
    for m in model.modules():  # non-trivial statistics, as after training
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
    x = torch.randn(3, 3, 64, 64)
    with torch.no_grad():
        before = torch.softmax(model(x), 1)
        folded = fold_batchnorm(model)
        after = torch.softmax(model(x), 1)
    has_bn = any(isinstance(m, torch.nn.BatchNorm2d) for m in build_model(backbone, 4).modules())
    assert (folded > 0) == has_bn
    assert torch.allclose(before, after, atol=1e-5)


def test_bf16_on_the_cpu_is_an_option_and_fp16_is_refused(model_dir: Path, images) -> None:
    from cnndesk.domain import ModelError

    fast = Predictor(model_dir, device="cpu", precision="bf16")
    exact = Predictor(model_dir, device="cpu")
    assert (fast.precision, exact.precision) == ("bf16", "fp32")
    for path in images[:3]:
        a, b = fast.predict(path), exact.predict(path)
        assert sum(s.p for s in a.top) == pytest.approx(1.0, abs=1e-5)
        got = {s.name: s.p for s in a.top}
        assert all(abs(got[s.name] - s.p) < 0.05 for s in b.top)
    with pytest.raises(ModelError, match="fp16 is for CUDA"):
        Predictor(model_dir, device="cpu", precision="fp16")
    with pytest.raises(ModelError, match="Unknown precision"):
        Predictor(model_dir, device="cpu", precision="int4")
