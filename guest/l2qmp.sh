#!/bin/sh
# l2qmp: QMP of an L2 QEMU run inside the L1 host of the nested-KVM tests,
# through a pipe chardev (-chardev pipe,id=qmp,path=/tmp/l2qmp-NAME).
#   l2qmp NAME init             make the pipes, before QEMU starts, and
#                               keep a log of all QEMU says on them
#   l2qmp NAME cmd JSON [SECS]  send a command, print its response
#   l2qmp NAME events           print the events so far
d=/tmp/l2qmp-$1
case $2 in
init)
    rm -f "$d.in" "$d.out" "$d.log"
    mkfifo "$d.in" "$d.out"
    : > "$d.log"
    echo 0 > "$d.n"
    # QEMU opens both pipes read-write: neither open blocks, and QEMU
    # never sees end-of-file when a writer goes away
    cat "$d.out" >> "$d.log" &
    ;;
cmd)
    n=$(($(cat "$d.n") + 1))
    echo "$n" > "$d.n"
    echo "$3" | sed "s/^{/{\"id\": \"l2qmp-$n\", /" > "$d.in"
    t=$(( ${4:-60} * 10 ))
    while [ "$t" -gt 0 ]; do
        if grep -m1 "\"id\": \"l2qmp-$n\"" "$d.log"; then
            exit 0
        fi
        sleep 0.1
        t=$((t - 1))
    done
    echo "l2qmp: no response to command $n" >&2
    exit 1
    ;;
events)
    grep '"event"' "$d.log"
    true
    ;;
*)
    echo "usage: l2qmp NAME init|cmd JSON [SECS]|events" >&2
    exit 2
    ;;
esac
