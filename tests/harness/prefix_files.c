/*
 * prefix_files.c -- content a test puts into a server's prefix beyond one
 * file: files with a fixed modification time (so Last-Modified and ETag are
 * known in advance), big files of the origin's byte pattern, and a list of
 * small files written before the server starts.
 */
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/time.h>

int bw_test_server_set_mtime(bw_test_server_t *srv, const char *rel, time_t mtime)
{
    struct timeval tv[2] = {{mtime, 0}, {mtime, 0}};

    return lutimes(bw_test_server_path(srv, rel), tv);
}

int bw_test_server_write_file_mtime(bw_test_server_t *srv, const char *rel, const void *data,
                                    size_t len, time_t mtime)
{
    if (bw_test_server_write_file_len(srv, rel, data, len) != 0) {
        return -1;
    }
    return bw_test_server_set_mtime(srv, rel, mtime);
}

int bw_test_server_write_pattern(bw_test_server_t *srv, const char *rel, size_t size)
{
    char *data = malloc(size);

    if (data == NULL) {
        return -1;
    }
    for (size_t i = 0; i < size; i++) {
        data[i] = bw_test_pattern_byte(i);
    }
    int rc = bw_test_server_write_file_len(srv, rel, data, size);
    free(data);
    return rc;
}

bw_test_server_t *bw_test_server_start_files(const char *conf_template, const char *dir,
                                             const char *const *names, size_t n,
                                             const char *data)
{
    bw_test_server_t *srv = bw_test_server_prepare(conf_template);

    if (srv == NULL) {
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        char rel[512];
        snprintf(rel, sizeof(rel), "%s%s", dir, names[i]);
        if (bw_test_server_write_file(srv, rel, data) != 0) {
            bw_test_server_stop(srv);
            return NULL;
        }
    }
    if (bw_test_server_launch(srv) != 0) {
        bw_test_server_stop(srv);
        return NULL;
    }
    return srv;
}
