"""PSCI CPU_ON return codes, read from a bare-metal payload (run as the
firmware, so that the machine sees UEFI-like firmware and offers CPU
hotplug where it can) that asks QEMU's PSCI to start CPUs and prints the
answers on the UART.  Only a machine that offers CPU hotplug answers
DENIED for a possible CPU that is not plugged; everything else keeps
the answer of QEMU 10.2, INVALID_PARAMETERS."""

import os
import re
import subprocess

import pytest

from guest import QEMU

PAYLOAD = os.path.join(os.path.dirname(__file__), 'payloads',
                       'psci-cpu-on.S')
DENIED = 0xfffffffffffffffd             # PSCI_RET_DENIED, -3
INVALID_PARAMETERS = 0xfffffffffffffffe  # -2


@pytest.fixture(scope='module')
def payload(tmp_path_factory):
    d = tmp_path_factory.mktemp('psci')
    for cmd in (['aarch64-linux-gnu-as', '-o', d / 'p.o', PAYLOAD],
                ['aarch64-linux-gnu-ld', '-Ttext=0', '-o', d / 'p.elf',
                 d / 'p.o'],
                ['aarch64-linux-gnu-objcopy', '-O', 'binary', d / 'p.elf',
                 d / 'p.bin']):
        subprocess.run(cmd, check=True)
    return str(d / 'p.bin')


def cpu_on_results(payload, machine, smp='1,maxcpus=2'):
    out = subprocess.run([QEMU, '-M', machine, '-cpu', 'max', '-smp', smp,
                          '-nodefaults', '-display', 'none',
                          '-serial', 'stdio', '-bios', payload],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         text=True, timeout=60, check=False)
    assert out.returncode == 0, out.stdout
    assert 'PSCI-TEST-DONE' in out.stdout, out.stdout
    return {int(m, 16): int(r, 16) for m, r in re.findall(
        r'PSCI CPU_ON mpidr=(0x[0-9a-f]+) ret=(0x[0-9a-f]+)', out.stdout)}


@pytest.mark.parametrize('machine,possible_absent', [
    # CPU hotplug offered: the guest sees CPU 1 (Online Capable)
    ('virt,gic-version=3', DENIED),
    # no CPU hotplug: as in QEMU 10.2
    ('virt-10.2,gic-version=3', INVALID_PARAMETERS),
    ('virt,gic-version=2', INVALID_PARAMETERS),
    ('virt,gic-version=3,acpi=off', INVALID_PARAMETERS),
])
def test_cpu_on_absent_cpu(payload, machine, possible_absent):
    # MPIDR 1: possible with maxcpus=2, not plugged; 0x107: no such CPU
    assert cpu_on_results(payload, machine) == {
        1: possible_absent, 0x107: INVALID_PARAMETERS}
