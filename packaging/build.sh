#!/usr/bin/env bash
# Build the one-folder cnndesk app with PyInstaller, in an environment of its own.
#
#   bash packaging/build.sh          # CUDA variant (the default torch wheel)  -> dist/cnndesk/
#   bash packaging/build.sh --cpu    # CPU-only variant (~1.3 GB smaller)       -> dist/cnndesk-cpu/
#
# Options:
#   --cpu          build the CPU-only variant
#   --venv DIR     the build environment (default: build/venv); made when missing or when
#                  constraints.txt / the PyInstaller pins changed
#   --fresh        remake the build environment first
#   --no-test      do not run `cnndesk --self-test` on the result
#   --keep-work    keep PyInstaller's work folder (build/pyinstaller-VARIANT)
#
# Environment: PYTHON (default python3; 3.10+) makes the venv. Needs ~6 GB for the venv, ~4 GB
# (CUDA) or ~3 GB (CPU) for the app; 3-4.5 min of PyInstaller on 2 cores, plus 2-3 min of pip
# the first time. See packaging/README.md.
set -euo pipefail

PYINSTALLER_PIN="pyinstaller==6.22.3"
HOOKS_PIN="pyinstaller-hooks-contrib==2026.9"

variant=cuda
venv=""
fresh=0
run_test=1
keep_work=0
while (($#)); do
    case "$1" in
        --cpu) variant=cpu ;;
        --cuda) variant=cuda ;;
        --venv) venv="$2"; shift ;;
        --fresh) fresh=1 ;;
        --no-test) run_test=0 ;;
        --keep-work) keep_work=1 ;;
        -h|--help) sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "build.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
    shift
done

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
venv="${venv:-$root/build/venv}"
python="${PYTHON:-python3}"
app_name=cnndesk
[[ $variant == cpu ]] && app_name=cnndesk-cpu
dist="$root/dist/$app_name"
work="$root/build/pyinstaller-$variant"

# Never build from (or into) whatever virtualenv the caller has active.
unset VIRTUAL_ENV PYTHONPATH PYTHONHOME

stamp_text="$(cat constraints.txt; echo "onnx $PYINSTALLER_PIN $HOOKS_PIN"; "$python" -VV)"
stamp="$venv/.cnndesk-build-stamp"
if ((fresh)) || [[ ! -x $venv/bin/pyinstaller ]] || [[ "$(cat "$stamp" 2>/dev/null)" != "$stamp_text" ]]; then
    echo "== making the build environment $venv"
    t0=$SECONDS
    rm -rf "$venv"
    "$python" -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --upgrade pip
    # The project's runtime dependencies and its onnx extra (the app exports to ONNX) at the
    # tested pins, no dev tools, and PyInstaller. The project itself is then removed again: the
    # spec analyses this checkout's source, so a reused environment never packs a stale copy.
    "$venv/bin/python" -m pip install --quiet -c constraints.txt "$root[onnx]" "$PYINSTALLER_PIN" "$HOOKS_PIN"
    "$venv/bin/python" -m pip uninstall --quiet --yes cnndesk
    rm -rf "$root/build/lib" "$root/build/bdist."*  # setuptools' leftovers from building the wheel
    printf '%s' "$stamp_text" >"$stamp"
    echo "== build environment ready in $((SECONDS - t0)) s ($(du -sh "$venv" | cut -f1))"
fi

echo "== PyInstaller: $variant variant -> $dist"
rm -rf "$dist" "$work"
t0=$SECONDS
CNNDESK_VARIANT=$variant "$venv/bin/pyinstaller" --noconfirm --log-level WARN \
    --distpath "$root/dist" --workpath "$work" packaging/cnndesk.spec
build_s=$((SECONDS - t0))
((keep_work)) || rm -rf "$work"
install -m 755 packaging/install-linux.sh "$dist/install.sh"  # per-user install: menu entry, icon
size="$(du -sh "$dist" | cut -f1)"
files="$(find "$dist" -type f | wc -l)"
echo "== built $dist in ${build_s} s: $size, $files files"

if ((run_test)); then
    # As a user would run it: no virtualenv, no checkout on any path, started from elsewhere.
    home="$(mktemp -d -t cnndesk-selftest-home.XXXXXX)"
    echo "== $dist/cnndesk --self-test (clean environment, cwd $home)"
    status=0
    (cd "$home" && env -i HOME="$home" PATH=/usr/bin:/bin QT_QPA_PLATFORM=offscreen \
        timeout 600 "$dist/cnndesk" --self-test) || status=$?
    rm -rf "$home"
    if ((status != 0)); then
        echo "== self-test FAILED (exit $status)" >&2
        exit 1
    fi
fi
echo "== done: $variant variant, $size, PyInstaller ${build_s} s"
