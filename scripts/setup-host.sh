#!/bin/sh
# Install what the project needs on a Debian 12 (bookworm) host, as root.
# Adds bookworm-backports (meson >= 1.5, libvirt), trixie and sid pinned low
# (guest packages only: the 6.12 kernel, edk2 and busybox from trixie, the
# newest arm64 kernel from sid) and the arm64 architecture (cross build,
# guest debs).
# Reuses the mirror URI already configured; never hard-codes a host.
# Idempotent: a second run only checks.
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
stamp=/var/lib/qemu-arm-cpu-hotplug/host-setup-v4

if [ "$(id -u)" != 0 ]; then
    echo "setup-host: must run as root (apt-get)" >&2
    exit 1
fi
if [ -f "$stamp" ]; then
    exit 0
fi

mirror=$(grep -hE '^(URIs:|deb )' /etc/apt/sources.list.d/*.sources \
             /etc/apt/sources.list 2>/dev/null |
         grep -v security | grep -m1 -oE 'https?://[^ ]+/debian/?' || true)
if [ -z "$mirror" ]; then
    echo "setup-host: no Debian mirror found in the apt sources" >&2
    exit 1
fi
mirror=${mirror%/}
echo "setup-host: using mirror $mirror"

cat > /etc/apt/sources.list.d/qemu-arm-cpu-hotplug.sources <<SRC
Types: deb deb-src
URIs: $mirror
Suites: bookworm-backports trixie
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb deb-src
URIs: $mirror
Suites: sid
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
# trixie and sid are only there for the guests' packages, which are
# downloaded, never installed: nothing may come from them by accident.
cat > /etc/apt/preferences.d/qemu-arm-cpu-hotplug <<PIN
Package: *
Pin: release n=trixie
Pin-Priority: 100

Package: *
Pin: release n=sid
Pin-Priority: 1
PIN
dpkg --add-architecture arm64

export DEBIAN_FRONTEND=noninteractive
apt-get update -q
mkdir -p "$(dirname "$stamp")"
touch "$(dirname "$stamp")/apt-updated"

# Native build of QEMU, the tests, and the guest assets.
apt-get install -y -q --no-install-recommends \
    build-essential ninja-build pkg-config ccache git xz-utils bzip2 \
    python3 python3-venv python3-pytest \
    libglib2.0-dev libfdt-dev libpixman-1-dev zlib1g-dev flex bison \
    cpio gzip binutils file valgrind
apt-get install -y -q --no-install-recommends -t bookworm-backports \
    meson python3-pycotap

# KVM-only aarch64 cross build (see FACTS: libfdt-dev:arm64 is not
# Multi-Arch: same, so scripts/build-kvm.sh unpacks it privately instead).
apt-get install -y -q --no-install-recommends \
    gcc-aarch64-linux-gnu libc6-dev-arm64-cross \
    libglib2.0-dev:arm64 zlib1g-dev:arm64 libfdt1:arm64

# libvirt for tests/test_libvirt.py: 11.3 from bookworm-backports (9.0 in
# bookworm cannot start QEMU >= 9.0), only the libvirt packages taken from
# there, so that nothing else (systemd, Debian's own QEMU and its firmware,
# which the x86 tests use) is upgraded to backports
bpo=bookworm-backports
apt-get install -y -q --no-install-recommends \
    libvirt-daemon/$bpo libvirt-daemon-driver-qemu/$bpo \
    libvirt-daemon-common/$bpo libvirt-daemon-log/$bpo \
    libvirt-clients/$bpo libvirt-common/$bpo libvirt0/$bpo

mkdir -p "$(dirname "$stamp")"
touch "$stamp"
echo "setup-host: done"
