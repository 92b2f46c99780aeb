"""A virt machine as large as a GICv3 allows: 512 possible vCPUs.  The
ACPI tables describe them all; they must stay below the size the machine
type allows them (no "ACPI table size ... migration may not work"), and
a guest with hot-added vCPUs must migrate."""

import time

import pytest

from cpus import (Topology, assert_guest_log_clean, cpu_add, cpu_del,
                  guest_cpus, runs_work, wait_guest_cpus, wait_migration)
from guest import LOG_DIR
from test_hotplug import check_views

SIZE_WARNING = 'ACPI table size'


def test_512_possible_cpus_migrate(boot, tmp_path):
    topo = Topology(cpus=1, maxcpus=512)
    src = boot(smp=topo.smp)
    assert guest_cpus(src, 'possible') == list(range(512))
    for i in (5, 300, 511):
        cpu_add(src, topo, i)
    cpu_del(src, 'cpu5')        # a slot used, then freed
    check_views(src, topo, [0, 300, 511])

    state = tmp_path / 'state'
    src.qmp('migrate', uri=f'exec:cat > {state}')
    wait_migration(src)
    src.shutdown()
    assert SIZE_WARNING not in src.log, src.log

    devices = []
    for i in (300, 511):
        props = ','.join(f'{k}={v}' for k, v in topo.props(i).items())
        devices += ['-device', f'max-arm-cpu,id=cpu{i},{props}']
    dst = boot(smp=topo.smp, wait=False,
               extra=devices + ['-incoming', f'exec:cat {state}'])
    wait_migration(dst)
    assert dst.qmp('query-status')['status'] == 'running'
    dst.sh('true')
    check_views(dst, topo, [0, 300, 511])
    cpu_del(dst, 'cpu300')
    cpu_add(dst, topo, 5)
    check_views(dst, topo, [0, 5, 511])
    wait_guest_cpus(dst, 'online', [0, 5, 511])
    # the last slot, and the second redistributor region, again
    cpu_del(dst, 'cpu511')
    cpu_add(dst, topo, 300)
    check_views(dst, topo, [0, 5, 300])
    dst.shutdown()
    assert SIZE_WARNING not in dst.log, dst.log


def test_512_cold_cpus_no_size_warning(boot):
    """512 vCPUs from the start, no hotplug: on the new machine type the
    size the tables may take is set by the machine type, not by whether
    this machine can plug CPUs (pristine 10.2.2 warns at 72625 bytes)."""
    g = boot(smp='512', wait=False, extra=['-S'])
    assert len(g.qmp('query-cpus-fast')) == 512
    g.shutdown()
    assert SIZE_WARNING not in g.log, g.log


@pytest.mark.time_limit(1200)
def test_63_vcpus_at_once(boot):
    """-smp 1,maxcpus=64: 63 device_adds back to back, the guest onlines
    every vCPU and runs work on each, then 63 device_dels back to back,
    and the guest ejects them all.  The times go to
    build/test-logs/many-vcpus.txt."""
    topo = Topology(cpus=1, maxcpus=64)
    g = boot(smp=topo.smp)
    everyone = list(range(64))
    start = time.monotonic()
    for i in everyone[1:]:
        cpu_add(g, topo, i)
    added = time.monotonic()
    wait_guest_cpus(g, 'online', everyone, timeout=600)
    online = time.monotonic()
    check_views(g, topo, everyone)
    # work pinned to each vCPU in turn (64 busy vCPUs at once on a
    # 2-core host starve the guest's RCU)
    for i in everyone[1:]:
        assert runs_work(g, i, seconds=0.2) > 0, f'no work ran on CPU {i}'
    removing = time.monotonic()
    for i in everyone[1:]:
        g.qmp('device_del', id=f'cpu{i}')
    for i in everyone[1:]:
        assert g.vm.event_wait('DEVICE_DELETED', timeout=600.0,
                               match={'data': {'device': f'cpu{i}'}}), i
    removed = time.monotonic()
    check_views(g, topo, [0])
    assert_guest_log_clean(g)
    with open(f'{LOG_DIR}/many-vcpus.txt', 'w', encoding='utf-8') as f:
        f.write(f'device_add x63: {added - start:.2f}s\n'
                f'all online: {online - start:.1f}s\n'
                f'device_del x63 to the last DEVICE_DELETED:'
                f' {removed - removing:.1f}s\n')
