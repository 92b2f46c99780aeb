#!/bin/sh
# Build the series after every patch, incrementally, in build/qemu: each
# patch must build on its own (qemu-system-aarch64, qemu-aarch64, the
# qtests the series touches, the other targets that share its code, and
# the KVM-only cross build), and so each part of docs/parts does, which
# is reported as it is reached.  The tree is put back on master at the
# end.  A tree that built before with the same build scripts is not built
# again (build/bisect-built), so that changing a late patch only rebuilds
# from there; BISECT_ALL=1 builds every patch.
set -eu
. "$(dirname "$0")/lib.sh"

[ -d "$TREE/.git" ] || die "no build/qemu; run 'make tree' first"
[ -z "$(tgit status --porcelain --untracked-files=no)" ] ||
    die "build/qemu has uncommitted changes"

trap 'tgit checkout -q master' EXIT
built="$top/build/bisect-built"
[ "${BISECT_ALL:-0}" = 1 ] && rm -f "$built"
touch "$built"
# what else decides whether a tree builds: the build scripts and flags
scripts=$(cat "$top/scripts/lib.sh" "$top/scripts/build-qemu.sh" \
    "$top/scripts/build-kvm.sh" | sha256sum | cut -c1-16)
# which part each patch is in (docs/parts): "PART I COUNT" per patch
where=$(mktemp)
trap 'tgit checkout -q master; rm -f "$where"' EXIT
parts | while read -r part count; do
    i=1
    while [ $i -le "$count" ]; do
        echo "$part $i $count"
        i=$((i + 1))
    done
done > "$where"
[ "$(wc -l < "$where")" = "$(tgit rev-list --count prep..master)" ] ||
    die "docs/parts does not count the patches of build/qemu"
part_done() { # patch number: say so when it is the last of its part
    set -- $(sed -n "$1p" "$where")
    [ "$2" = "$3" ] && note "part $1: all $3 patches build, with TCG and KVM-only"
    return 0
}
n=0
built_now=0
start=$(date +%s)
for c in $(tgit rev-list --reverse prep..master); do
    n=$((n + 1))
    at=$(sed -n "${n}p" "$where" | awk '{ print $1 " " $2 "/" $3 }')
    key="$(tgit rev-parse "$c^{tree}") $scripts"
    if grep -qx "$key" "$built"; then
        note "patch $n ($at): built before: $(tgit log -1 --format=%s "$c")"
        part_done $n
        continue
    fi
    note "patch $n ($at): $(tgit log -1 --format=%s "$c")"
    tgit checkout -q "$c"
    # shellcheck disable=SC2086
    "$top/scripts/build-qemu.sh" -- $QEMU_BUILD_TARGETS $QEMU_OTHER_BUILD_TARGETS \
        > "$top/build/bisect.log" 2>&1 || {
        tail -n 30 "$top/build/bisect.log" >&2
        die "patch $n ($at) does not build: $(tgit log -1 --format=%s "$c")"
    }
    # and the KVM-only aarch64 build (cross), which builds the KVM code
    "$top/scripts/build-kvm.sh" binary > "$top/build/bisect.log" 2>&1 || {
        tail -n 30 "$top/build/bisect.log" >&2
        die "patch $n ($at) does not build without TCG: $(tgit log -1 --format=%s "$c")"
    }
    echo "$key" >> "$built"
    built_now=$((built_now + 1))
    part_done $n
done
echo "patches=$n built_now=$built_now seconds=$(($(date +%s) - start))" \
    > "$top/build/bisect-time.txt"
note "all $n patches build, with TCG and KVM-only ($built_now built now)"
