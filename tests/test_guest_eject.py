"""What the guest may remove by itself: a hostile or buggy guest ejects
CPUs through sysfs, or writes the CPU hotplug registers directly, without
device_del.  QEMU must apply the same policy as device_del, and no guest
action may kill it."""

import pytest
from qemu.qmp import ExecuteError

from cpus import (CPUHP_BASE, CPUHP_FLAG_EJECT, CPUHP_FLAGS, CPUHP_SELECTOR,
                  Topology, cpu_add, guest_cpus, plugged, raw_eject, slots,
                  wait_guest_cpus)

# on Debian's 6.12 kernel and on its newest
pytestmark = pytest.mark.both_kernels


def acpi_cpu(index):
    return f'/sys/bus/acpi/devices/ACPI0007:{index:02x}'


def offline(g, cpu):
    g.sh(f'echo 0 > /sys/devices/system/cpu/cpu{cpu}/online')


def test_boot_cpus_stay(boot):
    """A boot vCPU has no _EJ0, so no eject file, and writing the eject
    register for it changes nothing: QEMU keeps it, and the guest can put
    it back online."""
    topo = Topology(cpus=2, maxcpus=4)
    g = boot(smp=topo.smp)
    # the eject file exists for hot-pluggable slots only
    assert g.sh(f'test -e {acpi_cpu(1)}/eject || echo none') == 'none'
    assert g.sh(f'test -e {acpi_cpu(2)}/eject && echo yes') == 'yes'

    offline(g, 1)
    raw_eject(g, 1)
    raw_eject(g, 0)
    assert plugged(g, topo) == [0, 1]
    assert len(g.qmp('query-cpus-fast')) == 2
    assert len(g.vcpu_threads()) == 2
    g.sh('echo 1 > /sys/devices/system/cpu/cpu1/online')
    wait_guest_cpus(g, 'online', [0, 1])


def test_guest_ejects_hot_added_cpu(boot):
    """The guest may eject a hot-added vCPU without being asked: QEMU
    removes it (DEVICE_DELETED, free slot, one thread less), and the slot
    can be plugged again."""
    topo = Topology(cpus=1, maxcpus=3)
    g = boot(smp=topo.smp)
    cpu_add(g, topo, 2)
    wait_guest_cpus(g, 'online', [0, 2])
    assert len(g.vcpu_threads()) == 2

    offline(g, 2)
    g.sh(f'echo 1 > {acpi_cpu(2)}/eject')
    ev = g.vm.event_wait('DEVICE_DELETED', timeout=60.0,
                         match={'data': {'device': 'cpu2'}})
    assert ev is not None, 'no DEVICE_DELETED after the guest ejected cpu2'
    assert plugged(g, topo) == [0]
    g.wait_sh('test -d /sys/devices/system/cpu/cpu2 || echo gone', 'gone')
    assert len(g.vcpu_threads()) == 1

    cpu_add(g, topo, 2)
    wait_guest_cpus(g, 'online', [0, 2])


def test_raw_eject_of_hot_added_cpu(boot):
    """The same eject, by register writes: QEMU removes the CPU."""
    topo = Topology(cpus=1, maxcpus=2)
    g = boot(smp=topo.smp)
    cpu_add(g, topo, 1)
    wait_guest_cpus(g, 'online', [0, 1])
    offline(g, 1)
    raw_eject(g, 1)
    ev = g.vm.event_wait('DEVICE_DELETED', timeout=60.0,
                         match={'data': {'device': 'cpu1'}})
    assert ev is not None
    assert plugged(g, topo) == [0]


def test_single_threaded_tcg_guest_eject(boot):
    """With one TCG thread for all vCPUs, removing a vCPU would join the
    thread that all share, which does not end while other vCPUs remain:
    QEMU refuses the eject (sysfs or register), stays alive with the
    vCPU, and device_del says why."""
    topo = Topology(cpus=1, maxcpus=2)
    g = boot(smp=topo.smp, accel='tcg,thread=single')
    cpu_add(g, topo, 1)
    wait_guest_cpus(g, 'online', [0, 1])
    offline(g, 1)
    # the slot was empty when the tables were built, so it has _EJ0
    g.sh(f'echo 1 > {acpi_cpu(1)}/eject')
    raw_eject(g, 1)
    assert g.qmp('query-status')['status'] == 'running'
    assert plugged(g, topo) == [0, 1]
    with pytest.raises(ExecuteError, match="needs multi-threaded TCG"):
        g.qmp('device_del', id='cpu1')
    # the guest did not remove it either, and can use it again
    g.wait_sh('test -d /sys/devices/system/cpu/cpu1 && echo here', 'here')
    g.sh('echo 1 > /sys/devices/system/cpu/cpu1/online')
    wait_guest_cpus(g, 'online', [0, 1])
    # the eject that QEMU ignored was reported by the guest
    assert 'Eject incomplete' in g.sh('dmesg')
    assert sorted(slots(g, topo)) == [0, 1]
    assert guest_cpus(g, 'enabled') == [0, 1]


def test_guest_writes_garbage(boot):
    """Root in the guest writes what the AML never does to the CPU
    hotplug registers: selectors past maxcpus, unknown commands, _OST
    data, every width at every offset (unaligned ones fault in the guest,
    not in QEMU), every flag with a boot vCPU, an empty slot or no slot
    selected, and a vCPU asking to eject itself.  QEMU keeps every vCPU,
    keeps running, and ordinary hotplug works afterwards."""
    topo = Topology(cpus=2, maxcpus=4)
    g = boot(smp=topo.smp)
    cpu_add(g, topo, 2)
    wait_guest_cpus(g, 'online', [0, 1, 2])

    def devmem(addr, width, value, cpu=0):
        # from CPU @cpu; a fault kills devmem, not the shell
        g.sh(f'taskset {1 << cpu:x} devmem {addr:#x} {width} {value:#x}'
             f' 2>/dev/null; true')

    # widths and offsets, reads and writes, with an empty slot selected
    for off in range(12):
        for width in (8, 16, 32):
            g.sh(f'devmem {CPUHP_BASE + off:#x} {width} >/dev/null'
                 f' 2>&1; true')
            devmem(CPUHP_SELECTOR, 32, 3)
            devmem(CPUHP_BASE + off, width, 0xffffffff >> (32 - width))
    # selectors past maxcpus, with every command and every flag
    for selector in (4, 0xff, 0x10000, 0xffffffff):
        devmem(CPUHP_SELECTOR, 32, selector)
        for cmd in list(range(6)) + [0x7f, 0xff]:
            devmem(CPUHP_BASE + 5, 8, cmd)
            devmem(CPUHP_BASE + 8, 32, 0xdeadbeef)
        for flag in (2, 4, 8, 16, 0xff):
            devmem(CPUHP_FLAGS, 8, flag)
    # _OST event and status data for a boot vCPU, and every flag
    for selector in (0, 1):
        devmem(CPUHP_SELECTOR, 32, selector)
        for cmd in (1, 2):
            devmem(CPUHP_BASE + 5, 8, cmd)
            devmem(CPUHP_BASE + 8, 32, 0xffffffff)
        for flag in (2, 4, 8, 16, 0xff):
            devmem(CPUHP_FLAGS, 8, flag)
    # vCPU 2 asks to eject itself, from itself
    devmem(CPUHP_SELECTOR, 32, 2, cpu=2)
    devmem(CPUHP_FLAGS, 8, CPUHP_FLAG_EJECT, cpu=2)

    assert g.qmp('query-status')['status'] == 'running'
    assert plugged(g, topo) == [0, 1, 2]
    assert len(g.vcpu_threads()) == 3
    assert g.vm.event_wait('DEVICE_DELETED', timeout=1.0) is None
    wait_guest_cpus(g, 'online', [0, 1, 2])
    # and the hotplug of the guest and of QMP still works
    cpu_add(g, topo, 3)
    wait_guest_cpus(g, 'online', [0, 1, 2, 3])
    for cpu_id in ('cpu2', 'cpu3'):
        g.qmp('device_del', id=cpu_id)
        assert g.vm.event_wait('DEVICE_DELETED', timeout=60.0,
                               match={'data': {'device': cpu_id}})
    wait_guest_cpus(g, 'online', [0, 1])
    assert plugged(g, topo) == [0, 1]
