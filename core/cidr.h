/*
 * cidr.h -- IP addresses and networks as configurations and headers write
 * them ("192.168.1.1", "10.0.0.0/8", "2001:db8::/32", "unix:"), and the
 * test whether a peer's socket address belongs to one. Shared by the access
 * module (allow/deny) and the realip module (set_real_ip_from, addresses in
 * X-Forwarded-For / X-Real-IP).
 *
 * Parsing follows nginx's accepted forms: IPv4 is four decimal octets
 * (leading zeros allowed, an empty octet counts as 0, as nginx accepts it);
 * IPv6 is RFC 4291 text (hex groups, one "::", an optional dotted IPv4
 * tail) without a zone index; a prefix length is decimal digits only.
 * Nothing here allocates or logs.
 */
#ifndef BW_CIDR_H
#define BW_CIDR_H

#include "str.h"

#include <netinet/in.h>
#include <sys/socket.h>

/* One network: family AF_INET, AF_INET6, or AF_UNIX (every unix-domain peer). */
typedef struct {
    int family;
    union {
        struct {
            uint32_t addr;      /* network byte order, host bits cleared */
            uint32_t mask;      /* network byte order */
        } in;
        struct {
            u_char addr[16];    /* host bits cleared */
            u_char mask[16];
        } in6;
    } u;
} bw_cidr_t;

/* Longest text of an address with a port: "[ffff:...:255.255.255.255]:65535". */
#define BW_CIDR_ADDR_TEXT_MAX 64

/*
 * Parses an IPv4 address from all of [p, p+len) into *addr (network byte
 * order). False when it is not one.
 */
bool bw_cidr_inet_parse(const u_char *p, size_t len, uint32_t *addr);

/* Parses an IPv6 address from all of [p, p+len) into addr. False when not one. */
bool bw_cidr_inet6_parse(const u_char *p, size_t len, u_char addr[16]);

/*
 * Parses "address", "address/bits" or "unix:" into *cidr. Returns BW_OK;
 * BW_DONE when the address had bits set beyond the prefix (they are cleared:
 * the caller warns "low address bits of X are meaningless" as nginx does);
 * BW_ERROR when the text is not a network.
 */
bw_rc_t bw_cidr_parse(const bw_str_t *text, bw_cidr_t *cidr);

/*
 * Makes *cidr the single host of socket address sa (full-length mask), e.g.
 * for a host name resolved in a directive. BW_OK, or BW_ERROR for a family
 * other than IPv4, IPv6 and unix.
 */
bw_rc_t bw_cidr_from_sockaddr(const struct sockaddr *sa, bw_cidr_t *cidr);

/*
 * True when the address of sa lies in cidr. Families must be equal: an
 * IPv4-mapped IPv6 address (::ffff:a.b.c.d) is an IPv6 address here; see
 * bw_cidr_match_any() for the mapped form.
 */
bool bw_cidr_match(const bw_cidr_t *cidr, const struct sockaddr *sa);

/*
 * True when sa lies in any of cidrs[0..n). An IPv4-mapped IPv6 address is
 * matched as the IPv4 address it carries (and only against IPv4 networks),
 * as nginx matches trusted proxies.
 */
bool bw_cidr_match_any(const bw_cidr_t *cidrs, size_t n, const struct sockaddr *sa);

/*
 * If sa is an IPv4-mapped IPv6 address, stores the IPv4 address (network
 * byte order) into *addr and returns true.
 */
bool bw_cidr_sockaddr_v4mapped(const struct sockaddr *sa, uint32_t *addr);

/*
 * Parses an address with an optional port, as sent in X-Forwarded-For and
 * X-Real-IP: "192.0.2.1", "192.0.2.1:8080", "2001:db8::1", "[2001:db8::1]",
 * "[2001:db8::1]:8080". Fills *ss (port 0 when none) and *socklen.
 * False when the text is not such an address or the port is not 1..65535.
 */
bool bw_cidr_sockaddr_parse(const u_char *p, size_t len, struct sockaddr_storage *ss,
                            socklen_t *socklen);

#endif
