#!/bin/sh
# Build the pristine base (tag "prep": upstream plus Debian's blob fixes,
# no series) beside the patched tree, in build/qemu-base, for side-by-side
# comparisons.  On demand only (make base).
set -eu
. "$(dirname "$0")/lib.sh"

base=$top/build/qemu-base
if [ ! -d "$base" ]; then
    tgit worktree add -q --detach "$base" prep
fi
git -C "$base" checkout -q --detach prep
"$top/scripts/build-qemu.sh" "$base" "$base/build" "$QEMU_CONFIGURE_FLAGS" -- \
    qemu-system-aarch64
note "pristine base: $base/build/qemu-system-aarch64"
