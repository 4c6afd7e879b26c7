/*
 * test_proxy_ssl.c -- TLS from bulwark to backends (proxy_pass https://,
 * the proxy_ssl_* directives) through the real binary. The TLS origin is a
 * second bulwark (listen ... ssl) that answers with what it saw of the
 * handshake: "$ssl_server_name|$ssl_session_reused|$ssl_client_s_dn|
 * $connection|$connection_requests|$ssl_protocol"; its /o/ passes to a
 * bw_origin for large bodies. A second port of it shows a self-signed
 * "rogue" certificate.
 *
 * Certificates are made once per run with the openssl command into a
 * temporary directory: a test CA, the origin's certificate from it (names
 * origin.test, localhost, 127.0.0.1), a self-signed one, and client
 * certificates from the CA (one with an encrypted key).
 */
#include "harness.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static char bw_pssl_dir[64];

/* A shell command line run in the certificate directory; its output, malloc'd. */
#define bw_pssl_sh(status, ...) bw_test_sh_in(bw_pssl_dir, status, __VA_ARGS__)

#define BW_PSSL_EC "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes"

static int
bw_pssl_group_setup(void **state)
{
    static const char *const cmds[] = {
        "openssl req -x509 " BW_PSSL_EC " -keyout ca.key -out ca.crt -subj '/CN=Proxy SSL CA'"
        " -days 2",
        "openssl req -new " BW_PSSL_EC " -keyout origin.key -out origin.csr -subj /CN=origin.test",
        "printf 'subjectAltName=DNS:origin.test,DNS:localhost,IP:127.0.0.1\\n' > san.ext",
        "openssl x509 -req -in origin.csr -CA ca.crt -CAkey ca.key -set_serial 1 -days 2"
        " -extfile san.ext -out origin.crt",
        "openssl req -x509 " BW_PSSL_EC " -keyout rogue.key -out rogue.crt -subj /CN=origin.test"
        " -addext subjectAltName=DNS:origin.test -days 2",
        "openssl req -new " BW_PSSL_EC " -keyout client.key -out client.csr"
        " -subj /CN=proxy1/O=Bulwark",
        "openssl x509 -req -in client.csr -CA ca.crt -CAkey ca.key -set_serial 2 -days 2"
        " -out client.crt",
        "openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -aes256"
        " -pass pass:right-one -out cenc.key",
        "openssl req -new -key cenc.key -passin pass:right-one -out cenc.csr"
        " -subj /CN=proxy2/O=Bulwark",
        "openssl x509 -req -in cenc.csr -CA ca.crt -CAkey ca.key -set_serial 3 -days 2"
        " -out cenc.crt",
        "printf 'wrong-one\\nright-one\\n' > cenc.pass",
    };

    snprintf(bw_pssl_dir, sizeof(bw_pssl_dir), "/tmp/bwpssl.XXXXXX");
    if (mkdtemp(bw_pssl_dir) == NULL) {
        return -1;
    }
    for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
        int st;
        char *out = bw_pssl_sh(&st, "%s", cmds[i]);
        if (st != 0) {
            fprintf(stderr, "failed (%d): %s\n%s\n", st, cmds[i], out);
        }
        free(out);
        if (st != 0) {
            return -1;
        }
    }
    return 0;
}

static int
bw_pssl_group_teardown(void **state)
{
    free(bw_pssl_sh(NULL, "cd / && rm -rf '%s'", bw_pssl_dir));
    return 0;
}

/* ------------------------------------------------------------ the setup */

/* The TLS origin: %%PORT%% with the CA's certificate, %%PORT2%% a rogue one. */
static const char bw_pssl_origin_conf[] =
    "http { access_log off; keepalive_timeout %%KATIMEOUT%%;"
    "  server { listen 127.0.0.1:%%PORT%% ssl;"
    "    ssl_certificate %%CERTS%%/origin.crt; ssl_certificate_key %%CERTS%%/origin.key;"
    "    ssl_client_certificate %%CERTS%%/ca.crt; ssl_verify_client optional;"
    "    location / { return 200 \"$ssl_server_name|$ssl_session_reused|$ssl_client_s_dn|"
    "$connection|$connection_requests|$ssl_protocol\"; }"
    "    location /o/ { proxy_pass http://127.0.0.1:%%PLAIN%%/; } }"
    "  server { listen 127.0.0.1:%%PORT2%% ssl;"
    "    ssl_certificate %%CERTS%%/rogue.crt; ssl_certificate_key %%CERTS%%/rogue.key;"
    "    location / { return 200 rogue; } } }";

typedef struct {
    bw_test_server_t *origin;
    bw_test_server_t *proxy;
    char              oport[16];  /* the TLS origin's port */
    char              rport[16];  /* its rogue port */
} bw_pssl_env_t;

/* The handshake fields of the origin's answer. */
typedef struct {
    char sni[128];
    char reused[8];
    char dn[128];
    long connection;
    long requests;
    char protocol[16];
} bw_pssl_seen_t;

/*
 * Starts the TLS origin (keep-alive timeout ka; plain: the bw_origin port
 * behind /o/, or NULL) and a proxy whose http{} holds `http` and whose
 * server holds `locations`; %%OPORT%%, %%ROGUE%% and %%CERTS%% work in both.
 */
static void
bw_pssl_start(bw_pssl_env_t *env, const char *ka, const char *plain, const char *http,
              const char *locations)
{
    char conf[8192];

    memset(env, 0, sizeof(*env));
    env->origin = bw_test_server_start(bw_pssl_origin_conf, "CERTS", bw_pssl_dir, "KATIMEOUT",
                                       ka ? ka : "75s", "PLAIN", plain ? plain : "9");
    assert_non_null(env->origin);
    snprintf(env->oport, sizeof(env->oport), "%d", env->origin->port);
    snprintf(env->rport, sizeof(env->rport), "%d", env->origin->ports[2]);
    snprintf(conf, sizeof(conf),
             "http { access_log off; %s server { listen 127.0.0.1:%%%%PORT%%%%; %s } }", http,
             locations);
    env->proxy = bw_test_server_start(conf, "CERTS", bw_pssl_dir, "OPORT", env->oport, "ROGUE",
                                      env->rport);
    assert_non_null(env->proxy);
}

static void
bw_pssl_stop(bw_pssl_env_t *env)
{
    bw_test_server_stop(env->proxy);
    bw_test_server_stop(env->origin);
}

/* GET target through the proxy; fails unless the status is `status`. The body, malloc'd. */
static char *
bw_pssl_get(bw_pssl_env_t *env, const char *target, int status)
{
    bw_test_response_t r;

    bw_test_http_request_host(env->proxy->port, "GET", "localhost", target, NULL, &r);
    if (r.status != status) {
        fail_msg("GET %s: status %d, wanted %d: %s", target, r.status, status,
                 r.body ? r.body : "");
    }
    char *body = strdup(r.body ? r.body : "");
    bw_test_response_free(&r);
    return body;
}

/* GET target (200) and splits the origin's answer into *seen. */
static void
bw_pssl_seen(bw_pssl_env_t *env, const char *target, bw_pssl_seen_t *seen)
{
    char *body = bw_pssl_get(env, target, 200);
    char *fields[6] = {0};
    char *p = body;

    for (int i = 0; i < 6 && p; i++) {
        fields[i] = p;
        p = strchr(p, '|');
        if (p) {
            *p++ = '\0';
        }
    }
    if (fields[5] == NULL) {
        fail_msg("GET %s: not the origin's answer: %s", target, body);
    }
    memset(seen, 0, sizeof(*seen));
    snprintf(seen->sni, sizeof(seen->sni), "%s", fields[0]);
    snprintf(seen->reused, sizeof(seen->reused), "%s", fields[1]);
    snprintf(seen->dn, sizeof(seen->dn), "%s", fields[2]);
    seen->connection = atol(fields[3]);
    seen->requests = atol(fields[4]);
    snprintf(seen->protocol, sizeof(seen->protocol), "%s", fields[5]);
    free(body);
}

/* --------------------------------------------------------------- tests */

static void
test_proxy_ssl_https_to_tls_origin_works(void **state)
{
    bw_pssl_env_t env;
    bw_pssl_seen_t seen;

    bw_pssl_start(&env, NULL, NULL, "",
                  "location /a/ { proxy_pass https://127.0.0.1:%%OPORT%%/; }"
                  "location /v/ { set $t 127.0.0.1:%%OPORT%%; proxy_pass https://$t/; }"
                  "location /h/ { proxy_pass https://127.0.0.1:%%OPORT%%/;"
                  "  add_header X-Up $upstream_addr; }"
                  "location /i { if ($arg_a) { add_header X-If 1; }"
                  "  proxy_pass https://127.0.0.1:%%OPORT%%; }"
                  "location /j { if ($arg_a) { proxy_pass https://127.0.0.1:%%OPORT%%; } }");
    bw_pssl_seen(&env, "/a/", &seen);
    assert_string_equal(seen.protocol, "TLSv1.3"); /* proxy_ssl_protocols' default allows 1.3 */
    assert_string_equal(seen.sni, "");             /* proxy_ssl_server_name is off */
    assert_string_equal(seen.dn, "");              /* no client certificate by default */
    bw_pssl_seen(&env, "/v/", &seen);              /* a URL with variables */
    assert_string_equal(seen.protocol, "TLSv1.3");

    bw_test_response_t r;
    bw_test_http_request_host(env.proxy->port, "GET", "localhost", "/h/", NULL, &r);
    assert_int_equal(r.status, 200);
    char want[64];
    snprintf(want, sizeof(want), "127.0.0.1:%s", env.oport);
    bw_test_expect_header(&r, "X-Up", want);
    bw_test_response_free(&r);
    /* if{} blocks proxy where their location does, or with their own proxy_pass */
    bw_pssl_seen(&env, "/i?a=1", &seen);
    bw_pssl_seen(&env, "/j?a=1", &seen);
    bw_pssl_stop(&env);
}

static void
test_proxy_ssl_large_bodies_both_ways(void **state)
{
    int plain_port;
    bw_test_origin_t *plain = bw_test_origin_start(&plain_port);
    char plain_text[16];
    bw_pssl_env_t env;

    assert_non_null(plain);
    snprintf(plain_text, sizeof(plain_text), "%d", plain_port);
    bw_pssl_start(&env, NULL, plain_text, "",
                  "location / { proxy_pass https://127.0.0.1:%%OPORT%%;"
                  "  client_max_body_size 4m; }");

    /* 3 MB down: many TLS records, relayed through the proxy's buffers */
    bw_test_response_t r;
    bw_test_http_request_host(env.proxy->port, "GET", "localhost", "/o/?len=3000000", NULL, &r);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.body_len, 3000000);
    assert_true(bw_test_pattern_check(r.body, r.body_len, 0));
    bw_test_response_free(&r);

    /* 600 kB up: the request body goes out over TLS and comes back */
    size_t n = 600000;
    char head[256];
    int hl = snprintf(head, sizeof(head),
                      "POST /o/?echo=body HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
                      "Content-Length: %zu\r\n\r\n", n);
    char *req = malloc((size_t) hl + n);
    assert_non_null(req);
    memcpy(req, head, (size_t) hl);
    for (size_t i = 0; i < n; i++) {
        req[hl + i] = bw_test_pattern_byte(i);
    }
    assert_int_equal(bw_test_http_request_len(env.proxy->port, req, (size_t) hl + n, &r), 0);
    free(req);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.body_len, n);
    assert_true(bw_test_pattern_check(r.body, r.body_len, 0));
    bw_test_response_free(&r);
    bw_pssl_stop(&env);
    bw_test_origin_stop(plain);
}

static void
test_proxy_ssl_verify_with_the_right_ca_passes(void **state)
{
    bw_pssl_env_t env;
    bw_pssl_seen_t seen;

    bw_pssl_start(&env, NULL, NULL,
                  "proxy_ssl_verify on; proxy_ssl_trusted_certificate %%CERTS%%/ca.crt;",
                  "location /name/ { proxy_ssl_name origin.test;"
                  "  proxy_pass https://127.0.0.1:%%OPORT%%/; }"
                  "location /ip/ { proxy_pass https://127.0.0.1:%%OPORT%%/; }");
    bw_pssl_seen(&env, "/name/", &seen);
    assert_string_equal(seen.protocol, "TLSv1.3");
    bw_pssl_seen(&env, "/name/", &seen); /* a resumed session carries the verdict */
    assert_string_equal(seen.reused, "r");
    /* the default name is $proxy_host's host: an address, matched to the IP names */
    bw_pssl_seen(&env, "/ip/", &seen);
    assert_int_equal(bw_test_server_log_count(env.proxy, "upstream SSL certificate"), 0);
    bw_pssl_stop(&env);
}

static void
test_proxy_ssl_verify_failures_are_502_with_nginx_log_lines(void **state)
{
    bw_pssl_env_t env;

    bw_pssl_start(&env, NULL, NULL,
                  "proxy_ssl_verify on; proxy_ssl_trusted_certificate %%CERTS%%/ca.crt;",
                  "location /rogue/ { proxy_ssl_name origin.test;"
                  "  proxy_pass https://127.0.0.1:%%ROGUE%%/; }"
                  "location /other/ { proxy_ssl_name other.test;"
                  "  proxy_pass https://127.0.0.1:%%OPORT%%/; }"
                  "location /off/ { proxy_ssl_verify off; proxy_pass https://127.0.0.1:%%ROGUE%%/; }");
    free(bw_pssl_get(&env, "/rogue/", 502));
    assert_int_equal(bw_test_server_log_count(env.proxy,
                                              "upstream SSL certificate verify error: (18:self-"
                                              "signed certificate) while SSL handshaking to "
                                              "upstream, client: 127.0.0.1"),
                     1);
    free(bw_pssl_get(&env, "/other/", 502));
    assert_int_equal(bw_test_server_log_count(env.proxy,
                                              "upstream SSL certificate does not match "
                                              "\"other.test\" while SSL handshaking to upstream"),
                     1);
    /* without verification the same certificate is accepted */
    char *body = bw_pssl_get(&env, "/off/", 200);
    assert_string_equal(body, "rogue");
    free(body);
    bw_pssl_stop(&env);
}

static void
test_proxy_ssl_verify_failure_moves_to_the_next_upstream(void **state)
{
    bw_pssl_env_t env;

    bw_pssl_start(&env, NULL, NULL,
                  "upstream mixed { server 127.0.0.1:%%ROGUE%%; server 127.0.0.1:%%OPORT%%; }",
                  "location / { proxy_ssl_verify on; proxy_ssl_name origin.test;"
                  "  proxy_ssl_trusted_certificate %%CERTS%%/ca.crt;"
                  "  proxy_pass https://mixed; }");
    for (int i = 0; i < 3; i++) {
        bw_pssl_seen_t seen;
        bw_pssl_seen(&env, "/", &seen); /* always the good peer's answer */
    }
    assert_true(bw_test_server_log_count(env.proxy, "upstream SSL certificate verify error") >= 1);
    bw_pssl_stop(&env);
}

static void
test_proxy_ssl_server_name_sends_sni(void **state)
{
    bw_pssl_env_t env;
    bw_pssl_seen_t seen;

    bw_pssl_start(&env, NULL, NULL, "upstream localhost { server 127.0.0.1:%%OPORT%%; }",
                  "location /named/ { proxy_ssl_server_name on; proxy_ssl_name origin.test;"
                  "  proxy_pass https://127.0.0.1:%%OPORT%%/; }"
                  "location /off/ { proxy_ssl_name origin.test;"
                  "  proxy_pass https://127.0.0.1:%%OPORT%%/; }"
                  "location /address/ { proxy_ssl_server_name on;"
                  "  proxy_pass https://127.0.0.1:%%OPORT%%/; }"
                  "location /group/ { proxy_ssl_server_name on; proxy_pass https://localhost/; }"
                  "location /var/ { proxy_ssl_server_name on; proxy_ssl_name $http_x_name;"
                  "  proxy_pass https://127.0.0.1:%%OPORT%%/; }");
    bw_pssl_seen(&env, "/named/", &seen);
    assert_string_equal(seen.sni, "origin.test");
    bw_pssl_seen(&env, "/off/", &seen);
    assert_string_equal(seen.sni, "");
    bw_pssl_seen(&env, "/address/", &seen); /* RFC 6066: no address in SNI */
    assert_string_equal(seen.sni, "");
    bw_pssl_seen(&env, "/group/", &seen);   /* the default: $proxy_host */
    assert_string_equal(seen.sni, "localhost");

    bw_test_response_t r;
    bw_test_http_request_host(env.proxy->port, "GET", "localhost", "/var/",
                              "X-Name: example.org:8443\r\n", &r);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "example.org|")); /* the port is not part of the name */
    assert_true(strncmp(r.body, "example.org|", 12) == 0);
    bw_test_response_free(&r);
    bw_pssl_stop(&env);
}

static void
test_proxy_ssl_client_certificate_presented(void **state)
{
    bw_pssl_env_t env;
    bw_pssl_seen_t seen;

    bw_pssl_start(&env, NULL, NULL, "",
                  "location /c1/ { proxy_ssl_certificate %%CERTS%%/client.crt;"
                  "  proxy_ssl_certificate_key %%CERTS%%/client.key;"
                  "  proxy_pass https://127.0.0.1:%%OPORT%%/; }"
                  "location /c2/ { proxy_ssl_certificate %%CERTS%%/cenc.crt;"
                  "  proxy_ssl_certificate_key %%CERTS%%/cenc.key;"
                  "  proxy_ssl_password_file %%CERTS%%/cenc.pass;"
                  "  proxy_pass https://127.0.0.1:%%OPORT%%/; }"
                  "location /none/ { proxy_pass https://127.0.0.1:%%OPORT%%/; }");
    bw_pssl_seen(&env, "/c1/", &seen);
    assert_string_equal(seen.dn, "O=Bulwark,CN=proxy1");
    bw_pssl_seen(&env, "/c2/", &seen); /* an encrypted key, the second password */
    assert_string_equal(seen.dn, "O=Bulwark,CN=proxy2");
    bw_pssl_seen(&env, "/none/", &seen);
    assert_string_equal(seen.dn, "");
    bw_pssl_stop(&env);
}

static void
test_proxy_ssl_session_reused_on_the_next_connection(void **state)
{
    bw_pssl_env_t env;
    bw_pssl_seen_t first, second;

    bw_pssl_start(&env, NULL, NULL, "",
                  "location /on/ { proxy_pass https://127.0.0.1:%%OPORT%%/; }"
                  "location /tls12/ { proxy_ssl_protocols TLSv1.2;"
                  "  proxy_pass https://127.0.0.1:%%OPORT%%/; }"
                  "location /off/ { proxy_ssl_session_reuse off;"
                  "  proxy_pass https://127.0.0.1:%%OPORT%%/; }");
    /* each request a new connection (Connection: close to the origin) */
    bw_pssl_seen(&env, "/on/", &first);
    bw_pssl_seen(&env, "/on/", &second);
    assert_string_equal(first.reused, ".");
    assert_string_equal(second.reused, "r");
    assert_true(second.connection != first.connection);

    bw_pssl_seen(&env, "/tls12/", &first);
    bw_pssl_seen(&env, "/tls12/", &second);
    assert_string_equal(first.protocol, "TLSv1.2");
    assert_string_equal(first.reused, ".");
    assert_string_equal(second.reused, "r");

    bw_pssl_seen(&env, "/off/", &first);
    bw_pssl_seen(&env, "/off/", &second);
    assert_string_equal(first.reused, ".");
    assert_string_equal(second.reused, ".");
    bw_pssl_stop(&env);
}

static void
test_proxy_ssl_keepalive_reuses_the_tls_connection(void **state)
{
    bw_pssl_env_t env;
    bw_pssl_seen_t seen[3], later;

    bw_pssl_start(&env, "1s", NULL, "upstream tls { server 127.0.0.1:%%OPORT%%; keepalive 4; }",
                  "location / { proxy_http_version 1.1; proxy_set_header Connection \"\";"
                  "  proxy_pass https://tls; }");
    for (int i = 0; i < 3; i++) {
        bw_pssl_seen(&env, "/", &seen[i]);
        assert_int_equal(seen[i].requests, i + 1);
        assert_int_equal(seen[i].connection, seen[0].connection);
    }
    /* the origin closes the idle connection (keepalive_timeout 1s): a new one,
     * resuming the session, serves the next request */
    bw_test_sleep_ms(1500);
    bw_pssl_seen(&env, "/", &later);
    assert_true(later.connection != seen[0].connection);
    assert_int_equal(later.requests, 1);
    assert_string_equal(later.reused, "r");
    bw_pssl_stop(&env);
}

static void
test_proxy_ssl_handshake_timeout_is_504(void **state)
{
    /* a listener that never accepts: the TCP connect succeeds, TLS never answers */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sin);
    char port[16];

    assert_true(fd >= 0);
    assert_int_equal(bind(fd, (struct sockaddr *) &sin, sizeof(sin)), 0);
    assert_int_equal(listen(fd, 8), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *) &sin, &len), 0);
    snprintf(port, sizeof(port), "%d", ntohs(sin.sin_port));

    bw_test_server_t *s = bw_test_server_start(
        "http { server { listen 127.0.0.1:%%PORT%%; location / {"
        "  proxy_connect_timeout 300ms; proxy_pass https://127.0.0.1:%%DEAD%%; } } }",
        "DEAD", port);
    assert_non_null(s);
    int64_t start = bw_test_now_ms();
    bw_test_expect_get(s->port, "localhost", "/", 504, NULL);
    assert_true(bw_test_now_ms() - start < bw_test_timeout(3000));
    assert_int_equal(bw_test_server_log_count(s, "upstream timed out (110: Connection timed out)"
                                                 " while SSL handshaking to upstream"),
                     1);
    bw_test_server_stop(s);
    close(fd);
}

/*
 * A forked peer that serves up to n connections: it reads what comes (the
 * ClientHello) and answers plain HTTP, or with `hangup` closes at once.
 */
static pid_t
bw_pssl_bad_peer(char *port, size_t size, int n, bool hangup)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sin);

    assert_true(fd >= 0);
    assert_int_equal(bind(fd, (struct sockaddr *) &sin, sizeof(sin)), 0);
    assert_int_equal(listen(fd, 8), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *) &sin, &len), 0);
    snprintf(port, size, "%d", ntohs(sin.sin_port));
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid > 0) {
        close(fd);
        return pid;
    }
    for (int i = 0; i < n; i++) {
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        if (poll(&pfd, 1, 10000) <= 0) {
            break;
        }
        int c = accept(fd, NULL, NULL);
        if (c < 0) {
            continue;
        }
        if (!hangup) {
            static const char answer[] = "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n";
            struct pollfd in = {.fd = c, .events = POLLIN};
            char buf[2048];
            if (poll(&in, 1, 5000) > 0) {
                (void) !recv(c, buf, sizeof(buf), 0);
            }
            (void) !send(c, answer, sizeof(answer) - 1, MSG_NOSIGNAL);
        }
        close(c);
    }
    _exit(0);
}

static void
test_proxy_ssl_handshake_failures_are_502(void **state)
{
    char http_port[16], hangup_port[16];
    pid_t http_peer = bw_pssl_bad_peer(http_port, sizeof(http_port), 1, false);
    pid_t hangup_peer = bw_pssl_bad_peer(hangup_port, sizeof(hangup_port), 1, true);

    bw_test_server_t *s = bw_test_server_start(
        "http { server { listen 127.0.0.1:%%PORT%%;"
        "  location /http { proxy_pass https://127.0.0.1:%%HTTP%%; }"
        "  location /hangup { proxy_pass https://127.0.0.1:%%HANGUP%%; } } }",
        "HTTP", http_port, "HANGUP", hangup_port);
    assert_non_null(s);
    /* a peer that speaks plain HTTP */
    bw_test_expect_get(s->port, "localhost", "/http", 502, NULL);
    assert_int_equal(bw_test_server_log_grep(s, "\\[error\\] .*SSL_do_handshake\\(\\) failed "
                                                "\\(SSL: .*\\) while SSL handshaking to upstream"),
                     1);
    /* a peer that hangs up */
    bw_test_expect_get(s->port, "localhost", "/hangup", 502, NULL);
    assert_int_equal(bw_test_server_log_grep(s, "\\[error\\] .*(peer closed connection in SSL "
                                                "handshake|SSL_do_handshake\\(\\) failed).* while "
                                                "SSL handshaking to upstream"),
                     2);
    bw_test_server_stop(s);
    assert_true(bw_test_pid_wait_exit(http_peer, bw_test_timeout(5000)));
    assert_true(bw_test_pid_wait_exit(hangup_peer, bw_test_timeout(5000)));
}

/* Runs -t on conf (with %%CERTS%%); the exit status, output in *out (malloc'd). */
static int
bw_pssl_conf_test(const char *conf, char **out)
{
    int st = -1;
    bw_test_server_t *s = bw_test_server_prepare(conf, "CERTS", bw_pssl_dir);

    assert_non_null(s);
    assert_int_equal(bw_test_server_run(s, out, &st, "-t"), 0);
    bw_test_server_stop(s);
    return st;
}

static void
test_proxy_ssl_configuration_errors_as_nginx(void **state)
{
    static const struct {
        const char *loc;     /* a location's content */
        const char *message; /* NULL: the configuration is fine */
    } cases[] = {
        {"proxy_ssl_verify on; proxy_pass https://127.0.0.1:9;",
         "no proxy_ssl_trusted_certificate for proxy_ssl_verify"},
        {"set $u 127.0.0.1:9; proxy_ssl_verify on; proxy_pass http://$u;",
         "no proxy_ssl_trusted_certificate for proxy_ssl_verify"},
        {"proxy_ssl_certificate %%CERTS%%/client.crt; proxy_pass https://127.0.0.1:9;",
         "no \"proxy_ssl_certificate_key\" is defined for certificate \"%%CERTS%%/client.crt\""},
        {"proxy_ssl_certificate %%CERTS%%/none.crt; proxy_ssl_certificate_key %%CERTS%%/none.key;"
         " proxy_pass https://127.0.0.1:9;",
         "cannot load certificate \"%%CERTS%%/none.crt\": BIO_new_file() failed (SSL: "},
        {"proxy_ssl_certificate %%CERTS%%/cenc.crt; proxy_ssl_certificate_key %%CERTS%%/cenc.key;"
         " proxy_pass https://127.0.0.1:9;",
         "cannot load certificate key \"%%CERTS%%/cenc.key\": PEM_read_bio_PrivateKey() failed"},
        {"proxy_ssl_protocols TLSv9; proxy_pass https://127.0.0.1:9;",
         "invalid value \"TLSv9\" in "},
        {"proxy_ssl_ciphers BOGUS; proxy_pass https://127.0.0.1:9;",
         "SSL_CTX_set_cipher_list(\"BOGUS\") failed (SSL: "},
        {"proxy_ssl_verify on; proxy_ssl_trusted_certificate %%CERTS%%/none.crt;"
         " proxy_pass https://127.0.0.1:9;",
         "SSL_CTX_load_verify_locations(\"%%CERTS%%/none.crt\") failed (SSL: "},
        {"proxy_ssl_conf_command Foo bar; proxy_pass https://127.0.0.1:9;",
         "SSL_CONF_cmd(\"Foo\", \"bar\") failed (SSL: "},
        {"proxy_ssl_password_file %%CERTS%%/none.pass; proxy_pass https://127.0.0.1:9;",
         "open() \"%%CERTS%%/none.pass\" failed (2: No such file or directory) in "},
        {"proxy_ssl_certificate $host.crt; proxy_pass https://127.0.0.1:9;",
         "variables in \"proxy_ssl_certificate\" are not supported in "},
        {"proxy_ssl_name a; proxy_ssl_name b; proxy_pass https://127.0.0.1:9;",
         "\"proxy_ssl_name\" directive is duplicate in "},
        /* settings are checked only where a proxy_pass speaks TLS, as nginx */
        {"proxy_ssl_verify on; proxy_ssl_certificate %%CERTS%%/none.crt;"
         " proxy_pass http://127.0.0.1:9;", NULL},
        /* a crl is loaded only to verify */
        {"proxy_ssl_crl %%CERTS%%/none.pem; proxy_pass https://127.0.0.1:9;", NULL},
        {"proxy_ssl_verify on; proxy_ssl_trusted_certificate %%CERTS%%/ca.crt;"
         " proxy_ssl_verify_depth 2; proxy_ssl_server_name on; proxy_ssl_name $host;"
         " proxy_ssl_protocols TLSv1.2 TLSv1.3; proxy_ssl_ciphers HIGH:!aNULL;"
         " proxy_ssl_session_reuse off; proxy_ssl_conf_command Options -SessionTicket;"
         " proxy_pass https://127.0.0.1:9;", NULL},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char conf[2048], message[512], *out = NULL;
        snprintf(conf, sizeof(conf),
                 "http { server { listen 127.0.0.1:%%%%PORT%%%%; location / { %s } } }",
                 cases[i].loc);
        int st = bw_pssl_conf_test(conf, &out);
        if (cases[i].message == NULL) {
            if (st != 0) {
                fail_msg("case %zu: status %d, wanted 0:\n%s", i, st, out);
            }
            free(out);
            continue;
        }
        const char *m = cases[i].message, *at = strstr(m, "%%CERTS%%");
        if (at) {
            snprintf(message, sizeof(message), "%.*s%s%s", (int) (at - m), m, bw_pssl_dir,
                     at + 9);
        } else {
            snprintf(message, sizeof(message), "%s", m);
        }
        if (st != 1 || strstr(out, message) == NULL) {
            fail_msg("case %zu: status %d, wanted \"%s\" in:\n%s", i, st, message, out);
        }
        free(out);
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_proxy_ssl_https_to_tls_origin_works),
        cmocka_unit_test(test_proxy_ssl_large_bodies_both_ways),
        cmocka_unit_test(test_proxy_ssl_verify_with_the_right_ca_passes),
        cmocka_unit_test(test_proxy_ssl_verify_failures_are_502_with_nginx_log_lines),
        cmocka_unit_test(test_proxy_ssl_verify_failure_moves_to_the_next_upstream),
        cmocka_unit_test(test_proxy_ssl_server_name_sends_sni),
        cmocka_unit_test(test_proxy_ssl_client_certificate_presented),
        cmocka_unit_test(test_proxy_ssl_session_reused_on_the_next_connection),
        cmocka_unit_test(test_proxy_ssl_keepalive_reuses_the_tls_connection),
        cmocka_unit_test(test_proxy_ssl_handshake_timeout_is_504),
        cmocka_unit_test(test_proxy_ssl_handshake_failures_are_502),
        cmocka_unit_test(test_proxy_ssl_configuration_errors_as_nginx),
    };
    return cmocka_run_group_tests(tests, bw_pssl_group_setup, bw_pssl_group_teardown);
}
