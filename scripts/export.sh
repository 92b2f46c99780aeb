#!/bin/sh
# Write the series in build/qemu (prep..master) as git format-patch output:
# a cover letter from docs/cover-letter.txt, one file per patch, and a
# "series" file.  Deterministic: exporting an unchanged tree gives no diff.
#   export.sh            write patches/
#   export.sh --to DIR   write DIR instead
#   export.sh --check    exit 1 when patches/ differs from a fresh export
set -eu
. "$(dirname "$0")/lib.sh"

[ -d "$TREE/.git" ] || die "no build/qemu; run 'make tree' first"
mode=write
out=$top/patches
case "${1:-}" in
--to) out=$2 ;;
--check) mode=check; out=$(mktemp -d) ;;
"") ;;
*) die "usage: $0 [--to DIR | --check]" ;;
esac

tmp=$(mktemp -d)
trap 'rm -rf "$tmp" "$tmp.diff"; if [ "$mode" = check ]; then rm -rf "$out"; fi' EXIT

n=$(tgit rev-list --count prep..master)
[ "$n" -gt 0 ] || die "the series in build/qemu is empty"
[ -f "$top/docs/cover-letter.txt" ] || die "docs/cover-letter.txt is missing"
tgit config branch.master.description "$(cat "$top/docs/cover-letter.txt")"
# The cover letter carries the committer's date: pin it to the newest
# patch's author date, so that it only changes when the series does.
date=$(tgit log -1 --format=%aI master)
GIT_COMMITTER_NAME=$(tgit log -1 --format=%an master) \
GIT_COMMITTER_EMAIL=$(tgit log -1 --format=%ae master) \
GIT_COMMITTER_DATE=$date tgit format-patch -q --zero-commit --no-signature \
    --cover-letter --cover-from-description=subject --no-thread \
    --no-base -o "$tmp" prep..master
(cd "$tmp" && ls 0*.patch | grep -v '^0000-cover-letter.patch$') > "$tmp/series"

if [ "$mode" = check ]; then
    diff -r "$tmp" "$top/patches" > "$tmp.diff" 2>&1 || {
        echo "patches/ differs from what 'make export' would write:" >&2
        head -n 40 "$tmp.diff" >&2
        exit 1
    }
    exit 0
fi
mkdir -p "$out"
rm -f "$out"/*.patch "$out/series"
cp "$tmp"/* "$out/"
note "wrote $n patches and the cover letter to $out"
