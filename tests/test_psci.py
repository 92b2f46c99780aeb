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

PAYLOADS = os.path.join(os.path.dirname(__file__), 'payloads')
DENIED = 0xfffffffffffffffd             # PSCI_RET_DENIED, -3
INVALID_PARAMETERS = 0xfffffffffffffffe  # -2


def build_payload(source, d):
    """Assemble payload @source (in tests/payloads) into a raw binary in
    directory @d; return its path."""
    name = os.path.splitext(source)[0]
    obj, elf, out = d / f'{name}.o', d / f'{name}.elf', d / f'{name}.bin'
    for cmd in (['aarch64-linux-gnu-as', '-I', PAYLOADS, '-o', obj,
                 os.path.join(PAYLOADS, source)],
                ['aarch64-linux-gnu-ld', '-Ttext=0', '-o', elf, obj],
                ['aarch64-linux-gnu-objcopy', '-O', 'binary', elf, out]):
        subprocess.run(cmd, check=True)
    return str(out)


@pytest.fixture(scope='module')
def payload(tmp_path_factory):
    return build_payload('psci-cpu-on.S', tmp_path_factory.mktemp('psci'))


@pytest.fixture(scope='module')
def calls_payload(tmp_path_factory):
    return build_payload('psci-calls.S', tmp_path_factory.mktemp('psci'))


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


PSCI_CPU_ON = 0xc4000003
PSCI_AFFINITY_INFO = 0xc4000004
ON, OFF = 0, 1
SUCCESS = 0
ALREADY_ON = 0xfffffffffffffffc         # -4


def psci_calls(payload, smp):
    """Run payload psci-calls.S; return its (function, x1, result)s."""
    out = subprocess.run([QEMU, '-M', 'virt,gic-version=3', '-cpu', 'max',
                          '-smp', smp, '-nodefaults', '-display', 'none',
                          '-serial', 'stdio', '-bios', payload],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         text=True, timeout=120, check=False)
    assert out.returncode == 0, out.stdout
    assert 'PSCI-TEST-DONE' in out.stdout, out.stdout
    return [tuple(int(x, 16) for x in m) for m in re.findall(
        r'PSCI (0x[0-9a-f]+) (0x[0-9a-f]+) ret=(0x[0-9a-f]+)', out.stdout)]


# What psci-calls.S asks, with -smp 3,maxcpus=5 (CPUs 1 and 2 plugged and
# off, 3 and 4 possible), and the answers QEMU's PSCI must give
PSCI_CALLS = [
    # a possible CPU that is not plugged, and MPIDRs of no CPU at all
    (PSCI_CPU_ON, 3, DENIED),
    # a possible CPU that is not plugged exists, and is off
    (PSCI_AFFINITY_INFO, 3, OFF),
    (PSCI_CPU_ON, 0x107, INVALID_PARAMETERS),
    (PSCI_CPU_ON, 0xffffffff, INVALID_PARAMETERS),
    (PSCI_CPU_ON, 0xff00000004, INVALID_PARAMETERS),
    (PSCI_AFFINITY_INFO, 0xffffffff, INVALID_PARAMETERS),
    # CPU 1: started, switches itself off, started again, and again
    (PSCI_AFFINITY_INFO, 1, OFF),
    (PSCI_CPU_ON, 1, SUCCESS),
    (PSCI_AFFINITY_INFO, 1, OFF),
    (PSCI_CPU_ON, 1, SUCCESS),
    (PSCI_CPU_ON, 1, ALREADY_ON),
    (PSCI_AFFINITY_INFO, 1, ON),
    # CPU 2: started outside RAM, where it faults
    (PSCI_CPU_ON, 2, SUCCESS),
    (PSCI_AFFINITY_INFO, 2, ON),
    (PSCI_CPU_ON, 2, ALREADY_ON),
]


def test_psci_odd_calls(calls_payload):
    """CPU_ON and AFFINITY_INFO for MPIDRs beyond maxcpus and for no CPU,
    a CPU started at an address outside RAM, a CPU that switches itself
    off and is started again: every call gets its PSCI answer, the
    machine powers off cleanly (QEMU exits with status 0)."""
    assert psci_calls(calls_payload, '3,maxcpus=5') == PSCI_CALLS


# What psci-el.S prints when PSCI starts CPU 1 at EL2 if the CPUs have it
# (virtualization=on), whatever the caller's level, as QEMU's TCG PSCI and
# KVM's own do
CPU_ON_EL2 = ['CPU0 EL2', 'CPU0 EL1', 'CPU1 EL2']
CPU_ON_EL1 = ['CPU0 EL1', 'CPU1 EL1']


@pytest.mark.parametrize('virt', ['on', 'off'])
def test_cpu_on_el(tmp_path, virt):
    """CPU_ON from EL1 starts a CPU at EL2 if the CPUs have it, else at
    EL1: the reference for test_kvm.py's test_cpu_on_el2."""
    payload = build_payload('psci-el.S', tmp_path)
    machine = f'virt,gic-version=3,virtualization={virt}'
    out = subprocess.run([QEMU, '-M', machine,
                          '-cpu', 'max', '-smp', '2,maxcpus=3',
                          '-nodefaults', '-display', 'none',
                          '-serial', 'stdio', '-bios', payload],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         text=True, timeout=60, check=False)
    assert out.returncode == 0, out.stdout
    lines = [x for x in out.stdout.splitlines() if x.startswith('CPU')]
    assert lines == (CPU_ON_EL2 if virt == 'on' else CPU_ON_EL1), out.stdout
