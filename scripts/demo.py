#!/usr/bin/python3
"""Demo: boot the arm64 guest under TCG with UEFI+ACPI and
-smp cpus=2,maxcpus=4; show what QMP and the guest report; then, when the
machine supports it, hot-add vCPUs 2 and 3 and remove vCPU 3, showing the
guest's view after each step."""

import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), '..', 'tests'))

# pylint: disable=wrong-import-position
from guest import Guest  # noqa: E402
from qemu.qmp import ExecuteError  # noqa: E402


def show(g, step):
    print(f'\n== {step}')
    cpus = g.qmp('query-cpus-fast')
    print('QMP query-cpus-fast:      ',
          ', '.join(f"cpu{c['cpu-index']}={c['qom-path']}" for c in cpus))
    try:
        slots = g.qmp('query-hotpluggable-cpus')
        for s in sorted(slots, key=lambda s: s['props'].get('core-id', 0)):
            print(f"QMP hotpluggable slot:     {s['type']} {s['props']}"
                  f" -> {s.get('qom-path', '(free)')}")
    except ExecuteError as e:
        print(f'QMP query-hotpluggable-cpus: error: {e}')
    v = g.cpu_view()
    print(f"guest: possible={v['possible']} present={v['present']}"
          f" enabled={v['enabled']} online={v['online']} nproc={v['nproc']}")


def wait_online(g, expect):
    deadline = time.monotonic() + 60
    while g.read('/sys/devices/system/cpu/online') != expect:
        if time.monotonic() > deadline:
            raise SystemExit(f'guest never reached online={expect}')
        time.sleep(0.2)


def main():
    g = Guest('demo', smp='cpus=2,maxcpus=4')
    print('booting: qemu-system-aarch64', ' '.join(g.vm.args))
    t = time.monotonic()
    g.launch()
    try:
        print(f'guest shell ready after {time.monotonic() - t:.1f}s')
        show(g, 'after boot')
        try:
            slots = g.qmp('query-hotpluggable-cpus')
        except ExecuteError:
            print('\nThis QEMU has no CPU hotplug for virt: nothing more to show.')
            return
        free = sorted((s for s in slots if 'qom-path' not in s),
                      key=lambda s: s['props']['core-id'])
        for s in free:
            cid = f"cpu{s['props']['core-id']}"
            g.qmp('device_add', driver=s['type'], id=cid, **s['props'])
            wait_online(g, f"0-{s['props']['core-id']}")
            show(g, f'after device_add {s["type"]} id={cid}')
        if free:
            last = f"cpu{free[-1]['props']['core-id']}"
            g.qmp('device_del', id=last)
            g.vm.event_wait('DEVICE_DELETED', timeout=60,
                            match={'data': {'device': last}})
            show(g, f'after device_del id={last} (DEVICE_DELETED received)')
    finally:
        g.shutdown()


if __name__ == '__main__':
    main()
