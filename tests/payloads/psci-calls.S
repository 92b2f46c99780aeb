/*
 * A bare-metal payload, run as the firmware of an arm virt machine (-bios,
 * loaded at address 0) at EL1: it makes the PSCI calls of the table below
 * (over HVC), prints each result on the PL011 UART:
 *   PSCI 0x00000000c4000003 0x0000000000000001 ret=0xfffffffffffffffd
 * then powers the machine off.
 *
 * A CPU that CPU_ON starts runs one of the entry points below; the first
 * 2 KiB are an exception vector table whose every entry parks the CPU,
 * so that a CPU started at an address where nothing can run (outside RAM)
 * takes its fault there and stays parked.
 */
    .equ PSCI_AFFINITY_INFO_64, 0xc4000004
    .equ PSCI_CPU_ON_64, 0xc4000003
    .equ PSCI_CPU_OFF, 0x84000002
    .equ PSCI_SYSTEM_OFF, 0x84000008
    .equ DELAY, 1               /* not PSCI: spin x1 times */

    .text
    .global _start
vectors:
_start:
    b       main                /* the reset entry; EL1t vectors never run */
    .balign 0x80
    .rept   15
    wfi
    b       .-4
    .balign 0x80
    .endr

main:
    msr     vbar_el1, xzr
    adr     x19, calls
1:  ldp     x20, x21, [x19], #16    /* function, x1 */
    ldp     x22, x23, [x19], #16    /* x2, x3 */
    cbz     x20, 3f
    cmp     x20, #DELAY
    b.ne    2f
    mov     x0, x21
9:  subs    x0, x0, #1
    b.ne    9b
    b       1b
2:  mov     x0, x20
    mov     x1, x21
    mov     x2, x22
    mov     x3, x23
    hvc     #0
    mov     x24, x0
    adr     x0, msg_psci
    bl      puts
    mov     x0, x20
    bl      puthex
    mov     x0, #' '
    bl      putc
    mov     x0, x21
    bl      puthex
    adr     x0, msg_ret
    bl      puts
    mov     x0, x24
    bl      puthex
    mov     x0, #'\n'
    bl      putc
    b       1b
3:  adr     x0, msg_done
    bl      puts
    ldr     x0, =PSCI_SYSTEM_OFF
    hvc     #0
4:  wfi
    b       4b

/* entry points for CPU_ON: park, or switch itself off */
park:
    msr     vbar_el1, xzr
    wfi
    b       park
off:
    ldr     x0, =PSCI_CPU_OFF
    hvc     #0
    b       park                /* CPU_OFF does not return */

    .include "print.inc"

/*
 * The calls, for -smp 3,maxcpus=5: MPIDRs 0-2 are plugged (CPUs 1 and 2
 * powered off), 3 and 4 are possible but not plugged.  Each entry:
 * function, x1, x2, x3; function 0 ends the table.
 */
    .balign 8
calls:
    /* an absent CPU, and MPIDRs that are no CPU at all */
    .quad   PSCI_CPU_ON_64, 3, park, 0
    .quad   PSCI_AFFINITY_INFO_64, 3, 0, 0
    .quad   PSCI_CPU_ON_64, 0x107, park, 0
    .quad   PSCI_CPU_ON_64, 0xffffffff, park, 0
    .quad   PSCI_CPU_ON_64, 0xff00000004, park, 0
    .quad   PSCI_AFFINITY_INFO_64, 0xffffffff, 0, 0
    /* CPU 1: on, off by itself, on (parked), on again */
    .quad   PSCI_AFFINITY_INFO_64, 1, 0, 0
    .quad   PSCI_CPU_ON_64, 1, off, 0
    .quad   DELAY, 0x4000000, 0, 0
    .quad   PSCI_AFFINITY_INFO_64, 1, 0, 0
    .quad   PSCI_CPU_ON_64, 1, park, 0
    .quad   DELAY, 0x4000000, 0, 0
    .quad   PSCI_CPU_ON_64, 1, park, 0
    .quad   PSCI_AFFINITY_INFO_64, 1, 0, 0
    /* CPU 2: started outside RAM, where it faults and parks */
    .quad   PSCI_CPU_ON_64, 2, 0x7fff0000000, 0
    .quad   DELAY, 0x4000000, 0, 0
    .quad   PSCI_AFFINITY_INFO_64, 2, 0, 0
    .quad   PSCI_CPU_ON_64, 2, park, 0
    .quad   0, 0, 0, 0

msg_psci:   .asciz "PSCI "
msg_ret:    .asciz " ret="
msg_done:   .asciz "PSCI-TEST-DONE\n"
