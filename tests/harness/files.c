/*
 * files.c -- a server's prefix as the test sees it: paths, writing content
 * files, reading logs, counting and waiting for what the logs say.
 */
#include "harness.h"

#include <errno.h>
#include <fcntl.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define BW_TEST_PATH_SLOTS 8
#define BW_TEST_ERROR_LOG  "logs/error.log"

const char *bw_test_server_path(bw_test_server_t *srv, const char *rel)
{
    static char slots[BW_TEST_PATH_SLOTS][512];
    static int  next;
    char       *buf = slots[next++ % BW_TEST_PATH_SLOTS];

    snprintf(buf, sizeof(slots[0]), "%s/%s", srv->prefix, rel);
    return buf;
}

/* mkdir -p of every directory above path. */
static int bw_test_files_mkdirs(const char *path)
{
    char buf[512];

    snprintf(buf, sizeof(buf), "%s", path);
    for (char *p = buf + 1; *p != '\0'; p++) {
        if (*p != '/') {
            continue;
        }
        *p = '\0';
        if (mkdir(buf, 0755) == -1 && errno != EEXIST) {
            return -1;
        }
        *p = '/';
    }
    return 0;
}

int bw_test_server_write_file_len(bw_test_server_t *srv, const char *rel, const void *data,
                                  size_t len)
{
    const char *path = bw_test_server_path(srv, rel);
    const char *p = data;
    int         fd;

    if (bw_test_files_mkdirs(path) == -1) {
        return -1;
    }
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd == -1) {
        fprintf(stderr, "harness: open %s: %s\n", path, strerror(errno));
        return -1;
    }
    while (len > 0) {
        ssize_t n = write(fd, p, len);

        if (n == -1 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            close(fd);
            return -1;
        }
        p += n;
        len -= (size_t) n;
    }
    return close(fd);
}

int bw_test_server_write_file(bw_test_server_t *srv, const char *rel, const char *data)
{
    return bw_test_server_write_file_len(srv, rel, data, strlen(data));
}

char *bw_test_server_read_file(bw_test_server_t *srv, const char *rel, size_t *len)
{
    return bw_test_file_read(bw_test_server_path(srv, rel), len);
}

int bw_test_server_file_count(bw_test_server_t *srv, const char *rel, const char *needle)
{
    return bw_test_file_count(bw_test_server_path(srv, rel), needle);
}

int bw_test_server_log_count(bw_test_server_t *srv, const char *needle)
{
    return bw_test_server_file_count(srv, BW_TEST_ERROR_LOG, needle);
}

bool bw_test_server_file_wait(bw_test_server_t *srv, const char *rel, const char *needle,
                              int count, int timeout_ms)
{
    int64_t deadline = bw_test_now_ms() + timeout_ms;

    for (;;) {
        if (bw_test_server_file_count(srv, rel, needle) >= count) {
            return true;
        }
        if (bw_test_now_ms() >= deadline) {
            return false;
        }
        bw_test_sleep_ms(10);
    }
}

bool bw_test_server_log_wait(bw_test_server_t *srv, const char *needle, int count,
                             int timeout_ms)
{
    return bw_test_server_file_wait(srv, BW_TEST_ERROR_LOG, needle, count, timeout_ms);
}

int bw_test_server_log_grep(bw_test_server_t *srv, const char *regex)
{
    regex_t re;
    char   *text, *line, *save = NULL;
    int     n = 0;

    if (regcomp(&re, regex, REG_EXTENDED | REG_NOSUB) != 0) {
        fprintf(stderr, "harness: bad regex \"%s\"\n", regex);
        return -1;
    }
    text = bw_test_server_read_file(srv, BW_TEST_ERROR_LOG, NULL);
    for (line = text != NULL ? strtok_r(text, "\n", &save) : NULL; line != NULL;
         line = strtok_r(NULL, "\n", &save))
    {
        n += regexec(&re, line, 0, NULL, 0) == 0;
    }
    free(text);
    regfree(&re);
    return n;
}

bool bw_test_server_log_wait_re(bw_test_server_t *srv, const char *regex, int timeout_ms)
{
    int64_t deadline = bw_test_now_ms() + timeout_ms;

    for (;;) {
        int n = bw_test_server_log_grep(srv, regex);

        if (n != 0) {
            return n > 0;
        }
        if (bw_test_now_ms() >= deadline) {
            return false;
        }
        bw_test_sleep_ms(10);
    }
}
