import os

import pytest

from guest import Guest, QEMU, GUEST

# The guest kernels the tests marked both_kernels run on: the main one
# (Debian's 6.12) and Debian's newest (build/guest/versions says which)
KERNELS = {'6.12': os.path.join(GUEST, 'vmlinuz'),
           'newest': os.path.join(GUEST, 'vmlinuz-new')}


def pytest_configure(config):
    config.addinivalue_line(
        'markers', 'both_kernels: run on the 6.12 and on the newest kernel')


def pytest_sessionstart(session):
    for f in (QEMU, *KERNELS.values()):
        if not os.path.exists(f):
            raise pytest.UsageError(f'{f} is missing: run "make" first')


def pytest_report_header(config):
    try:
        with open(os.path.join(GUEST, 'versions'), encoding='utf-8') as f:
            return ['guest packages: ' + ' '.join(f.read().split())]
    except OSError:
        return ['guest packages: unknown (no build/guest/versions)']


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
