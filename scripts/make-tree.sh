#!/bin/sh
# Create build/qemu: a git repo with the pristine base (tag "base"), the
# base preparation from Debian's packaging (tag "prep"), then `git am` of
# patches/series.  An existing tree is rebuilt only when it has no work that
# `make export` has not written to patches/ (or with FORCE=1).
set -eu
. "$(dirname "$0")/lib.sh"

series_files() {
    grep -v '^#' "$top/patches/series" | sed '/^$/d'
}

apply_series() {
    tgit checkout -q -B master prep
    n=0
    for p in $(series_files); do
        tgit am -q --committer-date-is-author-date "$top/patches/$p" ||
            die "patches/$p does not apply; see build/qemu (git am --abort)"
        n=$((n + 1))
    done
    note "tree at build/qemu: base + prep + $n patches"
}

if [ -d "$TREE/.git" ]; then
    if [ -z "${FORCE:-}" ]; then
        if [ -n "$(tgit status --porcelain --untracked-files=no)" ]; then
            die "build/qemu has uncommitted changes; commit and 'make export', or FORCE=1"
        fi
        if "$top/scripts/export.sh" --check 2>/dev/null; then
            note "build/qemu already matches patches/"
            exit 0
        fi
        # Commits that patches/ lacks would be lost: refuse, unless the
        # tree is exactly an older export (its commits are all in series).
        tmp=$(mktemp -d)
        trap 'rm -rf "$tmp"' EXIT
        "$top/scripts/export.sh" --to "$tmp" >/dev/null
        for p in $(cat "$tmp/series"); do
            cmp -s "$tmp/$p" "$top/patches/$p" ||
                die "build/qemu holds $p, which patches/ lacks; 'make export' first, or FORCE=1 to discard it"
        done
    fi
    apply_series
    exit 0
fi

src=$("$top/scripts/fetch-base.sh")
note "importing $BASE_ORIG from $src"
rm -rf "$TREE.tmp"
mkdir -p "$TREE.tmp"
tar -xf "$src/$BASE_ORIG" -C "$TREE.tmp" --strip-components=1
git -C "$TREE.tmp" init -q -b master
git -C "$TREE.tmp" config user.name "arm vCPU hotplug developers"
git -C "$TREE.tmp" config user.email "arm-cpu-hotplug@invalid"
git -C "$TREE.tmp" add -A -f
GIT_AUTHOR_DATE=$GIT_BASE_DATE GIT_COMMITTER_DATE=$GIT_BASE_DATE \
    git -C "$TREE.tmp" commit -q --author="QEMU <qemu-devel@nongnu.org>" \
    -m "QEMU v$BASE_VERSION (Debian repack $BASE_ORIG)" \
    -m "sha256 $BASE_ORIG_SHA256"
git -C "$TREE.tmp" tag base

deb=$(mktemp -d)
tar -xf "$src/$BASE_DEBIAN" -C "$deb"
for p in $BASE_PREP_PATCHES; do
    git -C "$TREE.tmp" apply "$deb/debian/patches/$p" ||
        die "base preparation $p does not apply"
done
rm -rf "$deb"
git -C "$TREE.tmp" add -A -f
GIT_AUTHOR_DATE=$GIT_BASE_DATE GIT_COMMITTER_DATE=$GIT_BASE_DATE \
    git -C "$TREE.tmp" commit -q --author="QEMU <qemu-devel@nongnu.org>" \
    -m "Base preparation from Debian's packaging (not part of the series)" \
    -m "Applied: $BASE_PREP_PATCHES"
git -C "$TREE.tmp" tag prep
# build dirs of the scripts (QEMU's .gitignore only has /build/)
printf '/build*/\n/build*.log\n' >> "$TREE.tmp/.git/info/exclude"
mv "$TREE.tmp" "$TREE"
apply_series
