/*
 * test_conditional.c -- conditional requests on static files through the
 * real binary: If-None-Match (exact, weak, lists, "*") and
 * If-Modified-Since (exact, before, off) giving 304 with the validators and
 * no body; If-Match and If-Unmodified-Since giving 412; both kinds
 * together; `etag off`; and what a 304 keeps (add_header, expires).
 */
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#define BW_T_CONF                                                               \
    "http {\n"                                                                  \
    "    include mime.types;\n"                                                 \
    "    server {\n"                                                            \
    "        listen 127.0.0.1:%%PORT%%;\n"                                      \
    "        root html;\n"                                                      \
    "        location /before/ { alias html/; if_modified_since before; }\n"    \
    "        location /off/ { alias html/; if_modified_since off; }\n"          \
    "        location /noetag/ { alias html/; etag off; }\n"                    \
    "        location /hdr/ { alias html/; add_header X-A a; expires 1h; }\n"   \
    "    }\n"                                                                   \
    "}\n"

#define BW_T_MTIME   1700000000
#define BW_T_LM      "Tue, 14 Nov 2023 22:13:20 GMT"
#define BW_T_EARLIER "Tue, 14 Nov 2023 22:13:19 GMT"
#define BW_T_LATER   "Tue, 14 Nov 2023 22:13:21 GMT"
#define BW_T_ETAG    "\"6553f100-24\""
#define BW_T_DATA    "0123456789abcdefghijklmnopqrstuvwxyz"

static bw_test_server_t *bw_t_srv;

static int
bw_t_setup(void **state)
{
    bw_t_srv = bw_test_server_start(BW_T_CONF);
    if (bw_t_srv == NULL) {
        return -1;
    }
    return bw_test_server_write_file_mtime(bw_t_srv, "html/data.txt", BW_T_DATA, strlen(BW_T_DATA),
                                           BW_T_MTIME);
}

static int
bw_t_teardown(void **state)
{
    bw_test_server_stop(bw_t_srv);
    return 0;
}

/* GET uri with one extra header line ("Name: value", or NULL). */
static void
bw_t_get(const char *uri, const char *header, bw_test_response_t *r)
{
    char req[1024];
    snprintf(req, sizeof(req),
             "GET %s HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n%s%s\r\n", uri,
             header ? header : "", header ? "\r\n" : "");
    assert_int_equal(bw_test_http_request(bw_t_srv->port, req, r), 0);
}

/* A 304: the validators, no type, length, ranges or body. */
static void
bw_t_expect_304(const char *uri, const char *header)
{
    bw_test_response_t r;

    bw_t_get(uri, header, &r);
    if (r.status != 304) {
        fail_msg("%s with \"%s\": status %d, expected 304", uri, header, r.status);
    }
    assert_string_equal(bw_test_response_header(&r, "ETag"), BW_T_ETAG);
    assert_string_equal(bw_test_response_header(&r, "Last-Modified"), BW_T_LM);
    assert_null(bw_test_response_header(&r, "Content-Length"));
    assert_null(bw_test_response_header(&r, "Content-Type"));
    assert_null(bw_test_response_header(&r, "Accept-Ranges"));
    assert_null(bw_test_response_header(&r, "Transfer-Encoding"));
    assert_int_equal(r.body_len, 0);
    assert_int_equal(r.raw_len, r.head_len);
    bw_test_response_free(&r);
}

/* The whole 200. */
static void
bw_t_expect_200(const char *uri, const char *header)
{
    bw_test_response_t r;

    bw_t_get(uri, header, &r);
    if (r.status != 200) {
        fail_msg("%s with \"%s\": status %d, expected 200", uri, header, r.status);
    }
    assert_int_equal(r.body_len, 36);
    assert_memory_equal(r.body, BW_T_DATA, 36);
    bw_test_response_free(&r);
}

/* 412 with nginx's error page. */
static void
bw_t_expect_412(const char *uri, const char *header)
{
    bw_test_response_t r;

    bw_t_get(uri, header, &r);
    if (r.status != 412) {
        fail_msg("%s with \"%s\": status %d, expected 412", uri, header, r.status);
    }
    assert_string_equal(bw_test_response_header(&r, "Content-Type"), "text/html");
    assert_non_null(strstr(r.body, "<title>412 Precondition Failed</title>"));
    assert_null(bw_test_response_header(&r, "ETag"));
    assert_null(bw_test_response_header(&r, "Last-Modified"));
    bw_test_response_free(&r);
}

/* ------------------------------------------------------ If-None-Match */

static void
test_if_none_match_exact_etag_is_304(void **state)
{
    bw_t_expect_304("/data.txt", "If-None-Match: " BW_T_ETAG);
}

static void
test_if_none_match_compares_weakly(void **state)
{
    bw_t_expect_304("/data.txt", "If-None-Match: W/" BW_T_ETAG);
}

static void
test_if_none_match_list_and_star(void **state)
{
    bw_t_expect_304("/data.txt", "If-None-Match: \"x\", " BW_T_ETAG);
    bw_t_expect_304("/data.txt", "If-None-Match: " BW_T_ETAG "  , \"y\"");
    bw_t_expect_304("/data.txt", "If-None-Match: *");
}

static void
test_if_none_match_other_etag_is_200(void **state)
{
    bw_t_expect_200("/data.txt", "If-None-Match: \"x\"");
    bw_t_expect_200("/data.txt", "If-None-Match: \"6553f100-2\"");
    bw_t_expect_200("/data.txt", "If-None-Match: \"6553f100-245\"");
}

static void
test_if_none_match_without_etag_is_200(void **state)
{
    bw_t_expect_200("/noetag/data.txt", "If-None-Match: " BW_T_ETAG);
}

/* -------------------------------------------------- If-Modified-Since */

static void
test_if_modified_since_exact_date_is_304(void **state)
{
    bw_t_expect_304("/data.txt", "If-Modified-Since: " BW_T_LM);
}

static void
test_if_modified_since_other_date_is_200_when_exact(void **state)
{
    bw_t_expect_200("/data.txt", "If-Modified-Since: " BW_T_LATER);
    bw_t_expect_200("/data.txt", "If-Modified-Since: " BW_T_EARLIER);
    bw_t_expect_200("/data.txt", "If-Modified-Since: garbage");
}

static void
test_if_modified_since_before_accepts_later_dates(void **state)
{
    bw_t_expect_304("/before/data.txt", "If-Modified-Since: " BW_T_LATER);
    bw_t_expect_304("/before/data.txt", "If-Modified-Since: " BW_T_LM);
    bw_t_expect_200("/before/data.txt", "If-Modified-Since: " BW_T_EARLIER);
}

static void
test_if_modified_since_off_ignores_the_header(void **state)
{
    bw_t_expect_200("/off/data.txt", "If-Modified-Since: " BW_T_LM);
}

static void
test_both_validators_must_agree(void **state)
{
    bw_t_expect_200("/data.txt", "If-None-Match: \"x\"\r\nIf-Modified-Since: " BW_T_LM);
    bw_t_expect_200("/data.txt", "If-None-Match: " BW_T_ETAG "\r\nIf-Modified-Since: " BW_T_LATER);
    bw_t_expect_304("/data.txt", "If-None-Match: " BW_T_ETAG "\r\nIf-Modified-Since: " BW_T_LM);
}

/* ---------------------------------------------------- preconditions */

static void
test_if_match_other_etag_is_412(void **state)
{
    bw_t_expect_412("/data.txt", "If-Match: \"x\"");
    bw_t_expect_412("/data.txt", "If-Match: W/" BW_T_ETAG); /* strong comparison */
}

static void
test_if_match_same_etag_or_star_is_200(void **state)
{
    bw_t_expect_200("/data.txt", "If-Match: " BW_T_ETAG);
    bw_t_expect_200("/data.txt", "If-Match: \"y\", " BW_T_ETAG);
    bw_t_expect_200("/noetag/data.txt", "If-Match: *");
}

static void
test_if_unmodified_since_earlier_is_412(void **state)
{
    bw_t_expect_412("/data.txt", "If-Unmodified-Since: " BW_T_EARLIER);
    bw_t_expect_412("/data.txt", "If-Unmodified-Since: garbage");
}

static void
test_if_unmodified_since_same_or_later_is_200(void **state)
{
    bw_t_expect_200("/data.txt", "If-Unmodified-Since: " BW_T_LM);
    bw_t_expect_200("/data.txt", "If-Unmodified-Since: " BW_T_LATER);
}

static void
test_precondition_failure_closes_the_connection(void **state)
{
    bw_test_conn_t *c = bw_test_conn_open(bw_t_srv->port);
    bw_test_response_t r;

    assert_non_null(c);
    assert_int_equal(bw_test_conn_send_str(c, "GET /data.txt HTTP/1.1\r\nHost: x\r\n"
                                              "If-Match: \"x\"\r\n\r\n"),
                     0);
    assert_int_equal(bw_test_conn_read_response(c, &r), 0);
    assert_int_equal(r.status, 412);
    assert_true(r.complete);
    bw_test_response_free(&r);
    assert_true(bw_test_conn_wait_closed(c, bw_test_timeout(3000)));
    bw_test_conn_close(c);
}

/* -------------------------------------------------- what 304 carries */

static void
test_not_modified_keeps_added_headers_and_expires(void **state)
{
    bw_test_response_t r;

    bw_t_get("/hdr/data.txt", "If-None-Match: *", &r);
    assert_int_equal(r.status, 304);
    assert_string_equal(bw_test_response_header(&r, "X-A"), "a");
    assert_string_equal(bw_test_response_header(&r, "Cache-Control"), "max-age=3600");
    assert_non_null(bw_test_response_header(&r, "Expires"));
    assert_int_equal(r.body_len, 0);
    bw_test_response_free(&r);
}

static void
test_not_modified_wins_over_range(void **state)
{
    bw_test_response_t r;

    bw_t_get("/data.txt", "If-None-Match: " BW_T_ETAG "\r\nRange: bytes=0-1", &r);
    assert_int_equal(r.status, 304);
    assert_null(bw_test_response_header(&r, "Content-Range"));
    bw_test_response_free(&r);
}

static void
test_not_modified_on_head(void **state)
{
    bw_test_conn_t *c = bw_test_conn_open(bw_t_srv->port);
    bw_test_response_t r;

    assert_non_null(c);
    assert_int_equal(bw_test_conn_send_str(c, "HEAD /data.txt HTTP/1.1\r\nHost: x\r\n"
                                              "If-None-Match: " BW_T_ETAG "\r\n\r\n"
                                              "GET /data.txt HTTP/1.1\r\nHost: x\r\n\r\n"),
                     0);
    assert_int_equal(bw_test_conn_read_response_flags(c, &r, BW_TEST_RESP_HEAD,
                                                      bw_test_timeout(5000)),
                     0);
    assert_int_equal(r.status, 304);
    bw_test_response_free(&r);
    /* the connection stays usable: the next (pipelined) answer follows at once */
    assert_int_equal(bw_test_conn_read_response(c, &r), 0);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.body_len, 36);
    bw_test_response_free(&r);
    bw_test_conn_close(c);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_if_none_match_exact_etag_is_304),
        cmocka_unit_test(test_if_none_match_compares_weakly),
        cmocka_unit_test(test_if_none_match_list_and_star),
        cmocka_unit_test(test_if_none_match_other_etag_is_200),
        cmocka_unit_test(test_if_none_match_without_etag_is_200),
        cmocka_unit_test(test_if_modified_since_exact_date_is_304),
        cmocka_unit_test(test_if_modified_since_other_date_is_200_when_exact),
        cmocka_unit_test(test_if_modified_since_before_accepts_later_dates),
        cmocka_unit_test(test_if_modified_since_off_ignores_the_header),
        cmocka_unit_test(test_both_validators_must_agree),
        cmocka_unit_test(test_if_match_other_etag_is_412),
        cmocka_unit_test(test_if_match_same_etag_or_star_is_200),
        cmocka_unit_test(test_if_unmodified_since_earlier_is_412),
        cmocka_unit_test(test_if_unmodified_since_same_or_later_is_200),
        cmocka_unit_test(test_precondition_failure_closes_the_connection),
        cmocka_unit_test(test_not_modified_keeps_added_headers_and_expires),
        cmocka_unit_test(test_not_modified_wins_over_range),
        cmocka_unit_test(test_not_modified_on_head),
    };
    return cmocka_run_group_tests(tests, bw_t_setup, bw_t_teardown);
}
