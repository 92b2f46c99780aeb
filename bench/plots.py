"""The plots of make bench, drawn from its results file (bench.py):
docs/bench/startup.png (start-up time, memory and instructions against
the number of possible vCPUs) and docs/bench/hotplug.png (the hotplug
latencies of every round, arm virt and x86 q35 side by side)."""

import json
import os

import matplotlib
matplotlib.use('Agg')
# pylint: disable=wrong-import-position
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import ScalarFormatter  # noqa: E402

LABELS = {'patched': 'patched, -smp 1,maxcpus=M',
          'base': 'pristine base, -smp 1,maxcpus=M',
          'cold': 'patched, -smp M (all cold)',
          'x86-q35': 'x86 q35, -smp 1,maxcpus=M'}


def by_m(d):
    """a results dict keyed by maxcpus (strings in JSON), sorted"""
    return sorted((int(m), v) for m, v in d.items())


def startup(results, path):
    panels = 2 * ('startup' in results) + ('instructions' in results)
    if not panels:
        return
    fig, axes = plt.subplots(1, panels, figsize=(5.2 * panels, 4.2))
    axes = list(axes) if panels > 1 else [axes]
    if 'startup' in results:
        a, b = axes.pop(0), axes.pop(0)
        for name, d in results['startup']['data'].items():
            pts = by_m(d)
            a.plot([m for m, _ in pts],
                   [v['wall_s']['median'] * 1000 for _, v in pts], 'o-',
                   label=LABELS[name])
            b.plot([m for m, _ in pts],
                   [v['rss_mib']['median'] for _, v in pts], 'o-',
                   label=LABELS[name])
        a.set_ylabel('start-up wall time (ms), median')
        b.set_ylabel('peak RSS (MiB), median')
        a.legend(fontsize=7)
        for ax in (a, b):
            ax.set_yscale('log')
            ax.yaxis.set_major_formatter(ScalarFormatter())
            ax.yaxis.set_minor_formatter(ScalarFormatter())
            ax.tick_params(axis='y', which='minor', labelsize=7)
            ax.set_title(results['startup']['date'], fontsize=8)
    if 'instructions' in results:
        c = axes.pop(0)
        for name, d in results['instructions']['data'].items():
            pts = by_m(d['median'])
            c.plot([m for m, _ in pts], [v / 1e6 for _, v in pts], 'o-',
                   label=LABELS[name])
        c.set_ylabel('start-up instructions (millions, callgrind)')
        c.set_ylim(bottom=0)
        c.legend(fontsize=7)
        c.set_title(results['instructions']['date'], fontsize=8)
    for ax in fig.axes:
        ax.set_xscale('log', base=2)
        ax.xaxis.set_major_formatter(ScalarFormatter())
        ax.set_xlabel('M (possible vCPUs)')
        ax.grid(True, which='both', alpha=0.3)
    fig.suptitle('QEMU start-up (-S, QMP handshake, quit), TCG, with UEFI')
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def hotplug(results, path):
    if 'hotplug' not in results:
        return
    d = results['hotplug']['data']
    keys = (('device_add_returns_s', 'device_add returns'),
            ('add_to_online_s', 'device_add -> guest online'),
            ('del_to_slot_free_s', 'device_del -> slot free'))
    fig, axes = plt.subplots(1, len(keys), figsize=(12, 4))
    for ax, (key, title) in zip(axes, keys):
        data = [[v * 1000 for v in d[m]['samples'][key]] for m in ('arm',
                                                                    'x86')]
        ax.boxplot(data, whis=(0, 100))
        for i, vals in enumerate(data, 1):
            ax.plot([i] * len(vals), vals, 'o', alpha=0.5, markersize=4)
        ax.set_xticks([1, 2], [f'arm virt\n(Linux {d["arm"]["guest_kernel"]})',
                               f'x86 q35\n(Linux {d["x86"]["guest_kernel"]})'])
        ax.set_title(title, fontsize=10)
        ax.set_ylabel('ms')
        ax.set_ylim(bottom=0)
        ax.grid(True, axis='y', alpha=0.3)
    fig.suptitle(f'vCPU hotplug under TCG, every round'
                 f' ({results["hotplug"]["date"]})')
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def draw(results_path, out_dir):
    with open(results_path, encoding='utf-8') as f:
        results = json.load(f)
    startup(results, os.path.join(out_dir, 'startup.png'))
    hotplug(results, os.path.join(out_dir, 'hotplug.png'))
