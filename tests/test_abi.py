"""What the guest sees depends only on the machine type and the command
line: -machine cpu-hotplug=off gives a virt-11.0 guest the machine it had
without CPU hotplug, and a migration between two QEMUs that differ there
fails on the destination, with an error that says why, while the source
guest goes on.  (Under KVM, test_kvm.py checks a host that cannot
provide CPU hotplug.)"""

import re
import time

import pytest

from cpus import Topology, cpu_add, guest_cpus, runs_work, wait_guest_cpus
from guest import Guest

MACHINE = 'virt,gic-version=3'


def gic_num_cpu(g):
    qtree = g.qmp('human-monitor-command', command_line='info qtree')
    return [int(n) for n in re.findall(r'num-cpu = (\d+)', qtree)]


def test_cpu_hotplug_off(boot):
    """cpu-hotplug=off: a GIC with a CPU interface per boot CPU, a guest
    that knows of no other CPU, and device_add refused with the reason."""
    topo = Topology(cpus=2, maxcpus=4)
    g = boot(smp=topo.smp, machine=f'{MACHINE},cpu-hotplug=off')
    assert gic_num_cpu(g) == [2]
    assert guest_cpus(g, 'possible') == [0, 1]
    assert guest_cpus(g, 'online') == [0, 1]
    with pytest.raises(Exception, match=r'CPU hotplug is off '
                       r'\(-machine cpu-hotplug=off\)'):
        cpu_add(g, topo, 2)
    assert len(g.qmp('query-cpus-fast')) == 2


def test_cpu_hotplug_on(boot):
    """cpu-hotplug=on where the configuration allows it: as auto."""
    topo = Topology(cpus=1, maxcpus=3)
    g = boot(smp=topo.smp, machine=f'{MACHINE},cpu-hotplug=on')
    assert gic_num_cpu(g) == [3]
    assert guest_cpus(g, 'possible') == [0, 1, 2]
    cpu_add(g, topo, 2)
    wait_guest_cpus(g, 'online', [0, 2])
    assert runs_work(g, 2) > 0


@pytest.mark.parametrize('src,dst', [('off', 'auto'), ('auto', 'off')])
def test_migration_to_other_cpu_hotplug(boot, tmp_path, src, dst):
    """The destination's GIC has another number of CPU interfaces than the
    source's: it refuses the stream at the GIC, says why, and exits.  With
    the return path, which tells the source, the source guest runs on."""
    topo = Topology(cpus=1, maxcpus=3)
    g = boot(smp=topo.smp, machine=f'{MACHINE},cpu-hotplug={src}')
    sock = tmp_path / 'migrate.sock'
    d = Guest(f'migrate-to-{dst}', smp=topo.smp,
              machine=f'{MACHINE},cpu-hotplug={dst}', wait=False,
              extra=['-incoming', 'defer'])
    d.launch()
    caps = [{'capability': 'return-path', 'state': True}]
    try:
        d.qmp('migrate-set-capabilities', capabilities=caps)
        d.qmp('migrate-incoming', uri=f'unix:{sock}')
        g.qmp('migrate-set-capabilities', capabilities=caps)
        g.qmp('migrate', uri=f'unix:{sock}')
        d.vm.wait(timeout=120)
    finally:
        d.vm.shutdown()
    log = d.vm.get_log()
    assert d.vm.exitcode() == 1, log
    assert 'another number of GICv3 CPU interfaces' in log, log
    assert re.search(r"device 'arm_gicv3': .* num_cpu", log), log
    deadline = time.monotonic() + 120
    while g.qmp('query-migrate')['status'] != 'failed':
        assert time.monotonic() < deadline, g.qmp('query-migrate')
        time.sleep(0.5)
    assert g.qmp('query-status')['status'] == 'running'
    assert runs_work(g, 0) > 0
