/*
 * A bare-metal payload, run as the firmware of an arm virt machine (-bios,
 * loaded at address 0): which exception level does PSCI CPU_ON start a
 * CPU at?  The boot CPU prints its level; if that is EL2 (virtualization=on)
 * it drops to EL1 and calls PSCI over SMC, the conduit of such a machine,
 * otherwise over HVC.  It asks to start CPU 1, and each CPU prints:
 *   CPU0 EL2
 *   CPU0 EL1
 *   CPU1 EL2
 * CPU 1 then powers the machine off, over the conduit the boot CPU
 * passed as its context_id.  PSCI starts a CPU at the highest
 * non-secure level the machine has, whatever the level of the caller.
 */
    .equ PSCI_CPU_ON_64, 0xc4000003
    .equ PSCI_SYSTEM_OFF, 0x84000008
    .equ HCR_EL2_RW, (1 << 31)
    .equ SPSR_EL1H_MASKED, 0x3c5

    .text
    .global _start
_start:
    adr     x0, msg_cpu0
    bl      print_el
    mrs     x0, CurrentEL
    cmp     x0, #(2 << 2)
    b.ne    el1
    /* EL2: run EL1 in AArch64, and go there */
    mov     x0, #HCR_EL2_RW
    msr     hcr_el2, x0
    mov     x0, #SPSR_EL1H_MASKED
    msr     spsr_el2, x0
    adr     x0, el1_from_el2
    msr     elr_el2, x0
    isb
    eret

el1_from_el2:
    mov     x19, #1                 /* SMC */
    adr     x0, msg_cpu0
    bl      print_el
    b       cpu_on
el1:
    mov     x19, #0                 /* HVC */
cpu_on:
    ldr     x0, =PSCI_CPU_ON_64
    mov     x1, #1
    adr     x2, secondary
    mov     x3, x19                 /* the conduit, for CPU 1 */
    bl      psci
    cbz     x0, 2f
    mov     x20, x0
    adr     x0, msg_ret
    bl      puts
    mov     x0, x20
    bl      puthex
    mov     x0, #'\n'
    bl      putc
    ldr     x0, =PSCI_SYSTEM_OFF
    bl      psci
2:  wfi                             /* CPU 1 powers off */
    b       2b

secondary:
    mov     x19, x0                 /* context_id: the conduit */
    adr     x0, msg_cpu1
    bl      print_el
    ldr     x0, =PSCI_SYSTEM_OFF
    bl      psci
3:  wfi
    b       3b

/* psci(x0-x3): a PSCI call over SMC if x19 is set, else over HVC */
psci:
    cbz     x19, 1f
    smc     #0
    ret
1:  hvc     #0
    ret

/* print_el(x0): the string, "EL", the current level and a newline */
print_el:
    mov     x14, x30
    bl      puts
    adr     x0, msg_el
    bl      puts
    mrs     x0, CurrentEL
    ubfx    x0, x0, #2, #2
    add     x0, x0, #'0'
    bl      putc
    mov     x0, #'\n'
    bl      putc
    mov     x30, x14
    ret

    .include "print.inc"

msg_cpu0:   .asciz "CPU0 "
msg_cpu1:   .asciz "CPU1 "
msg_el:     .asciz "EL"
msg_ret:    .asciz "CPU_ON ret="
