"""Boot the test guest under QEMU and talk to it.

QEMU is driven through the tree's own python/ package (qemu.machine,
qemu.qmp).  The guest's serial console is read by a thread into a buffer;
every wait has a timeout and fails with the tail of the console.
"""

import asyncio
import os
import re
import shlex
import subprocess
import sys
import threading
import time

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.path.join(TOP, 'build')
GUEST = os.path.join(BUILD, 'guest')
# The x86_64 guest on q35 (make other-targets builds both): Guest(**X86)
GUEST_X86 = os.path.join(BUILD, 'guest-amd64')
X86 = {'binary': os.path.join(BUILD, 'qemu', 'build', 'qemu-system-x86_64'),
       'machine': 'q35', 'cpu': 'qemu64', 'firmware': False,
       'kernel': os.path.join(GUEST_X86, 'vmlinuz'),
       'initrd': os.path.join(GUEST_X86, 'initrd.cpio.gz'),
       'console': 'ttyS0'}
QEMU = os.environ.get('QEMU', os.path.join(BUILD, 'qemu', 'build',
                                           'qemu-system-aarch64'))
sys.path.insert(0, os.path.join(BUILD, 'qemu', 'python'))

# pylint: disable=wrong-import-position
from qemu.machine import QEMUMachine  # noqa: E402
from qemu.machine.machine import AbnormalShutdown  # noqa: E402

BOOT_TIMEOUT = float(os.environ.get('GUEST_BOOT_TIMEOUT', 180))
CMD_TIMEOUT = float(os.environ.get('GUEST_CMD_TIMEOUT', 60))
# A QMP command that gets no answer in this time fails the test: QEMU
# answers every command the tests send in well under a second, unless it
# hangs.
QMP_TIMEOUT = float(os.environ.get('QMP_TIMEOUT', 60))
LOG_DIR = os.path.join(BUILD, 'test-logs')


class GuestError(AssertionError):
    pass


class Console:
    """The guest's serial console: a reader thread and a cursor."""

    def __init__(self, sock, log_path):
        self._sock = sock
        self._buf = ''
        self._pos = 0
        self._cond = threading.Condition()
        self._log = open(log_path, 'w', encoding='utf-8')
        self._thread = threading.Thread(target=self._reader, daemon=True)
        self._thread.start()

    def _reader(self):
        while True:
            try:
                data = self._sock.recv(4096)
            except OSError:
                data = b''
            with self._cond:
                if not data:
                    self._sock = None
                    self._cond.notify_all()
                    return
                text = data.decode('utf-8', 'replace').replace('\r', '')
                self._buf += text
                self._log.write(text)
                self._log.flush()
                self._cond.notify_all()

    def tail(self, n=40):
        with self._cond:
            return '\n'.join(self._buf.splitlines()[-n:])

    def write(self, text):
        self._sock.sendall(text.encode())

    def expect(self, pattern, timeout=CMD_TIMEOUT):
        """Wait for regex @pattern after the cursor; move the cursor past
        it and return the match."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                m = rx.search(self._buf, self._pos)
                if m:
                    self._pos = m.end()
                    return m
                left = deadline - time.monotonic()
                if left <= 0 or self._sock is None:
                    why = 'timed out' if left <= 0 else 'console closed'
                    raise GuestError(
                        f'{why} after {timeout:.0f}s waiting for {pattern!r};'
                        f' console tail:\n{self.tail()}')
                self._cond.wait(min(left, 1.0))

    def mark(self):
        """Move the cursor to the end of what has arrived; return it."""
        with self._cond:
            self._pos = len(self._buf)
            return self._pos

    def since(self, start):
        with self._cond:
            return self._buf[start:]

    @property
    def pos(self):
        with self._cond:
            return len(self._buf)


# A line that the guest's kernel printed on the console, which it may do
# in the middle of a command's output (an RCU stall report while 64 vCPUs
# share 2 host cores, for instance)
KERNEL_LINE = re.compile(r'^\[ *\d+\.\d+\] ')


class Shell:
    """The shell of a guest's /init, on self.console (a Console)."""

    console = None

    def wait_ready(self, timeout=BOOT_TIMEOUT):
        m = self.console.expect(r'GUEST-INIT-READY cpus=(\d+)', timeout)
        self.sh('true')
        return int(m.group(1))

    def sh(self, cmd, timeout=CMD_TIMEOUT, check=True):
        """Run @cmd in the guest shell and return its output (stripped)."""
        # the guest's shell runs one line at a time; $rc is the status of
        # the previous one
        # the answer may arrive before write() returns: mark where it
        # starts first
        start = self.console.mark()
        self.console.write(f'{cmd}\necho "@@RC=$rc""@@"\n')
        m = self.console.expect(r'@@RC=(\d+)@@\n', timeout)
        out = self.console.since(start)
        out = out[:out.rfind('@@RC=')]
        rc = int(m.group(1))
        if check and rc != 0:
            raise GuestError(f'guest command {cmd!r} failed ({rc}):\n{out}')
        return out.strip()

    def wait_sh(self, cmd, expect, timeout=CMD_TIMEOUT, interval=0.2):
        """Poll @cmd in the guest until its output equals @expect."""
        deadline = time.monotonic() + timeout
        while True:
            out = self.sh(cmd, check=False)
            if out == expect:
                return out
            if time.monotonic() > deadline:
                raise GuestError(f'guest {cmd!r} gave {out!r}, not {expect!r}'
                                 f' after {timeout:.0f}s; console tail:\n'
                                 f'{self.console.tail()}')
            time.sleep(interval)

    def value(self, cmd, timeout=CMD_TIMEOUT):
        """The output of @cmd, a value (a file's content, a count), without
        the kernel's console lines among it; never for the kernel's log."""
        return '\n'.join(line for line in
                         self.sh(cmd, timeout).splitlines()
                         if not KERNEL_LINE.match(line))

    def read(self, path):
        return self.value('cat ' + shlex.quote(path))

    def cpu_view(self):
        """What the guest reports about its CPUs."""
        base = '/sys/devices/system/cpu/'
        return {k: self.read(base + k) for k in
                ('possible', 'present', 'online', 'enabled')} | {
                    'nproc': int(self.sh('nproc'))}



def thread_stacks(pid):
    """Where every thread of process @pid is, from gdb (for a QEMU that
    hangs)."""
    try:
        return subprocess.run(
            ['gdb', '-p', str(pid), '-batch', '-nx',
             '-ex', 'thread apply all bt 16'],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            timeout=120, check=False).stdout
    except (OSError, subprocess.TimeoutExpired) as e:
        return f'(gdb failed: {e})'


def hung_threads(stacks):
    """The vCPU and main threads of a gdb 'thread apply all bt', which
    say where QEMU hangs."""
    keep = [t for t in re.split(r'\n(?=Thread \d+ )', stacks)
            if re.search(r'"(CPU \d+/\w+|ALL CPUs/TCG|qemu-system-\w+)"', t)
            or 'main (' in t]
    return '\n'.join(keep)[-8000:] or stacks[-8000:]


class Machine(QEMUMachine):
    """A QEMUMachine whose QMP commands time out, and which, before it
    kills a QEMU that does not quit, records where its threads are
    (self.stacks)."""

    stacks = None

    def _post_launch(self):
        super()._post_launch()
        # the only knob for the command timeout of qemu.qmp's legacy API
        self._qmp.settimeout(QMP_TIMEOUT)

    def events_wait(self, events, timeout=60.0):
        """QEMUMachine.events_wait(), with @timeout a deadline for the
        whole wait: upstream's waits that long for each event, however
        many others arrive, and forever when @timeout is an int."""
        def match(event):
            return any(event['event'] == name and
                       self.event_match(event, want)
                       for name, want in events)

        for event in self._events:
            if match(event):
                self._events.remove(event)
                return event
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            try:
                event = self._qmp.pull_event(wait=float(left))
            except asyncio.TimeoutError:
                return None
            if match(event):
                return event
            self._events.append(event)

    def _hard_shutdown(self):
        if self.is_running() and self.stacks is None:
            self.stacks = thread_stacks(self.get_pid())
        super()._hard_shutdown()


class Guest(Shell):
    """A QEMU running the test guest.

    smp: the -smp value; cpu: the -cpu model; machine: the -M value.
    extra: more QEMU arguments; append: more kernel arguments.
    """

    def __init__(self, name, smp='cpus=2,maxcpus=4', cpu='max',
                 machine='virt,gic-version=3', extra=(), append='',
                 memory='1024', binary=QEMU, firmware=True, wait=True,
                 initrd=os.path.join(GUEST, 'initrd.cpio.gz'),
                 kernel=os.path.join(GUEST, 'vmlinuz'), console='ttyAMA0',
                 accel='tcg'):
        os.makedirs(LOG_DIR, exist_ok=True)
        self.name = name
        # debug-threads names the vCPU threads ("CPU 1/TCG")
        args = ['-name', re.sub(r'[^\w.-]', '_', name) + ',debug-threads=on',
                '-accel', accel, '-M', machine, '-cpu', cpu,
                '-smp', smp, '-m', memory, '-nodefaults',
                '-kernel', kernel, '-initrd', initrd,
                '-append', ' '.join([f'console={console}', 'panic=-1',
                                     'quiet', append])]
        if firmware:
            args += ['-bios', os.path.join(GUEST, 'QEMU_EFI.fd')]
        args += list(extra)
        self.vm = Machine(binary, args=args, name=name, log_dir=LOG_DIR)
        self.vm.set_console()
        self.console = None
        self.wait = wait
        # vCPUs run in one thread ("ALL CPUs/TCG"), not one each
        self.single_threaded = 'thread=single' in accel

    def launch(self):
        self.vm.launch()
        self.console = Console(self.vm.console_socket,
                               os.path.join(LOG_DIR, self.name + '.console'))
        if self.wait:
            self.wait_ready()
        return self

    def qmp(self, cmd, **args):
        return self.vm.cmd(cmd, **args)

    def vcpu_threads(self):
        """Names of QEMU's vCPU threads, from /proc (not from QMP)."""
        pid = self.vm.get_pid()
        names = []
        for tid in os.listdir(f'/proc/{pid}/task'):
            try:
                with open(f'/proc/{pid}/task/{tid}/comm',
                          encoding='utf-8') as f:
                    name = f.read().strip()
            except FileNotFoundError:   # the thread has just exited
                continue
            if re.fullmatch(r'CPU \d+/\w+|ALL CPUs/TCG', name):
                names.append(name)
        return sorted(names)

    def shutdown(self):
        """Quit QEMU, which must exit with status 0 (not die from a
        signal, for instance); QEMU's output is then in self.log."""
        abnormal = None
        try:
            self.vm.shutdown()
        except AbnormalShutdown as e:
            # killed, after a 'quit' that failed or did not end QEMU
            abnormal = e
        finally:
            if self.console and self.console._log:
                self.console._log.close()
        self.log = self.vm.get_log() or ''
        rc = self.vm.exitcode()
        if self.vm.stacks:
            path = os.path.join(LOG_DIR, self.name + '.stacks')
            with open(path, 'w', encoding='utf-8') as f:
                f.write(self.vm.stacks)
            raise GuestError(f'QEMU did not quit and was killed; its threads'
                             f' (also in {path}):\n'
                             f'{hung_threads(self.vm.stacks)}')
        if rc not in (0, None) or abnormal:
            raise GuestError(f'QEMU exited with status {rc} ({abnormal});'
                             f' its output:\n{self.log[-3000:]}')
