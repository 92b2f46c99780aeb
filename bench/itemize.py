#!/usr/bin/python3
"""Where the start-up instructions of possible vCPUs go: the difference,
function by function, between two callgrind profiles of QEMU (one at
-smp 1,maxcpus=1, one at maxcpus=M), divided by the M - 1 extra possible
vCPUs.

  itemize.py SMALL LARGE EXTRA_VCPUS [N]

Two lists: the self cost of each function (what runs in the function
itself; these add up to the whole difference) and the inclusive cost of
QEMU's own functions (with everything they call, so they nest: a caller
includes its callees), which says which part of QEMU asked for the work.
make bench (bench.py) stores both in its results file."""

import re
import subprocess
import sys

# callgrind_annotate's lines: "  1,234 ( 0.50%)  file:function [object]"
LINE = re.compile(r'\s*([\d,]+) \([ \d.]+%\)\s+(\S.*?)(?: \[(.*)\])?$')


def costs(path, inclusive):
    out = subprocess.run(
        ['callgrind_annotate', '--auto=no', '--threshold=100',
         f'--inclusive={"yes" if inclusive else "no"}', path],
        check=True, capture_output=True, text=True).stdout
    res = {}
    for line in out.splitlines():
        m = LINE.match(line)
        if not m or 'PROGRAM TOTALS' in line:
            continue
        name, obj = m.group(2), m.group(3)
        if not obj:
            # callgrind_annotate prints some functions a second time
            # without their object, with the same cost
            continue
        # QEMU's sources by their path in the tree; libraries by name
        if '/build/../' in name:
            name = name.split('/build/../', 1)[1]
        elif obj and not obj.endswith('qemu-system-aarch64'):
            name = f'{name.split(":")[-1]} ({obj.rsplit("/", 1)[-1]})'
        res[name] = res.get(name, 0) + int(m.group(1).replace(',', ''))
    return res


def total(path):
    with open(path, encoding='utf-8') as f:
        for line in f:
            if line.startswith(('summary:', 'totals:')):
                return int(line.split()[1])
    raise RuntimeError(f'no instruction count in {path}')


def itemize(small, large, extra, top=25):
    """{'total': instructions per extra vCPU, 'self': [[function,
    per vCPU], ...], 'inclusive': [...]}, the @top largest first"""
    out = {'total': (total(large) - total(small)) / extra}
    for kind in ('self', 'inclusive'):
        a = costs(small, kind == 'inclusive')
        b = costs(large, kind == 'inclusive')
        diff = {k: (b.get(k, 0) - a.get(k, 0)) / extra
                for k in set(a) | set(b)}
        if kind == 'inclusive':
            # QEMU's functions, less main() and its wrappers
            diff = {k: v for k, v in diff.items()
                    if re.match(r'[a-z]\w*/.*\.[ch]:', k)
                    and not k.startswith(('system/main.c', 'system/vl.c'))}
        out[kind] = [[k, round(v)] for k, v in
                     sorted(diff.items(), key=lambda kv: -abs(kv[1]))[:top]]
    return out


def show(res):
    lines = [f'per possible vCPU: {res["total"]:,.0f} instructions',
             'self cost (adds up to the total):']
    lines += [f'  {n:>8,} {f}' for f, n in res['self']]
    lines.append("inclusive cost of QEMU's functions (nested):")
    lines += [f'  {n:>8,} {f}' for f, n in res['inclusive']]
    return '\n'.join(lines)


if __name__ == '__main__':
    print(show(itemize(sys.argv[1], sys.argv[2], int(sys.argv[3]),
                       int(sys.argv[4]) if len(sys.argv) > 4 else 25)))
