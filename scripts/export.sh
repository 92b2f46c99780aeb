#!/bin/sh
# Write the series in build/qemu (prep..master) as git format-patch output,
# one sub-queue per part (docs/parts says which patches each part has):
#   patches/PART/0000-cover-letter.patch  from docs/cover-letters/PART.txt,
#                                         Cc: from scripts/get_maintainer.pl
#   patches/PART/00NN-*.patch             the part's patches, numbered 1..n
#   patches/PART/series                   the part's patches, in order
#   patches/series                        every patch (PART/00NN-*.patch),
#                                         in the order they apply
# Deterministic: exporting an unchanged tree gives no diff.
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
trap 'rm -rf "$tmp" "$tmp.diff" "$tmp.cc" "$tmp.letter" "$tmp.gm"; if [ "$mode" = check ]; then rm -rf "$out"; fi' EXIT

# get_maintainer.pl and MAINTAINERS as they are on master, whatever is
# checked out (series-bisect checks out each patch): the script wants to
# run at the top of a tree, which these few names make it believe
mkdir "$tmp.gm" "$tmp.gm/docs" "$tmp.gm/linux-user" "$tmp.gm/system"
tgit show master:MAINTAINERS > "$tmp.gm/MAINTAINERS"
tgit show master:.mailmap > "$tmp.gm/.mailmap"
tgit show master:scripts/get_maintainer.pl > "$tmp.gm/get_maintainer.pl"
touch "$tmp.gm/COPYING" "$tmp.gm/Makefile" "$tmp.gm/VERSION"

n=$(tgit rev-list --count prep..master)
[ "$n" -gt 0 ] || die "the series in build/qemu is empty"
total=0
for count in $(parts | cut -d' ' -f2); do
    total=$((total + count))
done
[ "$total" = "$n" ] ||
    die "docs/parts counts $total patches, build/qemu has $n; update docs/parts"

# A cover letter carries the committer's date: pin it to the newest
# patch's author date, so that it only changes when the series does.
date=$(tgit log -1 --format=%aI master)
: > "$tmp/series"
from=prep
first=1
parts | while read -r part count; do
    letter=$top/docs/cover-letters/$part.txt
    [ -f "$letter" ] || die "$letter is missing"
    end=$(tgit rev-list --reverse prep..master | sed -n "$((first + count - 1))p")
    # format-patch takes the cover letter from the description of the
    # branch it is given
    tgit branch -f "part/$part" "$end"
    tgit config "branch.part/$part.description" "$(cat "$letter")"
    mkdir "$tmp/$part"
    GIT_COMMITTER_NAME=$(tgit log -1 --format=%an master) \
    GIT_COMMITTER_EMAIL=$(tgit log -1 --format=%ae master) \
    GIT_COMMITTER_DATE=$date tgit format-patch -q --zero-commit --no-signature \
        --cover-letter --cover-from-description=subject --no-thread \
        --no-base -o "$tmp/$part" "$from..part/$part"
    (cd "$tmp/$part" && ls 0*.patch | grep -v '^0000-cover-letter.patch$') \
        > "$tmp/$part/series"
    sed "s|^|$part/|" "$tmp/$part/series" >> "$tmp/series"
    # Cc: whoever get_maintainer.pl names for the part's patches, as
    # the headers of its cover letter (git am ignores them)
    # shellcheck disable=SC2046
    (cd "$tmp.gm" && perl ./get_maintainer.pl --no-git --no-git-fallback \
         --no-rolestats $(sed "s|^|$tmp/$part/|" "$tmp/$part/series")) |
        sort -u | sed 's/^/Cc: /' > "$tmp.cc"
    awk -v ccfile="$tmp.cc" '
        !done && /^$/ { while ((getline l < ccfile) > 0) print l; done = 1 }
        { print }' "$tmp/$part/0000-cover-letter.patch" > "$tmp.letter"
    mv "$tmp.letter" "$tmp/$part/0000-cover-letter.patch"
    from=part/$part
    first=$((first + count))
done

if [ "$mode" = check ]; then
    diff -r "$tmp" "$top/patches" > "$tmp.diff" 2>&1 || {
        echo "patches/ differs from what 'make export' would write:" >&2
        head -n 40 "$tmp.diff" >&2
        exit 1
    }
    exit 0
fi
mkdir -p "$out"
rm -rf "${out:?}"/*
cp -r "$tmp"/* "$out/"
note "wrote $n patches in $(parts | wc -l) parts, with their cover letters, to $out"
