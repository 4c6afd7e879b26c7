/*
 * test_http_body.c -- request bodies through the real binary, with
 * locations that do not read them (`return`): the body is discarded so the
 * connection serves the next request (Content-Length and chunked, whole or
 * trickling in after the answer), "HTTP/1.1 100 Continue" before the answer
 * when asked (nginx sends it even when it discards), client_max_body_size
 * (413 on the declared length, without "100 Continue"), and lingering
 * close: after an error answer with the body unread, the server keeps
 * reading and dropping for lingering_timeout / lingering_time so the client
 * gets the answer, not a reset (nginx does that for a body being discarded
 * even with lingering_close off).
 * With proxy_pass (bw_origin echoes what it received), bodies are read:
 * into memory, spilled to a temp file past client_body_buffer_size (and
 * the file removed after), chunked ones decoded, 413 on chunk sizes beyond
 * client_max_body_size, "100 Continue" before the body, and
 * client_body_timeout (nginx closes without an answer and logs 408).
 * tests/unit/test_request_body.c covers the same paths on a socketpair.
 */
#include "harness.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static bw_test_server_t *bw_bd_srv;

static int
bw_bd_setup(void **state)
{
    bw_bd_srv = bw_test_server_start(
        "http {\n"
        "  lingering_time 2s; lingering_timeout 1s;\n"
        "  server { listen 127.0.0.1:%%PORT%%; server_name localhost;\n"
        "    location / { return 200 \"ok:$request_method\\n\"; }\n"
        "    location /small { client_max_body_size 10; return 200 \"small\\n\"; }\n"
        "    location /nolinger { client_max_body_size 10; lingering_close off;\n"
        "                         return 200 \"x\\n\"; }\n"
        "  }\n"
        "}\n");
    return bw_bd_srv ? 0 : -1;
}

static int
bw_bd_teardown(void **state)
{
    bw_test_server_stop(bw_bd_srv);
    return 0;
}

static void
bw_bd_expect(bw_test_conn_t *c, int status, const char *body)
{
    bw_test_response_t r;
    assert_int_equal(bw_test_conn_read_response(c, &r), 0);
    if (r.status != status || (body && strcmp(r.body, body) != 0)) {
        fail_msg("expected %d \"%s\", got %d \"%s\"", status, body ? body : "*", r.status,
                 r.body ? r.body : "");
    }
    bw_test_response_free(&r);
}

/* ---- discarding keeps the connection usable ---- */

static void
test_discarded_length_body_then_next_request(void **state)
{
    bw_test_conn_t *c = bw_test_conn_open(bw_bd_srv->port);
    assert_int_equal(bw_test_conn_send_str(c, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\n"
                                              "\r\nhello world"
                                              "GET / HTTP/1.1\r\nHost: a\r\n\r\n"), 0);
    bw_bd_expect(c, 200, "ok:POST\n");
    bw_bd_expect(c, 200, "ok:GET\n");
    bw_test_conn_close(c);
}

static void
test_body_trickling_after_the_answer_is_dropped(void **state)
{
    bw_test_conn_t *c = bw_test_conn_open(bw_bd_srv->port);
    assert_int_equal(bw_test_conn_send_str(c, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 30\r\n"
                                              "\r\n0123456789"), 0);
    bw_bd_expect(c, 200, "ok:POST\n");
    bw_test_sleep_ms(100);
    assert_int_equal(bw_test_conn_send_str(c, "0123456789"), 0);
    bw_test_sleep_ms(100);
    /* the rest of the body and the next request in one packet */
    assert_int_equal(bw_test_conn_send_str(c, "0123456789GET / HTTP/1.1\r\nHost: a\r\n\r\n"), 0);
    bw_bd_expect(c, 200, "ok:GET\n");
    bw_test_conn_close(c);
}

static void
test_discarded_chunked_body_then_next_request(void **state)
{
    bw_test_conn_t *c = bw_test_conn_open(bw_bd_srv->port);
    assert_int_equal(bw_test_conn_send_str(c, "POST / HTTP/1.1\r\nHost: a\r\n"
                                              "Transfer-Encoding: chunked\r\n\r\n"
                                              "5\r\nhello\r\n"), 0);
    bw_bd_expect(c, 200, "ok:POST\n");
    assert_int_equal(bw_test_conn_send_str(c, "6;x=y\r\n world\r\n0\r\nTrailer: t\r\n\r\n"
                                              "GET / HTTP/1.1\r\nHost: a\r\n\r\n"), 0);
    bw_bd_expect(c, 200, "ok:GET\n");
    bw_test_conn_close(c);
}

static void
test_large_discarded_body_keeps_connection(void **state)
{
    size_t len = 900 * 1024;
    char *body = malloc(len);
    memset(body, 'z', len);
    bw_test_conn_t *c = bw_test_conn_open(bw_bd_srv->port);
    char head[128];
    snprintf(head, sizeof(head), "PUT / HTTP/1.1\r\nHost: a\r\nContent-Length: %zu\r\n\r\n", len);
    assert_int_equal(bw_test_conn_send_str(c, head), 0);
    assert_int_equal(bw_test_conn_send(c, body, len), 0);
    free(body);
    bw_bd_expect(c, 200, "ok:PUT\n");
    assert_int_equal(bw_test_conn_send_str(c, "GET / HTTP/1.1\r\nHost: a\r\n\r\n"), 0);
    bw_bd_expect(c, 200, "ok:GET\n");
    bw_test_conn_close(c);
}

/* ---- 100-continue ---- */

static void
test_expect_100_continue_precedes_the_answer(void **state)
{
    int fd = bw_test_connect(bw_bd_srv->port, 5000);
    const char *req = "POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\n"
                      "Content-Length: 4\r\n\r\n";
    assert_int_equal(bw_test_send_all(fd, req, strlen(req)), 0);
    char buf[256] = {0};
    struct pollfd pfd = {fd, POLLIN, 0};
    assert_int_equal(poll(&pfd, 1, 5000), 1);
    ssize_t n = recv(fd, buf, sizeof(buf) - 1, 0);
    assert_true(n >= 25);
    assert_memory_equal(buf, "HTTP/1.1 100 Continue\r\n\r\n", 25);
    assert_int_equal(bw_test_send_all(fd, "data", 4), 0);
    close(fd);

    /* the harness skips the interim answer; the final one follows */
    bw_test_response_t r;
    assert_int_equal(bw_test_http_request(bw_bd_srv->port,
                                          "POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\n"
                                          "Content-Length: 4\r\nConnection: close\r\n\r\ndata",
                                          &r), 0);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "ok:POST\n");
    bw_test_response_free(&r);
}

static void
test_expect_ignored_for_http10(void **state)
{
    bw_test_response_t r;
    assert_int_equal(bw_test_http_request(bw_bd_srv->port,
                                          "POST / HTTP/1.0\r\nExpect: 100-continue\r\n"
                                          "Content-Length: 4\r\n\r\ndata", &r), 0);
    assert_int_equal(r.status, 200);
    assert_null(strstr(r.raw, "100 Continue"));
    bw_test_response_free(&r);
}

/* ---- 413 and lingering close ---- */

static void
test_declared_body_too_large_is_413_without_continue(void **state)
{
    int fd = bw_test_connect(bw_bd_srv->port, 5000);
    const char *req = "POST /small HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\n"
                      "Content-Length: 100\r\n\r\n";
    assert_int_equal(bw_test_send_all(fd, req, strlen(req)), 0);
    size_t len;
    bool closed;
    char *out = bw_test_recv_all(fd, &len, 5000, &closed);
    close(fd);
    assert_true(strncmp(out, "HTTP/1.1 413 Request Entity Too Large\r\n", 39) == 0);
    assert_non_null(strstr(out, "\r\nConnection: close\r\n"));
    assert_null(strstr(out, "100 Continue"));
    assert_true(closed);
    free(out);
    assert_true(bw_test_server_log_wait(bw_bd_srv, "client intended to send too large body: 100 "
                                        "bytes", 1, 3000));
}

/* Sends `chunk` bytes every `every_ms` until the peer closes; returns how
 * long that took (ms) and the bytes received in *got. */
static int64_t
bw_bd_keep_sending(int fd, int every_ms, int max_ms, char *got, size_t cap, size_t *got_len,
                   int *err)
{
    char chunk[512];
    memset(chunk, 'q', sizeof(chunk));
    int64_t t0 = bw_test_now_ms();
    *got_len = 0;
    *err = 0;
    while (bw_test_now_ms() - t0 < max_ms) {
        send(fd, chunk, sizeof(chunk), MSG_NOSIGNAL | MSG_DONTWAIT);
        struct pollfd pfd = {fd, POLLIN, 0};
        if (poll(&pfd, 1, every_ms) == 1) {
            ssize_t n = recv(fd, got + *got_len, cap - *got_len - 1, 0);
            if (n < 0) {
                *err = errno;
                break;
            }
            if (n == 0) {
                break;
            }
            *got_len += (size_t) n;
            got[*got_len] = '\0';
        }
    }
    return bw_test_now_ms() - t0;
}

static void
test_lingering_close_reads_until_lingering_time(void **state)
{
    int fd = bw_test_connect(bw_bd_srv->port, 5000);
    const char *req = "POST /small HTTP/1.1\r\nHost: a\r\nContent-Length: 1000000\r\n\r\n";
    assert_int_equal(bw_test_send_all(fd, req, strlen(req)), 0);
    static char got[8192];
    size_t got_len;
    int err;
    /* the client keeps sending: lingering_timeout never fires, lingering_time (2s) does */
    int64_t took = bw_bd_keep_sending(fd, 100, 6000, got, sizeof(got), &got_len, &err);
    close(fd);
    assert_true(strncmp(got, "HTTP/1.1 413 ", 13) == 0);
    assert_non_null(strstr(got, "</html>\r\n"));
    print_message("lingering ended after %lld ms (err %d)\n", (long long) took, err);
    assert_true(took >= 1500 && took < 4500);
}

static void
test_lingering_timeout_when_client_goes_quiet(void **state)
{
    int fd = bw_test_connect(bw_bd_srv->port, 5000);
    const char *req = "POST /small HTTP/1.1\r\nHost: a\r\nContent-Length: 1000\r\n\r\nabc";
    assert_int_equal(bw_test_send_all(fd, req, strlen(req)), 0);
    int64_t t0 = bw_test_now_ms();
    size_t len;
    bool closed;
    char *out = bw_test_recv_all(fd, &len, 5000, &closed);
    int64_t took = bw_test_now_ms() - t0;
    close(fd);
    assert_true(strncmp(out, "HTTP/1.1 413 ", 13) == 0);
    assert_true(closed);
    assert_true(took >= 800 && took < 3000); /* lingering_timeout 1s */
    free(out);
}

/* nginx 1.22 still drops a body it is discarding for up to lingering_timeout
 * when lingering_close is off (checked side by side): so does bulwark. */
static void
test_lingering_close_off_still_drains_a_discarded_body(void **state)
{
    int fd = bw_test_connect(bw_bd_srv->port, 5000);
    const char *req = "POST /nolinger HTTP/1.1\r\nHost: a\r\nContent-Length: 1000\r\n\r\nabc";
    assert_int_equal(bw_test_send_all(fd, req, strlen(req)), 0);
    int64_t t0 = bw_test_now_ms();
    size_t len;
    bool closed;
    char *out = bw_test_recv_all(fd, &len, 5000, &closed);
    int64_t took = bw_test_now_ms() - t0;
    close(fd);
    assert_true(strncmp(out, "HTTP/1.1 413 ", 13) == 0);
    assert_true(closed);
    assert_true(took >= 800 && took < 3000);
    free(out);
}

/* ---- bodies read by a handler (proxy_pass) ---- */

static bw_test_origin_t *bw_bd_origin;
static bw_test_server_t *bw_bd_px;

static int
bw_bd_px_setup(void **state)
{
    bw_bd_origin = bw_test_origin_start(NULL, "-n", "o");
    if (bw_bd_origin == NULL) {
        return -1;
    }
    bw_bd_px = bw_test_server_prepare(
        "http {\n"
        "  client_body_buffer_size 1k;\n"
        "  client_body_temp_path %%PREFIX%%/bodies;\n"
        "  client_body_timeout 1s;\n"
        "  server { listen 127.0.0.1:%%PORT%%;\n"
        "    location / { proxy_pass http://127.0.0.1:%%ORIGIN_PORT%%; }\n"
        "    location /small/ { client_max_body_size 100;\n"
        "                       proxy_pass http://127.0.0.1:%%ORIGIN_PORT%%; }\n"
        "  }\n"
        "}\n");
    if (bw_bd_px == NULL) {
        return -1;
    }
    /* the master creates client_body_temp_path for the workers' user */
    return bw_test_server_launch(bw_bd_px);
}

static int
bw_bd_px_teardown(void **state)
{
    if (bw_bd_px) {
        bw_test_server_stop(bw_bd_px);
    }
    if (bw_bd_origin) {
        bw_test_origin_stop(bw_bd_origin);
    }
    return 0;
}

/* POSTs `len` pattern bytes (chunked in pieces of `chunk` when > 0) to ?echo=body. */
static void
bw_bd_echo(size_t len, size_t chunk)
{
    size_t cap = len + len / (chunk ? chunk : len + 1) * 16 + 512;
    char *req = malloc(cap);
    size_t n;
    if (chunk) {
        n = (size_t) sprintf(req, "POST /x?echo=body HTTP/1.1\r\nHost: a\r\n"
                             "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n");
        for (size_t off = 0; off < len; off += chunk) {
            size_t piece = len - off < chunk ? len - off : chunk;
            n += (size_t) sprintf(req + n, "%zx\r\n", piece);
            for (size_t i = 0; i < piece; i++) {
                req[n++] = bw_test_pattern_byte(off + i);
            }
            n += (size_t) sprintf(req + n, "\r\n");
        }
        n += (size_t) sprintf(req + n, "0\r\n\r\n");
    } else {
        n = (size_t) sprintf(req, "POST /x?echo=body HTTP/1.1\r\nHost: a\r\n"
                             "Content-Length: %zu\r\nConnection: close\r\n\r\n", len);
        for (size_t i = 0; i < len; i++) {
            req[n++] = bw_test_pattern_byte(i);
        }
    }
    bw_test_response_t r;
    assert_int_equal(bw_test_http_request_len(bw_bd_px->port, req, n, &r), 0);
    free(req);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.body_len, len);
    assert_true(bw_test_pattern_check(r.body, r.body_len, 0));
    bw_test_response_free(&r);
}

static void
test_read_body_in_memory_reaches_handler(void **state)
{
    bw_bd_echo(700, 0);
    bw_bd_echo(700, 100);
    assert_int_equal(bw_test_server_log_count(bw_bd_px, "buffered to a temporary file"), 0);
}

static void
test_read_body_spills_to_temp_file_and_is_removed(void **state)
{
    bw_bd_echo(100000, 0);
    bw_bd_echo(50000, 999);
    assert_int_equal(bw_test_server_log_count(bw_bd_px, "a client request body is buffered to "
                                                        "a temporary file"), 2);
    assert_true(bw_test_server_log_wait(bw_bd_px, "/bodies/", 1, 3000));
    /* the temp files went with their requests */
    char cmd[512];
    snprintf(cmd, sizeof(cmd), "test -z \"$(ls %s)\"", bw_test_server_path(bw_bd_px, "bodies"));
    assert_int_equal(system(cmd), 0);
}

static void
test_read_chunked_body_over_max_is_413(void **state)
{
    bw_test_response_t r;
    assert_int_equal(bw_test_http_request(bw_bd_px->port,
                                          "POST /small/ HTTP/1.1\r\nHost: a\r\n"
                                          "Transfer-Encoding: chunked\r\n\r\n"
                                          "50\r\n0123456789012345678901234567890123456789"
                                          "0123456789012345678901234567890123456789\r\n"
                                          "50\r\n", &r), 0);
    assert_int_equal(r.status, 413);
    assert_string_equal(bw_test_response_header(&r, "Connection"), "close");
    bw_test_response_free(&r);
    assert_true(bw_test_server_log_wait(bw_bd_px, "client intended to send too large chunked "
                                        "body", 1, 3000));
}

static void
test_read_body_after_100_continue(void **state)
{
    int fd = bw_test_connect(bw_bd_px->port, 5000);
    const char *req = "PUT /x?echo=body HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\n"
                      "Content-Length: 5\r\nConnection: close\r\n\r\n";
    assert_int_equal(bw_test_send_all(fd, req, strlen(req)), 0);
    char buf[64] = {0};
    struct pollfd pfd = {fd, POLLIN, 0};
    assert_int_equal(poll(&pfd, 1, 5000), 1);
    assert_int_equal(recv(fd, buf, 25, 0), 25);
    assert_string_equal(buf, "HTTP/1.1 100 Continue\r\n\r\n");
    assert_int_equal(bw_test_send_all(fd, "hello", 5), 0);
    size_t len;
    bool closed;
    char *out = bw_test_recv_all(fd, &len, 5000, &closed);
    close(fd);
    bw_test_response_t r;
    size_t used;
    assert_int_equal(bw_test_response_parse(out, len, true, 0, &r, &used), 1);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "hello");
    bw_test_response_free(&r);
    free(out);
}

static void
test_client_body_timeout_closes_without_answer(void **state)
{
    int fd = bw_test_connect(bw_bd_px->port, 5000);
    const char *req = "POST /x?echo=body HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nabc";
    assert_int_equal(bw_test_send_all(fd, req, strlen(req)), 0);
    int64_t t0 = bw_test_now_ms();
    size_t len;
    bool closed;
    char *out = bw_test_recv_all(fd, &len, 5000, &closed);
    int64_t took = bw_test_now_ms() - t0;
    close(fd);
    assert_true(closed);
    assert_int_equal(len, 0); /* no 408 answer, as nginx */
    assert_true(took >= 800 && took < 3000);
    free(out);
    assert_true(bw_test_server_file_wait(bw_bd_px, "logs/access.log",
                                         "\"POST /x?echo=body HTTP/1.1\" 408 0", 1, 3000));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_discarded_length_body_then_next_request),
        cmocka_unit_test(test_body_trickling_after_the_answer_is_dropped),
        cmocka_unit_test(test_discarded_chunked_body_then_next_request),
        cmocka_unit_test(test_large_discarded_body_keeps_connection),
        cmocka_unit_test(test_expect_100_continue_precedes_the_answer),
        cmocka_unit_test(test_expect_ignored_for_http10),
        cmocka_unit_test(test_declared_body_too_large_is_413_without_continue),
        cmocka_unit_test(test_lingering_close_reads_until_lingering_time),
        cmocka_unit_test(test_lingering_timeout_when_client_goes_quiet),
        cmocka_unit_test(test_lingering_close_off_still_drains_a_discarded_body),
    };
    const struct CMUnitTest read_tests[] = {
        cmocka_unit_test(test_read_body_in_memory_reaches_handler),
        cmocka_unit_test(test_read_body_spills_to_temp_file_and_is_removed),
        cmocka_unit_test(test_read_chunked_body_over_max_is_413),
        cmocka_unit_test(test_read_body_after_100_continue),
        cmocka_unit_test(test_client_body_timeout_closes_without_answer),
    };
    int failed = cmocka_run_group_tests(tests, bw_bd_setup, bw_bd_teardown);
    return failed + cmocka_run_group_tests(read_tests, bw_bd_px_setup, bw_bd_px_teardown);
}
