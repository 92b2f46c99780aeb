#!/bin/sh
# make functional-test: the series' functional test,
# tests/functional/aarch64/test_virt_cpu_hotplug.py, run as QEMU's
# functional suite runs it, against the patched build, with the project's
# Debian guest (build/guest: kernel 6.12, initramfs, edk2) as its guest.
# Prints the test's TAP output; exits as the test does.
set -eu
. "$(dirname "$0")/lib.sh"

bld=$TREE/build
[ -x "$bld/qemu-system-aarch64" ] || die "no $bld/qemu-system-aarch64; run 'make build'"
[ -f "$top/build/guest/vmlinuz" ] || die "no guest; run 'make guest'"
export QEMU_TEST_QEMU_BINARY="$bld/qemu-system-aarch64"
export QEMU_BUILD_ROOT="$bld"
export QEMU_TEST_AARCH64_KERNEL="$top/build/guest/vmlinuz"
export QEMU_TEST_AARCH64_INITRD="$top/build/guest/initrd.cpio.gz"
export QEMU_TEST_AARCH64_BIOS="$top/build/guest/QEMU_EFI.fd"
# the functional tests' own packages: qemu.machine and qemu_test, from
# the tree; pycotap, from Debian
export PYTHONPATH="$TREE/python:$TREE/tests/functional"
cd "$bld"
exec /usr/bin/python3 "$TREE/tests/functional/aarch64/test_virt_cpu_hotplug.py" "$@"
