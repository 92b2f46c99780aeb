#!/bin/sh
# Cross-build the patched tree as a KVM-only aarch64 QEMU (no TCG) and pack
# it, with the test guest as its L2 guest, into an initramfs for an arm64
# L1 host that runs under TCG with virtualization=on: build/l1/.
#   build-kvm.sh          build and pack
#   build-kvm.sh binary   only build (make series-bisect)
set -eu
. "$(dirname "$0")/lib.sh"

deps=$top/build/kvm-deps
bld=$TREE/build-kvm
out=$top/build/l1
guest=$top/build/guest

# libfdt-dev is not Multi-Arch: same in bookworm, so installing the arm64
# one would remove the native one: unpack it privately instead.
if [ ! -f "$deps/usr/include/libfdt.h" ]; then
    rm -rf "$deps" "$deps.tmp"
    mkdir -p "$deps.tmp"
    (cd "$deps.tmp" && apt-get download -q libfdt-dev:arm64 >&2)
    dpkg-deb -x "$deps.tmp"/libfdt-dev_*_arm64.deb "$deps.tmp"
    ln -sf /usr/lib/aarch64-linux-gnu/libfdt.so.1 \
        "$deps.tmp/usr/lib/aarch64-linux-gnu/libfdt.so"
    mv "$deps.tmp" "$deps"
fi

"$top/scripts/build-qemu.sh" "$TREE" "$bld" \
    "$QEMU_KVM_CONFIGURE_FLAGS --extra-cflags=-I$deps/usr/include --extra-ldflags=-L$deps/usr/lib/aarch64-linux-gnu" \
    -- qemu-system-aarch64
[ "${1:-}" = binary ] && exit 0

# The L1 initramfs: the test guest's initramfs (busybox, /init, shell on
# the console) with a second archive appended holding the KVM QEMU, its
# shared libraries, and the L2 guest.
stamp=$out/.stamp
shim=$top/tests/payloads/kvm-faults.c
want=$(cat "$bld/qemu-system-aarch64" "$guest/initrd.cpio.gz" "$0" "$shim" | sha256sum)
if [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
    note "L1 initramfs up to date"
    exit 0
fi
mkdir -p "$out"
r=$(mktemp -d)
trap 'rm -rf "$r"' EXIT
mkdir -p "$r/opt/qemu" "$r/opt/l2" "$r/usr/lib/aarch64-linux-gnu" "$r/lib"
aarch64-linux-gnu-strip -o "$r/opt/qemu/qemu-system-aarch64" "$bld/qemu-system-aarch64"
# Fault injection for tests (tests/payloads/kvm-faults.c)
aarch64-linux-gnu-gcc -O2 -Wall -Werror -shared -fPIC -o "$r/opt/qemu/kvm-faults.so" "$shim" -ldl

# Shared libraries, found by walking the NEEDED entries.
libdirs="/usr/lib/aarch64-linux-gnu /lib/aarch64-linux-gnu /usr/aarch64-linux-gnu/lib"
find_lib() {
    for d in $libdirs; do
        [ -e "$d/$1" ] && { readlink -f "$d/$1"; return; }
    done
    die "cannot find arm64 library $1"
}
todo="$r/opt/qemu/qemu-system-aarch64"
seen=" "
while [ -n "$todo" ]; do
    next=""
    for f in $todo; do
        for lib in $(aarch64-linux-gnu-readelf -d "$f" | sed -n 's/.*Shared library: \[\(.*\)\]/\1/p'); do
            case "$seen" in *" $lib "*) continue ;; esac
            seen="$seen$lib "
            cp "$(find_lib "$lib")" "$r/usr/lib/aarch64-linux-gnu/$lib"
            next="$next $r/usr/lib/aarch64-linux-gnu/$lib"
        done
    done
    todo=$next
done
ld=$(find_lib ld-linux-aarch64.so.1)
cp "$ld" "$r/usr/lib/aarch64-linux-gnu/ld-linux-aarch64.so.1"
ln -s aarch64-linux-gnu/ld-linux-aarch64.so.1 "$r/usr/lib/ld-linux-aarch64.so.1"
rmdir "$r/lib"
ln -s usr/lib "$r/lib"

gzip -9n < "$guest/vmlinuz" > "$r/opt/l2/Image.gz"
cp "$guest/initrd.cpio.gz" "$guest/QEMU_EFI.fd" "$r/opt/l2/"
(cd "$r" && find . | sort | cpio -o -H newc --quiet -R 0:0 | gzip -6n) > "$out/extra.cpio.gz"
cat "$guest/initrd.cpio.gz" "$out/extra.cpio.gz" > "$out/initrd.cpio.gz"
rm -f "$out/extra.cpio.gz"
echo "$want" > "$stamp"
note "L1 initramfs: $(du -h "$out/initrd.cpio.gz" | cut -f1), libs:$seen"
