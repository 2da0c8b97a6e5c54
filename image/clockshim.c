/*
 * faultline clock shim: an LD_PRELOAD library that shifts the wall clock of one process.
 *
 * The clock nemesis writes a signed offset in nanoseconds to a small file
 * (/var/lib/faultline/clock-offset, or $FAULTLINE_CLOCK_OFFSET_FILE). Every wall-clock read
 * (clock_gettime on a realtime clock, gettimeofday, time) returns the kernel's time plus that
 * offset. The file is re-read when its mtime or size changes, checked at most once a
 * millisecond, so a rewrite takes effect within about 1 ms.
 *
 * Why not libfaketime: Debian's libfaketime aborts redis-server with "Unexpected recursive
 * calls to clock_gettime()". This shim never calls back into libc for time: it asks the
 * kernel with raw syscalls (syscall(SYS_clock_gettime, ...)), so it cannot recurse.
 *
 * It also applies faultline-clock's control page (/var/lib/faultline/clock-control, or
 * $FAULTLINE_CLOCK_CONTROL; see image/clockvdso.c): wall and monotonic offsets and rates,
 * the same arithmetic and the same never-backwards rule for monotonic clocks. So a process
 * started under the shim (Redis) and a process injected through its vDSO (etcd) obey one
 * control page. The shim is there from the process's first instruction, with no window
 * after a restart, which is why preloaded processes keep it.
 *
 * Statically linked programs that read time through the vDSO without libc (etcd, a Go
 * binary) never call these functions: the shim cannot reach them; faultline-clock can.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_OFFSET_FILE "/var/lib/faultline/clock-offset"
#define DEFAULT_CONTROL "/var/lib/faultline/clock-control"
#define CONTROL_MAGIC 0x314b434f4c434c46ULL
#define RECHECK_NS 1000000LL
#define CONTROL_RETRY_NS 100000000LL

/* faultline-clock's control page (the layout of struct fl_ctl in image/clockvdso.c). */
struct fl_ctl {
    unsigned long long magic, seq;
    long long wall_off, wall_q32, wall_base, mono_off, mono_q32, mono_base;
};
static const volatile struct fl_ctl *_Atomic control_page;
static atomic_llong next_control_try = 0;
static atomic_llong high_water[12];

static atomic_llong offset_ns;
static atomic_llong next_check_ns = 0;
static atomic_llong seen_mtime_ns = -1;
static atomic_llong seen_size = -1;
static const char *offset_file;

static long long raw_monotonic_ns(void)
{
    struct timespec ts;
    if (syscall(SYS_clock_gettime, CLOCK_MONOTONIC, &ts) != 0)
        return 0;
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* Parses an optional sign and decimal digits; anything else ends the number. */
static long long parse_offset(const char *s, long n)
{
    long i = 0;
    int neg = 0;
    long long v = 0;
    while (i < n && (s[i] == ' ' || s[i] == '\t'))
        i++;
    if (i < n && (s[i] == '-' || s[i] == '+')) {
        neg = s[i] == '-';
        i++;
    }
    for (; i < n && s[i] >= '0' && s[i] <= '9'; i++)
        v = v * 10 + (s[i] - '0');
    return neg ? -v : v;
}

static void refresh_offset(void)
{
    long long now = raw_monotonic_ns();
    if (now < atomic_load_explicit(&next_check_ns, memory_order_relaxed))
        return;
    atomic_store_explicit(&next_check_ns, now + RECHECK_NS, memory_order_relaxed);

    if (offset_file == NULL) {
        const char *env = getenv("FAULTLINE_CLOCK_OFFSET_FILE");
        offset_file = (env && *env) ? env : DEFAULT_OFFSET_FILE;
    }
    struct stat st;
    if (syscall(SYS_newfstatat, AT_FDCWD, offset_file, &st, 0) != 0) {
        /* No file: no offset. */
        atomic_store(&offset_ns, 0);
        atomic_store(&seen_mtime_ns, -1);
        return;
    }
    long long mtime = (long long)st.st_mtim.tv_sec * 1000000000LL + st.st_mtim.tv_nsec;
    if (mtime == atomic_load(&seen_mtime_ns) && (long long)st.st_size == atomic_load(&seen_size))
        return;
    int fd = (int)syscall(SYS_openat, AT_FDCWD, offset_file, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    char buf[64];
    long n = (long)syscall(SYS_read, fd, buf, sizeof buf);
    syscall(SYS_close, fd);
    if (n < 0)
        return;
    atomic_store(&offset_ns, parse_offset(buf, n));
    atomic_store(&seen_mtime_ns, mtime);
    atomic_store(&seen_size, (long long)st.st_size);
}

static int is_wall_clock(clockid_t clk)
{
    return clk == CLOCK_REALTIME || clk == CLOCK_REALTIME_COARSE || clk == CLOCK_TAI ||
           clk == CLOCK_REALTIME_ALARM;
}

static int is_monotonic_clock(clockid_t clk)
{
    return clk == CLOCK_MONOTONIC || clk == CLOCK_MONOTONIC_RAW || clk == CLOCK_MONOTONIC_COARSE ||
           clk == CLOCK_BOOTTIME || clk == CLOCK_BOOTTIME_ALARM;
}

/* Maps the control page once it exists; tries again at most every 100 ms until then. */
static const volatile struct fl_ctl *control(void)
{
    const volatile struct fl_ctl *c = atomic_load(&control_page);
    if (c)
        return c;
    long long now = raw_monotonic_ns();
    if (now < atomic_load(&next_control_try))
        return NULL;
    atomic_store(&next_control_try, now + CONTROL_RETRY_NS);
    const char *env = getenv("FAULTLINE_CLOCK_CONTROL");
    const char *path = (env && *env) ? env : DEFAULT_CONTROL;
    int fd = (int)syscall(SYS_openat, AT_FDCWD, path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    struct stat st;
    void *m = MAP_FAILED;
    if (syscall(SYS_fstat, fd, &st) == 0 && st.st_size >= 4096)
        m = mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd, 0);
    syscall(SYS_close, fd);
    if (m == MAP_FAILED)
        return NULL;
    const volatile struct fl_ctl *expected = NULL;
    if (!atomic_compare_exchange_strong(&control_page, &expected, m)) {
        munmap(m, 4096);
        return expected;
    }
    return m;
}

/* The control page's offset and rate for this clock, applied to the kernel's ns. */
static long long apply_control(clockid_t clk, int wall, long long ns)
{
    const volatile struct fl_ctl *c = control();
    if (!c || c->magic != CONTROL_MAGIC)
        return ns;
    long long off, q, base;
    unsigned long long s;
    do {
        s = c->seq;
        atomic_thread_fence(memory_order_acquire);
        off = wall ? c->wall_off : c->mono_off;
        q = wall ? c->wall_q32 : c->mono_q32;
        base = wall ? c->wall_base : c->mono_base;
        atomic_thread_fence(memory_order_acquire);
    } while ((s & 1) || c->seq != s);
    if (q != 0) {
        long long m = clk == CLOCK_MONOTONIC ? ns : raw_monotonic_ns();
        long long elapsed = m - base;
        if (elapsed < 0)
            elapsed = 0;
        ns += (long long)(((__int128)elapsed * q) >> 32);
    }
    ns += off;
    if (!wall && clk >= 0 && clk < 12) {
        /* Never lower than an earlier reading of this clock in this process. */
        long long prev = atomic_load(&high_water[clk]);
        while (ns > prev && !atomic_compare_exchange_weak(&high_water[clk], &prev, ns))
            ;
        if (ns < prev)
            ns = prev;
    }
    return ns;
}

static void set_ns(struct timespec *ts, long long ns)
{
    long long sec = ns / 1000000000LL;
    long long rem = ns % 1000000000LL;
    if (rem < 0) {
        rem += 1000000000LL;
        sec -= 1;
    }
    ts->tv_sec = (time_t)sec;
    ts->tv_nsec = (long)rem;
}

int clock_gettime(clockid_t clk, struct timespec *ts)
{
    int r = (int)syscall(SYS_clock_gettime, clk, ts);
    int wall = is_wall_clock(clk);
    if (r != 0 || !(wall || is_monotonic_clock(clk)))
        return r;
    long long ns = (long long)ts->tv_sec * 1000000000LL + ts->tv_nsec;
    if (wall) {
        refresh_offset();
        ns += atomic_load(&offset_ns);
    }
    set_ns(ts, apply_control(clk, wall, ns));
    return r;
}

/* glibc declares tv nonnull, but POSIX callers may still pass NULL. */
#pragma GCC diagnostic ignored "-Wnonnull-compare"
int gettimeofday(struct timeval *restrict tv, void *restrict tz)
{
    (void)tz;
    if (tv == NULL)
        return 0;
    struct timespec ts;
    int r = clock_gettime(CLOCK_REALTIME, &ts);
    if (r != 0)
        return r;
    tv->tv_sec = ts.tv_sec;
    tv->tv_usec = ts.tv_nsec / 1000;
    return 0;
}

time_t time(time_t *t)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_REALTIME, &ts) != 0)
        return (time_t)-1;
    if (t)
        *t = ts.tv_sec;
    return ts.tv_sec;
}
