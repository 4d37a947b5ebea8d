"""Class names become folder names only in safe ways."""

from __future__ import annotations

from pathlib import Path

import pytest

from cnndesk import paths

NASTY = [
    "../../escaped",
    "..",
    ".",
    "/etc/passwd",
    "C:\\Windows",
    "con",
    "a/b",
    " spaced ",
    "ünïcødé 猫",
    "x" * 300,
    "what?*<>|",
]


@pytest.mark.parametrize("name", NASTY)
def test_safe_folder_name_is_one_harmless_component(name: str, tmp_path: Path) -> None:
    folder = paths.safe_folder_name(name)
    assert folder and "/" not in folder and "\\" not in folder
    assert folder not in {".", ".."} and not folder.startswith(".")
    assert len(folder.encode()) <= 100
    target = (tmp_path / folder).resolve()
    assert target.parent == tmp_path.resolve()


def test_unique_folder_names_never_collide_and_avoid_uncertain() -> None:
    names = ["cats", "Cats", "cats/", "_uncertain", "../cats"]
    folders = paths.unique_folder_names(names)
    assert len({f.casefold() for f in folders.values()}) == len(names)
    assert paths.UNCERTAIN_FOLDER not in folders.values()


def test_cnndesk_home_moves_every_folder(cnndesk_home: Path) -> None:
    assert paths.default_library_path().is_relative_to(cnndesk_home)
    assert paths.cache_dir().is_relative_to(cnndesk_home)
    assert paths.models_dir().is_relative_to(cnndesk_home)
