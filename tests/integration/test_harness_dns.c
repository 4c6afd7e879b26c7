/*
 * test_harness_dns.c -- proves the harness's DNS server (harness/dns.c)
 * before resolver tests lean on it: queries built byte by byte here are sent
 * over UDP to 127.0.0.1 and the replies parsed here (header, echoed
 * question, answer records with compression pointers followed), for A and
 * AAAA answers, NXDOMAIN, the failure modes, CNAME chains, forgetting a
 * name, the query counters, malformed packets and the 512-byte cap.
 */
#include "harness.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define BW_DNS_A        1
#define BW_DNS_CNAME    5
#define BW_DNS_AAAA     28
#define BW_DNS_WAIT_MS  2000    /* for a reply that must come */
#define BW_DNS_QUIET_MS 300     /* for a reply that must not come */
#define BW_DNS_MAX_RRS  128
#define BW_DNS_BUF      4096

typedef struct {
    char     owner[256];
    int      type;
    int      cls;
    uint32_t ttl;
    uint8_t  rdata[256];
    size_t   rdlen;
    char     target[256];       /* a CNAME's name */
} bw_dns_rr_t;

typedef struct {
    uint8_t     raw[BW_DNS_BUF];
    size_t      len;
    int         id;
    int         flags;          /* the 16 bits after the ID */
    int         rcode;
    int         qd, an, ns, ar;
    size_t      qend;           /* offset past the question */
    bw_dns_rr_t rr[BW_DNS_MAX_RRS];
    int         nrr;            /* records parsed (== an when the packet is sound) */
} bw_dns_reply_t;

typedef struct {
    bw_test_dns_t *dns;
    int            port;
} bw_dns_fixture_t;

/* --------------------------------------------------------------- client */

/* A query with one question for name (dotted) and qtype, class IN; returns its length. */
static size_t bw_dns_query_build(uint8_t *buf, int id, const char *name, int qtype, bool rd)
{
    size_t      n = 0;
    const char *p = name;

    buf[n++] = (uint8_t) (id >> 8);
    buf[n++] = (uint8_t) id;
    buf[n++] = rd ? 0x01 : 0x00;
    buf[n++] = 0;
    memcpy(buf + n, "\0\1\0\0\0\0\0\0", 8);     /* QD 1, AN 0, NS 0, AR 0 */
    n += 8;
    while (*p != '\0') {
        const char *dot = strchr(p, '.');
        size_t      l = dot != NULL ? (size_t) (dot - p) : strlen(p);

        buf[n++] = (uint8_t) l;
        memcpy(buf + n, p, l);
        n += l;
        p += l + (dot != NULL);
    }
    buf[n++] = 0;
    buf[n++] = (uint8_t) (qtype >> 8);
    buf[n++] = (uint8_t) qtype;
    buf[n++] = 0;
    buf[n++] = 1;
    return n;
}

/* Sends pkt to the server and waits up to ms for one datagram: its length, or -1. */
static ssize_t bw_dns_exchange(int port, const void *pkt, size_t len, uint8_t *reply, size_t cap,
                               int ms)
{
    struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons((uint16_t) port) };
    struct pollfd      pfd;
    ssize_t            n = -1;
    int                fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

    if (fd == -1) {
        return -1;
    }
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *) &sin, sizeof(sin)) == 0
        && send(fd, pkt, len, 0) == (ssize_t) len)
    {
        pfd = (struct pollfd) { fd, POLLIN, 0 };
        if (poll(&pfd, 1, bw_test_timeout(ms)) == 1) {
            n = recv(fd, reply, cap, 0);
        }
    }
    close(fd);
    return n;
}

/* Reads a possibly compressed name at *pos into out (dotted); -1 when malformed. */
static int bw_dns_name_read(const uint8_t *p, size_t len, size_t *pos, char *out)
{
    size_t at = *pos, o = 0;
    bool   jumped = false;

    out[0] = '\0';
    for (int steps = 0; steps < 128; steps++) {
        size_t l;

        if (at >= len) {
            return -1;
        }
        l = p[at];
        if ((l & 0xC0) == 0xC0) {
            if (at + 1 >= len) {
                return -1;
            }
            if (!jumped) {
                *pos = at + 2;
            }
            jumped = true;
            at = (l & 0x3F) << 8 | p[at + 1];
            continue;
        }
        if (l == 0) {
            if (!jumped) {
                *pos = at + 1;
            }
            out[o] = '\0';
            return 0;
        }
        if (l > 63 || at + 1 + l > len || o + l + 2 > 256) {
            return -1;
        }
        if (o > 0) {
            out[o++] = '.';
        }
        memcpy(out + o, p + at + 1, l);
        o += l;
        at += 1 + l;
    }
    return -1;
}

/* Parses the header and the answer records of r->raw[0..r->len); -1 when malformed. */
static int bw_dns_reply_parse(bw_dns_reply_t *r)
{
    const uint8_t *p = r->raw;
    char           qname[256];
    size_t         pos = 12;

    if (r->len < 12) {
        return -1;
    }
    r->id = p[0] << 8 | p[1];
    r->flags = p[2] << 8 | p[3];
    r->rcode = p[3] & 0x0F;
    r->qd = p[4] << 8 | p[5];
    r->an = p[6] << 8 | p[7];
    r->ns = p[8] << 8 | p[9];
    r->ar = p[10] << 8 | p[11];
    if (r->qd != 1 || bw_dns_name_read(p, r->len, &pos, qname) != 0 || pos + 4 > r->len) {
        return -1;
    }
    r->qend = pos + 4;
    pos = r->qend;
    for (r->nrr = 0; r->nrr < r->an && r->nrr < BW_DNS_MAX_RRS; r->nrr++) {
        bw_dns_rr_t *rr = &r->rr[r->nrr];

        if (bw_dns_name_read(p, r->len, &pos, rr->owner) != 0 || pos + 10 > r->len) {
            return -1;
        }
        rr->type = p[pos] << 8 | p[pos + 1];
        rr->cls = p[pos + 2] << 8 | p[pos + 3];
        rr->ttl = (uint32_t) p[pos + 4] << 24 | (uint32_t) p[pos + 5] << 16
                  | (uint32_t) p[pos + 6] << 8 | p[pos + 7];
        rr->rdlen = (size_t) (p[pos + 8] << 8 | p[pos + 9]);
        pos += 10;
        if (pos + rr->rdlen > r->len || rr->rdlen > sizeof(rr->rdata)) {
            return -1;
        }
        memcpy(rr->rdata, p + pos, rr->rdlen);
        rr->target[0] = '\0';
        if (rr->type == BW_DNS_CNAME) {
            size_t t = pos;

            if (bw_dns_name_read(p, r->len, &t, rr->target) != 0 || t != pos + rr->rdlen) {
                return -1;
            }
        }
        pos += rr->rdlen;
    }
    return pos == r->len ? 0 : -1;
}

/*
 * Asks the server of the fixture for name/qtype with id and RD set, fails the
 * test unless a sound reply comes that answers this query (same ID, QR set,
 * the question echoed byte for byte).
 */
static void bw_dns_ask(void **state, int id, const char *name, int qtype, bw_dns_reply_t *r)
{
    bw_dns_fixture_t *fx = *state;
    uint8_t           q[512];
    size_t            qlen = bw_dns_query_build(q, id, name, qtype, true);
    ssize_t           n;

    n = bw_dns_exchange(fx->port, q, qlen, r->raw, sizeof(r->raw), BW_DNS_WAIT_MS);
    assert_true(n > 0);
    r->len = (size_t) n;
    assert_int_equal(bw_dns_reply_parse(r), 0);
    assert_int_equal(r->id, id);
    assert_true(r->flags & 0x8000);                 /* QR */
    assert_int_equal((r->flags >> 11) & 0xF, 0);    /* opcode */
    assert_int_equal(r->qend, qlen);
    assert_memory_equal(r->raw + 12, q + 12, qlen - 12);
}

/* True when rr is an A (or, for an addr with ':', AAAA) record of class IN holding addr. */
static bool bw_dns_rr_is_addr(const bw_dns_rr_t *rr, const char *addr)
{
    uint8_t want[16];
    int     af = strchr(addr, ':') != NULL ? AF_INET6 : AF_INET;
    size_t  len = af == AF_INET ? 4 : 16;

    return inet_pton(af, addr, want) == 1 && rr->type == (af == AF_INET ? BW_DNS_A : BW_DNS_AAAA)
           && rr->cls == 1 && rr->rdlen == len && memcmp(rr->rdata, want, len) == 0;
}

/* -------------------------------------------------------------- fixture */

static int bw_dns_setup(void **state)
{
    static bw_dns_fixture_t fx;

    fx.port = 0;
    fx.dns = bw_test_dns_start(&fx.port);
    if (fx.dns == NULL || fx.port <= 0) {
        return -1;
    }
    *state = &fx;
    return 0;
}

static int bw_dns_teardown(void **state)
{
    bw_dns_fixture_t *fx = *state;

    bw_test_dns_stop(fx->dns);
    return 0;
}

static bw_test_dns_t *bw_dns(void **state)
{
    return ((bw_dns_fixture_t *) *state)->dns;
}

/* ---------------------------------------------------------------- tests */

static void test_dns_a_answer_carries_addresses_and_ttl(void **state)
{
    bw_dns_reply_t *r = calloc(1, sizeof(*r));

    assert_int_equal(bw_test_dns_add(bw_dns(state), "www.example.test", "10.1.2.3", 300), 0);
    assert_int_equal(bw_test_dns_add(bw_dns(state), "www.example.test", "10.1.2.4", 300), 0);
    bw_dns_ask(state, 0x1234, "www.example.test", BW_DNS_A, r);
    assert_int_equal(r->rcode, 0);
    assert_true(r->flags & 0x0080);                 /* RA */
    assert_int_equal(r->an, 2);
    assert_string_equal(r->rr[0].owner, "www.example.test");
    assert_true(bw_dns_rr_is_addr(&r->rr[0], "10.1.2.3"));
    assert_int_equal(r->rr[0].ttl, 300);
    assert_string_equal(r->rr[1].owner, "www.example.test");
    assert_true(bw_dns_rr_is_addr(&r->rr[1], "10.1.2.4"));
    assert_int_equal(r->ns, 0);
    assert_int_equal(r->ar, 0);
    free(r);
}

static void test_dns_adding_same_address_again_changes_ttl_only(void **state)
{
    bw_dns_reply_t *r = calloc(1, sizeof(*r));

    assert_int_equal(bw_test_dns_add(bw_dns(state), "dup.test", "192.0.2.1", 30), 0);
    assert_int_equal(bw_test_dns_add(bw_dns(state), "dup.test", "192.0.2.1", 7), 0);
    bw_dns_ask(state, 1, "dup.test", BW_DNS_A, r);
    assert_int_equal(r->an, 1);
    assert_int_equal(r->rr[0].ttl, 7);
    free(r);
}

static void test_dns_aaaa_answer_and_no_a_for_ipv6_only_name(void **state)
{
    bw_dns_reply_t *r = calloc(1, sizeof(*r));

    assert_int_equal(bw_test_dns_add(bw_dns(state), "six.test", "2001:db8::5", 60), 0);
    assert_int_equal(bw_test_dns_add(bw_dns(state), "six.test", "::1", 61), 0);
    bw_dns_ask(state, 2, "six.test", BW_DNS_AAAA, r);
    assert_int_equal(r->rcode, 0);
    assert_int_equal(r->an, 2);
    assert_true(bw_dns_rr_is_addr(&r->rr[0], "2001:db8::5"));
    assert_int_equal(r->rr[0].ttl, 60);
    assert_true(bw_dns_rr_is_addr(&r->rr[1], "::1"));
    assert_int_equal(r->rr[1].ttl, 61);

    /* a known name without records of the type asked: NOERROR, no answer */
    bw_dns_ask(state, 3, "six.test", BW_DNS_A, r);
    assert_int_equal(r->rcode, 0);
    assert_int_equal(r->an, 0);
    free(r);
}

static void test_dns_unknown_name_is_nxdomain(void **state)
{
    bw_dns_reply_t *r = calloc(1, sizeof(*r));

    assert_int_equal(bw_test_dns_add(bw_dns(state), "known.test", "10.0.0.1", 5), 0);
    bw_dns_ask(state, 4, "unknown.test", BW_DNS_A, r);
    assert_int_equal(r->rcode, 3);
    assert_int_equal(r->an, 0);
    bw_dns_ask(state, 5, "sub.known.test", BW_DNS_AAAA, r);
    assert_int_equal(r->rcode, 3);
    free(r);
}

static void test_dns_servfail_refused_and_nxdomain_modes(void **state)
{
    bw_dns_reply_t *r = calloc(1, sizeof(*r));
    bw_test_dns_t  *dns = bw_dns(state);

    assert_int_equal(bw_test_dns_add(dns, "flaky.test", "10.9.9.9", 5), 0);
    assert_int_equal(bw_test_dns_mode(dns, "flaky.test", BW_TEST_DNS_SERVFAIL), 0);
    bw_dns_ask(state, 6, "flaky.test", BW_DNS_A, r);
    assert_int_equal(r->rcode, 2);
    assert_int_equal(r->an, 0);
    assert_int_equal(bw_test_dns_mode(dns, "FLAKY.test.", BW_TEST_DNS_REFUSED), 0);
    bw_dns_ask(state, 7, "flaky.test", BW_DNS_A, r);
    assert_int_equal(r->rcode, 5);
    assert_int_equal(bw_test_dns_mode(dns, "flaky.test", BW_TEST_DNS_NXDOMAIN), 0);
    bw_dns_ask(state, 8, "flaky.test", BW_DNS_A, r);
    assert_int_equal(r->rcode, 3);
    assert_int_equal(r->an, 0);

    /* back to answering: the records were kept */
    assert_int_equal(bw_test_dns_mode(dns, "flaky.test", BW_TEST_DNS_ANSWER), 0);
    bw_dns_ask(state, 9, "flaky.test", BW_DNS_A, r);
    assert_int_equal(r->rcode, 0);
    assert_int_equal(r->an, 1);
    assert_true(bw_dns_rr_is_addr(&r->rr[0], "10.9.9.9"));

    /* a mode on a name without records works too */
    assert_int_equal(bw_test_dns_mode(dns, "bare.test", BW_TEST_DNS_REFUSED), 0);
    bw_dns_ask(state, 10, "bare.test", BW_DNS_AAAA, r);
    assert_int_equal(r->rcode, 5);
    free(r);
}

static void test_dns_silent_mode_sends_nothing_but_counts(void **state)
{
    bw_dns_fixture_t *fx = *state;
    uint8_t           q[512], reply[BW_DNS_BUF];
    size_t            qlen = bw_dns_query_build(q, 11, "quiet.test", BW_DNS_A, true);
    bw_dns_reply_t   *r = calloc(1, sizeof(*r));

    assert_int_equal(bw_test_dns_add(fx->dns, "quiet.test", "10.0.0.2", 5), 0);
    assert_int_equal(bw_test_dns_mode(fx->dns, "quiet.test", BW_TEST_DNS_SILENT), 0);
    assert_int_equal(bw_dns_exchange(fx->port, q, qlen, reply, sizeof(reply), BW_DNS_QUIET_MS),
                     -1);
    assert_int_equal(bw_test_dns_queries(fx->dns, "quiet.test", BW_DNS_A), 1);

    assert_int_equal(bw_test_dns_mode(fx->dns, "quiet.test", BW_TEST_DNS_ANSWER), 0);
    bw_dns_ask(state, 12, "quiet.test", BW_DNS_A, r);
    assert_int_equal(r->an, 1);
    assert_int_equal(bw_test_dns_queries(fx->dns, "quiet.test", BW_DNS_A), 2);
    free(r);
}

static void test_dns_cname_then_target_records(void **state)
{
    bw_dns_reply_t *r = calloc(1, sizeof(*r));
    bw_test_dns_t  *dns = bw_dns(state);

    assert_int_equal(bw_test_dns_add(dns, "real.example.test", "10.0.0.7", 60), 0);
    assert_int_equal(bw_test_dns_add(dns, "real.example.test", "10.0.0.8", 60), 0);
    assert_int_equal(bw_test_dns_cname(dns, "Alias.Example.Test", "real.example.test.", 120), 0);
    bw_dns_ask(state, 13, "alias.example.test", BW_DNS_A, r);
    assert_int_equal(r->rcode, 0);
    assert_int_equal(r->an, 3);
    assert_string_equal(r->rr[0].owner, "alias.example.test");
    assert_int_equal(r->rr[0].type, BW_DNS_CNAME);
    assert_int_equal(r->rr[0].cls, 1);
    assert_int_equal(r->rr[0].ttl, 120);
    assert_string_equal(r->rr[0].target, "real.example.test");
    assert_string_equal(r->rr[1].owner, "real.example.test");
    assert_true(bw_dns_rr_is_addr(&r->rr[1], "10.0.0.7"));
    assert_int_equal(r->rr[1].ttl, 60);
    assert_string_equal(r->rr[2].owner, "real.example.test");
    assert_true(bw_dns_rr_is_addr(&r->rr[2], "10.0.0.8"));

    /* no AAAA at the target: the CNAME alone, NOERROR */
    bw_dns_ask(state, 14, "alias.example.test", BW_DNS_AAAA, r);
    assert_int_equal(r->rcode, 0);
    assert_int_equal(r->an, 1);
    assert_int_equal(r->rr[0].type, BW_DNS_CNAME);
    free(r);
}

static void test_dns_cname_chain_and_dangling_cname(void **state)
{
    bw_dns_reply_t *r = calloc(1, sizeof(*r));
    bw_test_dns_t  *dns = bw_dns(state);

    assert_int_equal(bw_test_dns_add(dns, "c.test", "10.3.3.3", 9), 0);
    assert_int_equal(bw_test_dns_cname(dns, "a.test", "b.test", 11), 0);
    assert_int_equal(bw_test_dns_cname(dns, "b.test", "c.test", 12), 0);
    bw_dns_ask(state, 15, "a.test", BW_DNS_A, r);
    assert_int_equal(r->rcode, 0);
    assert_int_equal(r->an, 3);
    assert_string_equal(r->rr[0].owner, "a.test");
    assert_string_equal(r->rr[0].target, "b.test");
    assert_string_equal(r->rr[1].owner, "b.test");
    assert_string_equal(r->rr[1].target, "c.test");
    assert_int_equal(r->rr[1].ttl, 12);
    assert_string_equal(r->rr[2].owner, "c.test");
    assert_true(bw_dns_rr_is_addr(&r->rr[2], "10.3.3.3"));

    /* the target goes away: the CNAME with NXDOMAIN (RFC 6604) */
    bw_test_dns_forget(dns, "c.test");
    bw_dns_ask(state, 16, "a.test", BW_DNS_A, r);
    assert_int_equal(r->rcode, 3);
    assert_int_equal(r->an, 2);
    assert_int_equal(r->rr[1].type, BW_DNS_CNAME);

    /* a loop ends in SERVFAIL, within 512 bytes */
    assert_int_equal(bw_test_dns_cname(dns, "c.test", "a.test", 13), 0);
    bw_dns_ask(state, 17, "a.test", BW_DNS_A, r);
    assert_int_equal(r->rcode, 2);
    assert_true(r->len <= 512);
    free(r);
}

static void test_dns_forget_makes_name_unknown(void **state)
{
    bw_dns_reply_t *r = calloc(1, sizeof(*r));
    bw_test_dns_t  *dns = bw_dns(state);

    assert_int_equal(bw_test_dns_add(dns, "gone.test", "10.4.4.4", 5), 0);
    assert_int_equal(bw_test_dns_add(dns, "stay.test", "10.5.5.5", 5), 0);
    bw_dns_ask(state, 18, "gone.test", BW_DNS_A, r);
    assert_int_equal(r->rcode, 0);
    assert_int_equal(r->an, 1);
    bw_test_dns_forget(dns, "GONE.test");
    bw_dns_ask(state, 19, "gone.test", BW_DNS_A, r);
    assert_int_equal(r->rcode, 3);
    assert_int_equal(r->an, 0);

    /* the mode goes too */
    assert_int_equal(bw_test_dns_mode(dns, "stay.test", BW_TEST_DNS_SILENT), 0);
    assert_int_equal(bw_test_dns_add(dns, "hush.test", "10.6.6.6", 5), 0);
    assert_int_equal(bw_test_dns_mode(dns, "hush.test", BW_TEST_DNS_SILENT), 0);
    bw_test_dns_forget(dns, "hush.test");
    bw_dns_ask(state, 20, "hush.test", BW_DNS_A, r);
    assert_int_equal(r->rcode, 3);

    /* another name is untouched; the counters stay */
    assert_int_equal(bw_test_dns_mode(dns, "stay.test", BW_TEST_DNS_ANSWER), 0);
    bw_dns_ask(state, 21, "stay.test", BW_DNS_A, r);
    assert_int_equal(r->an, 1);
    assert_true(bw_dns_rr_is_addr(&r->rr[0], "10.5.5.5"));
    assert_int_equal(bw_test_dns_queries(dns, "gone.test", BW_DNS_A), 2);
    free(r);
}

static void test_dns_counts_queries_per_name_and_type(void **state)
{
    bw_dns_reply_t *r = calloc(1, sizeof(*r));
    bw_test_dns_t  *dns = bw_dns(state);

    assert_int_equal(bw_test_dns_queries(dns, NULL, 0), 0);
    assert_int_equal(bw_test_dns_add(dns, "one.test", "10.0.0.1", 5), 0);
    bw_dns_ask(state, 22, "one.test", BW_DNS_A, r);
    bw_dns_ask(state, 23, "ONE.Test", BW_DNS_A, r);
    bw_dns_ask(state, 24, "one.test", BW_DNS_AAAA, r);
    bw_dns_ask(state, 25, "two.test", BW_DNS_A, r);
    assert_int_equal(bw_test_dns_queries(dns, "one.test", BW_DNS_A), 2);
    assert_int_equal(bw_test_dns_queries(dns, "One.Test.", BW_DNS_A), 2);
    assert_int_equal(bw_test_dns_queries(dns, "one.test", BW_DNS_AAAA), 1);
    assert_int_equal(bw_test_dns_queries(dns, "one.test", 0), 3);
    assert_int_equal(bw_test_dns_queries(dns, "two.test", BW_DNS_A), 1);
    assert_int_equal(bw_test_dns_queries(dns, "two.test", BW_DNS_AAAA), 0);
    assert_int_equal(bw_test_dns_queries(dns, "three.test", 0), 0);
    assert_int_equal(bw_test_dns_queries(dns, NULL, BW_DNS_A), 3);
    assert_int_equal(bw_test_dns_queries(dns, NULL, 0), 4);
    free(r);
}

static void test_dns_echoes_id_question_and_rd(void **state)
{
    bw_dns_fixture_t *fx = *state;
    uint8_t           q[512], reply[BW_DNS_BUF];
    size_t            qlen;
    ssize_t           n;
    bw_dns_reply_t   *r = calloc(1, sizeof(*r));

    assert_int_equal(bw_test_dns_add(fx->dns, "mixed.case.test", "10.7.7.7", 5), 0);
    /* 0x20 mixed case: the question comes back as sent, the answer still found */
    bw_dns_ask(state, 0xBEEF, "MiXeD.cAsE.TeSt", BW_DNS_A, r);
    assert_int_equal(r->flags & 0x0100, 0x0100);    /* RD copied */
    assert_int_equal(r->an, 1);
    assert_memory_equal(r->raw + 13, "MiXeD", 5);

    qlen = bw_dns_query_build(q, 0x0102, "mixed.case.test", BW_DNS_A, false);
    n = bw_dns_exchange(fx->port, q, qlen, reply, sizeof(reply), BW_DNS_WAIT_MS);
    assert_true(n >= (ssize_t) qlen);
    assert_int_equal(reply[0], 0x01);
    assert_int_equal(reply[1], 0x02);
    assert_int_equal(reply[2] & 0x01, 0);           /* RD clear, as asked */
    assert_int_equal(reply[2] & 0x80, 0x80);        /* QR */
    assert_int_equal(reply[3] & 0x80, 0x80);        /* RA */
    free(r);
}

static void test_dns_ignores_malformed_packets(void **state)
{
    bw_dns_fixture_t *fx = *state;
    uint8_t           q[512], bad[512], reply[BW_DNS_BUF];
    size_t            qlen = bw_dns_query_build(q, 30, "ok.test", BW_DNS_A, true);
    bw_dns_reply_t   *r = calloc(1, sizeof(*r));

    assert_int_equal(bw_test_dns_add(fx->dns, "ok.test", "10.8.8.8", 5), 0);

    /* cut short inside the question */
    assert_int_equal(bw_dns_exchange(fx->port, q, qlen - 3, reply, sizeof(reply), 100), -1);
    /* a response (QR=1) */
    memcpy(bad, q, qlen);
    bad[2] |= 0x80;
    assert_int_equal(bw_dns_exchange(fx->port, bad, qlen, reply, sizeof(reply), 100), -1);
    /* opcode 2 (STATUS) */
    memcpy(bad, q, qlen);
    bad[2] |= 0x10;
    assert_int_equal(bw_dns_exchange(fx->port, bad, qlen, reply, sizeof(reply), 100), -1);
    /* two questions claimed */
    memcpy(bad, q, qlen);
    bad[5] = 2;
    assert_int_equal(bw_dns_exchange(fx->port, bad, qlen, reply, sizeof(reply), 100), -1);
    /* a compression pointer in QNAME */
    memcpy(bad, q, 12);
    memcpy(bad + 12, "\xC0\x0C\0\1\0\1", 6);
    assert_int_equal(bw_dns_exchange(fx->port, bad, 18, reply, sizeof(reply), 100), -1);
    /* class CH */
    memcpy(bad, q, qlen);
    bad[qlen - 1] = 3;
    assert_int_equal(bw_dns_exchange(fx->port, bad, qlen, reply, sizeof(reply), 100), -1);
    /* a header alone */
    assert_int_equal(bw_dns_exchange(fx->port, q, 11, reply, sizeof(reply), 100), -1);

    assert_int_equal(bw_test_dns_queries(fx->dns, NULL, 0), 0);
    bw_dns_ask(state, 31, "ok.test", BW_DNS_A, r);
    assert_int_equal(r->an, 1);
    assert_int_equal(bw_test_dns_queries(fx->dns, NULL, 0), 1);
    free(r);
}

static void test_dns_reply_capped_at_512_bytes(void **state)
{
    bw_dns_reply_t *r = calloc(1, sizeof(*r));
    char            addr[32];

    for (int i = 0; i < 100; i++) {
        snprintf(addr, sizeof(addr), "10.10.%d.%d", i / 250, i % 250 + 1);
        assert_int_equal(bw_test_dns_add(bw_dns(state), "many.test", addr, 5), 0);
    }
    bw_dns_ask(state, 32, "many.test", BW_DNS_A, r);
    assert_int_equal(r->rcode, 0);
    assert_true(r->len <= 512);
    assert_true(r->an > 20);                        /* (512 - 12 - 15) / 16 = 30 fit */
    assert_true(r->an < 100);
    assert_int_equal(r->nrr, r->an);
    assert_true(bw_dns_rr_is_addr(&r->rr[0], "10.10.0.1"));
    free(r);
}

static void test_dns_stays_up_across_many_queries(void **state)
{
    bw_dns_reply_t *r = calloc(1, sizeof(*r));

    assert_int_equal(bw_test_dns_add(bw_dns(state), "busy.test", "10.11.0.1", 5), 0);
    for (int i = 0; i < 300; i++) {
        bw_dns_ask(state, 1000 + i, i % 2 ? "busy.test" : "nobody.test", BW_DNS_A, r);
        assert_int_equal(r->rcode, i % 2 ? 0 : 3);
    }
    assert_int_equal(bw_test_dns_queries(bw_dns(state), "busy.test", BW_DNS_A), 150);
    assert_int_equal(bw_test_dns_queries(bw_dns(state), "nobody.test", BW_DNS_A), 150);
    free(r);
}

static void test_dns_api_rejects_bad_arguments(void **state)
{
    bw_test_dns_t *dns = bw_dns(state);
    char           long_label[80];

    memset(long_label, 'x', 64);
    strcpy(long_label + 64, ".test");
    assert_int_equal(bw_test_dns_add(dns, "bad.test", "10.0.0.256", 5), -1);
    assert_int_equal(bw_test_dns_add(dns, "bad.test", "not-an-address", 5), -1);
    assert_int_equal(bw_test_dns_add(dns, "bad.test", "1::2::3", 5), -1);
    assert_int_equal(bw_test_dns_add(dns, "", "10.0.0.1", 5), -1);
    assert_int_equal(bw_test_dns_add(dns, "a..test", "10.0.0.1", 5), -1);
    assert_int_equal(bw_test_dns_add(dns, long_label, "10.0.0.1", 5), -1);
    assert_int_equal(bw_test_dns_add(NULL, "ok.test", "10.0.0.1", 5), -1);
    assert_int_equal(bw_test_dns_cname(dns, "x.test", "", 5), -1);
    assert_int_equal(bw_test_dns_mode(dns, "x.test", (bw_test_dns_mode_t) 99), -1);
    assert_int_equal(bw_test_dns_queries(NULL, NULL, 0), 0);
    bw_test_dns_forget(dns, "never.added.test");
    bw_test_dns_stop(NULL);
    long_label[0] = 'y';                            /* 63 bytes is the limit */
    memmove(long_label + 63, long_label + 64, strlen(long_label + 64) + 1);
    assert_int_equal(bw_test_dns_add(dns, long_label, "10.0.0.1", 5), 0);
}

static void test_dns_two_servers_are_independent(void **state)
{
    bw_dns_fixture_t *fx = *state;
    int               port2 = 0;
    bw_test_dns_t    *other = bw_test_dns_start(&port2);
    uint8_t           q[512], reply[BW_DNS_BUF];
    size_t            qlen = bw_dns_query_build(q, 40, "solo.test", BW_DNS_A, true);
    ssize_t           n;

    assert_non_null(other);
    assert_int_not_equal(port2, fx->port);
    assert_int_equal(bw_test_dns_add(fx->dns, "solo.test", "10.12.0.1", 5), 0);
    n = bw_dns_exchange(port2, q, qlen, reply, sizeof(reply), BW_DNS_WAIT_MS);
    assert_true(n >= 12);
    assert_int_equal(reply[3] & 0x0F, 3);           /* the other server does not know it */
    assert_int_equal(bw_test_dns_queries(other, "solo.test", BW_DNS_A), 1);
    assert_int_equal(bw_test_dns_queries(fx->dns, "solo.test", BW_DNS_A), 0);
    bw_test_dns_stop(other);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define BW_DNS_TEST(t) cmocka_unit_test_setup_teardown(t, bw_dns_setup, bw_dns_teardown)
        BW_DNS_TEST(test_dns_a_answer_carries_addresses_and_ttl),
        BW_DNS_TEST(test_dns_adding_same_address_again_changes_ttl_only),
        BW_DNS_TEST(test_dns_aaaa_answer_and_no_a_for_ipv6_only_name),
        BW_DNS_TEST(test_dns_unknown_name_is_nxdomain),
        BW_DNS_TEST(test_dns_servfail_refused_and_nxdomain_modes),
        BW_DNS_TEST(test_dns_silent_mode_sends_nothing_but_counts),
        BW_DNS_TEST(test_dns_cname_then_target_records),
        BW_DNS_TEST(test_dns_cname_chain_and_dangling_cname),
        BW_DNS_TEST(test_dns_forget_makes_name_unknown),
        BW_DNS_TEST(test_dns_counts_queries_per_name_and_type),
        BW_DNS_TEST(test_dns_echoes_id_question_and_rd),
        BW_DNS_TEST(test_dns_ignores_malformed_packets),
        BW_DNS_TEST(test_dns_reply_capped_at_512_bytes),
        BW_DNS_TEST(test_dns_stays_up_across_many_queries),
        BW_DNS_TEST(test_dns_api_rejects_bad_arguments),
        BW_DNS_TEST(test_dns_two_servers_are_independent),
#undef BW_DNS_TEST
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
