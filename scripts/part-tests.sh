#!/bin/sh
# Each part of the series (docs/parts) on its own, as the reviewer of that
# posting would test it: build/qemu checked out at the part's last patch,
# built as series-bisect builds it, then the project's tests of what the
# part changes (PART_TESTS below).  The last part is the whole series,
# which make check tests.  build/qemu is put back on master at the end.
#   part-tests.sh [PART...]   only these parts
# PYTEST_ARGS is passed on to pytest (-k EXPR: only some of the tests).
set -eu
. "$(dirname "$0")/lib.sh"

[ -d "$TREE/.git" ] || die "no build/qemu; run 'make tree' first"
[ -z "$(tgit status --porcelain --untracked-files=no)" ] ||
    die "build/qemu has uncommitted changes"

# PART: the pytest node ids of its tests, relative to tests/
tests_of() {
    case $1 in
    1-fixes) echo test_other_targets.py::test_x86_tcg_cpu_replug \
        test_other_targets.py::test_x86_tcg_plug_after_code_buffer_handed_out ;;
    2-startup) echo test_qtest.py::test_unit test_qtest.py::test_bios_tables_virt \
        test_other_targets.py::test_bios_tables \
        test_other_targets.py::test_bios_tables_x86 \
        test_other_targets.py::test_bios_tables_x86_cpu_hotplug ;;
    3-acpi-cpu) echo test_other_targets.py::test_cpu_plug_test \
        test_other_targets.py::test_bios_tables_x86_cpu_hotplug ;;
    4-arm-virt) echo test_qtest.py test_functional.py \
        test_refusals.py::test_board_without_cpu_hotplug ;;
    esac
}

trap 'tgit checkout -q master' EXIT
first=1
parts | while read -r part count; do
    end=$(tgit rev-list --reverse prep..master | sed -n "$((first + count - 1))p")
    first=$((first + count))
    ids=$(tests_of "$part")
    [ -n "$ids" ] || continue
    case " $* " in "  " | *" $part "*) ;; *) continue ;; esac
    note "part $part: building its last patch, $(tgit log -1 --format=%s "$end")"
    tgit checkout -q "$end"
    # shellcheck disable=SC2086
    "$top/scripts/build-qemu.sh" -- $QEMU_BUILD_TARGETS $QEMU_OTHER_BUILD_TARGETS \
        > "$top/build/part-tests.log" 2>&1 || {
        tail -n 30 "$top/build/part-tests.log" >&2
        die "part $part does not build"
    }
    note "part $part: $ids"
    # shellcheck disable=SC2046,SC2086
    (cd "$top" && /usr/bin/python3 -m pytest -q -p no:cacheprovider \
        ${PYTEST_ARGS:-} $(printf 'tests/%s ' $ids)) ||
        die "part $part: its tests fail"
done
note "every part passes its tests on its own tree"
