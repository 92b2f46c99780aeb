"""linux-user unrealizes the CPU of every guest thread that exits, and so
runs the unrealize handler the series gives Arm CPUs: a threaded program
must still run under qemu-aarch64."""

import os
import subprocess

from guest import BUILD

QEMU_USER = os.path.join(BUILD, 'qemu', 'build', 'qemu-aarch64')
PROGRAM = os.path.join(os.path.dirname(__file__), 'payloads', 'threads.c')


def test_threads_exit(tmp_path):
    exe = tmp_path / 'threads'
    subprocess.run(['aarch64-linux-gnu-gcc', '-O2', '-static', '-pthread',
                    '-o', exe, PROGRAM], check=True)
    out = subprocess.run([QEMU_USER, exe], stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, text=True, timeout=300,
                         check=False)
    assert out.returncode == 0, out.stdout
    assert out.stdout.strip() == 'threads done 320'
