# The one ordered module list. First listed runs first: phase handlers run in
# this order within their phase, and header/body filters are chained in this
# order (the first listed filter sees the response first; the writers are
# last).
#
# bw_module(<name> <REQUIRED|ON|OFF> <configure-name|-> <nginx-default YES|NO> <sources...>)
#   REQUIRED  always built; ON/OFF: default of the option BULWARK_<NAME>
#   configure-name: how nginx's ./configure names it, for `bulwark -V`
#   nginx-default YES: nginx builds it unless --without-<name>;
#                 NO: nginx needs --with-<name>
# A module whose first source file does not exist yet is skipped (with a
# CMake message), so the list can name work in progress.

bw_module(core    REQUIRED - NO core/core_module.c)
bw_module(events  REQUIRED - NO event/events_module.c)
bw_module(http    REQUIRED - NO http/http.c)        # the http{} block (main context)
bw_module(http_core REQUIRED - NO http/core_module.c)
bw_module(ssl ON http_ssl_module NO modules/ssl.c)

# post-read phase: the real client address must be known before access checks
bw_module(realip  ON http_realip_module NO modules/realip.c)
# server-rewrite and rewrite phases
bw_module(rewrite ON http_rewrite_module YES modules/rewrite.c)
bw_module(map     ON http_map_module YES modules/map.c)
# access phase
bw_module(access  ON http_access_module YES modules/access.c)
# content phase: index before autoindex before static (a directory URI is
# offered to index files first, then listed, and static serves plain files)
bw_module(index   REQUIRED - NO modules/index.c)
bw_module(autoindex ON http_autoindex_module YES modules/autoindex.c)
bw_module(static  REQUIRED - NO modules/static.c)
bw_module(stub_status ON http_stub_status_module NO modules/stub_status.c)
# log phase
bw_module(access_log REQUIRED - NO modules/access_log.c)

# header/body filters, in the order they see the response:
# conditional requests first (a 304 needs no further work), then headers
# the operator adds, then range, then transfer coding and the writers.
bw_module(not_modified REQUIRED - NO modules/not_modified.c)
bw_module(headers REQUIRED - NO modules/headers.c)
bw_module(range   REQUIRED - NO modules/range.c)
bw_module(chunked REQUIRED - NO modules/chunked.c)
bw_module(http_header_filter REQUIRED - NO http/header_filter.c)
bw_module(http_write_filter  REQUIRED - NO http/write_filter.c)

# upstream and proxy (content handler set by proxy_pass; balancers and the
# keepalive cache are upstream plug-ins, listed after the core they extend)
bw_module(upstream REQUIRED - NO http/upstream.c)
bw_module(proxy   ON http_proxy_module YES modules/proxy.c modules/proxy_cookie.c)
bw_module(proxy_ssl ON - NO modules/proxy_ssl.c)
bw_module(upstream_keepalive ON http_upstream_keepalive_module YES modules/upstream_keepalive.c)
# balancers: each directive replaces the group's init_upstream when it is
# parsed, so a `keepalive` written after the balancer wraps it (as in nginx,
# where the keepalive directive must follow the balancing method)
bw_module(upstream_hash ON http_upstream_hash_module YES modules/upstream_hash.c)
bw_module(upstream_ip_hash ON http_upstream_ip_hash_module YES modules/upstream_hash.c)
bw_module(upstream_least_conn ON http_upstream_least_conn_module YES modules/upstream_least_conn.c)
bw_module(upstream_random ON http_upstream_random_module YES modules/upstream_random.c)
# peer state in a shared zone, and the active checks that need it
bw_module(upstream_zone ON http_upstream_zone_module YES modules/upstream_zone.c)
bw_module(health_check ON - NO modules/health_check.c)
