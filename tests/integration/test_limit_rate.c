/*
 * test_limit_rate.c -- response pacing through the real binary: a 200 KiB
 * static file with `limit_rate 100k` takes about two seconds and arrives
 * intact (sendfile on and off); `limit_rate_after 150k` sends the first
 * 150 KiB unpaced and only the rest slowly; `set $limit_rate` paces a
 * location without the directive; without a limit the file is fast.
 */
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BW_T_CONF                                                                   \
    "http {\n"                                                                      \
    "    server {\n"                                                                \
    "        listen 127.0.0.1:%%PORT%%;\n"                                          \
    "        root html;\n"                                                          \
    "        location /rate/ { alias html/; limit_rate 100k; }\n"                   \
    "        location /rate_sf/ { alias html/; limit_rate 100k; sendfile on; }\n"   \
    "        location /after/ { alias html/; limit_rate 100k;"                      \
    " limit_rate_after 150k; }\n"                                                   \
    "        location /var/ { alias html/; set $limit_rate 50k;"                    \
    " limit_rate_after 150k; }\n"                                                   \
    "        location /free/ { alias html/; }\n"                                    \
    "    }\n"                                                                       \
    "}\n"

#define BW_T_SIZE (200 * 1024)

static bw_test_server_t *bw_t_srv;

static int
bw_t_setup(void **state)
{
    bw_t_srv = bw_test_server_start(BW_T_CONF);
    if (bw_t_srv == NULL) {
        return -1;
    }
    return bw_test_server_write_pattern(bw_t_srv, "html/f.bin", BW_T_SIZE);
}

static int
bw_t_teardown(void **state)
{
    bw_test_server_stop(bw_t_srv);
    return 0;
}

/*
 * Downloads uri with curl into the prefix, checks that the whole file
 * arrived byte for byte, and returns the seconds curl took.
 */
static double
bw_t_fetch_seconds(const char *uri)
{
    char  url[256], out_path[512], max_time[32];
    char *out = NULL;
    int   st = -1;

    snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", bw_t_srv->port, uri);
    snprintf(out_path, sizeof(out_path), "%s", bw_test_server_path(bw_t_srv, "got.bin"));
    snprintf(max_time, sizeof(max_time), "%d", bw_test_timeout(10000) / 1000);
    assert_int_equal(bw_test_curl(&out, &st, "-s", "--max-time", max_time, "-o", out_path,
                                  "-w", "%{http_code} %{size_download} %{time_total}", url),
                     0);
    assert_int_equal(st, 0);
    assert_non_null(out);

    int    code = 0;
    long   size = 0;
    double seconds = -1;
    assert_int_equal(sscanf(out, "%d %ld %lf", &code, &size, &seconds), 3);
    free(out);
    assert_int_equal(code, 200);
    assert_int_equal(size, BW_T_SIZE);

    size_t len = 0;
    char  *body = bw_test_server_read_file(bw_t_srv, "got.bin", &len);
    assert_non_null(body);
    assert_int_equal(len, BW_T_SIZE);
    assert_true(bw_test_pattern_check(body, len, 0));
    free(body);
    return seconds;
}

static void
test_limit_rate_paces_the_response(void **state)
{
    double t = bw_t_fetch_seconds("/rate/f.bin");
    assert_true(t >= 1.5);
    assert_true(t < 4.0);
}

static void
test_limit_rate_paces_sendfile(void **state)
{
    double t = bw_t_fetch_seconds("/rate_sf/f.bin");
    assert_true(t >= 1.5);
    assert_true(t < 4.0);
}

static void
test_limit_rate_after_sends_the_start_unpaced(void **state)
{
    /* 50 KiB paced at 100 KiB/s */
    double t = bw_t_fetch_seconds("/after/f.bin");
    assert_true(t >= 0.35);
    assert_true(t < 1.5);
}

static void
test_set_limit_rate_variable_paces_the_response(void **state)
{
    /* 50 KiB at 50 KiB/s, where the location sets no limit_rate */
    double t = bw_t_fetch_seconds("/var/f.bin");
    assert_true(t >= 0.7);
    assert_true(t < 2.5);
}

static void
test_no_limit_rate_is_fast(void **state)
{
    double t = bw_t_fetch_seconds("/free/f.bin");
    assert_true(t < 0.5);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_no_limit_rate_is_fast),
        cmocka_unit_test(test_limit_rate_paces_the_response),
        cmocka_unit_test(test_limit_rate_paces_sendfile),
        cmocka_unit_test(test_limit_rate_after_sends_the_start_unpaced),
        cmocka_unit_test(test_set_limit_rate_variable_paces_the_response),
    };
    return cmocka_run_group_tests(tests, bw_t_setup, bw_t_teardown);
}
