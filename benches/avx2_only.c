/* Makes a process on an AVX-512 machine see an AVX2-only CPU, so that `make bench-embed-avx2`
 * can time terreno's AVX2 kernels against ONNX Runtime's AVX2 kernels on one machine (ONNX
 * Runtime picks its kernels from CPUID and has no switch for it).
 *
 * Loaded with LD_PRELOAD: its constructor turns on CPUID faulting for the process (Linux
 * `arch_prctl(ARCH_SET_CPUID, 0)`, on CPUs that have it: `cpuid_fault` in /proc/cpuinfo; it is
 * inherited by threads and set again after every exec by this constructor). Each CPUID then
 * traps; the handler runs the real instruction with faulting off for a moment and clears the
 * AVX-512 and AVX-VNNI bits of leaf 7 before the program sees them. Any other fault gets the
 * default action again, so crashes still crash.
 *
 * glibc reads the CPU before any constructor runs; the Makefile sets GLIBC_TUNABLES so that its
 * string functions also keep to AVX2. */
#define _GNU_SOURCE
#include <asm/prctl.h>
#include <cpuid.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

/* Leaf 7, sub-leaf 0: EBX avx512f 16, dq 17, ifma 21, pf 26, er 27, cd 28, bw 30, vl 31;
 * ECX vbmi 1, vbmi2 6, vnni 11, bitalg 12, vpopcntdq 14; EDX 4vnniw 2, 4fmaps 3,
 * vp2intersect 8, fp16 23. Sub-leaf 1: EAX avx_vnni 4, avx512_bf16 5. */
#define EBX_AVX512 ((1u << 16) | (1u << 17) | (1u << 21) | (1u << 26) | (1u << 27) | (1u << 28) | (1u << 30) | (1u << 31))
#define ECX_AVX512 ((1u << 1) | (1u << 6) | (1u << 11) | (1u << 12) | (1u << 14))
#define EDX_AVX512 ((1u << 2) | (1u << 3) | (1u << 8) | (1u << 23))
#define EAX1_VNNI ((1u << 4) | (1u << 5))

static void on_fault(int sig, siginfo_t *info, void *context) {
    (void)info;
    ucontext_t *uc = context;
    greg_t *r = uc->uc_mcontext.gregs;
    const unsigned char *ip = (const unsigned char *)r[REG_RIP];
    if (ip[0] != 0x0f || ip[1] != 0xa2) {
        signal(sig, SIG_DFL); /* not a CPUID: fault again, the default way */
        return;
    }
    unsigned leaf = (unsigned)r[REG_RAX], sub = (unsigned)r[REG_RCX];
    unsigned a, b, c, d;
    syscall(SYS_arch_prctl, ARCH_SET_CPUID, 1);
    __cpuid_count(leaf, sub, a, b, c, d);
    syscall(SYS_arch_prctl, ARCH_SET_CPUID, 0);
    if (leaf == 7 && sub == 0) {
        b &= ~EBX_AVX512;
        c &= ~ECX_AVX512;
        d &= ~EDX_AVX512;
    } else if (leaf == 7 && sub == 1) {
        a &= ~EAX1_VNNI;
    }
    r[REG_RAX] = a;
    r[REG_RBX] = b;
    r[REG_RCX] = c;
    r[REG_RDX] = d;
    r[REG_RIP] += 2;
}

__attribute__((constructor)) static void avx2_only(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_fault;
    sa.sa_flags = SA_SIGINFO | SA_NODEFER;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGSEGV, &sa, NULL) != 0 || syscall(SYS_arch_prctl, ARCH_SET_CPUID, 0) != 0) {
        fprintf(stderr, "avx2_only: this CPU or kernel cannot fault on CPUID (no cpuid_fault)\n");
        exit(2);
    }
}
