/*
 * log.h -- the error log: levels, targets, and the context callback that
 * names the client and request for every call site.
 *
 * Lines look like nginx's:
 *   2026/11/23 13:17:32 [error] 1234#1234: *5 message, client: 127.0.0.1, ...
 * Before a log file is open (config parsing, -t), messages go to stderr as
 *   bulwark: [emerg] message
 */
#ifndef BW_LOG_H
#define BW_LOG_H

#include "str.h"

#include <errno.h>

#define BW_LOG_STDERR 0
#define BW_LOG_EMERG  1
#define BW_LOG_ALERT  2
#define BW_LOG_CRIT   3
#define BW_LOG_ERR    4
#define BW_LOG_WARN   5
#define BW_LOG_NOTICE 6
#define BW_LOG_INFO   7
#define BW_LOG_DEBUG  8

/* An open file that USR1 reopens (error and access logs). */
typedef struct bw_open_file_s {
    int      fd;
    bw_str_t name; /* NUL-terminated; "stderr" means fd 2 */
    void    *data; /* owner's (e.g. an access-log buffer to flush first) */
    void   (*flush)(struct bw_open_file_s *file);
} bw_open_file_t;

/* Appends request/connection context (", client: ...") to buf; returns bytes. */
typedef size_t (*bw_log_handler_fn)(bw_log_t *log, u_char *buf, size_t len);

struct bw_log_s {
    unsigned          level;
    bw_open_file_t   *file;
    bw_uint_t         connection; /* "*N" prefix when non-zero */
    const char       *action;     /* " while reading client request headers" */
    bw_log_handler_fn handler;
    void             *data;       /* for handler */
    bw_log_t         *next;       /* further error_log targets of the same context */
};

extern const char *const bw_log_level_names[]; /* "", "emerg", "alert", ... "debug" */
extern bw_open_file_t    bw_log_stderr_file;
extern bw_log_t          bw_log_stderr_log; /* level notice, writes to stderr */
extern const char       *bw_log_program;    /* "bulwark": prefix for stderr lines */
extern bool              bw_log_quiet;      /* -q: hide non-error messages while testing */

/* Writes one formatted line to every target of `log` whose level admits it. */
void bw_log_error(unsigned level, bw_log_t *log, int err, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Writes "bulwark: [level] message[ (err: text)]" to stderr. */
void bw_log_stderr(unsigned level, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define bw_log_debug(log, ...) \
    do { if ((log)->level >= BW_LOG_DEBUG) bw_log_error(BW_LOG_DEBUG, log, 0, __VA_ARGS__); } while (0)

/* Parses an error_log level name; returns the level or -1. */
int bw_log_level_parse(const bw_str_t *name);

#endif
