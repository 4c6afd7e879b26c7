/*
 * test_cidr.c -- address and network parsing and matching (core/cidr.c):
 * the forms nginx 1.22 accepts and rejects in allow/deny/set_real_ip_from
 * (each parse row was also fed to `nginx -t`), edge prefix lengths,
 * IPv4-mapped IPv6 peers, unix-domain peers, and address:port parsing.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "cidr.h"

#include <arpa/inet.h>
#include <sys/un.h>

typedef struct {
    const char *text;
    bw_rc_t     want; /* BW_OK, BW_DONE (low bits set), BW_ERROR */
} bw_test_cidr_case_t;

static bw_rc_t
bw_test_cidr_parse(const char *text, bw_cidr_t *cidr)
{
    bw_str_t s = {strlen(text), (u_char *) text};
    return bw_cidr_parse(&s, cidr);
}

static void
test_cidr_parse_accepts_and_rejects_like_nginx(void **state)
{
    static const bw_test_cidr_case_t cases[] = {
        {"10.0.0.0/8", BW_OK},
        {"192.168.1.1", BW_OK},
        {"0.0.0.0/0", BW_OK},
        {"10.0.0.0/32", BW_OK},
        {"10.0.0.0/008", BW_OK},
        {"01.2.3.4", BW_OK},
        {"1.2.3.0255", BW_OK},
        {"1.2.3.", BW_OK},
        {".1.2.3", BW_OK},
        {"1..2.3", BW_OK},
        {"unix:", BW_OK},
        {"::", BW_OK},
        {"::/0", BW_OK},
        {"::1", BW_OK},
        {"2001:db8::/32", BW_OK},
        {"2001:DB8::", BW_OK},
        {"1::/128", BW_OK},
        {"8000::/1", BW_OK},
        {"1:2:3:4:5:6:7:8", BW_OK},
        {"::2:3:4:5:6:7:8", BW_OK},
        {"::ffff:1.2.3.4", BW_OK},
        {"::1.2.3.4", BW_OK},
        {"1:2:3:4:5:6:1.2.3.4", BW_OK},
        {"10.0.0.1/8", BW_DONE},
        {"1.2.3.4/0", BW_DONE},
        {"::1/64", BW_DONE},
        {"::ffff:1.2.3.4/120", BW_DONE},
        {"foo", BW_ERROR},
        {"", BW_ERROR},
        {"all", BW_ERROR},
        {"ALL", BW_ERROR},
        {"unix:/x", BW_ERROR},
        {"10.0.0.1/33", BW_ERROR},
        {"10.0.0.1/", BW_ERROR},
        {"10.0.0.0/-1", BW_ERROR},
        {"10.0.0.0/+8", BW_ERROR},
        {"10.0.0.0/ 8", BW_ERROR},
        {"10.0.0.0/8x", BW_ERROR},
        {"10.0.0.0/8/8", BW_ERROR},
        {"/8", BW_ERROR},
        {"10.0.0.256", BW_ERROR},
        {"256.0.0.0/0", BW_ERROR},
        {"4294967296.1.1.1", BW_ERROR},
        {"0x10.0.0.1", BW_ERROR},
        {"1.2.3", BW_ERROR},
        {"1.2.3.4.5", BW_ERROR},
        {"1.2.3.4 ", BW_ERROR},
        {"::1/129", BW_ERROR},
        {"1:2:3:4:5:6:7:8:9", BW_ERROR},
        {"1:2:3:4:5:6:7:8::", BW_ERROR},
        {"1::2:3:4:5:6:7:8", BW_ERROR},
        {"1:2:3:4:5:6:7::8", BW_ERROR},
        {"1:2:3:4:5:6:7:1.2.3.4", BW_ERROR},
        {"1::2::3", BW_ERROR},
        {":::", BW_ERROR},
        {"1:", BW_ERROR},
        {":1", BW_ERROR},
        {"12345::", BW_ERROR},
        {"fe80::1%eth0", BW_ERROR},
        {"[::1]", BW_ERROR},
        {"1.2.3.4::", BW_ERROR},
        {"g::1", BW_ERROR},
    };
    int failures = 0;

    for (size_t i = 0; i < bw_nelems(cases); i++) {
        bw_cidr_t cidr;
        bw_rc_t   got = bw_test_cidr_parse(cases[i].text, &cidr);
        if (got != cases[i].want) {
            print_error("\"%s\": want %d, got %d\n", cases[i].text, cases[i].want, got);
            failures++;
        }
    }
    assert_int_equal(failures, 0);
}

static void
test_cidr_parse_clears_host_bits_and_builds_masks(void **state)
{
    bw_cidr_t c;

    assert_int_equal(bw_test_cidr_parse("10.1.2.3/8", &c), BW_DONE);
    assert_int_equal(c.family, AF_INET);
    assert_int_equal(ntohl(c.u.in.addr), 0x0a000000);
    assert_int_equal(ntohl(c.u.in.mask), 0xff000000);

    assert_int_equal(bw_test_cidr_parse("1.2.3.4/0", &c), BW_DONE);
    assert_int_equal(c.u.in.addr, 0);
    assert_int_equal(c.u.in.mask, 0);

    assert_int_equal(bw_test_cidr_parse("1.2.3.4", &c), BW_OK);
    assert_int_equal(ntohl(c.u.in.mask), 0xffffffff);
    assert_int_equal(ntohl(c.u.in.addr), 0x01020304);

    assert_int_equal(bw_test_cidr_parse("2001:db8:ffff::/33", &c), BW_DONE);
    assert_int_equal(c.family, AF_INET6);
    static const u_char want_addr[16] = {0x20, 0x01, 0x0d, 0xb8, 0x80};
    static const u_char want_mask[16] = {0xff, 0xff, 0xff, 0xff, 0x80};
    assert_memory_equal(c.u.in6.addr, want_addr, 16);
    assert_memory_equal(c.u.in6.mask, want_mask, 16);
}

static void
test_cidr_inet6_parse_expands_gaps_and_ipv4_tails(void **state)
{
    static const struct {
        const char *text;
    } cases[] = {
        {"::"}, {"::1"}, {"1::"}, {"1:2:3:4:5:6:7::"}, {"2001:db8::8:800:200c:417a"},
        {"::ffff:192.0.2.128"}, {"fe80::a:b:c:d"}, {"0:0:0:0:0:0:0:0"}, {"ABCD:ef01::9"},
    };
    for (size_t i = 0; i < bw_nelems(cases); i++) {
        u_char got[16], want[16];
        const char *t = cases[i].text;
        assert_true(bw_cidr_inet6_parse((const u_char *) t, strlen(t), got));
        assert_int_equal(inet_pton(AF_INET6, t, want), 1);
        if (memcmp(got, want, 16) != 0) {
            fail_msg("\"%s\" parsed differently from inet_pton", t);
        }
    }
}

static struct sockaddr_in
bw_test_sin(const char *ip)
{
    struct sockaddr_in sin = {.sin_family = AF_INET};
    assert_int_equal(inet_pton(AF_INET, ip, &sin.sin_addr), 1);
    return sin;
}

static struct sockaddr_in6
bw_test_sin6(const char *ip)
{
    struct sockaddr_in6 sin6 = {.sin6_family = AF_INET6};
    assert_int_equal(inet_pton(AF_INET6, ip, &sin6.sin6_addr), 1);
    return sin6;
}

static bool
bw_test_match(const char *net, const char *ip)
{
    bw_cidr_t c;
    assert_int_not_equal(bw_test_cidr_parse(net, &c), BW_ERROR);
    if (strchr(ip, ':')) {
        struct sockaddr_in6 sin6 = bw_test_sin6(ip);
        return bw_cidr_match(&c, (struct sockaddr *) &sin6);
    }
    struct sockaddr_in sin = bw_test_sin(ip);
    return bw_cidr_match(&c, (struct sockaddr *) &sin);
}

static void
test_cidr_match_ipv4_edges(void **state)
{
    assert_true(bw_test_match("10.0.0.0/8", "10.255.255.255"));
    assert_true(bw_test_match("10.0.0.0/8", "10.0.0.0"));
    assert_false(bw_test_match("10.0.0.0/8", "11.0.0.0"));
    assert_false(bw_test_match("10.0.0.0/8", "9.255.255.255"));
    assert_true(bw_test_match("0.0.0.0/0", "203.0.113.9"));
    assert_true(bw_test_match("192.168.1.1/32", "192.168.1.1"));
    assert_false(bw_test_match("192.168.1.1/32", "192.168.1.2"));
    assert_true(bw_test_match("192.168.1.128/25", "192.168.1.200"));
    assert_false(bw_test_match("192.168.1.128/25", "192.168.1.127"));
    assert_true(bw_test_match("128.0.0.0/1", "200.1.1.1"));
    assert_false(bw_test_match("128.0.0.0/1", "127.1.1.1"));
    /* host bits given in the rule are ignored: 10.0.0.1/8 is 10.0.0.0/8 */
    assert_true(bw_test_match("10.0.0.1/8", "10.9.9.9"));
}

static void
test_cidr_match_ipv6_edges(void **state)
{
    assert_true(bw_test_match("2001:db8::/32", "2001:db8:ffff::1"));
    assert_false(bw_test_match("2001:db8::/32", "2001:db9::1"));
    assert_true(bw_test_match("::/0", "fe80::1"));
    assert_true(bw_test_match("::1", "::1"));
    assert_false(bw_test_match("::1", "::2"));
    assert_true(bw_test_match("2001:db8::/33", "2001:db8:7fff::1"));
    assert_false(bw_test_match("2001:db8::/33", "2001:db8:8000::1"));
    assert_true(bw_test_match("2001:db8::ff00/120", "2001:db8::ffff"));
    assert_false(bw_test_match("2001:db8::ff00/120", "2001:db8::1:ff00"));
    assert_true(bw_test_match("2001:db8::1/127", "2001:db8::"));
}

static void
test_cidr_match_keeps_families_apart(void **state)
{
    /* bw_cidr_match is strict: a v4 rule never matches an IPv6 peer and back */
    assert_false(bw_test_match("0.0.0.0/0", "::1"));
    assert_false(bw_test_match("::/0", "127.0.0.1"));
    assert_false(bw_test_match("10.0.0.0/8", "::ffff:10.0.0.1"));
    assert_true(bw_test_match("::ffff:0:0/96", "::ffff:10.0.0.1"));
}

static void
test_cidr_match_any_treats_mapped_as_ipv4(void **state)
{
    bw_cidr_t cidrs[2];
    assert_int_equal(bw_test_cidr_parse("2001:db8::/32", &cidrs[0]), BW_OK);
    assert_int_equal(bw_test_cidr_parse("10.0.0.0/8", &cidrs[1]), BW_OK);

    struct sockaddr_in6 mapped = bw_test_sin6("::ffff:10.1.2.3");
    struct sockaddr_in6 mapped_out = bw_test_sin6("::ffff:11.1.2.3");
    struct sockaddr_in6 v6 = bw_test_sin6("2001:db8::5");
    struct sockaddr_in  v4 = bw_test_sin("10.9.9.9");

    assert_true(bw_cidr_match_any(cidrs, 2, (struct sockaddr *) &mapped));
    assert_false(bw_cidr_match_any(cidrs, 2, (struct sockaddr *) &mapped_out));
    assert_true(bw_cidr_match_any(cidrs, 2, (struct sockaddr *) &v6));
    assert_true(bw_cidr_match_any(cidrs, 2, (struct sockaddr *) &v4));
    assert_false(bw_cidr_match_any(cidrs, 1, (struct sockaddr *) &mapped));

    /* a mapped peer is not matched against IPv6 networks at all */
    bw_cidr_t all6;
    assert_int_equal(bw_test_cidr_parse("::/0", &all6), BW_OK);
    assert_false(bw_cidr_match_any(&all6, 1, (struct sockaddr *) &mapped));

    uint32_t a;
    assert_true(bw_cidr_sockaddr_v4mapped((struct sockaddr *) &mapped, &a));
    assert_int_equal(ntohl(a), 0x0a010203);
    assert_false(bw_cidr_sockaddr_v4mapped((struct sockaddr *) &v6, &a));
    assert_false(bw_cidr_sockaddr_v4mapped((struct sockaddr *) &v4, &a));
}

static void
test_cidr_unix_matches_only_unix_peers(void **state)
{
    bw_cidr_t c;
    assert_int_equal(bw_test_cidr_parse("unix:", &c), BW_OK);
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    struct sockaddr_in sin = bw_test_sin("127.0.0.1");
    assert_true(bw_cidr_match(&c, (struct sockaddr *) &sun));
    assert_true(bw_cidr_match_any(&c, 1, (struct sockaddr *) &sun));
    assert_false(bw_cidr_match(&c, (struct sockaddr *) &sin));

    bw_cidr_t v4;
    assert_int_equal(bw_test_cidr_parse("0.0.0.0/0", &v4), BW_OK);
    assert_false(bw_cidr_match(&v4, (struct sockaddr *) &sun));
}

static void
test_cidr_from_sockaddr_is_a_single_host(void **state)
{
    bw_cidr_t c;
    struct sockaddr_in  sin = bw_test_sin("192.0.2.7");
    struct sockaddr_in  other = bw_test_sin("192.0.2.8");
    struct sockaddr_in6 sin6 = bw_test_sin6("2001:db8::7");
    struct sockaddr_in6 other6 = bw_test_sin6("2001:db8::8");

    assert_int_equal(bw_cidr_from_sockaddr((struct sockaddr *) &sin, &c), BW_OK);
    assert_true(bw_cidr_match(&c, (struct sockaddr *) &sin));
    assert_false(bw_cidr_match(&c, (struct sockaddr *) &other));
    assert_int_equal(bw_cidr_from_sockaddr((struct sockaddr *) &sin6, &c), BW_OK);
    assert_true(bw_cidr_match(&c, (struct sockaddr *) &sin6));
    assert_false(bw_cidr_match(&c, (struct sockaddr *) &other6));
    struct sockaddr bad = {.sa_family = AF_PACKET};
    assert_int_equal(bw_cidr_from_sockaddr(&bad, &c), BW_ERROR);
}

typedef struct {
    const char *text;
    bool        ok;
    const char *ip;   /* inet_ntop form */
    int         port; /* 0: none */
} bw_test_addr_case_t;

static void
test_cidr_sockaddr_parse_addresses_with_ports(void **state)
{
    static const bw_test_addr_case_t cases[] = {
        {"192.0.2.1", true, "192.0.2.1", 0},
        {"192.0.2.1:8080", true, "192.0.2.1", 8080},
        {"192.0.2.1:65535", true, "192.0.2.1", 65535},
        {"2001:db8::1", true, "2001:db8::1", 0},
        {"[2001:db8::1]", true, "2001:db8::1", 0},
        {"[2001:db8::1]:443", true, "2001:db8::1", 443},
        {"::ffff:1.2.3.4", true, "::ffff:1.2.3.4", 0},
        {"192.0.2.1:0", false, NULL, 0},
        {"192.0.2.1:65536", false, NULL, 0},
        {"192.0.2.1:", false, NULL, 0},
        {"192.0.2.1:x", false, NULL, 0},
        {"[192.0.2.1]:80", false, NULL, 0},
        {"[2001:db8::1]80", false, NULL, 0},
        {"[2001:db8::1", false, NULL, 0},
        {"unknown", false, NULL, 0},
        {"", false, NULL, 0},
        {"host:80", false, NULL, 0},
        {" 192.0.2.1", false, NULL, 0},
    };
    int failures = 0;

    for (size_t i = 0; i < bw_nelems(cases); i++) {
        struct sockaddr_storage ss;
        socklen_t               len = 0;
        const char             *t = cases[i].text;
        bool ok = bw_cidr_sockaddr_parse((const u_char *) t, strlen(t), &ss, &len);
        if (ok != cases[i].ok) {
            print_error("\"%s\": want %s\n", t, cases[i].ok ? "ok" : "failure");
            failures++;
            continue;
        }
        if (!ok) {
            continue;
        }
        char ip[INET6_ADDRSTRLEN];
        int  port;
        if (ss.ss_family == AF_INET) {
            struct sockaddr_in *sin = (struct sockaddr_in *) &ss;
            inet_ntop(AF_INET, &sin->sin_addr, ip, sizeof(ip));
            port = ntohs(sin->sin_port);
            assert_int_equal(len, sizeof(*sin));
        } else {
            struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *) &ss;
            inet_ntop(AF_INET6, &sin6->sin6_addr, ip, sizeof(ip));
            port = ntohs(sin6->sin6_port);
            assert_int_equal(len, sizeof(*sin6));
        }
        if (strcmp(ip, cases[i].ip) != 0 || port != cases[i].port) {
            print_error("\"%s\": got %s port %d\n", t, ip, port);
            failures++;
        }
    }
    assert_int_equal(failures, 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cidr_parse_accepts_and_rejects_like_nginx),
        cmocka_unit_test(test_cidr_parse_clears_host_bits_and_builds_masks),
        cmocka_unit_test(test_cidr_inet6_parse_expands_gaps_and_ipv4_tails),
        cmocka_unit_test(test_cidr_match_ipv4_edges),
        cmocka_unit_test(test_cidr_match_ipv6_edges),
        cmocka_unit_test(test_cidr_match_keeps_families_apart),
        cmocka_unit_test(test_cidr_match_any_treats_mapped_as_ipv4),
        cmocka_unit_test(test_cidr_unix_matches_only_unix_peers),
        cmocka_unit_test(test_cidr_from_sockaddr_is_a_single_host),
        cmocka_unit_test(test_cidr_sockaddr_parse_addresses_with_ports),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
