#!/bin/sh
# Build the guest assets from pinned Debian packages (project.conf): the
# kernel, a busybox initramfs whose /init gives the tests a shell on the
# serial console, and for arm64 the edk2 firmware.
#   build-guest.sh          arm64 guest, in build/guest
#   build-guest.sh amd64    x86_64 guest (make other-targets), in build/guest-amd64
set -eu
. "$(dirname "$0")/lib.sh"

arch=${1:-arm64}
case $arch in
arm64)
    out=$top/build/guest
    kernel_pkg=$GUEST_KERNEL_PKG
    kernel_version=$GUEST_KERNEL_VERSION
    kernel_opts="CONFIG_SERIAL_AMBA_PL011_CONSOLE CONFIG_ARM_GIC_V3 CONFIG_KVM"
    ;;
amd64)
    out=$top/build/guest-amd64
    kernel_pkg=$GUEST_X86_KERNEL_PKG
    kernel_version=$GUEST_X86_KERNEL_VERSION
    kernel_opts="CONFIG_SERIAL_8250_CONSOLE"
    ;;
*) die "unknown guest architecture $arch" ;;
esac
deb=$DL_DIR/guest
mkdir -p "$deb" "$out"

fetch() { # package version arch -> path of the .deb (one dir per pin)
    name=$1 ver=$2 arch=$3
    d=$deb/${name}_$(echo "$ver" | tr ':' '_')_$arch
    if ! ls "$d"/*.deb >/dev/null 2>&1; then
        q=$name
        [ "$arch" = all ] || q=$name:$arch
        mkdir -p "$d.tmp"
        chmod 777 "$d.tmp"  # apt downloads as _apt
        (cd "$d.tmp" && apt-get download -q "$q=$ver" >&2) ||
            die "cannot download $q=$ver; is it still on the mirror? update the pin in project.conf"
        rm -rf "$d"
        mv "$d.tmp" "$d"
    fi
    ls "$d"/*.deb
}

stamp=$out/.stamp
want="$kernel_pkg=$kernel_version $GUEST_BUSYBOX_PKG=$GUEST_BUSYBOX_VERSION $GUEST_EFI_PKG=$GUEST_EFI_VERSION $(cat "$top/guest/"* "$0" | sha256sum)"
if [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
    note "guest assets up to date"
    exit 0
fi

kdeb=$(fetch "$kernel_pkg" "$kernel_version" "$arch")
bdeb=$(fetch "$GUEST_BUSYBOX_PKG" "$GUEST_BUSYBOX_VERSION" "$arch")

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
dpkg-deb -x "$kdeb" "$work/k"
dpkg-deb -x "$bdeb" "$work/b"

config=$(ls "$work"/k/boot/config-*)
for opt in CONFIG_ACPI_HOTPLUG_CPU CONFIG_HOTPLUG_CPU CONFIG_ACPI $kernel_opts; do
    grep -qx "$opt=y" "$config" || die "guest kernel lacks $opt=y ($config)"
done
cp "$(ls "$work"/k/boot/vmlinuz-*)" "$out/vmlinuz"
cp "$config" "$out/kernel.config"

if [ "$arch" = arm64 ]; then
    edeb=$(fetch "$GUEST_EFI_PKG" "$GUEST_EFI_VERSION" all)
    dpkg-deb -x "$edeb" "$work/e"
    cp "$work/e/usr/share/qemu-efi-aarch64/QEMU_EFI.fd" "$out/QEMU_EFI.fd"
    cp "$work/e/usr/share/AAVMF/AAVMF_CODE.no-secboot.fd" "$out/AAVMF_CODE.fd"
    cp "$work/e/usr/share/AAVMF/AAVMF_VARS.fd" "$out/AAVMF_VARS.fd"
fi

# The initramfs: busybox, /init and its helpers from guest/.
r=$work/root
mkdir -p "$r/bin" "$r/sbin" "$r/etc" "$r/proc" "$r/sys" "$r/dev" "$r/tmp" "$r/root"
cp "$work/b/usr/bin/busybox" "$r/bin/busybox"
for f in "$top"/guest/*; do
    case $f in
    */init) install -m 0755 "$f" "$r/init" ;;
    *.sh) install -m 0755 "$f" "$r/bin/$(basename "$f" .sh)" ;;
    *) install -m 0644 "$f" "$r/etc/$(basename "$f")" ;;
    esac
done
(cd "$r" && find . | sort | cpio -o -H newc --quiet -R 0:0 | gzip -9n) > "$out/initrd.cpio.gz"
echo "$want" > "$stamp"
note "guest: $(ls "$out" | tr '\n' ' ')"
