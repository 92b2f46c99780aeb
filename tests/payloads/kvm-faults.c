/*
 * An LD_PRELOAD library for the KVM QEMU in the nested rig, to make KVM
 * answer what a sound host does not, while a file exists in L1:
 *   /tmp/kvm-fail-init        KVM_ARM_VCPU_INIT fails with EINVAL, as for
 *                             a vCPU init that KVM refuses;
 *   /tmp/kvm-no-smccc-filter  KVM_HAS_DEVICE_ATTR says that the VM has no
 *                             SMCCC filter, as a host kernel before
 *                             Linux 6.4 does;
 *   /tmp/kvm-slow-kick        holding a vCPU id: when a kick interrupts
 *                             that vCPU's KVM_RUN, its thread takes two
 *                             seconds to come back to QEMU, as a busy
 *                             host's scheduler may make it.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <linux/kvm.h>

/* Linux 6.4's, which the cross-compiler's headers may predate */
#ifndef KVM_ARM_VM_SMCCC_CTRL
#define KVM_ARM_VM_SMCCC_CTRL 0
#endif

static int fail(int err)
{
    errno = err;
    return -1;
}

/* Is @fd @what ("anon_inode:kvm-vm", "anon_inode:kvm-vcpu:3")? */
static int fd_is(int fd, const char *what)
{
    char path[64], target[64];
    ssize_t n;

    snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
    n = readlink(path, target, sizeof(target) - 1);
    if (n < 0) {
        return 0;
    }
    target[n] = 0;
    return strcmp(target, what) == 0;
}

/* Is @fd a VM's (the group numbers of VM and vCPU attributes overlap)? */
static int is_vm(int fd)
{
    return fd_is(fd, "anon_inode:kvm-vm");
}

/* Is @fd the vCPU whose id /tmp/kvm-slow-kick holds? */
static int is_slow_vcpu(int fd)
{
    char what[64];
    FILE *f = fopen("/tmp/kvm-slow-kick", "r");
    int id;

    if (!f) {
        return 0;
    }
    if (fscanf(f, "%d", &id) != 1) {
        id = -1;
    }
    fclose(f);
    snprintf(what, sizeof(what), "anon_inode:kvm-vcpu:%d", id);
    return fd_is(fd, what);
}

int ioctl(int fd, unsigned long request, ...)
{
    static int (*real_ioctl)(int, unsigned long, ...);
    const struct kvm_device_attr *attr;
    va_list ap;
    void *arg;

    va_start(ap, request);
    arg = va_arg(ap, void *);
    va_end(ap);

    switch (request) {
    case KVM_ARM_VCPU_INIT:
        if (access("/tmp/kvm-fail-init", F_OK) == 0) {
            return fail(EINVAL);
        }
        break;
    case KVM_HAS_DEVICE_ATTR:
        attr = arg;
        if (attr->group == KVM_ARM_VM_SMCCC_CTRL && is_vm(fd) &&
            access("/tmp/kvm-no-smccc-filter", F_OK) == 0) {
            return fail(ENXIO);
        }
        break;
    }
    if (!real_ioctl) {
        real_ioctl = (int (*)(int, unsigned long, ...))dlsym(RTLD_NEXT,
                                                             "ioctl");
    }
    if (request == KVM_RUN) {
        int ret = real_ioctl(fd, request, arg);
        int err = errno;

        if (ret < 0 && err == EINTR && is_slow_vcpu(fd)) {
            sleep(2);
        }
        errno = err;
        return ret;
    }
    return real_ioctl(fd, request, arg);
}
