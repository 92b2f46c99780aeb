"""Bad input, refused clearly, with nothing changed: on the command line
QEMU exits with status 1 and says why; over QMP the command fails with a
message that says why, and QEMU keeps running with the slots as they
were.  No guest is needed: the machine stays paused, with a firmware
file that never runs (the machine only needs one to offer ACPI).

Refusals that need a running guest are in test_hotplug.py (test_errors,
test_unlike_cpus_refused, test_single_threaded_tcg, test_old_machine_type,
test_unsupported_configs, test_kata_ids) and test_pending.py."""

import os
import re
import subprocess

import pytest
from qemu.qmp import ExecuteError

from guest import GUEST, LOG_DIR, QEMU, Machine

KERNEL = os.path.join(GUEST, 'vmlinuz')


@pytest.fixture(scope='module')
def firmware(tmp_path_factory):
    path = tmp_path_factory.mktemp('fw') / 'firmware.bin'
    path.write_bytes(bytes(4096))
    return str(path)


def base_args(firmware, machine='virt,gic-version=3', smp='1,maxcpus=4',
              cpu='max'):
    args = ['-M', machine, '-cpu', cpu, '-smp', smp, '-nodefaults',
            '-display', 'none', '-S']
    return args + (['-bios', firmware] if firmware else [])


def slot(core, **ids):
    return dict({'socket-id': 0, 'cluster-id': 0, 'core-id': core,
                 'thread-id': 0}, **ids)


def device(core, driver='max-arm-cpu', **extra):
    props = ','.join(f'{k}={v}' for k, v in
                     dict(slot(core), **extra).items())
    return ['-device', f'{driver},{props}']


# (extra arguments, what the error says)
COMMAND_LINE = [
    (device(0), r'core-id=0, thread-id=0 is already plugged'),
    (device(2) + device(2), r'core-id=2, thread-id=0 is already plugged'),
    (device(2, id='a') + device(3, id='a'), r"Duplicate ID 'a' for device"),
    (device(4), r'Invalid CPU core-id: 4 must be in range 0:3'),
    (['-device', 'max-arm-cpu,id=x'], r'CPU core-id is not set'),
    (device(2, driver='cortex-a57-arm-cpu'),
     r"Invalid CPU type, expected cpu type: 'max-arm-cpu'"),
    (device(2, **{'mp-affinity': 7}),
     r'CPU mp-affinity 0x7 is not the one of its slot, 0x2'),
    (['-smp', '1,maxcpus=513'],
     r"The max CPUs supported by machine 'virt-\d+\.\d+' is 512"),
    (['-M', 'virt,gic-version=2', '-smp', '1,maxcpus=9'],
     r'exceeds max CPUs supported by machine .* \(8\)'),
    (['-M', 'virt-10.2,gic-version=3'] + device(2),
     r'CPU hotplug is not supported by machine type virt-10.2'),
    (['-cpu', 'max,aarch64=off'],
     r"'aarch64' feature cannot be disabled unless KVM is enabled"),
    # cpu-hotplug=on where the configuration does not allow it
    (['-M', 'virt,gic-version=3,acpi=off,cpu-hotplug=on'],
     r'CPU hotplug needs ACPI'),
    (['-M', 'virt,gic-version=3,cpu-hotplug=on', '-smp', '2,maxcpus=2'],
     r'CPU hotplug needs -smp maxcpus greater than cpus, here both are 2'),
    (['-M', 'virt-10.2,gic-version=3,cpu-hotplug=on'],
     r'CPU hotplug is not supported by machine type virt-10.2'),
    (['-M', 'virt,cpu-hotplug=maybe'], r"cpu-hotplug.*'maybe'"),
]


@pytest.mark.parametrize('extra,error', COMMAND_LINE,
                         ids=[str(i) for i in range(len(COMMAND_LINE))])
def test_command_line(firmware, extra, error):
    # later options override the base ones
    out = subprocess.run([QEMU] + base_args(firmware) + extra,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         stdin=subprocess.DEVNULL, text=True, timeout=60,
                         check=False)
    assert out.returncode == 1, out.stdout
    assert re.search(error, out.stdout), out.stdout


@pytest.mark.parametrize('machine', ['raspi3b', 'xlnx-zcu102'])
def test_board_without_cpu_hotplug(machine):
    """Arm CPU types are user creatable (4.13), but only a board whose
    class has has_hotpluggable_cpus takes one: on any other, -device of
    an arm CPU ends QEMU with the error of the CPU's realize (qdev does
    not check -device there), and device_add fails (qdev's own check)
    and adds nothing."""
    args = ['-M', machine, '-nodefaults', '-display', 'none', '-audio',
            'none', '-S']
    out = subprocess.run([QEMU] + args + ['-device', 'cortex-a53-arm-cpu'],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         stdin=subprocess.DEVNULL, text=True, timeout=60,
                         check=False)
    assert out.returncode == 1, out.stdout
    assert (f'CPU hotplug is not supported by machine type {machine}'
            in out.stdout), out.stdout
    vm = launch(f'refuse-{machine}', args)
    cpus = vm.cmd('query-cpus-fast')
    with pytest.raises(ExecuteError, match='can not be hotplugged on this '
                       'machine'):
        vm.cmd('device_add', driver='cortex-a53-arm-cpu', id='cpu9')
    assert vm.cmd('query-cpus-fast') == cpus
    quit_cleanly(vm)


# (machine, smp, cpu, with firmware, what device_add says)
NO_HOTPLUG = [
    ('virt,gic-version=3,secure=on', '1,maxcpus=4', 'max', True,
     'needs the PSCI implementation of QEMU'),
    ('virt,gic-version=3', '1,maxcpus=4', 'max', False,
     'needs ACPI: an AArch64 guest, UEFI firmware and acpi=on'),
    ('virt,gic-version=3', '2,maxcpus=2', 'max', True,
     'needs -smp maxcpus greater than cpus, here both are 2'),
    ('virt,gic-version=3', '1,maxcpus=4', 'cortex-a15', True,
     'needs ACPI: an AArch64 guest'),
    ('virt,gic-version=3,acpi=off', '1,maxcpus=4', 'max', True,
     'needs ACPI'),
    ('virt,gic-version=2', '1,maxcpus=4', 'max', True, 'needs a GICv3'),
    ('virt-10.2,gic-version=3', '1,maxcpus=4', 'max', True,
     'not supported by machine type virt-10.2'),
    ('virt,gic-version=3,cpu-hotplug=off', '1,maxcpus=4', 'max', True,
     r'CPU hotplug is off \(-machine cpu-hotplug=off\)'),
]


def launch(name, args):
    vm = Machine(QEMU, args=args, name=name, log_dir=LOG_DIR)
    vm.launch()
    return vm


def quit_cleanly(vm):
    vm.shutdown()
    assert vm.exitcode() == 0, vm.get_log()


@pytest.mark.parametrize('machine,smp,cpu,fw,error', NO_HOTPLUG,
                         ids=[str(i) for i in range(len(NO_HOTPLUG))])
def test_no_hotplug_says_why(firmware, machine, smp, cpu, fw, error):
    """Where the machine cannot offer CPU hotplug, device_add says which
    condition is missing, and adds nothing."""
    vm = launch(f'refuse-{len(machine)}-{smp}-{cpu}-{fw}',
                base_args(firmware if fw else None, machine, smp, cpu)
                + (['-kernel', KERNEL] if not fw else []))
    cpus = vm.cmd('query-cpus-fast')
    driver = 'max-arm-cpu' if cpu == 'max' else f'{cpu}-arm-cpu'
    with pytest.raises(ExecuteError, match=error):
        vm.cmd('device_add', driver=driver, id='cpu3', **slot(3))
    assert vm.cmd('query-cpus-fast') == cpus
    assert vm.cmd('query-status')['status'] == 'prelaunch'
    quit_cleanly(vm)


def test_qmp_refusals(firmware):
    """What device_add and device_del refuse on a machine that offers CPU
    hotplug, each without a change to the slots."""
    vm = launch('refuse-qmp', base_args(firmware, smp='2,maxcpus=4'))
    vm.cmd('device_add', driver='max-arm-cpu', id='cpu2', **slot(2))
    before = vm.cmd('query-hotpluggable-cpus')
    cpu0 = next(s['qom-path'] for s in before
                if s['props']['core-id'] == 0)
    refused = [
        (('device_add', dict(driver='max-arm-cpu', id='x', **slot(2))),
         'already plugged'),
        (('device_add', dict(driver='max-arm-cpu', id='cpu2', **slot(3))),
         "Duplicate device ID 'cpu2'"),
        (('device_add', dict(driver='max-arm-cpu', id='x',
                             **slot(3, **{'mp-affinity': 2}))),
         'mp-affinity 0x2 is not the one of its slot, 0x3'),
        (('device_add', dict(driver='max-arm-cpu', id='x',
                             **slot(3, **{'socket-id': 1}))),
         'socket-id: 1 must be in range 0:0'),
        (('device_add', dict(driver='max-arm-cpu', id='x',
                             **slot(3, **{'thread-id': 1}))),
         'thread-id: 1 must be in range 0:0'),
        (('device_add', dict(driver='max-arm-cpu', id='x',
                             **{'core-id': 'three'})),
         "core-id.*integer|Parameter 'core-id'"),
        (('device_add', dict(driver='cortex-a57-arm-cpu', id='x',
                             **slot(3))),
         "expected cpu type: 'max-arm-cpu'"),
        (('device_add', dict(driver='max-arm-cpu', id='x', sve=False,
                             **slot(3))),
         "CPU property 'sve' is false, but true on the boot CPUs"),
        (('device_del', dict(id=cpu0)), 'Boot CPUs cannot be unplugged'),
        (('device_del', dict(id='nosuchcpu')),
         "Device 'nosuchcpu' not found"),
    ]
    for (cmd, args), error in refused:
        with pytest.raises(ExecuteError, match=error):
            vm.cmd(cmd, **args)
        assert vm.cmd('query-hotpluggable-cpus') == before, (cmd, args)
    assert len(vm.cmd('query-cpus-fast')) == 3
    quit_cleanly(vm)
