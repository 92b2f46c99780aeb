"""libvirt under KVM, in the nested rig: Debian's arm64 libvirt (the
version test_libvirt.py runs on the host, packed by
scripts/build-libvirt-l1.sh) runs as the privileged daemon of an L1 host
and drives a <domain type='kvm'> on the KVM-only build: host-passthrough
(so host-arm-cpu), UEFI from pflash, ACPI, vCPU 0 cold and the others
hotpluggable.  After each step, libvirt (vcpucount, vcpuinfo, the live
XML), the guest (its online CPUs, work on each) and L2's QEMU (one KVM
vCPU fd per possible vCPU, whatever was plugged) must agree; libvirt's
errors leave the domain as it was; the daemon logs no other error."""

import json
import os
import re

import pytest

from guest import BOOT_TIMEOUT, BUILD
from test_kvm import check_l1_log, start_l1
from test_libvirt import (KUBEVIRT, DomainView, kubevirt_flow,
                          managedsave_flow, setvcpus_flow, vcpu_elements)

pytestmark = pytest.mark.kvm

L1_LIBVIRT_INITRD = os.path.join(BUILD, 'l1', 'initrd-libvirt.cpio.gz')
VIRSH = 'virsh -c qemu:///system'
# What the daemon logs as errors in L1 that are not: it has no
# dmidecode, and it cannot check the features of an aarch64 guest CPU
# when it saves the domain (as on the host, test_libvirt.py)
KNOWN = ("Cannot find 'dmidecode'",
         'cannot check guest CPU feature for aarch64')


class L1Libvirt:
    """The libvirt daemon of L1 host @l1"""

    def __init__(self, l1):
        self.l1 = l1
        self.expected = []
        l1.sh('export PATH=/usr/sbin:/usr/bin:/sbin:/bin')
        l1.sh('libvirtd >/tmp/libvirtd.log 2>&1 &')
        l1.wait_sh(f'{VIRSH} uri 2>/dev/null', 'qemu:///system', timeout=120)

    def virsh(self, *args, check=True):
        """Run virsh in L1; return its output, or raise with its error
        (check=False: return (status, output))."""
        out = self.l1.sh(f'{VIRSH} {" ".join(args)} 2>&1; echo "rc=$?"',
                         timeout=300)
        out, rc = out.rsplit('rc=', 1)
        out, rc = out.strip(), int(rc)
        if not check:
            self.expected += [line[len('error: '):] for line in
                              out.splitlines() if line.startswith('error: ')]
            return rc, out
        assert rc == 0, f'virsh {" ".join(args)}: {out}'
        return out

    def errors(self):
        """The errors in the daemon's log that no test asked for"""
        log = self.l1.sh('cat /tmp/libvirtd.log')
        return [line for line in log.splitlines() if ': error :' in line and
                not any(k in line for k in KNOWN) and
                not any(e and e in line for e in self.expected)]


@pytest.fixture(scope='module')
def libvirt_l1():
    l1 = start_l1('kvm-l1-libvirt', initrd=L1_LIBVIRT_INITRD)
    lv = L1Libvirt(l1)
    yield lv
    errors = lv.errors()
    check_l1_log(l1)
    l1.shutdown()
    assert not errors, '\n'.join(errors)


def domain_xml(name, vcpus, current, cold=1, topology=None):
    """A KVM virt domain in L1, the test guest on L1's second UART"""
    cpus, topo = vcpu_elements(vcpus, current, cold, topology)
    return f"""<domain type='kvm'>
  <name>{name}</name>
  <memory unit='MiB'>512</memory>
  <vcpu placement='static' current='{current}'>{vcpus}</vcpu>
  <vcpus>{cpus}</vcpus>
  <os>
    <type arch='aarch64' machine='virt-11.0'>hvm</type>
    <loader readonly='yes' type='pflash'>/opt/l2/AAVMF_CODE.fd</loader>
    <nvram template='/opt/l2/AAVMF_VARS.fd'>/tmp/{name}_VARS.fd</nvram>
    <kernel>/opt/l2/Image.gz</kernel>
    <initrd>/opt/l2/initrd.cpio.gz</initrd>
    <cmdline>console=ttyAMA0 panic=-1 quiet</cmdline>
  </os>
  <features><acpi/><gic version='3'/></features>
  <cpu mode='host-passthrough'>{topo}</cpu>
  <on_reboot>destroy</on_reboot>
  <devices>
    <emulator>/opt/qemu/qemu-system-aarch64</emulator>
    <serial type='dev'>
      <source path='/dev/ttyAMA1'/>
      <target port='0'/>
    </serial>
  </devices>
</domain>"""


class Domain(DomainView):
    """A libvirt domain in L1, and its guest's shell"""

    def __init__(self, lv, name, vcpus=4, current=1, cold=1,
                 topology=None):
        self.lv = lv
        self.name = name
        self.vcpus = vcpus
        self.console = lv.l1.l2console
        path = f'/tmp/{name}.xml'
        lv.l1.sh(f'rm -f {path}')
        # through L1's shell in single quotes
        xml = domain_xml(name, vcpus, current, cold, topology)
        for line in xml.replace("'", '"').splitlines():
            lv.l1.sh(f"echo '{line}' >> {path}")
        lv.virsh('define', path)
        self.console.mark()
        lv.virsh('start', name)
        self.wait_ready(BOOT_TIMEOUT * 2)

    def virsh(self, *args, check=True):
        return self.lv.virsh(*args, check=check)

    def vcpu_fds(self):
        """The KVM vCPU ids of QEMU's vCPU fds"""
        pid = self.lv.l1.read(f'/run/libvirt/qemu/{self.name}.pid')
        out = self.lv.l1.sh(f'ls -l /proc/{pid}/fd')
        return sorted(int(n) for n in
                      re.findall(r'anon_inode:kvm-vcpu:(\d+)', out))

    def check(self, cpus):
        """libvirt, the guest and QEMU's vCPU fds agree on @cpus"""
        super().check(cpus)
        assert self.vcpu_fds() == list(range(self.vcpus))

    def destroy(self):
        self.virsh('destroy', self.name)
        self.virsh('undefine', self.name, '--nvram')
        log = self.lv.l1.sh(f'cat /var/log/libvirt/qemu/{self.name}.log')
        # QEMU was stopped by libvirt with SIGTERM, and said nothing else
        # but warnings of the rig (L1 has fewer CPUs than the domain)
        assert 'terminating on signal 15' in log, log
        bad = [line for line in log.splitlines()
               if re.search(r'qemu-system-aarch64: (?!terminating|.*warning)',
                            line)]
        assert not bad, log


def test_setvcpus(libvirt_l1):
    """test_libvirt.py's setvcpus flow, under KVM with host-arm-cpu"""
    dom = Domain(libvirt_l1, 'hp')
    # libvirt plugs what QEMU offers: host-arm-cpu, under KVM
    slots = json.loads(dom.virsh(
        'qemu-monitor-command', 'hp',
        '\'{"execute":"query-hotpluggable-cpus"}\''))['return']
    assert {s['type'] for s in slots} == {'host-arm-cpu'}, slots
    # the daemon logs that the domain was tainted by the monitor command
    libvirt_l1.expected.append('custom-monitor')
    assert '-accel kvm' in dom.virsh('domxml-to-native', 'qemu-argv',
                                     '--domain', 'hp')
    setvcpus_flow(dom)
    dom.destroy()


def test_managedsave(libvirt_l1):
    """managedsave with hot-added vCPUs, then start, under KVM: the
    restored domain has them, with one vCPU fd per possible vCPU."""
    dom = Domain(libvirt_l1, 'ms')
    managedsave_flow(dom)
    dom.destroy()


def test_kubevirt_sockets(libvirt_l1):
    """KubeVirt's shape (see test_libvirt.py), under KVM"""
    dom = Domain(libvirt_l1, 'kubevirt', **KUBEVIRT)
    kubevirt_flow(dom)
    dom.destroy()
