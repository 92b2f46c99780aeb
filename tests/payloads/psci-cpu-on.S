/*
 * A bare-metal payload, run as the firmware of an arm virt machine (-bios)
 * at EL1: it asks QEMU's PSCI (over HVC) to start CPUs, and prints each
 * result on the PL011 UART:
 *   PSCI CPU_ON mpidr=0x0000000000000001 ret=0xfffffffd
 * then powers the machine off.  The MPIDRs come from the list below.
 */
    .equ PSCI_CPU_ON_64, 0xc4000003
    .equ PSCI_SYSTEM_OFF, 0x84000008

    .text
    .global _start
_start:
    adr     x19, mpidrs
1:  ldr     x20, [x19], #8          /* next MPIDR, ~0 ends the list */
    cmn     x20, #1
    b.eq    2f
    ldr     x0, =PSCI_CPU_ON_64
    mov     x1, x20
    adr     x2, secondary
    mov     x3, #0
    hvc     #0
    mov     x21, x0
    adr     x0, msg_mpidr
    bl      puts
    mov     x0, x20
    bl      puthex
    adr     x0, msg_ret
    bl      puts
    mov     x0, x21
    bl      puthex
    mov     x0, #'\n'
    bl      putc
    b       1b
2:  adr     x0, msg_done
    bl      puts
    ldr     x0, =PSCI_SYSTEM_OFF
    hvc     #0
3:  wfi
    b       3b

/* a CPU that CPU_ON did start: park it */
secondary:
    wfi
    b       secondary

    .include "print.inc"

    .balign 8
mpidrs:
    .quad   1           /* a possible CPU that is not plugged */
    .quad   0x107       /* no CPU at all */
    .quad   -1

msg_mpidr:  .asciz "PSCI CPU_ON mpidr="
msg_ret:    .asciz " ret="
msg_done:   .asciz "PSCI-TEST-DONE\n"
