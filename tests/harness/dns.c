/*
 * dns.c -- a DNS server for the tests of the resolver: UDP on 127.0.0.1,
 * answered by a thread of the test process from tables the test fills (A,
 * AAAA and CNAME records, and per-name failure modes), counting the queries
 * it receives. Only what a stub resolver sends is understood: one question
 * of class IN (RFC 1035 section 4.1); anything else gets no reply.
 */
#include "harness.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define BW_TEST_DNS_NAME_MAX   256     /* dotted text of a name, NUL included */
#define BW_TEST_DNS_WIRE_MAX   255     /* a name on the wire (RFC 1035 2.3.4) */
#define BW_TEST_DNS_LABEL_MAX  63
#define BW_TEST_DNS_UDP_MAX    512     /* replies stay within plain DNS's limit */
#define BW_TEST_DNS_RECV_MAX   4096    /* queries may be larger (EDNS records) */
#define BW_TEST_DNS_POLL_MS    50      /* how fast bw_test_dns_stop() is seen */
#define BW_TEST_DNS_BURST      64      /* packets read per wake-up */
#define BW_TEST_DNS_CHAIN_MAX  8       /* CNAMEs followed in one answer */
#define BW_TEST_DNS_HEADER     12

#define BW_TEST_DNS_TYPE_A     1
#define BW_TEST_DNS_TYPE_CNAME 5
#define BW_TEST_DNS_TYPE_AAAA  28
#define BW_TEST_DNS_CLASS_IN   1

#define BW_TEST_DNS_RCODE_NOERROR  0
#define BW_TEST_DNS_RCODE_SERVFAIL 2
#define BW_TEST_DNS_RCODE_NXDOMAIN 3
#define BW_TEST_DNS_RCODE_REFUSED  5

/* One address record. */
typedef struct {
    uint16_t type;                      /* BW_TEST_DNS_TYPE_A or _AAAA */
    uint32_t ttl;
    uint8_t  addr[16];                  /* 4 or 16 bytes used */
} bw_test_dns_rr_t;

/* Everything the test said about one name. */
typedef struct {
    char               name[BW_TEST_DNS_NAME_MAX];  /* lowercase, no trailing dot */
    bw_test_dns_mode_t mode;
    char               cname[BW_TEST_DNS_NAME_MAX]; /* "" when not an alias */
    uint32_t           cname_ttl;
    bw_test_dns_rr_t  *rrs;
    size_t             nrrs;
} bw_test_dns_entry_t;

/* Queries received for one (name, qtype). */
typedef struct {
    char name[BW_TEST_DNS_NAME_MAX];
    int  qtype;
    int  count;
} bw_test_dns_count_t;

/* A parsed query. */
typedef struct {
    uint16_t id;
    bool     rd;
    uint16_t qtype;
    size_t   qend;                      /* offset just past the question */
    char     name[BW_TEST_DNS_NAME_MAX];
} bw_test_dns_query_t;

/* A reply being written; full is set when something did not fit. */
typedef struct {
    uint8_t buf[BW_TEST_DNS_UDP_MAX];
    size_t  len;
    bool    full;
} bw_test_dns_out_t;

struct bw_test_dns_s {
    int                  fd;
    pthread_t            thread;
    bool                 thread_started;
    atomic_bool          stop;
    pthread_mutex_t      lock;          /* guards everything below */
    bw_test_dns_entry_t *entries;
    size_t               nentries;
    bw_test_dns_count_t *counts;
    size_t               ncounts;
};

/* ------------------------------------------------------------ names */

/*
 * Copies name lowercased, without one trailing dot, into out; checks that it
 * is a valid non-root name (labels of 1..63 bytes, at most 255 on the wire).
 */
static int bw_test_dns_name_norm(const char *name, char *out)
{
    size_t len, label = 0;

    if (name == NULL) {
        return -1;
    }
    len = strlen(name);
    if (len > 0 && name[len - 1] == '.') {
        len--;
    }
    if (len == 0 || len > BW_TEST_DNS_WIRE_MAX - 2) {
        return -1;
    }
    for (size_t i = 0; i < len; i++) {
        char c = name[i];

        if (c == '.') {
            if (label == 0) {
                return -1;
            }
            label = 0;
        } else if (++label > BW_TEST_DNS_LABEL_MAX) {
            return -1;
        }
        out[i] = (c >= 'A' && c <= 'Z') ? (char) (c - 'A' + 'a') : c;
    }
    out[len] = '\0';
    return label == 0 ? -1 : 0;
}

/* The entry for a normalized name, or NULL. Lock held. */
static bw_test_dns_entry_t *bw_test_dns_entry_find_locked(bw_test_dns_t *dns, const char *name)
{
    for (size_t i = 0; i < dns->nentries; i++) {
        if (strcmp(dns->entries[i].name, name) == 0) {
            return &dns->entries[i];
        }
    }
    return NULL;
}

/* The entry for a normalized name, created (mode ANSWER, empty) if missing. Lock held. */
static bw_test_dns_entry_t *bw_test_dns_entry_get_locked(bw_test_dns_t *dns, const char *name)
{
    bw_test_dns_entry_t *e = bw_test_dns_entry_find_locked(dns, name);
    bw_test_dns_entry_t *grown;

    if (e != NULL) {
        return e;
    }
    grown = realloc(dns->entries, (dns->nentries + 1) * sizeof(*grown));
    if (grown == NULL) {
        return NULL;
    }
    dns->entries = grown;
    e = &dns->entries[dns->nentries++];
    memset(e, 0, sizeof(*e));
    strcpy(e->name, name);
    e->mode = BW_TEST_DNS_ANSWER;
    return e;
}

/* A name the server knows: it has records or is an alias. */
static bool bw_test_dns_entry_known(const bw_test_dns_entry_t *e)
{
    return e != NULL && (e->nrrs > 0 || e->cname[0] != '\0');
}

/* ---------------------------------------------------------- counting */

/* One more query of (name, qtype); a failed allocation loses the count only. Lock held. */
static void bw_test_dns_count_add_locked(bw_test_dns_t *dns, const char *name, int qtype)
{
    bw_test_dns_count_t *grown;

    for (size_t i = 0; i < dns->ncounts; i++) {
        if (dns->counts[i].qtype == qtype && strcmp(dns->counts[i].name, name) == 0) {
            dns->counts[i].count++;
            return;
        }
    }
    grown = realloc(dns->counts, (dns->ncounts + 1) * sizeof(*grown));
    if (grown == NULL) {
        return;
    }
    dns->counts = grown;
    snprintf(grown[dns->ncounts].name, BW_TEST_DNS_NAME_MAX, "%s", name);
    grown[dns->ncounts].qtype = qtype;
    grown[dns->ncounts].count = 1;
    dns->ncounts++;
}

/* ----------------------------------------------------------- parsing */

/*
 * Parses a query: header with QR=0, opcode 0, one question whose QNAME is
 * plain labels (no compression, no '.' or NUL inside a label), class IN.
 * The name is stored lowercased and dotted ("" for the root). 0 or -1.
 */
static int bw_test_dns_query_parse(const uint8_t *pkt, size_t len, bw_test_dns_query_t *q)
{
    size_t pos = BW_TEST_DNS_HEADER, out = 0;

    if (len < BW_TEST_DNS_HEADER || (pkt[2] & 0x80) || (pkt[2] & 0x78)
        || pkt[4] != 0 || pkt[5] != 1)
    {
        return -1;
    }
    q->id = (uint16_t) (pkt[0] << 8 | pkt[1]);
    q->rd = (pkt[2] & 0x01) != 0;
    for (int labels = 0; ; labels++) {
        size_t l;

        if (pos >= len || labels > BW_TEST_DNS_WIRE_MAX / 2) {
            return -1;
        }
        l = pkt[pos++];
        if (l == 0) {
            break;
        }
        if (l > BW_TEST_DNS_LABEL_MAX || pos + l > len
            || pos - BW_TEST_DNS_HEADER + l >= BW_TEST_DNS_WIRE_MAX)
        {
            return -1;
        }
        if (out > 0) {
            q->name[out++] = '.';
        }
        for (size_t i = 0; i < l; i++) {
            uint8_t c = pkt[pos + i];

            if (c == '.' || c == '\0') {
                return -1;
            }
            q->name[out++] = (char) ((c >= 'A' && c <= 'Z') ? c - 'A' + 'a' : c);
        }
        pos += l;
    }
    q->name[out] = '\0';
    if (pos + 4 > len || pkt[pos + 2] != 0 || pkt[pos + 3] != BW_TEST_DNS_CLASS_IN) {
        return -1;
    }
    q->qtype = (uint16_t) (pkt[pos] << 8 | pkt[pos + 1]);
    q->qend = pos + 4;
    return 0;
}

/* ----------------------------------------------------------- writing */

static void bw_test_dns_out_bytes(bw_test_dns_out_t *o, const void *data, size_t n)
{
    if (o->full || o->len + n > sizeof(o->buf)) {
        o->full = true;
        return;
    }
    memcpy(o->buf + o->len, data, n);
    o->len += n;
}

static void bw_test_dns_out_u16(bw_test_dns_out_t *o, unsigned v)
{
    uint8_t b[2] = { (uint8_t) (v >> 8), (uint8_t) v };

    bw_test_dns_out_bytes(o, b, sizeof(b));
}

static void bw_test_dns_out_u32(bw_test_dns_out_t *o, uint32_t v)
{
    uint8_t b[4] = { (uint8_t) (v >> 24), (uint8_t) (v >> 16), (uint8_t) (v >> 8), (uint8_t) v };

    bw_test_dns_out_bytes(o, b, sizeof(b));
}

/* A normalized dotted name as uncompressed labels. */
static void bw_test_dns_out_name(bw_test_dns_out_t *o, const char *name)
{
    const char *p = name;

    while (*p != '\0') {
        const char *dot = strchr(p, '.');
        size_t      l = dot != NULL ? (size_t) (dot - p) : strlen(p);
        uint8_t     lb = (uint8_t) l;

        bw_test_dns_out_bytes(o, &lb, 1);
        bw_test_dns_out_bytes(o, p, l);
        p += l + (dot != NULL);
    }
    bw_test_dns_out_bytes(o, "", 1);
}

/*
 * Appends one resource record whose owner is a compression pointer to
 * owner_off; rdata comes from data, or is the name cname when data is NULL.
 * Returns the offset of the rdata, or 0 (nothing appended) when it does not fit.
 */
static size_t bw_test_dns_out_rr(bw_test_dns_out_t *o, size_t owner_off, uint16_t type,
                                 uint32_t ttl, const uint8_t *data, size_t dlen,
                                 const char *cname)
{
    size_t start = o->len, rdata;

    bw_test_dns_out_u16(o, 0xC000 | (unsigned) owner_off);
    bw_test_dns_out_u16(o, type);
    bw_test_dns_out_u16(o, BW_TEST_DNS_CLASS_IN);
    bw_test_dns_out_u32(o, ttl);
    bw_test_dns_out_u16(o, 0);                  /* RDLENGTH, set below */
    rdata = o->len;
    if (data != NULL) {
        bw_test_dns_out_bytes(o, data, dlen);
    } else {
        bw_test_dns_out_name(o, cname);
    }
    if (o->full) {
        o->len = start;
        o->full = false;
        return 0;
    }
    o->buf[rdata - 2] = (uint8_t) ((o->len - rdata) >> 8);
    o->buf[rdata - 1] = (uint8_t) (o->len - rdata);
    return rdata;
}

/* ----------------------------------------------------------- answers */

/*
 * Writes the answer section for q: the CNAME chain from e (followed as a
 * recursive resolver does) and then the last name's records of the type
 * asked, each record's owner pointing at the name it belongs to. Returns the
 * record count; *rcode becomes NXDOMAIN when the chain ends at an unknown
 * name (RFC 6604 section 3) and SERVFAIL when it is longer than we follow.
 * Lock held.
 */
static int bw_test_dns_answer_put_locked(bw_test_dns_t *dns, const bw_test_dns_query_t *q,
                                         const bw_test_dns_entry_t *e, bw_test_dns_out_t *o,
                                         int *rcode)
{
    size_t owner = BW_TEST_DNS_HEADER;          /* the question's name */
    int    n = 0;

    for (int hops = 0; e->cname[0] != '\0'; hops++) {
        if (hops == BW_TEST_DNS_CHAIN_MAX) {
            *rcode = BW_TEST_DNS_RCODE_SERVFAIL;
            return n;
        }
        owner = bw_test_dns_out_rr(o, owner, BW_TEST_DNS_TYPE_CNAME, e->cname_ttl, NULL, 0,
                                   e->cname);
        if (owner == 0) {
            return n;
        }
        n++;
        if (q->qtype == BW_TEST_DNS_TYPE_CNAME) {
            return n;
        }
        e = bw_test_dns_entry_find_locked(dns, e->cname);
        if (!bw_test_dns_entry_known(e)) {
            *rcode = BW_TEST_DNS_RCODE_NXDOMAIN;
            return n;
        }
    }
    for (size_t i = 0; i < e->nrrs; i++) {
        const bw_test_dns_rr_t *rr = &e->rrs[i];
        size_t dlen = rr->type == BW_TEST_DNS_TYPE_A ? 4 : 16;

        if (rr->type != q->qtype) {
            continue;
        }
        if (bw_test_dns_out_rr(o, owner, rr->type, rr->ttl, rr->addr, dlen, NULL) == 0) {
            break;                              /* capped at 512 bytes */
        }
        n++;
    }
    return n;
}

/*
 * Counts the query and builds its reply into o. -1 when the name's mode is
 * SILENT (no reply). Lock held.
 */
static int bw_test_dns_reply_build_locked(bw_test_dns_t *dns, const uint8_t *pkt,
                                          const bw_test_dns_query_t *q, bw_test_dns_out_t *o)
{
    const bw_test_dns_entry_t *e;
    int                        rcode = BW_TEST_DNS_RCODE_NOERROR, an = 0;

    bw_test_dns_count_add_locked(dns, q->name, q->qtype);
    e = bw_test_dns_entry_find_locked(dns, q->name);
    switch (e != NULL ? e->mode : BW_TEST_DNS_ANSWER) {
    case BW_TEST_DNS_SILENT:
        return -1;
    case BW_TEST_DNS_NXDOMAIN:
        rcode = BW_TEST_DNS_RCODE_NXDOMAIN;
        break;
    case BW_TEST_DNS_SERVFAIL:
        rcode = BW_TEST_DNS_RCODE_SERVFAIL;
        break;
    case BW_TEST_DNS_REFUSED:
        rcode = BW_TEST_DNS_RCODE_REFUSED;
        break;
    case BW_TEST_DNS_ANSWER:
        rcode = bw_test_dns_entry_known(e) ? BW_TEST_DNS_RCODE_NOERROR
                                           : BW_TEST_DNS_RCODE_NXDOMAIN;
        break;
    }
    /* header: QR=1, AA=1, RD copied, RA=1; counts filled in below */
    o->len = 0;
    o->full = false;
    bw_test_dns_out_u16(o, q->id);
    bw_test_dns_out_u16(o, 0x8400 | (q->rd ? 0x0100 : 0) | 0x0080);
    bw_test_dns_out_u16(o, 1);
    bw_test_dns_out_u16(o, 0);
    bw_test_dns_out_u16(o, 0);
    bw_test_dns_out_u16(o, 0);
    bw_test_dns_out_bytes(o, pkt + BW_TEST_DNS_HEADER, q->qend - BW_TEST_DNS_HEADER);
    if (o->full) {
        return -1;                              /* cannot happen: the name is <= 255 */
    }
    if (rcode == BW_TEST_DNS_RCODE_NOERROR && e != NULL) {
        an = bw_test_dns_answer_put_locked(dns, q, e, o, &rcode);
    }
    o->buf[3] = (uint8_t) (o->buf[3] | rcode);
    o->buf[6] = (uint8_t) (an >> 8);
    o->buf[7] = (uint8_t) an;
    return 0;
}

/* ------------------------------------------------------------ thread */

/* Reads and answers one datagram. -1 when there is none to read. */
static int bw_test_dns_packet_handle(bw_test_dns_t *dns)
{
    uint8_t             pkt[BW_TEST_DNS_RECV_MAX];
    bw_test_dns_query_t q;
    bw_test_dns_out_t   o;
    struct sockaddr_in  peer;
    socklen_t           plen = sizeof(peer);
    ssize_t             n;
    int                 rc;

    n = recvfrom(dns->fd, pkt, sizeof(pkt), MSG_DONTWAIT, (struct sockaddr *) &peer, &plen);
    if (n < 0) {
        return errno == EINTR ? 0 : -1;
    }
    if (bw_test_dns_query_parse(pkt, (size_t) n, &q) != 0) {
        return 0;                               /* malformed or not a query: ignored */
    }
    pthread_mutex_lock(&dns->lock);
    rc = bw_test_dns_reply_build_locked(dns, pkt, &q, &o);
    pthread_mutex_unlock(&dns->lock);
    if (rc == 0) {
        (void) sendto(dns->fd, o.buf, o.len, MSG_DONTWAIT, (struct sockaddr *) &peer, plen);
    }
    return 0;
}

/* The server thread: answers until bw_test_dns_stop() sets dns->stop. */
static void *bw_test_dns_serve(void *arg)
{
    bw_test_dns_t *dns = arg;

    while (!atomic_load(&dns->stop)) {
        struct pollfd pfd = { dns->fd, POLLIN, 0 };

        if (poll(&pfd, 1, BW_TEST_DNS_POLL_MS) <= 0) {
            continue;
        }
        for (int i = 0; i < BW_TEST_DNS_BURST; i++) {
            if (bw_test_dns_packet_handle(dns) != 0) {
                break;
            }
        }
    }
    return NULL;
}

/* A UDP socket bound to a free port of 127.0.0.1; the port goes to *port. */
static int bw_test_dns_socket_open(int *port)
{
    struct sockaddr_in sin = { .sin_family = AF_INET };
    socklen_t          slen = sizeof(sin);
    int                fd;

    fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd == -1) {
        return -1;
    }
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, (struct sockaddr *) &sin, sizeof(sin)) == -1
        || getsockname(fd, (struct sockaddr *) &sin, &slen) == -1)
    {
        close(fd);
        return -1;
    }
    *port = ntohs(sin.sin_port);
    return fd;
}

/* ------------------------------------------------------------- API */

bw_test_dns_t *bw_test_dns_start(int *port)
{
    bw_test_dns_t *dns = calloc(1, sizeof(*dns));
    sigset_t       all, old;
    int            p = 0;

    if (dns == NULL) {
        return NULL;
    }
    dns->fd = bw_test_dns_socket_open(&p);
    if (dns->fd == -1 || pthread_mutex_init(&dns->lock, NULL) != 0) {
        fprintf(stderr, "harness: dns server socket: %s\n", strerror(errno));
        if (dns->fd != -1) {
            close(dns->fd);
        }
        free(dns);
        return NULL;
    }
    atomic_init(&dns->stop, false);
    /* the thread takes no signal: they stay with the test's main thread */
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    dns->thread_started = pthread_create(&dns->thread, NULL, bw_test_dns_serve, dns) == 0;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (!dns->thread_started) {
        fprintf(stderr, "harness: dns server thread could not start\n");
        bw_test_dns_stop(dns);
        return NULL;
    }
    if (port != NULL) {
        *port = p;
    }
    return dns;
}

void bw_test_dns_stop(bw_test_dns_t *dns)
{
    if (dns == NULL) {
        return;
    }
    if (dns->thread_started) {
        atomic_store(&dns->stop, true);
        pthread_join(dns->thread, NULL);
    }
    close(dns->fd);
    for (size_t i = 0; i < dns->nentries; i++) {
        free(dns->entries[i].rrs);
    }
    free(dns->entries);
    free(dns->counts);
    pthread_mutex_destroy(&dns->lock);
    free(dns);
}

int bw_test_dns_add(bw_test_dns_t *dns, const char *name, const char *addr, unsigned ttl)
{
    char                 norm[BW_TEST_DNS_NAME_MAX];
    bw_test_dns_rr_t     rr = { .ttl = ttl };
    bw_test_dns_entry_t *e;
    int                  rc = -1;

    if (dns == NULL || addr == NULL || bw_test_dns_name_norm(name, norm) != 0) {
        return -1;
    }
    rr.type = strchr(addr, ':') != NULL ? BW_TEST_DNS_TYPE_AAAA : BW_TEST_DNS_TYPE_A;
    if (inet_pton(rr.type == BW_TEST_DNS_TYPE_A ? AF_INET : AF_INET6, addr, rr.addr) != 1) {
        return -1;
    }
    pthread_mutex_lock(&dns->lock);
    e = bw_test_dns_entry_get_locked(dns, norm);
    for (size_t i = 0; e != NULL && i < e->nrrs; i++) {
        if (e->rrs[i].type == rr.type && memcmp(e->rrs[i].addr, rr.addr, 16) == 0) {
            e->rrs[i].ttl = ttl;                /* an RRset holds no duplicates */
            rc = 0;
            e = NULL;
        }
    }
    if (e != NULL) {
        bw_test_dns_rr_t *grown = realloc(e->rrs, (e->nrrs + 1) * sizeof(*grown));

        if (grown != NULL) {
            e->rrs = grown;
            e->rrs[e->nrrs++] = rr;
            rc = 0;
        }
    }
    pthread_mutex_unlock(&dns->lock);
    return rc;
}

int bw_test_dns_cname(bw_test_dns_t *dns, const char *alias, const char *target, unsigned ttl)
{
    char                 from[BW_TEST_DNS_NAME_MAX], to[BW_TEST_DNS_NAME_MAX];
    bw_test_dns_entry_t *e;

    if (dns == NULL || bw_test_dns_name_norm(alias, from) != 0
        || bw_test_dns_name_norm(target, to) != 0)
    {
        return -1;
    }
    pthread_mutex_lock(&dns->lock);
    e = bw_test_dns_entry_get_locked(dns, from);
    if (e != NULL) {
        strcpy(e->cname, to);
        e->cname_ttl = ttl;
    }
    pthread_mutex_unlock(&dns->lock);
    return e != NULL ? 0 : -1;
}

int bw_test_dns_mode(bw_test_dns_t *dns, const char *name, bw_test_dns_mode_t mode)
{
    char                 norm[BW_TEST_DNS_NAME_MAX];
    bw_test_dns_entry_t *e;

    if (dns == NULL || (unsigned) mode > BW_TEST_DNS_SILENT
        || bw_test_dns_name_norm(name, norm) != 0)
    {
        return -1;
    }
    pthread_mutex_lock(&dns->lock);
    e = bw_test_dns_entry_get_locked(dns, norm);
    if (e != NULL) {
        e->mode = mode;
    }
    pthread_mutex_unlock(&dns->lock);
    return e != NULL ? 0 : -1;
}

void bw_test_dns_forget(bw_test_dns_t *dns, const char *name)
{
    char                 norm[BW_TEST_DNS_NAME_MAX];
    bw_test_dns_entry_t *e;

    if (dns == NULL || bw_test_dns_name_norm(name, norm) != 0) {
        return;
    }
    pthread_mutex_lock(&dns->lock);
    e = bw_test_dns_entry_find_locked(dns, norm);
    if (e != NULL) {
        free(e->rrs);
        *e = dns->entries[--dns->nentries];     /* the last entry takes its place */
    }
    pthread_mutex_unlock(&dns->lock);
}

int bw_test_dns_queries(bw_test_dns_t *dns, const char *name, int qtype)
{
    char norm[BW_TEST_DNS_NAME_MAX];
    int  total = 0;

    if (dns == NULL || (name != NULL && bw_test_dns_name_norm(name, norm) != 0)) {
        return 0;
    }
    pthread_mutex_lock(&dns->lock);
    for (size_t i = 0; i < dns->ncounts; i++) {
        const bw_test_dns_count_t *c = &dns->counts[i];

        if ((name == NULL || strcmp(c->name, norm) == 0) && (qtype == 0 || c->qtype == qtype)) {
            total += c->count;
        }
    }
    pthread_mutex_unlock(&dns->lock);
    return total;
}
