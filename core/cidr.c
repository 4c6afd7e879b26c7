/*
 * cidr.c -- parsing IPv4/IPv6 addresses and networks, and matching socket
 * addresses against them (see cidr.h for the accepted forms).
 */
#include "cidr.h"

#include <arpa/inet.h>
#include <string.h>
#include <sys/un.h>

#define BW_CIDR_IN6_GROUPS 8

bool
bw_cidr_inet_parse(const u_char *p, size_t len, uint32_t *addr)
{
    uint32_t value = 0, octet = 0;
    unsigned dots = 0;

    if (len == 0) {
        return false;
    }
    /* nginx accepts any number of digits per octet (up to 255) and empty
     * octets ("1..2.3" is 1.0.2.3); only the count of dots is strict. */
    for (size_t i = 0; i < len; i++) {
        u_char c = p[i];
        if (c >= '0' && c <= '9') {
            octet = octet * 10 + (uint32_t) (c - '0');
            if (octet > 255) {
                return false;
            }
            continue;
        }
        if (c != '.' || ++dots > 3) {
            return false;
        }
        value = (value << 8) | octet;
        octet = 0;
    }
    if (dots != 3) {
        return false;
    }
    *addr = htonl((value << 8) | octet);
    return true;
}

static int
bw_cidr_hex(u_char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    c = bw_tolower(c);
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    return -1;
}

/* Stores the 16-bit groups of an address, expanding the "::" gap at `gap`. */
static void
bw_cidr_inet6_expand(const uint16_t *groups, int n, int gap, u_char addr[16])
{
    uint16_t full[BW_CIDR_IN6_GROUPS] = {0};
    int      tail = gap < 0 ? 0 : n - gap;

    memcpy(full, groups, (size_t) (n - tail) * sizeof(uint16_t));
    memcpy(full + BW_CIDR_IN6_GROUPS - tail, groups + n - tail, (size_t) tail * sizeof(uint16_t));
    for (int i = 0; i < BW_CIDR_IN6_GROUPS; i++) {
        addr[2 * i] = (u_char) (full[i] >> 8);
        addr[2 * i + 1] = (u_char) (full[i] & 0xff);
    }
}

bool
bw_cidr_inet6_parse(const u_char *p, size_t len, u_char addr[16])
{
    uint16_t groups[BW_CIDR_IN6_GROUPS];
    int      n = 0, gap = -1;
    size_t   i = 0;

    if (len >= 2 && p[0] == ':' && p[1] == ':') {
        gap = 0;
        i = 2;
    }
    while (i < len) {
        size_t   start = i;
        unsigned value = 0;
        int      d;
        while (i < len && i - start < 5 && (d = bw_cidr_hex(p[i])) >= 0) {
            value = value * 16 + (unsigned) d;
            i++;
        }
        if (i < len && p[i] == '.') {
            /* a dotted IPv4 tail takes the last two groups */
            uint32_t v4;
            if (n > BW_CIDR_IN6_GROUPS - 2 || !bw_cidr_inet_parse(p + start, len - start, &v4)) {
                return false;
            }
            v4 = ntohl(v4);
            groups[n++] = (uint16_t) (v4 >> 16);
            groups[n++] = (uint16_t) (v4 & 0xffff);
            i = len;
            break;
        }
        if (i == start || i - start > 4 || n == BW_CIDR_IN6_GROUPS) {
            return false;
        }
        groups[n++] = (uint16_t) value;
        if (i == len) {
            break;
        }
        if (p[i++] != ':' || i == len) {
            return false; /* a stray character or a trailing single ':' */
        }
        if (p[i] == ':') {
            if (gap >= 0) {
                return false; /* a second "::" */
            }
            gap = n;
            i++;
        }
    }
    /* Without "::" all eight groups are needed; with it, at least one is implied. */
    if ((gap < 0 && n != BW_CIDR_IN6_GROUPS) || (gap >= 0 && n > BW_CIDR_IN6_GROUPS - 1)) {
        return false;
    }
    bw_cidr_inet6_expand(groups, n, gap, addr);
    return true;
}

/* Parses the decimal prefix length [p, p+len), at most max. -1 when invalid. */
static int
bw_cidr_bits_parse(const u_char *p, size_t len, int max)
{
    int bits = 0;

    if (len == 0) {
        return -1;
    }
    for (size_t i = 0; i < len; i++) {
        if (p[i] < '0' || p[i] > '9') {
            return -1;
        }
        bits = bits * 10 + (p[i] - '0');
        if (bits > max) {
            return -1;
        }
    }
    return bits;
}

static bw_rc_t
bw_cidr_inet_set(bw_cidr_t *cidr, uint32_t addr, int bits)
{
    uint32_t mask = bits == 0 ? 0 : htonl(0xffffffffu << (32 - bits));

    cidr->family = AF_INET;
    cidr->u.in.mask = mask;
    cidr->u.in.addr = addr & mask;
    return cidr->u.in.addr == addr ? BW_OK : BW_DONE;
}

static bw_rc_t
bw_cidr_inet6_set(bw_cidr_t *cidr, const u_char addr[16], int bits)
{
    bw_rc_t rc = BW_OK;

    cidr->family = AF_INET6;
    for (int i = 0; i < 16; i++) {
        int    left = bits - 8 * i;
        u_char m = left >= 8 ? 0xff : left <= 0 ? 0 : (u_char) (0xff << (8 - left));
        cidr->u.in6.mask[i] = m;
        cidr->u.in6.addr[i] = addr[i] & m;
        if (cidr->u.in6.addr[i] != addr[i]) {
            rc = BW_DONE;
        }
    }
    return rc;
}

bw_rc_t
bw_cidr_parse(const bw_str_t *text, bw_cidr_t *cidr)
{
    const u_char *p = text->data, *slash;
    size_t        alen;
    bool          v6;

    memset(cidr, 0, sizeof(*cidr));
    if (bw_str_eq_lit(text, "unix:")) {
        cidr->family = AF_UNIX;
        return BW_OK;
    }
    slash = text->len ? memchr(p, '/', text->len) : NULL;
    alen = slash ? (size_t) (slash - p) : text->len;
    v6 = memchr(p, ':', alen) != NULL;

    int bits = v6 ? 128 : 32;
    if (slash) {
        bits = bw_cidr_bits_parse(slash + 1, text->len - alen - 1, v6 ? 128 : 32);
        if (bits < 0) {
            return BW_ERROR;
        }
    }
    if (v6) {
        u_char addr[16];
        if (!bw_cidr_inet6_parse(p, alen, addr)) {
            return BW_ERROR;
        }
        return bw_cidr_inet6_set(cidr, addr, bits);
    }
    uint32_t addr;
    if (!bw_cidr_inet_parse(p, alen, &addr)) {
        return BW_ERROR;
    }
    return bw_cidr_inet_set(cidr, addr, bits);
}

bw_rc_t
bw_cidr_from_sockaddr(const struct sockaddr *sa, bw_cidr_t *cidr)
{
    memset(cidr, 0, sizeof(*cidr));
    switch (sa->sa_family) {
    case AF_INET:
        return bw_cidr_inet_set(cidr, ((const struct sockaddr_in *) sa)->sin_addr.s_addr, 32);
    case AF_INET6:
        return bw_cidr_inet6_set(cidr, ((const struct sockaddr_in6 *) sa)->sin6_addr.s6_addr,
                                 128);
    case AF_UNIX:
        cidr->family = AF_UNIX;
        return BW_OK;
    default:
        return BW_ERROR;
    }
}

bool
bw_cidr_sockaddr_v4mapped(const struct sockaddr *sa, uint32_t *addr)
{
    if (sa->sa_family != AF_INET6) {
        return false;
    }
    const struct in6_addr *a = &((const struct sockaddr_in6 *) sa)->sin6_addr;
    if (!IN6_IS_ADDR_V4MAPPED(a)) {
        return false;
    }
    memcpy(addr, &a->s6_addr[12], 4);
    return true;
}

static bool
bw_cidr_match_inet(const bw_cidr_t *cidr, uint32_t addr)
{
    return cidr->family == AF_INET && (addr & cidr->u.in.mask) == cidr->u.in.addr;
}

bool
bw_cidr_match(const bw_cidr_t *cidr, const struct sockaddr *sa)
{
    if (cidr->family != sa->sa_family) {
        return false;
    }
    switch (sa->sa_family) {
    case AF_INET:
        return bw_cidr_match_inet(cidr, ((const struct sockaddr_in *) sa)->sin_addr.s_addr);
    case AF_INET6: {
        const u_char *a = ((const struct sockaddr_in6 *) sa)->sin6_addr.s6_addr;
        for (int i = 0; i < 16; i++) {
            if ((a[i] & cidr->u.in6.mask[i]) != cidr->u.in6.addr[i]) {
                return false;
            }
        }
        return true;
    }
    case AF_UNIX:
        return true;
    default:
        return false;
    }
}

bool
bw_cidr_match_any(const bw_cidr_t *cidrs, size_t n, const struct sockaddr *sa)
{
    uint32_t v4;
    bool     mapped = bw_cidr_sockaddr_v4mapped(sa, &v4);

    for (size_t i = 0; i < n; i++) {
        if (mapped ? bw_cidr_match_inet(&cidrs[i], v4) : bw_cidr_match(&cidrs[i], sa)) {
            return true;
        }
    }
    return false;
}

/* Fills *ss from an address without port; false when [p, p+len) is none. */
static bool
bw_cidr_sockaddr_addr(const u_char *p, size_t len, struct sockaddr_storage *ss,
                      socklen_t *socklen)
{
    memset(ss, 0, sizeof(*ss));
    if (len && memchr(p, ':', len)) {
        struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *) ss;
        if (!bw_cidr_inet6_parse(p, len, sin6->sin6_addr.s6_addr)) {
            return false;
        }
        sin6->sin6_family = AF_INET6;
        *socklen = sizeof(struct sockaddr_in6);
        return true;
    }
    struct sockaddr_in *sin = (struct sockaddr_in *) ss;
    if (!bw_cidr_inet_parse(p, len, &sin->sin_addr.s_addr)) {
        return false;
    }
    sin->sin_family = AF_INET;
    *socklen = sizeof(struct sockaddr_in);
    return true;
}

bool
bw_cidr_sockaddr_parse(const u_char *p, size_t len, struct sockaddr_storage *ss,
                       socklen_t *socklen)
{
    const u_char *host = p, *port = NULL;
    size_t        hlen = len;

    if (bw_cidr_sockaddr_addr(p, len, ss, socklen)) {
        return true; /* a bare address, IPv6 ones included */
    }
    if (len && p[0] == '[') {
        const u_char *end = memchr(p, ']', len);
        if (end == NULL) {
            return false;
        }
        host = p + 1;
        hlen = (size_t) (end - host);
        if (end + 1 < p + len) {
            if (end[1] != ':') {
                return false;
            }
            port = end + 2;
        }
        if (memchr(host, ':', hlen) == NULL) {
            return false; /* brackets hold IPv6 only */
        }
    } else {
        const u_char *colon = len ? memrchr(p, ':', len) : NULL;
        if (colon == NULL || memchr(p, ':', (size_t) (colon - p)) != NULL) {
            return false;
        }
        hlen = (size_t) (colon - p);
        port = colon + 1;
    }
    if (!bw_cidr_sockaddr_addr(host, hlen, ss, socklen)) {
        return false;
    }
    if (port == NULL) {
        return true;
    }
    int64_t n = bw_atoi(port, (size_t) (p + len - port));
    if (n < 1 || n > 65535) {
        return false;
    }
    if (ss->ss_family == AF_INET) {
        ((struct sockaddr_in *) ss)->sin_port = htons((uint16_t) n);
    } else {
        ((struct sockaddr_in6 *) ss)->sin6_port = htons((uint16_t) n);
    }
    return true;
}
