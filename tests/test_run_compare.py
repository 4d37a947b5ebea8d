"""Two runs side by side: both measured on the same held-out images, with what changed."""

from __future__ import annotations

import json

import pytest

from cnndesk.run_compare import compare_runs, describe


def preds(answers: dict[int, str]) -> list[dict]:
    return [{"image_id": i, "class": c} for i, c in answers.items()]


LABELS = {
    1: ("/p/1.jpg", "ant", "val"),
    2: ("/p/2.jpg", "ant", "test"),
    3: ("/p/3.jpg", "bee", "val"),
    4: ("/p/4.jpg", "bee", "test"),
    5: ("/p/5.jpg", "bee", "train"),  # trained on: never compared
    6: ("/p/6.jpg", "ant", "val"),  # predicted by the first run only: not comparable
}


def test_both_runs_are_measured_on_the_same_held_out_images() -> None:
    first = preds({1: "ant", 2: "bee", 3: "bee", 4: "ant", 5: "ant", 6: "ant"})
    second = preds({1: "ant", 2: "ant", 3: "ant", 4: "ant", 5: "bee"})
    c = compare_runs(
        first_run=1, second_run=2, first_predictions=first, second_predictions=second, labels=LABELS
    )
    assert c.images == 4  # 1-4: held out and predicted by both
    assert (c.first.correct, c.second.correct) == (2, 2)
    assert c.first.n == c.second.n == 4
    lo, hi = c.first.ci95
    assert lo < 0.5 < hi  # 2 of 4: the interval says how little that is
    assert c.per_class["ant"][0].correct == 1 and c.per_class["ant"][1].correct == 2
    assert c.per_class["bee"][0].correct == 1 and c.per_class["bee"][1].correct == 0
    verdicts = {x.path: x.verdict for x in c.changed}
    assert verdicts == {"/p/2.jpg": "fixed", "/p/3.jpg": "broken"}
    assert c.changed[0].verdict == "broken"  # what got worse comes first
    text = "\n".join(describe(c))
    assert "same 4 validation+test images" in text and "1 fixed, 1 broken" in text
    assert c.as_json()["second"]["ci95"] == pytest.approx(list(c.second.ci95))


def test_runs_without_common_held_out_images_say_so() -> None:
    c = compare_runs(
        first_run=3,
        second_run=4,
        first_predictions=preds({5: "bee"}),
        second_predictions=preds({5: "ant"}),
        labels=LABELS,
    )
    assert c.images == 0 and c.first.accuracy is None
    assert "no held-out" in describe(c)[0]


def two_run_library(tmp_path):  # type: ignore[no-untyped-def]
    """A small library (12 train, 6 val, 4 test photos) with two quick runs; its path."""
    from cnndesk.cli import main
    from tests.conftest import make_image

    root = tmp_path / "photos"
    for split, n in (("train", 6), ("val", 3), ("test", 2)):
        for name, colour in (("red", (220, 30, 30)), ("blue", (30, 30, 220))):
            for i in range(n):
                make_image(root / split / name / f"{i}.png", size=(40, 40), colour=colour)
    lib = tmp_path / "lib.cnndesk"
    assert main(["--library", str(lib), "import", str(root), "--classes-from-folders"]) == 0
    train = ["--library", str(lib), "train", "--backbone", "test_efficientnet", "--no-pretrained",
             "--image-size", "32", "--quiet"]  # fmt: skip
    assert main([*train, "--epochs", "1"]) == 0
    assert main([*train, "--epochs", "4"]) == 0
    return lib


def test_two_real_runs_compare_on_the_library_s_held_out_images(tmp_path, capsys) -> None:
    from cnndesk.cli import main
    from cnndesk.library import Library
    from cnndesk.run_compare import compare_library_runs

    lib = two_run_library(tmp_path)
    with Library.open(lib) as library:
        first, second = sorted(r.id for r in library.runs())
        c = compare_library_runs(library, first, second)
        with pytest.raises(Exception, match="no run 99"):
            compare_library_runs(library, first, 99)
    assert c.images == 10  # the 6 val + 4 test images, the same for both runs
    assert sum(a.n for a, _ in c.per_class.values()) == 10
    assert 0 <= c.first.correct <= 10 and 0 <= c.second.correct <= 10
    flips = sum(1 for x in c.changed if x.verdict != "both wrong")
    assert c.second.correct - c.first.correct == c.fixed - c.broken and flips <= len(c.changed)
    capsys.readouterr()
    assert main(["--library", str(lib), "runs", "--compare", str(first), str(second)]) == 0
    text = capsys.readouterr().out
    assert f"Run {first} vs run {second}, on the same 10 validation+test images" in text
    assert (
        main(["--library", str(lib), "runs", "--compare", str(first), str(second), "--json"]) == 0
    )
    shown = json.loads(capsys.readouterr().out)
    assert shown["images"] == 10 and shown["second"]["correct"] == c.second.correct
    assert main(["--library", str(lib), "runs", "--compare", str(first), "99"]) == 1
    assert "no run 99" in capsys.readouterr().err
