/*
 * test_open_file_cache.c -- open_file_cache and its companions through the
 * real binary, seen from outside: a cached descriptor keeps serving the
 * file it opened (a file replaced or removed on disk) until
 * open_file_cache_valid passes and the entry is checked again; without the
 * cache every request sees the disk; open_file_cache_errors keeps a 404
 * for `valid`; min_uses delays caching; `max` drops the least recently used
 * entry and `inactive` the ones not asked for;
 * the worker holds the cached descriptors open.
 *
 * Files are replaced by writing a new file and renaming it over the old
 * one (a new inode), as deployments do.
 */
#include "harness.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char bw_ofc_conf[] =
    "http {\n"
    "  server {\n"
    "    listen 127.0.0.1:%%PORT%%;\n"
    "    root html;\n"
    "    open_file_cache max=3 inactive=2s;\n"
    "    open_file_cache_valid 1s;\n"
    "    location /nocache/ { open_file_cache off; }\n"
    "    location /errors/ { open_file_cache_errors on; }\n"
    "    location /twice/ { open_file_cache_min_uses 2; }\n"
    "    location /tf/ { open_file_cache_errors on; try_files $uri /tf-fallback.txt; }\n"
    "    location = /tf-fallback.txt { }\n"
    "    location /long/ { open_file_cache_valid 30s; }\n"
    "    location /idle/ { open_file_cache max=10 inactive=2s; open_file_cache_valid 30s; }\n"
    "  }\n"
    "}\n";

static bw_test_server_t *bw_ofc_srv;

static int
bw_ofc_setup(void **state)
{
    bw_ofc_srv = bw_test_server_start(bw_ofc_conf);
    return bw_ofc_srv ? 0 : -1;
}

static int
bw_ofc_teardown(void **state)
{
    bw_test_server_stop(bw_ofc_srv);
    return 0;
}

/* Puts text at html/rel through a rename, so the path names a new inode. */
static void
bw_ofc_put(const char *rel, const char *text)
{
    char tmp[256], from[600], to[600];

    snprintf(tmp, sizeof(tmp), "html/.tmp-%d", (int) getpid());
    assert_int_equal(bw_test_server_write_file(bw_ofc_srv, tmp, text), 0);
    snprintf(from, sizeof(from), "%s", bw_test_server_path(bw_ofc_srv, tmp));
    snprintf(to, sizeof(to), "%s/%s", bw_test_server_path(bw_ofc_srv, "html"), rel);
    assert_int_equal(rename(from, to), 0);
}

static void
bw_ofc_remove(const char *rel)
{
    char path[600];

    snprintf(path, sizeof(path), "%s/%s", bw_test_server_path(bw_ofc_srv, "html"), rel);
    assert_int_equal(unlink(path), 0);
}

/* GET uri: the status, and the body when 200 must be `body`. */
static void
bw_ofc_expect(const char *uri, int status, const char *body)
{
    bw_test_expect_get(bw_ofc_srv->port, "localhost", uri, status, status == 200 ? body : NULL);
}

static void
test_cached_descriptor_serves_until_valid_passes(void **state)
{
    assert_int_equal(mkdir(bw_test_server_path(bw_ofc_srv, "html/long"), 0755), 0);
    bw_ofc_put("a.txt", "one\n");
    bw_ofc_expect("/a.txt", 200, "one\n");

    /* replaced on disk: the cached descriptor still reads the old file */
    bw_ofc_put("a.txt", "two\n");
    bw_ofc_expect("/a.txt", 200, "one\n");
    /* after open_file_cache_valid (1s) the entry is checked: a new file */
    bw_test_sleep_ms(1200);
    bw_ofc_expect("/a.txt", 200, "two\n");

    /* removed on disk: served until checked, then 404 */
    bw_ofc_remove("a.txt");
    bw_ofc_expect("/a.txt", 200, "two\n");
    bw_test_sleep_ms(1200);
    bw_ofc_expect("/a.txt", 404, NULL);

    /* a longer valid: still the old file after 1.2 s */
    bw_ofc_put("long/b.txt", "old\n");
    bw_ofc_expect("/long/b.txt", 200, "old\n");
    bw_ofc_put("long/b.txt", "new\n");
    bw_test_sleep_ms(1200);
    bw_ofc_expect("/long/b.txt", 200, "old\n");
}

static void
test_without_cache_every_request_sees_the_disk(void **state)
{
    assert_int_equal(mkdir(bw_test_server_path(bw_ofc_srv, "html/nocache"), 0755), 0);
    bw_ofc_put("nocache/c.txt", "one\n");
    bw_ofc_expect("/nocache/c.txt", 200, "one\n");
    bw_ofc_put("nocache/c.txt", "two\n");
    bw_ofc_expect("/nocache/c.txt", 200, "two\n");
    bw_ofc_remove("nocache/c.txt");
    bw_ofc_expect("/nocache/c.txt", 404, NULL);
}

static void
test_errors_kept_only_with_open_file_cache_errors(void **state)
{
    assert_int_equal(mkdir(bw_test_server_path(bw_ofc_srv, "html/errors"), 0755), 0);

    /* errors on: the 404 is kept until valid passes */
    bw_ofc_expect("/errors/d.txt", 404, NULL);
    bw_ofc_put("errors/d.txt", "here\n");
    bw_ofc_expect("/errors/d.txt", 404, NULL);
    bw_test_sleep_ms(1200);
    bw_ofc_expect("/errors/d.txt", 200, "here\n");

    /* errors off (the default): the file is found at once */
    bw_ofc_expect("/e.txt", 404, NULL);
    bw_ofc_put("e.txt", "here\n");
    bw_ofc_expect("/e.txt", 200, "here\n");
}

/* try_files looks through the cache too: a kept "not found" holds for `valid`. */
static void
test_try_files_through_the_cache(void **state)
{
    assert_int_equal(mkdir(bw_test_server_path(bw_ofc_srv, "html/tf"), 0755), 0);
    bw_ofc_put("tf-fallback.txt", "fallback\n");

    bw_ofc_expect("/tf/x.txt", 200, "fallback\n");
    bw_ofc_put("tf/x.txt", "x\n");
    bw_ofc_expect("/tf/x.txt", 200, "fallback\n");
    bw_test_sleep_ms(1200);
    bw_ofc_expect("/tf/x.txt", 200, "x\n");
}

static void
test_min_uses_delays_caching(void **state)
{
    assert_int_equal(mkdir(bw_test_server_path(bw_ofc_srv, "html/twice"), 0755), 0);
    bw_ofc_put("twice/f.txt", "one\n");
    bw_ofc_expect("/twice/f.txt", 200, "one\n"); /* first use: not kept open */
    bw_ofc_put("twice/f.txt", "two\n");
    bw_ofc_expect("/twice/f.txt", 200, "two\n"); /* second use: kept open */
    bw_ofc_put("twice/f.txt", "three\n");
    bw_ofc_expect("/twice/f.txt", 200, "two\n");
}

/* Descriptors the worker holds open on files under html/ whose name contains needle. */
static int
bw_ofc_worker_fds(const char *needle)
{
    pid_t pids[4];
    int   n = bw_test_server_workers(bw_ofc_srv, pids, 4), count = 0;

    for (int i = 0; i < n; i++) {
        char dir[64];
        snprintf(dir, sizeof(dir), "/proc/%d/fd", (int) pids[i]);
        DIR *d = opendir(dir);
        for (struct dirent *e; d != NULL && (e = readdir(d)) != NULL;) {
            char link[600], target[600];
            snprintf(link, sizeof(link), "%s/%s", dir, e->d_name);
            ssize_t len = readlink(link, target, sizeof(target) - 1);
            if (len > 0) {
                target[len] = '\0';
                count += strstr(target, needle) != NULL;
            }
        }
        if (d != NULL) {
            closedir(d);
        }
    }
    return count;
}

static void
test_max_drops_least_recently_used(void **state)
{
    assert_int_equal(mkdir(bw_test_server_path(bw_ofc_srv, "html/lru"), 0755), 0);
    bw_ofc_put("lru/g.txt", "g1\n");
    bw_ofc_expect("/lru/g.txt", 200, "g1\n");
    assert_int_equal(bw_ofc_worker_fds("/html/lru/g.txt"), 1);

    /* max=3: three more files push g.txt out (its descriptor is closed) */
    static const char *const others[] = {"lru/h1.txt", "lru/h2.txt", "lru/h3.txt"};
    for (size_t i = 0; i < 3; i++) {
        char uri[64];
        bw_ofc_put(others[i], "h\n");
        snprintf(uri, sizeof(uri), "/%s", others[i]);
        bw_ofc_expect(uri, 200, "h\n");
    }
    assert_int_equal(bw_ofc_worker_fds("/html/lru/g.txt"), 0);
    assert_int_equal(bw_ofc_worker_fds("/html/lru/h"), 3);
    bw_ofc_put("lru/g.txt", "g2\n");
    bw_ofc_expect("/lru/g.txt", 200, "g2\n");

}

static void
test_inactive_drops_entries_not_asked_for(void **state)
{
    assert_int_equal(mkdir(bw_test_server_path(bw_ofc_srv, "html/idle"), 0755), 0);

    /* inactive=2s, valid=30s: asked for within 2 s, the entry stays */
    bw_ofc_put("idle/i.txt", "i1\n");
    bw_ofc_expect("/idle/i.txt", 200, "i1\n");
    bw_ofc_put("idle/i.txt", "i2\n");
    bw_test_sleep_ms(600);
    bw_ofc_expect("/idle/i.txt", 200, "i1\n");
    /* not asked for during 2 s: dropped, so the new file is opened */
    bw_test_sleep_ms(2300);
    bw_ofc_expect("/idle/i.txt", 200, "i2\n");
    assert_int_equal(bw_ofc_worker_fds("/html/idle/i.txt"), 1);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cached_descriptor_serves_until_valid_passes),
        cmocka_unit_test(test_without_cache_every_request_sees_the_disk),
        cmocka_unit_test(test_errors_kept_only_with_open_file_cache_errors),
        cmocka_unit_test(test_try_files_through_the_cache),
        cmocka_unit_test(test_min_uses_delays_caching),
        cmocka_unit_test(test_max_drops_least_recently_used),
        cmocka_unit_test(test_inactive_drops_entries_not_asked_for),
    };
    return cmocka_run_group_tests(tests, bw_ofc_setup, bw_ofc_teardown);
}
