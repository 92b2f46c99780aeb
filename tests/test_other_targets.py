"""x86_64 and LoongArch64 share the code the series touches (hw/acpi, the
GED, accel/tcg, the CPU core), and riscv64 its ACPI table builder: their
CPU hotplug and ACPI qtests must pass as on pristine 10.2.2, and x86
guests must hotplug under TCG.  scripts/build-other-targets.sh builds
them in the native build dir.  make check runs the CPU hotplug qtests,
the ACPI tables of CPU hotplug on x86, every LoongArch and riscv64 table
and the x86 guests; make other-targets (marker "other") every x86 table
too, which takes over 20 minutes."""

import os

import pytest

from cpus import guest_cpus, runs_work, wait_guest_cpus
from guest import BUILD, X86
from test_qtest import run_qtest

BUILD_DIR = os.path.join(BUILD, 'qemu', 'build')

# The x86 tables with CPU hotplug, which make check compares
X86_CPU_HOTPLUG_TABLES = ['/x86_64/acpi/piix4/cpuhp', '/x86_64/acpi/q35/cpuhp']

# Tables that may differ for reasons outside the series, which does not
# touch them, and only in the bytes test_qtest.firmware_bytes() allows:
# bios-tables-test prefers KVM, and where the host's x86 KVM has no SMM
# (nested, as here) QEMU leaves SMI_CMD, ACPI_ENABLE and ACPI_DISABLE of
# the FACP at zero; Debian's SeaBIOS allocates the NVDIMM DSM buffer
# (MEMA, in the SSDT) and the 64-bit PCI window (in the DSDT) elsewhere
# than the upstream SeaBIOS the expected tables were made with.
class Environmental(dict):
    """{test: tables}, with FACP allowed for every x86_64 test"""

    def get(self, test, default=None):
        tables = super().get(test, set())
        if test.startswith('/x86_64/'):
            tables = tables | {'FACP'}
        return tables


ENVIRONMENTAL = Environmental({
    '/x86_64/acpi/piix4/dimmpxm': {'SSDT'},
    '/x86_64/acpi/q35/mmio64': {'DSDT'},
})


def target_env(arch):
    binary = os.path.join(BUILD_DIR, f'qemu-system-{arch}')
    if not os.path.exists(binary):
        pytest.fail(f'{binary} is missing: run "make other-build"')
    return dict(os.environ, QTEST_QEMU_BINARY=binary)


@pytest.mark.parametrize('arch', ['x86_64', 'loongarch64'])
def test_cpu_plug_test(arch):
    suite = {'x86_64': '/x86_64/cpu-plug',
             'loongarch64': '/loongarch64/cpu-plug/virt'}[arch]
    results, out = run_qtest(target_env(arch), 'cpu-plug-test', suite,
                             build_dir=BUILD_DIR)
    assert results, out
    assert all(ok for ok, _ in results.values()), out


def check_tables(arch, only=None):
    results, out = run_qtest(target_env(arch), 'bios-tables-test',
                             f'/{arch}/acpi', build_dir=BUILD_DIR,
                             allowed=ENVIRONMENTAL, only=only)
    assert results, out
    for test, (passed, _) in results.items():
        assert passed, f'{test} failed\n{out}'


# riscv64 has no CPU hotplug, but its virt tables are written with the
# aml-build the series changes
@pytest.mark.parametrize('arch', ['loongarch64', 'riscv64'])
def test_bios_tables(arch):
    check_tables(arch)


def test_bios_tables_x86_cpu_hotplug():
    check_tables('x86_64', only=X86_CPU_HOTPLUG_TABLES)


@pytest.mark.other
# every x86 table, one bios-tables-test case at a time: over 20 minutes
@pytest.mark.time_limit(2700)
def test_bios_tables_x86():
    check_tables('x86_64')


def test_x86_tcg_cpu_replug(boot):
    """Upstream x86 under TCG aborts when a hot-unplugged CPU's slot is
    plugged again (its vCPU thread needs a TCG context and none is left):
    the series' TCG context reuse fixes that (patch 2's functional test
    checks the same with a Fedora guest it downloads, which this machine
    cannot).  A Debian x86_64 guest on q35 (GUEST_X86_KERNEL_*)."""
    g = boot(smp='1,sockets=1,cores=2,threads=1,maxcpus=2', **X86)
    for cpu_id in ('cpu1', 'cpu1-again', 'cpu1-third'):
        g.qmp('device_add', driver='qemu64-x86_64-cpu', id=cpu_id,
              **{'socket-id': 0, 'core-id': 1, 'thread-id': 0})
        wait_guest_cpus(g, 'online', [0, 1])
        assert runs_work(g, 1) > 0
        g.qmp('device_del', id=cpu_id)
        # x86 under TCG never sends DEVICE_DELETED for the CPU object (a
        # cached FlatView of its SMM address space keeps it), but its
        # slot is free once the guest has ejected it
        g.wait_sh('test -d /sys/devices/system/cpu/cpu1 || echo gone', 'gone')
        assert guest_cpus(g, 'online') == [0]


def test_x86_tcg_plug_after_code_buffer_handed_out(boot):
    """x86 takes the same path as arm: with a small translation buffer
    (tb-size=32, one region per possible vCPU), the running vCPU has
    taken several regions by the time the guest has booted, and a vCPU
    thread started later finds none.  Upstream 10.2.2 aborts; each must
    start anyway and run the guest's work."""
    g = boot(smp='1,sockets=1,cores=16,threads=1,maxcpus=16',
             accel='tcg,thread=multi,tb-size=32', **X86)
    for core in range(1, 16):
        g.qmp('device_add', driver='qemu64-x86_64-cpu', id=f'cpu{core}',
              **{'socket-id': 0, 'core-id': core, 'thread-id': 0})
    wait_guest_cpus(g, 'online', list(range(16)), timeout=300)
    for cpu in range(1, 16):
        assert runs_work(g, cpu, seconds=0.3) > 0, f'CPU {cpu}'
