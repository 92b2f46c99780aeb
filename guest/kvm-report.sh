#!/bin/sh
# guest.run=kvm-report: what the nested-KVM test reads from the L2 guest.
echo "L2-REPORT hypervisor=$(dmesg | grep -c 'KVM: hypervisor services detected') cpus=$(nproc) present=$(cat /sys/devices/system/cpu/present) acpi=$(ls /sys/firmware/acpi/tables 2>/dev/null | grep -c APIC)"
