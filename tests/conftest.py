import os

import pytest

from guest import Guest, QEMU, GUEST


def pytest_sessionstart(session):
    for f in (QEMU, os.path.join(GUEST, 'vmlinuz')):
        if not os.path.exists(f):
            raise pytest.UsageError(f'{f} is missing: run "make" first')


@pytest.fixture
def boot(request):
    """boot(**kwargs) launches a Guest (see guest.Guest) and shuts it down
    at the end of the test."""
    started = []

    def _boot(**kwargs):
        name = request.node.name.replace('/', '_')
        if started:
            name += f'-{len(started)}'
        g = Guest(name, **kwargs)
        started.append(g)
        return g.launch()

    yield _boot
    for g in started:
        g.shutdown()
