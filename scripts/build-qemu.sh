#!/bin/sh
# Configure (when needed) and build a QEMU tree.
#   build-qemu.sh [SRC [BUILDDIR [FLAGS]]] -- [ninja targets]
# Defaults: the patched tree build/qemu, its build/ dir, $QEMU_CONFIGURE_FLAGS,
# target qemu-system-aarch64.  ccache (picked up by meson) keeps its cache in
# $CCACHE_DIR, outside the repository.
set -eu
. "$(dirname "$0")/lib.sh"

src=${1:-$TREE}
bld=${2:-$src/build}
flags=${3:-$QEMU_CONFIGURE_FLAGS}
[ $# -ge 3 ] && shift 3 || shift $#
[ "${1:-}" = -- ] && shift
targets=${*:-qemu-system-aarch64}

export CCACHE_DIR
mkdir -p "$CCACHE_DIR"
command -v ccache >/dev/null || die "ccache is not installed; run 'make setup'"

if [ ! -f "$bld/build.ninja" ] || [ "$(cat "$bld/.project-flags" 2>/dev/null)" != "$flags" ]; then
    note "configuring $bld"
    rm -rf "$bld"
    mkdir -p "$bld"
    # shellcheck disable=SC2086
    (cd "$bld" && "$src/configure" $flags) > "$bld/configure.log" 2>&1 ||
        { tail -n 30 "$bld/configure.log" >&2; die "configure failed ($bld/configure.log)"; }
    echo "$flags" > "$bld/.project-flags"
fi
note "building $targets in $bld"
# shellcheck disable=SC2086
ninja -C "$bld" $targets
