"""The system libraries the GUI (Qt's xcb platform plugin) and audio (PortAudio) need, checked before any
window opens, so a fresh desktop gets the one install line instead of Qt's "could not load the Qt
platform plugin xcb" abort. Standard library only: `make run` runs it before the virtual environment exists.

`python -m workbench.syslibs` exits 1 and prints the install line of this OS when one is missing.
MVSSL_SYSLIBS_ABSENT (comma-separated library names) treats those as missing, to try the message.
"""
from __future__ import annotations

import ctypes.util
import os
import platform
import sys
from pathlib import Path

# library name (as ctypes.util.find_library takes it) -> Debian/Ubuntu package
GUI_LIBS = {
    "xcb-cursor": "libxcb-cursor0", "xcb-icccm": "libxcb-icccm4", "xcb-image": "libxcb-image0",
    "xcb-keysyms": "libxcb-keysyms1", "xcb-randr": "libxcb-randr0", "xcb-render-util": "libxcb-render-util0",
    "xcb-shape": "libxcb-shape0", "xcb-xinerama": "libxcb-xinerama0", "xcb-xkb": "libxcb-xkb1",
    "xkbcommon": "libxkbcommon0", "xkbcommon-x11": "libxkbcommon-x11-0", "EGL": "libegl1", "GL": "libgl1",
    "glib-2.0": "libglib2.0-0", "fontconfig": "libfontconfig1", "freetype": "libfreetype6", "dbus-1": "libdbus-1-3",
}
AUDIO_LIBS = {"portaudio": "libportaudio2", "asound": "libasound2"}
LINUX_LIBS = {**GUI_LIBS, **AUDIO_LIBS}

# The README's first lines say the same (python3-venv: `make run` builds a virtual environment).
APT_LINE = "sudo apt-get install python3-venv " + " ".join(dict.fromkeys(LINUX_LIBS.values()))
DNF_LINE = ("sudo dnf install xcb-util-cursor xcb-util-wm xcb-util-image xcb-util-keysyms xcb-util-renderutil "
            "libxkbcommon-x11 mesa-libEGL mesa-libGL fontconfig dbus-libs portaudio alsa-lib")
BREW_LINE = "brew install portaudio"
ABSENT_ENV = "MVSSL_SYSLIBS_ABSENT"


def _absent() -> set[str]:
    return {name.strip() for name in os.environ.get(ABSENT_ENV, "").split(",") if name.strip()}


def missing(names: list[str] | tuple[str, ...]) -> list[str]:
    """The libraries of `names` the dynamic loader cannot find (or that MVSSL_SYSLIBS_ABSENT names)."""
    absent = _absent()
    return [name for name in names if name in absent or ctypes.util.find_library(name) is None]


def needs_xcb() -> bool:
    """Whether Qt will use its xcb plugin: Linux, and no other platform (offscreen, wayland, ...) asked for."""
    return sys.platform.startswith("linux") and os.environ.get("QT_QPA_PLATFORM", "xcb").split(":")[0] == "xcb"


def missing_for_gui() -> list[str]:
    """What this machine lacks to open the workbench's window and play audio."""
    if sys.platform == "darwin":
        return missing(["portaudio"])
    if not sys.platform.startswith("linux"):
        return []
    return missing(list(LINUX_LIBS) if needs_xcb() else list(AUDIO_LIBS))


def distro() -> str:
    """debian, fedora, macos or other, from /etc/os-release (ID and ID_LIKE)."""
    if sys.platform == "darwin":
        return "macos"
    try:
        text = Path("/etc/os-release").read_text()
    except OSError:
        return "other"
    fields = dict(line.split("=", 1) for line in text.splitlines() if "=" in line)
    ids = " ".join(fields.get(k, "").strip('"') for k in ("ID", "ID_LIKE")).split()
    if {"debian", "ubuntu"} & set(ids):
        return "debian"
    if {"fedora", "rhel", "centos"} & set(ids):
        return "fedora"
    return "other"


def install_line(kind: str | None = None) -> str:
    kind = kind or distro()
    return {"debian": APT_LINE, "fedora": DNF_LINE, "macos": BREW_LINE}.get(kind, APT_LINE)


def message(names: list[str]) -> str:
    """What to tell the user: what is missing and the one line that installs it."""
    packages = [LINUX_LIBS.get(n, n) for n in names]
    kind = distro()
    lines = [f"mvssl: the workbench needs system libraries this machine lacks: {', '.join(packages)}",
             "Install them with:", "", f"    {install_line(kind)}", ""]
    if kind == "other":
        lines.append(f"(that is the Debian/Ubuntu line; on Fedora: {DNF_LINE}; on macOS: {BREW_LINE})")
    return "\n".join(lines)


def main() -> int:
    names = missing_for_gui()
    if names:
        print(message(names), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
