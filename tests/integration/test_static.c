/*
 * test_static.c -- plain files and index files through the real binary:
 * a 200 with nginx's exact headers and body, HEAD, 404/403/405 with the
 * error log lines nginx writes, the 301 of a directory named without its
 * slash, `etag off`, big files with sendfile on and off, and the index
 * module (default index.html, the list order, an absolute last name,
 * variables, the 403 and 404 of directories without an index).
 *
 * One server serves every test of the file; each test writes the files it
 * needs into the prefix.
 */
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define BW_T_CONF                                                               \
    "http {\n"                                                                  \
    "    include mime.types;\n"                                                 \
    "    default_type application/octet-stream;\n"                              \
    "    server {\n"                                                            \
    "        listen 127.0.0.1:%%PORT%%;\n"                                      \
    "        root html;\n"                                                      \
    "        location /noetag/ { alias html/; etag off; }\n"                    \
    "        location /lnf/ { alias html/; log_not_found off; }\n"              \
    "        location /sf/ { alias html/; sendfile on; }\n"                     \
    "        location /nsf/ { alias html/; sendfile off; }\n"                   \
    "        location /rel/ { alias html/; absolute_redirect off; }\n"          \
    "        location /idx/ { alias html/; index nope.html /sub/index.html; }\n" \
    "        location /idxv/ { alias html/; index nope.html $arg_i.html; }\n"   \
    "        location /idx2/ { alias html/; index a.html b.html; }\n"           \
    "    }\n"                                                                   \
    "}\n"

/* The fixed modification time of the test files, and how it is sent. */
#define BW_T_MTIME      1700000000
#define BW_T_MTIME_HTTP "Tue, 14 Nov 2023 22:13:20 GMT"
#define BW_T_DATA       "0123456789abcdefghijklmnopqrstuvwxyz"
#define BW_T_BIG_SIZE   (1024 * 1024 + 17)

static bw_test_server_t *bw_t_srv;

/* Writes html/<rel> with `data` and the fixed modification time. */
static void
bw_t_file(const char *rel, const char *data, size_t len)
{
    char path[512];

    snprintf(path, sizeof(path), "html/%s", rel);
    assert_int_equal(bw_test_server_write_file_mtime(bw_t_srv, path, data, len, BW_T_MTIME), 0);
}

static int
bw_t_setup(void **state)
{
    bw_t_srv = bw_test_server_start(BW_T_CONF);
    if (bw_t_srv == NULL) {
        return -1;
    }
    if (bw_test_server_write_pattern(bw_t_srv, "html/big.bin", BW_T_BIG_SIZE) != 0
        || bw_test_server_set_mtime(bw_t_srv, "html/big.bin", BW_T_MTIME) != 0) {
        return -1;
    }
    bw_t_file("data.txt", BW_T_DATA, strlen(BW_T_DATA));
    bw_t_file("index.html", "root index\n", 11);
    bw_t_file("sub/index.html", "sub index\n", 10);
    bw_t_file("b.html", "b\n", 2);
    bw_t_file("page.html", "<p>x</p>\n", 9);
    bw_t_file("file.unknownext", "u", 1);
    bw_t_file("empty.txt", "", 0);
    mkdir(bw_test_server_path(bw_t_srv, "html/noindex"), 0755);
    return 0;
}

static int
bw_t_teardown(void **state)
{
    bw_test_server_stop(bw_t_srv);
    return 0;
}

/* Sends "METHOD uri" with extra header lines (each ending in CRLF) and
 * reads the response; HEAD responses are read without a body. */
static void
bw_t_request(const char *method, const char *uri, const char *extra, bw_test_response_t *r)
{
    char req[2048];
    snprintf(req, sizeof(req), "%s %s HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n%s\r\n",
             method, uri, extra ? extra : "");
    bw_test_http_exchange(bw_t_srv->port, req, r);
}

static void
bw_t_get(const char *uri, bw_test_response_t *r)
{
    bw_t_request("GET", uri, NULL, r);
}

/* The header names of r, comma-separated, into buf. */
static const char *
bw_t_header_names(const bw_test_response_t *r, char *buf, size_t size)
{
    size_t n = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < r->nheaders && n < size; i++) {
        n += (size_t) snprintf(buf + n, size - n, "%s%s", i ? "," : "", r->headers[i].name);
    }
    return buf;
}

/* ------------------------------------------------------------- files */

static void
test_static_file_has_nginx_headers_in_order(void **state)
{
    bw_test_response_t r;
    char names[512];

    bw_t_get("/data.txt", &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(bw_t_header_names(&r, names, sizeof(names)),
                        "Server,Date,Content-Type,Content-Length,Last-Modified,Connection,"
                        "ETag,Accept-Ranges");
    bw_test_expect_header(&r, "Content-Type", "text/plain");
    bw_test_expect_header(&r, "Content-Length", "36");
    bw_test_expect_header(&r, "Last-Modified", BW_T_MTIME_HTTP);
    bw_test_expect_header(&r, "ETag", "\"6553f100-24\"");
    bw_test_expect_header(&r, "Accept-Ranges", "bytes");
    bw_test_expect_header(&r, "Connection", "close");
    assert_int_equal(r.body_len, 36);
    assert_memory_equal(r.body, BW_T_DATA, 36);
    bw_test_response_free(&r);
}

static void
test_static_head_sends_headers_without_body(void **state)
{
    bw_test_response_t r;

    bw_t_request("HEAD", "/data.txt", NULL, &r);
    assert_int_equal(r.status, 200);
    bw_test_expect_header(&r, "Content-Length", "36");
    bw_test_expect_header(&r, "ETag", "\"6553f100-24\"");
    assert_int_equal(r.body_len, 0);
    assert_int_equal(r.raw_len, r.head_len);
    bw_test_response_free(&r);
}

static void
test_static_content_type_follows_extension(void **state)
{
    bw_test_response_t r;

    bw_t_get("/page.html", &r);
    bw_test_expect_header(&r, "Content-Type", "text/html");
    bw_test_response_free(&r);
    bw_t_get("/file.unknownext", &r);
    bw_test_expect_header(&r, "Content-Type", "application/octet-stream");
    bw_test_response_free(&r);
}

static void
test_static_empty_file_has_zero_length(void **state)
{
    bw_test_response_t r;

    bw_t_get("/empty.txt", &r);
    assert_int_equal(r.status, 200);
    bw_test_expect_header(&r, "Content-Length", "0");
    bw_test_expect_header(&r, "ETag", "\"6553f100-0\"");
    assert_int_equal(r.body_len, 0);
    bw_test_response_free(&r);
}

static void
test_static_etag_off_sends_no_etag(void **state)
{
    bw_test_response_t r;

    bw_t_get("/noetag/data.txt", &r);
    assert_int_equal(r.status, 200);
    bw_test_expect_header(&r, "ETag", NULL);
    bw_test_expect_header(&r, "Last-Modified", BW_T_MTIME_HTTP);
    bw_test_response_free(&r);
}

/* Big files arrive intact whether sent with sendfile or read and written. */
static void
bw_t_big_file_check(const char *uri)
{
    bw_test_response_t r;

    bw_t_get(uri, &r);
    assert_int_equal(r.status, 200);
    assert_true(r.complete);
    assert_int_equal(r.body_len, BW_T_BIG_SIZE);
    assert_true(bw_test_pattern_check(r.body, r.body_len, 0));
    bw_test_response_free(&r);
}

static void
test_static_big_file_with_sendfile_on(void **state)
{
    bw_t_big_file_check("/sf/big.bin");
}

static void
test_static_big_file_with_sendfile_off(void **state)
{
    bw_t_big_file_check("/nsf/big.bin");
}

static void
test_static_big_file_on_keepalive_connection_twice(void **state)
{
    bw_test_conn_t *c = bw_test_conn_open(bw_t_srv->port);
    bw_test_response_t r;

    assert_non_null(c);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(bw_test_conn_send_str(c, i == 0 ? "GET /sf/big.bin HTTP/1.1\r\n"
                                                           "Host: x\r\n\r\n"
                                                         : "GET /nsf/big.bin HTTP/1.1\r\n"
                                                           "Host: x\r\n\r\n"),
                         0);
        assert_int_equal(bw_test_conn_read_response(c, &r), 0);
        assert_int_equal(r.status, 200);
        assert_int_equal(r.body_len, BW_T_BIG_SIZE);
        assert_true(bw_test_pattern_check(r.body, r.body_len, 0));
        bw_test_response_free(&r);
    }
    bw_test_conn_close(c);
}

/* ------------------------------------------------------------ errors */

static void
test_static_missing_file_is_404_and_logged(void **state)
{
    bw_test_response_t r;
    char line[600];

    bw_t_get("/nope.txt", &r);
    assert_int_equal(r.status, 404);
    assert_non_null(strstr(r.body, "<title>404 Not Found</title>"));
    bw_test_response_free(&r);
    snprintf(line, sizeof(line), "open() \"%s\" failed (2: No such file or directory)",
             bw_test_server_path(bw_t_srv, "html/nope.txt"));
    assert_true(bw_test_server_log_wait(bw_t_srv, line, 1, bw_test_timeout(2000)));
    assert_int_equal(bw_test_server_log_grep(bw_t_srv, "\\[error\\] .*open\\(\\) \".*/nope.txt\""),
                     1);
}

static void
test_static_log_not_found_off_logs_nothing(void **state)
{
    bw_test_response_t r;

    bw_t_get("/lnf/silent.txt", &r);
    assert_int_equal(r.status, 404);
    bw_test_response_free(&r);
    bw_t_get("/marker-lnf.txt", &r);
    bw_test_response_free(&r);
    assert_true(bw_test_server_log_wait(bw_t_srv, "marker-lnf.txt", 1,
                                        bw_test_timeout(2000)));
    assert_int_equal(bw_test_server_log_count(bw_t_srv, "silent.txt\" failed"), 0);
}

static void
test_static_file_used_as_directory_is_404(void **state)
{
    bw_test_response_t r;

    bw_t_get("/data.txt/more", &r);
    assert_int_equal(r.status, 404);
    bw_test_response_free(&r);
    assert_true(bw_test_server_log_wait(bw_t_srv, "data.txt/more\" failed (20: Not a directory)",
                                        1, bw_test_timeout(2000)));
}

static void
test_static_unreadable_file_is_403(void **state)
{
    bw_test_response_t r;

    if (geteuid() == 0) {
        skip(); /* root reads anything */
    }
    bw_t_file("secret.txt", "s", 1);
    assert_int_equal(chmod(bw_test_server_path(bw_t_srv, "html/secret.txt"), 0), 0);
    bw_t_get("/secret.txt", &r);
    assert_int_equal(r.status, 403);
    bw_test_response_free(&r);
    assert_true(bw_test_server_log_wait(bw_t_srv, "secret.txt\" failed (13: Permission denied)",
                                        1, bw_test_timeout(2000)));
}

static void
test_static_methods_other_than_get_head_are_405(void **state)
{
    bw_test_response_t r;

    bw_t_request("POST", "/data.txt", "Content-Length: 0\r\n", &r);
    assert_int_equal(r.status, 405);
    bw_test_response_free(&r);
    bw_t_request("PUT", "/data.txt", "Content-Length: 0\r\n", &r);
    assert_int_equal(r.status, 405);
    bw_test_response_free(&r);
    bw_t_request("DELETE", "/sub/", NULL, &r);
    assert_int_equal(r.status, 405);
    bw_test_response_free(&r);
    /* POST to a missing file: 404 (the file is looked for first) */
    bw_t_request("POST", "/post-missing.txt", "Content-Length: 0\r\n", &r);
    assert_int_equal(r.status, 404);
    bw_test_response_free(&r);
}

/* --------------------------------------------------------- redirects */

static void
test_static_directory_without_slash_redirects(void **state)
{
    bw_test_response_t r;
    char location[128];

    bw_t_get("/sub", &r);
    assert_int_equal(r.status, 301);
    snprintf(location, sizeof(location), "http://localhost:%d/sub/", bw_t_srv->port);
    bw_test_expect_header(&r, "Location", location);
    bw_test_response_free(&r);

    bw_t_get("/sub?a=1&b=2", &r);
    assert_int_equal(r.status, 301);
    snprintf(location, sizeof(location), "http://localhost:%d/sub/?a=1&b=2", bw_t_srv->port);
    bw_test_expect_header(&r, "Location", location);
    bw_test_response_free(&r);
}

static void
test_static_directory_redirect_relative_when_absolute_redirect_off(void **state)
{
    bw_test_response_t r;

    bw_t_get("/rel/sub", &r);
    assert_int_equal(r.status, 301);
    bw_test_expect_header(&r, "Location", "/rel/sub/");
    bw_test_response_free(&r);
}

/* ------------------------------------------------------------- index */

static void
test_index_default_serves_index_html(void **state)
{
    bw_test_response_t r;

    bw_t_get("/", &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "root index\n");
    bw_test_expect_header(&r, "Content-Type", "text/html");
    bw_test_response_free(&r);
    bw_t_get("/sub/?x=1", &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "sub index\n");
    bw_test_response_free(&r);
}

static void
test_index_tries_names_in_order(void **state)
{
    bw_test_response_t r;

    bw_t_get("/idx2/", &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "b\n");
    bw_test_response_free(&r);
}

static void
test_index_absolute_last_name_redirects_to_it(void **state)
{
    bw_test_response_t r;

    bw_t_get("/idx/", &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "sub index\n");
    bw_test_response_free(&r);
}

static void
test_index_name_with_variables(void **state)
{
    bw_test_response_t r;

    bw_t_get("/idxv/?i=page", &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "<p>x</p>\n");
    bw_test_response_free(&r);
    bw_t_get("/idxv/?i=missing", &r);
    assert_int_equal(r.status, 403);
    bw_test_response_free(&r);
}

static void
test_index_missing_in_directory_is_403_logged(void **state)
{
    bw_test_response_t r;
    char line[600];

    bw_t_get("/noindex/", &r);
    assert_int_equal(r.status, 403);
    bw_test_response_free(&r);
    snprintf(line, sizeof(line), "directory index of \"%s/\" is forbidden",
             bw_test_server_path(bw_t_srv, "html/noindex"));
    assert_true(bw_test_server_log_wait(bw_t_srv, line, 1, bw_test_timeout(2000)));
}

static void
test_index_of_missing_directory_is_404_logged(void **state)
{
    bw_test_response_t r;
    char line[600];

    bw_t_get("/nodir/", &r);
    assert_int_equal(r.status, 404);
    bw_test_response_free(&r);
    snprintf(line, sizeof(line), "\"%s\" is not found (2: No such file or directory)",
             bw_test_server_path(bw_t_srv, "html/nodir/index.html"));
    assert_true(bw_test_server_log_wait(bw_t_srv, line, 1, bw_test_timeout(2000)));
}

static void
test_index_post_reaches_static_405(void **state)
{
    bw_test_response_t r;

    bw_t_request("POST", "/sub/", "Content-Length: 0\r\n", &r);
    assert_int_equal(r.status, 405);
    bw_test_response_free(&r);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_static_file_has_nginx_headers_in_order),
        cmocka_unit_test(test_static_head_sends_headers_without_body),
        cmocka_unit_test(test_static_content_type_follows_extension),
        cmocka_unit_test(test_static_empty_file_has_zero_length),
        cmocka_unit_test(test_static_etag_off_sends_no_etag),
        cmocka_unit_test(test_static_big_file_with_sendfile_on),
        cmocka_unit_test(test_static_big_file_with_sendfile_off),
        cmocka_unit_test(test_static_big_file_on_keepalive_connection_twice),
        cmocka_unit_test(test_static_missing_file_is_404_and_logged),
        cmocka_unit_test(test_static_log_not_found_off_logs_nothing),
        cmocka_unit_test(test_static_file_used_as_directory_is_404),
        cmocka_unit_test(test_static_unreadable_file_is_403),
        cmocka_unit_test(test_static_methods_other_than_get_head_are_405),
        cmocka_unit_test(test_static_directory_without_slash_redirects),
        cmocka_unit_test(test_static_directory_redirect_relative_when_absolute_redirect_off),
        cmocka_unit_test(test_index_default_serves_index_html),
        cmocka_unit_test(test_index_tries_names_in_order),
        cmocka_unit_test(test_index_absolute_last_name_redirects_to_it),
        cmocka_unit_test(test_index_name_with_variables),
        cmocka_unit_test(test_index_missing_in_directory_is_403_logged),
        cmocka_unit_test(test_index_of_missing_directory_is_404_logged),
        cmocka_unit_test(test_index_post_reaches_static_405),
    };
    return cmocka_run_group_tests(tests, bw_t_setup, bw_t_teardown);
}
