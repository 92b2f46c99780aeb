"""Plugging and unplugging a vCPU frees everything it allocated: QEMU runs
under valgrind, a vCPU is plugged and unplugged into the same slot once
and then five times, and the heap QEMU holds at exit must be the same.

No guest is needed: the machine stays paused, and the guest's part of an
unplug (the write of _EJ0 to the CPU hotplug registers) is done over
qtest, as tests/qtest/cpu-plug-test does.  The vCPU still gets its vCPU
thread and, under TCG, its TCG context."""

import re
import time

import pytest

from guest import QEMU

# pylint: disable=wrong-import-order
from qemu.machine.qtest import QEMUQtestMachine

CPUHP_BASE = 0x090d0000         # VIRT_ACPI_CPUHP in hw/arm/virt.c
VALGRIND = ['valgrind', '--leak-check=full', '--show-leak-kinds=definite',
            '--errors-for-leak-kinds=definite', '--num-callers=30']


class QtestMachine(QEMUQtestMachine):
    """A qtest machine whose accelerator need not be qtest."""

    def __init__(self, accel, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._accel = accel

    @property
    def _base_args(self):
        args = super()._base_args
        args[len(args) - 1 - args[::-1].index('-accel') + 1] = self._accel
        return args


def plug_unplug(tmp_path, accel, cycles, machine='virt,gic-version=3'):
    """Run @cycles plug/unplug cycles under valgrind; return its report."""
    firmware = tmp_path / 'firmware.bin'
    firmware.write_bytes(bytes(4096))     # ACPI needs firmware; never runs
    log = tmp_path / f'valgrind-{accel}-{len(machine)}-{cycles}.log'
    vm = QtestMachine(accel, QEMU, args=[
        '-machine', machine, '-cpu', 'max', '-nodefaults',
        '-bios', str(firmware), '-S',
        '-smp', '1,sockets=1,clusters=1,cores=3,threads=1,maxcpus=3'],
        wrapper=VALGRIND + [f'--log-file={log}'], qmp_timer=600)
    vm.launch()
    for i in range(cycles):
        vm.cmd('device_add', driver='max-arm-cpu', id=f'cpu{i}',
               **{'socket-id': 0, 'cluster-id': 0, 'core-id': 1,
                  'thread-id': 0})
        vm.cmd('device_del', id=f'cpu{i}')
        vm.qtest(f'writel {CPUHP_BASE:#x} 0x1')         # selector: CPU 1
        vm.qtest(f'writeb {CPUHP_BASE + 4:#x} 0x8')     # eject
        # a float: upstream's event_wait() waits forever for an int
        event = vm.event_wait('DEVICE_DELETED', timeout=120.0)
        assert event, f'no DEVICE_DELETED for cpu{i}'
        assert event['data']['device'] == f'cpu{i}'
    assert not vm.cmd('query-hotpluggable-cpus')[1].get('qom-path')
    # what the unplug handed to RCU (address spaces) is freed by its thread
    time.sleep(2)
    vm.shutdown(timeout=600)
    # shutdown() does not fail on an abort at quit, which valgrind's
    # summary would not show either
    assert vm.exitcode() == 0, \
        f'QEMU exited with status {vm.exitcode()}:\n{vm.get_log()}'
    return log.read_text()


def in_use_at_exit(report):
    match = re.search(r'in use at exit: ([\d,]+) bytes in ([\d,]+) blocks',
                      report)
    assert match, report
    return tuple(int(n.replace(',', '')) for n in match.groups())


@pytest.mark.parametrize('accel,machine', [
    ('tcg', 'virt,gic-version=3'),
    ('qtest', 'virt,gic-version=3'),
    # CPUs with MTE also register gdbstub commands (qMemTags) at realize
    ('tcg', 'virt,gic-version=3,mte=on'),
])
def test_replug_frees_everything(tmp_path, accel, machine):
    once = plug_unplug(tmp_path, accel, 1, machine)
    more = plug_unplug(tmp_path, accel, 5, machine)
    for report in (once, more):
        # no invalid access, no use of freed memory, no definite leak
        assert 'ERROR SUMMARY: 0 errors' in report, report
    assert in_use_at_exit(more) == in_use_at_exit(once), more
