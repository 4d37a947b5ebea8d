"""Two training runs side by side, on the same images: overall, per class, and what changed.

Runs are only comparable on the same images, so :func:`compare_runs` measures both on the images
that neither run trained on and both have a stored prediction for: the library's validation and
test images (an image keeps its split for life, so no run ever trained on them), labeled as they
are *now* (a label fixed since a run counts against that run too). Every accuracy comes with its
count and a Wilson 95 % interval (:mod:`cnndesk.heldout`), and the images whose answer changed
are listed, the ones where one run is right and the other wrong first.

Standard library only: the CLI (``cnndesk runs --compare A B``) and the GUI use it without torch.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from cnndesk.heldout import wilson

HELD_OUT_SPLITS = frozenset({"val", "test"})
"""The splits no run trains on: both runs are measured on these images."""


@dataclass(frozen=True, slots=True)
class Score:
    """Right answers out of ``n`` images, with the Wilson 95 % interval."""

    correct: int
    n: int

    @property
    def accuracy(self) -> float | None:
        return self.correct / self.n if self.n else None

    @property
    def ci95(self) -> tuple[float, float] | None:
        return wilson(self.correct, self.n) if self.n else None

    def as_json(self) -> dict[str, Any]:
        ci = self.ci95
        return {
            "correct": self.correct,
            "images": self.n,
            "accuracy": self.accuracy,
            "ci95": list(ci) if ci else None,
        }


@dataclass(frozen=True, slots=True)
class ChangedAnswer:
    """One image the two runs answer differently."""

    image_id: int
    path: str
    label: str
    first: str
    second: str

    @property
    def verdict(self) -> str:
        """``"fixed"`` (the second run is right, the first was wrong), ``"broken"`` (the other
        way round) or ``"both wrong"``."""
        if self.second == self.label:
            return "fixed"
        if self.first == self.label:
            return "broken"
        return "both wrong"

    def as_json(self) -> dict[str, Any]:
        return {
            "file": self.path,
            "label": self.label,
            "first": self.first,
            "second": self.second,
            "verdict": self.verdict,
        }


@dataclass(frozen=True, slots=True)
class RunComparison:
    """:func:`compare_runs`' answer: both runs on the same images."""

    first_run: int
    second_run: int
    images: int
    """How many images both are measured on (labeled, held out, predicted by both)."""
    first: Score
    second: Score
    per_class: dict[str, tuple[Score, Score]] = field(default_factory=dict)
    changed: tuple[ChangedAnswer, ...] = ()

    @property
    def fixed(self) -> int:
        return sum(1 for c in self.changed if c.verdict == "fixed")

    @property
    def broken(self) -> int:
        return sum(1 for c in self.changed if c.verdict == "broken")

    def as_json(self) -> dict[str, Any]:
        return {
            "runs": [self.first_run, self.second_run],
            "on": "val+test images labeled now, predicted by both runs",
            "images": self.images,
            "first": self.first.as_json(),
            "second": self.second.as_json(),
            "per_class": {
                name: {"first": a.as_json(), "second": b.as_json()}
                for name, (a, b) in self.per_class.items()
            },
            "fixed": self.fixed,
            "broken": self.broken,
            "changed": [c.as_json() for c in self.changed],
        }


def _answers(predictions: Iterable[Mapping[str, Any]]) -> dict[int, str]:
    """image id → the class a run answered (its top class)."""
    return {int(p["image_id"]): str(p["class"]) for p in predictions if p.get("class") is not None}


def compare_runs(
    *,
    first_run: int,
    second_run: int,
    first_predictions: Iterable[Mapping[str, Any]],
    second_predictions: Iterable[Mapping[str, Any]],
    labels: Mapping[int, tuple[str, str, str]],
) -> RunComparison:
    """Measure two runs on the same held-out images.

    ``*_predictions`` are the runs' stored predictions (dicts with ``image_id`` and ``class``, as
    :meth:`Library.predictions` returns them); ``labels`` maps image id → ``(path, class name,
    split)`` for every labeled image of the library now.
    """
    a, b = _answers(first_predictions), _answers(second_predictions)
    common = sorted(
        i for i, (_, _, split) in labels.items() if split in HELD_OUT_SPLITS and i in a and i in b
    )
    tallies: dict[str, list[int]] = {}
    changed: list[ChangedAnswer] = []
    right_a = right_b = 0
    for image_id in common:
        path, label, _ = labels[image_id]
        ok_a, ok_b = a[image_id] == label, b[image_id] == label
        right_a += ok_a
        right_b += ok_b
        tally = tallies.setdefault(label, [0, 0, 0])
        tally[0] += ok_a
        tally[1] += ok_b
        tally[2] += 1
        if a[image_id] != b[image_id]:
            changed.append(ChangedAnswer(image_id, path, label, a[image_id], b[image_id]))
    order = {"broken": 0, "fixed": 1, "both wrong": 2}
    changed.sort(key=lambda c: (order[c.verdict], c.path))
    return RunComparison(
        first_run=first_run,
        second_run=second_run,
        images=len(common),
        first=Score(right_a, len(common)),
        second=Score(right_b, len(common)),
        per_class={
            name: (Score(t[0], t[2]), Score(t[1], t[2])) for name, t in sorted(tallies.items())
        },
        changed=tuple(changed),
    )


def describe(comparison: RunComparison) -> list[str]:
    """The comparison in lines of text, as ``cnndesk runs --compare`` prints it."""
    from cnndesk.heldout import percent

    c = comparison
    if not c.images:
        return [
            f"Runs {c.first_run} and {c.second_run} have no held-out (validation or test) image"
            " that both predicted: train both on this library, then compare."
        ]

    def cell(score: Score) -> str:
        lo, hi = score.ci95 or (0.0, 0.0)
        return f"{percent(score.accuracy or 0.0)} ({percent(lo)}–{percent(hi)})"

    lines = [
        f"Run {c.first_run} vs run {c.second_run}, on the same {c.images} validation+test images"
        " (labels as they are now; 95 % intervals):",
        f"  overall   {cell(c.first):>24}  {cell(c.second):>24}",
    ]
    for name, (a, b) in c.per_class.items():
        lines.append(f"  {name[:9]:<9} {cell(a):>24}  {cell(b):>24}   n={a.n}")
    lines.append(
        f"{len(c.changed)} images changed their answer: {c.fixed} fixed, {c.broken} broken,"
        f" {len(c.changed) - c.fixed - c.broken} wrong in both."
    )
    for item in c.changed[:20]:
        lines.append(
            f"  {item.verdict:<10} {item.path}: {item.label} — {item.first} → {item.second}"
        )
    if len(c.changed) > 20:
        lines.append(f"  … and {len(c.changed) - 20} more (--json lists all)")
    return lines


def compare_library_runs(library: Any, first_run: int, second_run: int) -> RunComparison:
    """:func:`compare_runs` for two runs of ``library`` (a :class:`~cnndesk.library.Library`),
    with its labels as they are now. Raises :class:`~cnndesk.domain.LibraryError` for a run id
    the library does not have."""
    for run_id in (first_run, second_run):
        library.run(run_id)  # a clear LibraryError for an unknown run
    names = {c.id: c.name for c in library.classes()}
    labels = {
        r.id: (r.path, names[r.class_id], str(getattr(r.split, "value", r.split)))
        for r in library.images()
        if r.class_id is not None and r.class_id in names
    }
    return compare_runs(
        first_run=first_run,
        second_run=second_run,
        first_predictions=library.predictions(run_id=first_run),
        second_predictions=library.predictions(run_id=second_run),
        labels=labels,
    )
