#!/bin/sh
# Prove that patches/ is what `make export` writes from build/qemu, that
# each part of the series (docs/parts) has its cover letter and series
# file and applies to the pristine base and the parts before it, and that
# every patch passes checkpatch.pl --no-signoff; reported per part.
set -eu
. "$(dirname "$0")/lib.sh"

[ -d "$TREE/.git" ] || die "no build/qemu; run 'make tree' first"
fail=0

# 1. patches/ agrees with the tree
if ! "$top/scripts/export.sh" --check; then
    echo "series-check: run 'make export' (never edit patches/ by hand)" >&2
    fail=1
fi

# 2. Each part applies, in order and without whitespace errors, to the
#    pristine base (tag "base") and the parts before it, checked in a
#    scratch index so that nothing is checked out; and passes checkpatch
#    (errors fail; warnings are shown, to be justified in the commit
#    message or fixed).
idx=$(mktemp)
trap 'rm -f "$idx" "$idx.series"' EXIT
GIT_INDEX_FILE=$idx tgit read-tree base
: > "$idx.series"
applies=1
while read -r part count; do
    dir=$top/patches/$part
    [ -f "$dir/0000-cover-letter.patch" ] ||
        { echo "series-check: part $part has no cover letter" >&2; fail=1; }
    [ -f "$dir/series" ] ||
        { echo "series-check: part $part has no series file" >&2; fail=1; continue; }
    [ "$(grep -cv '^#' "$dir/series")" = "$count" ] ||
        { echo "series-check: patches/$part/series is not $count patches (docs/parts)" >&2; fail=1; }
    for f in "$dir"/*.patch; do
        b=$(basename "$f")
        [ "$b" = 0000-cover-letter.patch ] && continue
        grep -qx "$b" "$dir/series" ||
            { echo "series-check: $part/$b is not in patches/$part/series" >&2; fail=1; }
    done
    part_fail=0
    for b in $(grep -v '^#' "$dir/series"); do
        echo "$part/$b" >> "$idx.series"
        if [ $applies = 1 ] &&
           ! GIT_INDEX_FILE=$idx tgit apply --cached --whitespace=error "$dir/$b"; then
            echo "series-check: $part/$b does not apply to the base and the patches before it" >&2
            applies=0
            part_fail=1
        fi
        rc=0
        out=$(cd "$TREE" && ./scripts/checkpatch.pl --no-signoff --patch -q \
                  "$dir/$b" 2>&1) || rc=$?
        if [ $rc != 0 ]; then
            echo "series-check: checkpatch fails on $part/$b:" >&2
            part_fail=1
        fi
        [ -n "$out" ] && echo "$out" >&2
    done
    if [ $part_fail = 0 ]; then
        note "part $part: $count patches apply onto the parts before it and pass checkpatch"
    else
        note "part $part: FAILED"
        fail=1
    fi
done <<EOF_PARTS
$(parts)
EOF_PARTS
cmp -s "$idx.series" "$top/patches/series" ||
    { echo "series-check: patches/series is not the parts' series in the order of docs/parts" >&2; fail=1; }

[ $fail = 0 ] && note "patches/ matches build/qemu, applies to the base part by part, passes checkpatch"
exit $fail
