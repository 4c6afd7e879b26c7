/*
 * test_listen.c -- listening sockets and accept: open on 127.0.0.1 and
 * [::1], reuseport clones, take-over on reload, bind retries, the binary
 * upgrade environment round trip, real connections accepted through the
 * loop, slot exhaustion and idle reclaim at accept time.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "conf.h"
#include "cycle.h"
#include "event.h"
#include "module.h"
#include "pool.h"
#include "support.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

typedef struct {
    bw_cycle_t      cycle;
    bw_core_conf_t  ccf;
    bw_event_conf_t ecf;
} bw_test_world_t;

static bw_open_file_t  bw_test_log_file;
static bw_log_t        bw_test_log;
static bw_test_world_t bw_test_a, bw_test_b;

static void
bw_test_world_init(bw_test_world_t *w, int workers)
{
    memset(w, 0, sizeof(*w));
    w->cycle.log = &bw_test_log;
    w->cycle.pool = bw_pool_create(4096, &bw_test_log);
    assert_non_null(w->cycle.pool);
    w->cycle.conf = bw_pcalloc(w->cycle.pool, (bw_modules_n + 1) * sizeof(void *));
    assert_non_null(w->cycle.conf);
    w->ccf.worker_processes = workers;
    w->ccf.rlimit_nofile = BW_CONF_UNSET;
    w->ecf.connections = 8;
    w->ecf.accept_mutex_delay = 500;
    w->cycle.conf[bw_core_module.index] = &w->ccf;
    w->cycle.conf[bw_events_module.index] = &w->ecf;
}

static void
bw_test_world_done(bw_test_world_t *w)
{
    if (w->cycle.pool == NULL) {
        return;
    }
    if (w->cycle.connections) {
        for (bw_uint_t i = 0; i < w->cycle.connection_n; i++) {
            bw_connection_t *c = &w->cycle.connections[i];
            bool listener = c->listening && c->listening->connection == c;
            if (c->fd != -1 && !listener) {
                bw_connection_close(c);
            }
        }
        bw_listening_worker_stop(&w->cycle);
        bw_event_loop_done();
    }
    bw_listening_close_all(&w->cycle);
    bw_pool_destroy(w->cycle.pool);
    w->cycle.pool = NULL;
}

static int
bw_test_setup(void **state)
{
    (void) state;
    bw_module_init();
    bw_test_log_capture(&bw_test_log, &bw_test_log_file);
    bw_listening_bind_delay = 10;
    bw_test_world_init(&bw_test_a, 1);
    bw_test_world_init(&bw_test_b, 1);
    bw_cycle = &bw_test_a.cycle;
    *bw_conn_stats = (bw_conn_stats_t) {0};
    return 0;
}

static int
bw_test_teardown(void **state)
{
    (void) state;
    bw_test_world_done(&bw_test_b);
    bw_test_world_done(&bw_test_a);
    close(bw_test_log_file.fd);
    unsetenv("BULWARK");
    return 0;
}

static struct sockaddr_in
bw_test_sin(uint16_t port)
{
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(port)};
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return sin;
}

/* A port on 127.0.0.1 that was free a moment ago. */
static uint16_t
bw_test_free_port(void)
{
    struct sockaddr_in sin = bw_test_sin(0);
    socklen_t len = sizeof(sin);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_int_equal(bind(fd, (struct sockaddr *) &sin, sizeof(sin)), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *) &sin, &len), 0);
    close(fd);
    return ntohs(sin.sin_port);
}

static uint16_t
bw_test_bound_port(int fd)
{
    struct sockaddr_in sin;
    socklen_t len = sizeof(sin);
    assert_int_equal(getsockname(fd, (struct sockaddr *) &sin, &len), 0);
    return ntohs(sin.sin_port);
}

static int
bw_test_sockopt(int fd, int level, int name)
{
    int v = -1;
    socklen_t len = sizeof(v);
    assert_int_equal(getsockopt(fd, level, name, &v, &len), 0);
    return v;
}

static bool
bw_test_fd_open(int fd)
{
    return fcntl(fd, F_GETFD) != -1;
}

static bw_listening_t *
bw_test_add(bw_test_world_t *w, uint16_t port)
{
    struct sockaddr_in sin = bw_test_sin(port);
    bw_listening_t *ls = bw_listening_add(&w->cycle, (struct sockaddr *) &sin, sizeof(sin));
    assert_non_null(ls);
    return ls;
}

static bw_listening_t *
bw_test_ls(bw_test_world_t *w, size_t i)
{
    assert_true(i < w->cycle.listening.nelts);
    return &bw_array_at(&w->cycle.listening, bw_listening_t, i);
}

static void
test_listen_add_fills_nginx_defaults(void **state)
{
    (void) state;
    struct sockaddr_in any = {.sin_family = AF_INET, .sin_port = htons(80)};
    bw_listening_t *ls = bw_listening_add(&bw_test_a.cycle, (struct sockaddr *) &any, sizeof(any));
    assert_non_null(ls);
    assert_string_equal((char *) ls->addr_text.data, "0.0.0.0:80");
    assert_int_equal(ls->backlog, 511);
    assert_int_equal(ls->rcvbuf, -1);
    assert_int_equal(ls->fd, -1);
    assert_true(ls->ipv6only);
    assert_true(ls->wildcard);
    assert_false(ls->reuseport);
    assert_int_equal(ls->pool_size, 1024);
}

static void
test_listen_open_ipv4_loopback(void **state)
{
    (void) state;
    bw_test_add(&bw_test_a, 0);
    assert_int_equal(bw_listening_open(&bw_test_a.cycle), BW_OK);
    bw_listening_t *ls = bw_test_ls(&bw_test_a, 0);
    assert_string_equal((char *) ls->addr_text.data, "127.0.0.1:0");
    assert_false(ls->wildcard);
    assert_true(ls->fd >= 0);
    assert_true(ls->open);
    assert_false(ls->remain);
    assert_int_equal(bw_test_sockopt(ls->fd, SOL_SOCKET, SO_ACCEPTCONN), 1);
    assert_int_equal(bw_test_sockopt(ls->fd, SOL_SOCKET, SO_REUSEADDR), 1);
    assert_true(fcntl(ls->fd, F_GETFL) & O_NONBLOCK);
    assert_true(fcntl(ls->fd, F_GETFD) & FD_CLOEXEC);
}

static void
test_listen_open_ipv6_loopback(void **state)
{
    (void) state;
    int probe = socket(AF_INET6, SOCK_STREAM, 0);
    struct sockaddr_in6 sin6 = {.sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT};
    if (probe == -1 || bind(probe, (struct sockaddr *) &sin6, sizeof(sin6)) == -1) {
        if (probe != -1) {
            close(probe);
        }
        skip();
    }
    close(probe);

    bw_listening_t *ls = bw_listening_add(&bw_test_a.cycle, (struct sockaddr *) &sin6,
                                          sizeof(sin6));
    assert_non_null(ls);
    assert_string_equal((char *) ls->addr_text.data, "[::1]:0");
    assert_int_equal(bw_listening_open(&bw_test_a.cycle), BW_OK);
    ls = bw_test_ls(&bw_test_a, 0);
    assert_int_equal(bw_test_sockopt(ls->fd, SOL_SOCKET, SO_ACCEPTCONN), 1);
    assert_int_equal(bw_test_sockopt(ls->fd, IPPROTO_IPV6, IPV6_V6ONLY), 1);
}

static void
test_listen_applies_socket_options(void **state)
{
    (void) state;
    bw_listening_t *ls = bw_test_add(&bw_test_a, 0);
    ls->rcvbuf = 65536;
    ls->so_keepalive = 1;
    ls->keepidle = 30;
    ls->deferred_accept = 1;
    assert_int_equal(bw_listening_open(&bw_test_a.cycle), BW_OK);
    ls = bw_test_ls(&bw_test_a, 0);
    /* Linux doubles SO_RCVBUF for bookkeeping. */
    assert_true(bw_test_sockopt(ls->fd, SOL_SOCKET, SO_RCVBUF) >= 65536);
    assert_int_equal(bw_test_sockopt(ls->fd, SOL_SOCKET, SO_KEEPALIVE), 1);
    assert_int_equal(bw_test_sockopt(ls->fd, IPPROTO_TCP, TCP_KEEPIDLE), 30);
    assert_true(bw_test_sockopt(ls->fd, IPPROTO_TCP, TCP_DEFER_ACCEPT) >= 1);
}

static void
test_listen_reuseport_clones_one_socket_per_worker(void **state)
{
    (void) state;
    bw_test_a.ccf.worker_processes = 3;
    uint16_t port = bw_test_free_port();
    bw_test_add(&bw_test_a, port)->reuseport = 1;
    assert_int_equal(bw_listening_open(&bw_test_a.cycle), BW_OK);

    assert_int_equal(bw_test_a.cycle.listening.nelts, 3);
    for (int i = 0; i < 3; i++) {
        bw_listening_t *ls = bw_test_ls(&bw_test_a, (size_t) i);
        assert_int_equal(ls->worker, i);
        assert_true(ls->reuseport);
        assert_int_equal(bw_test_sockopt(ls->fd, SOL_SOCKET, SO_REUSEPORT), 1);
        assert_int_equal(bw_test_bound_port(ls->fd), port);
        for (int j = 0; j < i; j++) {
            assert_int_not_equal(ls->fd, bw_test_ls(&bw_test_a, (size_t) j)->fd);
        }
    }
}

static void
test_listen_reload_takes_over_equal_address(void **state)
{
    (void) state;
    uint16_t kept = bw_test_free_port(), dropped = bw_test_free_port();
    bw_test_add(&bw_test_a, kept);
    bw_test_add(&bw_test_a, dropped);
    assert_int_equal(bw_listening_open(&bw_test_a.cycle), BW_OK);
    int kept_fd = bw_test_ls(&bw_test_a, 0)->fd, dropped_fd = bw_test_ls(&bw_test_a, 1)->fd;

    bw_test_b.cycle.old_cycle = &bw_test_a.cycle;
    bw_test_add(&bw_test_b, kept);
    bw_test_add(&bw_test_b, 0)->backlog = 100; /* a new address */
    assert_int_equal(bw_listening_open(&bw_test_b.cycle), BW_OK);
    bw_test_b.cycle.old_cycle = NULL;

    assert_int_equal(bw_test_ls(&bw_test_b, 0)->fd, kept_fd);
    assert_true(bw_test_ls(&bw_test_b, 0)->remain);
    assert_false(bw_test_ls(&bw_test_b, 1)->remain);

    bw_listening_close_unused(&bw_test_a.cycle, &bw_test_b.cycle);
    assert_true(bw_test_fd_open(kept_fd));
    assert_false(bw_test_fd_open(dropped_fd));
    assert_int_equal(bw_test_ls(&bw_test_a, 1)->fd, -1);
    /* The old cycle no longer closes the kept socket when it goes. */
    bw_test_ls(&bw_test_a, 0)->fd = -1;
}

static void
test_listen_bind_in_use_retries_then_fails(void **state)
{
    (void) state;
    uint16_t port = bw_test_free_port();
    struct sockaddr_in sin = bw_test_sin(port);
    int holder = socket(AF_INET, SOCK_STREAM, 0);
    assert_int_equal(bind(holder, (struct sockaddr *) &sin, sizeof(sin)), 0);
    assert_int_equal(listen(holder, 1), 0);

    bw_test_add(&bw_test_a, 0);
    bw_test_add(&bw_test_a, port);
    assert_int_equal(bw_listening_open(&bw_test_a.cycle), BW_ERROR);

    char msg[128];
    snprintf(msg, sizeof(msg), "[emerg] %d#%d: bind() to 127.0.0.1:%u failed (98: Address "
             "already in use)", (int) getpid(), (int) getpid(), port);
    assert_int_equal(bw_test_log_count(&bw_test_log_file, msg), BW_LISTENING_BIND_TRIES);
    assert_int_equal(bw_test_log_count(&bw_test_log_file, "try again to bind() after 10ms"),
                     BW_LISTENING_BIND_TRIES - 1);
    assert_true(bw_test_log_has(&bw_test_log_file, "[emerg]"));
    assert_true(bw_test_log_has(&bw_test_log_file, "still could not bind()"));
    /* The socket it did open was closed again. */
    assert_int_equal(bw_test_ls(&bw_test_a, 0)->fd, -1);
    close(holder);
}

static void
test_listen_env_round_trip_inherits_sockets(void **state)
{
    (void) state;
    uint16_t p1 = bw_test_free_port(), p2 = bw_test_free_port();
    bw_test_add(&bw_test_a, p1);
    bw_test_add(&bw_test_a, p2);
    assert_int_equal(bw_listening_open(&bw_test_a.cycle), BW_OK);
    int fd1 = bw_test_ls(&bw_test_a, 0)->fd, fd2 = bw_test_ls(&bw_test_a, 1)->fd;

    const char *env = bw_listening_env(&bw_test_a.cycle);
    char want[64];
    snprintf(want, sizeof(want), "BULWARK=%d;%d;", fd1, fd2);
    assert_string_equal(env, want);

    bw_listening_prepare_exec(&bw_test_a.cycle);
    assert_false(fcntl(fd1, F_GETFD) & FD_CLOEXEC);
    assert_false(fcntl(fd2, F_GETFD) & FD_CLOEXEC);

    /* The "new binary": same process, a fresh cycle, the variable set. */
    setenv("BULWARK", env + sizeof("BULWARK=") - 1, 1);
    assert_int_equal(bw_listening_inherit(&bw_test_b.cycle), BW_OK);
    char note[96];
    snprintf(note, sizeof(note), "[notice] %d#%d: using inherited sockets from \"%s\"",
             (int) getpid(), (int) getpid(), env + sizeof("BULWARK=") - 1);
    assert_true(bw_test_log_has(&bw_test_log_file, note));

    bw_test_add(&bw_test_b, p2);
    assert_int_equal(bw_listening_open(&bw_test_b.cycle), BW_OK);
    bw_listening_t *ls = bw_test_ls(&bw_test_b, 0);
    assert_int_equal(ls->fd, fd2);
    assert_true(ls->inherited);
    assert_true(ls->remain);
    /* Inherited again close-on-exec; the socket nobody adopted is closed. */
    assert_true(fcntl(fd2, F_GETFD) & FD_CLOEXEC);
    assert_false(bw_test_fd_open(fd1));
    bw_test_ls(&bw_test_a, 0)->fd = -1;
    bw_test_ls(&bw_test_a, 1)->fd = -1;
}

static void
test_listen_inherit_rejects_bad_number(void **state)
{
    (void) state;
    setenv("BULWARK", "x7;", 1);
    assert_int_equal(bw_listening_inherit(&bw_test_a.cycle), BW_OK);
    assert_true(bw_test_log_has(&bw_test_log_file,
                                "invalid socket number \"x7;\" in BULWARK environment "
                                "variable, ignoring the rest of the variable"));
    bw_test_add(&bw_test_a, 0);
    assert_int_equal(bw_listening_open(&bw_test_a.cycle), BW_OK);
    assert_false(bw_test_ls(&bw_test_a, 0)->inherited);
}

/* ---- accept through the loop ---- */

static bw_connection_t *bw_test_accepted[8];
static int              bw_test_accepted_n;

static void
bw_test_on_accept(bw_connection_t *c)
{
    if (bw_test_accepted_n < 8) {
        bw_test_accepted[bw_test_accepted_n] = c;
    }
    bw_test_accepted_n++;
}

/* Opens 127.0.0.1:<ephemeral>, starts worker `slot` polling; returns the port. */
static uint16_t
bw_test_worker(bw_uint_t slots)
{
    bw_test_accepted_n = 0;
    bw_test_add(&bw_test_a, 0)->handler = bw_test_on_accept;
    assert_int_equal(bw_listening_open(&bw_test_a.cycle), BW_OK);
    assert_int_equal(bw_connections_init(&bw_test_a.cycle, slots), BW_OK);
    assert_int_equal(bw_event_loop_init(&bw_test_a.cycle), BW_OK);
    assert_int_equal(bw_listening_worker_start(&bw_test_a.cycle, 0), BW_OK);
    return bw_test_bound_port(bw_test_ls(&bw_test_a, 0)->fd);
}

static int
bw_test_connect(uint16_t port)
{
    struct sockaddr_in sin = bw_test_sin(port);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_int_equal(connect(fd, (struct sockaddr *) &sin, sizeof(sin)), 0);
    return fd;
}

/* Loop turns (each at most 50 ms) until `n` connections were accepted. */
static void
bw_test_accept_until(int n)
{
    bw_event_t guard = {.handler = bw_event_empty_handler};
    for (int i = 0; i < 20 && bw_test_accepted_n < n; i++) {
        bw_event_add_timer(&guard, 50);
        bw_event_process(&bw_test_a.cycle);
    }
    bw_event_del_timer(&guard);
}

static void
test_accept_hands_new_connection_to_handler(void **state)
{
    (void) state;
    uint16_t port = bw_test_worker(8);
    bw_listening_t *ls = bw_test_ls(&bw_test_a, 0);
    assert_non_null(ls->connection);
    assert_int_equal(bw_connections_active(&bw_test_a.cycle), 0);

    int client = bw_test_connect(port);
    bw_test_accept_until(1);
    assert_int_equal(bw_test_accepted_n, 1);

    bw_connection_t *c = bw_test_accepted[0];
    assert_string_equal((char *) c->addr_text.data, "127.0.0.1");
    assert_int_equal(c->addr_text.len, 9);
    assert_ptr_equal(c->listening, ls);
    assert_int_equal(c->log->connection, c->number);
    assert_non_null(c->pool);
    assert_true(c->read->active && c->write->active);
    assert_true(c->write->ready);
    assert_non_null(c->local_sockaddr);
    assert_int_equal(bw_conn_stats->accepts, 1);
    assert_int_equal(bw_conn_stats->handled, 1);
    assert_int_equal(bw_conn_stats->active, 1);
    assert_int_equal(bw_connections_active(&bw_test_a.cycle), 1);
    assert_true(fcntl(c->fd, F_GETFL) & O_NONBLOCK);

    /* Bytes the client sends reach the connection through the loop. */
    assert_int_equal(write(client, "ping", 4), 4);
    u_char buf[8];
    ssize_t n = BW_AGAIN;
    bw_event_t guard = {.handler = bw_event_empty_handler};
    for (int i = 0; i < 20 && n == BW_AGAIN; i++) {
        bw_event_add_timer(&guard, 50);
        bw_event_process(&bw_test_a.cycle);
        n = c->recv(c, buf, sizeof(buf));
    }
    bw_event_del_timer(&guard);
    assert_int_equal(n, 4);

    bw_connection_close(c);
    assert_int_equal(bw_conn_stats->active, 0);
    assert_int_equal(bw_connections_active(&bw_test_a.cycle), 0);
    close(client);
}

static void
test_accept_one_per_wakeup_without_multi_accept(void **state)
{
    (void) state;
    uint16_t port = bw_test_worker(8);
    int c1 = bw_test_connect(port), c2 = bw_test_connect(port);
    usleep(20000);

    bw_event_t guard = {.handler = bw_event_empty_handler};
    bw_event_add_timer(&guard, 50);
    bw_event_process(&bw_test_a.cycle);
    assert_int_equal(bw_test_accepted_n, 1);
    /* Level-triggered: the one still queued is reported on the next turn. */
    bw_event_add_timer(&guard, 50);
    bw_event_process(&bw_test_a.cycle);
    bw_event_del_timer(&guard);
    assert_int_equal(bw_test_accepted_n, 2);
    close(c1);
    close(c2);
}

static void
test_accept_multi_accept_drains_queue(void **state)
{
    (void) state;
    bw_test_a.ecf.multi_accept = 1;
    uint16_t port = bw_test_worker(8);
    int fds[3];
    for (int i = 0; i < 3; i++) {
        fds[i] = bw_test_connect(port);
    }
    usleep(20000);
    bw_event_t guard = {.handler = bw_event_empty_handler};
    bw_event_add_timer(&guard, 50);
    bw_event_process(&bw_test_a.cycle);
    bw_event_del_timer(&guard);
    assert_int_equal(bw_test_accepted_n, 3);
    assert_int_equal(bw_conn_stats->accepts, 3);
    for (int i = 0; i < 3; i++) {
        close(fds[i]);
    }
}

static int bw_test_reclaimed;

static void
bw_test_idle_handler(bw_event_t *ev)
{
    bw_connection_t *c = ev->data;
    if (c->close) {
        bw_test_reclaimed++;
        bw_connection_close(c);
    }
}

static void
test_accept_exhaustion_closes_socket_then_reclaim_makes_room(void **state)
{
    (void) state;
    /* 3 slots: the listener and two clients. */
    uint16_t port = bw_test_worker(3);
    int c1 = bw_test_connect(port), c2 = bw_test_connect(port);
    bw_test_accept_until(2);
    assert_int_equal(bw_test_accepted_n, 2);

    int c3 = bw_test_connect(port);
    bw_test_accept_until(3);
    assert_int_equal(bw_test_accepted_n, 2);
    assert_int_equal(bw_conn_stats->accepts, 3);
    assert_int_equal(bw_conn_stats->handled, 2);
    assert_true(bw_test_log_has(&bw_test_log_file, "3 worker_connections are not enough"));
    /* The refused client sees its connection closed. */
    u_char b;
    struct timeval tv = {1, 0};
    setsockopt(c3, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    assert_true(read(c3, &b, 1) <= 0);

    /* An idle keep-alive connection gives its slot to the next client. */
    bw_test_reclaimed = 0;
    bw_connection_t *idle = bw_test_accepted[0];
    idle->read->handler = bw_test_idle_handler;
    bw_connection_reusable(idle, true);
    int c4 = bw_test_connect(port);
    bw_test_accept_until(3);
    assert_int_equal(bw_test_accepted_n, 3);
    assert_int_equal(bw_test_reclaimed, 1);
    assert_true(bw_test_log_has(&bw_test_log_file, "reusing connections"));
    assert_true(read(c1, &b, 1) <= 0); /* the reclaimed client was closed */
    close(c1);
    close(c2);
    close(c3);
    close(c4);
}

static void
test_worker_start_keeps_only_its_reuseport_clone(void **state)
{
    (void) state;
    bw_test_a.ccf.worker_processes = 2;
    bw_test_accepted_n = 0;
    bw_listening_t *ls = bw_test_add(&bw_test_a, bw_test_free_port());
    ls->reuseport = 1;
    ls->handler = bw_test_on_accept;
    assert_int_equal(bw_listening_open(&bw_test_a.cycle), BW_OK);
    int fd0 = bw_test_ls(&bw_test_a, 0)->fd;
    assert_int_equal(bw_connections_init(&bw_test_a.cycle, 8), BW_OK);
    assert_int_equal(bw_event_loop_init(&bw_test_a.cycle), BW_OK);
    assert_int_equal(bw_listening_worker_start(&bw_test_a.cycle, 1), BW_OK);

    assert_int_equal(bw_test_ls(&bw_test_a, 0)->fd, -1);
    assert_false(bw_test_fd_open(fd0));
    assert_null(bw_test_ls(&bw_test_a, 0)->connection);
    assert_non_null(bw_test_ls(&bw_test_a, 1)->connection);

    int client = bw_test_connect(bw_test_bound_port(bw_test_ls(&bw_test_a, 1)->fd));
    bw_test_accept_until(1);
    assert_int_equal(bw_test_accepted_n, 1);
    close(client);
}

static void
test_worker_stop_refuses_new_connections(void **state)
{
    (void) state;
    uint16_t port = bw_test_worker(8);
    bw_listening_worker_stop(&bw_test_a.cycle);
    assert_null(bw_test_ls(&bw_test_a, 0)->connection);
    assert_int_equal(bw_test_ls(&bw_test_a, 0)->fd, -1);
    assert_int_equal(bw_test_a.cycle.free_connection_n, 8);

    struct sockaddr_in sin = bw_test_sin(port);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_int_equal(connect(fd, (struct sockaddr *) &sin, sizeof(sin)), -1);
    assert_int_equal(errno, ECONNREFUSED);
    close(fd);
}

int
main(void)
{
#define BW_T(f) cmocka_unit_test_setup_teardown(f, bw_test_setup, bw_test_teardown)
    const struct CMUnitTest tests[] = {
        BW_T(test_listen_add_fills_nginx_defaults),
        BW_T(test_listen_open_ipv4_loopback),
        BW_T(test_listen_open_ipv6_loopback),
        BW_T(test_listen_applies_socket_options),
        BW_T(test_listen_reuseport_clones_one_socket_per_worker),
        BW_T(test_listen_reload_takes_over_equal_address),
        BW_T(test_listen_bind_in_use_retries_then_fails),
        BW_T(test_listen_env_round_trip_inherits_sockets),
        BW_T(test_listen_inherit_rejects_bad_number),
        BW_T(test_accept_hands_new_connection_to_handler),
        BW_T(test_accept_one_per_wakeup_without_multi_accept),
        BW_T(test_accept_multi_accept_drains_queue),
        BW_T(test_accept_exhaustion_closes_socket_then_reclaim_makes_room),
        BW_T(test_worker_start_keeps_only_its_reuseport_clone),
        BW_T(test_worker_stop_refuses_new_connections),
    };
#undef BW_T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
