#!/bin/sh
# make check-sanitizers: build qemu-system-aarch64 and the series' qtests
# with AddressSanitizer and UndefinedBehaviorSanitizer (build/qemu/build-san)
# and run the hotplug tests, the qtests and a short soak against them.
# Every sanitizer report goes to build/sanitizers/; there must be none.
# Leaks are left to test_leaks.py (valgrind): QEMU does not free all it
# holds at exit.
set -eu
. "$(dirname "$0")/lib.sh"

bld=$TREE/build-san
reports=$top/build/sanitizers
start=$(date +%s)
"$top/scripts/build-qemu.sh" "$TREE" "$bld" "$QEMU_SAN_CONFIGURE_FLAGS" -- \
    qemu-system-aarch64 tests/qtest/cpu-plug-test tests/qtest/bios-tables-test
built=$(date +%s)

rm -rf "$reports"
mkdir -p "$reports"
export QEMU=$bld/qemu-system-aarch64 QTEST_BUILD_DIR=$bld
export ASAN_OPTIONS="log_path=$reports/asan:detect_leaks=0:abort_on_error=0"
export UBSAN_OPTIONS="log_path=$reports/ubsan:print_stacktrace=1:halt_on_error=0"
# The guest runs two or three times slower under the sanitizers
export GUEST_BOOT_TIMEOUT=600 GUEST_CMD_TIMEOUT=180 QMP_TIMEOUT=180
export SOAK_CYCLES=${SOAK_CYCLES:-30}
# ASan keeps freed memory in quarantine (256 MiB): the soak checks fds and
# threads only
export SOAK_RSS_SLACK_KIB=$((1024 * 1024))
rc=0
/usr/bin/python3 -m pytest ${PYTEST_FLAGS:--v} -m 'not kvm and not other' \
    -k 'not test_63_vcpus and not 512 and not test_unit' \
    "$top/tests/test_hotplug.py" "$top/tests/test_guest_eject.py" \
    "$top/tests/test_pending.py" "$top/tests/test_robust.py" \
    "$top/tests/test_refusals.py" "$top/tests/test_psci.py" \
    "$top/tests/test_qtest.py" || rc=$?
# Each process writes a file, if only to warn that ASan does not fully
# support QEMU's coroutines (makecontext): a report is an error
found=$(grep -l -E 'ERROR: AddressSanitizer|runtime error:' "$reports"/* \
        2>/dev/null | xargs -r -n1 basename)
if [ -n "$found" ]; then
    for f in "$reports"/*; do
        echo "== $f" >&2
        head -n 60 "$f" >&2
    done
    note "sanitizer reports in $reports: $(echo "$found" | tr '\n' ' ')"
    rc=1
fi
note "build $((built - start))s, tests $(($(date +%s) - built))s, exit $rc"
echo "build=$((built - start))s tests=$(($(date +%s) - built))s reports=$(echo "$found" | wc -w) rc=$rc" \
    > "$top/build/sanitizers.txt"
exit $rc
