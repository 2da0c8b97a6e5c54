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
 * Monotonic clocks are left alone, as a real step of the system clock leaves them alone.
 * Statically linked programs that read time through the vDSO without libc (etcd, a Go
 * binary) never call these functions: the shim cannot reach them.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_OFFSET_FILE "/var/lib/faultline/clock-offset"
#define RECHECK_NS 1000000LL

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
    return clk == CLOCK_REALTIME || clk == CLOCK_REALTIME_COARSE || clk == CLOCK_TAI;
}

int clock_gettime(clockid_t clk, struct timespec *ts)
{
    int r = (int)syscall(SYS_clock_gettime, clk, ts);
    if (r != 0 || !is_wall_clock(clk))
        return r;
    refresh_offset();
    long long off = atomic_load(&offset_ns);
    if (off == 0)
        return r;
    long long ns = (long long)ts->tv_sec * 1000000000LL + ts->tv_nsec + off;
    long long sec = ns / 1000000000LL;
    long long rem = ns % 1000000000LL;
    if (rem < 0) {
        rem += 1000000000LL;
        sec -= 1;
    }
    ts->tv_sec = (time_t)sec;
    ts->tv_nsec = (long)rem;
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
