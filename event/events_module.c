/*
 * events_module.c -- the events{} block and its directives, and the hooks
 * that start the event layer in each worker.
 *
 * The module is a core module: its directive `events` opens the block, and
 * the block's directives (context BW_CTX_EVENTS) set the bw_event_conf_t
 * kept in cycle->conf. In a worker, init_worker creates the connection
 * slots and the epoll loop, then starts polling the listening sockets.
 */
#include "event.h"

#include "conf.h"
#include "cycle.h"
#include "log.h"
#include "module.h"
#include "pool.h"
#include "process.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <sys/resource.h>

#define BW_EVENT_USE_EPOLL 1

static const char *bw_events_block(bw_conf_t *cf, const bw_directive_t *d, void *conf);
static const char *bw_events_set_connections(bw_conf_t *cf, const bw_directive_t *d, void *conf);
static const char *bw_events_set_use(bw_conf_t *cf, const bw_directive_t *d, void *conf);
static const char *bw_events_set_debug_connection(bw_conf_t *cf, const bw_directive_t *d,
                                                  void *conf);
static void *bw_events_create_conf(bw_cycle_t *cycle);
static const char *bw_events_init_conf(bw_cycle_t *cycle, void *conf);
static bw_rc_t bw_events_init_cycle(bw_cycle_t *cycle);
static bw_rc_t bw_events_init_worker(bw_cycle_t *cycle);
static void bw_events_exit_worker(bw_cycle_t *cycle);

#define BW_EVENTS_OFF(field) offsetof(bw_event_conf_t, field)
#define BW_EVENTS_CTX        BW_CTX_EVENTS

static const bw_directive_t bw_events_directives[] = {
    {"events", BW_CTX_MAIN, BW_ARGS_BLOCK | BW_ARGS_NOARGS, BW_CONF_NONE, bw_events_block, 0,
     NULL},
    {"worker_connections", BW_EVENTS_CTX, BW_ARGS_TAKE1, BW_CONF_MAIN, bw_events_set_connections,
     0, NULL},
    {"use", BW_EVENTS_CTX, BW_ARGS_TAKE1, BW_CONF_MAIN, bw_events_set_use, 0, NULL},
    {"multi_accept", BW_EVENTS_CTX, BW_ARGS_FLAG, BW_CONF_MAIN, bw_conf_set_flag,
     BW_EVENTS_OFF(multi_accept), NULL},
    /* Accepted for compatibility: with EPOLLEXCLUSIVE the kernel already
     * wakes one worker per new connection, which is what the mutex was for. */
    {"accept_mutex", BW_EVENTS_CTX, BW_ARGS_FLAG, BW_CONF_MAIN, bw_conf_set_flag,
     BW_EVENTS_OFF(accept_mutex), NULL},
    {"accept_mutex_delay", BW_EVENTS_CTX, BW_ARGS_TAKE1, BW_CONF_MAIN, bw_conf_set_msec,
     BW_EVENTS_OFF(accept_mutex_delay), NULL},
    {"debug_connection", BW_EVENTS_CTX, BW_ARGS_TAKE1, BW_CONF_MAIN,
     bw_events_set_debug_connection, 0, NULL},
    {"worker_aio_requests", BW_EVENTS_CTX, BW_ARGS_TAKE1, BW_CONF_MAIN, bw_conf_set_noop, 0,
     NULL},
    BW_DIRECTIVES_END,
};

bw_module_t bw_events_module = {
    .name = "events",
    .type = BW_MODULE_CORE,
    .directives = bw_events_directives,
    .create_conf = bw_events_create_conf,
    .init_conf = bw_events_init_conf,
    .init_cycle = bw_events_init_cycle,
    .init_worker = bw_events_init_worker,
    .exit_worker = bw_events_exit_worker,
};

/* ---- process hooks ---- */

/*
 * Master: the connection counters go into shared memory (numbers unique
 * across workers, stub_status totals); warn, as nginx does, when
 * worker_connections exceed the fd limit.
 */
static bw_rc_t
bw_events_init_cycle(bw_cycle_t *cycle)
{
    bw_event_conf_t *ecf = bw_event_get_conf(cycle);
    bw_core_conf_t *ccf = bw_core_conf(cycle);
    struct rlimit rl;

    if (bw_conn_stats_share(cycle->log) != BW_OK) {
        return BW_ERROR;
    }
    if (getrlimit(RLIMIT_NOFILE, &rl) == -1) {
        bw_log_error(BW_LOG_CRIT, cycle->log, errno, "getrlimit(RLIMIT_NOFILE) failed");
        return BW_OK;
    }
    int64_t limit = ccf->rlimit_nofile != BW_CONF_UNSET ? (int64_t) ccf->rlimit_nofile
                    : rl.rlim_cur == RLIM_INFINITY       ? INT64_MAX
                                                         : (int64_t) rl.rlim_cur;
    if ((int64_t) ecf->connections > limit) {
        bw_log_error(BW_LOG_WARN, cycle->log, 0,
                     "%ld worker_connections exceed open file resource limit: %lld",
                     (long) ecf->connections, (long long) limit);
    }
    return BW_OK;
}

static bw_rc_t
bw_events_init_worker(bw_cycle_t *cycle)
{
    bw_event_conf_t *ecf = bw_event_get_conf(cycle);

    if (bw_connections_init(cycle, (bw_uint_t) ecf->connections) != BW_OK
        || bw_event_loop_init(cycle) != BW_OK
        || bw_listening_worker_start(cycle, bw_worker_slot) != BW_OK) {
        return BW_ERROR;
    }
    return BW_OK;
}

static void
bw_events_exit_worker(bw_cycle_t *cycle)
{
    (void) cycle;
    bw_event_loop_done();
}

/* ---- configuration ---- */

static void *
bw_events_create_conf(bw_cycle_t *cycle)
{
    bw_event_conf_t *ecf = bw_pcalloc(cycle->pool, sizeof(bw_event_conf_t));
    if (ecf == NULL) {
        return NULL;
    }
    ecf->connections = BW_CONF_UNSET;
    ecf->use = BW_CONF_UNSET_UINT;
    ecf->multi_accept = BW_CONF_UNSET;
    ecf->accept_mutex = BW_CONF_UNSET;
    ecf->accept_mutex_delay = BW_CONF_UNSET_MSEC;
    return ecf;
}

/* The listening sockets a worker may poll: each reuseport address once per worker. */
static bw_uint_t
bw_events_listening_count(bw_cycle_t *cycle)
{
    bw_core_conf_t *ccf = bw_core_conf(cycle);
    bw_int_t workers = ccf && ccf->worker_processes > 0 ? ccf->worker_processes : 1;
    bw_listening_t *ls = cycle->listening.elts;
    bw_uint_t n = 0;

    for (size_t i = 0; ls && i < cycle->listening.nelts; i++) {
        n += ls[i].reuseport && ls[i].worker == 0 ? (bw_uint_t) workers : 1;
    }
    return n;
}

static const char *
bw_events_init_conf(bw_cycle_t *cycle, void *conf)
{
    bw_event_conf_t *ecf = conf;

    if (!ecf->seen) {
        return "no \"events\" section in configuration";
    }
    bw_conf_merge_value(ecf->connections, BW_CONF_UNSET, 512);
    bw_conf_merge_uint(ecf->use, BW_CONF_UNSET_UINT, BW_EVENT_USE_EPOLL);
    bw_conf_merge_value(ecf->multi_accept, BW_CONF_UNSET, 0);
    bw_conf_merge_value(ecf->accept_mutex, BW_CONF_UNSET, 0);
    bw_conf_merge_msec(ecf->accept_mutex_delay, BW_CONF_UNSET_MSEC, 500);

    /* Each worker needs a slot per listening socket plus one to serve. */
    bw_uint_t listening = bw_events_listening_count(cycle);
    if ((bw_uint_t) ecf->connections <= listening) {
        bw_str_t *msg = bw_psprintf(cycle->pool, "%ld worker_connections are not enough for "
                                    "%lu listening sockets", (long) ecf->connections,
                                    (unsigned long) listening);
        return msg ? (const char *) msg->data : "no memory";
    }
    return NULL;
}

static const char *
bw_events_block(bw_conf_t *cf, const bw_directive_t *d, void *conf)
{
    bw_event_conf_t *ecf = bw_event_get_conf(cf->cycle);
    (void) d;
    (void) conf;

    if (ecf->seen) {
        return "is duplicate";
    }
    ecf->seen = true;

    uint32_t ctx_type = cf->ctx_type;
    cf->ctx_type = BW_CTX_EVENTS;
    bw_rc_t rc = bw_conf_parse(cf, NULL);
    cf->ctx_type = ctx_type;
    return rc == BW_OK ? BW_CONF_OK : BW_CONF_ERROR;
}

static const char *
bw_events_set_connections(bw_conf_t *cf, const bw_directive_t *d, void *conf)
{
    bw_event_conf_t *ecf = conf;
    const bw_str_t *v = &bw_array_at(cf->args, bw_str_t, 1);
    (void) d;

    if (ecf->connections != BW_CONF_UNSET) {
        return "is duplicate";
    }
    int64_t n = bw_atoi(v->data, v->len);
    if (n < 0 || n > INT32_MAX) {
        bw_conf_error(cf, "invalid number \"%.*s\"", BW_STR_ARG(*v));
        return BW_CONF_ERROR;
    }
    ecf->connections = (bw_int_t) n;
    return BW_CONF_OK;
}

static const char *
bw_events_set_use(bw_conf_t *cf, const bw_directive_t *d, void *conf)
{
    bw_event_conf_t *ecf = conf;
    const bw_str_t *v = &bw_array_at(cf->args, bw_str_t, 1);
    (void) d;

    if (ecf->use != BW_CONF_UNSET_UINT) {
        return "is duplicate";
    }
    if (!bw_str_eq_lit(v, "epoll")) {
        bw_conf_error(cf, "invalid event type \"%.*s\"", BW_STR_ARG(*v));
        return BW_CONF_ERROR;
    }
    ecf->use = BW_EVENT_USE_EPOLL;
    return BW_CONF_OK;
}

/* True when an address has bits set past its prefix length. */
static bool
bw_events_cidr_low_bits(const u_char *addr, size_t len, unsigned bits)
{
    for (size_t i = 0; i < len; i++, bits = bits > 8 ? bits - 8 : 0) {
        u_char mask = bits >= 8 ? 0xff : (u_char) (0xff << (8 - bits));
        if (addr[i] & ~mask) {
            return true;
        }
    }
    return false;
}

/*
 * debug_connection: nginx enables debug logging for these clients only in
 * --with-debug builds and otherwise just checks the address. bulwark does
 * the same check (an address, a CIDR block, "unix:", or a resolvable host)
 * and has no per-client debug level.
 */
static const char *
bw_events_set_debug_connection(bw_conf_t *cf, const bw_directive_t *d, void *conf)
{
    const bw_str_t *v = &bw_array_at(cf->args, bw_str_t, 1);
    u_char addr[sizeof(struct in6_addr)];
    (void) d;
    (void) conf;

    if (bw_str_eq_lit(v, "unix:")) {
        return BW_CONF_OK;
    }
    char *text = bw_pstrz(cf->temp_pool, v);
    if (text == NULL) {
        return BW_CONF_ERROR;
    }
    char *slash = strchr(text, '/');
    if (slash) {
        int64_t bits = bw_atoi((u_char *) slash + 1, strlen(slash + 1));
        *slash = '\0';
        bool v6 = strchr(text, ':') != NULL;
        if (bits < 0 || bits > (v6 ? 128 : 32)
            || inet_pton(v6 ? AF_INET6 : AF_INET, text, addr) != 1) {
            bw_conf_error(cf, "host not found in debug_connection \"%.*s\"", BW_STR_ARG(*v));
            return BW_CONF_ERROR;
        }
        if (bw_events_cidr_low_bits(addr, v6 ? 16 : 4, (unsigned) bits)) {
            bw_conf_log(cf, BW_LOG_WARN, 0, "low address bits of %.*s are meaningless",
                        BW_STR_ARG(*v));
        }
        return BW_CONF_OK;
    }
    if (inet_pton(AF_INET, text, addr) == 1 || inet_pton(AF_INET6, text, addr) == 1) {
        return BW_CONF_OK;
    }
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res = NULL;
    if (getaddrinfo(text, NULL, &hints, &res) != 0) {
        bw_conf_error(cf, "host not found in debug_connection \"%.*s\"", BW_STR_ARG(*v));
        return BW_CONF_ERROR;
    }
    freeaddrinfo(res);
    return BW_CONF_OK;
}
