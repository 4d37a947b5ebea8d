"""Before Qt starts on Linux: are the X11 platform plugin's system libraries installed?

Without one of them (``libxcb-cursor0`` is missing on a fresh Debian 12 desktop) Qt prints a
hint about ``xcb-cursor0`` whatever is really missing and aborts the process. This module runs
``ldd`` on PySide6's ``plugins/platforms/libqxcb.so``, maps the libraries it reports as
``not found`` to Debian/Ubuntu package names, and gives the exact install command, so the app can
say it and exit cleanly instead. It imports no Qt module (only finds PySide6's folder).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

DEBIAN_PACKAGES: dict[str, str] = {
    "libxcb-cursor.so.0": "libxcb-cursor0",
    "libxcb-icccm.so.4": "libxcb-icccm4",
    "libxcb-keysyms.so.1": "libxcb-keysyms1",
    "libxcb-image.so.0": "libxcb-image0",
    "libxcb-render-util.so.0": "libxcb-render-util0",
    "libxcb-shape.so.0": "libxcb-shape0",
    "libxcb-util.so.1": "libxcb-util1",
    "libxcb-xinerama.so.0": "libxcb-xinerama0",
    "libxcb-xinput.so.0": "libxcb-xinput0",
    "libxcb-xkb.so.1": "libxcb-xkb1",
    "libxcb-randr.so.0": "libxcb-randr0",
    "libxcb-render.so.0": "libxcb-render0",
    "libxcb-shm.so.0": "libxcb-shm0",
    "libxcb-sync.so.1": "libxcb-sync1",
    "libxcb-xfixes.so.0": "libxcb-xfixes0",
    "libxcb-glx.so.0": "libxcb-glx0",
    "libxcb.so.1": "libxcb1",
    "libxkbcommon-x11.so.0": "libxkbcommon-x11-0",
    "libxkbcommon.so.0": "libxkbcommon0",
    "libX11-xcb.so.1": "libx11-xcb1",
    "libX11.so.6": "libx11-6",
    "libSM.so.6": "libsm6",
    "libICE.so.6": "libice6",
    "libEGL.so.1": "libegl1",
    "libGL.so.1": "libgl1",
    "libGLX.so.0": "libglx0",
    "libOpenGL.so.0": "libopengl0",
    "libfontconfig.so.1": "libfontconfig1",
    "libfreetype.so.6": "libfreetype6",
    "libdbus-1.so.3": "libdbus-1-3",
    "libglib-2.0.so.0": "libglib2.0-0",
    "libgthread-2.0.so.0": "libglib2.0-0",
}
"""Shared library (soname) → the Debian/Ubuntu package that ships it."""

EXIT_MISSING_LIBRARIES = 2


@dataclass(frozen=True, slots=True)
class MissingLibraries:
    """What the X11 platform plugin cannot load, and how to install it."""

    plugin: Path
    libraries: tuple[str, ...]
    packages: tuple[str, ...]

    @property
    def command(self) -> str:
        return "sudo apt-get install " + " ".join(self.packages)

    def message(self) -> str:
        return (
            "cnndesk cannot open a window: Qt's X11 platform plugin needs system libraries that"
            f" are not installed ({', '.join(self.libraries)}).\n"
            "On Debian or Ubuntu, install them with:\n\n"
            f"    {self.command}\n\n"
            "then start cnndesk again."
        )


def debian_package(soname: str) -> str:
    """The Debian package for a library: from the table, else by Debian's naming rule
    (``libfoo-bar.so.3`` → ``libfoo-bar3``, ``libfoo2.so.1`` → ``libfoo2-1``)."""
    if soname in DEBIAN_PACKAGES:
        return DEBIAN_PACKAGES[soname]
    match = re.fullmatch(r"(lib[\w+.-]+?)\.so\.(\d+)(?:\..*)?", soname)
    if match is None:
        return soname.split(".so", 1)[0].lower()
    stem, major = match.group(1).lower(), match.group(2)
    return f"{stem}-{major}" if stem[-1].isdigit() else f"{stem}{major}"


def not_found(ldd_output: str) -> list[str]:
    """Library names that ``ldd`` reports as ``not found``, in order, each once."""
    names = re.findall(r"^\s*(\S+)\s+=>\s+not found", ldd_output, flags=re.MULTILINE)
    return list(dict.fromkeys(names))


def xcb_plugin() -> Path | None:
    """PySide6's X11 platform plugin, if this PySide6 has one."""
    try:
        import PySide6
    except ImportError:
        return None
    plugin = Path(PySide6.__file__).parent / "Qt" / "plugins" / "platforms" / "libqxcb.so"
    return plugin if plugin.is_file() else None


def wants_xcb(environ: os._Environ[str] | dict[str, str] | None = None) -> bool:
    """Whether Qt will try the X11 plugin: Linux, a ``DISPLAY``, and no other platform asked for."""
    env = os.environ if environ is None else environ
    if not sys.platform.startswith("linux") or not env.get("DISPLAY"):
        return False
    platform = env.get("QT_QPA_PLATFORM", "").strip()
    return not platform or platform.split(";")[0].split(":")[0] == "xcb"


def missing_xcb_libraries(plugin: Path | None = None) -> MissingLibraries | None:
    """What ``libqxcb.so`` cannot load (``None``: nothing missing, or nothing to check with)."""
    plugin = plugin or xcb_plugin()
    ldd = shutil.which("ldd")
    if plugin is None or ldd is None:
        return None
    try:
        done = subprocess.run(
            [ldd, str(plugin)], capture_output=True, text=True, timeout=20, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    libraries = not_found(done.stdout)
    if not libraries:
        return None
    packages = tuple(dict.fromkeys(debian_package(name) for name in libraries))
    return MissingLibraries(plugin, tuple(libraries), packages)


def check_platform_libraries() -> int:
    """0 when Qt can start here; else print what to install and return the exit code (2)."""
    if not wants_xcb():
        return 0
    missing = missing_xcb_libraries()
    if missing is None:
        return 0
    print(missing.message(), file=sys.stderr)
    return EXIT_MISSING_LIBRARIES
