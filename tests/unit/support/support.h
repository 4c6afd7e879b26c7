/*
 * support.h -- helpers shared by the unit tests (tests/unit/test_*.c), built
 * into the bw_unit_support library every unit test links: capture of what a
 * unit writes to stderr, logs a test reads back, a seeded pseudo-random
 * sequence and counted strings from C strings (http_conf.h has the http
 * configuration levels). A helper fails the running cmocka test itself when
 * it cannot do its job.
 */
#ifndef BW_TEST_SUPPORT_H
#define BW_TEST_SUPPORT_H

#include <stdbool.h>
#include <stdint.h>

#include "log.h"
#include "str.h"

/* ---- stderr capture ---- */

/* Sends fd 2 into a temporary file until bw_test_stderr_end(). */
void bw_test_stderr_begin(void);

/*
 * Restores fd 2 and returns what was written to it since the begin, NUL
 * terminated, in a static buffer (valid until the next call; 16 KiB at most).
 */
const char *bw_test_stderr_end(void);

/* ---- logs a test reads back ---- */

/*
 * Points log at file, at debug level, and opens file as a new memory file
 * (file->fd is -1 when that failed: the caller checks).
 */
void bw_test_log_capture(bw_log_t *log, bw_open_file_t *file);

/*
 * Everything written to the log file so far (read from offset 0),
 * NUL-terminated, in a static buffer (the first 64 KiB).
 */
const char *bw_test_log_text(const bw_open_file_t *file);

/* True when the log file holds text. */
bool bw_test_log_has(const bw_open_file_t *file, const char *text);

/* How many times the log file holds text. */
int bw_test_log_count(const bw_open_file_t *file, const char *text);

/* ---- pseudo-random numbers ---- */

/*
 * The next number of the xorshift64 sequence kept in *state (seed it with
 * any non-zero value): the same seed gives the same sequence on every run.
 */
uint32_t bw_test_xorshift(uint64_t *state);

/* ---- strings ---- */

/* A bw_str_t over the NUL-terminated s (not copied). */
bw_str_t bw_test_cstr(const char *s);

#endif
