# vCPU hotplug for QEMU's arm virt machine: a patch series on QEMU v10.2.2.
#   make          set up the host, build the patched QEMU and the guest, demo
#   make check    the whole test suite (TCG guest tests and the nested-KVM rig)
# See README.md for the other targets.

PYTEST = /usr/bin/python3 -m pytest
PYTEST_FLAGS ?= -v
QEMU = build/qemu/build/qemu-system-aarch64
GUEST = build/guest/.stamp

.PHONY: all setup tree export series-check series-bisect part-tests build base guest \
	demo check check-tcg check-kvm kvm-build other-build other-targets \
	functional-test \
	bench bench-patches bench-landed soak \
	check-sanitizers clean

all: build guest
	./scripts/demo.py

setup:
	./scripts/setup-host.sh

tree: setup
	./scripts/make-tree.sh

export:
	./scripts/export.sh

series-check:
	./scripts/series-check.sh

series-bisect: tree
	./scripts/series-bisect.sh

# Each part's own tests on the tree at its last patch
part-tests: tree guest other-build
	./scripts/part-tests.sh

build: tree
	./scripts/build-qemu.sh

# The pristine base (no series), for side-by-side measurements.
base: tree
	./scripts/build-base.sh

guest: setup
	./scripts/build-guest.sh

demo: build guest
	./scripts/demo.py

check: build guest kvm-build other-build
	./scripts/series-check.sh
	$(PYTEST) $(PYTEST_FLAGS) -m 'not other' tests

check-tcg: build guest other-build
	$(PYTEST) $(PYTEST_FLAGS) -m 'not kvm and not other' tests

check-kvm: build guest kvm-build
	$(PYTEST) $(PYTEST_FLAGS) -m kvm tests

kvm-build: tree
	./scripts/build-kvm.sh
	./scripts/build-libvirt-l1.sh

# The series' functional test (tests/functional/aarch64), with our guest
functional-test: build guest
	./scripts/functional-test.sh

# x86_64, loongarch64 and riscv64 from the same tree: the series must not
# change them.  make check runs their quick tests; this runs them all.
other-build: tree
	./scripts/build-other-targets.sh

other-targets: build other-build guest
	$(PYTEST) $(PYTEST_FLAGS) tests/test_other_targets.py

# 10,000 plug/unplug cycles on each guest kernel (SOAK_CYCLES=N for more
# or fewer), with a progress line; not in make check, which runs 200
SOAK_CYCLES ?= 10000
soak: build guest
	SOAK_CYCLES=$(SOAK_CYCLES) SOAK_PROGRESS=1 $(PYTEST) $(PYTEST_FLAGS) -s \
		tests/test_robust.py -k test_soak

# An ASan+UBSan build and the hotplug tests against it, with no report
check-sanitizers: tree guest
	./scripts/check-sanitizers.sh

# Start-up and hotplug figures against the base and x86 q35 (README.md)
bench: build guest base kvm-build
	./scripts/bench.sh

# The figures the series' start-up patches quote in their commit messages:
# the series with and without each of them (bench/patches.py)
bench-patches: build guest
	./scripts/bench.sh patches

# The figures part 2's commit messages quote: each of its patches on the
# tree before and after it (bench/patches.py --landed)
bench-landed: build guest other-build
	./scripts/bench.sh patches --landed

clean:
	rm -rf build
