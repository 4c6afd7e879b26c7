/*
 * test_ssl_session.c -- TLS session resumption through the real binary with
 * two workers on a reuseport listener (the kernel spreads connections over
 * both): a session made by one worker resumes on the other, through the
 * shared session cache (tickets off) and through tickets (keys made once in
 * the master); ticket key files rotate (the first encrypts, all decrypt);
 * `ssl_session_cache off` with tickets off never resumes.
 *
 * Clients are `openssl s_client -sess_out / -sess_in`; each answer names
 * the worker's pid and $ssl_session_reused, and s_client says "Reused".
 */
#include "harness.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char bw_sess_dir[64];

/* Tries to land on both workers: connections spread by source port hash. */
#define BW_SESS_TRIES 24

/* A shell command line run in the certificate directory; its output, malloc'd. */
#define bw_sess_sh(status, ...) bw_test_sh_in(bw_sess_dir, status, __VA_ARGS__)

static int
bw_sess_group_setup(void **state)
{
    static const char *const cmds[] = {
        "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes"
        " -keyout s.key -out s.crt -subj /CN=s.test -days 2",
        "openssl rand -out k1.key 80",
        "openssl rand -out k2.key 48",
    };

    snprintf(bw_sess_dir, sizeof(bw_sess_dir), "/tmp/bwsess.XXXXXX");
    if (mkdtemp(bw_sess_dir) == NULL) {
        return -1;
    }
    for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
        int st;
        char *out = bw_sess_sh(&st, "%s", cmds[i]);
        if (st != 0) {
            fprintf(stderr, "failed: %s\n%s\n", cmds[i], out);
        }
        free(out);
        if (st != 0) {
            return -1;
        }
    }
    return 0;
}

static int
bw_sess_group_teardown(void **state)
{
    free(bw_sess_sh(NULL, "cd / && rm -rf '%s'", bw_sess_dir));
    return 0;
}

/* One s_client connection; `sess` is "-sess_out F" or "-sess_in F". */
typedef struct {
    bool  reused;       /* s_client printed "Reused," */
    bool  answered;     /* the body came */
    long  pid;          /* the worker that answered */
    char  flag;         /* $ssl_session_reused: 'r' or '.' */
} bw_sess_result_t;

static bw_sess_result_t
bw_sess_connect(int port, const char *proto, const char *sess)
{
    bw_sess_result_t res = {false, false, 0, 0};
    char *out = bw_sess_sh(NULL,
                           "printf 'GET / HTTP/1.0\\r\\nHost: s.test\\r\\n\\r\\n'"
                           " | openssl s_client"
                           " -connect 127.0.0.1:%d -servername s.test %s %s -ign_eof 2>&1",
                           port, proto, sess);
    res.reused = strstr(out, "\nReused, ") != NULL;
    const char *body = strstr(out, "\npid=");
    if (body && sscanf(body, "\npid=%ld reused=%c", &res.pid, &res.flag) == 2) {
        res.answered = true;
    }
    free(out);
    return res;
}

/*
 * Makes a session (sess.pem) on some worker, then resumes it until a
 * connection lands on the other worker. Returns true when that one resumed;
 * *other tells whether another worker was reached at all.
 */
static bool
bw_sess_resumes_on_other_worker(int port, const char *proto, bool *other)
{
    bw_sess_result_t first = bw_sess_connect(port, proto, "-sess_out sess.pem");

    *other = false;
    assert_true(first.answered);
    assert_false(first.reused);
    assert_int_equal(first.flag, '.');
    for (int i = 0; i < BW_SESS_TRIES; i++) {
        bw_sess_result_t r = bw_sess_connect(port, proto, "-sess_in sess.pem");
        assert_true(r.answered);
        assert_int_equal(r.flag, r.reused ? 'r' : '.');
        if (r.pid != first.pid) {
            *other = true;
            return r.reused;
        }
    }
    return false;
}

static const char bw_sess_conf_head[] =
    "worker_processes 2;\n"
    "http {\n"
    "  server { listen 127.0.0.1:%%PORT%% ssl reuseport;\n"
    "    ssl_certificate %%CERTS%%/s.crt; ssl_certificate_key %%CERTS%%/s.key;\n";

static bw_test_server_t *
bw_sess_start(const char *directives)
{
    char conf[2048];

    snprintf(conf, sizeof(conf), "%s    %s\n"
             "    location / { return 200 \"pid=$pid reused=$ssl_session_reused\\n\"; }\n"
             "  }\n}\n", bw_sess_conf_head, directives);
    bw_test_server_t *s = bw_test_server_start(conf, "CERTS", bw_sess_dir);
    assert_non_null(s);
    assert_true(bw_test_server_wait_workers(s, 2, 5000));
    return s;
}

static void
test_ssl_session_shared_cache_resumes_on_another_worker(void **state)
{
    bw_test_server_t *s = bw_sess_start("ssl_session_tickets off;"
                                        " ssl_session_cache shared:SSL:1m;");
    const char *protos[] = {"-tls1_2", "-tls1_3"};
    bool other;

    for (size_t i = 0; i < 2; i++) {
        bool resumed = bw_sess_resumes_on_other_worker(s->port, protos[i], &other);
        assert_true(other);
        assert_true(resumed);
    }
    bw_test_server_stop(s);
}

static void
test_ssl_session_shared_cache_expires_sessions(void **state)
{
    bw_test_server_t *s = bw_sess_start("ssl_session_tickets off; ssl_session_cache shared:SSL:1m;"
                                        " ssl_session_timeout 3s;");

    /* 3 s leaves room for a loaded machine between the first two connections */
    bw_sess_result_t r = bw_sess_connect(s->port, "-tls1_2", "-sess_out sess.pem");
    assert_true(r.answered);
    r = bw_sess_connect(s->port, "-tls1_2", "-sess_in sess.pem");
    assert_true(r.reused);
    bw_test_sleep_ms(4200);
    r = bw_sess_connect(s->port, "-tls1_2", "-sess_in sess.pem");
    assert_true(r.answered);
    assert_false(r.reused);
    bw_test_server_stop(s);
}

static void
test_ssl_session_full_shared_cache_drops_the_oldest(void **state)
{
    /* the smallest zone (32k) holds a few dozen sessions */
    bw_test_server_t *s = bw_sess_start("ssl_session_tickets off; ssl_session_cache shared:S:32k;");
    char opt[64];

    for (int i = 0; i < 120; i++) {
        snprintf(opt, sizeof(opt), "-sess_out s%d.pem", i);
        bw_sess_result_t r = bw_sess_connect(s->port, "-tls1_2", opt);
        assert_true(r.answered);
    }
    bw_sess_result_t newest = bw_sess_connect(s->port, "-tls1_2", "-sess_in s119.pem");
    assert_true(newest.reused);
    bw_sess_result_t oldest = bw_sess_connect(s->port, "-tls1_2", "-sess_in s0.pem");
    assert_true(oldest.answered);
    assert_false(oldest.reused);
    assert_int_equal(bw_test_server_log_count(s, "could not allocate new session"), 0);
    free(bw_sess_sh(NULL, "rm -f s*.pem"));
    bw_test_server_stop(s);
}

static void
test_ssl_session_builtin_cache_stays_in_its_worker(void **state)
{
    bw_test_server_t *s = bw_sess_start("ssl_session_tickets off; ssl_session_cache builtin;");
    bool other;

    /* the control for the test above: a per-process cache cannot help the other worker */
    bool resumed = bw_sess_resumes_on_other_worker(s->port, "-tls1_2", &other);
    assert_true(other);
    assert_false(resumed);
    bw_test_server_stop(s);
}

static void
test_ssl_session_tickets_resume_on_another_worker(void **state)
{
    bw_test_server_t *s = bw_sess_start("ssl_session_cache off;");
    const char *protos[] = {"-tls1_2", "-tls1_3"};
    bool other;

    for (size_t i = 0; i < 2; i++) {
        bool resumed = bw_sess_resumes_on_other_worker(s->port, protos[i], &other);
        assert_true(other);
        assert_true(resumed);
    }
    bw_test_server_stop(s);
}

static void
test_ssl_session_off_never_resumes(void **state)
{
    bw_test_server_t *s = bw_sess_start("ssl_session_tickets off; ssl_session_cache off;");

    bw_sess_result_t first = bw_sess_connect(s->port, "-tls1_2", "-sess_out sess.pem");
    assert_true(first.answered);
    for (int i = 0; i < 3; i++) {
        bw_sess_result_t r = bw_sess_connect(s->port, "-tls1_2", "-sess_in sess.pem");
        assert_true(r.answered);
        assert_false(r.reused);
        assert_int_equal(r.flag, '.');
    }
    bw_test_server_stop(s);
}

/* The conf of the rotation test with the given ticket key directives. */
static char *
bw_sess_rotation_conf(const char *keys)
{
    char *conf = NULL;

    if (asprintf(&conf, "%s    ssl_session_cache off; %s\n"
                 "    location / { return 200 \"pid=$pid reused=$ssl_session_reused\\n\"; }\n"
                 "  }\n}\n", bw_sess_conf_head, keys) < 0) {
        return NULL;
    }
    return conf;
}

/* Resumes sess.pem a few times (any worker): true when every try resumed. */
static bool
bw_sess_all_resume(int port)
{
    bool all = true;

    for (int i = 0; i < 4; i++) {
        bw_sess_result_t r = bw_sess_connect(port, "-tls1_3", "-sess_in sess.pem");
        assert_true(r.answered);
        all = all && r.reused;
    }
    return all;
}

/* Reloads and waits until the previous workers are gone (they hold the old keys). */
static bool
bw_sess_reload(bw_test_server_t *s, const char *conf)
{
    pid_t old[8];
    int n = bw_test_server_workers(s, old, 8);

    if (!bw_test_server_reload(s, conf)) {
        return false;
    }
    for (int i = 0; i < n; i++) {
        if (!bw_test_pid_wait_exit(old[i], 5000)) {
            return false;
        }
    }
    return true;
}

static void
test_ssl_session_ticket_key_rotation(void **state)
{
    char *one = bw_sess_rotation_conf("ssl_session_ticket_key %%CERTS%%/k1.key;");
    char *two = bw_sess_rotation_conf("ssl_session_ticket_key %%CERTS%%/k2.key;"
                                      " ssl_session_ticket_key %%CERTS%%/k1.key;");
    char *new_only = bw_sess_rotation_conf("ssl_session_ticket_key %%CERTS%%/k2.key;");
    bw_test_server_t *s = bw_test_server_start(one, "CERTS", bw_sess_dir);

    assert_non_null(s);
    bw_sess_result_t first = bw_sess_connect(s->port, "-tls1_3", "-sess_out sess.pem");
    assert_true(first.answered);
    assert_false(first.reused);
    assert_true(bw_sess_all_resume(s->port));

    /* k2 now encrypts; k1 still decrypts, and the ticket is renewed under k2 */
    assert_true(bw_sess_reload(s, two));
    bw_sess_result_t renewed = bw_sess_connect(s->port, "-tls1_3",
                                               "-sess_in sess.pem -sess_out sess2.pem");
    assert_true(renewed.reused);
    free(bw_sess_sh(NULL, "mv sess2.pem sess.pem"));

    /* k1 retired: the renewed ticket (k2) still works */
    assert_true(bw_sess_reload(s, new_only));
    assert_true(bw_sess_all_resume(s->port));

    /* and a ticket made under k1 alone does not */
    assert_true(bw_sess_reload(s, one));
    first = bw_sess_connect(s->port, "-tls1_3", "-sess_out sess.pem");
    assert_true(first.answered);
    assert_true(bw_sess_reload(s, new_only));
    bw_sess_result_t refused = bw_sess_connect(s->port, "-tls1_3", "-sess_in sess.pem");
    assert_true(refused.answered);
    assert_false(refused.reused);
    bw_test_server_stop(s);
    free(one);
    free(two);
    free(new_only);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ssl_session_shared_cache_resumes_on_another_worker),
        cmocka_unit_test(test_ssl_session_shared_cache_expires_sessions),
        cmocka_unit_test(test_ssl_session_full_shared_cache_drops_the_oldest),
        cmocka_unit_test(test_ssl_session_builtin_cache_stays_in_its_worker),
        cmocka_unit_test(test_ssl_session_tickets_resume_on_another_worker),
        cmocka_unit_test(test_ssl_session_off_never_resumes),
        cmocka_unit_test(test_ssl_session_ticket_key_rotation),
    };
    return cmocka_run_group_tests(tests, bw_sess_group_setup, bw_sess_group_teardown);
}
