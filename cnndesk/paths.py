"""Where cnndesk keeps things on disk, and how a class name safely becomes a folder name.

The base folders come from platformdirs; ``CNNDESK_HOME`` replaces all of them with one folder
(tests, portable installs): ``$CNNDESK_HOME/data`` and ``$CNNDESK_HOME/cache``.
"""

from __future__ import annotations

import os
import re
import unicodedata
from pathlib import Path

APP_NAME = "cnndesk"
LIBRARY_SUFFIX = ".cnndesk"

_WINDOWS_RESERVED = {
    "CON",
    "PRN",
    "AUX",
    "NUL",
    *(f"COM{i}" for i in (*range(1, 10), "¹", "²", "³")),
    *(f"LPT{i}" for i in (*range(1, 10), "¹", "²", "³")),
    "CONIN$",
    "CONOUT$",
}
# Reserved on some OS, or invisible/confusing: C0 and C1 controls, line and paragraph separators,
# direction overrides, and lone surrogates (bytes that were not UTF-8 in a folder name).
_UNSAFE_CHARS = re.compile(
    '[\x00-\x1f\x7f-\x9f<>:"/\\\\|?*\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069\ud800-\udfff]'
)


def home_override() -> Path | None:
    """The ``CNNDESK_HOME`` folder, when set."""
    value = os.environ.get("CNNDESK_HOME")
    return Path(value).expanduser() if value else None


def _app_dir(kind: str) -> Path:
    """``CNNDESK_HOME/<kind>`` when that is set, else the platform's user folder of that kind
    (``kind`` is ``"data"`` or ``"cache"``); created if missing."""
    home = home_override()
    if home is not None:
        path = home / kind
    else:
        import platformdirs

        where = platformdirs.user_data_dir if kind == "data" else platformdirs.user_cache_dir
        path = Path(where(APP_NAME, appauthor=False))
    path.mkdir(parents=True, exist_ok=True)
    return path


def data_dir() -> Path:
    """Folder for user data: the default library, trained models."""
    return _app_dir("data")


def cache_dir() -> Path:
    """Folder for caches (thumbnails, decoded pixels, features); anything in it may be deleted."""
    return _app_dir("cache")


def default_library_path() -> Path:
    """The embedded default library every fresh start opens."""
    return data_dir() / f"default{LIBRARY_SUFFIX}"


def models_dir() -> Path:
    """Where trained model folders go unless the user picks another place."""
    path = data_dir() / "models"
    path.mkdir(parents=True, exist_ok=True)
    return path


def thumbnails_dir() -> Path:
    path = cache_dir() / "thumbnails"
    path.mkdir(parents=True, exist_ok=True)
    return path


def safe_folder_name(name: str, *, max_length: int = 100) -> str:
    """Turn any class name into one safe path component, on every OS.

    Slashes, backslashes, control (C0 and C1), direction-override, line-separator and reserved
    characters and lone surrogates become ``_``; leading dots and trailing dots/spaces go (so
    ``..`` can never climb out); Windows device names (``con``, ``COM1.txt``, ``aux .gz``) get a
    ``_`` after the device name (``con_``, ``COM1_.txt``); the result is NFC-normalised, at most ``max_length`` UTF-8 bytes and never
    empty. Different names may map to the same folder, so
    callers that need distinct folders use :func:`unique_folder_names`.
    """
    text = _UNSAFE_CHARS.sub("_", name)  # first: normalising cannot handle lone surrogates
    text = unicodedata.normalize("NFC", text)
    text = text.strip().lstrip(".").rstrip(". ")
    encoded = text.encode("utf-8")[:max_length]
    text = encoded.decode("utf-8", errors="ignore").rstrip(". ")
    stem, dot, rest = text.partition(".")
    if stem.rstrip(" ").upper() in _WINDOWS_RESERVED:  # Windows reserves "con.anything" too
        text = f"{stem.rstrip(' ')}_{dot}{rest}"
    return text or "_unnamed"


UNCERTAIN_FOLDER = "_uncertain"


def unique_folder_names(names: list[str]) -> dict[str, str]:
    """Map each class name to a distinct safe folder name (case-insensitively distinct).

    The names never collide with each other or with :data:`UNCERTAIN_FOLDER`.
    """
    result: dict[str, str] = {}
    used: set[str] = {UNCERTAIN_FOLDER.casefold()}
    for name in names:
        base = safe_folder_name(name)
        candidate, n = base, 2
        while candidate.casefold() in used:
            candidate = f"{base}_{n}"
            n += 1
        used.add(candidate.casefold())
        result[name] = candidate
    return result
