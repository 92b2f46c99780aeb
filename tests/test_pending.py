"""Between the steps of a hotplug: clients that send commands without
waiting for the answers, a device_del that the guest has not answered
yet when something else happens (another device_add or device_del,
stop/cont, system_reset, migration, savevm/loadvm), and a guest that
never answers.  After each, QMP, HMP and the guest must agree, and the
slot must work for the next device_add or device_del.

What is defined: a second device_del re-sends the request; a device_add
into a slot whose unplug is pending is refused (the CPU is still
there); a reset of the guest finishes an unplug whose request the guest
has not seen (the guest that was asked is gone), as ACPI PCI hotplug
does, while a request the guest has answered, by ejecting or refusing
(with _OST), is over; stop/cont, migration and savevm/loadvm carry a
request over, and the guest answers it once it runs again."""

import json
import os
import socket
import subprocess
import threading

import pytest
from qemu.qmp import ExecuteError

from cpus import (Topology, cpu_add, cpu_del, plugged, runs_work,
                  stop_with_unplug_pending, wait_guest_cpus, wait_migration)
from guest import BUILD

QEMU_IMG = os.path.join(BUILD, 'qemu', 'build', 'qemu-img')
PROCESSOR_HOTPLUG = '/sys/firmware/acpi/hotplug/processor/enabled'
# _OST of an eject request (source 3) that the guest refused because its
# hotplug of processors is disabled (ACPI_OST_SC_EJECT_NOT_SUPPORTED)
OST_EJECT_REQUEST = 3
OST_EJECT_NOT_SUPPORTED = 0x80


class RawQMP:
    """A QMP connection of our own, to send commands without waiting for
    their answers."""

    def __init__(self, path):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(60)
        self.sock.connect(path)
        self.file = self.sock.makefile('rw', encoding='utf-8')
        assert 'QMP' in json.loads(self.file.readline())
        self.send('qmp_capabilities')
        assert self.answers(1) == [{'return': {}}]

    def send(self, cmd, **args):
        self.file.write(json.dumps({'execute': cmd, 'arguments': args})
                        + '\n')
        self.file.flush()

    def answers(self, n):
        """The next @n answers, in order (events left out)"""
        out = []
        while len(out) < n:
            msg = json.loads(self.file.readline())
            if 'event' not in msg:
                out.append(msg)
        return out

    def close(self):
        self.sock.close()


def device_add_msg(topo, index, cpu_id):
    return dict(driver='max-arm-cpu', id=cpu_id, **topo.props(index))


def check_agree(g, topo, present):
    """QMP, HMP, QEMU's threads and the guest agree on the CPUs; one CPU
    per slot."""
    assert plugged(g, topo) == present
    assert sorted(c['cpu-index'] for c in g.qmp('query-cpus-fast')) == present
    hmp = g.qmp('human-monitor-command',
                command_line='info hotpluggable-cpus')
    assert hmp.count('qom_path') == len(present), hmp
    assert len(g.vcpu_threads()) == len(present)
    wait_guest_cpus(g, 'online', present)


def no_more_deleted(g, seconds=2.0):
    """No (other) DEVICE_DELETED comes within @seconds."""
    ev = g.vm.event_wait('DEVICE_DELETED', timeout=seconds)
    assert ev is None, f'an unexpected DEVICE_DELETED: {ev}'


def ost(g, index):
    return g.qmp('query-acpi-ospm-status')[index]


def qmp_sock(tmp_path, name):
    return str(tmp_path / f'{name}.qmp')


def test_pipelined_device_add(boot, tmp_path):
    """Several device_adds sent back to back on one connection, and from
    two connections at once, some for the same slot: each gets an answer
    in order, exactly one CPU lands in each slot."""
    topo = Topology(cpus=1, maxcpus=8)
    path, path2 = qmp_sock(tmp_path, 'a'), qmp_sock(tmp_path, 'b')
    g = boot(smp=topo.smp, extra=['-qmp', f'unix:{path},server=on,wait=off',
                                  '-qmp', f'unix:{path2},server=on,wait=off'])
    c = RawQMP(path)
    for i in (1, 2, 3):
        c.send('device_add', **device_add_msg(topo, i, f'cpu{i}'))
    c.send('device_add', **device_add_msg(topo, 3, 'again3'))
    c.send('device_add', **device_add_msg(topo, 4, 'cpu1'))
    answers = c.answers(5)
    assert answers[:3] == [{'return': {}}] * 3, answers
    assert 'already plugged' in answers[3]['error']['desc'], answers
    assert 'Duplicate device ID' in answers[4]['error']['desc'], answers
    check_agree(g, topo, [0, 1, 2, 3])

    # two connections, each adding slots 4-7 at once: each slot is
    # taken by one of them, the other is told it is taken
    c2 = RawQMP(path2)
    results = {}

    def add_all(conn, tag):
        for i in range(4, 8):
            conn.send('device_add', **device_add_msg(topo, i, f'{tag}{i}'))
        results[tag] = conn.answers(4)

    threads = [threading.Thread(target=add_all, args=(conn, tag))
               for conn, tag in ((c, 'x'), (c2, 'y'))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    for i in range(4):
        got = [results[tag][i] for tag in ('x', 'y')]
        assert sorted('return' in a for a in got) == [False, True], got
        assert 'already plugged' in \
            next(a for a in got if 'error' in a)['error']['desc']
    check_agree(g, topo, list(range(8)))
    for tag in ('x', 'y'):
        for i in range(4, 8):
            if 'return' in results[tag][i - 4]:
                cpu_del(g, f'{tag}{i}')
    check_agree(g, topo, [0, 1, 2, 3])
    c.close()
    c2.close()


def test_device_del_twice(boot):
    """A second device_del re-sends the request; one DEVICE_DELETED."""
    topo = Topology(cpus=1, maxcpus=2)
    g = boot(smp=topo.smp)
    cpu_add(g, topo, 1)
    wait_guest_cpus(g, 'online', [0, 1])
    g.qmp('device_del', id='cpu1')
    g.qmp('device_del', id='cpu1')
    assert g.vm.event_wait('DEVICE_DELETED', timeout=60.0,
                           match={'data': {'device': 'cpu1'}})
    no_more_deleted(g)
    with pytest.raises(ExecuteError, match="Device 'cpu1' not found"):
        g.qmp('device_del', id='cpu1')
    check_agree(g, topo, [0])
    cpu_add(g, topo, 1)
    check_agree(g, topo, [0, 1])


def test_device_add_while_unplug_pending(boot):
    """While the guest has not answered a device_del (it is stopped), the
    CPU is still there: a device_add into its slot, or with its id, is
    refused; once the guest runs, it ejects the CPU, and the slot takes a
    new one."""
    topo = Topology(cpus=1, maxcpus=3)
    g = boot(smp=topo.smp)
    stop_with_unplug_pending(g, topo, 2)
    with pytest.raises(ExecuteError, match='already plugged'):
        cpu_add(g, topo, 2, cpu_id='other')
    with pytest.raises(ExecuteError, match='Duplicate device ID'):
        cpu_add(g, topo, 1, cpu_id='cpu2')
    assert plugged(g, topo) == [0, 2]
    g.qmp('cont')
    assert g.vm.event_wait('DEVICE_DELETED', timeout=60.0,
                           match={'data': {'device': 'cpu2'}})
    check_agree(g, topo, [0])
    cpu_add(g, topo, 2)
    check_agree(g, topo, [0, 2])


def test_device_del_while_adding(boot):
    """device_del right after device_add, before the guest has even seen
    the CPU: the guest takes it and ejects it; one DEVICE_DELETED."""
    topo = Topology(cpus=1, maxcpus=3)
    g = boot(smp=topo.smp)
    for _ in range(3):
        cpu_add(g, topo, 1)
        g.qmp('device_del', id='cpu1')
        assert g.vm.event_wait('DEVICE_DELETED', timeout=60.0,
                               match={'data': {'device': 'cpu1'}})
        no_more_deleted(g, 1.0)
        g.wait_sh('test -d /sys/devices/system/cpu/cpu1 || echo gone',
                  'gone')
        check_agree(g, topo, [0])
    cpu_add(g, topo, 1)
    check_agree(g, topo, [0, 1])
    assert runs_work(g, 1) > 0


def test_pending_unplug_reset(boot):
    """A reset finishes a pending unplug: DEVICE_DELETED at once, the
    rebooted guest never sees the CPU, and later CPU hotplug events do
    not make it eject anything else."""
    topo = Topology(cpus=1, maxcpus=4)
    g = boot(smp=topo.smp)
    for i in (1, 2):
        cpu_add(g, topo, i)
    wait_guest_cpus(g, 'online', [0, 1, 2])
    g.qmp('stop')
    g.qmp('device_del', id='cpu2')
    g.qmp('system_reset')
    assert g.vm.event_wait('DEVICE_DELETED', timeout=10.0,
                           match={'data': {'device': 'cpu2'}})
    g.qmp('cont')
    g.wait_ready()
    check_agree(g, topo, [0, 1])
    cpu_add(g, topo, 3)
    check_agree(g, topo, [0, 1, 3])
    no_more_deleted(g)
    cpu_add(g, topo, 2)
    check_agree(g, topo, [0, 1, 2, 3])
    assert runs_work(g, 2) > 0


def test_pending_unplug_stop_cont_migrate(boot, tmp_path):
    """A device_del sent while the VM is stopped is carried over by a
    migration (to a file): the destination's guest answers it."""
    topo = Topology(cpus=1, maxcpus=3)
    src = boot(smp=topo.smp)
    stop_with_unplug_pending(src, topo, 2)
    state = tmp_path / 'state'
    src.qmp('migrate', uri=f'exec:cat > {state}')
    wait_migration(src)
    src.shutdown()

    props = ','.join(f'{k}={v}' for k, v in topo.props(2).items())
    dst = boot(smp=topo.smp, wait=False,
               extra=['-device', f'max-arm-cpu,id=cpu2,{props}',
                      '-incoming', f'exec:cat {state}'])
    wait_migration(dst)
    assert dst.qmp('query-status')['status'] == 'paused'
    dst.qmp('cont')
    assert dst.vm.event_wait('DEVICE_DELETED', timeout=60.0,
                             match={'data': {'device': 'cpu2'}})
    dst.sh('true')
    check_agree(dst, topo, [0])
    cpu_add(dst, topo, 2)
    check_agree(dst, topo, [0, 2])


def test_guest_never_ejects(boot, tmp_path):
    """A guest that refuses eject requests (its ACPI processor hotplug
    switched off): query-acpi-ospm-status says so, the vCPU keeps
    working, a second device_del asks again, the VM migrates live in
    that state, and the guest that a reset boots ejects as usual."""
    topo = Topology(cpus=1, maxcpus=3)
    src = boot(smp=topo.smp)
    cpu_add(src, topo, 2)
    wait_guest_cpus(src, 'online', [0, 2])
    src.sh(f'echo 0 > {PROCESSOR_HOTPLUG}')
    for _ in range(2):
        src.qmp('device_del', id='cpu2')
        ev = src.vm.event_wait('ACPI_DEVICE_OST', timeout=30.0, match={
            'data': {'info': {'source': OST_EJECT_REQUEST}}})
        assert ev and ev['data']['info'] == {
            'device': 'cpu2', 'slot': '2', 'slot-type': 'CPU',
            'source': OST_EJECT_REQUEST, 'status': OST_EJECT_NOT_SUPPORTED}
        assert ost(src, 2)['status'] == OST_EJECT_NOT_SUPPORTED
        no_more_deleted(src, 1.0)
        check_agree(src, topo, [0, 2])
        assert runs_work(src, 2, seconds=0.5) > 0

    # live migration, to a QEMU started with the CPU
    sock = tmp_path / 'migrate.sock'
    props = ','.join(f'{k}={v}' for k, v in topo.props(2).items())
    dst = boot(smp=topo.smp, wait=False,
               extra=['-device', f'max-arm-cpu,id=cpu2,{props}',
                      '-incoming', f'unix:{sock}'])
    src.qmp('migrate', uri=f'unix:{sock}')
    wait_migration(src)
    wait_migration(dst)
    src.shutdown()
    dst.sh('true')
    assert ost(dst, 2)['status'] == OST_EJECT_NOT_SUPPORTED
    check_agree(dst, topo, [0, 2])
    assert runs_work(dst, 2, seconds=0.5) > 0

    # the guest has answered (no): a reset keeps the CPU, and the next
    # boot, which ejects as usual, answers the next request
    dst.qmp('system_reset')
    dst.wait_ready()
    no_more_deleted(dst, 1.0)
    check_agree(dst, topo, [0, 2])
    cpu_del(dst, 'cpu2')
    check_agree(dst, topo, [0])


def test_pending_unplug_savevm_loadvm(boot, tmp_path):
    """savevm with a device_del pending, after which the guest ejects the
    CPU; loadvm, with the CPU plugged back (a snapshot needs the devices
    it was taken with), brings the pending request back, and the guest
    answers it again.  Without the CPU, loadvm fails and says which
    device is missing."""
    disk = tmp_path / 'vmstate.qcow2'
    subprocess.run([QEMU_IMG, 'create', '-q', '-f', 'qcow2', str(disk),
                    '64M'], check=True)
    topo = Topology(cpus=1, maxcpus=3)
    g = boot(smp=topo.smp,
             extra=['-drive', f'if=none,id=vmstate,file={disk}'])
    cpu_add(g, topo, 2)
    wait_guest_cpus(g, 'online', [0, 2])
    g.qmp('stop')
    g.qmp('device_del', id='cpu2')
    hmp = g.qmp('human-monitor-command', command_line='savevm pending')
    assert hmp.strip() == '', hmp
    g.qmp('cont')
    assert g.vm.event_wait('DEVICE_DELETED', timeout=60.0,
                           match={'data': {'device': 'cpu2'}})
    check_agree(g, topo, [0])

    cpu_add(g, topo, 2)
    wait_guest_cpus(g, 'online', [0, 2])
    g.qmp('stop')
    hmp = g.qmp('human-monitor-command', command_line='loadvm pending')
    assert hmp.strip() == '', hmp
    g.qmp('cont')
    assert g.vm.event_wait('DEVICE_DELETED', timeout=60.0,
                           match={'data': {'device': 'cpu2'}})
    g.sh('true')
    check_agree(g, topo, [0])
    assert runs_work(g, 0) > 0

    # the CPU is gone now: the snapshot cannot be loaded (what a failed
    # loadvm leaves of the guest is undefined, so the test ends here)
    g.qmp('stop')
    hmp = g.qmp('human-monitor-command', command_line='loadvm pending')
    assert 'cpu' in hmp.lower() and 'error' in hmp.lower(), hmp
    assert g.qmp('query-status')['status'] != 'running'
