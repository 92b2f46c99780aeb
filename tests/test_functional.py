"""The series' functional test (tests/functional/aarch64/
test_virt_cpu_hotplug.py), run by scripts/functional-test.sh (make
functional-test) as QEMU's functional suite would run it, with the
project's Debian guest: it must run, not be skipped, and pass."""

import os
import re
import subprocess

import pytest

from guest import TOP

SCRIPT = os.path.join(TOP, 'scripts', 'functional-test.sh')


@pytest.mark.time_limit(900)
def test_virt_cpu_hotplug():
    r = subprocess.run([SCRIPT], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True, timeout=850,
                       check=False)
    assert r.returncode == 0, r.stdout
    # TAP from pycotap: one test, passed, not skipped
    assert re.search(r'^1\.\.1$', r.stdout, re.M), r.stdout
    assert re.search(r'^ok 1 .*test_add_del', r.stdout, re.M), r.stdout
    assert 'SKIP' not in r.stdout, r.stdout
