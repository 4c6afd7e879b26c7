/*
 * test_balancers.c -- the balancing methods through the real binary and
 * four bw_origin processes named a, b, c and d (X-Origin tells which one
 * answered): hash (nginx's key-to-server mapping), hash consistent (adding
 * a server remaps about a quarter of the keys, all to the new one),
 * ip_hash (first three octets, nginx's mapping; client addresses come from
 * X-Real-IP through realip), least_conn and random two avoiding a busy
 * server, least_conn wrapped by keepalive, random spreading by weight, a
 * zone making two workers share failures and round-robin order, and the
 * configuration messages of hash, ip_hash, least_conn, random and zone.
 */
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    bw_test_origin_t *o[4];
    int               port[4];
    bw_test_server_t *srv;
} bw_bal_fx_t;

static bw_bal_fx_t bw_bal;

#define A "server 127.0.0.1:%%ORIGIN_PORT%%"
#define B "server 127.0.0.1:%%ORIGIN_PORT2%%"
#define C "server 127.0.0.1:%%ORIGIN_PORT3%%"
#define D "server 127.0.0.1:%%ORIGIN_PORT4%%"

static const char bw_bal_conf[] =
    "http {\n"
    "  set_real_ip_from 127.0.0.1; real_ip_header X-Real-IP;\n"
    "  upstream h { hash $arg_k; " A "; " B "; " C "; }\n"
    "  upstream ch3 { hash $arg_k consistent; " A "; " B "; " C "; }\n"
    "  upstream ch4 { hash $arg_k consistent; " A "; " B "; " C "; " D "; }\n"
    "  upstream ch3z { zone chz 64k; hash $arg_k consistent; " A "; " B "; " C "; }\n"
    "  upstream ip { ip_hash; " A "; " B "; " C "; }\n"
    "  upstream lc { least_conn; " A "; " B "; " C "; }\n"
    "  upstream lcka { least_conn; " A "; " B "; keepalive 4; }\n"
    "  upstream rnd { random; " A " weight=2; " B "; " C "; }\n"
    "  upstream rnd2 { random two least_conn; " A "; " B "; }\n"
    "  server {\n"
    "    listen 127.0.0.1:%%PORT%%;\n"
    "    location /h/ { proxy_pass http://h; }\n"
    "    location /ch3/ { proxy_pass http://ch3; }\n"
    "    location /ch4/ { proxy_pass http://ch4; }\n"
    "    location /ch3z/ { proxy_pass http://ch3z; }\n"
    "    location /ip/ { proxy_pass http://ip; }\n"
    "    location /lc/ { proxy_pass http://lc; }\n"
    "    location /lcka/ { proxy_http_version 1.1; proxy_set_header Connection \"\";\n"
    "                      proxy_pass http://lcka; }\n"
    "    location /rnd/ { proxy_pass http://rnd; }\n"
    "    location /rnd2/ { proxy_pass http://rnd2; }\n"
    "  }\n"
    "}\n";

static int
bw_bal_setup(void **state)
{
    static const char *names[4] = {"a", "b", "c", "d"};

    memset(&bw_bal, 0, sizeof(bw_bal));
    for (int i = 0; i < 4; i++) {
        bw_bal.o[i] = bw_test_origin_start(&bw_bal.port[i], "-n", names[i]);
        if (bw_bal.o[i] == NULL) {
            return -1;
        }
    }
    bw_bal.srv = bw_test_server_start(bw_bal_conf);
    return bw_bal.srv ? 0 : -1;
}

static int
bw_bal_teardown(void **state)
{
    bw_test_server_stop(bw_bal.srv);
    for (int i = 0; i < 4; i++) {
        bw_test_origin_stop(bw_bal.o[i]);
    }
    return 0;
}

/* GET uri (with an X-Real-IP header when ip is not NULL) on port: the X-Origin letter. */
static char
bw_bal_get_from(int port, const char *uri, const char *ip)
{
    bw_test_response_t r;
    char               raw[512];

    snprintf(raw, sizeof(raw),
             "GET %s HTTP/1.1\r\nHost: localhost\r\n%s%s%sConnection: close\r\n\r\n", uri,
             ip ? "X-Real-IP: " : "", ip ? ip : "", ip ? "\r\n" : "");
    assert_int_equal(bw_test_http_request(port, raw, &r), 0);
    assert_int_equal(r.status, 200);
    const char *o = bw_test_response_header(&r, "X-Origin");
    char        who = o ? o[0] : '-';
    bw_test_response_free(&r);
    return who;
}

static char
bw_bal_get(const char *uri)
{
    return bw_bal_get_from(bw_bal.srv->port, uri, NULL);
}

/* --------------------------------------------------------------- hash */

static void
test_balancer_hash_maps_keys_like_nginx(void **state)
{
    char seq[48], uri[64];

    for (int k = 0; k < 40; k++) {
        snprintf(uri, sizeof(uri), "/h/?k=key%d", k);
        seq[k] = bw_bal_get(uri);
    }
    seq[40] = '\0';
    /* recorded from nginx with the same key and three servers of weight 1 */
    assert_string_equal(seq, "cbabccbaabbbbcbababbbacbbcaacaccacbaccbb");
    /* and again: the mapping is stable */
    for (int k = 0; k < 40; k++) {
        snprintf(uri, sizeof(uri), "/h/?k=key%d", k);
        assert_int_equal(bw_bal_get(uri), seq[k]);
    }
}

static void
test_balancer_hash_consistent_new_server_takes_about_a_quarter(void **state)
{
    enum { N = 200 };
    char uri[64];
    int  moved = 0;
    int  seen[3] = {0, 0, 0};

    for (int k = 0; k < N; k++) {
        snprintf(uri, sizeof(uri), "/ch3/?k=/object/%d", k);
        char before = bw_bal_get(uri);
        snprintf(uri, sizeof(uri), "/ch4/?k=/object/%d", k);
        char after = bw_bal_get(uri);
        snprintf(uri, sizeof(uri), "/ch3z/?k=/object/%d", k);
        assert_int_equal(bw_bal_get(uri), before); /* the ring survives the move to a zone */
        assert_in_range(before, 'a', 'c');
        seen[before - 'a']++;
        if (after != before) {
            assert_int_equal(after, 'd'); /* keys only move to the new server */
            moved++;
        }
    }
    assert_in_range(moved, N / 4 - 25, N / 4 + 25);
    for (int i = 0; i < 3; i++) {
        assert_in_range(seen[i], N / 3 - 30, N / 3 + 30);
    }
}

static void
test_balancer_ip_hash_uses_first_three_octets_like_nginx(void **state)
{
    char seq[48], ip[32];
    int  port = bw_bal.srv->port;

    for (int k = 0; k < 30; k++) {
        snprintf(ip, sizeof(ip), "192.168.%d.1", k);
        seq[k] = bw_bal_get_from(port, "/ip/", ip);
        snprintf(ip, sizeof(ip), "192.168.%d.%d", k, 200 - k);
        assert_int_equal(bw_bal_get_from(port, "/ip/", ip), seq[k]);
    }
    seq[30] = '\0';
    /* nginx */
    assert_string_equal(seq, "abcabcabcabcabcabcabcabcabcabc");
}

/* ---------------------------------------------------------- least_conn */

/* Starts a request for uri that the origin answers after delay_ms; the connection. */
static bw_test_conn_t *
bw_bal_slow_start(const char *uri)
{
    char            raw[256];
    bw_test_conn_t *c = bw_test_conn_open(bw_bal.srv->port);

    assert_non_null(c);
    snprintf(raw, sizeof(raw), "GET %s HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
             uri);
    assert_int_equal(bw_test_conn_send_str(c, raw), 0);
    bw_test_sleep_ms(200); /* the proxy has connected to its peer by now */
    return c;
}

/* The X-Origin letter of the slow request's answer. */
static char
bw_bal_slow_finish(bw_test_conn_t *c)
{
    bw_test_response_t r;

    assert_int_equal(bw_test_conn_read_response(c, &r), 0);
    assert_int_equal(r.status, 200);
    char who = bw_test_response_header(&r, "X-Origin")[0];
    bw_test_response_free(&r);
    bw_test_conn_close(c);
    return who;
}

static void
test_balancer_least_conn_avoids_the_busy_server(void **state)
{
    bw_test_conn_t *slow = bw_bal_slow_start("/lc/?delay=1500");
    char            seq[8];

    for (int i = 0; i < 6; i++) {
        seq[i] = bw_bal_get("/lc/");
    }
    seq[6] = '\0';
    char busy = bw_bal_slow_finish(slow);
    assert_null(strchr(seq, busy));
    /* the two idle servers share the rest in turn */
    assert_true(seq[0] != seq[1] && seq[0] == seq[2] && seq[1] == seq[3]);
}

static void
test_balancer_least_conn_with_keepalive_reuses_connections(void **state)
{
    bw_test_response_t r;
    long               conn[2] = {0, 0};
    int                seen[2] = {0, 0};

    for (int i = 0; i < 8; i++) {
        assert_int_equal(bw_test_http_get(bw_bal.srv->port, "/lcka/?len=10", &r), 0);
        assert_int_equal(r.status, 200);
        int  who = bw_test_response_header(&r, "X-Origin")[0] - 'a';
        long c = atol(bw_test_response_header(&r, "X-Origin-Conn"));
        assert_in_range(who, 0, 1);
        if (seen[who]++) {
            assert_int_equal(c, conn[who]); /* the cached connection again */
        }
        conn[who] = c;
        bw_test_response_free(&r);
    }
    assert_int_equal(seen[0], 4);
    assert_int_equal(seen[1], 4);

    /* least_conn still decides under the cache */
    bw_test_conn_t *slow = bw_bal_slow_start("/lcka/?delay=1000");
    char            seq[5];
    for (int i = 0; i < 4; i++) {
        seq[i] = bw_bal_get("/lcka/");
    }
    seq[4] = '\0';
    char busy = bw_bal_slow_finish(slow);
    assert_null(strchr(seq, busy));
    assert_int_equal(bw_test_server_log_count(bw_bal.srv, "load balancing method redefined"), 0);
}

/* -------------------------------------------------------------- random */

static void
test_balancer_random_spreads_by_weight(void **state)
{
    int count[3] = {0, 0, 0};

    for (int i = 0; i < 400; i++) {
        char who = bw_bal_get("/rnd/");
        assert_in_range(who, 'a', 'c');
        count[who - 'a']++;
    }
    /* weights 2:1:1; about 5 standard deviations of slack */
    assert_in_range(count[0], 200 - 50, 200 + 50);
    assert_in_range(count[1], 100 - 45, 100 + 45);
    assert_in_range(count[2], 100 - 45, 100 + 45);
}

static void
test_balancer_random_two_avoids_the_busy_server(void **state)
{
    bw_test_conn_t *slow = bw_bal_slow_start("/rnd2/?delay=1500");
    char            seq[12];

    for (int i = 0; i < 10; i++) {
        seq[i] = bw_bal_get("/rnd2/");
    }
    seq[10] = '\0';
    char busy = bw_bal_slow_finish(slow);
    /* two servers: both are drawn every time and the idle one wins */
    assert_null(strchr(seq, busy));
}

/* ---------------------------------------------------------------- zone */

/* Distinct pids in the first column of a log file (at most max). */
static int
bw_bal_pids(bw_test_server_t *srv, const char *rel, long *pids, int max)
{
    char *text = bw_test_server_read_file(srv, rel, NULL);
    int   n = 0;

    for (char *line = text; line && *line;) {
        long pid = atol(line);
        bool known = false;
        for (int i = 0; i < n; i++) {
            known = known || pids[i] == pid;
        }
        if (!known && pid > 0 && n < max) {
            pids[n++] = pid;
        }
        char *nl = strchr(line, '\n');
        line = nl ? nl + 1 : NULL;
    }
    free(text);
    return n;
}

/* Requests uri on fresh connections until two workers have answered (bounded). */
static void
bw_bal_until_both_workers(bw_test_server_t *srv, const char *uri, const char *log)
{
    long pids[4];

    for (int i = 0; i < 200; i++) {
        assert_int_equal(bw_bal_get_from(srv->port, uri, NULL), 'b');
        if (i >= 10 && bw_bal_pids(srv, log, pids, 4) >= 2) {
            return;
        }
    }
    fail_msg("one worker served all requests");
}

static void
test_balancer_zone_workers_share_failures(void **state)
{
    char dead[16];

    snprintf(dead, sizeof(dead), "%d", bw_test_free_port(NULL));
    bw_test_server_t *srv = bw_test_server_start(
        "worker_processes 2;\n"
        "http {\n"
        "  log_format p '$pid $upstream_addr';\n"
        "  upstream z { zone z 64k; server 127.0.0.1:%%DEAD%% fail_timeout=60s; " B "; }\n"
        "  upstream nz { server 127.0.0.1:%%DEAD%% fail_timeout=60s; " B "; }\n"
        "  server { listen 127.0.0.1:%%PORT%% reuseport;\n"
        "    location /z/ { access_log logs/z.log p; proxy_pass http://z; }\n"
        "    location /nz/ { access_log logs/nz.log p; proxy_pass http://nz; }\n"
        "  }\n"
        "}\n",
        "DEAD", dead);
    char refused[64];

    assert_non_null(srv);
    assert_true(bw_test_server_wait_workers(srv, 2, bw_test_timeout(5000)));
    snprintf(refused, sizeof(refused), "connect() failed (111: Connection refused)");

    /* with a zone, the first failure keeps the dead server out for every worker */
    bw_bal_until_both_workers(srv, "/z/", "logs/z.log");
    assert_int_equal(bw_test_server_log_count(srv, refused), 1);

    /* without one, each worker finds it dead for itself */
    bw_bal_until_both_workers(srv, "/nz/", "logs/nz.log");
    assert_int_equal(bw_test_server_log_count(srv, refused), 3);
    bw_test_server_stop(srv);
}

static void
test_balancer_zone_round_robin_order_is_shared_by_workers(void **state)
{
    bw_test_server_t *srv = bw_test_server_start(
        "worker_processes 2;\n"
        "http {\n"
        "  log_format p '$pid $upstream_addr';\n"
        "  access_log logs/p.log p;\n"
        "  upstream z { zone z 64k; " A "; " B "; }\n"
        "  server { listen 127.0.0.1:%%PORT%% reuseport; location / { proxy_pass http://z; } }\n"
        "}\n");
    char seq[64];
    long pids[4];

    assert_non_null(srv);
    assert_true(bw_test_server_wait_workers(srv, 2, bw_test_timeout(5000)));
    for (int i = 0; i < 60; i++) {
        seq[i] = bw_bal_get_from(srv->port, "/", NULL);
    }
    seq[60] = '\0';
    for (int i = 1; i < 60; i++) {
        assert_int_not_equal(seq[i], seq[i - 1]); /* one sequence, whichever worker */
    }
    assert_int_equal(bw_bal_pids(srv, "logs/p.log", pids, 4), 2);
    bw_test_server_stop(srv);
}

/* ------------------------------------------------------- configuration */

/* Runs -t on http{...}; appends a failure unless exit == want_exit and the output has want
 * (with " in <conf>:<line of @@>" when at_line). */
static void
bw_bal_conf_check(const char *http, const char *want_text, int want_exit, bool at_line,
                  char *failures, size_t size)
{
    char *conf = NULL, *out = NULL;
    int   st = -1;

    assert_true(asprintf(&conf, "http {\n%s\n}\n", http) > 0);
    bw_test_server_t *srv = bw_test_server_prepare(conf);
    free(conf);
    assert_non_null(srv);
    assert_int_equal(bw_test_server_run(srv, &out, &st, "-t"), 0);

    char *text = bw_test_server_read_file(srv, "conf/bulwark.conf", NULL);
    char *mark = text ? strstr(text, "@@") : NULL;
    int   line = 1;
    for (char *p = text; mark && p < mark; p++) {
        line += *p == '\n';
    }
    char want[1024];
    if (at_line) {
        snprintf(want, sizeof(want), "%s in %s:%d", want_text, srv->conf_path, line);
    } else {
        snprintf(want, sizeof(want), "%s", want_text);
    }
    if (st != want_exit || out == NULL || strstr(out, want) == NULL) {
        size_t n = strlen(failures);
        snprintf(failures + n, size - n, "%s\nwant exit %d and \"%s\", got %d:\n%s\n", http,
                 want_exit, want, st, out ? out : "");
    }
    free(text);
    free(out);
    bw_test_server_stop(srv);
}

static void
test_balancer_config_messages_match_nginx(void **state)
{
    static const struct {
        const char *http; /* the reported line holds "# @@" */
        const char *message;
        int         exit;
        bool        at_line;
    } rows[] = {
        {"upstream u { ip_hash;\nserver 127.0.0.1:1 backup; # @@\n}",
         "[emerg] balancing method does not support parameter \"backup\"", 1, true},
        {"upstream u { hash $uri;\nserver 127.0.0.1:1 backup; # @@\n}",
         "[emerg] balancing method does not support parameter \"backup\"", 1, true},
        {"upstream u { random two;\nserver 127.0.0.1:1 backup; # @@\n}",
         "[emerg] balancing method does not support parameter \"backup\"", 1, true},
        {"upstream u {\nhash; # @@\nserver 127.0.0.1:1; }",
         "[emerg] invalid number of arguments in \"hash\" directive", 1, true},
        {"upstream u {\nhash $a b c; # @@\nserver 127.0.0.1:1; }",
         "[emerg] invalid number of arguments in \"hash\" directive", 1, true},
        {"upstream u {\nhash $uri foo; # @@\nserver 127.0.0.1:1; }",
         "[emerg] invalid parameter \"foo\"", 1, true},
        {"upstream u {\nip_hash x; # @@\nserver 127.0.0.1:1; }",
         "[emerg] invalid number of arguments in \"ip_hash\" directive", 1, true},
        {"upstream u {\nleast_conn x; # @@\nserver 127.0.0.1:1; }",
         "[emerg] invalid number of arguments in \"least_conn\" directive", 1, true},
        {"upstream u {\nrandom foo; # @@\nserver 127.0.0.1:1; }",
         "[emerg] invalid parameter \"foo\"", 1, true},
        {"upstream u {\nrandom two foo; # @@\nserver 127.0.0.1:1; }",
         "[emerg] invalid parameter \"foo\"", 1, true},
        {"upstream u {\nzone; # @@\nserver 127.0.0.1:1; }",
         "[emerg] invalid number of arguments in \"zone\" directive", 1, true},
        {"upstream u {\nzone x 64k 3; # @@\nserver 127.0.0.1:1; }",
         "[emerg] invalid number of arguments in \"zone\" directive", 1, true},
        {"upstream u {\nzone x 1k; # @@\nserver 127.0.0.1:1; }", "[emerg] zone \"x\" is too small",
         1, true},
        {"upstream u {\nzone x foo; # @@\nserver 127.0.0.1:1; }",
         "[emerg] invalid zone size \"foo\"", 1, true},
        {"upstream u { zone x 64k; server 127.0.0.1:1; }\n"
         "upstream v {\nzone x 128k; # @@\nserver 127.0.0.1:2; }",
         "[emerg] the size 131072 of shared memory zone \"x\" conflicts with already declared "
         "size 65536",
         1, true},
        {"upstream u {\nkeepalive 2;\nleast_conn; # @@\nserver 127.0.0.1:1; }",
         "[warn] load balancing method redefined", 0, true},
        {"upstream u {\nleast_conn;\nip_hash; # @@\nserver 127.0.0.1:1; }",
         "[warn] load balancing method redefined", 0, true},
    };
    char failures[16384] = "";

    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        bw_bal_conf_check(rows[i].http, rows[i].message, rows[i].exit, rows[i].at_line, failures,
                          sizeof(failures));
    }
    if (failures[0]) {
        fail_msg("%s", failures);
    }
}

static void
test_balancer_config_accepts_nginx_forms(void **state)
{
    char             *out = NULL;
    int               st = -1;
    bw_test_server_t *srv = bw_test_server_prepare(
        "http {\n"
        "  upstream a { server 127.0.0.1:1 backup; server 127.0.0.1:2; ip_hash; }\n"
        "  upstream b { hash $request_uri consistent; server 127.0.0.1:1 weight=2 max_conns=3;"
        "               server 127.0.0.1:2 down; }\n"
        "  upstream c { random; server 127.0.0.1:1; }\n"
        "  upstream d { random two; server 127.0.0.1:1; }\n"
        "  upstream e { random two least_conn; server 127.0.0.1:1; zone x 64k; }\n"
        "  upstream f { least_conn; server 127.0.0.1:1 backup; server 127.0.0.1:2;"
        "               keepalive 8; zone x; }\n"
        "  upstream g { zone y 32k; server 127.0.0.1:1; }\n"
        "  server { location / { proxy_pass http://a; } }\n"
        "}\n");

    assert_non_null(srv);
    assert_int_equal(bw_test_server_run(srv, &out, &st, "-t"), 0);
    if (st != 0 || strstr(out, "[warn]") != NULL) {
        fail_msg("%s", out);
    }
    free(out);
    bw_test_server_stop(srv);
}

static void
test_balancer_zone_without_size_anywhere_is_refused(void **state)
{
    bw_test_server_t *srv = bw_test_server_prepare(
        "http { upstream u { zone x; server 127.0.0.1:1; }\n"
        "  server { listen 127.0.0.1:%%PORT%%; location / { proxy_pass http://u; } } }\n");

    assert_non_null(srv);
    /* refused at start (nginx says it at -t too: that check belongs to the cycle) */
    assert_int_equal(bw_test_server_launch(srv), -1);
    char       *err = bw_test_server_read_file(srv, "logs/stderr.log", NULL);
    char       *log = bw_test_server_read_file(srv, "logs/error.log", NULL);
    const char *want = "zero size shared memory zone \"x\""; /* at emerg */
    if ((err == NULL || strstr(err, want) == NULL) && (log == NULL || strstr(log, want) == NULL)) {
        fail_msg("no \"%s\" in:\n%s\n%s", want, err ? err : "", log ? log : "");
    }
    free(err);
    free(log);
    bw_test_server_stop(srv);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_balancer_hash_maps_keys_like_nginx),
        cmocka_unit_test(test_balancer_hash_consistent_new_server_takes_about_a_quarter),
        cmocka_unit_test(test_balancer_ip_hash_uses_first_three_octets_like_nginx),
        cmocka_unit_test(test_balancer_least_conn_avoids_the_busy_server),
        cmocka_unit_test(test_balancer_least_conn_with_keepalive_reuses_connections),
        cmocka_unit_test(test_balancer_random_spreads_by_weight),
        cmocka_unit_test(test_balancer_random_two_avoids_the_busy_server),
        cmocka_unit_test(test_balancer_zone_workers_share_failures),
        cmocka_unit_test(test_balancer_zone_round_robin_order_is_shared_by_workers),
        cmocka_unit_test(test_balancer_config_messages_match_nginx),
        cmocka_unit_test(test_balancer_config_accepts_nginx_forms),
        cmocka_unit_test(test_balancer_zone_without_size_anywhere_is_refused),
    };
    return cmocka_run_group_tests(tests, bw_bal_setup, bw_bal_teardown);
}
