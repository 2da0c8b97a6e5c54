/*
 * faultline-clock: moves the clocks one running process sees, through its vDSO.
 *
 * Statically linked Go programs (etcd) never call libc for time: they call the vDSO's
 * clock_gettime directly, so an LD_PRELOAD shim cannot reach them. This program does what
 * Chaos Mesh's TimeChaos does, in its own way (x86_64 Linux only):
 *
 *   1. attach with ptrace (PTRACE_SEIZE + PTRACE_INTERRUPT) to every thread of the process;
 *   2. make one thread run injected system calls (mmap, openat, mprotect, close) from a
 *      `syscall` instruction found in the vDSO, with orig_rax = -1 so no syscall restart
 *      interferes, then restore its registers;
 *   3. copy in the functions of the `fl_inject` section below: they make the real
 *      clock_gettime system call and add an offset (and a rate) read from a shared page;
 *   4. overwrite the first 12 bytes of the vDSO's clock_gettime, gettimeofday and time with
 *      `movabs $fn, %rax; jmp *%rax`;
 *   5. detach, re-delivering any signal that arrived meanwhile.
 *
 * The shared page is a 4 KiB control file (default /var/lib/faultline/clock-control,
 * override with $FAULTLINE_CLOCK_CONTROL) mapped MAP_SHARED into every injected process, so
 * `faultline-clock set` changes the clocks of all of them at once, without re-attaching.
 * Wall clocks (REALTIME, REALTIME_COARSE, REALTIME_ALARM, TAI) and monotonic clocks
 * (MONOTONIC, MONOTONIC_RAW, MONOTONIC_COARSE, BOOTTIME, BOOTTIME_ALARM) have separate
 * offsets and rates. Monotonic clocks only move forward: `set` only adds to their offset,
 * and the injected code keeps a per-process high-water mark per clock, so no reading is ever
 * lower than an earlier one, even across a reset of the rate.
 *
 * Commands:
 *   faultline-clock inject PID...      inject (idempotent: an injected process is left as is)
 *   faultline-clock inject-dir DIR     inject every process named by DIR/NAME.pid
 *   faultline-clock watch DIR          inject-dir every 100 ms, forever (restarted daemons)
 *   faultline-clock set [--wall NS] [--wall-rate R] [--mono-bump NS] [--mono-rate R] [--reset]
 *   faultline-clock show               print the control file
 *   faultline-clock probe              a child process under the same mechanism reads its
 *                                      clocks; prints "<wall offset ns> <monotonic offset ns>"
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <elf.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#if !defined(__x86_64__)
#error "faultline-clock injects x86_64 code"
#endif

#define DEFAULT_CONTROL "/var/lib/faultline/clock-control"
#define CONTROL_MAGIC 0x314b434f4c434c46ULL /* "FLCLOCK1" */
#define PATCH_LEN 12

/* The control file's layout, shared by the writer (`set`) and the injected code. */
struct fl_ctl {
    uint64_t magic;
    uint64_t seq;      /* a seqlock: odd while `set` writes */
    int64_t wall_off;  /* ns added to wall clocks */
    int64_t wall_q32;  /* (rate - 1) * 2^32 for wall clocks */
    int64_t wall_base; /* real CLOCK_MONOTONIC ns from which the wall rate counts */
    int64_t mono_off;
    int64_t mono_q32;
    int64_t mono_base;
};

/* ------------------------------------------------------------------------------------ */
/* The injected code. Everything in section fl_inject is copied as one block into the    */
/* target, so it may use nothing outside it: raw syscalls, RIP-relative data in the same */
/* section, no libc, no jump tables, no stack protector (see the build flags).           */
/* ------------------------------------------------------------------------------------ */

/* Two slots the injector fills in the copy: the control page's and the state page's address. */
__asm__(".pushsection fl_inject,\"ax\",@progbits\n"
        ".balign 8\n"
        ".globl fl_slot_ctl\n.hidden fl_slot_ctl\nfl_slot_ctl: .quad 0\n"
        ".globl fl_slot_state\n.hidden fl_slot_state\nfl_slot_state: .quad 0\n"
        ".popsection\n");
extern volatile uint64_t fl_slot_ctl __attribute__((visibility("hidden")));
extern volatile uint64_t fl_slot_state __attribute__((visibility("hidden")));
extern const char __start_fl_inject[] __attribute__((visibility("hidden")));
extern const char __stop_fl_inject[] __attribute__((visibility("hidden")));

#define INJECT __attribute__((section("fl_inject"), used, noinline))
#define INLINE static inline __attribute__((always_inline))

INLINE long fl_sys2(long n, long a, long b)
{
    long r;
    __asm__ volatile("syscall" : "=a"(r) : "a"(n), "D"(a), "S"(b) : "rcx", "r11", "memory");
    return r;
}

/* 1: wall clock, 2: monotonic clock, 0: neither (CPU-time clocks and others stay true). */
INLINE int fl_kind(long clk)
{
    if (clk == 0 || clk == 5 || clk == 8 || clk == 11)
        return 1;
    if (clk == 1 || clk == 4 || clk == 6 || clk == 7 || clk == 9)
        return 2;
    return 0;
}

INJECT long fl_clock_gettime(long clk, struct timespec *ts)
{
    long r = fl_sys2(SYS_clock_gettime, clk, (long)ts);
    int kind = fl_kind(clk);
    const volatile struct fl_ctl *c = (const volatile struct fl_ctl *)fl_slot_ctl;
    if (r != 0 || kind == 0 || c == 0)
        return r;
    int64_t off, q, base;
    uint64_t s;
    do {
        s = c->seq;
        __asm__ volatile("" ::: "memory");
        if (kind == 1) {
            off = c->wall_off;
            q = c->wall_q32;
            base = c->wall_base;
        } else {
            off = c->mono_off;
            q = c->mono_q32;
            base = c->mono_base;
        }
        __asm__ volatile("" ::: "memory");
    } while ((s & 1) || c->seq != s);
    int64_t ns = (int64_t)ts->tv_sec * 1000000000LL + ts->tv_nsec;
    if (q != 0) {
        int64_t m = ns;
        if (clk != 1) {
            struct timespec mt;
            if (fl_sys2(SYS_clock_gettime, 1, (long)&mt) != 0)
                return r;
            m = (int64_t)mt.tv_sec * 1000000000LL + mt.tv_nsec;
        }
        int64_t elapsed = m - base;
        if (elapsed < 0)
            elapsed = 0;
        ns += (int64_t)(((__int128)elapsed * q) >> 32);
    }
    ns += off;
    volatile int64_t *high = (volatile int64_t *)fl_slot_state;
    if (kind == 2 && high != 0) {
        /* Never lower than an earlier reading of this clock in this process. */
        int64_t prev = __atomic_load_n(&high[clk], __ATOMIC_RELAXED);
        for (;;) {
            if (ns <= prev) {
                ns = prev;
                break;
            }
            if (__atomic_compare_exchange_n(&high[clk], &prev, ns, 0, __ATOMIC_RELAXED,
                                            __ATOMIC_RELAXED))
                break;
        }
    }
    int64_t sec = ns / 1000000000LL, rem = ns % 1000000000LL;
    if (rem < 0) {
        rem += 1000000000LL;
        sec -= 1;
    }
    ts->tv_sec = sec;
    ts->tv_nsec = rem;
    return 0;
}

INJECT long fl_gettimeofday(struct timeval *tv, void *tz)
{
    if (tz) {
        long r = fl_sys2(SYS_gettimeofday, 0, (long)tz);
        if (r != 0)
            return r;
    }
    if (tv) {
        struct timespec ts;
        long r = fl_clock_gettime(0, &ts);
        if (r != 0)
            return r;
        tv->tv_sec = ts.tv_sec;
        tv->tv_usec = ts.tv_nsec / 1000;
    }
    return 0;
}

INJECT long fl_time(long *t)
{
    struct timespec ts;
    long r = fl_clock_gettime(0, &ts);
    if (r != 0)
        return r;
    if (t)
        *t = ts.tv_sec;
    return ts.tv_sec;
}

/* ------------------------------------------------------------------------------------ */
/* The injector.                                                                         */
/* ------------------------------------------------------------------------------------ */

static const char *control_path(void)
{
    const char *env = getenv("FAULTLINE_CLOCK_CONTROL");
    return (env && *env) ? env : DEFAULT_CONTROL;
}

static int64_t real_mono_ns(void)
{
    struct timespec ts;
    syscall(SYS_clock_gettime, CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int64_t real_wall_ns(void)
{
    struct timespec ts;
    syscall(SYS_clock_gettime, CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* Opens (creating with identity settings if missing) and maps the control file, locked. */
static struct fl_ctl *open_control(int *fd_out, int lock)
{
    const char *path = control_path();
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
        fprintf(stderr, "faultline-clock: %s: %s\n", path, strerror(errno));
        return NULL;
    }
    if (lock && flock(fd, LOCK_EX) != 0) {
        fprintf(stderr, "faultline-clock: lock %s: %s\n", path, strerror(errno));
        close(fd);
        return NULL;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || (st.st_size < 4096 && ftruncate(fd, 4096) != 0)) {
        fprintf(stderr, "faultline-clock: size %s: %s\n", path, strerror(errno));
        close(fd);
        return NULL;
    }
    struct fl_ctl *c = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (c == MAP_FAILED) {
        fprintf(stderr, "faultline-clock: mmap %s: %s\n", path, strerror(errno));
        close(fd);
        return NULL;
    }
    if (c->magic != CONTROL_MAGIC) {
        memset(c, 0, sizeof *c);
        c->magic = CONTROL_MAGIC;
    }
    *fd_out = fd;
    return c;
}

/* ---- small helpers over /proc ---- */

static int read_mem(int memfd, uint64_t addr, void *buf, size_t len)
{
    return pread(memfd, buf, len, (off_t)addr) == (ssize_t)len ? 0 : -1;
}

static int write_mem(int memfd, uint64_t addr, const void *buf, size_t len)
{
    return pwrite(memfd, buf, len, (off_t)addr) == (ssize_t)len ? 0 : -1;
}

/* The [vdso] mapping of pid. */
static int find_vdso(pid_t pid, uint64_t *start, uint64_t *end)
{
    char path[64], line[512];
    snprintf(path, sizeof path, "/proc/%d/maps", pid);
    FILE *f = fopen(path, "re");
    if (!f)
        return -1;
    int found = -1;
    while (fgets(line, sizeof line, f)) {
        if (strstr(line, "[vdso]")) {
            unsigned long s, e;
            if (sscanf(line, "%lx-%lx", &s, &e) == 2) {
                *start = s;
                *end = e;
                found = 0;
            }
            break;
        }
    }
    fclose(f);
    return found;
}

/* Entry points of the vDSO functions we replace, as offsets into the vDSO image. */
struct vdso_syms {
    uint64_t clock_gettime, gettimeofday, time;
    uint64_t clock_gettime_size, gettimeofday_size, time_size;
};

static int parse_vdso(const unsigned char *img, size_t len, struct vdso_syms *out)
{
    memset(out, 0, sizeof *out);
    if (len < sizeof(Elf64_Ehdr) || memcmp(img, ELFMAG, SELFMAG) != 0)
        return -1;
    const Elf64_Ehdr *eh = (const Elf64_Ehdr *)img;
    if (eh->e_shoff == 0 || eh->e_shoff + (uint64_t)eh->e_shnum * sizeof(Elf64_Shdr) > len)
        return -1;
    const Elf64_Shdr *sh = (const Elf64_Shdr *)(img + eh->e_shoff);
    uint64_t load_vaddr = 0;
    const Elf64_Phdr *ph = (const Elf64_Phdr *)(img + eh->e_phoff);
    for (int i = 0; i < eh->e_phnum; i++)
        if (ph[i].p_type == PT_LOAD) {
            load_vaddr = ph[i].p_vaddr - ph[i].p_offset;
            break;
        }
    for (int i = 0; i < eh->e_shnum; i++) {
        if (sh[i].sh_type != SHT_DYNSYM)
            continue;
        const Elf64_Shdr *strs = &sh[sh[i].sh_link];
        if (sh[i].sh_offset + sh[i].sh_size > len || strs->sh_offset + strs->sh_size > len)
            return -1;
        const Elf64_Sym *syms = (const Elf64_Sym *)(img + sh[i].sh_offset);
        size_t n = sh[i].sh_size / sizeof(Elf64_Sym);
        for (size_t k = 0; k < n; k++) {
            if (syms[k].st_name >= strs->sh_size || syms[k].st_value == 0)
                continue;
            const char *name = (const char *)img + strs->sh_offset + syms[k].st_name;
            uint64_t at = syms[k].st_value - load_vaddr;
            if (strcmp(name, "__vdso_clock_gettime") == 0) {
                out->clock_gettime = at;
                out->clock_gettime_size = syms[k].st_size;
            } else if (strcmp(name, "__vdso_gettimeofday") == 0) {
                out->gettimeofday = at;
                out->gettimeofday_size = syms[k].st_size;
            } else if (strcmp(name, "__vdso_time") == 0) {
                out->time = at;
                out->time_size = syms[k].st_size;
            }
        }
    }
    return out->clock_gettime ? 0 : -1;
}

static int is_patch(const unsigned char *p)
{
    return p[0] == 0x48 && p[1] == 0xb8 && p[10] == 0xff && p[11] == 0xe0;
}

static void make_patch(unsigned char *p, uint64_t target)
{
    p[0] = 0x48;
    p[1] = 0xb8;
    memcpy(p + 2, &target, 8);
    p[10] = 0xff;
    p[11] = 0xe0;
}

/* ---- ptrace ---- */

#define MAX_THREADS 4096

struct thread {
    pid_t tid;
    int pending_sig;  /* a signal that arrived while attached, re-delivered at detach */
    int group_stopped;
};

struct target {
    pid_t pid;
    struct thread t[MAX_THREADS];
    int n;
};

static int have_tid(struct target *tg, pid_t tid)
{
    for (int i = 0; i < tg->n; i++)
        if (tg->t[i].tid == tid)
            return 1;
    return 0;
}

/* Waits for tid's next ptrace stop. Returns 0 and the stop's status, or -1 if it exited. */
static int wait_stop(pid_t tid, int *status)
{
    for (;;) {
        pid_t r = waitpid(tid, status, __WALL);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        if (WIFEXITED(*status) || WIFSIGNALED(*status))
            return -1;
        if (WIFSTOPPED(*status))
            return 0;
    }
}

/* Seizes and stops every thread, including threads created meanwhile. */
static int attach_all(struct target *tg)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/task", tg->pid);
    for (int round = 0; round < 100; round++) {
        DIR *d = opendir(path);
        if (!d)
            return -1;
        int added = 0;
        struct dirent *e;
        while ((e = readdir(d))) {
            pid_t tid = (pid_t)atoi(e->d_name);
            if (tid <= 0 || have_tid(tg, tid) || tg->n >= MAX_THREADS)
                continue;
            if (ptrace(PTRACE_SEIZE, tid, 0, 0) != 0)
                continue; /* gone already */
            if (ptrace(PTRACE_INTERRUPT, tid, 0, 0) != 0)
                continue;
            struct thread *t = &tg->t[tg->n];
            memset(t, 0, sizeof *t);
            t->tid = tid;
            int status;
            for (;;) {
                if (wait_stop(tid, &status) != 0) {
                    t->tid = 0;
                    break;
                }
                int sig = WSTOPSIG(status);
                int event = status >> 16;
                if (event == PTRACE_EVENT_STOP) {
                    t->group_stopped = sig == SIGSTOP || sig == SIGTSTP || sig == SIGTTIN ||
                                       sig == SIGTTOU;
                    break;
                }
                /* A signal on its way in: let it through; the interrupt stops the thread next. */
                ptrace(PTRACE_CONT, tid, 0, (void *)(long)(event ? 0 : sig));
            }
            if (t->tid) {
                tg->n++;
                added++;
            }
        }
        closedir(d);
        if (!added && round > 0)
            return 0;
    }
    return 0;
}

static void detach_all(struct target *tg)
{
    for (int i = 0; i < tg->n; i++)
        if (tg->t[i].tid)
            ptrace(PTRACE_DETACH, tg->t[i].tid, 0, (void *)(long)tg->t[i].pending_sig);
}

/* Runs one system call in thread t from the `syscall` instruction at insn; its result. */
static long remote_syscall(struct thread *t, uint64_t insn, long nr, long a1, long a2, long a3,
                           long a4, long a5, long a6, int *ok)
{
    struct user_regs_struct saved, regs;
    *ok = 0;
    if (ptrace(PTRACE_GETREGS, t->tid, 0, &saved) != 0)
        return -errno;
    regs = saved;
    regs.rax = (unsigned long)nr;
    regs.orig_rax = (unsigned long)-1; /* no syscall restart on the way out of this stop */
    regs.rdi = (unsigned long)a1;
    regs.rsi = (unsigned long)a2;
    regs.rdx = (unsigned long)a3;
    regs.r10 = (unsigned long)a4;
    regs.r8 = (unsigned long)a5;
    regs.r9 = (unsigned long)a6;
    regs.rip = insn;
    if (ptrace(PTRACE_SETREGS, t->tid, 0, &regs) != 0)
        return -errno;
    long result = -ENOSYS;
    for (int tries = 0; tries < 100; tries++) {
        if (ptrace(PTRACE_SINGLESTEP, t->tid, 0, 0) != 0)
            break;
        int status;
        if (wait_stop(t->tid, &status) != 0)
            return -ESRCH;
        if (ptrace(PTRACE_GETREGS, t->tid, 0, &regs) != 0)
            break;
        int sig = WSTOPSIG(status);
        if ((status >> 16) == 0 && sig != SIGTRAP)
            t->pending_sig = sig; /* keep it for the detach */
        if (regs.rip == insn + 2) {
            result = (long)regs.rax;
            *ok = 1;
            break;
        }
    }
    ptrace(PTRACE_SETREGS, t->tid, 0, &saved);
    return result;
}

/* Steps any thread stopped inside the bytes about to be patched out of them. */
static void step_out_of(struct target *tg, uint64_t lo, uint64_t hi)
{
    for (int i = 0; i < tg->n; i++) {
        struct thread *t = &tg->t[i];
        for (int step = 0; step < 64; step++) {
            struct user_regs_struct regs;
            if (ptrace(PTRACE_GETREGS, t->tid, 0, &regs) != 0)
                break;
            if (!(regs.rip > lo && regs.rip < hi))
                break;
            if (ptrace(PTRACE_SINGLESTEP, t->tid, 0, 0) != 0)
                break;
            int status;
            if (wait_stop(t->tid, &status) != 0)
                break;
            int sig = WSTOPSIG(status);
            if ((status >> 16) == 0 && sig != SIGTRAP)
                t->pending_sig = sig;
        }
    }
}

/* 0: injected now, 1: already injected, 2: paused (try later), -1: failed (message printed). */
static int inject(pid_t pid, int quiet)
{
    char path[64];
    uint64_t vstart, vend;
    if (find_vdso(pid, &vstart, &vend) != 0) {
        if (!quiet)
            fprintf(stderr, "faultline-clock: pid %d: no such process or no vDSO\n", pid);
        return -1;
    }
    snprintf(path, sizeof path, "/proc/%d/mem", pid);
    int memfd = open(path, O_RDWR | O_CLOEXEC);
    if (memfd < 0) {
        fprintf(stderr, "faultline-clock: %s: %s\n", path, strerror(errno));
        return -1;
    }
    size_t vlen = vend - vstart;
    unsigned char *img = malloc(vlen);
    struct vdso_syms syms;
    if (!img || read_mem(memfd, vstart, img, vlen) != 0 || parse_vdso(img, vlen, &syms) != 0) {
        fprintf(stderr, "faultline-clock: pid %d: cannot read the vDSO's symbols\n", pid);
        free(img);
        close(memfd);
        return -1;
    }
    if (is_patch(img + syms.clock_gettime)) {
        free(img);
        close(memfd);
        return 1;
    }
    uint64_t entries[3] = {syms.clock_gettime, syms.gettimeofday, syms.time};
    uint64_t sizes[3] = {syms.clock_gettime_size, syms.gettimeofday_size, syms.time_size};
    for (int i = 0; i < 3; i++)
        if (entries[i] && sizes[i] < PATCH_LEN) {
            fprintf(stderr, "faultline-clock: pid %d: vDSO function %d is too short to patch\n",
                    pid, i);
            free(img);
            close(memfd);
            return -1;
        }
    /* A `syscall` instruction (0f 05) in the vDSO, outside the bytes we patch. */
    uint64_t insn = 0;
    for (size_t i = 0; i + 1 < vlen && !insn; i++) {
        if (img[i] != 0x0f || img[i + 1] != 0x05)
            continue;
        int inside = 0;
        for (int k = 0; k < 3; k++)
            if (entries[k] && i + 1 >= entries[k] && i < entries[k] + PATCH_LEN)
                inside = 1;
        if (!inside)
            insn = vstart + i;
    }
    free(img);
    if (!insn) {
        fprintf(stderr, "faultline-clock: pid %d: no syscall instruction in the vDSO\n", pid);
        close(memfd);
        return -1;
    }

    char ctl_path[PATH_MAX];
    int cfd;
    struct fl_ctl *c = open_control(&cfd, 0);
    if (!c) {
        close(memfd);
        return -1;
    }
    munmap(c, 4096);
    close(cfd);
    if (!realpath(control_path(), ctl_path)) {
        fprintf(stderr, "faultline-clock: %s: %s\n", control_path(), strerror(errno));
        close(memfd);
        return -1;
    }

    static struct target tg;
    memset(&tg, 0, sizeof tg);
    tg.pid = pid;
    if (attach_all(&tg) != 0 || tg.n == 0) {
        fprintf(stderr, "faultline-clock: pid %d: cannot attach: %s\n", pid, strerror(errno));
        detach_all(&tg);
        close(memfd);
        return -1;
    }
    struct thread *runner = NULL;
    for (int i = 0; i < tg.n && !runner; i++)
        if (!tg.t[i].group_stopped)
            runner = &tg.t[i];
    if (!runner) {
        detach_all(&tg);
        close(memfd);
        return 2;
    }

    size_t code_len = (size_t)(__stop_fl_inject - __start_fl_inject);
    size_t code_pages = (code_len + 4095) & ~(size_t)4095;
    size_t total = code_pages + 4096;
    int ok = 0, rc = -1;
    const char *step = "mmap";
    long base = remote_syscall(runner, insn, SYS_mmap, 0, (long)total, PROT_READ | PROT_WRITE,
                               MAP_PRIVATE | MAP_ANONYMOUS, -1, 0, &ok);
    if (!ok || (unsigned long)base >= (unsigned long)-4095L)
        goto out;
    uint64_t state = (uint64_t)base + code_pages;
    /* The path goes into the state page's upper half; its lower half holds high-water marks. */
    step = "copy";
    if (write_mem(memfd, state + 2048, ctl_path, strlen(ctl_path) + 1) != 0)
        goto out;
    step = "openat";
    long fd = remote_syscall(runner, insn, SYS_openat, AT_FDCWD, (long)(state + 2048),
                             O_RDONLY | O_CLOEXEC, 0, 0, 0, &ok);
    if (!ok || fd < 0)
        goto out;
    step = "mmap control";
    long ctl = remote_syscall(runner, insn, SYS_mmap, 0, 4096, PROT_READ, MAP_SHARED, fd, 0, &ok);
    remote_syscall(runner, insn, SYS_close, fd, 0, 0, 0, 0, 0, &ok);
    if ((unsigned long)ctl >= (unsigned long)-4095L)
        goto out;
    unsigned char zero[2048 + PATH_MAX];
    memset(zero, 0, sizeof zero);
    step = "copy";
    if (write_mem(memfd, state, zero, 2048 + strlen(ctl_path) + 1) != 0)
        goto out;
    /* The code, with its two slots filled in. */
    unsigned char *code = malloc(code_len);
    if (!code)
        goto out;
    memcpy(code, __start_fl_inject, code_len);
    uint64_t slot_ctl = (uint64_t)ctl, slot_state = state;
    memcpy(code + ((const char *)&fl_slot_ctl - __start_fl_inject), &slot_ctl, 8);
    memcpy(code + ((const char *)&fl_slot_state - __start_fl_inject), &slot_state, 8);
    int wrote = write_mem(memfd, (uint64_t)base, code, code_len);
    free(code);
    if (wrote != 0)
        goto out;
    step = "mprotect";
    long pr = remote_syscall(runner, insn, SYS_mprotect, base, (long)code_pages,
                             PROT_READ | PROT_EXEC, 0, 0, 0, &ok);
    if (!ok || pr != 0)
        goto out;
    /* Patch the vDSO entries: every thread is stopped, none mid-way through those bytes. */
    step = "patch";
    const char *fns[3] = {(const char *)fl_clock_gettime, (const char *)fl_gettimeofday,
                          (const char *)fl_time};
    for (int i = 0; i < 3; i++) {
        if (!entries[i])
            continue;
        uint64_t at = vstart + entries[i];
        step_out_of(&tg, at, at + PATCH_LEN);
        unsigned char patch[PATCH_LEN];
        make_patch(patch, (uint64_t)base + (uint64_t)(fns[i] - __start_fl_inject));
        if (write_mem(memfd, at, patch, PATCH_LEN) != 0)
            goto out;
    }
    rc = 0;
out:
    if (rc != 0)
        fprintf(stderr, "faultline-clock: pid %d: injection failed at %s: %s\n", pid, step,
                strerror(errno));
    detach_all(&tg);
    close(memfd);
    return rc;
}

/* ---- commands ---- */

static int parse_pid_file(const char *path, pid_t *pid)
{
    FILE *f = fopen(path, "re");
    if (!f)
        return -1;
    long v = 0;
    int ok = fscanf(f, "%ld", &v) == 1 && v > 0;
    fclose(f);
    *pid = (pid_t)v;
    return ok ? 0 : -1;
}

/* Injects every live process named by dir/NAME.pid; the number that failed. */
static int inject_dir(const char *dir, int quiet)
{
    DIR *d = opendir(dir);
    if (!d) {
        if (!quiet)
            fprintf(stderr, "faultline-clock: %s: %s\n", dir, strerror(errno));
        return quiet ? 0 : 1;
    }
    int failed = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t n = strlen(e->d_name);
        if (n < 5 || strcmp(e->d_name + n - 4, ".pid") != 0)
            continue;
        char path[PATH_MAX];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        pid_t pid;
        if (parse_pid_file(path, &pid) != 0 || kill(pid, 0) != 0)
            continue; /* stale: the daemon is down (a kill fault), the watcher catches its restart */
        int r = inject(pid, quiet);
        if (r == 0 && quiet)
            fprintf(stderr, "faultline-clock: injected pid %d (%s)\n", pid, e->d_name);
        if (r == 2 && !quiet)
            fprintf(stderr, "faultline-clock: pid %d is stopped; injected when it runs\n", pid);
        if (r < 0)
            failed++;
    }
    closedir(d);
    return failed;
}

static int64_t fold(int64_t off, int64_t q, int64_t base, int64_t now)
{
    int64_t elapsed = now - base;
    if (elapsed < 0)
        elapsed = 0;
    return off + (int64_t)(((__int128)elapsed * q) >> 32);
}

static int parse_i64(const char *s, int64_t *v)
{
    char *end;
    errno = 0;
    long long x = strtoll(s, &end, 10);
    if (errno || *s == 0 || *end != 0)
        return -1;
    *v = x;
    return 0;
}

static int parse_rate(const char *s, int64_t *q32)
{
    char *end;
    errno = 0;
    double r = strtod(s, &end);
    if (errno || *s == 0 || *end != 0 || !(r > 0.0) || r > 1000.0)
        return -1;
    *q32 = (int64_t)((r - 1.0) * 4294967296.0);
    return 0;
}

static void show(const struct fl_ctl *c)
{
    printf("wall_offset_ns %" PRId64 "\nwall_rate %.6f\nmono_offset_ns %" PRId64
           "\nmono_rate %.6f\n",
           fold(c->wall_off, c->wall_q32, c->wall_base, real_mono_ns()),
           1.0 + (double)c->wall_q32 / 4294967296.0,
           fold(c->mono_off, c->mono_q32, c->mono_base, real_mono_ns()),
           1.0 + (double)c->mono_q32 / 4294967296.0);
}

static int cmd_set(int argc, char **argv)
{
    int has_wall = 0, has_wrate = 0, has_bump = 0, has_mrate = 0, reset = 0;
    int64_t wall = 0, wrate = 0, bump = 0, mrate = 0;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--reset") == 0) {
            reset = 1;
            continue;
        }
        if (!v) {
            fprintf(stderr, "faultline-clock set: %s needs a value\n", a);
            return 254;
        }
        int bad;
        if (strcmp(a, "--wall") == 0)
            bad = parse_i64(v, &wall), has_wall = 1;
        else if (strcmp(a, "--wall-rate") == 0)
            bad = parse_rate(v, &wrate), has_wrate = 1;
        else if (strcmp(a, "--mono-bump") == 0)
            bad = parse_i64(v, &bump) || bump < 0, has_bump = 1;
        else if (strcmp(a, "--mono-rate") == 0)
            bad = parse_rate(v, &mrate), has_mrate = 1;
        else {
            fprintf(stderr, "faultline-clock set: unknown option %s (expected --wall NS, "
                            "--wall-rate R, --mono-bump NS, --mono-rate R or --reset)\n",
                    a);
            return 254;
        }
        if (bad) {
            fprintf(stderr, "faultline-clock set: %s %s: expected %s\n", a, v,
                    strstr(a, "rate") ? "a rate above 0 and at most 1000 (1 = true speed)"
                    : strstr(a, "bump") ? "nanoseconds >= 0 (monotonic clocks never go back)"
                                        : "signed nanoseconds");
            return 254;
        }
        i++;
    }
    int fd;
    struct fl_ctl *c = open_control(&fd, 1);
    if (!c)
        return 1;
    int64_t now = real_mono_ns();
    struct fl_ctl n = *c;
    /* Fold what each rate has added so far into the offset, so a change starts from here. */
    n.wall_off = fold(n.wall_off, n.wall_q32, n.wall_base, now);
    n.wall_base = now;
    n.mono_off = fold(n.mono_off, n.mono_q32, n.mono_base, now);
    n.mono_base = now;
    if (reset) {
        n.wall_off = 0;
        n.wall_q32 = 0;
        n.mono_q32 = 0; /* the monotonic offset stays: monotonic time never goes back */
    }
    if (has_wall)
        n.wall_off = wall;
    if (has_wrate)
        n.wall_q32 = wrate;
    if (has_bump)
        n.mono_off += bump;
    if (has_mrate)
        n.mono_q32 = mrate;
    uint64_t seq = c->seq;
    __atomic_store_n(&c->seq, seq + 1, __ATOMIC_RELEASE);
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    c->wall_off = n.wall_off;
    c->wall_q32 = n.wall_q32;
    c->wall_base = n.wall_base;
    c->mono_off = n.mono_off;
    c->mono_q32 = n.mono_q32;
    c->mono_base = n.mono_base;
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    __atomic_store_n(&c->seq, seq + 2, __ATOMIC_RELEASE);
    munmap(c, 4096);
    close(fd);
    return 0;
}

/* A child process under the same mechanism reads its clocks; we print its offsets. */
static int cmd_probe(void)
{
    int go[2], back[2];
    if (pipe(go) != 0 || pipe(back) != 0) {
        perror("faultline-clock probe: pipe");
        return 1;
    }
    pid_t child = fork();
    if (child < 0) {
        perror("faultline-clock probe: fork");
        return 1;
    }
    if (child == 0) {
        char b;
        close(go[1]);
        close(back[0]);
        if (read(go[0], &b, 1) != 1)
            _exit(1);
        struct timespec w, m;
        clock_gettime(CLOCK_REALTIME, &w); /* through libc, so through the vDSO */
        clock_gettime(CLOCK_MONOTONIC, &m);
        int64_t out[2] = {(int64_t)w.tv_sec * 1000000000LL + w.tv_nsec,
                          (int64_t)m.tv_sec * 1000000000LL + m.tv_nsec};
        _exit(write(back[1], out, sizeof out) == sizeof out ? 0 : 1);
    }
    close(go[0]);
    close(back[1]);
    int r = inject(child, 0);
    int64_t w0 = real_wall_ns(), m0 = real_mono_ns();
    int ok = r >= 0 && r != 2 && write(go[1], "g", 1) == 1;
    int64_t out[2];
    ok = ok && read(back[0], out, sizeof out) == sizeof out;
    int64_t w1 = real_wall_ns(), m1 = real_mono_ns();
    close(go[1]);
    close(back[0]);
    int status;
    waitpid(child, &status, 0);
    if (!ok) {
        fprintf(stderr, "faultline-clock probe: the probe process could not be injected\n");
        return 1;
    }
    printf("%" PRId64 " %" PRId64 "\n", out[0] - (w0 + (w1 - w0) / 2),
           out[1] - (m0 + (m1 - m0) / 2));
    return 0;
}

static void usage(void)
{
    fprintf(stderr, "faultline-clock: expected a command: inject PID..., inject-dir DIR, watch DIR, "
                    "probe, show, or set [--wall NS] [--wall-rate R] [--mono-bump NS] "
                    "[--mono-rate R] [--reset]\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage();
        return 254;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "inject") == 0 && argc > 2) {
        int failed = 0;
        for (int i = 2; i < argc; i++) {
            int64_t pid;
            if (parse_i64(argv[i], &pid) != 0 || pid <= 0) {
                fprintf(stderr, "faultline-clock inject: %s is not a pid\n", argv[i]);
                return 254;
            }
            int r = inject((pid_t)pid, 0);
            if (r == 2)
                fprintf(stderr, "faultline-clock: pid %d is stopped; not injected\n", (int)pid);
            failed += r < 0 || r == 2;
        }
        return failed ? 1 : 0;
    }
    if (strcmp(cmd, "inject-dir") == 0 && argc == 3)
        return inject_dir(argv[2], 0) ? 1 : 0;
    if (strcmp(cmd, "watch") == 0 && argc == 3) {
        for (;;) {
            inject_dir(argv[2], 1);
            usleep(100000);
        }
    }
    if (strcmp(cmd, "set") == 0)
        return cmd_set(argc - 2, argv + 2);
    if (strcmp(cmd, "show") == 0) {
        int fd;
        struct fl_ctl *c = open_control(&fd, 0);
        if (!c)
            return 1;
        show(c);
        return 0;
    }
    if (strcmp(cmd, "probe") == 0)
        return cmd_probe();
    usage();
    return 254;
}
