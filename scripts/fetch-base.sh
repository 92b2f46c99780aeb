#!/bin/sh
# Find the pinned QEMU base tarballs, verify them, and print the directory
# holding both.  Tried in order: $QEMU_TARBALL (the .orig tarball; the
# Debian packaging tarball is looked for beside it), ../shared/cache/, the
# download cache, then `apt-get source --download-only`.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
. "$top/project.conf"

verify() { # dir -> 0 when both files exist and match their pins
    [ -f "$1/$BASE_ORIG" ] && [ -f "$1/$BASE_DEBIAN" ] || return 1
    for pair in "$BASE_ORIG $BASE_ORIG_SHA256" "$BASE_DEBIAN $BASE_DEBIAN_SHA256"; do
        set -- "$1" $pair
        got=$(sha256sum "$1/$2" | cut -d' ' -f1)
        if [ "$got" != "$3" ]; then
            echo "fetch-base: CHECKSUM MISMATCH for $1/$2" >&2
            echo "fetch-base:   expected $3" >&2
            echo "fetch-base:   got      $got" >&2
            exit 1
        fi
    done
}

candidates=""
if [ -n "${QEMU_TARBALL:-}" ]; then
    if [ ! -f "$QEMU_TARBALL" ]; then
        echo "fetch-base: QEMU_TARBALL=$QEMU_TARBALL does not exist" >&2
        exit 1
    fi
    if [ "$(basename "$QEMU_TARBALL")" != "$BASE_ORIG" ]; then
        echo "fetch-base: QEMU_TARBALL must be named $BASE_ORIG" >&2
        exit 1
    fi
    candidates=$(cd "$(dirname "$QEMU_TARBALL")" && pwd)
fi
candidates="$candidates $top/../shared/cache $DL_DIR"

for d in $candidates; do
    if verify "$d"; then
        (cd "$d" && pwd)
        exit 0
    fi
done

echo "fetch-base: downloading qemu=$BASE_DEBIAN_VERSION with apt-get source" >&2
mkdir -p "$DL_DIR"
(cd "$DL_DIR" && apt-get source -q --download-only "qemu=$BASE_DEBIAN_VERSION" >&2)
if verify "$DL_DIR"; then
    echo "$DL_DIR"
    exit 0
fi
echo "fetch-base: could not obtain $BASE_ORIG and $BASE_DEBIAN" >&2
exit 1
