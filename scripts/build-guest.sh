#!/bin/sh
# Build the guest assets from Debian packages: the kernels, a busybox
# initramfs whose /init gives the tests a shell on the serial console, and
# for arm64 the edk2 firmware.
#   build-guest.sh          arm64 guest, in build/guest
#   build-guest.sh amd64    x86_64 guest (make other-targets), in build/guest-amd64
#
# Debian replaces kernel and firmware packages at every point release and
# upload, and the mirror keeps only the current ones, so no version is
# pinned: project.conf names the suite and the kernel series of each part,
# this script takes the newest package there, checks it, and writes what
# it took to versions in the output directory (one KEY=VALUE per line),
# the one record of it.
set -eu
. "$(dirname "$0")/lib.sh"

arch=${1:-arm64}
case $arch in
arm64)
    out=$top/build/guest
    kernel_opts="CONFIG_SERIAL_AMBA_PL011_CONSOLE CONFIG_ARM_GIC_V3 CONFIG_KVM"
    ;;
amd64)
    out=$top/build/guest-amd64
    kernel_opts="CONFIG_SERIAL_8250_CONSOLE"
    ;;
*) die "unknown guest architecture $arch" ;;
esac
deb=$DL_DIR/guest
mkdir -p "$deb" "$out"

# The indexes must be current, or they name packages the mirror has
# dropped: refresh them once a day.
updated=/var/lib/qemu-arm-cpu-hotplug/apt-updated
if [ -z "$(find "$updated" -mmin -1440 2>/dev/null)" ]; then
    note "refreshing the apt indexes"
    apt-get update -q >&2 || die "apt-get update failed"
    mkdir -p "$(dirname "$updated")"
    touch "$updated"
fi

# newest SUITE PACKAGE: the newest version of PACKAGE in SUITE (or in its
# -security and -updates suites), per the apt indexes
newest() {
    best=""
    for v in $(apt-cache madison "$2" 2>/dev/null | awk -F'|' -v s="$1" '
            { split($3, a, " "); split(a[2], b, "/")
              if (b[1] == s || b[1] == s "-security" || b[1] == s "-updates")
                  { gsub(/ /, "", $2); print $2 } }'); do
        if [ -z "$best" ] || dpkg --compare-versions "$v" gt "$best"; then
            best=$v
        fi
    done
    echo "$best"
}

# fetch PACKAGE VERSION ARCH: the path of the .deb (one dir per version)
fetch() {
    name=$1 ver=$2 a=$3
    d=$deb/${name}_$(echo "$ver" | tr ':' '_')_$a
    if ! ls "$d"/*.deb >/dev/null 2>&1; then
        q=$name
        [ "$a" = all ] || q=$name:$a
        rm -rf "$d.tmp"
        mkdir -p "$d.tmp"
        chmod 777 "$d.tmp"  # apt downloads as _apt
        (cd "$d.tmp" && apt-get download -q "$q=$ver" >&2) ||
            die "cannot download $q=$ver"
        rm -rf "$d"
        mv "$d.tmp" "$d"
    fi
    ls "$d"/*.deb
}

# kernel SUITE SERIES PREFIX: resolve the kernel of SUITE (which must be of
# SERIES, if given) through its linux-image-ARCH metapackage, and set
# ${PREFIX}_PKGS (the packages holding the image and its config) and
# ${PREFIX}_VERSION.  Debian ships a kernel either as one unsigned image
# package, or (from 7.x) as linux-binary-* (the image) and linux-base-*
# (the config, among others).
kernel() {
    suite=$1 series=$2 prefix=$3
    ver=$(newest "$suite" "linux-image-$arch:$arch")
    [ -n "$ver" ] || die "no linux-image-$arch in $suite"
    abi=$(apt-cache show "linux-image-$arch:$arch=$ver" |
          sed -n "s/^Depends:.*linux-image-\([0-9][^ ]*\)-$arch (=.*/\1/p" |
          head -n 1)
    [ -n "$abi" ] || die "cannot tell the kernel of linux-image-$arch $ver"
    case $abi in
    "$series".*|"$series") ;;
    *) [ -z "$series" ] || die "$suite's kernel is $abi, not $series" ;;
    esac
    if apt-cache show "linux-image-$abi-$arch-unsigned:$arch=$ver" \
            >/dev/null 2>&1; then
        pkgs="linux-image-$abi-$arch-unsigned"
    else
        pkgs="linux-binary-$abi-$arch linux-base-$abi-$arch"
    fi
    eval "${prefix}_PKGS=\"$pkgs\" ${prefix}_VERSION=$ver"
}

# unpack_kernel PREFIX NAME: unpack the kernel to $out/vmlinuz$NAME and
# its config to $out/kernel$NAME.config, and check the config
unpack_kernel() {
    eval "pkgs=\$${1}_PKGS ver=\$${1}_VERSION"
    k=$work/k$2
    for p in $pkgs; do
        dpkg-deb -x "$(fetch "$p" "$ver" "$arch")" "$k"
    done
    image=$(find "$k" -name 'vmlinuz*' -type f | head -n 1)
    config=$(find "$k" \( -name 'config-*' -o -name config \) -type f |
             head -n 1)
    [ -n "$image" ] && [ -n "$config" ] || die "no image or config in $pkgs"
    for opt in CONFIG_ACPI_HOTPLUG_CPU CONFIG_HOTPLUG_CPU CONFIG_ACPI $kernel_opts; do
        grep -qx "$opt=y" "$config" || die "guest kernel $pkgs lacks $opt=y"
    done
    cp "$image" "$out/vmlinuz$2"
    cp "$config" "$out/kernel$2.config"
}

if [ "$arch" = arm64 ]; then
    kernel "$GUEST_KERNEL_SUITE" "$GUEST_KERNEL_SERIES" KERNEL
    kernel "$GUEST_NEW_KERNEL_SUITE" "" NEW_KERNEL
else
    kernel "$GUEST_X86_KERNEL_SUITE" "$GUEST_X86_KERNEL_SERIES" KERNEL
fi
BUSYBOX_VERSION=$(newest "$GUEST_PKG_SUITE" "$GUEST_BUSYBOX_PKG:$arch")
[ -n "$BUSYBOX_VERSION" ] || die "no $GUEST_BUSYBOX_PKG in $GUEST_PKG_SUITE"
versions="KERNEL_PKGS=\"$KERNEL_PKGS\"
KERNEL_VERSION=$KERNEL_VERSION
BUSYBOX_VERSION=$BUSYBOX_VERSION"
if [ "$arch" = arm64 ]; then
    EFI_VERSION=$(newest "$GUEST_PKG_SUITE" "$GUEST_EFI_PKG")
    [ -n "$EFI_VERSION" ] || die "no $GUEST_EFI_PKG in $GUEST_PKG_SUITE"
    versions="$versions
NEW_KERNEL_PKGS=\"$NEW_KERNEL_PKGS\"
NEW_KERNEL_VERSION=$NEW_KERNEL_VERSION
EFI_VERSION=$EFI_VERSION"
fi

stamp=$out/.stamp
want="$versions $(cat "$top/guest/"* "$0" | sha256sum)"
if [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
    note "guest assets up to date"
    exit 0
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
unpack_kernel KERNEL ""
if [ "$arch" = arm64 ]; then
    unpack_kernel NEW_KERNEL -new
    dpkg-deb -x "$(fetch "$GUEST_EFI_PKG" "$EFI_VERSION" all)" "$work/e"
    cp "$work/e/usr/share/qemu-efi-aarch64/QEMU_EFI.fd" "$out/QEMU_EFI.fd"
    cp "$work/e/usr/share/AAVMF/AAVMF_CODE.no-secboot.fd" "$out/AAVMF_CODE.fd"
    cp "$work/e/usr/share/AAVMF/AAVMF_VARS.fd" "$out/AAVMF_VARS.fd"
fi
dpkg-deb -x "$(fetch "$GUEST_BUSYBOX_PKG" "$BUSYBOX_VERSION" "$arch")" "$work/b"

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
echo "$versions" > "$out/versions"
echo "$want" > "$stamp"
note "guest: $(echo "$versions" | tr '\n' ' ')"
