"""The series' in-tree qtests (tests/qtest), run against the patched build:
cpu-plug-test, and bios-tables-test for the aarch64 virt machine with
Debian's edk2 build standing in for the firmware blob it expects."""

import os
import re
import shutil
import struct
import subprocess
import tempfile

import pytest

from guest import BUILD, GUEST

# make check-sanitizers points this at its own build
BUILD_DIR = os.environ.get('QTEST_BUILD_DIR',
                           os.path.join(BUILD, 'qemu', 'build'))
# Debian's edk2 (AAVMF) where bios-tables-test expects QEMU's blobs
FIRMWARE = {'edk2-aarch64-code.fd': 'AAVMF_CODE.fd',
            'edk2-arm-vars.fd': 'AAVMF_VARS.fd'}
# Tables that differ for reasons outside the series: the firmware
# allocates some addresses the tables hold, and Debian's edk2 allocates
# them elsewhere than the edk2 upstream's expected tables were made with:
# the GHES error status and read-ack registers in HEST (ras=on, the default
# test), and the NVDIMM DSM buffer (MEMA) in the SSDT of the memhp test.
# Pristine 10.2.2 differs in the same way.  Only those bytes (and the
# checksum) may differ.
ENVIRONMENTAL = {'/aarch64/acpi/virt': {'HEST'},
                 '/aarch64/acpi/virt/memhp': {'SSDT'}}


def firmware_bytes(sig, data):
    """Offsets of the bytes of ACPI table @data (signature @sig) that hold
    what the firmware allocates (or, for the x86 FACP, what depends on
    the accelerator), and of its checksum."""
    offsets = {9}
    if sig == 'FACP':
        # SMI_CMD, ACPI_ENABLE, ACPI_DISABLE
        offsets |= set(range(48, 54))
    elif sig == 'DSDT':
        # the minimum, maximum and length of QWord address space
        # descriptors (the 64-bit PCI window)
        i = data.find(b'\x8a\x2b\x00')
        while i >= 0:
            offsets |= set(range(i + 14, i + 30)) | set(range(i + 38, i + 46))
            i = data.find(b'\x8a\x2b\x00', i + 1)
    elif sig == 'HEST':
        off = 40                # header, error source count
        while off < len(data):
            etype, = struct.unpack_from('<H', data, off)
            assert etype == 10, f'HEST error source of type {etype}'
            # GHESv2: the addresses of Error Status Address and of Read
            # Ack Register, each in a Generic Address Structure
            offsets |= set(range(off + 24, off + 32))
            offsets |= set(range(off + 68, off + 76))
            off += 92
    elif sig == 'SSDT':
        # Name (MEMA, <DWord>)
        i = data.find(b'\x08MEMA\x0c')
        assert i >= 0, 'no MEMA in the SSDT'
        offsets |= set(range(i + 6, i + 10))
    return offsets


def environmental(test, out, build_dir, allowed=ENVIRONMENTAL):
    """The tables of @test whose differences, per the output @out of
    bios-tables-test, are all in bytes the firmware allocates, as
    {signature: (the actual table's file, the expected one's path)};
    fails on any other difference, and on a table that @allowed does not
    list for @test."""
    tables = {}
    for sig, actual, expected in re.findall(
            r'Warning! (\w{4}) binary file mismatch\. '
            r'Actual \[aml:(\S+)\], Expected \[aml:(\S+)\]', out):
        with open(actual, 'rb') as f:
            got = f.read()
        with open(os.path.join(build_dir, expected), 'rb') as f:
            want = f.read()
        assert sig in allowed.get(test, set()), \
            f'{test}: {sig} differs\n{out}'
        assert len(got) == len(want), f'{test}: {sig} changed size'
        diff = {i for i in range(len(got)) if got[i] != want[i]}
        firmware = firmware_bytes(sig, want)
        assert diff <= firmware, \
            f'{test}: {sig} differs at {sorted(diff - firmware)}'
        tables[sig] = (actual, expected)
    return tables


def overlay(build_dir, tables, where):
    """A directory to run bios-tables-test in, as in @build_dir, but
    whose expected tables are the actual ones for @tables (as
    environmental() returns them), so that the test can pass."""
    os.makedirs(os.path.join(where, 'tests', 'data'))
    shutil.copytree(os.path.join(build_dir, 'tests', 'data', 'acpi'),
                    os.path.join(where, 'tests', 'data', 'acpi'))
    os.symlink(os.path.join(build_dir, 'tests', 'data', 'uefi-boot-images'),
               os.path.join(where, 'tests', 'data', 'uefi-boot-images'))
    if os.path.exists(os.path.join(build_dir, 'pc-bios')):
        os.symlink(os.path.join(build_dir, 'pc-bios'),
                   os.path.join(where, 'pc-bios'))
    for actual, expected in tables.values():
        shutil.copyfile(actual, os.path.join(where, expected))
    return where


@pytest.fixture(scope='module')
def qtest_env():
    os.makedirs(os.path.join(BUILD_DIR, 'pc-bios'), exist_ok=True)
    for blob, deb in FIRMWARE.items():
        link = os.path.join(BUILD_DIR, 'pc-bios', blob)
        if not os.path.exists(link):
            os.symlink(os.path.join(GUEST, deb), link)
    return dict(os.environ, QTEST_QEMU_BINARY='./qemu-system-aarch64')


def _qtest(env, build_dir, name, args, timeout, cwd=None):
    """Run qtest binary @name of @build_dir (in @cwd, by default
    @build_dir); return its exit status and output."""
    binary = os.path.join(build_dir, 'tests', 'qtest', name)
    if not os.path.exists(binary):
        pytest.fail(f'{binary} is not built')
    r = subprocess.run([binary, '--tap', '-k'] + args, cwd=cwd or build_dir,
                       env=env, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True,
                       timeout=timeout, check=False)
    return r.returncode, r.stdout


def run_qtest(env, name, suite, timeout=600, build_dir=BUILD_DIR,
              allowed=ENVIRONMENTAL, only=None):
    """Run each test of qtest binary @name under @suite, one process each
    (a failed assertion ends the process).  A test passes if it says so
    and its process exits with status 0.  A bios-tables-test whose tables
    differ from the expected ones only where environmental() lets them
    is run again with those actual tables as the expected ones, and must
    then pass.  @only, if given, names the tests to run.  Return {test:
    (passed, the tables replaced so)} and the whole output."""
    rc, listing = _qtest(env, build_dir, name, ['-l'], timeout)
    assert rc == 0, listing
    tests = [line for line in listing.splitlines()
             if line.startswith(suite + '/') or line == suite]
    if only is not None:
        assert set(only) <= set(tests), f'{only} not all in {tests}'
        tests = [t for t in tests if t in only]
    results = {}
    output = ''
    binary = os.path.join(build_dir, env['QTEST_QEMU_BINARY'])
    for test in tests:
        # -p also runs the tests of a suite with the same path: skip those
        skip = [a for t in tests if t.startswith(test + '/') for a in ('-s', t)]
        args = ['-p', test] + skip
        rc, out = _qtest(env, build_dir, name, args, timeout)
        output += out
        tables = environmental(test, out, build_dir, allowed)
        if tables:
            with tempfile.TemporaryDirectory() as where:
                rc, out = _qtest(dict(env, QTEST_QEMU_BINARY=binary),
                                 build_dir, name, args, timeout,
                                 cwd=overlay(build_dir, tables, where))
            output += out
        passed = rc == 0 and re.search(r'^ok \d+ ' + re.escape(test) + r'$',
                                       out, re.M)
        results[test] = (bool(passed), set(tables))
    return results, output


def test_cpu_plug_test(qtest_env):
    """virt plugs and unplugs; boards without CPU hotplug (raspi3b, and
    virt-10.2) refuse an arm CPU from device_add and keep their CPUs."""
    results, out = run_qtest(qtest_env, 'cpu-plug-test', '/aarch64/cpu-plug')
    assert results == {
        '/aarch64/cpu-plug/virt/device-add-del': (True, set()),
        '/aarch64/cpu-plug/raspi3b/device-add-refused': (True, set()),
        '/aarch64/cpu-plug/virt-10.2/device-add-refused': (True, set())}, out


def test_bios_tables_cpu_hotplug(qtest_env):
    """The tables of a virt machine with CPU hotplug match the expected
    ones of the series exactly."""
    results, out = run_qtest(qtest_env, 'bios-tables-test',
                             '/aarch64/acpi/virt/cpuhp')
    assert results == {'/aarch64/acpi/virt/cpuhp': (True, set())}, out


def test_bios_tables_virt(qtest_env):
    """Every other aarch64 virt table is what upstream expects: the series
    changes no table of a machine without CPU hotplug.  A test may only
    fail for an environmental difference."""
    results, out = run_qtest(qtest_env, 'bios-tables-test',
                             '/aarch64/acpi/virt')
    # upstream's 14, and the series' cpuhp test from part 4 on
    assert len(results) >= 14, out
    for test, (passed, _) in results.items():
        assert passed, f'{test} failed\n{out}'


UNIT_CASES = {'test-qdev-gpio': ['/qdev/gpio/reserve',
                                 '/qdev/gpio/reserved-get',
                                 '/qdev/gpio/reserve-out'],
              'check-qom-proplist': ['/qom/proplist/setlink']}


@pytest.mark.parametrize('name', sorted(UNIT_CASES))
def test_unit(name):
    """The series' unit tests (tests/unit): GPIO lines reserved and
    created later; link properties set with and without a path.  The
    series' own cases must have run and passed."""
    out = subprocess.run([os.path.join(BUILD_DIR, 'tests', 'unit', name)],
                         capture_output=True, text=True, timeout=120,
                         check=False)
    assert out.returncode == 0, out.stdout + out.stderr
    assert re.search(r'^ok \d+ ', out.stdout, re.M), out.stdout
    assert not re.search(r'^not ok', out.stdout, re.M), out.stdout
    for case in UNIT_CASES[name]:
        assert re.search(rf'^ok \d+ {re.escape(case)}$', out.stdout, re.M), \
            f'{case} did not pass:\n{out.stdout}'
