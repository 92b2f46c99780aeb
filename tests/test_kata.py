"""Kata Containers' two runtimes, as their QEMU drivers plug vCPUs on an
arm64 virt machine (TCG here; test_kvm.py's test_kata_* run the same
flows under KVM with host-arm-cpu).

- runtime-rs starts -smp N,maxcpus=M and adds each vCPU with device_add
  id=cpu-<core-id>, socket-id, core-id and thread-id (never cluster-id),
  several in a row, and removes it with device_del cpu-<core-id>.
- The Go runtime starts -smp N,cores=1,threads=1,sockets=M,maxcpus=M and,
  for machine type virt, clears socket-id and thread-id, sending core-id
  alone, which names no slot when there are several sockets: QEMU must
  say which id is missing and keep running.  With socket-id sent (the
  one-line change its driver needs, see the docs), its topology works."""

import pytest
from qemu.qmp import ExecuteError

from cpus import (Topology, assert_guest_log_clean, cpu_del, plugged,
                  runs_work, wait_guest_cpus)

pytestmark = pytest.mark.both_kernels


def test_runtime_rs(boot):
    g = boot(smp='1,maxcpus=4')
    topo = Topology(cpus=1, maxcpus=4)
    for core in (1, 2, 3):
        g.qmp('device_add', driver='max-arm-cpu', id=f'cpu-{core}',
              **{'socket-id': 0, 'core-id': core, 'thread-id': 0})
    wait_guest_cpus(g, 'online', [0, 1, 2, 3])
    for cpu in (1, 2, 3):
        assert runs_work(g, cpu)
    cpu_del(g, 'cpu-3')
    cpu_del(g, 'cpu-1')
    assert plugged(g, topo) == [0, 2]
    wait_guest_cpus(g, 'online', [0, 2])
    assert_guest_log_clean(g)


def test_go_runtime(boot):
    g = boot(smp='1,cores=1,threads=1,sockets=4,maxcpus=4')
    topo = Topology(cpus=1, maxcpus=4, sockets=4, cores=1, threads=1)
    # what the Go runtime sends today for virt: core-id alone
    with pytest.raises(ExecuteError, match='socket-id is not set'):
        g.qmp('device_add', driver='max-arm-cpu', id='cpu-1',
              **{'core-id': 0})
    assert plugged(g, topo) == [0]
    assert g.sh('cat /sys/devices/system/cpu/online') == '0'
    # with socket-id kept, as the changed driver would send it
    for socket in (1, 2):
        g.qmp('device_add', driver='max-arm-cpu', id=f'cpu-{socket}',
              **{'socket-id': socket, 'core-id': 0})
    wait_guest_cpus(g, 'online', [0, 1, 2])
    assert plugged(g, topo) == [0, 1, 2]
    for cpu in (1, 2):
        assert runs_work(g, cpu)
    cpu_del(g, 'cpu-2')
    wait_guest_cpus(g, 'online', [0, 1])
    assert_guest_log_clean(g)
