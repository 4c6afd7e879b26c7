/*
 * test_range.c -- byte ranges of static files through the real binary:
 * single ranges (bounded, suffix, open-ended, clipped), multipart/byteranges
 * with nginx's exact part layout (in the order asked), 416 with
 * "Content-Range: bytes * /size", overlapping ranges and max_ranges giving
 * the whole body, If-Range by entity tag and by date, HEAD and HTTP/1.0,
 * and ranges of a 1 MiB file sent with sendfile on and off.
 */
#include "harness.h"

#include <ctype.h>
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
    "        location /one/ { alias html/; max_ranges 1; }\n"                   \
    "        location /none/ { alias html/; max_ranges 0; }\n"                  \
    "        location /sf/ { alias html/; sendfile on; }\n"                     \
    "        location /nsf/ { alias html/; sendfile off; }\n"                   \
    "        location /list/ { alias html/; autoindex on; }\n"                  \
    "    }\n"                                                                   \
    "}\n"

#define BW_T_MTIME    1700000000
#define BW_T_LM       "Tue, 14 Nov 2023 22:13:20 GMT"
#define BW_T_ETAG     "\"6553f100-24\""
#define BW_T_DATA     "0123456789abcdefghijklmnopqrstuvwxyz"
#define BW_T_BIG_SIZE (1024 * 1024 + 17)

static bw_test_server_t *bw_t_srv;

static int
bw_t_setup(void **state)
{
    bw_t_srv = bw_test_server_start(BW_T_CONF);
    if (bw_t_srv == NULL) {
        return -1;
    }
    if (bw_test_server_write_file_mtime(bw_t_srv, "html/data.txt", BW_T_DATA, strlen(BW_T_DATA),
                                        BW_T_MTIME) != 0) {
        return -1;
    }
    return bw_test_server_write_pattern(bw_t_srv, "html/big.bin", BW_T_BIG_SIZE);
}

static int
bw_t_teardown(void **state)
{
    bw_test_server_stop(bw_t_srv);
    return 0;
}

/* METHOD uri with extra header lines ("A: b\r\nC: d", or NULL). */
static void
bw_t_request(const char *method, const char *version, const char *uri, const char *headers,
             bw_test_response_t *r)
{
    char req[1024];
    snprintf(req, sizeof(req), "%s %s %s\r\nHost: localhost\r\nConnection: close\r\n%s%s\r\n",
             method, uri, version, headers ? headers : "", headers ? "\r\n" : "");
    bw_test_http_exchange(bw_t_srv->port, req, r);
}

static void
bw_t_get(const char *uri, const char *headers, bw_test_response_t *r)
{
    bw_t_request("GET", "HTTP/1.1", uri, headers, r);
}

/* A 206 of one part: its Content-Range, length and bytes. */
static void
bw_t_expect_single(const char *uri, const char *range, const char *content_range,
                   const char *body)
{
    bw_test_response_t r;
    char header[256], length[32];

    snprintf(header, sizeof(header), "Range: %s", range);
    bw_t_get(uri, header, &r);
    if (r.status != 206) {
        fail_msg("%s: status %d, expected 206", range, r.status);
    }
    assert_string_equal(bw_test_response_header(&r, "Content-Range"), content_range);
    snprintf(length, sizeof(length), "%zu", strlen(body));
    assert_string_equal(bw_test_response_header(&r, "Content-Length"), length);
    assert_string_equal(bw_test_response_header(&r, "Content-Type"), "text/plain");
    assert_string_equal(bw_test_response_header(&r, "ETag"), BW_T_ETAG);
    assert_null(bw_test_response_header(&r, "Accept-Ranges"));
    assert_int_equal(r.body_len, strlen(body));
    assert_memory_equal(r.body, body, r.body_len);
    bw_test_response_free(&r);
}

/* The whole 200 with Accept-Ranges (or without, when `accept` is false). */
static void
bw_t_expect_whole(const char *uri, const char *headers, bool accept)
{
    bw_test_response_t r;

    bw_t_get(uri, headers, &r);
    if (r.status != 200) {
        fail_msg("%s with \"%s\": status %d, expected 200", uri, headers, r.status);
    }
    assert_null(bw_test_response_header(&r, "Content-Range"));
    if (accept) {
        assert_string_equal(bw_test_response_header(&r, "Accept-Ranges"), "bytes");
    } else {
        assert_null(bw_test_response_header(&r, "Accept-Ranges"));
    }
    assert_int_equal(r.body_len, 36);
    assert_memory_equal(r.body, BW_T_DATA, 36);
    bw_test_response_free(&r);
}

/* The boundary of a multipart/byteranges response: 20 digits. */
static const char *
bw_t_boundary(const bw_test_response_t *r)
{
    static const char prefix[] = "multipart/byteranges; boundary=";
    const char *type = bw_test_response_header(r, "Content-Type");

    assert_non_null(type);
    assert_int_equal(strncmp(type, prefix, sizeof(prefix) - 1), 0);
    const char *b = type + sizeof(prefix) - 1;
    assert_int_equal(strlen(b), 20);
    for (int i = 0; i < 20; i++) {
        assert_true(isdigit((unsigned char) b[i]));
    }
    return b;
}

/* ----------------------------------------------------------- single */

static void
test_range_single_bounded(void **state)
{
    bw_t_expect_single("/data.txt", "bytes=0-4", "bytes 0-4/36", "01234");
    bw_t_expect_single("/data.txt", "bytes=10-10", "bytes 10-10/36", "a");
}

static void
test_range_suffix(void **state)
{
    bw_t_expect_single("/data.txt", "bytes=-5", "bytes 31-35/36", "vwxyz");
    bw_t_expect_single("/data.txt", "bytes=-100", "bytes 0-35/36", BW_T_DATA);
}

static void
test_range_open_ended(void **state)
{
    bw_t_expect_single("/data.txt", "bytes=30-", "bytes 30-35/36", "uvwxyz");
}

static void
test_range_end_clipped_to_length(void **state)
{
    bw_t_expect_single("/data.txt", "bytes=34-99", "bytes 34-35/36", "yz");
}

static void
test_range_unit_is_case_insensitive_and_spaces_allowed(void **state)
{
    bw_t_expect_single("/data.txt", "BYTES=1-2", "bytes 1-2/36", "12");
    bw_t_expect_single("/data.txt", "bytes= 1 - 2", "bytes 1-2/36", "12");
}

static void
test_range_head_has_partial_headers_only(void **state)
{
    bw_test_response_t r;

    bw_t_request("HEAD", "HTTP/1.1", "/data.txt", "Range: bytes=0-1", &r);
    assert_int_equal(r.status, 206);
    assert_string_equal(bw_test_response_header(&r, "Content-Range"), "bytes 0-1/36");
    assert_string_equal(bw_test_response_header(&r, "Content-Length"), "2");
    assert_int_equal(r.raw_len, r.head_len);
    bw_test_response_free(&r);
}

static void
test_range_http10(void **state)
{
    bw_test_response_t r;

    bw_t_request("GET", "HTTP/1.0", "/data.txt", "Range: bytes=0-1", &r);
    assert_int_equal(r.status, 206);
    assert_string_equal(r.body, "01");
    bw_test_response_free(&r);
}

/* -------------------------------------------------------- multipart */

/* Checks a multipart body made of the given parts ("S-E" and their bytes). */
static void
bw_t_expect_multipart(const char *range, const char *const *crs, const char *const *parts,
                      size_t n)
{
    bw_test_response_t r;
    char header[128], expected[2048], length[32];
    size_t len = 0;

    snprintf(header, sizeof(header), "Range: %s", range);
    bw_t_get("/data.txt", header, &r);
    assert_int_equal(r.status, 206);
    const char *b = bw_t_boundary(&r);
    for (size_t i = 0; i < n; i++) {
        len += (size_t) snprintf(expected + len, sizeof(expected) - len,
                                 "\r\n--%s\r\nContent-Type: text/plain\r\n"
                                 "Content-Range: bytes %s/36\r\n\r\n%s",
                                 b, crs[i], parts[i]);
    }
    len += (size_t) snprintf(expected + len, sizeof(expected) - len, "\r\n--%s--\r\n", b);
    snprintf(length, sizeof(length), "%zu", len);
    assert_string_equal(bw_test_response_header(&r, "Content-Length"), length);
    assert_null(bw_test_response_header(&r, "Content-Range"));
    assert_null(bw_test_response_header(&r, "Accept-Ranges"));
    assert_int_equal(r.body_len, len);
    assert_memory_equal(r.body, expected, len);
    bw_test_response_free(&r);
}

static void
test_range_multipart_layout(void **state)
{
    const char *const crs[] = {"0-2", "5-7"};
    const char *const parts[] = {"012", "567"};
    bw_t_expect_multipart("bytes=0-2,5-7", crs, parts, 2);
}

static void
test_range_multipart_keeps_the_order_asked(void **state)
{
    const char *const crs[] = {"30-35", "0-0", "10-11"};
    const char *const parts[] = {"uvwxyz", "0", "ab"};
    bw_t_expect_multipart("bytes=30-,0-0,10-11", crs, parts, 3);
}

static void
test_range_multipart_boundaries_differ_per_response(void **state)
{
    bw_test_response_t a, b;

    bw_t_get("/data.txt", "Range: bytes=0-1,3-4", &a);
    bw_t_get("/data.txt", "Range: bytes=0-1,3-4", &b);
    assert_string_not_equal(bw_t_boundary(&a), bw_t_boundary(&b));
    bw_test_response_free(&a);
    bw_test_response_free(&b);
}

/* ------------------------------------------- 416 and the whole body */

static void
test_range_unsatisfiable_is_416(void **state)
{
    static const char *const ranges[] = {"bytes=40-50", "bytes=-0", "bytes=3-2", "bytes=abc",
                                         "bytes=1-2,"};
    bw_test_response_t r;
    char header[64];

    for (size_t i = 0; i < sizeof(ranges) / sizeof(ranges[0]); i++) {
        snprintf(header, sizeof(header), "Range: %s", ranges[i]);
        bw_t_get("/data.txt", header, &r);
        if (r.status != 416) {
            fail_msg("%s: status %d, expected 416", ranges[i], r.status);
        }
        assert_string_equal(bw_test_response_header(&r, "Content-Range"), "bytes */36");
        assert_string_equal(bw_test_response_header(&r, "Content-Type"), "text/html");
        assert_non_null(strstr(r.body, "<title>416 Requested Range Not Satisfiable</title>"));
        assert_null(bw_test_response_header(&r, "ETag"));
        assert_null(bw_test_response_header(&r, "Last-Modified"));
        bw_test_response_free(&r);
    }
}

static void
test_range_overlapping_ranges_give_whole_body(void **state)
{
    bw_t_expect_whole("/data.txt", "Range: bytes=0-4,2-6,1-30", true);
}

static void
test_range_other_units_give_whole_body(void **state)
{
    bw_t_expect_whole("/data.txt", "Range: items=0-4", true);
    bw_t_expect_whole("/data.txt", "Range: bytes=", true);
    bw_t_expect_whole("/data.txt", NULL, true);
}

static void
test_range_max_ranges(void **state)
{
    bw_test_response_t r;

    bw_t_expect_whole("/one/data.txt", "Range: bytes=0-1,3-4", true);
    bw_t_get("/one/data.txt", "Range: bytes=0-1", &r);
    assert_int_equal(r.status, 206);
    bw_test_response_free(&r);
    bw_t_expect_whole("/none/data.txt", "Range: bytes=0-1", false);
}

static void
test_range_not_offered_without_length(void **state)
{
    bw_test_response_t r;

    bw_t_get("/list/", "Range: bytes=0-1", &r);
    assert_int_equal(r.status, 200);
    assert_null(bw_test_response_header(&r, "Accept-Ranges"));
    assert_null(bw_test_response_header(&r, "Content-Range"));
    bw_test_response_free(&r);
}

/* --------------------------------------------------------- If-Range */

static void
test_if_range_matching_etag_gives_range(void **state)
{
    bw_t_expect_single("/data.txt", "bytes=0-1\r\nIf-Range: " BW_T_ETAG, "bytes 0-1/36", "01");
}

static void
test_if_range_other_etag_gives_whole_body(void **state)
{
    bw_t_expect_whole("/data.txt", "Range: bytes=0-1\r\nIf-Range: \"zz\"", true);
    bw_t_expect_whole("/data.txt", "Range: bytes=0-1\r\nIf-Range: W/" BW_T_ETAG, true);
}

static void
test_if_range_date(void **state)
{
    bw_t_expect_single("/data.txt", "bytes=0-1\r\nIf-Range: " BW_T_LM, "bytes 0-1/36", "01");
    bw_t_expect_whole("/data.txt", "Range: bytes=0-1\r\nIf-Range: Tue, 14 Nov 2023 22:13:21 GMT",
                      true);
}

/* --------------------------------------------------------- big file */

static void
bw_t_big_single(const char *uri)
{
    bw_test_response_t r;

    bw_t_get(uri, "Range: bytes=1000-600000", &r);
    assert_int_equal(r.status, 206);
    assert_string_equal(bw_test_response_header(&r, "Content-Range"), "bytes 1000-600000/1048593");
    assert_int_equal(r.body_len, 599001);
    assert_true(bw_test_pattern_check(r.body, r.body_len, 1000));
    bw_test_response_free(&r);

    bw_t_get(uri, "Range: bytes=-17", &r);
    assert_int_equal(r.status, 206);
    assert_int_equal(r.body_len, 17);
    assert_true(bw_test_pattern_check(r.body, r.body_len, BW_T_BIG_SIZE - 17));
    bw_test_response_free(&r);
}

/* Finds the part for bytes [start, end] in a multipart body and checks it. */
static void
bw_t_big_part_check(const bw_test_response_t *r, uint64_t start, uint64_t end)
{
    char head[128];
    snprintf(head, sizeof(head), "Content-Range: bytes %llu-%llu/%d\r\n\r\n",
             (unsigned long long) start, (unsigned long long) end, BW_T_BIG_SIZE);
    const char *p = memmem(r->body, r->body_len, head, strlen(head));
    assert_non_null(p);
    p += strlen(head);
    size_t n = (size_t) (end - start + 1);
    assert_true((size_t) (p - r->body) + n <= r->body_len);
    assert_true(bw_test_pattern_check(p, n, start));
}

static void
bw_t_big_multipart(const char *uri)
{
    bw_test_response_t r;

    bw_t_get(uri, "Range: bytes=0-9,500000-700000,-100", &r);
    assert_int_equal(r.status, 206);
    bw_t_boundary(&r);
    assert_true(r.complete);
    bw_t_big_part_check(&r, 0, 9);
    bw_t_big_part_check(&r, 500000, 700000);
    bw_t_big_part_check(&r, BW_T_BIG_SIZE - 100, BW_T_BIG_SIZE - 1);
    char length[32];
    snprintf(length, sizeof(length), "%zu", r.body_len);
    assert_string_equal(bw_test_response_header(&r, "Content-Length"), length);
    bw_test_response_free(&r);
}

static void
test_range_big_file_sendfile_on(void **state)
{
    bw_t_big_single("/sf/big.bin");
    bw_t_big_multipart("/sf/big.bin");
}

static void
test_range_big_file_sendfile_off(void **state)
{
    bw_t_big_single("/nsf/big.bin");
    bw_t_big_multipart("/nsf/big.bin");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_range_single_bounded),
        cmocka_unit_test(test_range_suffix),
        cmocka_unit_test(test_range_open_ended),
        cmocka_unit_test(test_range_end_clipped_to_length),
        cmocka_unit_test(test_range_unit_is_case_insensitive_and_spaces_allowed),
        cmocka_unit_test(test_range_head_has_partial_headers_only),
        cmocka_unit_test(test_range_http10),
        cmocka_unit_test(test_range_multipart_layout),
        cmocka_unit_test(test_range_multipart_keeps_the_order_asked),
        cmocka_unit_test(test_range_multipart_boundaries_differ_per_response),
        cmocka_unit_test(test_range_unsatisfiable_is_416),
        cmocka_unit_test(test_range_overlapping_ranges_give_whole_body),
        cmocka_unit_test(test_range_other_units_give_whole_body),
        cmocka_unit_test(test_range_max_ranges),
        cmocka_unit_test(test_range_not_offered_without_length),
        cmocka_unit_test(test_if_range_matching_etag_gives_range),
        cmocka_unit_test(test_if_range_other_etag_gives_whole_body),
        cmocka_unit_test(test_if_range_date),
        cmocka_unit_test(test_range_big_file_sendfile_on),
        cmocka_unit_test(test_range_big_file_sendfile_off),
    };
    return cmocka_run_group_tests(tests, bw_t_setup, bw_t_teardown);
}
