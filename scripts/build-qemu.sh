#!/bin/sh
# Configure (when needed) and build a QEMU tree.
#   build-qemu.sh [SRC [BUILDDIR [FLAGS]]] -- [ninja targets]
# Defaults: the patched tree build/qemu, its build/ dir, $QEMU_CONFIGURE_FLAGS,
# targets $QEMU_BUILD_TARGETS.  Compiles go through ccache, whose cache is
# $CCACHE_DIR, outside the repository.
set -eu
. "$(dirname "$0")/lib.sh"

src=$TREE bld="" flags=$QEMU_CONFIGURE_FLAGS
if [ $# -gt 0 ] && [ "$1" != -- ]; then src=$1; shift; fi
if [ $# -gt 0 ] && [ "$1" != -- ]; then bld=$1; shift; fi
if [ $# -gt 0 ] && [ "$1" != -- ]; then flags=$1; shift; fi
if [ $# -gt 0 ]; then shift; fi
bld=${bld:-$src/build}
targets=${*:-$QEMU_BUILD_TARGETS}

# Paths relative to build/, so that other trees and build dirs hit too
export CCACHE_DIR CCACHE_BASEDIR="$top/build" CCACHE_NOHASHDIR=true
mkdir -p "$CCACHE_DIR"
command -v ccache >/dev/null || die "ccache is not installed; run 'make setup'"
# configure hands meson an explicit compiler, so meson does not add ccache
# by itself: name it in the compiler command
cross=$(printf '%s\n' $flags | sed -n 's/^--cross-prefix=//p')
CC="ccache ${cross}gcc" CXX="ccache ${cross}g++"
export CC CXX
stamp="$flags CC=$CC"

if [ ! -f "$bld/build.ninja" ] || [ "$(cat "$bld/.project-flags" 2>/dev/null)" != "$stamp" ]; then
    note "configuring $bld"
    rm -rf "$bld"
    mkdir -p "$bld"
    # shellcheck disable=SC2086
    (cd "$bld" && "$src/configure" $flags) > "$bld/configure.log" 2>&1 ||
        { tail -n 30 "$bld/configure.log" >&2; die "configure failed ($bld/configure.log)"; }
    echo "$stamp" > "$bld/.project-flags"
fi
# Regenerate build.ninja if meson files changed, then build the targets
# this tree has (an early patch of the series may lack a qtest).
ninja -C "$bld" build.ninja > /dev/null
known=""
for t in $targets; do
    if ninja -C "$bld" -t query "$t" > /dev/null 2>&1; then
        known="$known $t"
    fi
done
note "building$known in $bld"
# shellcheck disable=SC2086
ninja -C "$bld" $known
