/*
 * test_headers.c -- add_header, add_trailer and expires through the real
 * binary: which statuses get fields (and `always`), inheritance (a level
 * with its own add_header inherits none), variables and empty values, the
 * fields add_header treats specially (Cache-Control, ETag, Last-Modified),
 * every form of expires, trailers on a chunked response, and the
 * configuration errors nginx reports for these directives.
 */
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#define BW_T_CONF                                                                        \
    "http {\n"                                                                           \
    "    include mime.types;\n"                                                          \
    "    server {\n"                                                                     \
    "        listen 127.0.0.1:%%PORT%%;\n"                                               \
    "        root html;\n"                                                               \
    "        add_header X-Server s;\n"                                                   \
    "        location /plain/ { alias html/; }\n"                                        \
    "        location /own/ { alias html/; add_header X-Own o;\n"                        \
    "            add_header X-Always \"a $status\" always; }\n"                          \
    "        location /nest/ { alias html/; add_header X-Outer o;\n"                     \
    "            location /nest/in/ { alias html/; }\n"                                  \
    "            location /nest/own/ { alias html/; add_header X-Inner i; } }\n"         \
    "        location /var/ { alias html/; add_header X-Uri $uri;\n"                    \
    "            add_header X-Arg \"<$arg_v>\";\n"                                         \
    "            add_header X-Empty \"\"; add_header X-Empty-Var $arg_none; }\n"         \
    "        location /cc/ { alias html/; expires 1h; add_header Cache-Control private;\n" \
    "            add_header Link \"<a>\"; add_header Link \"<b>\"; }\n"                  \
    "        location /etag/ { alias html/; add_header ETag \"\"; add_header Last-Modified x; }\n" \
    "        location /e1h/ { alias html/; expires 1h; }\n"                              \
    "        location /eneg/ { alias html/; expires -1; }\n"                             \
    "        location /epoch/ { alias html/; expires epoch; }\n"                         \
    "        location /max/ { alias html/; expires max; }\n"                             \
    "        location /zero/ { alias html/; expires 0; }\n"                              \
    "        location /mod/ { alias html/; expires modified 1d; }\n"                     \
    "        location /daily/ { alias html/; expires @12h; }\n"                          \
    "        location /evar/ { alias html/; expires $arg_e; }\n"                         \
    "        location /eoff/ { alias html/; expires 1h;\n"                               \
    "            location /eoff/in/ { alias html/; expires off; } }\n"                   \
    "        location /trailer/ { alias html/; add_trailer X-T t;\n"                     \
    "            add_trailer X-U \"u $uri\"; add_trailer X-Never \"\"; }\n"              \
    "    }\n"                                                                            \
    "}\n"

#define BW_T_MTIME 1700000000
#define BW_T_DATA  "0123456789abcdefghijklmnopqrstuvwxyz"

static bw_test_server_t *bw_t_srv;

static int
bw_t_setup(void **state)
{
    bw_t_srv = bw_test_server_start(BW_T_CONF);
    if (bw_t_srv == NULL) {
        return -1;
    }
    if (bw_test_server_write_file_mtime(bw_t_srv, "html/data.txt", BW_T_DATA, strlen(BW_T_DATA),
                                        BW_T_MTIME) != 0
        || bw_test_server_write_file(bw_t_srv, "html/in/data.txt", BW_T_DATA) != 0
        || bw_test_server_write_file(bw_t_srv, "html/own/data.txt", BW_T_DATA) != 0) {
        return -1;
    }
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

/* An HTTP date header of r as a time. */
static time_t
bw_t_date(const bw_test_response_t *r, const char *name)
{
    struct tm tm;
    const char *v = bw_test_response_header(r, name);

    assert_non_null(v);
    memset(&tm, 0, sizeof(tm));
    const char *end = strptime(v, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    assert_non_null(end);
    assert_int_equal(*end, '\0');
    return timegm(&tm);
}

/* ------------------------------------------------------- add_header */

static void
test_add_header_on_success_and_not_on_errors(void **state)
{
    bw_test_response_t r;

    bw_t_get("/own/data.txt", &r);
    assert_int_equal(r.status, 200);
    bw_test_expect_header(&r, "X-Own", "o");
    bw_test_expect_header(&r, "X-Always", "a 200");
    bw_test_response_free(&r);

    bw_t_get("/own/missing.txt", &r);
    assert_int_equal(r.status, 404);
    bw_test_expect_header(&r, "X-Own", NULL);
    bw_test_expect_header(&r, "X-Always", "a 404");
    bw_test_response_free(&r);
}

static void
test_add_header_on_redirect(void **state)
{
    bw_test_response_t r;

    bw_t_get("/own", &r); /* html/own is a directory: 301 */
    assert_int_equal(r.status, 301);
    bw_test_expect_header(&r, "X-Server", "s");
    bw_test_response_free(&r);
}

static void
test_add_header_inherited_only_without_own(void **state)
{
    bw_test_response_t r;

    bw_t_get("/plain/data.txt", &r);
    bw_test_expect_header(&r, "X-Server", "s");
    bw_test_response_free(&r);

    bw_t_get("/own/data.txt", &r);
    bw_test_expect_header(&r, "X-Server", NULL);
    bw_test_response_free(&r);

    bw_t_get("/nest/in/data.txt", &r);
    bw_test_expect_header(&r, "X-Outer", "o");
    bw_test_expect_header(&r, "X-Server", NULL);
    bw_test_response_free(&r);

    bw_t_get("/nest/own/data.txt", &r);
    bw_test_expect_header(&r, "X-Inner", "i");
    bw_test_expect_header(&r, "X-Outer", NULL);
    bw_test_response_free(&r);
}

static void
test_add_header_variables_and_empty_values(void **state)
{
    bw_test_response_t r;

    bw_t_get("/var/data.txt?v=42", &r);
    assert_int_equal(r.status, 200);
    bw_test_expect_header(&r, "X-Uri", "/var/data.txt");
    bw_test_expect_header(&r, "X-Arg", "<42>");
    bw_test_expect_header(&r, "X-Empty", NULL);
    bw_test_expect_header(&r, "X-Empty-Var", NULL);
    bw_test_response_free(&r);
}

static void
test_add_header_cache_control_and_link_add_lines(void **state)
{
    bw_test_response_t r;

    bw_t_get("/cc/data.txt", &r);
    assert_int_equal(bw_test_response_header_count(&r, "Cache-Control"), 2);
    assert_int_equal(bw_test_response_header_count(&r, "Link"), 2);
    int seen = 0;
    for (size_t i = 0; i < r.nheaders; i++) {
        if (strcmp(r.headers[i].name, "Cache-Control") == 0) {
            assert_string_equal(r.headers[i].value, seen++ ? "private" : "max-age=3600");
        }
    }
    bw_test_response_free(&r);
}

static void
test_add_header_etag_and_last_modified_replace(void **state)
{
    bw_test_response_t r;

    bw_t_get("/etag/data.txt", &r);
    assert_int_equal(r.status, 200);
    bw_test_expect_header(&r, "ETag", NULL);
    bw_test_expect_header(&r, "Last-Modified", "x");
    assert_int_equal(bw_test_response_header_count(&r, "Last-Modified"), 1);
    bw_test_response_free(&r);
}

/* ---------------------------------------------------------- expires */

static void
test_expires_time_from_now(void **state)
{
    bw_test_response_t r;

    bw_t_get("/e1h/data.txt", &r);
    assert_int_equal(bw_t_date(&r, "Expires") - bw_t_date(&r, "Date"), 3600);
    bw_test_expect_header(&r, "Cache-Control", "max-age=3600");
    bw_test_response_free(&r);
}

static void
test_expires_negative_is_no_cache(void **state)
{
    bw_test_response_t r;

    bw_t_get("/eneg/data.txt", &r);
    assert_int_equal(bw_t_date(&r, "Expires") - bw_t_date(&r, "Date"), -1);
    bw_test_expect_header(&r, "Cache-Control", "no-cache");
    bw_test_response_free(&r);
}

static void
test_expires_epoch_and_max(void **state)
{
    bw_test_response_t r;

    bw_t_get("/epoch/data.txt", &r);
    bw_test_expect_header(&r, "Expires", "Thu, 01 Jan 1970 00:00:01 GMT");
    bw_test_expect_header(&r, "Cache-Control", "no-cache");
    bw_test_response_free(&r);

    bw_t_get("/max/data.txt", &r);
    bw_test_expect_header(&r, "Expires", "Thu, 31 Dec 2037 23:55:55 GMT");
    bw_test_expect_header(&r, "Cache-Control", "max-age=315360000");
    bw_test_response_free(&r);
}

static void
test_expires_zero_is_now(void **state)
{
    bw_test_response_t r;

    bw_t_get("/zero/data.txt", &r);
    assert_string_equal(bw_test_response_header(&r, "Expires"),
                        bw_test_response_header(&r, "Date"));
    bw_test_expect_header(&r, "Cache-Control", "max-age=0");
    bw_test_response_free(&r);
}

static void
test_expires_modified_counts_from_mtime(void **state)
{
    bw_test_response_t r;

    bw_t_get("/mod/data.txt", &r);
    assert_int_equal(bw_t_date(&r, "Expires"), BW_T_MTIME + 86400);
    bw_test_expect_header(&r, "Cache-Control", "no-cache"); /* that was long ago */
    bw_test_response_free(&r);
}

static void
test_expires_time_of_day(void **state)
{
    bw_test_response_t r;
    char cc[64];

    bw_t_get("/daily/data.txt", &r);
    time_t expires = bw_t_date(&r, "Expires"), date = bw_t_date(&r, "Date");
    assert_true(expires > date && expires - date <= 86400);
    snprintf(cc, sizeof(cc), "max-age=%lld", (long long) (expires - date));
    bw_test_expect_header(&r, "Cache-Control", cc);
    bw_test_response_free(&r);
}

static void
test_expires_from_variable(void **state)
{
    bw_test_response_t r;

    bw_t_get("/evar/data.txt?e=2h", &r);
    bw_test_expect_header(&r, "Cache-Control", "max-age=7200");
    bw_test_response_free(&r);
    bw_t_get("/evar/data.txt?e=epoch", &r);
    bw_test_expect_header(&r, "Expires", "Thu, 01 Jan 1970 00:00:01 GMT");
    bw_test_response_free(&r);
    bw_t_get("/evar/data.txt?e=off", &r);
    bw_test_expect_header(&r, "Expires", NULL);
    bw_test_expect_header(&r, "Cache-Control", NULL);
    bw_test_response_free(&r);
    bw_t_get("/evar/data.txt?e=junk", &r);
    assert_int_equal(r.status, 200);
    bw_test_expect_header(&r, "Expires", NULL);
    bw_test_response_free(&r);
}

static void
test_expires_off_and_errors_get_none(void **state)
{
    bw_test_response_t r;

    bw_t_get("/eoff/in/data.txt", &r);
    assert_int_equal(r.status, 200);
    bw_test_expect_header(&r, "Expires", NULL);
    bw_test_response_free(&r);
    bw_t_get("/e1h/missing.txt", &r);
    assert_int_equal(r.status, 404);
    bw_test_expect_header(&r, "Expires", NULL);
    bw_test_expect_header(&r, "Cache-Control", NULL);
    bw_test_response_free(&r);
}

/* ------------------------------------------------------ add_trailer */

static void
test_add_trailer_sends_chunked_trailers(void **state)
{
    bw_test_response_t r;

    bw_t_get("/trailer/data.txt", &r);
    assert_int_equal(r.status, 200);
    assert_true(r.chunked);
    bw_test_expect_header(&r, "Content-Length", NULL);
    assert_int_equal(r.body_len, 36);
    assert_memory_equal(r.body, BW_T_DATA, 36);
    assert_string_equal(bw_test_response_trailer(&r, "X-T"), "t");
    assert_string_equal(bw_test_response_trailer(&r, "X-U"), "u /trailer/data.txt");
    assert_null(bw_test_response_trailer(&r, "X-Never"));
    bw_test_response_free(&r);
}

static void
test_add_trailer_not_on_errors(void **state)
{
    bw_test_response_t r;

    bw_t_get("/trailer/missing.txt", &r);
    assert_int_equal(r.status, 404);
    assert_false(r.chunked);
    assert_int_equal(r.ntrailers, 0);
    bw_test_response_free(&r);
}

/* ------------------------------------------------ configuration errors */

/* `-t` of a location body; returns the output (caller frees) and exit status. */
static char *
bw_t_check_conf(const char *location_body, int *status)
{
    return bw_test_conf_test(status,
                             "http { server { listen 127.0.0.1:%%%%PORT%%%%;"
                             " location / { %s } } }\n",
                             location_body);
}

static void
test_headers_conf_errors_match_nginx(void **state)
{
    static const struct {
        const char *body;
        const char *message;
    } cases[] = {
        {"expires @25h;", "\"expires\" directive daily time value must be less than 24 hours in "},
        {"expires modified @1h;",
         "\"expires\" directive daily time cannot be used with \"modified\" parameter in "},
        {"expires foo;", "\"expires\" directive invalid value in "},
        {"expires mod 1h;", "\"expires\" directive invalid value in "},
        {"expires 1h; expires 2h;", "\"expires\" directive is duplicate in "},
        {"add_header X y z;", "invalid parameter \"z\" in "},
        {"add_trailer X y never;", "invalid parameter \"never\" in "},
        {"add_header X;", "invalid number of arguments in \"add_header\" directive in "},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int status;
        char *out = bw_t_check_conf(cases[i].body, &status);
        if (status == 0 || strstr(out, cases[i].message) == NULL) {
            fail_msg("\"%s\": status %d, output:\n%s", cases[i].body, status, out);
        }
        free(out);
    }
    int status;
    char *out = bw_t_check_conf("expires modified -1d; add_header X \"\" always;", &status);
    assert_int_equal(status, 0);
    free(out);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_add_header_on_success_and_not_on_errors),
        cmocka_unit_test(test_add_header_on_redirect),
        cmocka_unit_test(test_add_header_inherited_only_without_own),
        cmocka_unit_test(test_add_header_variables_and_empty_values),
        cmocka_unit_test(test_add_header_cache_control_and_link_add_lines),
        cmocka_unit_test(test_add_header_etag_and_last_modified_replace),
        cmocka_unit_test(test_expires_time_from_now),
        cmocka_unit_test(test_expires_negative_is_no_cache),
        cmocka_unit_test(test_expires_epoch_and_max),
        cmocka_unit_test(test_expires_zero_is_now),
        cmocka_unit_test(test_expires_modified_counts_from_mtime),
        cmocka_unit_test(test_expires_time_of_day),
        cmocka_unit_test(test_expires_from_variable),
        cmocka_unit_test(test_expires_off_and_errors_get_none),
        cmocka_unit_test(test_add_trailer_sends_chunked_trailers),
        cmocka_unit_test(test_add_trailer_not_on_errors),
        cmocka_unit_test(test_headers_conf_errors_match_nginx),
    };
    return cmocka_run_group_tests(tests, bw_t_setup, bw_t_teardown);
}
