#!/bin/sh
# make bench: start-up cost of possible vCPUs and hotplug latency, against
# the pristine base and x86 q35 from the same tree, under TCG and nested
# KVM (bench/bench.py).  Needs the patched build, the base (make base),
# the KVM build (make kvm-build); builds x86_64 here.
#   bench.sh patches [ARGS]: the series with and without each start-up
#   patch (bench/patches.py), for the figures their messages quote.
set -eu
. "$(dirname "$0")/lib.sh"

if ! dpkg -s python3-matplotlib > /dev/null 2>&1; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
        --no-install-recommends python3-matplotlib
fi
if [ "${1:-}" = patches ]; then
    shift
    exec /usr/bin/python3 "$top/bench/patches.py" "$@"
fi
# qemu-system-x86_64 and its guest, as make other-targets builds them
"$top/scripts/build-other-targets.sh"
exec /usr/bin/python3 "$top/bench/bench.py" "$@"
