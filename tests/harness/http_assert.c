/*
 * http_assert.c -- one request, one response, checked: the helpers that
 * several integration tests share to send a request built from its parts,
 * read the answer and compare its status, body and headers. These fail the
 * running cmocka test themselves.
 */
#include "harness.h"

#include <stdio.h>
#include <string.h>

#define BW_TEST_REQUEST_MAX 4096

void bw_test_http_request_host(int port, const char *method, const char *host,
                               const char *target, const char *extra, bw_test_response_t *r)
{
    char req[BW_TEST_REQUEST_MAX];

    if (host == NULL) {
        snprintf(req, sizeof(req), "%s %s HTTP/1.0\r\n%s\r\n", method, target, extra ? extra : "");
    } else {
        snprintf(req, sizeof(req), "%s %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n%s\r\n",
                 method, target, host, extra ? extra : "");
    }
    assert_int_equal(bw_test_http_request(port, req, r), 0);
}

void bw_test_http_exchange(int port, const char *req, bw_test_response_t *r)
{
    bw_test_conn_t *c = bw_test_conn_open(port);

    assert_non_null(c);
    assert_int_equal(bw_test_conn_send_str(c, req), 0);
    int flags = strncmp(req, "HEAD ", 5) == 0 ? BW_TEST_RESP_HEAD : 0;
    assert_int_equal(bw_test_conn_read_response_flags(c, r, flags, bw_test_timeout(5000)), 0);
    bw_test_conn_close(c);
}

int bw_test_http_status(int port, const char *req)
{
    bw_test_response_t r;

    assert_int_equal(bw_test_http_request(port, req, &r), 0);
    int status = r.status;
    bw_test_response_free(&r);
    return status;
}

void bw_test_expect_get(int port, const char *host, const char *target, int status,
                        const char *body)
{
    bw_test_response_t r;
    char               msg[1024] = "";

    bw_test_http_request_host(port, "GET", host, target, NULL, &r);
    if (r.status != status || (body != NULL && strcmp(r.body, body) != 0)) {
        snprintf(msg, sizeof(msg), "GET %s (Host %s): expected %d \"%s\", got %d \"%s\"", target,
                 host ? host : "none", status, body ? body : "*", r.status, r.body ? r.body : "");
    }
    bw_test_response_free(&r);
    if (msg[0]) {
        fail_msg("%s", msg);
    }
}

void bw_test_expect_header(const bw_test_response_t *r, const char *name, const char *value)
{
    const char *v = bw_test_response_header(r, name);

    if (value == NULL) {
        if (v != NULL) {
            fail_msg("unexpected %s: %s", name, v);
        }
        return;
    }
    if (v == NULL) {
        fail_msg("no %s header", name);
    }
    assert_string_equal(v, value);
}
