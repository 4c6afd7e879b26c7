/*
 * test_slowloris.c -- many clients trickling request heads must not stop
 * normal clients. 200 connections each send a byte of a never-ending head
 * every 300 ms (and reconnect when cut, as an attacker would) while normal
 * requests are timed:
 *   - with worker_connections to spare, client_header_timeout cuts the slow
 *     heads (it bounds the whole head, not each read) and normal requests
 *     stay fast;
 *   - with fewer worker_connections than slow clients, the idle and
 *     trickling connections are reclaimed for new ones (least recently
 *     active first), so normal requests still get slots.
 * Everything is bounded: 200 sockets, a few seconds.
 */
#include "harness.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define BW_SL_SLOW   200
#define BW_SL_TICK   300  /* ms between trickled bytes */
#define BW_SL_RUN_MS 4000

typedef struct {
    int    fd;
    size_t sent;
} bw_sl_slow_t;

static int
bw_sl_connect(int port)
{
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t) port)};
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return -1;
    }
    if (connect(fd, (struct sockaddr *) &sin, sizeof(sin)) == -1 && errno != EINPROGRESS) {
        close(fd);
        return -1;
    }
    return fd;
}

/* One more byte of "GET / HTTP/1.1\r\nX-aaaa..." per slow client; reconnects the cut ones. */
static int
bw_sl_trickle(bw_sl_slow_t *slow, int n, int port)
{
    static const char head[] = "GET / HTTP/1.1\r\nHost: a\r\nX-Slow: ";
    int reconnects = 0;

    for (int i = 0; i < n; i++) {
        char buf[16];
        if (slow[i].fd >= 0 && recv(slow[i].fd, buf, sizeof(buf), MSG_DONTWAIT) == 0) {
            close(slow[i].fd); /* cut by the server */
            slow[i].fd = -1;
        }
        if (slow[i].fd < 0) {
            slow[i].fd = bw_sl_connect(port);
            slow[i].sent = 0;
            reconnects++;
            continue;
        }
        char ch = slow[i].sent < sizeof(head) - 1 ? head[slow[i].sent] : 'a';
        ssize_t w = send(slow[i].fd, &ch, 1, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w == 1) {
            slow[i].sent++;
        } else if (w < 0 && errno != EAGAIN && errno != ENOTCONN && errno != EINPROGRESS) {
            close(slow[i].fd);
            slow[i].fd = -1;
        }
    }
    return reconnects;
}

/* Runs the attack against srv while timing normal requests; asserts they all succeed. */
static void
bw_sl_attack(bw_test_server_t *srv, int max_latency_ms, int *reconnects)
{
    static bw_sl_slow_t slow[BW_SL_SLOW];
    int normal = 0;
    int64_t worst = 0;

    for (int i = 0; i < BW_SL_SLOW; i++) {
        slow[i].fd = bw_sl_connect(srv->port);
        slow[i].sent = 0;
        assert_true(slow[i].fd >= 0);
    }
    *reconnects = 0;
    int64_t start = bw_test_now_ms(), next_tick = start;
    while (bw_test_now_ms() - start < BW_SL_RUN_MS) {
        if (bw_test_now_ms() >= next_tick) {
            *reconnects += bw_sl_trickle(slow, BW_SL_SLOW, srv->port);
            next_tick += BW_SL_TICK;
        }
        bw_test_response_t r;
        int64_t t0 = bw_test_now_ms();
        int rc = bw_test_http_get(srv->port, "/", &r);
        int64_t took = bw_test_now_ms() - t0;
        if (rc != 0 || r.status != 200) {
            fail_msg("normal request %d failed (rc %d, status %d) after %lld ms", normal, rc,
                     rc == 0 ? r.status : 0, (long long) took);
        }
        bw_test_response_free(&r);
        worst = took > worst ? took : worst;
        normal++;
        bw_test_sleep_ms(20);
    }
    for (int i = 0; i < BW_SL_SLOW; i++) {
        if (slow[i].fd >= 0) {
            close(slow[i].fd);
        }
    }
    print_message("%d normal requests, worst %lld ms, %d slow reconnects\n", normal,
                  (long long) worst, *reconnects);
    assert_true(normal >= 20);
    assert_true(worst < max_latency_ms);
}

static void
test_slow_heads_cut_by_header_timeout_normal_clients_served(void **state)
{
    bw_test_server_t *srv = bw_test_server_start(
        "events { worker_connections 512; }\n"
        "http {\n"
        "  client_header_timeout 1s;\n"
        "  server { listen 127.0.0.1:%%PORT%%; location / { return 200 \"fine\\n\"; } }\n"
        "}\n");
    assert_non_null(srv);
    int reconnects;
    bw_sl_attack(srv, 1000, &reconnects);
    /* the slow heads were cut while they kept trickling: the timer bounds the whole head */
    assert_true(reconnects >= BW_SL_SLOW);
    assert_true(bw_test_server_log_count(srv, "client timed out") >= BW_SL_SLOW);
    bw_test_server_stop(srv);
}

static void
test_slow_clients_beyond_worker_connections_are_reclaimed(void **state)
{
    bw_test_server_t *srv = bw_test_server_start(
        "events { worker_connections 64; }\n"
        "http {\n"
        "  client_header_timeout 60s;\n"
        "  server { listen 127.0.0.1:%%PORT%%; location / { return 200 \"fine\\n\"; } }\n"
        "}\n");
    assert_non_null(srv);
    bw_test_server_allow(srv, "worker_connections are not enough");
    int reconnects;
    bw_sl_attack(srv, 1500, &reconnects);
    assert_true(bw_test_server_log_count(srv, "worker_connections are not enough, reusing "
                                              "connections") >= 1);
    bw_test_server_stop(srv);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_slow_heads_cut_by_header_timeout_normal_clients_served),
        cmocka_unit_test(test_slow_clients_beyond_worker_connections_are_reclaimed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
