#!/bin/sh
# Prove that patches/ is what `make export` writes from build/qemu, that
# the series applies to the pristine base, and that every patch passes
# checkpatch.pl --no-signoff.
set -eu
. "$(dirname "$0")/lib.sh"

[ -d "$TREE/.git" ] || die "no build/qemu; run 'make tree' first"
fail=0

# 1. patches/ agrees with the tree
if ! "$top/scripts/export.sh" --check; then
    echo "series-check: run 'make export' (never edit patches/ by hand)" >&2
    fail=1
fi

# 2. The series applies, in order and without whitespace errors, to the
#    pristine base (tag "base"),
#    checked in a scratch index so that nothing is checked out.
idx=$(mktemp)
trap 'rm -f "$idx"' EXIT
GIT_INDEX_FILE=$idx tgit read-tree base
for p in $(grep -v '^#' "$top/patches/series"); do
    if ! GIT_INDEX_FILE=$idx tgit apply --cached --whitespace=error "$top/patches/$p"; then
        echo "series-check: $p does not apply to the pristine base" >&2
        fail=1
        break
    fi
done
for f in "$top"/patches/*.patch; do
    b=$(basename "$f")
    [ "$b" = 0000-cover-letter.patch ] && continue
    grep -qx "$b" "$top/patches/series" ||
        { echo "series-check: $b is not in patches/series" >&2; fail=1; }
done
[ -f "$top/patches/0000-cover-letter.patch" ] ||
    { echo "series-check: no cover letter" >&2; fail=1; }

# 3. checkpatch (errors fail; warnings are shown, to be justified in
#    the commit message or fixed)
for p in $(grep -v '^#' "$top/patches/series"); do
    rc=0
    out=$(cd "$TREE" && ./scripts/checkpatch.pl --no-signoff --patch -q \
              "$top/patches/$p" 2>&1) || rc=$?
    if [ $rc != 0 ]; then
        echo "series-check: checkpatch fails on $p:" >&2
        fail=1
    fi
    [ -n "$out" ] && echo "$out" >&2
done
[ $fail = 0 ] && note "patches/ matches build/qemu, applies to the base, passes checkpatch"
exit $fail
