#!/usr/bin/python3
"""make bench-patches: the figures that the commit messages of the series'
start-up patches quote, from the whole series with and without each of
them (the patch reverted on top of the series, in build/qemu-without).

Each patch is measured where its effect shows: with every possible vCPU
hotpluggable, which takes the whole series.  Instructions are counted by
callgrind (bench.py's start-up: -S, QMP handshake, quit; TCG and UEFI),
median of ROUNDS, in total and in the functions each message names
(inclusive); peak RSS is VmHWM, median of ROUNDS plain runs.  The
results go into docs/bench/results.json as the part 'patches'.

  patches.py [--rounds N] [SUBJECT-SUBSTRING...]
"""

import argparse
import json
import os
import statistics
import subprocess
import sys

import bench
from itemize import costs, total

# The patches, by subject (their numbers change as the series does), and
# the functions whose inclusive cost their messages quote
PATCHES = (
    ('hw/intc/arm_gicv3: Create the lines of a CPU interface at CPU plug',
     ('object_property_set_link', 'gicv3_init_irqs_and_mmio')),
    ('qom: Set a link property without a round trip through its target',
     ('object_property_set_link', 'object_get_canonical_path_component')),
    ('hw/acpi/aml-build: Append terms to their parent without a temporary',
     ('virt_acpi_build', 'build_cpus_aml', 'build_append_namestringv')),
    ('hw/acpi/cpu: Free the AML of each CPU once it is appended',
     ('virt_acpi_build', 'build_cpus_aml')),
    ("hw/arm/virt: Map the board's devices in two memory transactions",
     ('memory_region_transaction_commit', 'machvirt_init')),
    ('hw/arm/virt-acpi-build: Fill in each GICC and append it at once',
     ('virt_acpi_build', 'build_gicc')),
)
MAXCPUS = (1, 512)
TREE = os.path.join(bench.BUILD, 'qemu')
WITHOUT = os.path.join(bench.BUILD, 'qemu-without')


def git(*args, cwd=TREE):
    return subprocess.run(['git', '-C', cwd] + list(args), check=True,
                          capture_output=True, text=True).stdout.strip()


def commit_of(subject):
    for line in git('log', '--format=%H %s', 'prep..master').splitlines():
        c, s = line.split(' ', 1)
        if s.startswith(subject):
            return c
    raise RuntimeError(f'no patch "{subject}" in build/qemu')


def build_without(c):
    """build/qemu-without: master with @c reverted, built"""
    if not os.path.isdir(WITHOUT):
        git('worktree', 'add', '-q', '--detach', WITHOUT, 'master')
    git('reset', '-q', '--hard', cwd=WITHOUT)
    git('checkout', '-q', '--detach', 'master', cwd=WITHOUT)
    git('revert', '--no-edit', '--no-commit', c, cwd=WITHOUT)
    subprocess.run([os.path.join(bench.TOP, 'scripts', 'build-qemu.sh'),
                    WITHOUT, os.path.join(WITHOUT, 'build'), '--',
                    'qemu-system-aarch64'], check=True,
                   stdout=subprocess.DEVNULL)
    return os.path.join(WITHOUT, 'build', 'qemu-system-aarch64')


def measure(binary, name, functions, rounds):
    """{maxcpus: {'instructions': median, 'samples': [...], 'functions':
    {function: inclusive instructions}, 'rss_mib': median}}"""
    out = {}
    for m in MAXCPUS:
        argv = bench.arm(binary, f'1,maxcpus={m}')
        runs = []
        for r in range(rounds):
            bench.instructions(argv, f'{name}-{m}-{r}')
            runs.append(os.path.join(bench.OUT, f'callgrind.{name}-{m}-{r}'))
        counts = [total(p) for p in runs]
        median = runs[counts.index(statistics.median_low(counts))]
        incl = costs(median, True)
        out[m] = {
            'instructions': statistics.median(counts), 'samples': counts,
            'functions': {f: sum(v for k, v in incl.items()
                                 if k.split(':')[-1].split("'")[0] == f)
                          for f in functions},
            'rss_mib': statistics.median(
                bench.start_quit(argv)[1] for _ in range(rounds))}
    return out


def show(res):
    out = ['The whole series with and without each patch (bench/patches.py):'
           ' start-up with -S, QMP handshake and quit, TCG, UEFI;'
           ' instructions by callgrind (inclusive, for functions) and peak'
           ' RSS, medians']
    for subject, r in res.items():
        out.append(f'\n{subject}')
        out.append(f'  {"":44} {"without":>13} {"with":>13}')
        for m in MAXCPUS:
            w, o = r['without'][str(m)], r['with'][str(m)]
            out.append(f'  -smp 1,maxcpus={m}')
            out.append(f'    {"QEMU":42} {w["instructions"]:13,.0f}'
                       f' {o["instructions"]:13,.0f}')
            for f in w['functions']:
                out.append(f'    {f + "()":42} {w["functions"][f]:13,}'
                           f' {o["functions"][f]:13,}')
            out.append(f'    {"peak RSS, MiB":42} {w["rss_mib"]:13.1f}'
                       f' {o["rss_mib"]:13.1f}')
    return '\n'.join(out)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--rounds', type=int, default=3)
    ap.add_argument('only', nargs='*')
    args = ap.parse_args()
    os.makedirs(bench.OUT, exist_ok=True)
    chosen = [(s, f) for s, f in PATCHES
              if not args.only or any(o in s for o in args.only)]
    functions = sorted({f for _, fs in chosen for f in fs})
    with_all = measure(bench.QEMU, 'series', functions, args.rounds)
    res = {}
    for subject, fs in chosen:
        print(f'without "{subject}"', flush=True)
        binary = build_without(commit_of(subject))
        without = measure(binary, 'without', fs, args.rounds)
        # JSON keys are strings: keep them so for show()
        res[subject] = {
            'without': {str(m): v for m, v in without.items()},
            'with': {str(m): dict(v, functions={f: v['functions'][f]
                                                for f in fs})
                     for m, v in with_all.items()}}
    # a run for some patches keeps the figures of the others
    try:
        with open(bench.RESULTS, encoding='utf-8') as f:
            old = json.load(f).get('patches', {}).get('data', {})
    except FileNotFoundError:
        old = {}
    res = {s: res.get(s, old.get(s)) for s, _ in PATCHES
           if s in res or s in old}
    table = show(res)
    print('\n' + table)
    bench.record('patches', res, table)
    import report  # pylint: disable=import-outside-toplevel
    report.main()


if __name__ == '__main__':
    sys.exit(main())
