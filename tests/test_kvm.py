"""Real KVM, nested: an arm64 L1 host under TCG with virtualization=on runs
our KVM-only aarch64 QEMU (cross-built from the same tree), which runs the
test guest as L2 with -accel kvm -cpu host."""

import os
import re

import pytest

from guest import BUILD

L1_INITRD = os.path.join(BUILD, 'l1', 'initrd.cpio.gz')
L2_QEMU = '/opt/qemu/qemu-system-aarch64'

pytestmark = pytest.mark.kvm


def l2_command(smp='2', extra=''):
    """The L2 QEMU command line, run inside L1.  L2's console is quiet:
    every byte it prints traps through two levels of virtualization."""
    return (f'{L2_QEMU} -accel kvm -cpu host -M virt,gic-version=3'
            f' -smp {smp} -m 512 -nodefaults -display none -no-reboot'
            f' -bios /opt/l2/QEMU_EFI.fd -kernel /opt/l2/Image.gz'
            f' -initrd /opt/l2/initrd.cpio.gz -serial stdio'
            f' -append "console=ttyAMA0 quiet panic=-1 guest.run=kvm-report"'
            f' {extra} </dev/null')


@pytest.fixture
def l1(boot):
    if not os.path.exists(L1_INITRD):
        pytest.fail(f'{L1_INITRD} is missing: run "make kvm-build"')
    g = boot(machine='virt,virtualization=on,gic-version=3', cpu='max',
             smp='2', memory='2048', firmware=False, initrd=L1_INITRD)
    assert g.sh('test -c /dev/kvm && echo yes') == 'yes'
    return g


def test_l2_boots_under_kvm(l1):
    out = l1.sh(l2_command(), timeout=600)
    m = re.search(r'L2-REPORT hypervisor=(\d+) cpus=(\d+) present=(\S+)'
                  r' acpi=(\d+)', out)
    assert m, f'no report from L2:\n{out}'
    hypervisor, cpus, present, acpi = m.groups()
    # the L2 kernel found KVM's hypervisor services: it runs under KVM
    assert hypervisor == '1'
    assert cpus == '2' and present == '0-1'
    # UEFI and ACPI, as for the TCG guest
    assert acpi == '1'
