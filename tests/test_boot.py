"""The guest boots with UEFI and ACPI under TCG, and QMP and the guest
agree on its CPUs."""

import pytest


def test_acpi_boot(boot):
    g = boot(smp='cpus=2,maxcpus=4')
    tables = g.sh('ls /sys/firmware/acpi/tables').split()
    assert 'APIC' in tables and 'DSDT' in tables
    devs = g.sh('ls /sys/bus/acpi/devices').split()
    assert 'ACPI0007:00' in devs and 'ACPI0007:01' in devs
    # booted through ACPI, not the device tree
    assert g.sh('ls /proc/device-tree 2>/dev/null | wc -l') == '0'


def test_qmp_and_guest_agree(boot):
    g = boot(smp='cpus=2,maxcpus=4')
    cpus = g.qmp('query-cpus-fast')
    assert [c['cpu-index'] for c in cpus] == [0, 1]
    assert g.cpu_view()['online'] == '0-1'
    assert g.cpu_view()['nproc'] == 2


def test_guest_shell_reports_failures(boot):
    """The harness sees a failing guest command fail."""
    g = boot(smp='1')
    assert g.sh('false', check=False) == ''
    with pytest.raises(AssertionError, match=r'failed \(3\)'):
        g.sh("sh -c 'exit 3'")
    assert g.sh('echo $((6 * 7))') == '42'
