/*
 * faultline-netq: a userspace packet handler for faults this kernel's missing netem cannot do.
 *
 * iptables sends the packets a fault names to an NFQUEUE (`-j NFQUEUE --queue-num N
 * --queue-bypass`); this program binds that queue over raw netfilter netlink (kernel headers
 * only: no libnetfilter_queue in the image, nothing to install) and gives each packet its
 * verdict later or changed:
 *
 *   --delay-ms D --jitter-ms J   hold every packet D ms, +- J ms uniformly (jitter reorders)
 *   --reorder-pct P --delay-ms D P% of packets go at once, the rest after D ms: they overtake
 *   --duplicate-pct P            P% of packets are sent twice (the copy through a raw socket,
 *                                marked so the queue rule lets it pass)
 *   --corrupt-pct P              P% of packets with a TCP or UDP payload get one payload bit
 *                                flipped and their checksum fixed: the receiver's kernel accepts
 *                                them, the application reads damaged data
 *   --rate-kbit R                a bandwidth limit: packets leave no faster than R kbit/s
 *                                (queued behind each other; beyond --limit held, dropped)
 *
 * Fail safe: the rule has --queue-bypass, so packets flow when no handler is bound; the queue
 * is configured fail-open, so packets flow when it is full; on SIGTERM or SIGINT every held
 * packet is released at once before exit. A summary of what was done goes to stderr.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_queue.h>
#include <linux/netlink.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_PACKET 65536

struct options {
    unsigned queue;
    long delay_ms, jitter_ms, rate_kbit, limit;
    double reorder, duplicate, corrupt;
    uint32_t mark;
    uint64_t seed;
};

struct held {
    int64_t release_ns;
    uint64_t order;
    uint32_t id;
    int dup;
    uint16_t len; /* > 0 when the payload was changed (corrupt) or is needed (dup) */
    unsigned char *data;
};

static struct options opt = {.queue = 4654, .limit = 10000, .mark = 0x4654, .seed = 1};
static int nl = -1, raw = -1;
static volatile sig_atomic_t stop;
static struct held *heap;
static size_t heap_n, heap_cap;
static uint64_t order_seq, rng;
static int64_t link_free_ns;
static struct {
    uint64_t packets, delayed, reordered, duplicated, corrupted, dropped, released;
} stats;

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* xorshift64*: a seeded stream for the random choices. */
static uint64_t next_rand(void)
{
    rng ^= rng >> 12;
    rng ^= rng << 25;
    rng ^= rng >> 27;
    return rng * 0x2545F4914F6CDD1DULL;
}

static double uniform(void)
{
    return (double)(next_rand() >> 11) / 9007199254740992.0;
}

/* ---- netlink ---- */

static size_t put_attr(char *buf, size_t at, uint16_t type, const void *data, size_t len)
{
    struct nlattr *a = (struct nlattr *)(buf + at);
    a->nla_type = type;
    a->nla_len = (uint16_t)(NLA_HDRLEN + len);
    memcpy(buf + at + NLA_HDRLEN, data, len);
    return at + NLA_ALIGN(NLA_HDRLEN + len);
}

static size_t start_msg(char *buf, uint16_t msg_type, uint16_t flags)
{
    struct nlmsghdr *h = (struct nlmsghdr *)buf;
    memset(h, 0, NLMSG_HDRLEN + NLMSG_ALIGN(sizeof(struct nfgenmsg)));
    h->nlmsg_type = (uint16_t)((NFNL_SUBSYS_QUEUE << 8) | msg_type);
    h->nlmsg_flags = (uint16_t)(NLM_F_REQUEST | flags);
    struct nfgenmsg *g = (struct nfgenmsg *)(buf + NLMSG_HDRLEN);
    g->nfgen_family = AF_UNSPEC;
    g->version = NFNETLINK_V0;
    g->res_id = htons((uint16_t)opt.queue);
    return NLMSG_HDRLEN + NLMSG_ALIGN(sizeof(struct nfgenmsg));
}

static int send_msg(char *buf, size_t len)
{
    ((struct nlmsghdr *)buf)->nlmsg_len = (uint32_t)len;
    struct sockaddr_nl to = {.nl_family = AF_NETLINK};
    return sendto(nl, buf, len, 0, (struct sockaddr *)&to, sizeof to) == (ssize_t)len ? 0 : -1;
}

/* Sends a config message and waits for its acknowledgement; the kernel's error, or 0. */
static int config(const char *what, uint16_t attr, const void *data, size_t len, uint16_t attr2,
                  const void *data2, size_t len2)
{
    char buf[256];
    size_t at = start_msg(buf, NFQNL_MSG_CONFIG, NLM_F_ACK);
    at = put_attr(buf, at, attr, data, len);
    if (data2)
        at = put_attr(buf, at, attr2, data2, len2);
    if (send_msg(buf, at) != 0) {
        fprintf(stderr, "faultline-netq: %s: send: %s\n", what, strerror(errno));
        return -1;
    }
    char rbuf[4096];
    for (;;) {
        ssize_t n = recv(nl, rbuf, sizeof rbuf, 0);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            fprintf(stderr, "faultline-netq: %s: recv: %s\n", what, strerror(errno));
            return -1;
        }
        struct nlmsghdr *h = (struct nlmsghdr *)rbuf;
        if (h->nlmsg_type == NLMSG_ERROR) {
            int err = -((struct nlmsgerr *)NLMSG_DATA(h))->error;
            if (err)
                fprintf(stderr, "faultline-netq: %s: %s\n", what, strerror(err));
            return err ? -1 : 0;
        }
    }
}

static void verdict(uint32_t id, uint32_t v, const unsigned char *payload, size_t len)
{
    static char buf[MAX_PACKET + 256];
    size_t at = start_msg(buf, NFQNL_MSG_VERDICT, 0);
    struct nfqnl_msg_verdict_hdr vh = {.verdict = htonl(v), .id = htonl(id)};
    at = put_attr(buf, at, NFQA_VERDICT_HDR, &vh, sizeof vh);
    if (payload)
        at = put_attr(buf, at, NFQA_PAYLOAD, payload, len);
    if (send_msg(buf, at) != 0)
        fprintf(stderr, "faultline-netq: verdict for packet %u: %s\n", id, strerror(errno));
}

/* ---- packets ---- */

static uint32_t sum16(const unsigned char *p, size_t len, uint32_t sum)
{
    for (size_t i = 0; i + 1 < len; i += 2)
        sum += (uint32_t)(p[i] << 8 | p[i + 1]);
    if (len & 1)
        sum += (uint32_t)(p[len - 1] << 8);
    return sum;
}

static uint16_t fold16(uint32_t sum)
{
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    return (uint16_t)~sum;
}

/* Flips one random bit of an IPv4 TCP/UDP payload and fixes the L4 checksum; 1 if done. */
static int corrupt(unsigned char *p, size_t len)
{
    if (len < 20 || (p[0] >> 4) != 4)
        return 0;
    size_t ihl = (size_t)(p[0] & 15) * 4;
    size_t total = (size_t)(p[2] << 8 | p[3]);
    if (total > len || ihl < 20 || ihl >= total || (p[6] & 0x3f) || p[7])
        return 0; /* fragments are left alone */
    unsigned char proto = p[9];
    unsigned char *l4 = p + ihl;
    size_t l4len = total - ihl, hdr, csum_at;
    if (proto == IPPROTO_TCP && l4len >= 20) {
        hdr = (size_t)(l4[12] >> 4) * 4;
        csum_at = 16;
    } else if (proto == IPPROTO_UDP && l4len >= 8) {
        hdr = 8;
        csum_at = 6;
        if (l4[6] == 0 && l4[7] == 0)
            csum_at = 0; /* no checksum to fix */
    } else {
        return 0;
    }
    if (hdr >= l4len)
        return 0; /* nothing to damage */
    size_t bit = (size_t)(next_rand() % ((l4len - hdr) * 8));
    l4[hdr + bit / 8] ^= (unsigned char)(1u << (bit % 8));
    if (csum_at) {
        l4[csum_at] = l4[csum_at + 1] = 0;
        uint32_t sum = sum16(p + 12, 8, 0); /* pseudo-header: addresses, protocol, length */
        sum += proto;
        sum += (uint32_t)l4len;
        uint16_t c = fold16(sum16(l4, l4len, sum));
        if (proto == IPPROTO_UDP && c == 0)
            c = 0xffff;
        l4[csum_at] = (unsigned char)(c >> 8);
        l4[csum_at + 1] = (unsigned char)c;
    }
    return 1;
}

static void send_copy(const unsigned char *p, size_t len)
{
    if (len < 20)
        return;
    struct sockaddr_in to = {.sin_family = AF_INET};
    memcpy(&to.sin_addr, p + 16, 4);
    if (sendto(raw, p, len, 0, (struct sockaddr *)&to, sizeof to) < 0)
        fprintf(stderr, "faultline-netq: duplicate: %s\n", strerror(errno));
}

/* ---- the hold queue: a min-heap on (release time, arrival order) ---- */

static int before(const struct held *a, const struct held *b)
{
    return a->release_ns < b->release_ns ||
           (a->release_ns == b->release_ns && a->order < b->order);
}

static void push(struct held h)
{
    if (heap_n == heap_cap) {
        heap_cap = heap_cap ? heap_cap * 2 : 1024;
        heap = realloc(heap, heap_cap * sizeof *heap);
        if (!heap) {
            perror("faultline-netq: realloc");
            exit(1);
        }
    }
    size_t i = heap_n++;
    heap[i] = h;
    while (i > 0 && before(&heap[i], &heap[(i - 1) / 2])) {
        struct held t = heap[i];
        heap[i] = heap[(i - 1) / 2];
        heap[(i - 1) / 2] = t;
        i = (i - 1) / 2;
    }
}

static struct held pop(void)
{
    struct held top = heap[0];
    heap[0] = heap[--heap_n];
    size_t i = 0;
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < heap_n && before(&heap[l], &heap[m]))
            m = l;
        if (r < heap_n && before(&heap[r], &heap[m]))
            m = r;
        if (m == i)
            break;
        struct held t = heap[i];
        heap[i] = heap[m];
        heap[m] = t;
        i = m;
    }
    return top;
}

static void release(struct held *h)
{
    verdict(h->id, NF_ACCEPT, h->len ? h->data : NULL, h->len);
    if (h->dup)
        send_copy(h->data, h->len);
    free(h->data);
    stats.released++;
}

static void handle_packet(uint32_t id, unsigned char *p, size_t len)
{
    stats.packets++;
    int64_t now = now_ns();
    struct held h = {.release_ns = now, .order = order_seq++, .id = id};
    int changed = 0;
    if (opt.corrupt > 0 && uniform() * 100.0 < opt.corrupt && corrupt(p, len)) {
        stats.corrupted++;
        changed = 1;
    }
    if (opt.duplicate > 0 && uniform() * 100.0 < opt.duplicate) {
        h.dup = 1;
        stats.duplicated++;
    }
    if (opt.reorder > 0) {
        if (uniform() * 100.0 < opt.reorder)
            stats.reordered++;
        else
            h.release_ns += opt.delay_ms * 1000000LL;
    } else if (opt.delay_ms > 0 || opt.jitter_ms > 0) {
        int64_t d = opt.delay_ms * 1000000LL;
        if (opt.jitter_ms > 0)
            d += (int64_t)((uniform() * 2.0 - 1.0) * (double)opt.jitter_ms * 1e6);
        if (d > 0)
            h.release_ns += d;
        stats.delayed++;
    }
    if (opt.rate_kbit > 0) {
        if ((long)heap_n >= opt.limit) {
            verdict(id, NF_DROP, NULL, 0);
            stats.dropped++;
            return;
        }
        int64_t start = h.release_ns > link_free_ns ? h.release_ns : link_free_ns;
        link_free_ns = start + (int64_t)len * 8 * 1000000LL / opt.rate_kbit;
        h.release_ns = link_free_ns;
    }
    if (changed || h.dup) {
        h.data = malloc(len);
        if (!h.data) {
            verdict(id, NF_ACCEPT, NULL, 0);
            return;
        }
        memcpy(h.data, p, len);
        h.len = (uint16_t)len;
    }
    if (h.release_ns <= now && heap_n == 0) {
        release(&h);
        return;
    }
    push(h);
}

static void receive(void)
{
    static char buf[MAX_PACKET + 4096];
    ssize_t got = recv(nl, buf, sizeof buf, MSG_DONTWAIT);
    if (got < 0) {
        if (errno == ENOBUFS)
            fprintf(stderr, "faultline-netq: the kernel dropped queue messages (ENOBUFS)\n");
        return;
    }
    int n = (int)got;
    for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, n);
         h = NLMSG_NEXT(h, n)) {
        if ((h->nlmsg_type & 0xff) != NFQNL_MSG_PACKET ||
            (h->nlmsg_type >> 8) != NFNL_SUBSYS_QUEUE)
            continue;
        char *attrs = (char *)NLMSG_DATA(h) + NLMSG_ALIGN(sizeof(struct nfgenmsg));
        int remaining = (int)h->nlmsg_len - (int)(attrs - (char *)h);
        uint32_t id = 0;
        int have_id = 0;
        unsigned char *payload = NULL;
        size_t plen = 0;
        for (struct nlattr *a = (struct nlattr *)attrs;
             remaining >= NLA_HDRLEN && a->nla_len >= NLA_HDRLEN && a->nla_len <= remaining;
             remaining -= NLA_ALIGN(a->nla_len),
                            a = (struct nlattr *)((char *)a + NLA_ALIGN(a->nla_len))) {
            int type = a->nla_type & NLA_TYPE_MASK;
            if (type == NFQA_PACKET_HDR) {
                struct nfqnl_msg_packet_hdr *ph = (void *)((char *)a + NLA_HDRLEN);
                id = ntohl(ph->packet_id);
                have_id = 1;
            } else if (type == NFQA_PAYLOAD) {
                payload = (unsigned char *)a + NLA_HDRLEN;
                plen = a->nla_len - NLA_HDRLEN;
            }
        }
        if (have_id && payload)
            handle_packet(id, payload, plen);
        else if (have_id)
            verdict(id, NF_ACCEPT, NULL, 0);
    }
}

static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

static int parse_long(const char *s, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *s == 0 || *end || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

static int parse_pct(const char *s, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || *s == 0 || *end || !(v >= 0.0 && v <= 100.0))
        return -1;
    *out = v;
    return 0;
}

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        long l = 0;
        int bad = !v;
        if (!bad && strcmp(a, "--queue") == 0)
            bad = parse_long(v, 0, 65535, &l), opt.queue = (unsigned)l;
        else if (!bad && strcmp(a, "--delay-ms") == 0)
            bad = parse_long(v, 0, 600000, &opt.delay_ms);
        else if (!bad && strcmp(a, "--jitter-ms") == 0)
            bad = parse_long(v, 0, 600000, &opt.jitter_ms);
        else if (!bad && strcmp(a, "--rate-kbit") == 0)
            bad = parse_long(v, 1, 100000000, &opt.rate_kbit);
        else if (!bad && strcmp(a, "--limit") == 0)
            bad = parse_long(v, 1, 1000000, &opt.limit);
        else if (!bad && strcmp(a, "--mark") == 0)
            bad = parse_long(v, 1, 0x7fffffff, &l), opt.mark = (uint32_t)l;
        else if (!bad && strcmp(a, "--seed") == 0)
            bad = parse_long(v, 0, 0x7fffffffffffffffL, &l), opt.seed = (uint64_t)l;
        else if (!bad && strcmp(a, "--reorder-pct") == 0)
            bad = parse_pct(v, &opt.reorder);
        else if (!bad && strcmp(a, "--duplicate-pct") == 0)
            bad = parse_pct(v, &opt.duplicate);
        else if (!bad && strcmp(a, "--corrupt-pct") == 0)
            bad = parse_pct(v, &opt.corrupt);
        else
            bad = 2;
        if (bad) {
            fprintf(stderr,
                    "faultline-netq: %s%s%s: expected --queue N, --delay-ms MS, --jitter-ms MS, "
                    "--reorder-pct P, --duplicate-pct P, --corrupt-pct P, --rate-kbit R, "
                    "--limit N, --mark M or --seed S, each with a value in range\n",
                    a, v ? " " : "", v ? v : "");
            return 254;
        }
        i++;
    }
    rng = opt.seed * 0x9E3779B97F4A7C15ULL + 1;

    nl = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_NETFILTER);
    if (nl < 0) {
        perror("faultline-netq: netlink socket");
        return 1;
    }
    int big = 8 << 20;
    setsockopt(nl, SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof big);
    struct sockaddr_nl me = {.nl_family = AF_NETLINK};
    if (bind(nl, (struct sockaddr *)&me, sizeof me) != 0) {
        perror("faultline-netq: bind netlink");
        return 1;
    }
    struct nfqnl_msg_config_cmd bind_cmd = {.command = NFQNL_CFG_CMD_BIND, .pf = htons(AF_INET)};
    if (config("bind queue", NFQA_CFG_CMD, &bind_cmd, sizeof bind_cmd, 0, NULL, 0) != 0)
        return 1;
    struct nfqnl_msg_config_params params = {.copy_range = htonl(MAX_PACKET - 1),
                                             .copy_mode = NFQNL_COPY_PACKET};
    uint32_t maxlen = htonl(65536);
    if (config("copy mode", NFQA_CFG_PARAMS, &params, sizeof params, NFQA_CFG_QUEUE_MAXLEN,
               &maxlen, sizeof maxlen) != 0)
        return 1;
    uint32_t flags = htonl(NFQA_CFG_F_FAIL_OPEN), mask = htonl(NFQA_CFG_F_FAIL_OPEN);
    if (config("fail-open", NFQA_CFG_FLAGS, &flags, sizeof flags, NFQA_CFG_MASK, &mask,
               sizeof mask) != 0)
        return 1;
    if (opt.duplicate > 0) {
        raw = socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_RAW);
        if (raw < 0 || setsockopt(raw, SOL_SOCKET, SO_MARK, &opt.mark, sizeof opt.mark) != 0) {
            perror("faultline-netq: raw socket for duplicates (needs NET_ADMIN and NET_RAW)");
            return 1;
        }
    }
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    fprintf(stderr, "faultline-netq: queue %u bound (pid %d)\n", opt.queue, (int)getpid());

    while (!stop) {
        int64_t now = now_ns();
        while (heap_n > 0 && heap[0].release_ns <= now) {
            struct held h = pop();
            release(&h);
        }
        int timeout = -1;
        if (heap_n > 0) {
            int64_t wait = (heap[0].release_ns - now + 999999) / 1000000;
            timeout = wait > 1000 ? 1000 : (int)wait;
        }
        struct pollfd pfd = {.fd = nl, .events = POLLIN};
        if (poll(&pfd, 1, timeout) > 0)
            receive();
    }
    /* Leaving: nothing stays held. */
    while (heap_n > 0) {
        struct held h = pop();
        release(&h);
    }
    struct nfqnl_msg_config_cmd unbind = {.command = NFQNL_CFG_CMD_UNBIND, .pf = htons(AF_INET)};
    config("unbind queue", NFQA_CFG_CMD, &unbind, sizeof unbind, 0, NULL, 0);
    fprintf(stderr,
            "faultline-netq: queue %u: %" PRIu64 " packets, %" PRIu64 " delayed, %" PRIu64
            " sent early (reorder), %" PRIu64 " duplicated, %" PRIu64 " corrupted, %" PRIu64
            " dropped (bandwidth)\n",
            opt.queue, stats.packets, stats.delayed, stats.reordered, stats.duplicated,
            stats.corrupted, stats.dropped);
    return 0;
}
