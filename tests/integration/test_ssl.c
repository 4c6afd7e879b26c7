/*
 * test_ssl.c -- HTTPS through the real binary: the certificate SNI selects
 * (two servers, RSA and ECDSA), RSA and ECDSA certificates in one server,
 * protocol versions (TLS 1.1 refused by default, 1.2 and 1.3 served), plain
 * HTTP on the TLS port (nginx's 497 page as a 400), garbage and stalled
 * handshakes that cost only their own connection, client certificates (on,
 * optional, optional_no_ca; 495/496 pages; $ssl_client_* variables),
 * ssl_reject_handshake, encrypted keys with ssl_password_file, DH
 * parameters, curves and ssl_conf_command, sendfile over TLS, keep-alive,
 * and configuration errors as nginx words them.
 *
 * Certificates are made once per run with the openssl command into a
 * temporary directory (no key is committed).
 */
#include "harness.h"

#include <ctype.h>
#include <poll.h>
#include <stdarg.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static char bw_ssl_dir[64];

/* A shell command line run in the certificate directory; its output, malloc'd. */
#define bw_ssl_sh(status, ...) bw_test_sh_in(bw_ssl_dir, status, __VA_ARGS__)

/* Runs a command that must succeed (certificate making). 0 or -1. */
static int
bw_ssl_make(const char *cmd)
{
    int st;
    char *out = bw_ssl_sh(&st, "%s", cmd);
    if (st != 0) {
        fprintf(stderr, "failed (%d): %s\n%s\n", st, cmd, out);
    }
    free(out);
    return st == 0 ? 0 : -1;
}

#define BW_SSL_EC "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes"

static int
bw_ssl_group_setup(void **state)
{
    static const char *const cmds[] = {
        "openssl req -x509 -newkey rsa:2048 -nodes -keyout a.key -out a.crt -subj /CN=a.test"
        " -days 2",
        "openssl req -x509 " BW_SSL_EC " -keyout b.key -out b.crt -subj /CN=b.test -days 2",
        "openssl req -x509 " BW_SSL_EC " -keyout aec.key -out aec.crt -subj /CN=a-ec.test"
        " -days 2",
        "openssl req -x509 " BW_SSL_EC " -keyout ca.key -out ca.crt -subj '/CN=Bulwark Test CA'"
        " -days 2",
        "openssl req -new " BW_SSL_EC " -keyout client.key -out client.csr"
        " -subj /CN=client1/O=Bulwark",
        "openssl x509 -req -in client.csr -CA ca.crt -CAkey ca.key -set_serial 4660"
        " -out client.crt -days 2",
        "openssl req -x509 " BW_SSL_EC " -keyout rogue.key -out rogue.crt -subj /CN=rogue"
        " -days 2",
        "openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -aes256"
        " -pass pass:right-one -out enc.key",
        "openssl req -x509 -key enc.key -passin pass:right-one -out enc.crt -subj /CN=enc.test"
        " -days 2",
        "printf 'wrong-one\\nright-one\\n' > enc.pass",
        "openssl genpkey -genparam -algorithm DH -pkeyopt group:ffdhe2048 -out dh.pem",
        "openssl req -new " BW_SSL_EC " -keyout client2.key -out client2.csr"
        " -subj /CN=client2/O=Bulwark",
        "openssl x509 -req -in client2.csr -CA ca.crt -CAkey ca.key -set_serial 4661"
        " -out client2.crt -days 2",
        /* a server certificate from the test CA, its file holding the leaf only */
        "openssl req -new " BW_SSL_EC " -keyout leaf.key -out leaf.csr -subj /CN=leaf.test",
        "openssl x509 -req -in leaf.csr -CA ca.crt -CAkey ca.key -set_serial 4662"
        " -out leaf.crt -days 2",
        /* a CRL from the test CA that revokes client2 */
        "touch index.txt && echo 01 > crlnumber && printf '[ca]\\ndefault_ca=c\\n[c]\\n"
        "database=index.txt\\ncrlnumber=crlnumber\\ndefault_md=sha256\\n"
        "default_crl_days=2\\n' > ca.cnf",
        "openssl ca -config ca.cnf -revoke client2.crt -keyfile ca.key -cert ca.crt",
        "openssl ca -config ca.cnf -gencrl -keyfile ca.key -cert ca.crt -out crl.pem",
        /* the OCSP responder's database also knows leaf.crt, as valid */
        "openssl ca -config ca.cnf -valid leaf.crt -keyfile ca.key -cert ca.crt",
        /* the smallest OCSP response: status tryLater, no body */
        "printf '\\060\\003\\012\\001\\003' > ocsp.der",
    };

    snprintf(bw_ssl_dir, sizeof(bw_ssl_dir), "/tmp/bwssl.XXXXXX");
    if (mkdtemp(bw_ssl_dir) == NULL) {
        return -1;
    }
    for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
        if (bw_ssl_make(cmds[i]) != 0) {
            return -1;
        }
    }
    return 0;
}

static int
bw_ssl_group_teardown(void **state)
{
    char *out = bw_ssl_sh(NULL, "cd / && rm -rf '%s'", bw_ssl_dir);
    free(out);
    return 0;
}

/* Starts a server from a template that may use %%CERTS%%. */
static bw_test_server_t *
bw_ssl_start(const char *conf)
{
    bw_test_server_t *s = bw_test_server_start(conf, "CERTS", bw_ssl_dir);
    assert_non_null(s);
    return s;
}

/* An HTTP/1.0 GET through `openssl s_client` with extra args; its whole output. */
static char *
bw_ssl_client(int port, const char *host, const char *args)
{
    return bw_ssl_sh(NULL,
                     "printf 'GET / HTTP/1.0\\r\\nHost: %s\\r\\n\\r\\n' | openssl s_client"
                     " -connect 127.0.0.1:%d %s -ign_eof 2>&1",
                     host, port, args);
}

/* curl with extra args (the URL included); body or error text. */
static char *
bw_ssl_curl(int *status, const char *args)
{
    return bw_ssl_sh(status, "curl -s -S --max-time 5 %s 2>&1", args);
}

/* ------------------------------------------------------------ SNI */

static const char bw_ssl_sni_conf[] =
    "http {\n"
    "  server { listen 127.0.0.1:%%PORT%% ssl; server_name a.test;\n"
    "    ssl_certificate %%CERTS%%/a.crt; ssl_certificate_key %%CERTS%%/a.key;\n"
    "    location / { return 200 \"a $ssl_server_name $https $scheme $ssl_alpn_protocol\\n\"; }\n"
    "  }\n"
    "  server { listen 127.0.0.1:%%PORT%% ssl; server_name b.test *.b.test;\n"
    "    ssl_certificate %%CERTS%%/b.crt; ssl_certificate_key %%CERTS%%/b.key;\n"
    "    location / { return 200 \"b $ssl_server_name\\n\"; }\n"
    "  }\n"
    "}\n";

static void
test_ssl_sni_selects_server_and_certificate(void **state)
{
    bw_test_server_t *s = bw_ssl_start(bw_ssl_sni_conf);
    char args[512];
    int st;

    /* curl verifies the certificate against the one we expect for the name */
    snprintf(args, sizeof(args), "--cacert a.crt --resolve a.test:%d:127.0.0.1 https://a.test:%d/",
             s->port, s->port);
    char *out = bw_ssl_curl(&st, args);
    assert_int_equal(st, 0);
    assert_string_equal(out, "a a.test on https http/1.1\n");
    free(out);

    snprintf(args, sizeof(args), "--cacert b.crt --resolve b.test:%d:127.0.0.1 https://b.test:%d/",
             s->port, s->port);
    out = bw_ssl_curl(&st, args);
    assert_int_equal(st, 0);
    assert_string_equal(out, "b b.test\n");
    free(out);

    /* a wildcard name selects b as well */
    out = bw_ssl_client(s->port, "x.b.test", "-servername x.b.test");
    assert_non_null(strstr(out, "subject=CN = b.test"));
    assert_non_null(strstr(out, "b x.b.test"));
    free(out);

    /* no SNI: the default server's certificate */
    out = bw_ssl_client(s->port, "b.test", "-noservername");
    assert_non_null(strstr(out, "subject=CN = a.test"));
    free(out);
    bw_test_server_stop(s);
}

static const char bw_ssl_dual_conf[] =
    "http {\n"
    "  server { listen 127.0.0.1:%%PORT%% ssl;\n"
    "    ssl_certificate %%CERTS%%/a.crt; ssl_certificate_key %%CERTS%%/a.key;\n"
    "    ssl_certificate %%CERTS%%/aec.crt; ssl_certificate_key %%CERTS%%/aec.key;\n"
    "    location / { return 200 \"$ssl_cipher\\n\"; }\n"
    "  }\n"
    "}\n";

static void
test_ssl_rsa_and_ecdsa_certificates_in_one_server(void **state)
{
    bw_test_server_t *s = bw_ssl_start(bw_ssl_dual_conf);

    char *out = bw_ssl_client(s->port, "x", "-tls1_2 -cipher ECDHE-RSA-AES128-GCM-SHA256");
    assert_non_null(strstr(out, "subject=CN = a.test"));
    assert_non_null(strstr(out, "\nECDHE-RSA-AES128-GCM-SHA256\n"));
    free(out);
    out = bw_ssl_client(s->port, "x", "-tls1_2 -cipher ECDHE-ECDSA-AES128-GCM-SHA256");
    assert_non_null(strstr(out, "subject=CN = a-ec.test"));
    assert_non_null(strstr(out, "\nECDHE-ECDSA-AES128-GCM-SHA256\n"));
    free(out);
    bw_test_server_stop(s);
}

/* ------------------------------------------------------- protocols */

static const char bw_ssl_proto_conf[] =
    "http {\n"
    "  server { listen 127.0.0.1:%%PORT%% ssl;\n"
    "    ssl_certificate %%CERTS%%/a.crt; ssl_certificate_key %%CERTS%%/a.key;\n"
    "    ssl_ciphers DEFAULT@SECLEVEL=0;\n"
    "    location / { return 200 \"proto=$ssl_protocol\\n\"; }\n"
    "  }\n"
    "  server { listen 127.0.0.1:%%PORT2%% ssl;\n"
    "    ssl_certificate %%CERTS%%/a.crt; ssl_certificate_key %%CERTS%%/a.key;\n"
    "    ssl_protocols TLSv1.1 TLSv1.2; ssl_ciphers DEFAULT@SECLEVEL=0;\n"
    "    location / { return 200 \"proto=$ssl_protocol\\n\"; }\n"
    "  }\n"
    "}\n";

static void
test_ssl_default_protocols_refuse_tls11(void **state)
{
    bw_test_server_t *s = bw_ssl_start(bw_ssl_proto_conf);
    const char *low = "-tls1_1 -cipher DEFAULT@SECLEVEL=0";

    char *out = bw_ssl_client(s->port, "x", low);
    assert_null(strstr(out, "proto="));
    assert_non_null(strstr(out, "alert protocol version"));
    free(out);
    out = bw_ssl_client(s->port, "x", "-tls1_2");
    assert_non_null(strstr(out, "proto=TLSv1.2\n"));
    free(out);
    out = bw_ssl_client(s->port, "x", "-tls1_3");
    assert_non_null(strstr(out, "proto=TLSv1.3\n"));
    free(out);

    /* the same client succeeds where TLS 1.1 is enabled: the refusal was the server's */
    out = bw_ssl_client(s->ports[2], "x", low);
    assert_non_null(strstr(out, "proto=TLSv1.1\n"));
    free(out);
    out = bw_ssl_client(s->ports[2], "x", "-tls1_3");
    assert_null(strstr(out, "proto="));
    free(out);
    bw_test_server_stop(s);
}

/* ------------------------------------------ bad clients on the TLS port */

static const char bw_ssl_basic_conf[] =
    "http {\n"
    "  client_header_timeout 1s;\n"
    "  root %%PREFIX%%/html;\n"
    "  server { listen 127.0.0.1:%%PORT%% ssl;\n"
    "    ssl_certificate %%CERTS%%/a.crt; ssl_certificate_key %%CERTS%%/a.key;\n"
    /* kernel TLS where the kernel has it (sendfile through SSL_sendfile),
     * plain reads elsewhere: the file tests below must pass either way */
    "    ssl_conf_command Options KTLS;\n"
    "    location /r { return 200 \"ok $ssl_protocol\\n\"; }\n"
    "    location /f/ { alias %%PREFIX%%/html/; sendfile on; }\n"
    "    location /n/ { alias %%PREFIX%%/html/; sendfile off; }\n"
    "  }\n"
    "}\n";

static void
test_ssl_plain_http_on_tls_port_gets_400_page(void **state)
{
    bw_test_server_t *s = bw_ssl_start(bw_ssl_basic_conf);
    bw_test_response_t r;

    assert_int_equal(bw_test_http_get(s->port, "/r", &r), 0);
    assert_int_equal(r.status, 400);
    assert_non_null(strstr(r.body, "<title>400 The plain HTTP request was sent to HTTPS port"
                                   "</title>"));
    assert_non_null(strstr(r.body, "<center>The plain HTTP request was sent to HTTPS port"
                                   "</center>"));
    assert_true(r.closed);
    bw_test_response_free(&r);
    assert_int_equal(bw_test_server_log_count(s, "client sent plain HTTP request to HTTPS port"),
                     1);
    bw_test_server_stop(s);
}

/* True when the server closed fd (EOF or reset) within ms. */
static bool
bw_ssl_closed_within(int fd, int ms)
{
    int64_t end = bw_test_now_ms() + ms;
    char buf[512];

    while (bw_test_now_ms() < end) {
        struct pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, 50) == 1) {
            ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
            if (n <= 0) {
                return true;
            }
        }
    }
    return false;
}

static void
test_ssl_garbage_and_stalled_handshakes_cost_one_connection(void **state)
{
    bw_test_server_t *s = bw_ssl_start(bw_ssl_basic_conf);
    static const char record[] = "\x16\x03\x01\x00\x20" "0123456789abcdef0123456789abcdef";
    char args[256];
    int st;

    int silent = bw_test_connect(s->port, 1000);      /* never sends a byte */
    int partial = bw_test_connect(s->port, 1000);     /* a record header, then nothing */
    int garbage = bw_test_connect(s->port, 1000);     /* a record of nonsense */
    assert_true(silent >= 0 && partial >= 0 && garbage >= 0);
    assert_int_equal(bw_test_send_all(partial, "\x16\x03\x01\x02\x00", 5), 0);
    assert_int_equal(bw_test_send_all(garbage, record, sizeof(record) - 1), 0);

    assert_true(bw_ssl_closed_within(garbage, 2000));
    snprintf(args, sizeof(args), "-k https://127.0.0.1:%d/r", s->port);
    char *out = bw_ssl_curl(&st, args);
    assert_int_equal(st, 0);
    assert_string_equal(out, "ok TLSv1.3\n");
    free(out);

    /* client_header_timeout (1s) bounds the handshake too */
    assert_true(bw_ssl_closed_within(silent, 3000));
    assert_true(bw_ssl_closed_within(partial, 3000));
    close(silent);
    close(partial);
    close(garbage);
    assert_true(bw_test_server_log_count(s, "client timed out") >= 2);
    assert_true(bw_test_server_log_count(s, "SSL_do_handshake() failed") >= 1);

    out = bw_ssl_curl(&st, args);
    assert_int_equal(st, 0);
    assert_string_equal(out, "ok TLSv1.3\n");
    free(out);
    bw_test_server_stop(s);
}

/* --------------------------------------------- bodies and keep-alive */

static void
test_ssl_files_and_keepalive_over_tls(void **state)
{
    bw_test_server_t *s = bw_test_server_prepare(bw_ssl_basic_conf, "CERTS", bw_ssl_dir);
    size_t big = 3 * 1024 * 1024 + 17;
    char *data = malloc(big);
    char args[512];
    int st;

    assert_non_null(s);
    for (size_t i = 0; i < big; i++) {
        data[i] = bw_test_pattern_byte(i);
    }
    assert_int_equal(bw_test_server_write_file_len(s, "html/big.bin", data, big), 0);
    free(data);
    assert_int_equal(bw_test_server_launch(s), 0);

    const char *paths[] = {"f", "n"}; /* sendfile on, then off */
    for (size_t i = 0; i < 2; i++) {
        snprintf(args, sizeof(args),
                 "-k -o '%s/out.bin' -w '%%{http_code} %%{size_download}'"
                 " https://127.0.0.1:%d/%s/big.bin",
                 bw_test_server_path(s, "logs"), s->port, paths[i]);
        char *out = bw_ssl_curl(&st, args);
        assert_int_equal(st, 0);
        char expect[64];
        snprintf(expect, sizeof(expect), "200 %zu", big);
        assert_string_equal(out, expect);
        free(out);
        size_t len = 0;
        char *got = bw_test_server_read_file(s, "logs/out.bin", &len);
        assert_non_null(got);
        assert_int_equal(len, big);
        assert_true(bw_test_pattern_check(got, len, 0));
        free(got);
    }

    /* two slow clients at once (sendfile off): records that wait for a
     * full socket keep their bytes while the other connection's records
     * are gathered in the same worker */
    snprintf(args, sizeof(args),
             "-k -Z --parallel-max 2 --limit-rate 6M -o '%s/a.bin' -o '%s/b.bin'"
             " https://127.0.0.1:%d/n/big.bin https://127.0.0.1:%d/n/big.bin",
             bw_test_server_path(s, "logs"), bw_test_server_path(s, "logs"), s->port, s->port);
    char *par = bw_ssl_curl(&st, args);
    assert_int_equal(st, 0);
    free(par);
    static const char *const outs[] = {"logs/a.bin", "logs/b.bin"};
    for (size_t i = 0; i < 2; i++) {
        size_t len = 0;
        char *got = bw_test_server_read_file(s, outs[i], &len);
        assert_non_null(got);
        assert_int_equal(len, big);
        assert_true(bw_test_pattern_check(got, len, 0));
        free(got);
    }

    /* three requests on one TLS connection */
    snprintf(args, sizeof(args), "-k -w ' %%{num_connects}' https://127.0.0.1:%d/r"
             " https://127.0.0.1:%d/r https://127.0.0.1:%d/r", s->port, s->port, s->port);
    char *out = bw_ssl_curl(&st, args);
    assert_int_equal(st, 0);
    assert_string_equal(out, "ok TLSv1.3\n 1ok TLSv1.3\n 0ok TLSv1.3\n 0");
    free(out);
    bw_test_server_stop(s);
}

/* ------------------------------------------------ client certificates */

static const char bw_ssl_mtls_conf[] =
    "http {\n"
    "  ssl_certificate %%CERTS%%/a.crt; ssl_certificate_key %%CERTS%%/a.key;\n"
    "  server { listen 127.0.0.1:%%PORT%% ssl;\n"
    "    ssl_client_certificate %%CERTS%%/ca.crt; ssl_verify_client on;\n"
    "    location / { return 200 \"v=$ssl_client_verify s=$ssl_client_s_dn i=$ssl_client_i_dn"
    " serial=$ssl_client_serial fp=$ssl_client_fingerprint\\n\"; }\n"
    "    location /cert { return 200 \"$ssl_client_cert\"; }\n"
    "  }\n"
    "  server { listen 127.0.0.1:%%PORT2%% ssl;\n"
    "    ssl_client_certificate %%CERTS%%/ca.crt; ssl_verify_client optional;\n"
    "    location / { return 200 \"v=$ssl_client_verify s=$ssl_client_s_dn\\n\"; }\n"
    "  }\n"
    "  server { listen 127.0.0.1:%%PORT3%% ssl;\n"
    "    ssl_verify_client optional_no_ca;\n"
    "    location / { return 200 \"v=$ssl_client_verify s=$ssl_client_s_dn\\n\"; }\n"
    "  }\n"
    "  server { listen 127.0.0.1:%%PORT4%% ssl;\n"
    "    ssl_client_certificate %%CERTS%%/ca.crt; ssl_verify_client on;\n"
    "    ssl_crl %%CERTS%%/crl.pem;\n"
    "    location / { return 200 \"v=$ssl_client_verify s=$ssl_client_s_dn\\n\"; }\n"
    "  }\n"
    "}\n";

/* The client certificate's SHA-1 fingerprint as nginx prints it (lowercase hex). */
static void
bw_ssl_fingerprint(char *buf, size_t size)
{
    char *out = bw_ssl_sh(NULL, "openssl x509 -in client.crt -noout -fingerprint -sha1");
    char *p = strchr(out, '=');
    size_t n = 0;

    for (p = p ? p + 1 : out; *p && n + 1 < size; p++) {
        if (isxdigit((unsigned char) *p)) {
            buf[n++] = (char) tolower((unsigned char) *p);
        }
    }
    buf[n] = '\0';
    free(out);
}

static char *
bw_ssl_curl_cert(int port, const char *cert, const char *path)
{
    char args[512];

    if (cert) {
        snprintf(args, sizeof(args), "-k --cert %s.crt --key %s.key https://127.0.0.1:%d%s", cert,
                 cert, port, path);
    } else {
        snprintf(args, sizeof(args), "-k https://127.0.0.1:%d%s", port, path);
    }
    return bw_ssl_curl(NULL, args);
}

static void
test_ssl_client_certificates_verified(void **state)
{
    bw_test_server_t *s = bw_ssl_start(bw_ssl_mtls_conf);
    char fp[64], expect[512];

    bw_ssl_fingerprint(fp, sizeof(fp));
    assert_int_equal(strlen(fp), 40);
    char *out = bw_ssl_curl_cert(s->port, "client", "/");
    snprintf(expect, sizeof(expect), "v=SUCCESS s=O=Bulwark,CN=client1 i=CN=Bulwark Test CA"
             " serial=1234 fp=%s\n", fp);
    assert_string_equal(out, expect);
    free(out);
    out = bw_ssl_curl_cert(s->port, "client", "/cert");
    assert_true(strncmp(out, "-----BEGIN CERTIFICATE-----\n\t", 29) == 0);
    assert_non_null(strstr(out, "\t-----END CERTIFICATE-----"));
    free(out);

    out = bw_ssl_curl_cert(s->port, NULL, "/");
    assert_non_null(strstr(out, "<title>400 No required SSL certificate was sent</title>"));
    free(out);
    out = bw_ssl_curl_cert(s->port, "rogue", "/");
    assert_non_null(strstr(out, "<title>400 The SSL certificate error</title>"));
    free(out);
    assert_int_equal(bw_test_server_log_count(s, "client sent no required SSL certificate"), 1);
    assert_int_equal(bw_test_server_log_count(s, "client SSL certificate verify error"), 1);

    /* optional: no certificate is fine, a bad one is not */
    out = bw_ssl_curl_cert(s->ports[2], NULL, "/");
    assert_string_equal(out, "v=NONE s=\n");
    free(out);
    out = bw_ssl_curl_cert(s->ports[2], "client", "/");
    assert_string_equal(out, "v=SUCCESS s=O=Bulwark,CN=client1\n");
    free(out);
    out = bw_ssl_curl_cert(s->ports[2], "rogue", "/");
    assert_non_null(strstr(out, "<title>400 The SSL certificate error</title>"));
    free(out);

    /* optional_no_ca: an unknown issuer passes, the verdict is in the variable */
    out = bw_ssl_curl_cert(s->ports[3], "rogue", "/");
    assert_true(strncmp(out, "v=FAILED:", 9) == 0);
    assert_non_null(strstr(out, " s=CN=rogue\n"));
    free(out);

    /* ssl_crl: the revoked certificate is refused, the other one is not */
    out = bw_ssl_curl_cert(s->ports[4], "client", "/");
    assert_string_equal(out, "v=SUCCESS s=O=Bulwark,CN=client1\n");
    free(out);
    out = bw_ssl_curl_cert(s->ports[4], "client2", "/");
    assert_non_null(strstr(out, "<title>400 The SSL certificate error</title>"));
    free(out);
    assert_int_equal(bw_test_server_log_count(s, "certificate revoked"), 1);
    bw_test_server_stop(s);
}

/*
 * The server sends the certificates of its ssl_certificate file and no
 * more: not a chain built from the CA that ssl_client_certificate loaded
 * (OpenSSL's automatic chain building is off, as in nginx).
 */
static void
test_ssl_chain_is_the_certificate_file(void **state)
{
    bw_test_server_t *s = bw_ssl_start(
        "http {\n"
        "  server { listen 127.0.0.1:%%PORT%% ssl;\n"
        "    ssl_certificate %%CERTS%%/leaf.crt; ssl_certificate_key %%CERTS%%/leaf.key;\n"
        "    ssl_client_certificate %%CERTS%%/ca.crt; ssl_verify_client optional;\n"
        "    location / { return 200 \"chain\\n\"; }\n"
        "  }\n"
        "}\n");
    char *out = bw_ssl_client(s->port, "leaf.test", "-showcerts");
    int   certs = 0;

    for (const char *p = out; (p = strstr(p, "-----BEGIN CERTIFICATE-----")) != NULL; p++) {
        certs++;
    }
    assert_non_null(strstr(out, "chain"));
    assert_non_null(strstr(out, "CN = leaf.test"));
    assert_int_equal(certs, 1);
    free(out);
    bw_test_server_stop(s);
}

/* ------------------------------------------------------ OCSP stapling */

/*
 * `openssl ocsp` answering for the test CA on a free port; its pid. Ready
 * once it says so: a probe connection would hold up the responder, which
 * serves one connection at a time.
 */
static pid_t
bw_ssl_ocsp_responder(int *port)
{
    int  hold = -1;
    char portbuf[16], index[600], ca[600], key[600], log[600];

    *port = bw_test_free_port(&hold);
    close(hold);
    snprintf(portbuf, sizeof(portbuf), "%d", *port);
    snprintf(index, sizeof(index), "%s/index.txt", bw_ssl_dir);
    snprintf(ca, sizeof(ca), "%s/ca.crt", bw_ssl_dir);
    snprintf(key, sizeof(key), "%s/ca.key", bw_ssl_dir);
    snprintf(log, sizeof(log), "%s/ocsp.log", bw_ssl_dir);
    const char *const argv[] = {"openssl", "ocsp", "-index", index, "-port", portbuf,
                                "-rsigner", ca, "-rkey", key, "-CA", ca, "-ndays", "1",
                                NULL};
    int out = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (out == -1) {
        return -1;
    }
    pid_t pid = bw_test_proc_spawn(argv, -1, out, out);
    close(out);
    for (int i = 0; pid > 0 && i < 100; i++) {
        size_t len = 0;
        char  *text = bw_test_file_read(log, &len);
        bool   ready = text != NULL && strstr(text, "waiting for OCSP client") != NULL;
        free(text);
        if (ready) {
            break;
        }
        bw_test_sleep_ms(50);
    }
    return pid;
}

static const char bw_ssl_ocsp_conf[] =
    "http {\n"
    "  ssl_trusted_certificate %%CERTS%%/ca.crt;\n"
    "  ssl_stapling on;\n"
    "  server { listen 127.0.0.1:%%PORT%% ssl; server_name leaf.test;\n"
    "    ssl_certificate %%CERTS%%/leaf.crt; ssl_certificate_key %%CERTS%%/leaf.key;\n"
    "    ssl_stapling_verify on; ssl_stapling_responder http://127.0.0.1:%%OCSP%%/;\n"
    "    location / { return 200 \"leaf\\n\"; }\n"
    "  }\n"
    "  server { listen 127.0.0.1:%%PORT%% ssl; server_name revoked.test;\n"
    "    ssl_certificate %%CERTS%%/client2.crt; ssl_certificate_key %%CERTS%%/client2.key;\n"
    "    ssl_stapling_responder http://127.0.0.1:%%OCSP%%/;\n"
    "    location / { return 200 \"revoked\\n\"; }\n"
    "  }\n"
    "  server { listen 127.0.0.1:%%PORT%% ssl; server_name down.test;\n"
    "    ssl_certificate %%CERTS%%/client.crt; ssl_certificate_key %%CERTS%%/client.key;\n"
    "    ssl_stapling_responder http://127.0.0.1:%%DOWN%%/;\n"
    "    location / { return 200 \"down\\n\"; }\n"
    "  }\n"
    "  server { listen 127.0.0.1:%%PORT%% ssl; server_name named.test;\n"
    "    ssl_certificate %%CERTS%%/leaf.crt; ssl_certificate_key %%CERTS%%/leaf.key;\n"
    "    resolver 127.0.0.1:%%DNS%%;\n"
    "    ssl_stapling_responder http://ocsp.test:%%OCSP%%/;\n"
    "    location / { return 200 \"named\\n\"; }\n"
    "  }\n"
    "  server { listen 127.0.0.1:%%PORT%% ssl; server_name self.test;\n"
    "    ssl_certificate %%CERTS%%/a.crt; ssl_certificate_key %%CERTS%%/a.key;\n"
    "    location / { return 200 \"self\\n\"; }\n"
    "  }\n"
    "}\n";

/*
 * ssl_stapling without a file: the first handshake that asks starts a
 * fetch from the responder, later ones get the response stapled; a
 * revoked certificate's response is not stapled; a dead responder or a
 * certificate without issuer costs nothing but a log line.
 */
static void
test_ssl_stapling_fetched_from_responder(void **state)
{
    int            ocsp_port, down_port, dns_port, hold = -1;
    pid_t          ocsp = bw_ssl_ocsp_responder(&ocsp_port);
    bw_test_dns_t *dns = bw_test_dns_start(&dns_port);
    char           ocsp_text[16], down_text[16], dns_text[16];

    assert_true(ocsp > 0);
    assert_non_null(dns);
    assert_int_equal(bw_test_dns_add(dns, "ocsp.test", "127.0.0.1", 60), 0);
    snprintf(dns_text, sizeof(dns_text), "%d", dns_port);
    down_port = bw_test_free_port(&hold);
    close(hold);
    snprintf(ocsp_text, sizeof(ocsp_text), "%d", ocsp_port);
    snprintf(down_text, sizeof(down_text), "%d", down_port);
    bw_test_server_t *s = bw_test_server_start(bw_ssl_ocsp_conf, "CERTS", bw_ssl_dir, "OCSP",
                                               ocsp_text, "DOWN", down_text, "DNS", dns_text);
    assert_non_null(s);
    /* a self-signed certificate has no issuer to ask about */
    assert_true(bw_test_server_file_wait(s, "logs/stderr.log",
                                         "[warn] \"ssl_stapling\" ignored, issuer certificate not "
                                         "found for certificate \"/CN=a.test\"", 1,
                                         bw_test_timeout(3000)));

    char *out = bw_ssl_client(s->port, "leaf.test", "-servername leaf.test -status");
    assert_non_null(strstr(out, "leaf"));
    free(out);
    bool stapled = false;
    int64_t deadline = bw_test_now_ms() + bw_test_timeout(5000);
    while (!stapled && bw_test_now_ms() < deadline) {
        bw_test_sleep_ms(100);
        out = bw_ssl_client(s->port, "leaf.test", "-servername leaf.test -status");
        stapled = strstr(out, "OCSP Response Status: successful") != NULL
                  && strstr(out, "Cert Status: good") != NULL;
        free(out);
    }
    assert_true(stapled);

    /* a responder named by host: resolved with the server's resolver before the fetch */
    out = bw_ssl_client(s->port, "named.test", "-servername named.test -status");
    free(out);
    stapled = false;
    deadline = bw_test_now_ms() + bw_test_timeout(5000);
    while (!stapled && bw_test_now_ms() < deadline) {
        bw_test_sleep_ms(100);
        out = bw_ssl_client(s->port, "named.test", "-servername named.test -status");
        stapled = strstr(out, "Cert Status: good") != NULL;
        free(out);
    }
    assert_true(stapled);
    assert_true(bw_test_dns_queries(dns, "ocsp.test", 1) >= 1);

    /* revoked: the response is not stapled, and said so */
    for (int i = 0; i < 2; i++) {
        out = bw_ssl_client(s->port, "revoked.test", "-servername revoked.test -status");
        assert_non_null(strstr(out, "revoked"));
        free(out);
        bw_test_sleep_ms(300);
    }
    assert_true(bw_test_server_log_wait(s, "certificate status \"revoked\" in the OCSP response",
                                        1, bw_test_timeout(5000)));
    out = bw_ssl_client(s->port, "revoked.test", "-servername revoked.test -status");
    assert_non_null(strstr(out, "OCSP response: no response sent"));
    free(out);

    /* a responder that refuses: handshakes go on without a staple */
    for (int i = 0; i < 2; i++) {
        out = bw_ssl_client(s->port, "down.test", "-servername down.test -status");
        assert_non_null(strstr(out, "down"));
        assert_non_null(strstr(out, "OCSP response: no response sent"));
        free(out);
    }
    char line[128];
    snprintf(line, sizeof(line), "while requesting certificate status, responder: 127.0.0.1:%d",
             down_port);
    assert_true(bw_test_server_log_wait(s, line, 1, bw_test_timeout(5000)));
    bw_test_server_stop(s);
    bw_test_dns_stop(dns);
    bw_test_proc_kill(ocsp, SIGTERM);
    bw_test_proc_reap(ocsp, NULL, 3000);
}

static const char bw_ssl_misdirected_conf[] =
    "http {\n"
    "  ssl_certificate %%CERTS%%/a.crt; ssl_certificate_key %%CERTS%%/a.key;\n"
    "  server { listen 127.0.0.1:%%PORT%% ssl; server_name a.test;\n"
    "    location / { return 200 \"a\\n\"; }\n"
    "  }\n"
    "  server { listen 127.0.0.1:%%PORT%% ssl; server_name b.test;\n"
    "    ssl_client_certificate %%CERTS%%/ca.crt; ssl_verify_client optional;\n"
    "    location / { return 200 \"b\\n\"; }\n"
    "  }\n"
    "}\n";

static void
test_ssl_host_other_than_sni_on_verifying_server_is_421(void **state)
{
    bw_test_server_t *s = bw_ssl_start(bw_ssl_misdirected_conf);

    /* the certificate was not checked by b's rules: b refuses */
    char *out = bw_ssl_client(s->port, "b.test", "-servername a.test");
    assert_non_null(strstr(out, "HTTP/1.1 421 Misdirected Request"));
    free(out);
    out = bw_ssl_client(s->port, "b.test", "-servername b.test");
    assert_non_null(strstr(out, "\nb\n"));
    free(out);
    /* a server that does not verify clients takes any name */
    out = bw_ssl_client(s->port, "a.test", "-servername b.test");
    assert_non_null(strstr(out, "\na\n"));
    free(out);
    bw_test_server_stop(s);
}

/* ------------------------------------------------ other directives */

static const char bw_ssl_reject_conf[] =
    "http {\n"
    "  server { listen 127.0.0.1:%%PORT%% ssl default_server; ssl_reject_handshake on; }\n"
    "  server { listen 127.0.0.1:%%PORT%% ssl; server_name a.test;\n"
    "    ssl_certificate %%CERTS%%/a.crt; ssl_certificate_key %%CERTS%%/a.key;\n"
    "    location / { return 200 \"a\\n\"; }\n"
    "  }\n"
    "}\n";

static void
test_ssl_reject_handshake_for_unknown_names(void **state)
{
    bw_test_server_t *s = bw_ssl_start(bw_ssl_reject_conf);

    char *out = bw_ssl_client(s->port, "a.test", "-servername a.test");
    assert_non_null(strstr(out, "\na\n"));
    free(out);
    out = bw_ssl_client(s->port, "z.test", "-servername z.test");
    assert_non_null(strstr(out, "unrecognized name"));
    assert_null(strstr(out, "\na\n"));
    free(out);
    out = bw_ssl_client(s->port, "a.test", "-noservername");
    assert_non_null(strstr(out, "unrecognized name"));
    free(out);
    bw_test_server_stop(s);
}

static const char bw_ssl_misc_conf[] =
    "http {\n"
    "  server { listen 127.0.0.1:%%PORT%% ssl;\n"
    "    ssl_certificate %%CERTS%%/enc.crt; ssl_certificate_key %%CERTS%%/enc.key;\n"
    "    ssl_password_file %%CERTS%%/enc.pass;\n"
    "    ssl_ecdh_curve secp384r1;\n"
    "    ssl_conf_command Ciphersuites TLS_CHACHA20_POLY1305_SHA256;\n"
    "    ssl_stapling on; ssl_stapling_file %%CERTS%%/ocsp.der;\n"
    "    location / { return 200 \"$ssl_cipher $ssl_curve\\n\"; }\n"
    "  }\n"
    "  server { listen 127.0.0.1:%%PORT2%% ssl;\n"
    "    ssl_certificate %%CERTS%%/a.crt; ssl_certificate_key %%CERTS%%/a.key;\n"
    "    ssl_dhparam %%CERTS%%/dh.pem; ssl_prefer_server_ciphers on;\n"
    "    ssl_ciphers DHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-AES256-GCM-SHA384;\n"
    "    location / { return 200 \"$ssl_cipher\\n\"; }\n"
    "  }\n"
    "}\n";

static void
test_ssl_password_file_curves_dhparam_conf_command(void **state)
{
    bw_test_server_t *s = bw_ssl_start(bw_ssl_misc_conf);
    char args[256];
    int st;

    snprintf(args, sizeof(args), "-k https://127.0.0.1:%d/", s->port);
    char *out = bw_ssl_curl(&st, args);
    assert_string_equal(out, "TLS_CHACHA20_POLY1305_SHA256 secp384r1\n");
    free(out);
    /* the stapled response is sent when asked for, and only there */
    out = bw_ssl_client(s->port, "x", "-status");
    assert_non_null(strstr(out, "OCSP Response Status: trylater (0x3)"));
    free(out);
    out = bw_ssl_client(s->ports[2], "x", "-status");
    assert_non_null(strstr(out, "OCSP response: no response sent"));
    free(out);
    /* the server's order wins: DHE first, with the configured parameters */
    out = bw_ssl_client(s->ports[2], "x", "-tls1_2 -cipher "
                                          "ECDHE-RSA-AES256-GCM-SHA384:DHE-RSA-AES128-GCM-SHA256");
    assert_non_null(strstr(out, "\nDHE-RSA-AES128-GCM-SHA256\n"));
    assert_non_null(strstr(out, "Server Temp Key: DH, 2048 bits"));
    free(out);
    bw_test_server_stop(s);
}

/* Runs `bulwark -t` on a template; output in *out (malloc'd), status returned. */
static int
bw_ssl_conf_test(const char *conf, char **out)
{
    bw_test_server_t *s = bw_test_server_prepare(conf, "CERTS", bw_ssl_dir);
    int st = -1;

    assert_non_null(s);
    assert_int_equal(bw_test_server_run(s, out, &st, "-t"), 0);
    bw_test_server_stop(s);
    return st;
}

static void
test_ssl_configuration_errors_as_nginx(void **state)
{
    static const struct {
        const char *conf;
        const char *message;
    } cases[] = {
        {"http { server { listen 127.0.0.1:%%PORT%% ssl; } }",
         "no \"ssl_certificate\" is defined for the \"listen ... ssl\" directive in "},
        {"http { server { listen 127.0.0.1:%%PORT%% ssl; ssl_certificate %%CERTS%%/a.crt; } }",
         "no \"ssl_certificate_key\" is defined for certificate \""},
        {"http { server { listen 127.0.0.1:%%PORT%% ssl; ssl_certificate %%CERTS%%/none.crt;"
         " ssl_certificate_key %%CERTS%%/a.key; } }",
         "cannot load certificate \"%%CERTS%%/none.crt\": BIO_new_file() failed (SSL: "},
        {"http { server { listen 127.0.0.1:%%PORT%% ssl; ssl_certificate %%CERTS%%/a.crt;"
         " ssl_certificate_key %%CERTS%%/a.key; ssl_verify_client on; } }",
         "no ssl_client_certificate for ssl_verify_client"},
        {"http { server { ssl_protocols TLSv1.4; } }", "invalid value \"TLSv1.4\" in "},
        {"http { server { listen 127.0.0.1:%%PORT%% ssl; ssl_certificate %%CERTS%%/a.crt;"
         " ssl_certificate_key %%CERTS%%/a.key; ssl_ciphers FOO; } }",
         "SSL_CTX_set_cipher_list(\"FOO\") failed (SSL: "},
        {"http { server { ssl_session_cache shared:x; } }",
         "invalid session cache \"shared:x\" in"},
        {"http { server { ssl_session_cache shared:x:1k; } }",
         "session cache \"shared:x:1k\" is too small in"},
        {"http { server { listen 127.0.0.1:%%PORT%% ssl; ssl_certificate %%CERTS%%/a.crt;"
         " ssl_certificate_key %%CERTS%%/a.key; ssl_session_ticket_key %%CERTS%%/a.key; } }",
         "\"%%CERTS%%/a.key\" must be 48 or 80 bytes"},
        {"http { server { listen 127.0.0.1:%%PORT%% ssl; ssl_certificate %%CERTS%%/enc.crt;"
         " ssl_certificate_key %%CERTS%%/enc.key; } }",
         "cannot load certificate key \"%%CERTS%%/enc.key\": PEM_read_bio_PrivateKey() failed"},
        {"http { server { listen 127.0.0.1:%%PORT%% ssl; ssl_certificate %%CERTS%%/a.crt;"
         " ssl_certificate_key %%CERTS%%/a.key; ssl_conf_command Foo bar; } }",
         "SSL_CONF_cmd(\"Foo\", \"bar\") failed (SSL: "},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *out = NULL, message[512];
        const char *m = cases[i].message, *at = strstr(m, "%%CERTS%%");
        if (at) {
            snprintf(message, sizeof(message), "%.*s%s%s", (int) (at - m), m, bw_ssl_dir,
                     at + 9);
        } else {
            snprintf(message, sizeof(message), "%s", m);
        }
        int st = bw_ssl_conf_test(cases[i].conf, &out);
        if (st != 1 || strstr(out, message) == NULL) {
            fail_msg("case %zu: status %d, wanted \"%s\" in:\n%s", i, st, message, out);
        }
        free(out);
    }

    /* `ssl on` still works, with nginx's deprecation warning */
    char *out = NULL;
    int st = bw_ssl_conf_test("http { ssl on; ssl_certificate %%CERTS%%/a.crt;"
                              " ssl_certificate_key %%CERTS%%/a.key;"
                              " server { listen 127.0.0.1:%%PORT%%; } }", &out);
    assert_int_equal(st, 0);
    assert_non_null(strstr(out, "the \"ssl\" directive is deprecated, use the \"listen ... ssl\""
                                " directive instead"));
    free(out);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ssl_sni_selects_server_and_certificate),
        cmocka_unit_test(test_ssl_rsa_and_ecdsa_certificates_in_one_server),
        cmocka_unit_test(test_ssl_default_protocols_refuse_tls11),
        cmocka_unit_test(test_ssl_plain_http_on_tls_port_gets_400_page),
        cmocka_unit_test(test_ssl_garbage_and_stalled_handshakes_cost_one_connection),
        cmocka_unit_test(test_ssl_files_and_keepalive_over_tls),
        cmocka_unit_test(test_ssl_client_certificates_verified),
        cmocka_unit_test(test_ssl_chain_is_the_certificate_file),
        cmocka_unit_test(test_ssl_stapling_fetched_from_responder),
        cmocka_unit_test(test_ssl_host_other_than_sni_on_verifying_server_is_421),
        cmocka_unit_test(test_ssl_reject_handshake_for_unknown_names),
        cmocka_unit_test(test_ssl_password_file_curves_dhparam_conf_command),
        cmocka_unit_test(test_ssl_configuration_errors_as_nginx),
    };
    return cmocka_run_group_tests(tests, bw_ssl_group_setup, bw_ssl_group_teardown);
}
