/*
 * log_capture.c -- a debug-level log written into a memory file (memfd),
 * and reading back what a log file holds, so a unit test can check what the
 * code under test logged.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>

#include "support.h"

void
bw_test_log_capture(bw_log_t *log, bw_open_file_t *file)
{
    file->fd = memfd_create("log", 0);
    log->level = BW_LOG_DEBUG;
    log->file = file;
}

const char *
bw_test_log_text(const bw_open_file_t *file)
{
    static char buf[65536];
    ssize_t     n = pread(file->fd, buf, sizeof(buf) - 1, 0);

    buf[n > 0 ? n : 0] = '\0';
    return buf;
}

bool
bw_test_log_has(const bw_open_file_t *file, const char *text)
{
    return strstr(bw_test_log_text(file), text) != NULL;
}

int
bw_test_log_count(const bw_open_file_t *file, const char *text)
{
    const char *buf = bw_test_log_text(file);
    int         count = 0;

    for (const char *p = strstr(buf, text); p; p = strstr(p + 1, text)) {
        count++;
    }
    return count;
}
