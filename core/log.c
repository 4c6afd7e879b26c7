/*
 * log.c -- error log output in nginx's line format, to files or stderr.
 *
 * A message is formatted once into a stack buffer and written with one
 * write(2) per target, so lines from several workers never interleave.
 */
#include "log.h"

#include "clock.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define BW_LOG_LINE_MAX 4096

const char *const bw_log_level_names[] = {"",     "emerg",  "alert", "crit", "error",
                                          "warn", "notice", "info",  "debug"};

bw_open_file_t bw_log_stderr_file = {2, bw_string("stderr"), NULL, NULL};
bw_log_t bw_log_stderr_log = {BW_LOG_NOTICE, &bw_log_stderr_file, 0, NULL, NULL, NULL, NULL};
const char *bw_log_program = "bulwark";
bool bw_log_quiet = false;

int
bw_log_level_parse(const bw_str_t *name)
{
    for (int i = 1; i < (int) bw_nelems(bw_log_level_names); i++) {
        if (name->len == strlen(bw_log_level_names[i])
            && memcmp(name->data, bw_log_level_names[i], name->len) == 0) {
            return i;
        }
    }
    return -1;
}

/* Appends " (err: strerror)" as nginx does: "(2: No such file or directory)". */
static size_t
bw_log_errno(u_char *p, size_t room, int err)
{
    if (err == 0 || room == 0) {
        return 0;
    }
    int n = snprintf((char *) p, room, " (%d: %s)", err, strerror(err));
    return n < 0 ? 0 : bw_min((size_t) n, room - 1);
}

static void
bw_log_write(bw_log_t *log, unsigned level, const u_char *line, size_t len)
{
    for (bw_log_t *l = log; l; l = l->next) {
        if (level > l->level || l->file == NULL || l->file->fd < 0) {
            continue;
        }
        ssize_t n = write(l->file->fd, line, len);
        (void) n; /* nowhere to report a failed log write */
    }
}

void
bw_log_error(unsigned level, bw_log_t *log, int err, const char *fmt, ...)
{
    u_char line[BW_LOG_LINE_MAX];
    size_t room = sizeof(line) - 1, n;

    if (log == NULL) {
        log = &bw_log_stderr_log;
    }
    if (log == &bw_log_stderr_log && level > BW_LOG_STDERR) {
        /* Before an error log is open (start, -t), nginx's shape: "bulwark: [emerg] ...". */
        if (level > log->level) {
            return;
        }
        char msg[BW_LOG_LINE_MAX];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        bw_log_stderr(level, err, "%s", msg);
        return;
    }
    if (bw_time.sec == 0) {
        bw_time_update();
    }
    int w = snprintf((char *) line, room, "%s [%s] %d#%d: ", (char *) bw_time.err_log,
                     bw_log_level_names[level], (int) getpid(), (int) getpid());
    n = (size_t) w;
    if (log->connection) {
        w = snprintf((char *) line + n, room - n, "*%lu ", (unsigned long) log->connection);
        n += bw_min((size_t) w, room - n - 1);
    }
    va_list ap;
    va_start(ap, fmt);
    w = vsnprintf((char *) line + n, room - n, fmt, ap);
    va_end(ap);
    n += w < 0 ? 0 : bw_min((size_t) w, room - n - 1);
    n += bw_log_errno(line + n, room - n, err);
    if (log->action && n < room) {
        w = snprintf((char *) line + n, room - n, " while %s", log->action);
        n += w < 0 ? 0 : bw_min((size_t) w, room - n - 1);
    }
    if (log->handler && n < room) {
        n += log->handler(log, line + n, room - n);
    }
    line[n++] = '\n';
    bw_log_write(log, level, line, n);
}

void
bw_log_stderr(unsigned level, int err, const char *fmt, ...)
{
    u_char line[BW_LOG_LINE_MAX];
    size_t room = sizeof(line) - 1, n = 0;
    int w;

    if (level != BW_LOG_STDERR) {
        w = snprintf((char *) line, room, "%s: [%s] ", bw_log_program, bw_log_level_names[level]);
    } else {
        w = snprintf((char *) line, room, "%s: ", bw_log_program);
    }
    n = (size_t) w;
    va_list ap;
    va_start(ap, fmt);
    w = vsnprintf((char *) line + n, room - n, fmt, ap);
    va_end(ap);
    n += w < 0 ? 0 : bw_min((size_t) w, room - n - 1);
    n += bw_log_errno(line + n, room - n, err);
    line[n++] = '\n';
    ssize_t r = write(2, line, n);
    (void) r;
}
