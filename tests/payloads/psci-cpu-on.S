/*
 * A bare-metal payload, run as the firmware of an arm virt machine (-bios)
 * at EL1: it asks QEMU's PSCI (over HVC) to start CPUs, and prints each
 * result on the PL011 UART:
 *   PSCI CPU_ON mpidr=0x0000000000000001 ret=0xfffffffd
 * then powers the machine off.  The MPIDRs come from the list below.
 */
    .equ UART_DR, 0x09000000
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

/* putc(x0): one character; clobbers x9 */
putc:
    ldr     x9, =UART_DR
    strb    w0, [x9]
    ret

/* puts(x0): a NUL-terminated string; clobbers x0, x9, x10, x11 */
puts:
    mov     x11, x30
    mov     x10, x0
4:  ldrb    w0, [x10], #1
    cbz     w0, 5f
    bl      putc
    b       4b
5:  mov     x30, x11
    ret

/* puthex(x0): "0x" and 16 hex digits; clobbers x0, x9-x13 */
puthex:
    mov     x13, x30
    mov     x12, x0
    mov     x0, #'0'
    bl      putc
    mov     x0, #'x'
    bl      putc
    mov     x10, #60
6:  lsr     x11, x12, x10
    and     x11, x11, #0xf
    cmp     x11, #10
    b.lt    7f
    add     x0, x11, #('a' - 10)
    b       8f
7:  add     x0, x11, #'0'
8:  bl      putc
    subs    x10, x10, #4
    b.ge    6b
    mov     x30, x13
    ret

    .balign 8
mpidrs:
    .quad   1           /* a possible CPU that is not plugged */
    .quad   0x107       /* no CPU at all */
    .quad   -1

msg_mpidr:  .asciz "PSCI CPU_ON mpidr="
msg_ret:    .asciz " ret="
msg_done:   .asciz "PSCI-TEST-DONE\n"
