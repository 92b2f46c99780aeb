"""A virt machine as large as a GICv3 allows: 512 possible vCPUs.  The
ACPI tables describe them all; they must stay below the size the machine
type allows them (no "ACPI table size ... migration may not work"), and
a guest with hot-added vCPUs must migrate."""

from cpus import (Topology, cpu_add, cpu_del, guest_cpus, wait_guest_cpus,
                  wait_migration)
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
