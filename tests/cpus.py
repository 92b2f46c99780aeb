"""vCPU hotplug helpers: the QMP side (slots, device_add/device_del) and
the guest side (what Linux reports, running work on a CPU)."""

import struct
import time

from guest import GuestError

TOPO_IDS = ('socket-id', 'cluster-id', 'core-id', 'thread-id')


class Topology:
    """The -smp topology of a test, to map slot indexes to topology ids."""

    def __init__(self, cpus, maxcpus, sockets=1, clusters=1, cores=None,
                 threads=1):
        self.cpus = cpus
        self.maxcpus = maxcpus
        self.sockets = sockets
        self.clusters = clusters
        self.threads = threads
        self.cores = cores or maxcpus // (sockets * clusters * threads)
        assert sockets * self.clusters * self.cores * threads == maxcpus

    @property
    def smp(self):
        return (f'cpus={self.cpus},maxcpus={self.maxcpus},'
                f'sockets={self.sockets},clusters={self.clusters},'
                f'cores={self.cores},threads={self.threads}')

    def props(self, index):
        t = index % self.threads
        c = index // self.threads % self.cores
        cl = index // (self.threads * self.cores) % self.clusters
        s = index // (self.threads * self.cores * self.clusters)
        return {'socket-id': s, 'cluster-id': cl, 'core-id': c,
                'thread-id': t}

    def index(self, props):
        return (((props['socket-id'] * self.clusters + props['cluster-id'])
                 * self.cores + props['core-id']) * self.threads
                + props['thread-id'])


def slots(g, topo):
    """query-hotpluggable-cpus as {slot index: entry}."""
    return {topo.index(s['props']): s
            for s in g.qmp('query-hotpluggable-cpus')}


def plugged(g, topo):
    """Indexes of the slots that hold a CPU, per query-hotpluggable-cpus."""
    return sorted(i for i, s in slots(g, topo).items() if 'qom-path' in s)


def cpu_add(g, topo, index, driver='max-arm-cpu', cpu_id=None, **extra):
    cpu_id = cpu_id or f'cpu{index}'
    g.qmp('device_add', driver=driver, id=cpu_id, **topo.props(index),
          **extra)
    return cpu_id


def cpu_del(g, cpu_id, timeout=60):
    """device_del, then wait for DEVICE_DELETED: the guest ejects the CPU."""
    g.qmp('device_del', id=cpu_id)
    ev = g.vm.event_wait('DEVICE_DELETED', timeout=timeout,
                         match={'data': {'device': cpu_id}})
    if ev is None:
        raise GuestError(f'no DEVICE_DELETED for {cpu_id} in {timeout}s;'
                         f' console tail:\n{g.console.tail()}')
    return ev


def stop_with_unplug_pending(g, topo, slot, driver='max-arm-cpu'):
    """Plug @slot, let the guest online it, stop the VM and device_del
    the CPU: the guest cannot answer until the VM runs again."""
    cpu_add(g, topo, slot, driver=driver)
    wait_guest_cpus(g, 'online', list(range(topo.cpus)) + [slot])
    g.qmp('stop')
    g.qmp('device_del', id=f'cpu{slot}')


def cpu_list(text):
    """Parse a Linux CPU list ("0-2,5") into a sorted list of ints."""
    out = []
    for part in filter(None, text.strip().split(',')):
        lo, _, hi = part.partition('-')
        out.extend(range(int(lo), int(hi or lo) + 1))
    return out


def guest_cpus(g, what):
    return cpu_list(g.read(f'/sys/devices/system/cpu/{what}'))


# The CPU hotplug registers of the virt machine (hw/arm/virt.c
# VIRT_ACPI_CPUHP) and their layout (docs/specs/acpi_cpu_hotplug.rst)
CPUHP_BASE = 0x090d0000
CPUHP_SELECTOR = CPUHP_BASE + 0
CPUHP_FLAGS = CPUHP_BASE + 4
CPUHP_FLAG_EJECT = 8


def raw_eject_cmd(index):
    """The guest shell command that ejects slot @index the way a guest
    that skips _EJ0 would: by writing the registers with busybox's
    devmem."""
    return (f'devmem {CPUHP_SELECTOR:#x} 32 {index};'
            f' devmem {CPUHP_FLAGS:#x} 8 {CPUHP_FLAG_EJECT}')


def raw_eject(g, index):
    g.sh(raw_eject_cmd(index))


def wait_guest_cpus(g, what, expect, timeout=60):
    """Wait until /sys/devices/system/cpu/@what lists exactly @expect."""
    deadline = time.monotonic() + timeout
    while True:
        got = guest_cpus(g, what)
        if got == sorted(expect):
            return got
        if time.monotonic() > deadline:
            raise GuestError(f'guest {what} CPUs are {got}, not '
                             f'{sorted(expect)}; console tail:\n'
                             f'{g.console.tail()}')
        time.sleep(0.2)


# What the guest kernel logs when CPU hotplug goes wrong: a possible CPU
# that did not answer PSCI CPU_ON with DENIED or did not come up, a
# redistributor it could not reach, an eject whose _STA still says
# enabled, a CPU that PSCI could not stop, and any oops or warning.
GUEST_LOG_BAD = ('failed to boot|failed to come online|inaccessible|'
                 'Eject incomplete|may not have shut down cleanly|'
                 "didn't die|Call trace|BUG|WARNING")


def assert_guest_log_clean(g, allow=None):
    """Nothing in the guest's kernel log says that CPU hotplug went wrong
    (GUEST_LOG_BAD), but lines that match @allow, if given."""
    skip = f" | grep -v -E \"{allow}\"" if allow else ''
    bad = g.sh(f"dmesg | grep -E \"{GUEST_LOG_BAD}\"{skip} || true")
    assert bad == '', bad


def offline_online(g, cpu):
    """The guest takes vCPU @cpu offline and back: PSCI CPU_OFF and
    AFFINITY_INFO, then CPU_ON"""
    g.sh(f'echo 0 > /sys/devices/system/cpu/cpu{cpu}/online;'
         f' echo 1 > /sys/devices/system/cpu/cpu{cpu}/online')


def cpu_ticks(g, cpu):
    """User+system ticks CPU @cpu has spent, from the guest's /proc/stat."""
    line = g.value(f"grep '^cpu{cpu} ' /proc/stat")
    fields = line.split()
    return int(fields[1]) + int(fields[3])


def runs_work(g, cpu, seconds=1.0):
    """Pin a busy loop to CPU @cpu; return the ticks it ran there."""
    g.sh(f"taskset {1 << cpu:x} sh -c 'while :; do :; done' &"
         f" echo $! > /tmp/busy{cpu}")
    try:
        before = cpu_ticks(g, cpu)
        time.sleep(seconds)
        after = cpu_ticks(g, cpu)
        where = g.value(f"cut -d' ' -f39 /proc/$(cat /tmp/busy{cpu})/stat")
        assert where == str(cpu), f'busy loop runs on CPU {where}, not {cpu}'
    finally:
        g.sh(f'kill $(cat /tmp/busy{cpu})')
    return after - before


def madt_giccs(g):
    """(UID, flags, MPIDR) of every GICC in the guest's MADT."""
    hexdump = g.sh('od -An -v -tx1 /sys/firmware/acpi/tables/APIC')
    data = bytes(int(b, 16) for b in hexdump.split())
    off = 36 + 8    # table header, local interrupt controller address, flags
    out = []
    while off < len(data):
        etype, elen = data[off], data[off + 1]
        if etype == 0xB:    # GICC
            uid, flags = struct.unpack_from('<II', data, off + 8)
            mpidr, = struct.unpack_from('<Q', data, off + 68)
            out.append((uid, flags, mpidr))
        off += elen
    return out


def qom_cpus(g, path='/machine'):
    """QOM paths of every CPU object below @path (a walk of the tree)."""
    found = []
    todo = [path]
    while todo:
        p = todo.pop()
        for prop in g.qmp('qom-list', path=p):
            t = prop['type']
            if not t.startswith('child<'):
                continue
            child = f"{p}/{prop['name']}"
            if t.endswith('-arm-cpu>'):
                found.append(child)
            todo.append(child)
    return sorted(found)


def virt_mpidr(index):
    """The MPIDR the virt machine gives CPU @index with a GICv3: 16 CPUs
    per Aff1 cluster (virt_cpu_mp_affinity())."""
    return (index // 16) << 8 | index % 16


def acpi_table(g, name):
    hexdump = g.sh(f'od -An -v -tx1 /sys/firmware/acpi/tables/{name}')
    return bytes(int(b, 16) for b in hexdump.split())


def pptt_chain(g, uid, table=None):
    """The PPTT processor nodes from the leaf of ACPI processor @uid up to
    the root, as (offset, flags, ACPI processor ID)."""
    data = table or acpi_table(g, 'PPTT')
    nodes = {}
    off = 36
    while off < len(data):
        etype, elen = data[off], data[off + 1]
        if etype == 0:
            flags, parent, pid = struct.unpack_from('<III', data, off + 4)
            nodes[off] = (flags, parent, pid)
        off += elen
    leaf = [o for o, (f, _, pid) in nodes.items() if f & 8 and pid == uid]
    assert len(leaf) == 1, f'PPTT has {len(leaf)} leaves for UID {uid}'
    chain, off = [], leaf[0]
    while off:
        flags, parent, pid = nodes[off]
        chain.append((off, flags, pid))
        off = parent
    return chain


def check_guest_topology(g, topo, cpu_ids):
    """Each CPU in @cpu_ids (slot indexes, each online in the guest) sits
    in the PPTT where its topology ids say, and the guest reports the
    topology of that place (Linux: package_id and cluster_id, and core_id
    of threaded CPUs, are the offsets of the PPTT nodes, which QEMU does
    not give valid IDs; the core_id of an unthreaded CPU is its UID)."""
    table = acpi_table(g, 'PPTT')
    for index in cpu_ids:
        props = topo.props(index)
        logical = g.sh(f'cd /sys/devices/system/cpu && for c in cpu[0-9]*;'
                       f' do [ "$(cat $c/firmware_node/uid)" = {index} ] &&'
                       f' echo ${{c#cpu}}; done; true')
        assert logical, f'the guest has no CPU with UID {index}'
        chain = pptt_chain(g, index, table)
        leaf, above = chain[0], chain[1:-1]      # leave out the root
        socket = above[-1]
        assert socket[1] & 1 and socket[2] == props['socket-id'], chain
        inner = above[:-1]
        core = cluster = None
        if topo.threads > 1:
            core, inner = inner[0], inner[1:]
            assert core[2] == props['core-id'], chain
            assert leaf[1] & 4, 'a threaded CPU whose PPTT leaf is no thread'
        if inner:
            cluster = inner[0]
            assert cluster[2] == props['cluster-id'], chain
        else:
            assert topo.clusters == 1, chain
        base = f'/sys/devices/system/cpu/cpu{logical}/topology/'
        got = {k: int(g.read(base + k)) for k in
               ('physical_package_id', 'cluster_id', 'core_id')}
        want = {'physical_package_id': socket[0],
                'cluster_id': (cluster or socket)[0],
                'core_id': core[0] if core else index}
        assert got == want, f'CPU {index} ({props}): guest {got}, PPTT {want}'


def wait_migration(g, timeout=300):
    """Wait until the migration of @g (a Guest or an L2) has completed."""
    deadline = time.monotonic() + timeout
    while True:
        status = g.qmp('query-migrate').get('status')
        if status == 'completed':
            return
        assert status not in ('failed', 'cancelled'), status
        assert time.monotonic() < deadline, f'migration still {status}'
        time.sleep(0.5)
