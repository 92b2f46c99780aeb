"""Robustness under TCG: plug/unplug cycles while the guest keeps the
other vCPUs busy with exclusive work (the soak), and vCPUs plugged after
the translation buffer has been handed out.

`make soak` runs test_soak with SOAK_CYCLES=10000 and a progress line."""

import os
import random
import sys
import time

import pytest

from cpus import (Topology, assert_guest_log_clean, cpu_add, cpu_del,
                  guest_cpus, offline_online, runs_work, wait_guest_cpus)
from guest import LOG_DIR

SOAK_CYCLES = int(os.environ.get('SOAK_CYCLES', 200))
# Cycles before QEMU's resources are taken as the reference: the first
# plugs start threads and fill caches that later plugs reuse
SOAK_WARMUP = 20
# How much QEMU's resident memory, but for the translation buffer, may
# grow after the warm-up, in KiB: less than 200 cycles leaking the
# smallest part of a vCPU, its ARMCPU object (over 100 KiB), would add.
SOAK_RSS_SLACK_KIB = int(os.environ.get('SOAK_RSS_SLACK_KIB', 8 * 1024))
TB_SIZE_MIB = 64
RAM_MIB = 1024


def qemu_resources(g, ram_mib):
    """(open fds, threads, resident KiB but for the guest's RAM and the
    translation buffer) of @g's QEMU, from /proc: what the guest touches
    in its RAM, and the translated code, which fills the buffer until it
    is flushed, are no leak.  The RAM is the mapping of its size, the
    translation buffer what is mapped readable, writable and executable
    (one mapping per region, between guard pages)."""
    pid = g.vm.get_pid()
    fds = len(os.listdir(f'/proc/{pid}/fd'))
    threads = len(os.listdir(f'/proc/{pid}/task'))
    rss = code = 0
    with open(f'/proc/{pid}/smaps', encoding='utf-8') as f:
        perms = None
        for line in f:
            fields = line.split()
            if '-' in fields[0] and len(fields) >= 5:
                perms = fields[1]
            elif fields[0] == 'Size:':
                size = int(fields[1])
            elif fields[0] == 'Rss:':
                if perms.startswith('rwx'):
                    code += int(fields[1])
                elif size != ram_mib * 1024:
                    rss += int(fields[1])
    assert code, 'no translation buffer among the mappings'
    return fds, threads, rss


def progress(msg):
    if os.environ.get('SOAK_PROGRESS'):
        sys.stderr.write(f'\r{msg}')
        sys.stderr.flush()


def start_fork_loop(g, cpu):
    """A fork/exec loop pinned to guest CPU @cpu: each exec and exit makes
    the guest kernel broadcast TLB maintenance, which TCG runs as an
    exclusive section (every vCPU out of its execution loop)."""
    g.sh(f"taskset {1 << cpu:x} sh -c 'while :; do /bin/busybox true;"
         f" done' >/dev/null 2>&1 & echo $! > /tmp/forkloop{cpu}")


@pytest.mark.both_kernels
@pytest.mark.time_limit(max(900, SOAK_CYCLES * 12))
def test_soak(boot, guest_kernel):
    """SOAK_CYCLES plug/unplug cycles in rotating slots, two hot-added
    vCPUs at a time, with a fork/exec loop on a boot vCPU and the guest
    taking a random vCPU offline and back in between.  The guest's own
    eject, which runs on one vCPU while another is being removed, must
    never hang QEMU (under MTTCG it used to, once a third vCPU started an
    exclusive section at the wrong time).  After the warm-up, QEMU's fds
    and threads come back to the same counts each cycle, and its memory
    stays within SOAK_RSS_SLACK_KIB; the guest has every CPU it should
    online and logs nothing wrong."""
    topo = Topology(cpus=2, maxcpus=6)
    g = boot(smp=topo.smp, memory=str(RAM_MIB),
             accel=f'tcg,thread=multi,tb-size={TB_SIZE_MIB}')
    rng = random.Random(SOAK_CYCLES)
    start_fork_loop(g, 1)
    hot = topo.maxcpus - topo.cpus
    present = []           # hot-added slots, oldest first
    reference = None
    worst_rss = 0
    started = time.monotonic()
    for cycle in range(SOAK_CYCLES):
        slot = topo.cpus + cycle % hot
        cpu_add(g, topo, slot)
        present.append(slot)
        wait_guest_cpus(g, 'online', list(range(topo.cpus)) + present)
        if rng.random() < 0.3:
            # the guest takes a vCPU offline and back: a boot vCPU or a
            # hot-added one (PSCI CPU_OFF, then CPU_ON)
            cpu = rng.choice([1] + present)
            offline_online(g, cpu)
        if len(present) == 2:
            cpu_del(g, f'cpu{present.pop(0)}')
        # the same state at the end of each cycle: one hot-added vCPU
        assert len(present) == 1
        if cycle >= SOAK_WARMUP:
            fds, threads, rss = qemu_resources(g, RAM_MIB)
            if reference is None:
                reference = (fds, threads, rss)
            assert (fds, threads) == reference[:2], \
                f'cycle {cycle}: {fds} fds and {threads} threads, not' \
                f' {reference[0]} and {reference[1]} as at the warm-up'
            worst_rss = max(worst_rss, rss - reference[2])
            assert worst_rss <= SOAK_RSS_SLACK_KIB, \
                f'cycle {cycle}: QEMU grew by {worst_rss} KiB since the' \
                f' warm-up'
        progress(f'soak ({guest_kernel}): {cycle + 1}/{SOAK_CYCLES} cycles,'
                 f' {time.monotonic() - started:.0f}s,'
                 f' RSS +{worst_rss} KiB')
    progress('\n')
    for slot in present:
        cpu_del(g, f'cpu{slot}')
    wait_guest_cpus(g, 'online', list(range(topo.cpus)))
    g.sh('kill $(cat /tmp/forkloop1)')
    assert runs_work(g, 1) > 0
    assert_guest_log_clean(g)
    with open(os.path.join(LOG_DIR, f'soak-{guest_kernel}.txt'), 'w',
              encoding='utf-8') as f:
        elapsed = time.monotonic() - started
        f.write(f'cycles={SOAK_CYCLES} seconds={elapsed:.0f}'
                f' fds={reference[0] if reference else None}'
                f' threads={reference[1] if reference else None}'
                f' rss_growth_kib={worst_rss}\n')


def test_plug_after_code_buffer_handed_out(boot):
    """Each vCPU thread takes a region of the translation buffer when it
    starts.  With a small buffer (tb-size=32: one 2 MiB region per
    possible vCPU), the running vCPU has taken several by the time the
    guest has booted, so that the threads of vCPUs plugged later find none
    left: each must start anyway (the buffer is flushed), and the guest
    must run on every one of them."""
    topo = Topology(cpus=1, maxcpus=16)
    g = boot(smp=topo.smp, accel='tcg,thread=multi,tb-size=32')
    for slot in range(1, topo.maxcpus):
        cpu_add(g, topo, slot)
    wait_guest_cpus(g, 'online', list(range(topo.maxcpus)), timeout=120)
    for slot in range(1, topo.maxcpus):
        assert runs_work(g, slot, seconds=0.3) > 0, f'CPU {slot}'
    assert g.qmp('query-status')['status'] == 'running'
    assert len(g.vcpu_threads()) == topo.maxcpus
    assert guest_cpus(g, 'online') == list(range(topo.maxcpus))
