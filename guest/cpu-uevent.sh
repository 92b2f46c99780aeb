#!/bin/sh
# Online hot-added CPUs, as a udev rule would:
#   SUBSYSTEM=="cpu", ACTION=="add", ATTR{online}=="0", ATTR{online}="1"
# Run by busybox's `uevent` for each kernel uevent (the variables come
# from the event), or as `cpu-uevent scan` for CPUs that already exist.
online() {
    f=/sys/devices/system/cpu/$1/online
    [ -w "$f" ] && [ "$(cat "$f")" = 0 ] && echo 1 > "$f" &&
        echo "cpu-uevent: $1 online" > /dev/kmsg
}
if [ "${1:-}" = scan ]; then
    for d in /sys/devices/system/cpu/cpu[0-9]*; do
        online "${d##*/}"
    done
    exit 0
fi
[ "$SUBSYSTEM" = cpu ] && [ "$ACTION" = add ] && online "${DEVPATH##*/}"
exit 0
