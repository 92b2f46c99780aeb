#!/bin/sh
# Build the other targets that share the code the series touches (hw/acpi,
# the GED, accel/tcg, the CPU core, aml-build): $QEMU_OTHER_BUILD_TARGETS,
# in the native build dir, whose qtests serve every target, with the
# firmware their tests need: Debian's SeaBIOS and iPXE for x86, and the
# LoongArch and riscv64 edk2 that bios-tables-test expects.
set -eu
. "$(dirname "$0")/lib.sh"

bld=$TREE/build

# x86 firmware, the option ROM of -kernel boots (linuxboot_dma.bin) and
# riscv64's OpenSBI, which the +ds tarball does not build
if ! dpkg -s seabios ipxe-qemu qemu-system-data > /dev/null 2>&1; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
        seabios ipxe-qemu qemu-system-data
fi
"$top/scripts/build-guest.sh" amd64
# shellcheck disable=SC2086
"$top/scripts/build-qemu.sh" "$TREE" "$bld" -- $QEMU_OTHER_BUILD_TARGETS \
    tests/qtest/bios-tables-test tests/qtest/cpu-plug-test

# Where a binary run from its build dir looks for firmware
share=$(find "$bld/qemu-bundle" -type d -path '*/share/qemu' | head -n 1)
[ -n "$share" ] || { share=$bld/qemu-bundle/usr/local/share/qemu; mkdir -p "$share"; }
for f in /usr/share/seabios/*.bin /usr/lib/ipxe/qemu/*.rom \
         /usr/share/qemu/linuxboot_dma.bin /usr/share/qemu/kvmvapic.bin \
         /usr/share/qemu/opensbi-riscv64-generic-fw_dynamic.bin; do
    [ -e "$share/$(basename "$f")" ] || ln -s "$f" "$share/"
done
# Debian's edk2 for LoongArch and riscv64, where bios-tables-test
# expects QEMU's blobs: the same edk2 as the arm64 guest's
"$top/scripts/build-guest.sh"
efi_version=$(sed -n 's/^EFI_VERSION=//p' "$top/build/guest/versions")
# edk2 PACKAGE: the directory its deb is unpacked in
edk2() {
    fw=$DL_DIR/other/${1}_$efi_version
    if [ ! -d "$fw/usr/share" ]; then
        rm -rf "$fw.deb"
        mkdir -p "$fw.deb"
        chmod 777 "$fw.deb"  # apt downloads as _apt
        (cd "$fw.deb" && apt-get download -q "$1=$efi_version") >&2
        dpkg-deb -x "$fw.deb"/*.deb "$fw"
        rm -rf "$fw.deb"
    fi
    echo "$fw"
}
mkdir -p "$bld/pc-bios"
fw=$(edk2 qemu-efi-loongarch64)
ln -sf "$fw/usr/share/qemu-efi-loongarch64/QEMU_EFI.fd" \
    "$bld/pc-bios/edk2-loongarch64-code.fd"
ln -sf "$fw/usr/share/qemu-efi-loongarch64/QEMU_VARS.fd" \
    "$bld/pc-bios/edk2-loongarch64-vars.fd"
fw=$(edk2 qemu-efi-riscv64)
ln -sf "$fw/usr/share/qemu-efi-riscv64/RISCV_VIRT_CODE.fd" \
    "$bld/pc-bios/edk2-riscv-code.fd"
ln -sf "$fw/usr/share/qemu-efi-riscv64/RISCV_VIRT_VARS.fd" \
    "$bld/pc-bios/edk2-riscv-vars.fd"
note "built $QEMU_OTHER_BUILD_TARGETS in $bld"
