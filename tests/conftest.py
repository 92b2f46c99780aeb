import os
import signal

import pytest

from guest import Guest, QEMU, GUEST

# The guest kernels the tests marked both_kernels run on: the main one
# (Debian's 6.12) and Debian's newest (build/guest/versions says which)
KERNELS = {'6.12': os.path.join(GUEST, 'vmlinuz'),
           'newest': os.path.join(GUEST, 'vmlinuz-new')}


# How long a test may run, unless it has a time_limit marker: every wait
# in the harness is bounded, and this bounds the sum.
TEST_TIME_LIMIT = int(os.environ.get('TEST_TIME_LIMIT', 900))


def pytest_configure(config):
    config.addinivalue_line(
        'markers', 'both_kernels: run on the 6.12 and on the newest kernel')
    config.addinivalue_line(
        'markers', 'time_limit(seconds): how long the test may run')


class TestTimeLimit(Exception):
    pass


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item):
    """Fail a test that runs longer than its time limit; the teardown of
    its QEMUs then records where their threads are and kills them."""
    marker = item.get_closest_marker('time_limit')
    limit = marker.args[0] if marker else TEST_TIME_LIMIT

    def expired(signum, frame):
        raise TestTimeLimit(f'the test ran for longer than {limit}s')

    old = signal.signal(signal.SIGALRM, expired)
    signal.alarm(limit)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def guest_versions():
    """build/guest/versions (KEY=VALUE lines) as a dict"""
    try:
        with open(os.path.join(GUEST, 'versions'), encoding='utf-8') as f:
            return dict(line.strip().split('=', 1) for line in f
                        if '=' in line)
    except OSError:
        return {}


def pytest_sessionstart(session):
    for f in (QEMU, *KERNELS.values()):
        if not os.path.exists(f):
            raise pytest.UsageError(f'{f} is missing: run "make" first')
    # the tests on both kernels are only worth their time if the kernels
    # differ: Debian's newest must not be the 6.12 LTS one
    v = guest_versions()
    old, new = v.get('KERNEL_VERSION'), v.get('NEW_KERNEL_VERSION')
    if not old or not new or new.split('.')[:2] == old.split('.')[:2]:
        raise pytest.UsageError(f'the guest kernels are not two distinct'
                                f' series: {old} and {new}')


def pytest_report_header(config):
    v = guest_versions()
    if not v:
        return ['guest packages: unknown (no build/guest/versions)']
    return ['guest packages: ' + ' '.join(f'{k}={x}' for k, x in v.items())]


def pytest_generate_tests(metafunc):
    if metafunc.definition.get_closest_marker('both_kernels') and \
            'boot' in metafunc.fixturenames:
        metafunc.parametrize('guest_kernel', list(KERNELS), indirect=True)


@pytest.fixture
def guest_kernel(request):
    return getattr(request, 'param', '6.12')


@pytest.fixture
def boot(request, guest_kernel):
    """boot(**kwargs) launches a Guest (see guest.Guest) and shuts it down
    at the end of the test, where QEMU must exit with status 0."""
    started = []

    def _boot(**kwargs):
        name = request.node.name.replace('/', '_')
        if started:
            name += f'-{len(started)}'
        kwargs.setdefault('kernel', KERNELS[guest_kernel])
        g = Guest(name, **kwargs)
        started.append(g)
        return g.launch()

    yield _boot
    errors = []
    for g in started:
        try:
            g.shutdown()
        except AssertionError as e:
            errors.append(str(e))
    assert not errors, '\n'.join(errors)
