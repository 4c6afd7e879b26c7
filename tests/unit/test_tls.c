/*
 * test_tls.c -- TLS connections over a socketpair, without an event loop:
 * the non-blocking handshake against an OpenSSL client, recv's readiness
 * bookkeeping (a short read leaves nothing inside OpenSSL unannounced),
 * send_chain over memory and file buffers through a tiny socket buffer
 * (every blocked record retried with the same bytes), close_notify, and
 * the error text drained from OpenSSL's queue.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "cycle.h"
#include "event.h"
#include "io.h"
#include "pool.h"
#include "support.h"
#include "tls.h"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include <fcntl.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

static bw_cycle_t       bw_test_cycle;
static bw_open_file_t   bw_test_log_file;
static bw_log_t         bw_test_log;
static bw_connection_t *bw_test_c;
static SSL_CTX         *bw_test_sctx, *bw_test_cctx;
static SSL             *bw_test_client;
static int              bw_test_peer;

/* A self-signed P-256 certificate made in memory. */
static bool
bw_test_ctx_certificate(SSL_CTX *ctx)
{
    EVP_PKEY *key = EVP_EC_gen("P-256");
    X509 *x = X509_new();
    bool ok = key && x;

    ok = ok && ASN1_INTEGER_set(X509_get_serialNumber(x), 1) == 1
         && X509_gmtime_adj(X509_getm_notBefore(x), 0)
         && X509_gmtime_adj(X509_getm_notAfter(x), 3600)
         && X509_set_pubkey(x, key) == 1
         && X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
                                       (const u_char *) "unit.test", -1, -1, 0) == 1
         && X509_set_issuer_name(x, X509_get_subject_name(x)) == 1
         && X509_sign(x, key, EVP_sha256()) > 0 && SSL_CTX_use_certificate(ctx, x) == 1
         && SSL_CTX_use_PrivateKey(ctx, key) == 1;
    X509_free(x);
    EVP_PKEY_free(key);
    return ok;
}

static int
bw_test_setup(void **state)
{
    int sv[2];

    memset(&bw_test_cycle, 0, sizeof(bw_test_cycle));
    bw_test_log_capture(&bw_test_log, &bw_test_log_file);
    bw_test_cycle.log = &bw_test_log;
    bw_test_cycle.pool = bw_pool_create(4096, &bw_test_log);
    if (bw_test_cycle.pool == NULL || bw_connections_init(&bw_test_cycle, 4) != BW_OK
        || socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv) != 0) {
        return -1;
    }
    int small = 4096;
    setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
    setsockopt(sv[1], SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));

    bw_conf_t cf = {.cycle = &bw_test_cycle, .pool = bw_test_cycle.pool, .log = &bw_test_log};
    bw_test_sctx = bw_tls_ctx_create(&cf);
    bw_test_cctx = SSL_CTX_new(TLS_client_method());
    if (bw_test_sctx == NULL || bw_test_cctx == NULL || !bw_test_ctx_certificate(bw_test_sctx)
        || bw_tls_ctx_protocols(&cf, bw_test_sctx, BW_TLS_TLSv1_2 | BW_TLS_TLSv1_3) != BW_OK) {
        return -1;
    }
    bw_test_c = bw_connection_get(&bw_test_cycle, sv[0], &bw_test_log);
    bw_test_c->pool = bw_pool_create(1024, &bw_test_log);
    bw_test_peer = sv[1];
    bw_test_client = SSL_new(bw_test_cctx);
    if (bw_test_c->pool == NULL || bw_test_client == NULL
        || SSL_set_fd(bw_test_client, sv[1]) != 1) {
        return -1;
    }
    SSL_set_connect_state(bw_test_client);
    return 0;
}

static int
bw_test_teardown(void **state)
{
    SSL_free(bw_test_client);
    SSL_CTX_free(bw_test_cctx);
    close(bw_test_c->fd);
    bw_pool_destroy(bw_test_c->pool); /* frees the server's SSL */
    bw_connection_free(bw_test_c);
    close(bw_test_peer);
    bw_pool_destroy(bw_test_cycle.pool); /* frees the server context */
    close(bw_test_log_file.fd);
    return 0;
}

/* Runs both handshake sides until they are done (bounded). */
static void
bw_test_handshake(void)
{
    assert_int_equal(bw_tls_conn_create(bw_test_sctx, bw_test_c, 2048), BW_OK);
    assert_non_null(bw_test_c->ssl);
    bw_rc_t rc = BW_AGAIN;
    int crc = -1;
    for (int i = 0; i < 100 && (rc == BW_AGAIN || crc != 1); i++) {
        if (crc != 1) {
            crc = SSL_do_handshake(bw_test_client);
        }
        if (rc == BW_AGAIN) {
            rc = bw_tls_handshake(bw_test_c);
        }
    }
    assert_int_equal(rc, BW_OK);
    assert_int_equal(crc, 1);
    assert_true(bw_tls_conn(bw_test_c)->handshaked);
    assert_ptr_equal(bw_test_c->recv, bw_tls_recv);
    assert_ptr_equal(bw_test_c->send_chain, bw_tls_send_chain);
    assert_ptr_equal(bw_tls_ssl_connection(bw_tls_conn(bw_test_c)->ssl), bw_test_c);
}

/* Reads what the client can get now (bounded by size). */
static size_t
bw_test_client_read(u_char *buf, size_t size)
{
    size_t got = 0;
    while (got < size) {
        int n = SSL_read(bw_test_client, buf + got, (int) (size - got));
        if (n <= 0) {
            ERR_clear_error();
            break;
        }
        got += (size_t) n;
    }
    return got;
}

static void
test_tls_recv_reports_every_buffered_byte(void **state)
{
    bw_event_t *rev = bw_test_c->read;
    u_char buf[64];

    bw_test_handshake();
    rev->ready = 1;
    assert_int_equal(bw_tls_recv(bw_test_c, buf, sizeof(buf)), BW_AGAIN);
    assert_false(rev->ready);

    /* one record of 11 bytes read 4 at a time: the rest stays announced */
    assert_int_equal(SSL_write(bw_test_client, "hello world", 11), 11);
    rev->ready = 1;
    assert_int_equal(bw_tls_recv(bw_test_c, buf, 4), 4);
    assert_true(rev->ready);
    assert_int_equal(bw_tls_recv(bw_test_c, buf + 4, 4), 4);
    assert_int_equal(bw_tls_recv(bw_test_c, buf + 8, 40), 3);
    assert_false(rev->ready);
    assert_memory_equal(buf, "hello world", 11);

    /* two records arrive together: one call returns both */
    assert_int_equal(SSL_write(bw_test_client, "abc", 3), 3);
    assert_int_equal(SSL_write(bw_test_client, "def", 3), 3);
    rev->ready = 1;
    assert_int_equal(bw_tls_recv(bw_test_c, buf, sizeof(buf)), 6);
    assert_memory_equal(buf, "abcdef", 6);

    /* the client's close_notify is the end of the stream */
    SSL_shutdown(bw_test_client);
    rev->ready = 1;
    assert_int_equal(bw_tls_recv(bw_test_c, buf, sizeof(buf)), 0);
    assert_true(rev->eof);
}

static void
test_tls_send_chain_through_a_small_socket_buffer(void **state)
{
    enum { MEM = 70000, FILE_LEN = 50000 };
    char path[] = "/tmp/bwtlsXXXXXX";
    u_char *expect = malloc(3 + MEM + FILE_LEN), *got = malloc(3 + MEM + FILE_LEN + 16);
    bw_event_t *wev = bw_test_c->write;

    assert_non_null(expect);
    assert_non_null(got);
    for (size_t i = 0; i < 3 + MEM + FILE_LEN; i++) {
        expect[i] = (u_char) ('a' + (i * 7) % 26);
    }
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    unlink(path);
    assert_int_equal(write(fd, expect + 3 + MEM, FILE_LEN), FILE_LEN);
    bw_test_handshake();

    bw_buf_t b1 = {.pos = expect, .last = expect + 3, .memory = 1};
    bw_buf_t b2 = {.pos = expect + 3, .last = expect + 3 + MEM, .memory = 1};
    bw_file_t file = {.fd = fd, .name = bw_string("unit file"), .log = &bw_test_log};
    bw_buf_t b3 = {.file_pos = 0, .file_last = FILE_LEN, .file = &file, .in_file = 1};
    bw_buf_t last = {.last_buf = 1};
    bw_chain_t l4 = {&last, NULL}, l3 = {&b3, &l4}, l2 = {&b2, &l3}, l1 = {&b1, &l2};
    bw_chain_t *in = &l1;
    size_t total = 0;
    int rounds = 0;

    while (in && rounds < 10000) {
        wev->ready = 1;
        in = bw_tls_send_chain(bw_test_c, in, 0);
        assert_ptr_not_equal(in, BW_CHAIN_ERROR);
        if (in) {
            assert_false(wev->ready); /* stopped only because the socket is full */
        }
        total += bw_test_client_read(got + total, 3 + MEM + FILE_LEN + 16 - total);
        rounds++;
    }
    assert_null(in);
    assert_true(rounds > 3); /* the small buffer really blocked it */
    total += bw_test_client_read(got + total, 3 + MEM + FILE_LEN + 16 - total);
    assert_int_equal(total, 3 + MEM + FILE_LEN);
    assert_memory_equal(got, expect, total);
    assert_int_equal(bw_test_c->sent, 3 + MEM + FILE_LEN);
    assert_int_equal(b3.file_pos, FILE_LEN);
    assert_null(bw_tls_conn(bw_test_c)->buf); /* released once all was sent */

    /* close_notify reaches the client */
    bw_tls_shutdown(bw_test_c);
    u_char one;
    assert_int_equal(SSL_read(bw_test_client, &one, 1), 0);
    assert_int_equal(SSL_get_error(bw_test_client, 0), SSL_ERROR_ZERO_RETURN);
    close(fd);
    free(expect);
    free(got);
}

static void
test_tls_send_chain_honours_the_limit(void **state)
{
    static u_char data[10000];
    bw_buf_t b = {.pos = data, .last = data + sizeof(data), .memory = 1};
    bw_chain_t cl = {&b, NULL};
    u_char got[sizeof(data)];

    bw_test_handshake();
    bw_test_c->write->ready = 1;
    bw_chain_t *rest = bw_tls_send_chain(bw_test_c, &cl, 3000);
    assert_ptr_equal(rest, &cl);
    assert_true(bw_test_c->sent > 0 && bw_test_c->sent <= 3000);
    assert_int_equal(b.pos - data, bw_test_c->sent);
    assert_int_equal(bw_test_client_read(got, sizeof(got)), bw_test_c->sent);
}

static void
test_tls_error_text_drains_the_queue(void **state)
{
    char buf[BW_TLS_ERROR_LEN];

    ERR_clear_error();
    assert_string_equal(bw_tls_error_text(buf, sizeof(buf)), "");
    assert_null(BIO_new_file("/nonexistent/bulwark-unit", "r"));
    const char *text = bw_tls_error_text(buf, sizeof(buf));
    assert_true(strncmp(text, " (SSL: error:", 13) == 0);
    assert_non_null(strstr(text, "No such file or directory"));
    assert_int_equal(text[strlen(text) - 1], ')');
    assert_int_equal(ERR_peek_error(), 0);
    /* a tiny buffer stays terminated */
    assert_null(BIO_new_file("/nonexistent/bulwark-unit", "r"));
    char tiny[16];
    bw_tls_error_text(tiny, sizeof(tiny));
    assert_true(strlen(tiny) < sizeof(tiny));
    assert_int_equal(ERR_peek_error(), 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_tls_recv_reports_every_buffered_byte, bw_test_setup,
                                        bw_test_teardown),
        cmocka_unit_test_setup_teardown(test_tls_send_chain_through_a_small_socket_buffer,
                                        bw_test_setup, bw_test_teardown),
        cmocka_unit_test_setup_teardown(test_tls_send_chain_honours_the_limit, bw_test_setup,
                                        bw_test_teardown),
        cmocka_unit_test(test_tls_error_text_drains_the_queue),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
