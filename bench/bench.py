#!/usr/bin/python3
"""make bench: what possible vCPUs cost at start-up, and how fast hotplug
is, side by side with the pristine base and x86 q35 (see README.md).

Every figure is a median over rounds with its min-max, and every
comparison a ratio of runs interleaved in this one invocation.  Writes
build/bench/results.json and build/bench/startup.png.

  bench.py [--rounds N] [--startup-rounds N]
           [--only startup,instructions,hotplug,kvm]

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
from guest import BUILD, GUEST, Guest  # noqa: E402

OUT = os.path.join(BUILD, 'bench')
QEMU = os.path.join(BUILD, 'qemu', 'build', 'qemu-system-aarch64')
BASE = os.path.join(BUILD, 'qemu-base', 'build', 'qemu-system-aarch64')
X86 = os.path.join(BUILD, 'qemu', 'build', 'qemu-system-x86_64')
EFI = os.path.join(GUEST, 'QEMU_EFI.fd')
MAXCPUS = (1, 8, 64, 128, 256, 512)


def summary(values):
    return {'median': statistics.median(values), 'min': min(values),
            'max': max(values), 'n': len(values)}


def fmt(s, scale=1.0, unit=''):
    return (f'{s["median"] * scale:.1f}{unit} '
            f'({s["min"] * scale:.1f}-{s["max"] * scale:.1f})')


# --- start-up: -S, QMP handshake, quit ---------------------------------

def start_quit(argv):
    """Run QEMU with -S, do the QMP handshake and quit: its wall time (s)
    from spawn to exit, and its peak RSS (MiB)."""
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

    reply()
    for cmd in ('qmp_capabilities', 'quit'):
        p.stdin.write(json.dumps({'execute': cmd}).encode() + b'\n')
        p.stdin.flush()
        reply()
    _, status, usage = os.wait4(p.pid, 0)
    wall = time.monotonic() - start
    err = p.stderr.read().decode()
    rc = os.waitstatus_to_exitcode(status)
    p.returncode = rc
    if rc != 0 or 'warning' in err.lower():
        raise RuntimeError(f'{" ".join(argv)}: exit {rc}: {err}')
    return wall, usage.ru_maxrss / 1024.0


def arm(binary, smp):
    return [binary, '-M', 'virt,gic-version=3', '-accel', 'tcg',
            '-cpu', 'max', '-m', '1024', '-smp', smp, '-bios', EFI]


def q35(smp):
    return [X86, '-M', 'q35', '-accel', 'tcg', '-cpu', 'qemu64',
            '-m', '1024', '-smp', smp]


def startup_variants():
    """{(variant, maxcpus): argv}"""
    v = {}
    for m in MAXCPUS:
        v['patched', m] = arm(QEMU, f'1,maxcpus={m}')
        v['base', m] = arm(BASE, f'1,maxcpus={m}')
        v['cold', m] = arm(QEMU, f'{m}')
        v['x86-q35', m] = q35(f'1,maxcpus={m}')
    return v


# --- start-up instructions: deterministic, from callgrind ---------------

INSN_MAXCPUS = (1, 64, 256, 512)


def instructions(argv, name):
    """The instructions QEMU executes in start_quit(@argv), from exec to
    exit, as callgrind counts them (output in OUT/callgrind.@name)"""
    out = os.path.join(OUT, f'callgrind.{name}')
    start_quit(['valgrind', '--tool=callgrind', f'--callgrind-out-file={out}',
                f'--log-file={out}.log'] + argv)
    with open(out, encoding='utf-8') as f:
        for line in f:
            if line.startswith(('summary:', 'totals:')):
                return int(line.split()[1])
    raise RuntimeError(f'no instruction count in {out}')


def bench_instructions(rounds=3):
    """{variant: {maxcpus: instructions}} for the patched build and, if it
    is built (make base), the pristine base: the median of @rounds runs.
    Counts vary by some thousands from run to run (the main loop's and
    the RCU thread's iterations), now and then by a few million."""
    res = {}
    for variant, binary in (('patched', QEMU), ('base', BASE)):
        if not os.path.exists(binary):
            print(f'{variant}: {binary} not built, skipped')
            continue
        res[variant] = {
            m: statistics.median(
                instructions(arm(binary, f'1,maxcpus={m}'), f'{variant}-{m}')
                for _ in range(rounds))
            for m in INSN_MAXCPUS}
    return res


def print_instructions(res):
    print('\nstart-up instructions (callgrind; -S, QMP handshake, quit)')
    print(f'{"variant":10} {"maxcpus":>8} {"instructions":>14} '
          f'{"per possible vCPU":>18}')
    for variant, counts in res.items():
        one = counts[1]
        for m, n in counts.items():
            per = f'{(n - one) / (m - 1):,.0f}' if m > 1 else '-'
            print(f'{variant:10} {m:8} {n:14,.0f} {per:>18}')


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
            'wall_s': summary([w for w, _ in r]),
            'rss_mib': summary([s for _, s in r]),
            # against -smp 1 of the same variant in the same round
            'ratio_to_smp1': statistics.median(
                w / w1 for (w, _), (w1, _) in zip(r, one)),
            'extra_rss_mib': statistics.median(
                s - s1 for (_, s), (_, s1) in zip(r, one))}
    return res


def print_startup(res):
    print('\n== Start-up (-S, QMP handshake, quit; TCG; aarch64 with UEFI) ==')
    print('wall ms and peak RSS MiB: median (min-max); ratio and extra RSS:'
          ' median over rounds against the same variant at -smp 1, run'
          ' in the same round')
    print(f'{"variant":10} {"maxcpus":>7} {"wall ms":>20} {"ratio":>6}'
          f' {"RSS MiB":>18} {"+MiB":>6}')
    for name, by_m in res.items():
        for m, r in by_m.items():
            print(f'{name:10} {m:7} {fmt(r["wall_s"], 1000):>20} '
                  f'{r["ratio_to_smp1"]:6.2f} {fmt(r["rss_mib"]):>18} '
                  f'{r["extra_rss_mib"]:+6.1f}')


def plot_startup(res, path):
    import matplotlib  # pylint: disable=import-outside-toplevel
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt  # pylint: disable=import-outside-toplevel
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4.2))
    labels = {'patched': 'patched, -smp 1,maxcpus=M',
              'base': 'pristine base, -smp 1,maxcpus=M',
              'cold': 'patched, -smp M (all cold)',
              'x86-q35': 'x86 q35, -smp 1,maxcpus=M'}
    for name, by_m in res.items():
        ms = sorted(by_m)
        a.plot(ms, [by_m[m]['wall_s']['median'] * 1000 for m in ms], 'o-',
               label=labels[name])
        b.plot(ms, [by_m[m]['rss_mib']['median'] for m in ms], 'o-',
               label=labels[name])
    for ax, what in ((a, 'start-up wall (ms)'), (b, 'peak RSS (MiB)')):
        ax.set_xscale('log', base=2)
        ax.set_yscale('log')
        ax.set_xlabel('M (possible vCPUs)')
        ax.set_ylabel(what)
        ax.grid(True, which='both', alpha=0.3)
    a.legend(fontsize=8)
    fig.suptitle('QEMU start-up (-S, QMP handshake, quit), TCG, median')
    fig.tight_layout()
    fig.savefig(path, dpi=100)


# --- hotplug latency under TCG, against x86 q35 --------------------------

def wait_event(g, name, cpu_id, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for ev in g.vm.get_qmp_events(wait=False):
            if ev['event'] == name and ev['data'].get('device') == cpu_id:
                return ev['timestamp']
        time.sleep(0.002)
    raise RuntimeError(f'no {name} for {cpu_id}')


def slot_free(g, props, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for s in g.qmp('query-hotpluggable-cpus'):
            if s['props'] == props and 'qom-path' not in s:
                return
        time.sleep(0.002)
    raise RuntimeError(f'slot {props} still in use')


def online_marker(cpu, tag):
    """A guest shell line that waits for CPU @cpu to be online, then
    prints ONLINE-@tag"""
    return (f'f=/sys/devices/system/cpu/cpu{cpu}/online; '
            f'until [ "$(cat $f 2>/dev/null)" = 1 ]; do '
            f'usleep 5000; done; echo "ONLINE-{tag}"\n')


def hotplug_round(g, driver, props, cpu, tag, arm_guest):
    """Add a vCPU into the slot of @props, which the guest numbers @cpu,
    and remove it: the times from device_add to the guest having it
    online, and from device_del to DEVICE_DELETED (arm only) and to the
    slot being free."""
    cpu_id = f'cpu{cpu}-{tag}'
    # the guest waits for the CPU itself, and says when it is online
    g.console.write(online_marker(cpu, tag))
    t0 = time.monotonic()
    g.qmp('device_add', driver=driver, id=cpu_id, **props)
    g.console.expect(f'ONLINE-{tag}\n', 120)
    add = time.monotonic() - t0
    g.sh('true')
    t0 = time.monotonic()
    g.del_times.append(time.time())
    g.qmp('device_del', id=cpu_id)
    slot_free(g, props)
    free = time.monotonic() - t0
    deleted = None
    if arm_guest:
        # when QEMU sent it, by its own clock
        ts = wait_event(g, 'DEVICE_DELETED', cpu_id)
        deleted = ts['seconds'] + ts['microseconds'] / 1e6 - g.del_times[-1]
    # the guest has let the CPU go too
    g.wait_sh(f'test -d /sys/devices/system/cpu/cpu{cpu} || echo gone',
              'gone')
    return add, deleted, free


def bench_hotplug(rounds):
    """@rounds rounds into distinct slots, then one replug of the first,
    on an arm virt guest and an x86 q35 guest in turn"""
    arm_g = Guest('bench-arm', smp=f'1,maxcpus={rounds + 1}',
                  extra=TRACE)
    x86_guest = os.path.join(BUILD, 'guest-amd64')
    x86_g = Guest('bench-x86', binary=X86, machine='q35', cpu='qemu64',
                  smp=f'1,maxcpus={rounds + 1}', firmware=False,
                  kernel=os.path.join(x86_guest, 'vmlinuz'),
                  initrd=os.path.join(x86_guest, 'initrd.cpio.gz'),
                  console='ttyS0', extra=TRACE)
    guests = {'arm': (arm_g, 'max-arm-cpu', True),
              'x86': (x86_g, 'qemu64-x86_64-cpu', False)}
    acc = {name: ([], [], []) for name in guests}
    for g, _, _ in guests.values():
        g.del_times = []
        g.launch()
    try:
        slots = {}
        for name, (g, _, _) in guests.items():
            # the free slots in the order the guest numbers their CPUs
            slots[name] = [s['props'] for s in
                           reversed(g.qmp('query-hotpluggable-cpus'))
                           if 'qom-path' not in s]
            assert len(slots[name]) == rounds
        order = list(range(rounds)) + [0]
        for n, i in enumerate(order):
            for name, (g, driver, is_arm) in guests.items():
                r = hotplug_round(g, driver, slots[name][i], i + 1, n, is_arm)
                for lst, val in zip(acc[name], r):
                    if val is not None:
                        lst.append(val)
    finally:
        for g, _, _ in guests.values():
            g.shutdown()
    res = {}
    for name, (add, deleted, free) in acc.items():
        g = guests[name][0]
        # QEMU is done at DEVICE_DELETED, by its clock; x86 sends none
        res[name] = {'add_to_online_s': summary(add),
                     'del_to_slot_free_s': summary(free),
                     'del_breakdown_s': del_breakdown(g.log, g.del_times,
                                                      deleted or free)}
        if deleted:
            res[name]['del_to_device_deleted_s'] = summary(deleted)
    return res


# Where an unplug's time goes, from QEMU's trace (hw/acpi/cpu.c, shared
# by both machines): device_del until the guest takes the remove event
# (QEMU and the guest's interrupt), until the guest ejects the CPU (the
# guest offlines it), and from the eject until QEMU is done with the CPU
# (DEVICE_DELETED on arm; the slot seen free on x86, which sends none)
TRACE = ['-trace', 'cpuhp_acpi_clear_remove_evt',
         '-trace', 'cpuhp_acpi_ejecting_cpu', '-msg', 'timestamp=on']


def trace_times(log, event):
    out = []
    for line in log.splitlines():
        m = re.match(r'(\d{4}-\d\d-\d\dT[\d:.]+)Z ' + event + ' ', line)
        if m:
            t = datetime.datetime.fromisoformat(m.group(1)).replace(
                tzinfo=datetime.timezone.utc)
            out.append(t.timestamp())
    return out


def del_breakdown(log, starts, ends):
    taken = trace_times(log, 'cpuhp_acpi_clear_remove_evt')
    ejected = trace_times(log, 'cpuhp_acpi_ejecting_cpu')
    parts = {'to_guest_takes_event': [], 'guest_offlines_and_ejects': [],
             'eject_to_done': []}
    for t0, total in zip(starts, ends):
        t1 = min(t for t in taken if t >= t0)
        t2 = min(t for t in ejected if t >= t1)
        parts['to_guest_takes_event'].append(t1 - t0)
        parts['guest_offlines_and_ejects'].append(t2 - t1)
        parts['eject_to_done'].append(t0 + total - t2)
    return {k: summary(v) for k, v in parts.items()}


def print_hotplug(res):
    print('\n== vCPU hotplug latency under TCG (guest: Linux, ACPI) ==')
    print('ms, median (min-max), rounds into distinct slots and replugs')
    a, x = res['arm'], res['x86']
    rows = [('device_add -> guest online', 'add_to_online_s'),
            ('device_del -> slot free', 'del_to_slot_free_s')]
    print(f'{"":34} {"arm virt":>22} {"x86 q35":>22} {"arm/x86":>8}')
    for label, key in rows:
        ratio = a[key]['median'] / x[key]['median']
        res.setdefault('ratio', {})[key] = ratio
        print(f'{label:34} {fmt(a[key], 1000):>22} '
              f'{fmt(x[key], 1000):>22} {ratio:8.2f}')
    print(f'{"device_del -> DEVICE_DELETED":34} '
          f'{fmt(a["del_to_device_deleted_s"], 1000):>22} {"(none)":>22}')
    print('device_del, where the time goes (QEMU trace):')
    for key, label in (('to_guest_takes_event', 'until the guest takes the'
                        ' event'),
                       ('guest_offlines_and_ejects', 'the guest offlines the'
                        ' CPU, ejects'),
                       ('eject_to_done', 'QEMU: eject to done')):
        pa, px = a['del_breakdown_s'][key], x['del_breakdown_s'][key]
        print(f'  {label:32} {fmt(pa, 1000):>22} {fmt(px, 1000):>22}'
              f' {pa["median"] / px["median"]:8.2f}')


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--rounds', type=int, default=9)
    ap.add_argument('--startup-rounds', type=int, default=21)
    ap.add_argument('--only', default='startup,instructions,hotplug,kvm')
    args = ap.parse_args()
    only = args.only.split(',')
    os.makedirs(OUT, exist_ok=True)
    results = {'machine': {'host': platform.node(),
                           'cpu': cpu_model(), 'cores': os.cpu_count(),
                           'date': time.strftime('%Y-%m-%d %H:%M UTC',
                                                 time.gmtime())},
               'rounds': args.rounds, 'startup_rounds': args.startup_rounds}
    print(f'bench on {results["machine"]["cpu"]}, '
          f'{results["machine"]["cores"]} cores, {results["machine"]["date"]}')
    if 'startup' in only:
        results['startup'] = bench_startup(args.startup_rounds)
        print_startup(results['startup'])
        plot_startup(results['startup'], os.path.join(OUT, 'startup.png'))
    if 'instructions' in only:
        results['instructions'] = bench_instructions()
        print_instructions(results['instructions'])
    if 'hotplug' in only:
        results['hotplug'] = bench_hotplug(args.rounds)
        print_hotplug(results['hotplug'])
    if 'kvm' in only:
        import bench_kvm  # pylint: disable=import-outside-toplevel
        results['kvm'] = bench_kvm.bench(args.rounds)
        bench_kvm.show(results['kvm'])
    with open(os.path.join(OUT, 'results.json'), 'w', encoding='utf-8') as f:
        json.dump(results, f, indent=1, default=str)
    print(f'\nwrote {OUT}/results.json and {OUT}/startup.png')


def cpu_model():
    with open('/proc/cpuinfo', encoding='utf-8') as f:
        for line in f:
            if line.startswith('model name'):
                return line.split(':', 1)[1].strip()
    return platform.machine()


if __name__ == '__main__':
    main()
