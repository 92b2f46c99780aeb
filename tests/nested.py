"""Real KVM, nested: an arm64 L1 host under TCG with virtualization=on,
running our KVM-only aarch64 QEMU (build/l1, cross-built from the same
tree), whose guest (L2) runs under KVM with -cpu host.

The test drives L1's shell on L1's console, L2's shell on L1's second UART
(which L2's QEMU takes as its serial port, and which the host reaches
through a socket), and L2's QMP through L1's shell (guest/l2qmp.sh, over
a pipe chardev)."""

import json
import os
import re
import socket
import time

from guest import BUILD, BOOT_TIMEOUT, Console, GuestError, LOG_DIR, Shell

L1_INITRD = os.path.join(BUILD, 'l1', 'initrd.cpio.gz')
L2_QEMU = '/opt/qemu/qemu-system-aarch64'


def l1_args(sock):
    """QEMU arguments for L1's second UART, which carries L2's console"""
    return ['-chardev', f'socket,id=l2con,path={sock},server=on,wait=off',
            '-serial', 'chardev:l2con']


class L2QMPError(GuestError):
    pass


class L2(Shell):
    """A QEMU in L1 (Guest @l1) and its guest, which runs under KVM.

    smp, cpu, machine: as for Guest; extra: more QEMU arguments, a
    string for L1's shell; append: more kernel arguments; env: variable
    assignments for QEMU's environment, a string for L1's shell; accel:
    the -accel value."""

    def __init__(self, l1, console, name, smp='1,maxcpus=4', cpu='host',
                 machine='virt,gic-version=3', extra='', append='',
                 memory=512, env='', accel='kvm'):
        self.l1 = l1
        self.console = console
        self.name = name
        self.pidfile = f'/tmp/{name}.pid'
        self.logfile = f'/tmp/{name}.log'
        kernel_args = ' '.join(['console=ttyAMA0', 'quiet', 'panic=-1',
                                append])
        self.command = (
            f'{env} {L2_QEMU} -accel {accel} -cpu {cpu} -M {machine} -smp {smp}'
            f' -m {memory} -nodefaults -display none'
            f' -bios /opt/l2/QEMU_EFI.fd -kernel /opt/l2/Image.gz'
            f' -initrd /opt/l2/initrd.cpio.gz -append "{kernel_args}"'
            f' -chardev serial,id=con,path=/dev/ttyAMA1 -serial chardev:con'
            f' -chardev pipe,id=qmp,path=/tmp/l2qmp-{name}'
            f' -mon chardev=qmp,mode=control {extra}')
        self.running = False
        self.log = None
        m = re.search(r'maxcpus=(\d+)', smp) or re.match(r'(?:cpus=)?(\d+)',
                                                          smp)
        self.maxcpus = int(m.group(1))

    def launch(self, wait=True):
        self.l1.sh(f'l2qmp {self.name} init')
        self.l1.sh(f'{self.command} </dev/null >{self.logfile} 2>&1 &'
                   f' echo $! > {self.pidfile}')
        self.running = True
        self.qmp('qmp_capabilities')
        if wait:
            self.wait_ready()
        return self

    def wait_ready(self, timeout=BOOT_TIMEOUT * 2):
        return super().wait_ready(timeout)

    def qmp(self, cmd, timeout=60, **args):
        """Run QMP command @cmd in L2's QEMU; return what it returns, or
        raise L2QMPError with its error."""
        req = {'execute': cmd}
        if args:
            req['arguments'] = args
        line = json.dumps(req)
        assert "'" not in line
        out = self.l1.sh(f"l2qmp {self.name} cmd '{line}' {int(timeout)}",
                         timeout=timeout + 30)
        resp = json.loads(out.splitlines()[-1])
        if 'error' in resp:
            raise L2QMPError(f'{cmd}: {resp["error"]["desc"]}')
        return resp['return']

    def events(self, name=None):
        out = self.l1.sh(f'l2qmp {self.name} events')
        evs = [json.loads(line) for line in out.splitlines() if line]
        return [e for e in evs if name is None or e['event'] == name]

    def event_wait(self, name, match=None, timeout=60):
        """Wait for event @name whose data has the items of @match"""
        deadline = time.monotonic() + timeout
        while True:
            for ev in self.events(name):
                data = ev.get('data', {})
                if all(data.get(k) == v for k, v in (match or {}).items()):
                    return ev
            if time.monotonic() > deadline:
                raise GuestError(f'no {name} {match or ""} from L2 in '
                                 f'{timeout}s; L2 console:\n'
                                 f'{self.console.tail()}')
            time.sleep(0.5)

    def pid(self):
        return int(self.l1.read(self.pidfile))

    def vcpu_fds(self):
        """The KVM vCPU fds of L2's QEMU, as their vCPU ids, in fd order,
        and how many vCPU statistics fds it has"""
        out = self.l1.sh(f'ls -l /proc/{self.pid()}/fd')
        return ([int(n) for n in re.findall(r'anon_inode:kvm-vcpu:(\d+)',
                                            out)],
                len(re.findall(r'anon_inode:kvm-vcpu-stats', out)))

    def qemu_log(self):
        return self.l1.sh(f'cat {self.logfile}')

    def check_vcpu_fds(self):
        """Exactly one KVM vCPU fd per possible vCPU (self.maxcpus: set
        it to the boot vCPUs' number where the machine offers no CPU
        hotplug), however many plugs and unplugs, and one statistics fd
        per CPU that exists (a destroyed vCPU closes its own)"""
        vcpus, stats = self.vcpu_fds()
        assert sorted(vcpus) == list(range(self.maxcpus)), \
            f'{self.name}: vCPU fds {vcpus}, not {self.maxcpus}'
        cpus = len(self.qmp('query-cpus-fast'))
        assert stats == cpus, f'{self.name}: {stats} stats fds, {cpus} CPUs'

    def quit(self):
        """Check the vCPU fds, then quit L2's QEMU, which must exit with
        status 0; return its output."""
        if not self.running:
            return self.log if self.log is not None else self.qemu_log()
        self.check_vcpu_fds()
        self.running = False
        try:
            self.qmp('quit')
        except GuestError:
            pass
        rc = self.l1.sh(f'wait $(cat {self.pidfile}); echo $?', timeout=120)
        self.log = log = self.qemu_log()
        if rc != '0':
            raise GuestError(f'L2 QEMU exited with status {rc}:\n{log}')
        return log


class L1Console:
    """The host's end of L1's second UART"""

    def __init__(self, path, name):
        deadline = time.monotonic() + 30
        while True:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                sock.connect(path)
                break
            except OSError:
                sock.close()
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        self.console = Console(sock, os.path.join(LOG_DIR, name + '.l2console'))
