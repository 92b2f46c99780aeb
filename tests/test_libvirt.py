"""libvirt drives the series: Debian's libvirt 11.3 (bookworm-backports),
a private session daemon run as an unprivileged user, a TCG domain on the
patched qemu-system-aarch64 with UEFI (pflash) and ACPI, vCPU 0 cold and
the others hotpluggable.  After each step, what libvirt reports (vcpucount,
vcpuinfo, the live XML) and what the guest sees (its online CPUs, work on
each new one) must agree; libvirt's errors leave QEMU as it was."""

import json
import os
import pwd
import re
import shutil
import socket
import subprocess
import tempfile
import time
import xml.etree.ElementTree as ET

import pytest

from cpus import assert_guest_log_clean, runs_work, wait_guest_cpus
from guest import GUEST, LOG_DIR, QEMU, Console, Shell

USER = 'nobody'
URI = 'qemu:///session'


class Libvirt:
    """A libvirtd session daemon of USER, with every directory in @top."""

    def __init__(self, top):
        self.top = top
        ent = pwd.getpwnam(USER)
        self.ids = (ent.pw_uid, ent.pw_gid)
        self.env = {'PATH': '/usr/sbin:/usr/bin:/sbin:/bin', 'HOME': top,
                    'LC_ALL': 'C'}
        for var, sub in (('XDG_CONFIG_HOME', 'config'),
                         ('XDG_RUNTIME_DIR', 'run'),
                         ('XDG_CACHE_HOME', 'cache'),
                         ('XDG_DATA_HOME', 'data')):
            self.env[var] = os.path.join(top, sub)
            os.makedirs(self.env[var], mode=0o700)
        conf = os.path.join(self.env['XDG_CONFIG_HOME'], 'libvirt')
        os.makedirs(conf)
        with open(os.path.join(conf, 'qemu.conf'), 'w',
                  encoding='utf-8') as f:
            # QEMU's output to a file, with no virtlogd
            f.write('stdio_handler = "file"\n')
        self.log = os.path.join(top, 'libvirtd.log')
        self.expected = []
        subprocess.run(['chown', '-R', f'{self.ids[0]}:{self.ids[1]}', top],
                       check=True)
        self.daemon = subprocess.Popen(
            ['libvirtd', '--timeout=900'], env=self.env,
            user=self.ids[0], group=self.ids[1], extra_groups=[],
            stdout=open(self.log, 'w', encoding='utf-8'),
            stderr=subprocess.STDOUT)

    def virsh(self, *args, check=True):
        """Run virsh as USER; return its output, or raise with its error
        (check=False: return (status, output))."""
        p = subprocess.run(['virsh', '-c', URI, *args], env=self.env,
                           user=self.ids[0], group=self.ids[1],
                           extra_groups=[], capture_output=True, text=True,
                           timeout=120)
        out = (p.stdout + p.stderr).strip()
        if not check:
            # the errors a test asks for are not errors of the daemon
            self.expected += [line[len('error: '):] for line in
                              out.splitlines() if line.startswith('error: ')]
            return p.returncode, out
        assert p.returncode == 0, f'virsh {" ".join(args)}: {out}'
        return p.stdout.strip()

    def stop(self):
        self.daemon.terminate()
        try:
            self.daemon.wait(30)
        except subprocess.TimeoutExpired:
            self.daemon.kill()
            self.daemon.wait()
        with open(self.log, encoding='utf-8', errors='replace') as f:
            return f.read()


@pytest.fixture(scope='module')
def libvirt():
    if not shutil.which('libvirtd'):
        pytest.fail('no libvirtd: run "make", which installs libvirt 11.3')
    top = tempfile.mkdtemp(prefix='libvirt-')
    os.chmod(top, 0o755)
    lv = Libvirt(top)
    deadline = time.monotonic() + 60
    while lv.virsh('uri', check=False)[0] != 0:
        assert lv.daemon.poll() is None, 'libvirtd exited'
        assert time.monotonic() < deadline, 'libvirtd does not answer'
        time.sleep(0.5)
    yield lv
    log = lv.stop()
    shutil.copy(lv.log, os.path.join(LOG_DIR, 'libvirtd.log'))
    shutil.rmtree(top, ignore_errors=True)
    # Not errors of the tests: libvirt probes the host CPU through
    # /dev/kvm, which USER may not open, and logs that it cannot check
    # the features of an aarch64 guest CPU when it saves the domain
    known = ('virHostCPUGetCPUID', 'cannot check guest CPU feature for '
             'aarch64')
    bad = [line for line in log.splitlines() if ': error :' in line and
           not any(k in line for k in known) and
           not any(e and e in line for e in lv.expected)]
    assert not bad, '\n'.join(bad)


def reachable(lv, path):
    """@path, or a copy of it in the daemon's directory if USER cannot
    read it (a checkout under /root, for instance)"""
    if subprocess.run(['test', '-r', path], user=lv.ids[0],
                      group=lv.ids[1], extra_groups=[],
                      check=False).returncode == 0:
        return path
    copy = os.path.join(lv.top, 'files', os.path.basename(path))
    if not os.path.exists(copy):
        os.makedirs(os.path.dirname(copy), mode=0o755, exist_ok=True)
        shutil.copy(path, copy)
        os.chmod(copy, 0o755)
    return copy


def vcpu_elements(vcpus, current, cold, topology):
    """A domain's <vcpus> elements and its CPU's <topology>: vCPUs 0 to
    @cold - 1 not hotpluggable, the others hotpluggable and off beyond
    @current"""
    cpus = ''.join(
        f"<vcpu id='{i}' enabled='yes'"
        f" hotpluggable='{'no' if i < cold else 'yes'}' order='{i + 1}'/>"
        if i < current else
        f"<vcpu id='{i}' enabled='no' hotpluggable='yes'/>"
        for i in range(vcpus))
    topo = ''
    if topology:
        topo = '<topology ' + ' '.join(
            f"{k}='{v}'" for k, v in topology.items()) + '/>'
    return cpus, topo


def domain_xml(lv, name, vcpus, current, topology=None, cold=1):
    """A TCG virt domain: UEFI from pflash, ACPI, GICv3, -cpu max, the
    test guest by direct kernel boot, its console on a UNIX socket; the
    vCPUs of vcpu_elements()."""
    cpus, topo = vcpu_elements(vcpus, current, cold, topology)
    top = lv.top
    code, vars_, kernel, initrd, qemu = (reachable(lv, p) for p in (
        f'{GUEST}/AAVMF_CODE.fd', f'{GUEST}/AAVMF_VARS.fd',
        f'{GUEST}/vmlinuz', f'{GUEST}/initrd.cpio.gz', QEMU))
    return f"""
<domain type='qemu'>
  <name>{name}</name>
  <memory unit='MiB'>512</memory>
  <vcpu placement='static' current='{current}'>{vcpus}</vcpu>
  <vcpus>{cpus}</vcpus>
  <os>
    <type arch='aarch64' machine='virt-11.0'>hvm</type>
    <loader readonly='yes' type='pflash'>{code}</loader>
    <nvram template='{vars_}'>{top}/{name}_VARS.fd</nvram>
    <kernel>{kernel}</kernel>
    <initrd>{initrd}</initrd>
    <cmdline>console=ttyAMA0 panic=-1 quiet</cmdline>
  </os>
  <features><acpi/><gic version='3'/></features>
  <cpu mode='custom' match='exact'>
    <model fallback='forbid'>max</model>{topo}
  </cpu>
  <on_reboot>destroy</on_reboot>
  <devices>
    <emulator>{qemu}</emulator>
    <serial type='unix'>
      <source mode='bind' path='{top}/{name}.con'/>
      <target port='0'/>
    </serial>
  </devices>
</domain>"""


class DomainView(Shell):
    """What libvirt and the guest say of a domain's vCPUs.  A subclass has
    name, vcpus, virsh(), the guest's console, and restarted() for what
    it must do after libvirt starts the domain again."""

    def counts(self):
        """vcpucount --live: {'maximum': n, 'current': n}"""
        return {what: int(self.virsh('vcpucount', self.name, '--live',
                                     f'--{what}'))
                for what in ('maximum', 'current')}

    def enabled(self):
        """The vCPU ids the live XML has enabled"""
        root = ET.fromstring(self.virsh('dumpxml', self.name))
        return sorted(int(v.get('id')) for v in root.iter('vcpu')
                      if v.get('enabled') == 'yes')

    def vcpuinfo(self):
        """vcpuinfo: the vCPU numbers libvirt reports, each with a
        running state"""
        out = self.virsh('vcpuinfo', self.name)
        return sorted(int(n) for n in re.findall(r'^VCPU:\s+(\d+)$', out,
                                                 re.M))

    def check(self, cpus):
        """libvirt and the guest agree that @cpus are the vCPUs, and the
        guest runs work on each of them."""
        assert self.counts() == {'maximum': self.vcpus,
                                 'current': len(cpus)}
        assert self.enabled() == cpus
        assert self.vcpuinfo() == cpus
        wait_guest_cpus(self, 'online', cpus)
        for cpu in cpus:
            assert runs_work(self, cpu)

    def restarted(self):
        pass


class Domain(DomainView):
    """A libvirt domain running the test guest, and its shell."""

    def __init__(self, lv, name, vcpus=4, current=1, topology=None,
                 cold=1):
        self.lv = lv
        self.name = name
        self.vcpus = vcpus
        path = os.path.join(lv.top, f'{name}.xml')
        with open(path, 'w', encoding='utf-8') as f:
            f.write(domain_xml(lv, name, vcpus, current, topology, cold))
        lv.virsh('define', path)
        lv.virsh('start', name)
        self.connect()

    def connect(self):
        sock = socket.socket(socket.AF_UNIX)
        deadline = time.monotonic() + 30
        while True:
            try:
                sock.connect(os.path.join(self.lv.top, f'{self.name}.con'))
                break
            except OSError:
                assert time.monotonic() < deadline, 'no console socket'
                time.sleep(0.2)
        self.console = Console(sock, os.path.join(LOG_DIR,
                                                  f'{self.name}.console'))

    def restarted(self):
        # the console socket is the new QEMU's
        self.connect()

    def virsh(self, *args, check=True):
        return self.lv.virsh(*args, check=check)

    def qemu_log(self):
        path = os.path.join(self.lv.env['XDG_CACHE_HOME'], 'libvirt',
                            'qemu', 'log', f'{self.name}.log')
        with open(path, encoding='utf-8', errors='replace') as f:
            return f.read()

    def destroy(self):
        self.virsh('destroy', self.name)
        self.virsh('undefine', self.name, '--nvram')
        log = self.qemu_log()
        # QEMU was stopped by libvirt with SIGTERM, and said nothing else
        assert 'terminating on signal 15' in log, log
        bad = [line for line in log.splitlines()
               if re.search(r'qemu-system-aarch64: (?!terminating)', line)]
        assert not bad, log


def setvcpus_flow(dom):
    """setvcpus up and down, setvcpu by number, and the errors libvirt
    gives for too many and too few, with nothing changed by them."""
    name = dom.name
    dom.check([0])
    dom.virsh('setvcpus', name, '3', '--live')
    dom.check([0, 1, 2])
    dom.virsh('setvcpus', name, '1', '--live')
    dom.check([0])
    dom.virsh('setvcpu', name, '3', '--enable', '--live')
    dom.check([0, 3])
    dom.virsh('setvcpus', name, '4', '--live')
    dom.check([0, 1, 2, 3])
    dom.virsh('setvcpu', name, '2', '--disable', '--live')
    dom.check([0, 1, 3])
    rc, out = dom.virsh('setvcpus', name, '5', '--live', check=False)
    assert rc != 0 and 'greater than max' in out, out
    rc, out = dom.virsh('setvcpu', name, '0', '--disable', '--live',
                        check=False)
    assert rc != 0 and "vcpu '0' can't be unplugged" in out, out
    rc, out = dom.virsh('setvcpus', name, '0', '--live', check=False)
    assert rc != 0, out
    dom.check([0, 1, 3])
    assert_guest_log_clean(dom)


def managedsave_flow(dom):
    """managedsave with hot-added vCPUs, then start: the restored domain
    has them, and the guest keeps running on them and can lose them."""
    name = dom.name
    dom.virsh('setvcpus', name, '3', '--live')
    dom.check([0, 1, 2])
    dom.sh('echo before-save > /tmp/mark')
    dom.virsh('managedsave', name)
    assert 'shut off' in dom.virsh('domstate', name)
    dom.virsh('start', name)
    dom.restarted()
    # the shell may swallow the first byte after a restore
    dom.console.write('\n')
    time.sleep(1)
    assert dom.sh('cat /tmp/mark') == 'before-save'
    dom.check([0, 1, 2])
    dom.virsh('setvcpus', name, '1', '--live')
    dom.check([0])
    assert_guest_log_clean(dom)


def kubevirt_flow(dom):
    """KubeVirt's shape of hotplug on a domain of <topology sockets='4'
    cores='2' threads='1'> with one socket cold: a whole socket (two
    vCPUs) added by one SetVcpusFlags(LIVE) call and removed by one."""
    name = dom.name
    dom.check([0, 1])
    dom.virsh('setvcpus', name, '4', '--live')
    dom.check([0, 1, 2, 3])
    # the new socket is socket 1 to the guest
    assert dom.read('/sys/devices/system/cpu/cpu2/topology/package_cpus_list'
                    ) == '2-3'
    dom.virsh('setvcpus', name, '2', '--live')
    dom.check([0, 1])
    # below the cold vCPUs
    rc, out = dom.virsh('setvcpus', name, '1', '--live', check=False)
    assert rc != 0 and 'failed to find appropriate hotpluggable vcpus' \
        in out, out
    dom.check([0, 1])
    assert_guest_log_clean(dom)


KUBEVIRT = {'vcpus': 8, 'current': 2, 'cold': 2,
            'topology': {'sockets': 4, 'cores': 2, 'threads': 1}}


def test_setvcpus(libvirt):
    """setvcpus up and down, setvcpu by number, and the errors libvirt
    gives for too many and too few, with nothing changed by them."""
    dom = Domain(libvirt, 'hp')
    dom.wait_ready()
    setvcpus_flow(dom)
    dom.destroy()


def test_managedsave(libvirt):
    """managedsave with hot-added vCPUs, then start: the restored domain
    has them, and the guest keeps running on them."""
    dom = Domain(libvirt, 'ms')
    dom.wait_ready()
    managedsave_flow(dom)
    dom.destroy()


def test_topology(libvirt):
    """An explicit topology (2 sockets, 2 clusters, 2 cores, 1 thread):
    libvirt adds and removes vCPUs by its own order, with cluster-id."""
    dom = Domain(libvirt, 'topo', vcpus=8, current=2,
                 topology={'sockets': 2, 'clusters': 2, 'cores': 2,
                           'threads': 1})
    dom.wait_ready()
    dom.check([0, 1])
    dom.virsh('setvcpus', 'topo', '8', '--live')
    dom.check(list(range(8)))
    dom.virsh('setvcpus', 'topo', '2', '--live')
    dom.check([0, 1])
    assert_guest_log_clean(dom)
    dom.destroy()


def test_kubevirt_sockets(libvirt):
    """KubeVirt's shape of hotplug: <topology sockets=maxSockets cores=C
    threads=T>, the sockets in use cold, and SetVcpusFlags(LIVE) with
    the new total: a whole socket (two vCPUs) added in one call, and
    removed in one."""
    dom = Domain(libvirt, 'kubevirt', **KUBEVIRT)
    dom.wait_ready()
    kubevirt_flow(dom)
    dom.destroy()


def test_bad_input(libvirt):
    """What clients get wrong, each answered with an error that says what
    is wrong, and the domain as it was: vCPU 0 hotpluggable, enabling an
    enabled vCPU, a duplicate device id, a vCPU added behind libvirt's
    back (libvirt leaves it alone, and cannot add its slot), the unplug
    of a vCPU libvirt did not add."""
    lv = libvirt
    xml = domain_xml(lv, 'bad0', 4, 2).replace(
        "<vcpu id='0' enabled='yes' hotpluggable='no'",
        "<vcpu id='0' enabled='yes' hotpluggable='yes'")
    path = os.path.join(lv.top, 'bad0.xml')
    with open(path, 'w', encoding='utf-8') as f:
        f.write(xml)
    rc, out = lv.virsh('define', path, check=False)
    assert rc != 0 and "vcpu0 can't be hotpluggable" in out, out
    assert 'bad0' not in lv.virsh('list', '--all', '--name')

    dom = Domain(lv, 'bad', current=2)
    dom.wait_ready()
    dom.check([0, 1])

    def qmp(cmd, **args):
        return json.loads(dom.virsh('qemu-monitor-command', 'bad',
                                    json.dumps({'execute': cmd,
                                                'arguments': args})))

    rc, out = dom.virsh('setvcpu', 'bad', '1', '--enable', '--live',
                        check=False)
    assert rc != 0 and "vcpu '1' is already in requested state" in out, out
    # libvirt's ids are vcpuN; the default topology has one vCPU a socket
    slot = {'socket-id': 2, 'cluster-id': 0, 'core-id': 0, 'thread-id': 0}
    r = qmp('device_add', driver='max-arm-cpu', id='vcpu1', **slot)
    assert r['error']['desc'] == "Duplicate device ID 'vcpu1'", r
    dom.check([0, 1])

    # a vCPU libvirt did not add: the guest has it, libvirt's count and
    # XML do not, and libvirt neither removes it nor plugs its slot
    r = qmp('device_add', driver='max-arm-cpu', id='extra',
            **dict(slot, **{'socket-id': 3}))
    assert r['return'] == {}, r
    wait_guest_cpus(dom, 'online', [0, 1, 3])
    assert dom.enabled() == [0, 1] and dom.vcpuinfo() == [0, 1]
    rc, out = dom.virsh('setvcpu', 'bad', '3', '--disable', '--live',
                        check=False)
    assert rc != 0 and "vcpu '3' is already in requested state" in out, out
    rc, out = dom.virsh('setvcpu', 'bad', '3', '--enable', '--live',
                        check=False)
    assert rc != 0 and 'thread-id=0 is already plugged' in out, out
    assert dom.enabled() == [0, 1]
    wait_guest_cpus(dom, 'online', [0, 1, 3])
    # the unplug of a vCPU libvirt did not add, and of the boot vCPU
    r = qmp('device_del', id='/machine/unattached/device[0]')
    assert 'error' in r and 'boot' in r['error']['desc'], r
    r = qmp('device_del', id='extra')
    assert r['return'] == {}, r
    # libvirt logs its DEVICE_DELETED as an error, and carries on
    lv.expected.append('no device found with alias extra')
    wait_guest_cpus(dom, 'online', [0, 1])
    dom.check([0, 1])
    dom.virsh('setvcpus', 'bad', '4', '--live')
    dom.check([0, 1, 2, 3])
    assert_guest_log_clean(dom)
    dom.destroy()
