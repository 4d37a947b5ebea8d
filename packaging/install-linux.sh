#!/usr/bin/env bash
# Install a built cnndesk folder for the current user (no root): the app under
# ~/.local/opt/cnndesk, a `cnndesk` command in ~/.local/bin, a menu entry and an icon.
# build.sh copies this script into the built folder as install.sh:
#
#   ./install.sh               install (or update) from the folder this script is in
#   ./install.sh --uninstall   remove the app, the command, the menu entry and the icon
#
# PREFIX (default ~/.local) picks another place, e.g. PREFIX=/usr/local as root.
# Your libraries, models and settings (~/.local/share/cnndesk, ~/.config/cnndesk) are never touched.
set -euo pipefail

prefix="${PREFIX:-$HOME/.local}"
target="$prefix/opt/cnndesk"
bin="$prefix/bin/cnndesk"
apps="$prefix/share/applications"
icons="$prefix/share/icons/hicolor"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

if [[ ${1:-} == --uninstall ]]; then
    rm -rf "$target"
    rm -f "$bin" "$apps/cnndesk.desktop" "$icons/256x256/apps/cnndesk.png" \
        "$icons/scalable/apps/cnndesk.svg"
    echo "cnndesk removed from $prefix"
    exit 0
fi
if [[ $# -gt 0 ]]; then
    echo "usage: install.sh [--uninstall]" >&2
    exit 2
fi
if [[ ! -x $here/cnndesk || ! -d $here/_internal/resources ]]; then
    echo "install.sh: run the copy inside a built cnndesk folder (dist/cnndesk/install.sh)" >&2
    exit 1
fi

mkdir -p "$prefix/opt" "$prefix/bin" "$apps" "$icons/256x256/apps" "$icons/scalable/apps"
if [[ $here != "$target" ]]; then
    rm -rf "$target.new"
    cp -a "$here" "$target.new"
    rm -rf "$target"
    mv "$target.new" "$target"
fi
ln -sfn "$target/cnndesk" "$bin"
resources="$target/_internal/resources"
cp "$resources/cnndesk.png" "$icons/256x256/apps/cnndesk.png"
cp "$resources/cnndesk.svg" "$icons/scalable/apps/cnndesk.svg"
# The menu entry starts the installed executable by its full path (~/.local/bin may not be on the
# desktop session's PATH).
sed -e "s|^Exec=.*|Exec=$target/cnndesk|" -e "s|^TryExec=.*|TryExec=$target/cnndesk|" \
    "$resources/cnndesk.desktop" >"$apps/cnndesk.desktop"
command -v update-desktop-database >/dev/null && update-desktop-database -q "$apps" || true
command -v gtk-update-icon-cache >/dev/null && gtk-update-icon-cache -q -t "$icons" || true
echo "cnndesk installed in $target; command: $bin; menu entry: $apps/cnndesk.desktop"
echo "check it with: $bin --self-test"
