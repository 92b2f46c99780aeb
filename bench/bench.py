#!/usr/bin/python3
"""make bench: what possible vCPUs cost at start-up, and how fast hotplug
is, side by side with the pristine base and x86 q35 (see README.md).

Every figure is a median over rounds with its min-max, and every
comparison a ratio of runs interleaved in this one invocation.  Each part
(--only) goes into docs/bench/results.json with its raw samples, the
tables it printed, the machine, the date and the commits measured, and
feeds the plots next to it (docs/bench/*.png); report.py puts the tables
into README.md.  Callgrind's profiles stay in build/bench.

  bench.py [--rounds N] [--startup-rounds N]
           [--only startup,instructions,add,hotplug,many,kvm]

9 rounds of hotplug and KVM by default, and 21 of start-up: a start-up
takes some 30 ms, where this machine's noise is a few ms.
"""

import argparse
import datetime
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests"))

# pylint: disable=wrong-import-position
from cpus import wait_guest_cpus  # noqa: E402
from guest import BUILD, GUEST, GUEST_X86, TOP, X86, Guest  # noqa: E402
from itemize import itemize, show as show_itemized  # noqa: E402
import plots  # noqa: E402
import report  # noqa: E402
from qemu.machine import QEMUMachine  # noqa: E402

OUT = os.path.join(BUILD, 'bench')
DOCS = os.path.join(TOP, 'docs', 'bench')
RESULTS = os.path.join(DOCS, 'results.json')
QEMU = os.path.join(BUILD, 'qemu', 'build', 'qemu-system-aarch64')
BASE = os.path.join(BUILD, 'qemu-base', 'build', 'qemu-system-aarch64')
EFI = os.path.join(GUEST, 'QEMU_EFI.fd')
MAXCPUS = (1, 8, 64, 128, 256, 512)


def summary(values):
    return {'median': statistics.median(values), 'min': min(values),
            'max': max(values), 'n': len(values)}


def fmt(s, scale=1.0, unit=''):
    return (f'{s["median"] * scale:.1f}{unit} '
            f'({s["min"] * scale:.1f}-{s["max"] * scale:.1f})')


# --- start-up: -S, QMP handshake, quit ---------------------------------

def start_quit(argv, commands=()):
    """Run QEMU with -S, do the QMP handshake, send @commands (QMP
    commands, {'execute': ..., 'arguments': ...}) and quit: its wall time
    (s) from spawn to exit, and its peak RSS (MiB) once it has answered."""
    start = time.monotonic()
    p = subprocess.Popen(argv + ['-S', '-display', 'none', '-nodefaults',
                                 '-qmp', 'stdio'],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)

    def reply():
        while True:
            line = p.stdout.readline()
            if not line:
                raise RuntimeError(f'QEMU exited early: {argv}')
            msg = json.loads(line)
            if 'error' in msg:
                raise RuntimeError(f'{argv}: {msg}')
            if 'QMP' in msg or 'return' in msg:
                return

    def send(cmd):
        p.stdin.write(json.dumps(cmd).encode() + b'\n')
        p.stdin.flush()
        reply()

    reply()
    send({'execute': 'qmp_capabilities'})
    for cmd in commands:
        send(cmd)
    # QEMU's own peak: not ru_maxrss, which counts this Python process too
    # (a child's starts at its parent's size when it forks)
    with open(f'/proc/{p.pid}/status', encoding='utf-8') as f:
        rss = int(re.search(r'VmHWM:\s+(\d+)', f.read()).group(1)) / 1024
    send({'execute': 'quit'})
    _, status, _ = os.wait4(p.pid, 0)
    wall = time.monotonic() - start
    err = p.stderr.read().decode()
    rc = os.waitstatus_to_exitcode(status)
    p.returncode = rc
    if rc != 0 or 'warning' in err.lower():
        raise RuntimeError(f'{" ".join(argv)}: exit {rc}: {err}')
    return wall, rss


def arm(binary, smp):
    return [binary, '-M', 'virt,gic-version=3', '-accel', 'tcg',
            '-cpu', 'max', '-m', '1024', '-smp', smp, '-bios', EFI]


def q35(smp):
    return [X86['binary'], '-M', 'q35', '-accel', 'tcg', '-cpu', 'qemu64',
            '-m', '1024', '-smp', smp]


def startup_variants():
    """{(variant, maxcpus): argv}"""
    v = {}
    for m in MAXCPUS:
        v['patched', m] = arm(QEMU, f'1,maxcpus={m}')
        if os.path.exists(BASE):
            v['base', m] = arm(BASE, f'1,maxcpus={m}')
        v['cold', m] = arm(QEMU, f'{m}')
        v['x86-q35', m] = q35(f'1,maxcpus={m}')
    return v


# --- start-up instructions: deterministic, from callgrind ---------------

INSN_MAXCPUS = (1, 64, 256, 512)


def instructions(argv, name, commands=()):
    """The instructions QEMU executes in start_quit(@argv, @commands), from
    exec to exit, as callgrind counts them (output in OUT/callgrind.@name)"""
    out = os.path.join(OUT, f'callgrind.{name}')
    start_quit(['valgrind', '--tool=callgrind', f'--callgrind-out-file={out}',
                f'--log-file={out}.log'] + argv, commands)
    with open(out, encoding='utf-8') as f:
        for line in f:
            if line.startswith(('summary:', 'totals:')):
                return int(line.split()[1])
    raise RuntimeError(f'no instruction count in {out}')


def bench_instructions(rounds=3):
    """{variant: {'samples': {maxcpus: [instructions]}, 'median': {...},
    'itemized': ...}} for the patched build and, if it is built (make
    base), the pristine base.  Counts vary by some thousands from run to
    run (the main loop's and the RCU thread's iterations), now and then
    by a few million: so the median of @rounds.  'itemized' is where the
    instructions of the possible vCPUs go (itemize.py), from the profiles
    at the smallest and largest maxcpus, of the rounds with the median
    count."""
    res = {}
    for variant, binary in (('patched', QEMU), ('base', BASE)):
        if not os.path.exists(binary):
            print(f'{variant}: {binary} not built, skipped')
            continue
        samples = {m: [] for m in INSN_MAXCPUS}
        for r in range(rounds):
            for m in INSN_MAXCPUS:
                samples[m].append(instructions(arm(binary, f'1,maxcpus={m}'),
                                               f'{variant}-{m}-{r}'))
        lo, hi = INSN_MAXCPUS[0], INSN_MAXCPUS[-1]

        def profile(m):
            """the profile of the round with the median count at @m"""
            r = samples[m].index(statistics.median_low(samples[m]))
            return os.path.join(OUT, f'callgrind.{variant}-{m}-{r}')
        res[variant] = {
            'samples': samples,
            'median': {m: statistics.median(v) for m, v in samples.items()},
            'itemized': itemize(profile(lo), profile(hi), hi - lo)}
    return res


def print_instructions(res):
    out = ['start-up instructions (callgrind; -S, QMP handshake, quit;'
           ' median of rounds)',
           'per possible vCPU: against maxcpus 1, and against maxcpus 64'
           ' (without the fixed cost of offering CPU hotplug at all)',
           f'{"variant":10} {"maxcpus":>8} {"instructions":>14} '
           f'{"per vCPU from 1":>16} {"from 64":>8}']
    for variant, r in res.items():
        counts = r['median']
        one, m64 = counts[1], counts[64]
        for m, n in counts.items():
            per = f'{(n - one) / (m - 1):,.0f}' if m > 1 else '-'
            per64 = f'{(n - m64) / (m - 64):,.0f}' if m > 64 else '-'
            out.append(f'{variant:10} {m:8} {n:14,.0f} {per:>16} {per64:>8}')
    for variant, r in res.items():
        out.append(f'\n{variant}, maxcpus {INSN_MAXCPUS[-1]} against'
                   f' {INSN_MAXCPUS[0]}, by function (bench/itemize.py):')
        out.append(show_itemized(r['itemized']))
    return '\n'.join(out)


def bench_startup(rounds):
    variants = startup_variants()
    runs = {k: [] for k in variants}
    for argv in variants.values():
        start_quit(argv)        # a round to warm the caches, not counted
    for _ in range(rounds):
        # in turn, so that drifts of the machine hit every variant alike
        for key, argv in variants.items():
            runs[key].append(start_quit(argv))
    res = {}
    for (name, m), r in runs.items():
        one = runs[name, 1]
        res.setdefault(name, {})[m] = {
            'samples': r,
            'wall_s': summary([w for w, _ in r]),
            'rss_mib': summary([s for _, s in r]),
            # against -smp 1 of the same variant in the same round
            'ratio_to_smp1': statistics.median(
                w / w1 for (w, _), (w1, _) in zip(r, one)),
            'extra_rss_mib': statistics.median(
                s - s1 for (_, s), (_, s1) in zip(r, one))}
        if name == 'patched' and ('base', m) in runs:
            # against the pristine base at the same maxcpus, same round
            res[name][m]['vs_base'] = {
                'wall_ratio': statistics.median(
                    w / wb for (w, _), (wb, _) in zip(r, runs['base', m])),
                'extra_rss_mib': statistics.median(
                    s - sb for (_, s), (_, sb) in zip(r, runs['base', m]))}
    return res


def print_startup(res):
    out = ['== Start-up (-S, QMP handshake, quit; TCG; aarch64 with UEFI) ==',
           'wall ms and peak RSS MiB: median (min-max); ratio and extra RSS:'
           ' median over rounds against the same variant at -smp 1, run'
           ' in the same round; "vs base": the patched build against the'
           ' pristine base at the same maxcpus, in the same round',
           f'{"variant":10} {"maxcpus":>7} {"wall ms":>20} {"ratio":>6}'
           f' {"RSS MiB":>18} {"+MiB":>6} {"vs base":>12}']
    for name, by_m in res.items():
        for m, r in by_m.items():
            base = ''
            if 'vs_base' in r:
                base = (f'{r["vs_base"]["wall_ratio"]:5.2f}x'
                        f' {r["vs_base"]["extra_rss_mib"]:+5.1f}')
            out.append(f'{name:10} {m:7} {fmt(r["wall_s"], 1000):>20} '
                       f'{r["ratio_to_smp1"]:6.2f} {fmt(r["rss_mib"]):>18} '
                       f'{r["extra_rss_mib"]:+6.1f} {base:>12}')
    return '\n'.join(out)


# --- hotplug latency under TCG, against x86 q35 --------------------------

def slot_free(g, props, timeout=60):
    """Poll query-hotpluggable-cpus every millisecond until the slot of
    @props is free: the time.time() of the answer that says so"""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for s in g.qmp('query-hotpluggable-cpus'):
            if s['props'] == props and 'qom-path' not in s:
                return time.time()
        time.sleep(0.001)
    raise RuntimeError(f'slot {props} still in use')


def online_marker(cpu, tag):
    """A guest shell line that waits for CPU @cpu to be online, then
    prints ONLINE-@tag"""
    return (f'f=/sys/devices/system/cpu/cpu{cpu}/online; '
            f'until [ "$(cat $f 2>/dev/null)" = 1 ]; do '
            f'usleep 5000; done; echo "ONLINE-{tag}"\n')


def hotplug_round(g, driver, props, cpu, tag):
    """Add a vCPU into the slot of @props, which the guest numbers @cpu,
    and remove it: device_add's own time (QEMU's part of the add), from
    device_add to the guest having the vCPU online, and from device_del
    to the slot being free (polled alike on both machines).  The
    device_del's time.time() goes to g.del_starts, the slot's to
    g.del_ends, for the trace."""
    cpu_id = f'cpu{cpu}-{tag}'
    # the guest waits for the CPU itself, and says when it is online
    g.console.write(online_marker(cpu, tag))
    t0 = time.monotonic()
    g.qmp('device_add', driver=driver, id=cpu_id, **props)
    returned = time.monotonic() - t0
    g.console.expect(f'ONLINE-{tag}\n', 120)
    add = time.monotonic() - t0
    g.sh('true')
    start = time.time()
    g.qmp('device_del', id=cpu_id)
    end = slot_free(g, props)
    g.del_starts.append(start)
    g.del_ends.append(end)
    # the guest has let the CPU go too
    g.wait_sh(f'test -d /sys/devices/system/cpu/cpu{cpu} || echo gone',
              'gone')
    return returned, add, end - start


def guest_kernel(guest_dir):
    with open(os.path.join(guest_dir, 'versions'), encoding='utf-8') as f:
        return re.search(r'KERNEL_VERSION=(\S+)', f.read()).group(1)


# The two machines and their guests: the arm guest runs Linux 6.12, the
# x86 one bookworm's 6.1, the closest that hot-adds CPUs on both (6.12
# cannot map a CPU hot-added to q35: project.conf)
MACHINES = {'arm': ('max-arm-cpu', GUEST),
            'x86': ('qemu64-x86_64-cpu', GUEST_X86)}


def bench_hotplug(rounds):
    """@rounds rounds into distinct slots, then one replug of the first,
    on an arm virt guest and an x86 q35 guest in turn"""
    smp = f'1,maxcpus={rounds + 1}'
    guests = {'arm': Guest('bench-arm', smp=smp, extra=TRACE),
              'x86': Guest('bench-x86', smp=smp, extra=TRACE, **X86)}
    acc = {name: ([], [], []) for name in guests}
    for g in guests.values():
        g.del_starts, g.del_ends = [], []
        g.launch()
    try:
        slots = {}
        for name, g in guests.items():
            # the free slots in the order the guest numbers their CPUs
            slots[name] = [s['props'] for s in
                           reversed(g.qmp('query-hotpluggable-cpus'))
                           if 'qom-path' not in s]
            assert len(slots[name]) == rounds
        order = list(range(rounds)) + [0]
        for n, i in enumerate(order):
            for name, g in guests.items():
                r = hotplug_round(g, MACHINES[name][0], slots[name][i],
                                  i + 1, n)
                for lst, val in zip(acc[name], r):
                    lst.append(val)
    finally:
        for g in guests.values():
            g.shutdown()
    res = {}
    for name, (returned, add, free) in acc.items():
        g = guests[name]
        res[name] = {'guest_kernel': guest_kernel(MACHINES[name][1]),
                     'samples': {'device_add_returns_s': returned,
                                 'add_to_online_s': add,
                                 'del_to_slot_free_s': free},
                     'device_add_returns_s': summary(returned),
                     'add_to_online_s': summary(add),
                     'del_to_slot_free_s': summary(free),
                     'del_breakdown_s': del_breakdown(g.log, g.del_starts,
                                                      g.del_ends)}
    return res


# Where an unplug's time goes, from QEMU's trace (hw/acpi/cpu.c, shared
# by both machines): device_del until the guest takes the remove event
# (QEMU and the guest's interrupt), until the guest ejects the CPU (the
# guest offlines it), and from the eject until the slot is seen free
TRACE = ['-trace', 'cpuhp_acpi_clear_remove_evt',
         '-trace', 'cpuhp_acpi_ejecting_cpu', '-msg', 'timestamp=on']


def trace_events(log):
    """QEMU's trace lines in @log (-msg timestamp=on) as (time.time(),
    event, arguments)"""
    out = []
    for line in log.splitlines():
        m = re.match(r'(\d{4}-\d\d-\d\dT[\d:.]+)Z (\w+) (.*)', line)
        if m:
            t = datetime.datetime.fromisoformat(m.group(1)).replace(
                tzinfo=datetime.timezone.utc)
            out.append((t.timestamp(), m.group(2), m.group(3)))
    return out


def trace_times(log, event):
    return [t for t, name, _ in trace_events(log) if name == event]


def del_breakdown(log, starts, ends):
    taken = trace_times(log, 'cpuhp_acpi_clear_remove_evt')
    ejected = trace_times(log, 'cpuhp_acpi_ejecting_cpu')
    parts = {'to_guest_takes_event': [], 'guest_offlines_and_ejects': [],
             'eject_to_slot_free': []}
    for t0, t3 in zip(starts, ends):
        t1 = min(t for t in taken if t >= t0)
        t2 = min(t for t in ejected if t >= t1)
        parts['to_guest_takes_event'].append(t1 - t0)
        parts['guest_offlines_and_ejects'].append(t2 - t1)
        parts['eject_to_slot_free'].append(t3 - t2)
    return {k: summary(v) for k, v in parts.items()}


def print_hotplug(res):
    a, x = res['arm'], res['x86']
    out = ['== vCPU hotplug latency under TCG (guest: Linux, ACPI) ==',
           f'guest kernels: arm {a["guest_kernel"]}, x86 {x["guest_kernel"]}'
           ' (the closest that hot-add on both)',
           'ms, median (min-max), rounds into distinct slots and a replug;'
           ' the slot polled every ms on both machines',
           f'{"":34} {"arm virt":>22} {"x86 q35":>22} {"arm/x86":>8}']
    rows = [('device_add returns', 'device_add_returns_s'),
            ('device_add -> guest online', 'add_to_online_s'),
            ('device_del -> slot free', 'del_to_slot_free_s')]
    for label, key in rows:
        ratio = a[key]['median'] / x[key]['median']
        out.append(f'{label:34} {fmt(a[key], 1000):>22} '
                   f'{fmt(x[key], 1000):>22} {ratio:8.2f}')
    out.append('device_del, where the time goes (QEMU trace):')
    for key, label in (('to_guest_takes_event', 'until the guest takes the'
                        ' event'),
                       ('guest_offlines_and_ejects', 'the guest offlines the'
                        ' CPU, ejects'),
                       ('eject_to_slot_free', 'QEMU: eject to slot free')):
        pa, px = a['del_breakdown_s'][key], x['del_breakdown_s'][key]
        out.append(f'  {label:32} {fmt(pa, 1000):>22} {fmt(px, 1000):>22}'
                   f' {pa["median"] / px["median"]:8.2f}')
    out.append('  (QEMU\'s part ends at the poll that sees the slot free:'
               ' up to one poll, 1 ms, and a QMP round trip late)')
    return '\n'.join(out)


# --- device_add's own time against possible and present vCPUs -----------

ADD_MAXCPUS = (8, 64, 512)


def lowest_free_slot(vm):
    """The props of @vm's free slot of the lowest ids: on x86 q35, an APIC
    ID above 254 needs x2apic, and QEMU aborts without it (upstream too)"""
    return min((s['props'] for s in vm.cmd('query-hotpluggable-cpus')
                if 'qom-path' not in s),
               key=lambda p: [p[k] for k in sorted(p)])


def add_returns(argv, driver, present):
    """Start QEMU with -S, time one device_add into the first free slot
    (the time until QMP answers), and quit"""
    vm = QEMUMachine(argv[0], args=argv[1:] + ['-S', '-display', 'none',
                                                '-nodefaults'])
    vm.launch()
    try:
        free = lowest_free_slot(vm)
        t0 = time.monotonic()
        vm.cmd('device_add', driver=driver, id='added', **free)
        took = time.monotonic() - t0
        plugged = [s for s in vm.cmd('query-hotpluggable-cpus')
                   if 'qom-path' in s]
        if len(plugged) != present + 1:
            raise RuntimeError(f'{argv}: {len(plugged)} plugged after'
                               f' device_add, not {present + 1}')
    finally:
        vm.shutdown()
    if vm.exitcode() != 0:
        raise RuntimeError(f'{argv}: exit {vm.exitcode()}: {vm.get_log()}')
    return took


def first_free_slot(argv):
    """lowest_free_slot() of a QEMU started with @argv, paused"""
    vm = QEMUMachine(argv[0], args=argv[1:] + ['-S', '-display', 'none',
                                                '-nodefaults'])
    vm.launch()
    try:
        return lowest_free_slot(vm)
    finally:
        vm.shutdown()


# device_add's instructions: (machine, maxcpus, present)
ADD_INSN = (('arm', 64, 1), ('arm', 512, 1), ('x86', 64, 1))


def add_instructions(rounds=3):
    """The instructions of one device_add, paused (-S), in all of QEMU's
    threads: a start-up with it less one without it (both query the
    slots first), median of @rounds; and, for the first of ADD_INSN,
    where they go (itemize.py), from the rounds with the median count"""
    res = {}
    for machine, m, present in ADD_INSN:
        smp = f'{present},maxcpus={m}'
        argv, driver = ((arm(QEMU, smp), 'max-arm-cpu') if machine == 'arm'
                        else (q35(smp), 'qemu64-x86_64-cpu'))
        query = {'execute': 'query-hotpluggable-cpus'}
        add = {'execute': 'device_add', 'arguments': dict(
            driver=driver, id='added', **first_free_slot(argv))}
        key = f'{machine}-{m}-{present}'
        counts = {'without': [], 'with': []}
        for r in range(rounds):
            for kind, cmds in (('without', [query]), ('with', [query, add])):
                counts[kind].append(instructions(
                    argv, f'add-{kind}-{key}-{r}', cmds))

        def profile(kind):
            c = counts[kind]
            r = c.index(statistics.median_low(c))
            return os.path.join(OUT, f'callgrind.add-{kind}-{key}-{r}')
        res[key] = {'samples': counts,
                    'device_add': statistics.median(counts['with'])
                    - statistics.median(counts['without'])}
        if len(res) == 1:
            res[key]['itemized'] = itemize(profile('without'),
                                           profile('with'), 1, top=40)
    return res


def bench_add(rounds):
    """device_add's time to answer, at maxcpus 8, 64 and 512, with 1 and
    with 63 (at most maxcpus - 1) vCPUs present, on arm virt and x86 q35,
    each a fresh QEMU paused before the guest (-S), in turn"""
    variants = {}
    for m in ADD_MAXCPUS:
        for present in (1, min(63, m - 1)):
            smp = f'{present},maxcpus={m}'
            variants['arm', m, present] = (arm(QEMU, smp), 'max-arm-cpu')
            variants['x86', m, present] = (q35(smp), 'qemu64-x86_64-cpu')
    runs = {k: [] for k in variants}
    for _ in range(rounds):
        for key, (argv, driver) in variants.items():
            runs[key].append(add_returns(argv, driver, key[2]))
    res = {}
    for (name, m, present), r in runs.items():
        res.setdefault(name, {}).setdefault(m, {})[present] = {
            'samples': r, 'device_add_returns_s': summary(r)}
    res['instructions'] = add_instructions()
    return res


def print_add(res):
    out = ["== device_add's own time (until QMP answers; TCG, -S) ==",
           'ms, median (min-max), by maxcpus and vCPUs present',
           f'{"maxcpus":>8} {"present":>8} {"arm virt":>20} {"x86 q35":>20}']
    for m, by_p in res['arm'].items():
        for present, r in by_p.items():
            x = res['x86'][m][present]
            out.append(f'{m:8} {present:8} '
                       f'{fmt(r["device_add_returns_s"], 1000):>20} '
                       f'{fmt(x["device_add_returns_s"], 1000):>20}')
    insn = res.get('instructions', {})
    if insn:
        out.append('\none device_add, instructions in all threads (callgrind:'
                   ' a paused start-up with it less one without it, median)')
        for key, r in insn.items():
            machine, m, present = key.split('-')
            out.append(f'  {machine:4} maxcpus {m:>4}, {present} present:'
                       f' {r["device_add"]:13,.0f}')
        key, r = next(iter(insn.items()))
        out.append(f'where those of {key} go (bench/itemize.py):')
        out.append(show_itemized(r['itemized']).split('\n', 1)[1])
    return '\n'.join(out)


# --- many vCPUs at once ---------------------------------------------------

def peak_rss_mib(g):
    with open(f'/proc/{g.vm.get_pid()}/status', encoding='utf-8') as f:
        return int(re.search(r'VmHWM:\s+(\d+)', f.read()).group(1)) / 1024


def many_at_once(g, driver, n):
    """@n device_adds back to back, until the guest has every vCPU online;
    then @n device_dels back to back, until every slot is free and the
    guest has let every vCPU go.  Times (s) and peak RSS (MiB)."""
    free = [s['props'] for s in reversed(g.qmp('query-hotpluggable-cpus'))
            if 'qom-path' not in s]
    assert len(free) == n
    rss0 = peak_rss_mib(g)
    t0 = time.monotonic()
    for i, props in enumerate(free):
        g.qmp('device_add', driver=driver, id=f'many{i}', **props)
    added = time.monotonic() - t0
    wait_guest_cpus(g, 'online', list(range(n + 1)), timeout=900)
    online = time.monotonic() - t0
    rss1 = peak_rss_mib(g)
    t0 = time.monotonic()
    for i in range(n):
        g.qmp('device_del', id=f'many{i}')
    deadline = time.monotonic() + 900
    while any('qom-path' in s for s in g.qmp('query-hotpluggable-cpus')
              if s['props'] in free):
        if time.monotonic() > deadline:
            raise RuntimeError(f'{g.name}: slots still in use')
        time.sleep(0.05)
    freed = time.monotonic() - t0
    # the guest has let every vCPU go too
    g.wait_sh('ls -d /sys/devices/system/cpu/cpu[0-9]* | wc -l', '1',
              timeout=300)
    return {'device_adds_s': added, 'all_online_s': online,
            'all_slots_free_s': freed, 'peak_rss_before_mib': rss0,
            'peak_rss_after_mib': rss1}


def bench_many(n=63):
    """-smp 1,maxcpus=@n+1 on arm virt and x86 q35, one after the other"""
    smp = f'1,maxcpus={n + 1}'
    res = {}
    for name, g in (('arm', Guest('bench-many-arm', smp=smp)),
                    ('x86', Guest('bench-many-x86', smp=smp, **X86))):
        g.launch()
        try:
            res[name] = many_at_once(g, MACHINES[name][0], n)
            res[name]['guest_kernel'] = guest_kernel(MACHINES[name][1])
        finally:
            g.shutdown()
    res['n'] = n
    return res


def print_many(res):
    n = res['n']
    a, x = res['arm'], res['x86']
    out = [f'== {n} vCPUs at once (-smp 1,maxcpus={n + 1}; TCG) ==',
           f'guest kernels: arm {a["guest_kernel"]}, x86 {x["guest_kernel"]};'
           ' one run each, ms per vCPU',
           f'{"":38} {"arm virt":>10} {"x86 q35":>10}']
    for label, key in ((f'{n} device_adds, back to back', 'device_adds_s'),
                       ('until the guest has all online', 'all_online_s'),
                       (f'{n} device_dels until all slots free',
                        'all_slots_free_s')):
        out.append(f'{label:38} {a[key] / n * 1000:10.1f}'
                   f' {x[key] / n * 1000:10.1f}')
    per = [(r['peak_rss_after_mib'] - r['peak_rss_before_mib']) / n
           for r in (a, x)]
    out.append(f'{"peak RSS per added vCPU (MiB)":38} {per[0]:10.2f}'
               f' {per[1]:10.2f}')
    return '\n'.join(out)


# --- results, plots -------------------------------------------------------

def git_head(path):
    """The commit measured, with '-dirty' if the tree has changes besides
    what make bench writes itself"""
    def git(*args):
        return subprocess.run(['git', '-C', path] + list(args), check=True,
                              capture_output=True, text=True).stdout.strip()
    head = git('rev-parse', '--short=12', 'HEAD')
    return head + ('-dirty' if git('status', '--porcelain',
                                   '--untracked-files=no', '--', '.',
                                   ':!docs/bench', ':!README.md') else '')


def record(section, data, table):
    """Put the results of one part into RESULTS, with its printed table and
    where, when and what it measured; the other parts stay as they were"""
    try:
        with open(RESULTS, encoding='utf-8') as f:
            results = json.load(f)
    except FileNotFoundError:
        results = {}
    results[section] = {
        'machine': {'host': platform.node(), 'cpu': cpu_model(),
                    'cores': os.cpu_count()},
        'date': time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime()),
        'commit': git_head(TOP), 'series': git_head(os.path.dirname(
            os.path.dirname(QEMU))),
        # what was measured, whatever its commit messages say since
        'series_tree': subprocess.run(
            ['git', '-C', os.path.dirname(os.path.dirname(QEMU)),
             'rev-parse', '--short=12', 'HEAD^{tree}'], check=True,
            capture_output=True, text=True).stdout.strip(),
        'data': data, 'table': table}
    with open(RESULTS, 'w', encoding='utf-8') as f:
        json.dump(results, f, indent=1, sort_keys=True, default=str)
        f.write('\n')


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--rounds', type=int, default=9)
    ap.add_argument('--startup-rounds', type=int, default=21)
    ap.add_argument('--only',
                    default='startup,instructions,add,hotplug,many,kvm')
    args = ap.parse_args()
    only = args.only.split(',')
    os.makedirs(OUT, exist_ok=True)
    os.makedirs(DOCS, exist_ok=True)
    print(f'bench on {cpu_model()}, {os.cpu_count()} cores')
    parts = {
        'startup': (lambda: bench_startup(args.startup_rounds),
                    print_startup),
        'instructions': (bench_instructions, print_instructions),
        'add': (lambda: bench_add(args.rounds), print_add),
        'hotplug': (lambda: bench_hotplug(args.rounds), print_hotplug),
        'many': (bench_many, print_many),
    }
    for name in only:
        if name == 'kvm':
            import bench_kvm  # pylint: disable=import-outside-toplevel
            res = bench_kvm.bench(args.rounds)
            table = bench_kvm.show(res)
        else:
            run, show = parts[name]
            res = run()
            table = show(res)
        print('\n' + table)
        record(name, res, table)
    plots.draw(RESULTS, DOCS)
    report.main()
    print(f'\nwrote {RESULTS}, the plots in {DOCS} and the tables in'
          ' README.md')


def cpu_model():
    with open('/proc/cpuinfo', encoding='utf-8') as f:
        for line in f:
            if line.startswith('model name'):
                return line.split(':', 1)[1].strip()
    return platform.machine()


if __name__ == '__main__':
    main()
