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
  patches.py [--rounds N] --landed

--landed measures part 2's patches on their own tree instead (LANDED):
the section 'landed' of the results file.
"""

import argparse
import glob
import json
import os
import statistics
import subprocess
import sys

import bench
from guest import X86
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
# Part 2 (docs/parts) is posted before the arm virt machine can hot-plug
# CPUs, so the figures its messages quote come from its own tree: the
# tree before and after each patch, on a board that has many CPUs there
# (x86 q35 builds the CPU hotplug AML of every possible CPU; the arm
# virt machine's GIC has lines for each CPU present).  Instructions as
# above; x86 q35 boots its default firmware.
LANDED = (
    ('qom: Set a link property without a round trip through its target',
     (('arm', '1'), ('arm', '64')),
     ('object_property_set_link', 'object_get_canonical_path_component')),
    ('hw/acpi/aml-build: Append terms to their parent without a temporary',
     (('q35', '1,maxcpus=255'),),
     ('acpi_build', 'build_cpus_aml', 'build_append_namestringv')),
    ('hw/acpi/cpu: Free the AML of each CPU once it is appended',
     (('q35', '1,maxcpus=255'),),
     ('acpi_build', 'build_cpus_aml')),
)
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


def build_without(c, revert=True, targets=('qemu-system-aarch64',)):
    """build/qemu-without: master with @c reverted, or @c itself if not
    @revert, with @targets built; the directory of its binaries"""
    if not os.path.isdir(WITHOUT):
        git('worktree', 'add', '-q', '--detach', WITHOUT, 'master')
    git('reset', '-q', '--hard', cwd=WITHOUT)
    git('checkout', '-q', '--detach', 'master' if revert else c,
        cwd=WITHOUT)
    if revert:
        git('revert', '--no-edit', '--no-commit', c, cwd=WITHOUT)
    subprocess.run([os.path.join(bench.TOP, 'scripts', 'build-qemu.sh'),
                    WITHOUT, os.path.join(WITHOUT, 'build'), '--']
                   + list(targets), check=True, stdout=subprocess.DEVNULL)
    return os.path.join(WITHOUT, 'build')


def measure_argv(argv, name, functions, rounds):
    """{'instructions': median, 'samples': [...], 'functions': {function:
    inclusive instructions}, 'rss_mib': median} of @argv's start-up"""
    runs = []
    for r in range(rounds):
        bench.instructions(argv, f'{name}-{r}')
        runs.append(os.path.join(bench.OUT, f'callgrind.{name}-{r}'))
    counts = [total(p) for p in runs]
    median = runs[counts.index(statistics.median_low(counts))]
    incl = costs(median, True)
    return {
        'instructions': statistics.median(counts), 'samples': counts,
        'functions': {f: sum(v for k, v in incl.items()
                             if k.split(':')[-1].split("'")[0] == f)
                      for f in functions},
        'rss_mib': statistics.median(
            bench.start_quit(argv)[1] for _ in range(rounds))}


def measure(binary, name, functions, rounds):
    """{maxcpus: measure_argv()} on the arm virt machine"""
    return {m: measure_argv(bench.arm(binary, f'1,maxcpus={m}'),
                            f'{name}-{m}', functions, rounds)
            for m in MAXCPUS}


def board_argv(build, board, smp):
    if board == 'arm':
        return bench.arm(os.path.join(build, 'qemu-system-aarch64'), smp)
    # the firmware that make other-build puts where build/qemu's
    # qemu-system-x86_64 finds it
    share = glob.glob(os.path.join(os.path.dirname(X86['binary']),
                                   'qemu-bundle', '**', 'share', 'qemu'),
                      recursive=True)[0]
    return ([os.path.join(build, 'qemu-system-x86_64')] + bench.q35(smp)[1:]
            + ['-L', share])


def landed(rounds):
    """LANDED's patches, each measured on the trees before and at it"""
    res = {}
    for subject, configs, functions in LANDED:
        c = commit_of(subject)
        print(f'before and at "{subject}"', flush=True)
        r = {}
        for when, rev in (('before', c + '^'), ('at', c)):
            build = build_without(git('rev-parse', rev), revert=False,
                                  targets=('qemu-system-aarch64',
                                           'qemu-system-x86_64'))
            for board, smp in configs:
                r.setdefault(f'{board} -smp {smp}', {})[when] = measure_argv(
                    board_argv(build, board, smp), f'{when}-{board}-{smp}',
                    functions, rounds)
        res[subject] = r
    return res


def rows(old, new):
    """The table lines of two measure_argv() results side by side"""
    out = [f'    {"QEMU":42} {old["instructions"]:13,.0f}'
           f' {new["instructions"]:13,.0f}']
    for f in old['functions']:
        out.append(f'    {f + "()":42} {old["functions"][f]:13,}'
                   f' {new["functions"][f]:13,}')
    out.append(f'    {"peak RSS, MiB":42} {old["rss_mib"]:13.1f}'
               f' {new["rss_mib"]:13.1f}')
    return out


def show_landed(res):
    out = ['Part 2 where it lands (bench/patches.py --landed): the tree'
           ' before and after each patch, parts 1 and 2 up to it applied;'
           ' start-up with -S, QMP handshake and quit, TCG (arm: UEFI;'
           ' x86 q35: its default firmware); instructions by callgrind'
           ' (inclusive, for functions) and peak RSS, medians']
    for subject, r in res.items():
        out.append(f'\n{subject}')
        out.append(f'  {"":44} {"before":>13} {"after":>13}')
        for config, v in r.items():
            out.append(f'  {config}')
            out += rows(v['before'], v['at'])
    return '\n'.join(out)


def show(res):
    out = ['The whole series with and without each patch (bench/patches.py):'
           ' start-up with -S, QMP handshake and quit, TCG, UEFI;'
           ' instructions by callgrind (inclusive, for functions) and peak'
           ' RSS, medians']
    for subject, r in res.items():
        out.append(f'\n{subject}')
        out.append(f'  {"":44} {"without":>13} {"with":>13}')
        for m in MAXCPUS:
            out.append(f'  -smp 1,maxcpus={m}')
            out += rows(r['without'][str(m)], r['with'][str(m)])
    return '\n'.join(out)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--rounds', type=int, default=3)
    ap.add_argument('--landed', action='store_true',
                    help='part 2 where it lands (LANDED) instead')
    ap.add_argument('only', nargs='*')
    args = ap.parse_args()
    os.makedirs(bench.OUT, exist_ok=True)
    if args.landed:
        res = landed(args.rounds)
        table = show_landed(res)
        print('\n' + table)
        bench.record('landed', res, table)
        import report  # pylint: disable=import-outside-toplevel
        report.main()
        return
    chosen = [(s, f) for s, f in PATCHES
              if not args.only or any(o in s for o in args.only)]
    functions = sorted({f for _, fs in chosen for f in fs})
    with_all = measure(bench.QEMU, 'series', functions, args.rounds)
    res = {}
    for subject, fs in chosen:
        print(f'without "{subject}"', flush=True)
        binary = os.path.join(build_without(commit_of(subject)),
                              'qemu-system-aarch64')
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
