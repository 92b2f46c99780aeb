#!/bin/sh
# Debian's arm64 libvirt for the nested KVM rig: the daemon, virsh and the
# QEMU driver, of the version installed on this host for test_libvirt.py
# (scripts/setup-host.sh picks it), with every shared library they need,
# packed as an initramfs that is appended to the L1 host's:
# build/l1/initrd-libvirt.cpio.gz (tests/test_kvm_libvirt.py).  Only the
# L1 of that test carries it, so that the other L1s boot no slower.
set -eu
. "$(dirname "$0")/lib.sh"

out=$top/build/l1
work=$top/build/libvirt-arm64
guest=$top/build/guest
ver=$(dpkg-query -W -f='${Version}' libvirt0 2>/dev/null) ||
    die "libvirt is not installed: run scripts/setup-host.sh"
pkgs="libvirt0 libvirt-daemon libvirt-daemon-driver-qemu libvirt-clients
      libvirt-common libvirt-daemon-common"
[ -f "$out/initrd.cpio.gz" ] || die "no L1 initramfs: run scripts/build-kvm.sh"

root=$work/root
lib=usr/lib/aarch64-linux-gnu
bins="$root/usr/sbin/libvirtd $root/usr/bin/virsh
      $root/$lib/libvirt/connection-driver/libvirt_driver_qemu.so
      $root/$lib/libvirt-qemu.so.0 $root/usr/lib/libvirt/libvirt_iohelper"
libdirs="$root/$lib $root/lib/aarch64-linux-gnu /usr/lib/aarch64-linux-gnu
         /lib/aarch64-linux-gnu /usr/aarch64-linux-gnu/lib"

# closure: the libraries @bins need, as "soname path" lines, path "-" for
# those found nowhere yet
closure() {
    todo=$bins seen=" "
    while [ -n "$todo" ]; do
        next=""
        for f in $todo; do
            for l in $(aarch64-linux-gnu-readelf -d "$f" |
                       sed -n 's/.*Shared library: \[\(.*\)\]/\1/p'); do
                case "$seen" in *" $l "*) continue ;; esac
                seen="$seen$l "
                p=-
                for d in $libdirs; do
                    [ -e "$d/$l" ] && { p=$(readlink -f "$d/$l"); break; }
                done
                echo "$l $p"
                [ "$p" = - ] || next="$next $p"
            done
        done
        todo=$next
    done
}

if [ "$(cat "$work/.version" 2>/dev/null)" != "$ver" ]; then
    rm -rf "$work"
    mkdir -p "$work/debs" "$root"
    (cd "$work/debs" &&
     apt-get download -q $(for p in $pkgs; do echo "$p:arm64=$ver"; done) >&2)
    # The libraries libvirt needs that this host has no arm64 copy of: the
    # arm64 build of the package that holds the host's own copy
    for round in 1 2 3 4 5 6; do
        for d in "$work"/debs/*.deb; do dpkg-deb -x "$d" "$root"; done
        missing=$(closure | sed -n 's/ -$//p')
        [ -n "$missing" ] || break
        need=""
        for l in $missing; do
            p=$(dpkg -S "/usr/lib/x86_64-linux-gnu/$l" \
                        "/lib/x86_64-linux-gnu/$l" 2>/dev/null |
                head -n 1 | cut -d: -f1)
            [ -n "$p" ] || die "no package has $l"
            need="$need $p:arm64"
        done
        (cd "$work/debs" && apt-get download -q $need >&2)
    done
    echo "$ver" > "$work/.version"
fi
missing=$(closure | sed -n 's/ -$//p')
[ -z "$missing" ] || die "libraries still missing:" $missing

stamp=$out/.libvirt-stamp
want=$(cat "$out/initrd.cpio.gz" "$0" "$work/.version" \
           "$guest/AAVMF_CODE.fd" | sha256sum)
if [ "$(cat "$stamp" 2>/dev/null)" = "$want" ] &&
   [ -f "$out/initrd-libvirt.cpio.gz" ]; then
    note "L1 initramfs with libvirt up to date"
    exit 0
fi

r=$(mktemp -d)
trap 'rm -rf "$r"' EXIT
mkdir -p "$r/usr/sbin" "$r/usr/bin" "$r/$lib/libvirt/connection-driver" \
    "$r/usr/share" "$r/etc/libvirt" "$r/opt/l2" "$r/run" "$r/var/lib" \
    "$r/var/log" "$r/var/cache"
ln -s ../run "$r/var/run"
aarch64-linux-gnu-strip -o "$r/usr/sbin/libvirtd" "$root/usr/sbin/libvirtd"
aarch64-linux-gnu-strip -o "$r/usr/bin/virsh" "$root/usr/bin/virsh"
cp "$root/$lib/libvirt/connection-driver/libvirt_driver_qemu.so" \
    "$r/$lib/libvirt/connection-driver/"
# what managedsave writes the domain's state through
mkdir -p "$r/usr/lib/libvirt"
aarch64-linux-gnu-strip -o "$r/usr/lib/libvirt/libvirt_iohelper" \
    "$root/usr/lib/libvirt/libvirt_iohelper"
# all of them: the L1 initramfs has only those of QEMU
closure | while read -r l p; do
    aarch64-linux-gnu-strip -o "$r/$lib/$l" "$p"
done
# CPU models and the like, which the daemon reads
cp -r "$root/usr/share/libvirt" "$r/usr/share/"
rm -rf "$r/usr/share/libvirt/schemas"
# A privileged daemon in L1, which is all root: QEMU runs as root, with
# no security driver, cgroups, namespaces or virtlogd (L1 has none)
cat > "$r/etc/libvirt/qemu.conf" <<'EOF'
user = "root"
group = "root"
dynamic_ownership = 0
remember_owner = 0
security_driver = "none"
cgroup_controllers = [ ]
namespaces = [ ]
stdio_handler = "file"
EOF
# The daemon looks up Debian's default QEMU user and group before it
# reads qemu.conf
printf 'root:x:0:0:root:/root:/bin/sh\nlibvirt-qemu:x:64055:64055::/:/bin/false\n' \
    > "$r/etc/passwd"
printf 'root:x:0:\nkvm:x:108:\nlibvirt-qemu:x:64055:\n' > "$r/etc/group"
# libvirt accepts ACPI on arm only with UEFI from pflash
cp "$guest/AAVMF_CODE.fd" "$guest/AAVMF_VARS.fd" "$r/opt/l2/"
(cd "$r" && find . | sort | cpio -o -H newc --quiet -R 0:0 | gzip -6n) \
    > "$out/libvirt.cpio.gz"
cat "$out/initrd.cpio.gz" "$out/libvirt.cpio.gz" > "$out/initrd-libvirt.cpio.gz"
rm -f "$out/libvirt.cpio.gz"
echo "$want" > "$stamp"
note "L1 initramfs with libvirt: $(du -h "$out/initrd-libvirt.cpio.gz" | cut -f1)"
