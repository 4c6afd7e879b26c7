/*
 * test_autoindex.c -- directory listings through the real binary, byte for
 * byte as nginx lays them out: html (names escaped and cut to 50 columns,
 * directories first, exact and rounded sizes), json, jsonp (and its
 * callback checks), xml; hidden files, symlinks, HEAD, and how autoindex
 * sits with index files and the 403 of a directory nobody lists.
 */
#include "harness.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#define BW_T_CONF                                                                     \
    "http {\n"                                                                        \
    "    include mime.types;\n"                                                       \
    "    server {\n"                                                                  \
    "        listen 127.0.0.1:%%PORT%%;\n"                                            \
    "        root html;\n"                                                            \
    "        location /list/ { autoindex on; }\n"                                     \
    "        location /round/ { alias html/list/; autoindex on;\n"                    \
    "            autoindex_exact_size off; }\n"                                       \
    "        location /small/ { autoindex on; }\n"                                    \
    "        location /json/ { alias html/small/; autoindex on; autoindex_format json; }\n" \
    "        location /jsonp/ { alias html/small/; autoindex on;\n"                   \
    "            autoindex_format jsonp; }\n"                                         \
    "        location /xml/ { alias html/small/; autoindex on; autoindex_format xml; }\n" \
    "        location /withindex/ { autoindex on; }\n"                                \
    "        location /off/ { alias html/small/; }\n"                                 \
    "    }\n"                                                                         \
    "}\n"

#define BW_T_MTIME 1700000000
#define BW_T_DATE  "14-Nov-2023 22:13 "
#define BW_T_HTTP  "Tue, 14 Nov 2023 22:13:20 GMT"
#define BW_T_ISO   "2023-11-14T22:13:20Z"
#define BW_T_LONG  "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx.txt"
#define BW_T_D50   "dddddddddddddddddddddddddddddddddddddddddddddddddd"

static bw_test_server_t *bw_t_srv;

/* Sets the fixed modification time of rel (a link itself, not its target). */
static void
bw_t_mtime(const char *rel)
{
    assert_int_equal(bw_test_server_set_mtime(bw_t_srv, rel, BW_T_MTIME), 0);
}

static void
bw_t_file(const char *rel, const char *data)
{
    assert_int_equal(bw_test_server_write_file_mtime(bw_t_srv, rel, data, strlen(data), BW_T_MTIME),
                     0);
}

/* A sparse file of `size` bytes. */
static void
bw_t_sized(const char *rel, off_t size)
{
    assert_int_equal(bw_test_server_write_file(bw_t_srv, rel, ""), 0);
    assert_int_equal(truncate(bw_test_server_path(bw_t_srv, rel), size), 0);
    bw_t_mtime(rel);
}

static void
bw_t_dir(const char *rel)
{
    assert_int_equal(mkdir(bw_test_server_path(bw_t_srv, rel), 0755), 0);
    bw_t_mtime(rel);
}

static void
bw_t_tree(void)
{
    bw_t_file("html/list/a.txt", "x");
    bw_t_sized("html/list/big.bin", 20000);
    bw_t_sized("html/list/m.bin", 1572864);
    bw_t_sized("html/list/g.bin", 1610612736);
    bw_t_file("html/list/we ird&<name>.txt", "");
    bw_t_file("html/list/" BW_T_LONG, "");
    bw_t_file("html/list/.hidden", "");
    bw_t_dir("html/list/adir");
    bw_t_dir("html/list/zdir");
    bw_t_dir("html/list/" BW_T_D50);
    assert_int_equal(symlink("a.txt", bw_test_server_path(bw_t_srv, "html/list/link")), 0);
    assert_int_equal(symlink("nowhere", bw_test_server_path(bw_t_srv, "html/list/broken")), 0);
    bw_t_mtime("html/list/broken");

    bw_t_file("html/small/f.txt", "abc");
    bw_t_file("html/small/a&b\"c.txt", "");
    bw_t_dir("html/small/sub");

    bw_t_file("html/withindex/index.html", "the index\n");
    bw_t_file("html/withindex/other.txt", "o");
}

static int
bw_t_setup(void **state)
{
    bw_t_srv = bw_test_server_start(BW_T_CONF);
    if (bw_t_srv == NULL) {
        return -1;
    }
    bw_t_tree();
    return 0;
}

static int
bw_t_teardown(void **state)
{
    bw_test_server_stop(bw_t_srv);
    return 0;
}

static void
bw_t_get(const char *uri, bw_test_response_t *r)
{
    assert_int_equal(bw_test_http_get(bw_t_srv->port, uri, r), 0);
}

/* Appends one html listing line: the link, padding to 50 columns, the date
 * and the size column. */
static size_t
bw_t_html_line(char *buf, size_t size, const char *href, const char *text, size_t columns,
               const char *size_column)
{
    int n = snprintf(buf, size, "<a href=\"%s\">%s</a>%*s " BW_T_DATE "%s\r\n", href, text,
                     (int) (columns < 50 ? 50 - columns : 0), "", size_column);
    return (size_t) n;
}

/* The listing of html/list/ as nginx writes it, sizes exact or rounded. */
static size_t
bw_t_list_html(char *buf, size_t size, const char *uri, bool exact)
{
    const char *dash = exact ? "                  -" : "      -";
    size_t n = (size_t) snprintf(buf, size,
                                 "<html>\r\n<head><title>Index of %s</title></head>\r\n<body>\r\n"
                                 "<h1>Index of %s</h1><hr><pre><a href=\"../\">../</a>\r\n",
                                 uri, uri);
    n += bw_t_html_line(buf + n, size - n, "adir/", "adir/", 5, dash);
    n += bw_t_html_line(buf + n, size - n, BW_T_D50 "/", BW_T_D50, 50, dash);
    n += bw_t_html_line(buf + n, size - n, "zdir/", "zdir/", 5, dash);
    n += bw_t_html_line(buf + n, size - n, "a.txt", "a.txt", 5,
                        exact ? "                  1" : "      1");
    n += bw_t_html_line(buf + n, size - n, "big.bin", "big.bin", 7,
                        exact ? "              20000" : "    20K");
    n += bw_t_html_line(buf + n, size - n, "broken", "broken", 6,
                        exact ? "                  7" : "      7");
    n += bw_t_html_line(buf + n, size - n, "g.bin", "g.bin", 5,
                        exact ? "         1610612736" : "     2G");
    n += bw_t_html_line(buf + n, size - n, "link", "link", 4,
                        exact ? "                  1" : "      1");
    n += bw_t_html_line(buf + n, size - n, "m.bin", "m.bin", 5,
                        exact ? "            1572864" : "     2M");
    n += bw_t_html_line(buf + n, size - n, "we%20ird%26%3Cname%3E.txt",
                        "we ird&amp;&lt;name&gt;.txt", 17, exact ? "                  0"
                                                                 : "      0");
    n += bw_t_html_line(buf + n, size - n, BW_T_LONG,
                        "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx..&gt;", 50,
                        exact ? "                  0" : "      0");
    n += (size_t) snprintf(buf + n, size - n, "</pre><hr></body>\r\n</html>\r\n");
    return n;
}

static void
bw_t_expect_body(const bw_test_response_t *r, const char *expected, size_t len)
{
    if (r->body_len != len || memcmp(r->body, expected, len) != 0) {
        fail_msg("body differs:\n--- got (%zu)\n%.*s\n--- expected (%zu)\n%.*s", r->body_len,
                 (int) r->body_len, r->body, len, (int) len, expected);
    }
}

/* ------------------------------------------------------------- html */

static void
test_autoindex_html_is_nginx_layout(void **state)
{
    bw_test_response_t r;
    static char expected[8192];

    bw_t_get("/list/", &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(bw_test_response_header(&r, "Content-Type"), "text/html");
    assert_null(bw_test_response_header(&r, "Content-Length"));
    assert_null(bw_test_response_header(&r, "Last-Modified"));
    assert_null(bw_test_response_header(&r, "ETag"));
    assert_true(r.chunked);
    bw_t_expect_body(&r, expected, bw_t_list_html(expected, sizeof(expected), "/list/", true));
    bw_test_response_free(&r);
}

static void
test_autoindex_html_rounded_sizes(void **state)
{
    bw_test_response_t r;
    static char expected[8192];

    bw_t_get("/round/", &r);
    assert_int_equal(r.status, 200);
    bw_t_expect_body(&r, expected, bw_t_list_html(expected, sizeof(expected), "/round/", false));
    bw_test_response_free(&r);
}

static void
test_autoindex_html_escapes_the_uri(void **state)
{
    bw_test_response_t r;

    assert_int_equal(mkdir(bw_test_server_path(bw_t_srv, "html/list/d<i>r&\"x"), 0755), 0);
    bw_t_get("/list/d%3Ci%3Er&%22x/", &r);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "<title>Index of /list/d&lt;i&gt;r&amp;&quot;x/</title>"));
    assert_non_null(strstr(r.body, "<h1>Index of /list/d&lt;i&gt;r&amp;&quot;x/</h1>"));
    bw_test_response_free(&r);
    rmdir(bw_test_server_path(bw_t_srv, "html/list/d<i>r&\"x"));
}

static void
test_autoindex_head_sends_no_body(void **state)
{
    bw_test_conn_t *c = bw_test_conn_open(bw_t_srv->port);
    bw_test_response_t r;

    assert_non_null(c);
    assert_int_equal(bw_test_conn_send_str(c, "HEAD /list/ HTTP/1.1\r\nHost: x\r\n"
                                              "Connection: close\r\n\r\n"),
                     0);
    assert_int_equal(bw_test_conn_read_response_flags(c, &r, BW_TEST_RESP_HEAD,
                                                      bw_test_timeout(5000)),
                     0);
    assert_int_equal(r.status, 200);
    assert_string_equal(bw_test_response_header(&r, "Content-Type"), "text/html");
    assert_int_equal(r.raw_len, r.head_len);
    bw_test_response_free(&r);
    bw_test_conn_close(c);
}

/* ----------------------------------------------------- json and xml */

#define BW_T_JSON                                                                        \
    "[\r\n"                                                                              \
    "{ \"name\":\"sub\", \"type\":\"directory\", \"mtime\":\"" BW_T_HTTP "\" },\r\n"     \
    "{ \"name\":\"a&b\\\"c.txt\", \"type\":\"file\", \"mtime\":\"" BW_T_HTTP "\", "      \
    "\"size\":0 },\r\n"                                                                  \
    "{ \"name\":\"f.txt\", \"type\":\"file\", \"mtime\":\"" BW_T_HTTP "\", \"size\":3 }" \
    "\r\n]"

static void
test_autoindex_json(void **state)
{
    bw_test_response_t r;

    bw_t_get("/json/", &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(bw_test_response_header(&r, "Content-Type"), "application/json");
    bw_t_expect_body(&r, BW_T_JSON, sizeof(BW_T_JSON) - 1);
    bw_test_response_free(&r);
}

static void
test_autoindex_jsonp_wraps_in_callback(void **state)
{
    static const char expected[] = "/* callback */\r\ncb.x_1(" BW_T_JSON ");";
    bw_test_response_t r;

    bw_t_get("/jsonp/?a=1&callback=cb.x_1", &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(bw_test_response_header(&r, "Content-Type"), "application/javascript");
    bw_t_expect_body(&r, expected, sizeof(expected) - 1);
    bw_test_response_free(&r);

    bw_t_get("/jsonp/", &r); /* no callback: plain json */
    assert_int_equal(r.status, 200);
    assert_string_equal(bw_test_response_header(&r, "Content-Type"), "application/json");
    bw_t_expect_body(&r, BW_T_JSON, sizeof(BW_T_JSON) - 1);
    bw_test_response_free(&r);
}

static void
test_autoindex_jsonp_bad_callback_is_400(void **state)
{
    bw_test_response_t r;
    char uri[300];

    bw_t_get("/jsonp/?callback=a-b", &r);
    assert_int_equal(r.status, 400);
    bw_test_response_free(&r);
    assert_true(bw_test_server_log_wait(bw_t_srv, "client sent invalid callback name: \"a-b\"", 1,
                                        bw_test_timeout(2000)));

    int n = snprintf(uri, sizeof(uri), "/jsonp/?callback=");
    memset(uri + n, 'c', 129);
    uri[n + 129] = '\0';
    bw_t_get(uri, &r);
    assert_int_equal(r.status, 400);
    bw_test_response_free(&r);
    assert_true(bw_test_server_log_wait(bw_t_srv, "client sent too long callback name", 1,
                                        bw_test_timeout(2000)));
}

static void
test_autoindex_xml(void **state)
{
    static const char expected[] =
        "<?xml version=\"1.0\"?>\r\n<list>\r\n"
        "<directory mtime=\"" BW_T_ISO "\">sub</directory>\r\n"
        "<file mtime=\"" BW_T_ISO "\" size=\"0\">a&amp;b&quot;c.txt</file>\r\n"
        "<file mtime=\"" BW_T_ISO "\" size=\"3\">f.txt</file>\r\n"
        "</list>\r\n";
    bw_test_response_t r;

    bw_t_get("/xml/", &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(bw_test_response_header(&r, "Content-Type"), "text/xml; charset=utf-8");
    bw_t_expect_body(&r, expected, sizeof(expected) - 1);
    bw_test_response_free(&r);
}

/* ------------------------------------------- with index and without */

static void
test_autoindex_yields_to_index_file(void **state)
{
    bw_test_response_t r;

    bw_t_get("/withindex/", &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "the index\n");
    bw_test_response_free(&r);
}

static void
test_autoindex_off_is_403(void **state)
{
    bw_test_response_t r;

    bw_t_get("/off/", &r);
    assert_int_equal(r.status, 403);
    bw_test_response_free(&r);
    assert_true(bw_test_server_log_wait(bw_t_srv, "html/small/\" is forbidden", 1,
                                        bw_test_timeout(2000)));
}

static void
test_autoindex_missing_directory_is_404(void **state)
{
    bw_test_response_t r;

    bw_t_get("/list/nodir/", &r);
    assert_int_equal(r.status, 404);
    bw_test_response_free(&r);
}

static void
test_autoindex_not_for_post(void **state)
{
    bw_test_response_t r;

    assert_int_equal(bw_test_http_request(bw_t_srv->port,
                                          "POST /small/ HTTP/1.1\r\nHost: x\r\n"
                                          "Content-Length: 0\r\nConnection: close\r\n\r\n",
                                          &r),
                     0);
    assert_int_equal(r.status, 403);
    bw_test_response_free(&r);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_autoindex_html_is_nginx_layout),
        cmocka_unit_test(test_autoindex_html_rounded_sizes),
        cmocka_unit_test(test_autoindex_html_escapes_the_uri),
        cmocka_unit_test(test_autoindex_head_sends_no_body),
        cmocka_unit_test(test_autoindex_json),
        cmocka_unit_test(test_autoindex_jsonp_wraps_in_callback),
        cmocka_unit_test(test_autoindex_jsonp_bad_callback_is_400),
        cmocka_unit_test(test_autoindex_xml),
        cmocka_unit_test(test_autoindex_yields_to_index_file),
        cmocka_unit_test(test_autoindex_off_is_403),
        cmocka_unit_test(test_autoindex_missing_directory_is_404),
        cmocka_unit_test(test_autoindex_not_for_post),
    };
    return cmocka_run_group_tests(tests, bw_t_setup, bw_t_teardown);
}
