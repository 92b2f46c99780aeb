"""The KVM part of make bench, on the nested rig (tests/test_kvm.py): an
arm64 L1 host under TCG runs the KVM-only QEMU of this tree, whose guest
(L2) runs under KVM.

Start-up of L2's QEMU (-S, QMP handshake, quit), run by L1's shell:
-smp 1 against -smp 1,maxcpus=16 and 64 (15 and 63 vCPU fds created,
initialized and parked) and against -smp 16 and -smp 64 (cold vCPUs);
then to the guest's shell with -smp 1, 1,maxcpus=16 and 16.  Then hotplug
latency into an L2 guest, timed from the host (so it includes L1's shell
relaying the QMP command, a few ms)."""

import re
import statistics
import time

from bench import fmt, online_marker, summary, trace_events
from nested import L2
from test_kvm import start_l1

L2_START = ('/opt/qemu/qemu-system-aarch64 -accel kvm -cpu host'
            ' -M virt,gic-version=3 -m 512 -nodefaults -display none'
            ' -bios /opt/l2/QEMU_EFI.fd')
SMPS = ('1', '1,maxcpus=16', '1,maxcpus=64', '16', '64')
# to the guest's userspace (a boot under nested KVM takes seconds)
BOOT_SMPS = ('1', '1,maxcpus=16', '16')


def l1_start_quit(l1, smp):
    """Wall time (s) of one L2 QEMU start-up in L1: L1's shell runs it
    (busybox's date has no sub-second clock), timed by the host, less
    the time of L1's shell running nothing"""
    def timed(cmd):
        t0 = time.monotonic()
        out = l1.sh(cmd, timeout=300)
        return time.monotonic() - t0, out

    idle = min(timed('true')[0] for _ in range(3))
    wall, out = timed(
        'printf \'{"execute":"qmp_capabilities"}\\n{"execute":"quit"}\\n\' | '
        f'{L2_START} -smp {smp} -S -qmp stdio >/tmp/bench.out 2>/tmp/bench.err;'
        ' echo "rc=$?"; cat /tmp/bench.err')
    # L1 has 2 vCPUs: KVM recommends no more
    lines = [line for line in out.splitlines()
             if 'exceeds the recommended cpus supported by KVM' not in line]
    if lines != ['rc=0']:
        raise RuntimeError(f'L2 QEMU -smp {smp}: {out}')
    return wall - idle


# The vCPU ioctls by their number (linux-headers/linux/kvm.h, KVMIO)
IOCTLS = {0x41: 'CREATE_VCPU', 0x80: 'RUN', 0x98: 'GET_MP_STATE',
          0x99: 'SET_MP_STATE', 0x9f: 'GET_VCPU_EVENTS',
          0xa0: 'SET_VCPU_EVENTS', 0xa3: 'ENABLE_CAP', 0xab: 'GET_ONE_REG',
          0xac: 'SET_ONE_REG', 0xae: 'ARM_VCPU_INIT', 0xb0: 'GET_REG_LIST',
          0xc2: 'ARM_VCPU_FINALIZE', 0xce: 'GET_STATS_FD',
          0xe1: 'SET_DEVICE_ATTR',
          0xe2: 'GET_DEVICE_ATTR', 0xe3: 'HAS_DEVICE_ATTR'}
PROFILE_TRACE = ('kvm_vm_ioctl', 'kvm_vcpu_ioctl', 'kvm_create_parked_vcpu',
                 'kvm_arm_vcpu_fd_ioctl', 'kvm_arm_create_parked_vcpu',
                 'kvm_device_ioctl')


def ioctl_name(num):
    return IOCTLS.get(int(num, 16) & 0xff, num)


def ioctl_profile(l1, smp, vcpus, base=None):
    """What @vcpus possible vCPUs beyond vCPU 0 cost one L2 QEMU start-up
    (-S, quit) with -smp @smp, from its trace: their vCPU ioctls by kind,
    per vCPU, and for parked vCPUs (whose set-up runs in the main thread,
    one after the other) the time of each kind per vCPU, from its trace
    line to the next of the set-up's (the last ioctl of the set-up has
    none: its kind's mean time per ioctl stands for it).  The ioctls on
    KVM devices (the vGIC) are counted beyond those of @base, the
    profile of -smp 1."""
    traces = ' '.join(f'-trace {t}' for t in PROFILE_TRACE)
    out = l1.sh(
        'printf \'{"execute":"qmp_capabilities"}\\n{"execute":"quit"}\\n\' | '
        f'{L2_START} -smp {smp} -S -qmp stdio -msg timestamp=on {traces}'
        ' >/dev/null 2>/tmp/bench.trace; echo "rc=$?"', timeout=300)
    if out != 'rc=0':
        raise RuntimeError(f'L2 QEMU -smp {smp}: {out}')
    log = l1.sh('cat /tmp/bench.trace', timeout=300)
    events = trace_events(log)
    # the trace events of a parked vCPU's set-up: an ioctl's time is up
    # to the next of them (not to whatever QEMU traces after the last)
    setup = ('kvm_vm_ioctl', 'kvm_create_parked_vcpu', 'kvm_arm_vcpu_fd_ioctl',
             'kvm_arm_create_parked_vcpu')
    count, took, timed = {}, {}, {}
    first_create = True
    for (t, name, args), nxt in zip(events, events[1:] + [None]):
        if name == 'kvm_vcpu_ioctl':
            m = re.match(r'cpu_index (\d+), type (0x[0-9a-f]+)', args)
            if m.group(1) == '0':
                continue
            kind = ioctl_name(m.group(2))
        elif name == 'kvm_arm_vcpu_fd_ioctl':
            m = re.match(r'vCPU (\d+), type (0x[0-9a-f]+)', args)
            if m.group(1) == '0':
                continue
            kind = ioctl_name(m.group(2))
        elif name == 'kvm_vm_ioctl' and ioctl_name(
                re.search(r'type (0x[0-9a-f]+)', args).group(1)) == \
                'CREATE_VCPU':
            kind = 'CREATE_VCPU'
            if first_create:
                # vCPU 0's, the same with and without possible vCPUs
                first_create = False
                continue
        elif name == 'kvm_device_ioctl':
            # the vGIC's, whose state covers every possible vCPU
            kind = 'device ' + ioctl_name(
                re.search(r'type (0x[0-9a-f]+)', args).group(1))
        else:
            continue
        count[kind] = count.get(kind, 0) + 1
        if nxt and name in setup and nxt[1] in setup:
            took[kind] = took.get(kind, 0) + nxt[0] - t
            timed[kind] = timed.get(kind, 0) + 1
    if base:
        # device ioctls: those of -smp 1 are not the extra vCPUs'
        for k, v in base['count'].items():
            if k.startswith('device '):
                count[k] = count.get(k, 0) - v
    return {'count': count,
            'ioctls_per_vcpu': {k: v / vcpus for k, v in count.items()},
            'seconds_per_vcpu': {k: took[k] / timed[k] * count[k] / vcpus
                                 for k in took}}


def hotplug(l1, rounds):
    vm = L2(l1, l1.l2console, 'bench-l2', smp=f'1,maxcpus={rounds + 1}')
    vm.launch()
    add, dele = [], []
    try:
        slots = [s['props'] for s in reversed(
            vm.qmp('query-hotpluggable-cpus')) if 'qom-path' not in s]
        order = list(range(rounds)) + [0]
        fifo = f'/tmp/l2qmp-{vm.name}'
        for n, i in enumerate(order):
            cpu, cpu_id = i + 1, f'cpu{i + 1}-{n}'
            args = ', '.join(f'"{k}": {v}' for k, v in slots[i].items())
            vm.console.write(online_marker(cpu, n))
            t0 = time.monotonic()
            l1.console.write(
                f'echo \'{{"execute": "device_add", "arguments": {{'
                f'"driver": "host-arm-cpu", "id": "{cpu_id}", {args}}}}}\''
                f' > {fifo}.in\n')
            vm.console.expect(f'ONLINE-{n}\n', 120)
            add.append(time.monotonic() - t0)
            vm.sh('true')
            # L1 waits for the event, and says when it has come
            t0 = time.monotonic()
            l1.console.write(
                f'echo \'{{"execute": "device_del", "arguments": {{'
                f'"id": "{cpu_id}"}}}}\' > {fifo}.in; until grep -q '
                f'\'"device": "{cpu_id}"\' {fifo}.log; do usleep 2000; '
                f'done; echo "DELETED-{n}"\n')
            l1.console.expect(f'DELETED-{n}\n', 120)
            dele.append(time.monotonic() - t0)
            vm.wait_sh(f'test -d /sys/devices/system/cpu/cpu{cpu} || '
                       'echo gone', 'gone')
        l1.sh('true')
        bad = vm.sh('dmesg | grep -E "failed to come online|failed to boot|'
                    'Call trace" || true')
        if bad:
            raise RuntimeError(f'L2 guest: {bad}')
    finally:
        log = vm.quit()
    if re.search(r'EPERM|EBUSY|abort|rror', log):
        raise RuntimeError(f'L2 QEMU: {log}')
    return {'add_to_online_s': summary(add),
            'del_to_device_deleted_s': summary(dele)}


def boot(l1, smp, n):
    """Seconds from starting L2's QEMU to its guest's shell, timed from
    the host"""
    vm = L2(l1, l1.l2console, f'bench-boot-{n}', smp=smp)
    t0 = time.monotonic()
    vm.launch()
    took = time.monotonic() - t0
    log = vm.quit()
    if re.search(r'EPERM|EBUSY|abort|rror', log):
        raise RuntimeError(f'L2 QEMU: {log}')
    return took


def bench(rounds):
    l1 = start_l1('bench-l1')
    try:
        runs = {smp: [] for smp in SMPS}
        for _ in range(rounds):
            for smp in SMPS:
                runs[smp].append(l1_start_quit(l1, smp))
        res = {'samples': runs,
               'startup_s': {smp: summary(v) for smp, v in runs.items()}}
        one = statistics.median(runs['1'])
        res['per_parked_vcpu_s'] = (statistics.median(runs['1,maxcpus=64'])
                                    - one) / 63
        res['per_cold_vcpu_s'] = (statistics.median(runs['64']) - one) / 63
        boots = {smp: [] for smp in BOOT_SMPS}
        for r in range(min(rounds, 3)):
            for smp in BOOT_SMPS:
                boots[smp].append(boot(l1, smp, r))
        res['boot_samples'] = boots
        res['boot_s'] = {smp: summary(v) for smp, v in boots.items()}
        one = ioctl_profile(l1, '1', 1)
        res['ioctls'] = {
            'parked': ioctl_profile(l1, '1,maxcpus=16', 15, one),
            'cold': ioctl_profile(l1, '16', 15, one)}
        res['hotplug'] = hotplug(l1, rounds)
    finally:
        l1.shutdown()
    return res


def show(res):
    out = ['== KVM, nested (L2 QEMU inside a TCG-emulated arm64 L1 host) ==',
           'L2 start-up (-S, QMP handshake, quit), ms, median (min-max):']
    one = res['startup_s']['1']['median']
    for smp, s in res['startup_s'].items():
        out.append(f'  -smp {smp:14} {fmt(s, 1000):>24}'
                   f'  ratio {s["median"] / one:5.2f}')
    out.append(f'  per parked vCPU fd: {res["per_parked_vcpu_s"] * 1000:.1f}'
               f' ms; per cold vCPU: {res["per_cold_vcpu_s"] * 1000:.1f} ms'
               f' (ratio {res["per_parked_vcpu_s"] / res["per_cold_vcpu_s"]:.2f})')
    out.append('L2 start-up to the guest\'s shell, s, median (min-max):')
    for smp, b in res['boot_s'].items():
        out.append(f'  -smp {smp:14} {fmt(b):>24}')
    out.append('vCPU ioctls per vCPU beyond vCPU 0, -smp 1,maxcpus=16'
               ' (parked) and -smp 16 (cold), from the trace; for parked'
               ' vCPUs, set up one after the other, ms per vCPU; "device":'
               ' ioctls on the vGIC beyond those of -smp 1')
    par, cold = res['ioctls']['parked'], res['ioctls']['cold']
    kinds = sorted(set(par['ioctls_per_vcpu']) | set(cold['ioctls_per_vcpu']),
                   key=lambda k: -cold['ioctls_per_vcpu'].get(k, 0))
    out.append(f'  {"ioctl":24} {"parked":>8} {"ms":>7} {"cold":>8}')
    for k in kinds:
        ms = par['seconds_per_vcpu'].get(k)
        ms = f'{ms * 1000:7.2f}' if ms is not None else '      -'
        out.append(f'  {k:24} {par["ioctls_per_vcpu"].get(k, 0):8.1f} {ms}'
                   f' {cold["ioctls_per_vcpu"].get(k, 0):8.1f}')
    h = res['hotplug']
    out += ['hotplug into the L2 guest, ms (from the host, through L1):',
            f'  device_add -> guest online     {fmt(h["add_to_online_s"], 1000)}',
            f'  device_del -> DEVICE_DELETED   '
            f'{fmt(h["del_to_device_deleted_s"], 1000)}']
    return '\n'.join(out)
