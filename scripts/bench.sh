#!/bin/sh
# make bench: start-up cost of possible vCPUs and hotplug latency, against
# the pristine base and x86 q35 from the same tree, under TCG and nested
# KVM (bench/bench.py).  Needs the patched build, the base (make base),
# the KVM build (make kvm-build); builds x86_64 here.
# A whole run (no arguments) ends with bench/patches.py: the series with
# and without each start-up patch, and part 2's patches on their own tree
# (--landed), for the figures their messages quote;
#   bench.sh patches [ARGS]: that part alone (make bench-patches,
#   make bench-landed).
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
/usr/bin/python3 "$top/bench/bench.py" "$@"
# a whole run (no --only) measures the start-up patches too
if [ $# -eq 0 ]; then
    /usr/bin/python3 "$top/bench/patches.py"
    /usr/bin/python3 "$top/bench/patches.py" --landed
fi
