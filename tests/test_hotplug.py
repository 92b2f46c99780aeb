"""vCPU hotplug on -M virt under TCG, with a Debian arm64 guest (UEFI,
ACPI).  Every check reads what the guest and QMP report."""

import pytest
from qemu.qmp import ExecuteError

from cpus import (TOPO_IDS, Topology, assert_guest_log_clean,
                  check_guest_topology, cpu_add,
                  cpu_del, guest_cpus, madt_giccs, plugged, qom_cpus,
                  runs_work, slots, virt_mpidr, wait_guest_cpus,
                  wait_migration)


# on Debian's 6.12 kernel and on its newest
pytestmark = pytest.mark.both_kernels


def boot_topo(boot, topo, **kwargs):
    return boot(smp=topo.smp, **kwargs)


def check_views(g, topo, present):
    """QMP, QEMU's threads and the guest agree that the CPUs in @present
    are there."""
    assert plugged(g, topo) == present
    assert sorted(c['cpu-index'] for c in g.qmp('query-cpus-fast')) == present
    threads = 1 if g.single_threaded else len(present)
    assert len(g.vcpu_threads()) == threads
    # the guest knows every possible CPU; the plugged ones are enabled,
    # and (with the guest's udev-like helper) online.  What "present"
    # means depends on the kernel: 6.12 counts every possible CPU, 7.x
    # only the enabled ones; either way it lies between the two.
    assert guest_cpus(g, 'possible') == list(range(topo.maxcpus))
    wait_guest_cpus(g, 'enabled', present)
    wait_guest_cpus(g, 'online', present)
    assert set(present) <= set(guest_cpus(g, 'present')) <= \
        set(range(topo.maxcpus))


TOPOLOGIES = {
    'cores': Topology(cpus=2, maxcpus=4),
    'sockets': Topology(cpus=2, maxcpus=4, sockets=2),
    'clusters-threads': Topology(cpus=2, maxcpus=8, clusters=2, cores=2,
                                 threads=2),
}


@pytest.mark.parametrize('name', TOPOLOGIES)
def test_plug_unplug(boot, name):
    topo = TOPOLOGIES[name]
    g = boot_topo(boot, topo)
    boot_cpus = list(range(topo.cpus))

    # all slots, with their topology ids; the boot CPUs plugged
    s = slots(g, topo)
    assert sorted(s) == list(range(topo.maxcpus))
    for i, slot in s.items():
        assert slot['type'] == 'max-arm-cpu'
        assert slot['vcpus-count'] == 1
        assert {k: slot['props'].get(k) for k in TOPO_IDS} == \
            topo.props(i)
    check_views(g, topo, boot_cpus)

    # the MADT has every possible CPU: boot CPUs Enabled, others Online
    # Capable (never both), with their slot's MPIDR, which is the
    # affinity of the CPU in the slot
    giccs = madt_giccs(g)
    assert [uid for uid, _, _ in giccs] == list(range(topo.maxcpus))
    assert [flags for _, flags, _ in giccs] == \
        [1] * topo.cpus + [8] * (topo.maxcpus - topo.cpus)
    assert [mpidr for _, _, mpidr in giccs] == \
        [virt_mpidr(i) for i in range(topo.maxcpus)]

    # hot-add the last two slots; each runs work in the guest
    new = [topo.maxcpus - 2, topo.maxcpus - 1]
    for i in new:
        cpu_add(g, topo, i)
        check_views(g, topo, sorted(boot_cpus + new[:new.index(i) + 1]))
        assert runs_work(g, i) > 0
        assert g.qmp('qom-get', path=f'/machine/peripheral/cpu{i}',
                     property='mp-affinity') == giccs[i][2]
    # the guest places each CPU where its topology ids say
    check_guest_topology(g, topo, boot_cpus + new)
    hmp = g.vm.cmd('human-monitor-command',
                   command_line='info hotpluggable-cpus')
    assert hmp.count('qom_path') == topo.cpus + 2

    # remove them again: the guest offlines and ejects each
    for i in reversed(new):
        cpu_del(g, f'cpu{i}')
        # the guest unregisters the CPU once its _EJ0 has returned
        g.wait_sh(f'test -d /sys/devices/system/cpu/cpu{i} || echo gone',
                  'gone')
    check_views(g, topo, boot_cpus)
    assert runs_work(g, topo.cpus - 1) > 0
    assert_guest_log_clean(g)


def test_grow_and_shrink_1_to_8(boot):
    topo = Topology(cpus=1, maxcpus=8)
    g = boot_topo(boot, topo)
    check_views(g, topo, [0])
    for i in range(1, 8):
        cpu_add(g, topo, i)
        check_views(g, topo, list(range(i + 1)))
    assert runs_work(g, 7) > 0
    for i in range(7, 0, -1):
        cpu_del(g, f'cpu{i}')
        check_views(g, topo, list(range(i)))
    assert runs_work(g, 0) > 0
    assert_guest_log_clean(g)


def test_replug_same_slot(boot):
    """The same slot, plugged and unplugged 10 times: under TCG each plug
    starts a vCPU thread, so this also proves TCG contexts are reused."""
    topo = Topology(cpus=1, maxcpus=2)
    g = boot_topo(boot, topo)
    for _ in range(10):
        cpu_add(g, topo, 1)
        check_views(g, topo, [0, 1])
        assert runs_work(g, 1, seconds=0.5) > 0
        cpu_del(g, 'cpu1')
        check_views(g, topo, [0])


def test_system_reset_keeps_hot_added_cpus(boot):
    topo = Topology(cpus=1, maxcpus=3)
    g = boot_topo(boot, topo)
    cpu_add(g, topo, 2)
    check_views(g, topo, [0, 2])
    g.qmp('system_reset')
    g.wait_ready()
    check_views(g, topo, [0, 2])
    assert runs_work(g, 2) > 0
    # and it can still be removed, and the other slot used
    cpu_del(g, 'cpu2')
    cpu_add(g, topo, 1)
    check_views(g, topo, [0, 1])


def test_cold_device_cpu(boot):
    """-device on the command line, as the destination of a migration
    gets it: the CPU is there from boot and can be removed later."""
    topo = Topology(cpus=1, maxcpus=4)
    props = ','.join(f'{k}={v}' for k, v in topo.props(2).items())
    g = boot_topo(boot, topo, extra=['-device', f'max-arm-cpu,id=cpu2,{props}'])
    check_views(g, topo, [0, 2])
    assert runs_work(g, 2) > 0
    cpu_del(g, 'cpu2')
    check_views(g, topo, [0])


def test_memory_hotplug_alongside(boot):
    """Memory hotplug shares the GED with CPU hotplug: the tables describe
    both, and plugging a DIMM does not disturb CPU hotplug.  (Debian's
    arm64 kernel lacks CONFIG_ACPI_HOTPLUG_MEMORY, so the guest does not
    take the DIMM into use.)"""
    topo = Topology(cpus=1, maxcpus=2)
    g = boot_topo(boot, topo, memory='1G,slots=2,maxmem=2G')
    devs = g.sh('ls /sys/bus/acpi/devices').split()
    assert 'PNP0C80:00' in devs and 'PNP0C80:01' in devs   # memory slots
    assert 'ACPI0007:01' in devs                            # CPU slot 1
    g.qmp('object-add', qom_type='memory-backend-ram', id='mem1',
          size=256 << 20)
    g.qmp('device_add', driver='pc-dimm', id='dimm1', memdev='mem1')
    dimms = [d['data'] for d in g.qmp('query-memory-devices')]
    assert [(d['id'], d['size']) for d in dimms] == [('dimm1', 256 << 20)]
    cpu_add(g, topo, 1)
    check_views(g, topo, [0, 1])
    cpu_del(g, 'cpu1')
    check_views(g, topo, [0])


def test_prelaunch_device_add(boot):
    """libvirt's flow: start with -S, device_add while paused, cont."""
    topo = Topology(cpus=1, maxcpus=2)
    g = boot_topo(boot, topo, extra=['-S'], wait=False)
    cpu_add(g, topo, 1, cpu_id='vcpu1')
    assert plugged(g, topo) == [0, 1]
    g.qmp('cont')
    g.wait_ready()
    check_views(g, topo, [0, 1])


def test_no_placeholder_cpus(boot):
    """Only the boot CPU exists in QOM, however many CPUs are possible."""
    topo = Topology(cpus=1, maxcpus=64)
    g = boot_topo(boot, topo, extra=['-S'], wait=False)
    assert len(qom_cpus(g)) == 1
    assert len(g.qmp('query-cpus-fast')) == 1
    assert len(slots(g, topo)) == 64
    # one vCPU thread, as the process itself has it
    assert g.vcpu_threads() == ['CPU 0/TCG']
    cpu_add(g, topo, 63)
    assert len(qom_cpus(g)) == 2
    assert g.vcpu_threads() == ['CPU 0/TCG', 'CPU 63/TCG']


def test_errors(boot):
    """Bad requests get clear errors and change nothing."""
    topo = Topology(cpus=2, maxcpus=4)
    g = boot_topo(boot, topo)
    before = g.qmp('query-hotpluggable-cpus')

    def fails(match, cmd, **args):
        with pytest.raises(ExecuteError, match=match):
            g.qmp(cmd, **args)
        assert g.qmp('query-hotpluggable-cpus') == before

    fails('already plugged', 'device_add', driver='max-arm-cpu',
          **topo.props(1))
    fails("expected cpu type: 'max-arm-cpu'", 'device_add',
          driver='cortex-a57-arm-cpu', **topo.props(2))
    fails('core-id: 4 must be in range 0:3', 'device_add',
          driver='max-arm-cpu', **(topo.props(2) | {'core-id': 4}))
    fails('core-id is not set', 'device_add', driver='max-arm-cpu',
          **{k: v for k, v in topo.props(2).items() if k != 'core-id'})
    cpu0 = slots(g, topo)[0]['qom-path']
    cpu1 = slots(g, topo)[1]['qom-path']
    fails('Boot CPUs cannot be unplugged', 'device_del', id=cpu0)
    fails('Boot CPUs cannot be unplugged', 'device_del', id=cpu1)
    check_views(g, topo, [0, 1])


def test_kata_ids(boot):
    """Kata Containers' QEMU driver sends socket-id, core-id and thread-id,
    never cluster-id: on the default topology (one socket, one cluster,
    one thread per core), the ids it sends name a slot.  So do the ids of
    query-hotpluggable-cpus, all of them."""
    g = boot(smp='1,maxcpus=4')
    topo = Topology(cpus=1, maxcpus=4)
    g.qmp('device_add', driver='max-arm-cpu', id='cpu-2',
          **{'socket-id': 0, 'core-id': 2, 'thread-id': 0})
    g.qmp('device_add', driver='max-arm-cpu', id='cpu-3', **{'core-id': 3})
    g.qmp('device_add', driver='max-arm-cpu', id='cpu-1',
          **slots(g, topo)[1]['props'])
    check_views(g, topo, [0, 1, 2, 3])
    # the CPU now has the ids it was plugged without
    assert g.qmp('qom-get', path='/machine/peripheral/cpu-3',
                 property='cluster-id') == 0
    cpu_del(g, 'cpu-2')
    check_views(g, topo, [0, 1, 3])
    # a level with more than one member still needs its id
    g2 = boot(smp='1,maxcpus=4,sockets=2,cores=2')
    with pytest.raises(ExecuteError, match='socket-id is not set'):
        g2.qmp('device_add', driver='max-arm-cpu', **{'core-id': 1})


@pytest.mark.parametrize('cpu,option', [
    ('max', 'sve=off'),
    ('max', 'pmu=off'),
    ('max', 'pauth=off'),
    ('max,sve=off', 'sve=on'),
])
def test_unlike_cpus_refused(boot, cpu, option):
    """A vCPU whose features differ from the boot vCPUs' is refused before
    it exists; QEMU, the guest and the slot are unaffected.  The same
    option as the boot vCPUs' is fine."""
    topo = Topology(cpus=1, maxcpus=3)
    g = boot(smp=topo.smp, cpu=cpu)
    name, _, value = option.partition('=')
    with pytest.raises(ExecuteError, match=f"CPU property '{name}' is "
                       f"{'false' if value == 'off' else 'true'}, but "
                       f"{'true' if value == 'off' else 'false'} on the "
                       "boot CPUs"):
        g.qmp('device_add', driver='max-arm-cpu', id='cpu1',
              **topo.props(1), **{name: value == 'on'})
    check_views(g, topo, [0])
    # the slot is free, and the id too
    cpu_add(g, topo, 1)
    check_views(g, topo, [0, 1])
    if option == 'sve=on':
        # what the boot vCPUs have is what a new one may have
        g.qmp('device_add', driver='max-arm-cpu', id='cpu2',
              **topo.props(2), sve=False)
        check_views(g, topo, [0, 1, 2])
    assert_guest_log_clean(g)


def test_single_threaded_tcg(boot):
    """With one TCG thread for all vCPUs, plug works but unplug, which
    joins the vCPU's thread, is refused clearly."""
    topo = Topology(cpus=1, maxcpus=2)
    g = boot_topo(boot, topo, accel='tcg,thread=single')
    cpu_add(g, topo, 1)
    check_views(g, topo, [0, 1])
    assert runs_work(g, 1) > 0
    with pytest.raises(ExecuteError, match='needs multi-threaded TCG'):
        g.qmp('device_del', id='cpu1')
    check_views(g, topo, [0, 1])


def test_old_machine_type(boot):
    """virt-10.2 keeps the ABI it had: no CPU hotplug, only the boot CPUs
    in the MADT, and device_add fails clearly."""
    topo = Topology(cpus=2, maxcpus=4)
    g = boot_topo(boot, topo, machine='virt-10.2,gic-version=3')
    with pytest.raises(ExecuteError, match='does not support hot-plugging'):
        g.qmp('query-hotpluggable-cpus')
    with pytest.raises(ExecuteError, match='not supported by machine type'):
        cpu_add(g, topo, 2)
    assert [f for _, f, _ in madt_giccs(g)] == [1, 1]
    assert guest_cpus(g, 'possible') == [0, 1]
    assert guest_cpus(g, 'online') == [0, 1]


@pytest.mark.parametrize('machine,append,match', [
    ('virt,gic-version=2', '', 'needs a GICv3: use -machine gic-version=3'),
    ('virt,gic-version=3,acpi=off', '', 'needs ACPI'),
])
def test_unsupported_configs(boot, machine, append, match):
    topo = Topology(cpus=1, maxcpus=2)
    g = boot_topo(boot, topo, machine=machine, append=append)
    with pytest.raises(ExecuteError, match=match):
        cpu_add(g, topo, 1)
    assert guest_cpus(g, 'online') == [0]


def test_migration_with_hot_added_cpu(boot, tmp_path):
    """The GIC state of CPU interfaces with and without a CPU, and a
    hot-added CPU, migrate: the destination gets the CPU with -device."""
    topo = Topology(cpus=1, maxcpus=3)
    src = boot_topo(boot, topo)
    cpu_add(src, topo, 2)
    check_views(src, topo, [0, 2])
    state = tmp_path / 'state'
    src.qmp('migrate', uri=f'exec:cat > {state}')
    wait_migration(src)
    src.shutdown()

    props = ','.join(f'{k}={v}' for k, v in topo.props(2).items())
    dst = boot_topo(boot, topo, wait=False,
                    extra=['-device', f'max-arm-cpu,id=cpu2,{props}',
                           '-incoming', f'exec:cat {state}'])
    wait_migration(dst)
    assert dst.qmp('query-status')['status'] == 'running'
    dst.sh('true')
    check_views(dst, topo, [0, 2])
    assert runs_work(dst, 2) > 0
    cpu_del(dst, 'cpu2')
    cpu_add(dst, topo, 1)
    check_views(dst, topo, [0, 1])
