/*
 * harness.h -- the integration-test harness: run the real bulwark binary in a
 * throw-away prefix, drive it with byte-exact HTTP over raw sockets (or curl),
 * read its logs, signal it, and stop it; plus control of the test origin
 * (tests/origin, the bw_origin binary).
 *
 * Typical test:
 *
 *     bw_test_origin_t *o = bw_test_origin_start(NULL, "-n", "a");
 *     bw_test_server_t *s = bw_test_server_start(
 *         "http { server { listen 127.0.0.1:%%PORT%%;"
 *         "  location / { proxy_pass http://127.0.0.1:%%ORIGIN_PORT%%; } } }");
 *     assert_non_null(s);
 *     bw_test_response_t r;
 *     assert_int_equal(bw_test_http_get(s->port, "/?status=404", &r), 0);
 *     assert_int_equal(r.status, 404);
 *     bw_test_response_free(&r);
 *     bw_test_server_stop(s);     (fails the test on [alert] or sanitizer lines)
 *     bw_test_origin_stop(o);
 *
 * Everything is bounded in time; every port is found at run time; every prefix
 * is a fresh mkdtemp directory, so test programs may run in parallel (ctest -j).
 *
 * Environment:
 *   BW_TEST_BINARY, BW_TEST_ORIGIN   override the compiled-in paths (e.g. run a
 *                                    test against /usr/sbin/nginx as an oracle)
 *   BW_TEST_LEAVE=1                  keep every prefix (its path is printed)
 *   BW_TEST_TIMEOUT_SCALE=N          multiply every bound (slow sanitizer runs)
 *   BW_TEST_VERBOSE=1                print each launch and stop
 */
#ifndef BW_TEST_HARNESS_H
#define BW_TEST_HARNESS_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <sys/types.h>

#include <cmocka.h>

/* Default bound of every wait, in milliseconds (scaled by BW_TEST_TIMEOUT_SCALE). */
#define BW_TEST_TIMEOUT_MS   10000
#define BW_TEST_MAX_PORTS    10     /* %%PORT%% (= %%PORT1%%) .. %%PORT9%% */
#define BW_TEST_MAX_VARS     32
#define BW_TEST_MAX_ALLOW    16
#define BW_TEST_MAX_ORIGINS  9      /* %%ORIGIN_PORT%% .. %%ORIGIN_PORT9%% */

/* ------------------------------------------------------------------ types */

typedef struct {
    char *name;
    char *value;
} bw_test_var_t;

/*
 * A bulwark instance in its own prefix. Fields are read-only for tests; use
 * the functions below to change anything.
 */
typedef struct bw_test_server_s {
    char          prefix[256];          /* "/tmp/bwtest.<random>", no trailing slash */
    char          conf_path[300];       /* prefix + "/conf/bulwark.conf" */
    char          pid_path[512];        /* the pid file the config names; "" if unknown */
    char          binary[512];          /* the program started (bw_test_binary() at prepare) */
    int           port;                 /* %%PORT%%; 0 when the template has none */
    int           ports[BW_TEST_MAX_PORTS]; /* ports[n] is %%PORTn%%, ports[1] == port */
    pid_t         pid;                  /* the process we forked (the first master) */
    bool          running;              /* launched and not yet seen to exit */
    bool          launch_failed;        /* launch returned -1: exit status is expected */
    int           exit_status;          /* wait status once reaped, else -1 */
    bool          preamble;             /* false when the template said %%NO_PREAMBLE%% */
    char         *conf_template;        /* the last template rendered */
    int           reserved_fd[BW_TEST_MAX_PORTS]; /* bound, not listening, until launch */
    bw_test_var_t vars[BW_TEST_MAX_VARS];
    int           nvars;
    char         *allow[BW_TEST_MAX_ALLOW]; /* log lines containing these are not failures */
    int           nallow;
} bw_test_server_t;

/* A running bw_origin process. */
typedef struct bw_test_origin_s {
    pid_t pid;
    int   port;
} bw_test_origin_t;

typedef struct {
    char *name;                         /* NUL-terminated, as received */
    char *value;                        /* NUL-terminated, surrounding blanks trimmed */
} bw_test_header_t;

/*
 * One parsed HTTP response. Every pointer is owned by the response and freed
 * by bw_test_response_free(); strings are NUL-terminated.
 */
typedef struct {
    int               status;           /* 200; 0 when nothing was parsed */
    char              version[16];      /* "HTTP/1.1" */
    char             *reason;           /* "OK" */
    char             *raw;              /* every byte of this response as received */
    size_t            raw_len;
    size_t            head_len;         /* bytes of raw up to and including the blank line */
    bw_test_header_t *headers;          /* in received order */
    size_t            nheaders;
    bw_test_header_t *trailers;         /* chunked trailer fields */
    size_t            ntrailers;
    char             *body;             /* decoded (chunked framing removed) */
    size_t            body_len;
    bool              chunked;          /* Transfer-Encoding: chunked was decoded */
    bool              close_delimited;  /* no length: the body ran to the close */
    bool              complete;         /* false: the peer closed before the body ended */
    bool              closed;           /* the server closed the connection after it */
} bw_test_response_t;

/* Flags of bw_test_response_parse() and bw_test_conn_read_response_flags(). */
#define BW_TEST_RESP_HEAD  0x1          /* answer to HEAD: no body whatever the headers say */

/* A client connection that keeps unread bytes, for pipelining and keep-alive. */
typedef struct bw_test_conn_s {
    int    fd;
    int    port;
    char  *buf;                         /* received, not yet parsed */
    size_t len;
    size_t cap;
    bool   eof;                         /* the peer closed (or reset) its side */
} bw_test_conn_t;

/* --------------------------------------------------- paths, time, ports */

/* Path of the bulwark binary: $BW_TEST_BINARY or the compiled-in BW_TEST_BINARY. */
const char *bw_test_binary(void);
/* Path of the bw_origin binary: $BW_TEST_ORIGIN or the compiled-in BW_TEST_ORIGIN. */
const char *bw_test_origin_binary(void);
/* The source tree root (BW_TEST_SOURCE_DIR). */
const char *bw_test_source_dir(void);
/* Milliseconds on the monotonic clock. */
int64_t bw_test_now_ms(void);
void bw_test_sleep_ms(int ms);
/* ms multiplied by $BW_TEST_TIMEOUT_SCALE (default 1). */
int bw_test_timeout(int ms);
/*
 * Finds a free TCP port on 127.0.0.1 by binding port 0. Returns the port and,
 * when fd is not NULL, the still-bound (not listening) socket that keeps other
 * programs from taking it; close it just before the port is needed. -1 on error.
 */
int bw_test_free_port(int *fd);

/* ------------------------------------------------------- processes, runs */

/*
 * Runs argv (argv[0] searched in PATH when it has no '/') with stdin from
 * /dev/null, collects stdout and stderr interleaved into *out (malloc'd,
 * NUL-terminated; may be NULL to discard) and the exit code into *status
 * (128 + signal when killed). Killed after BW_TEST_TIMEOUT_MS. 0, or -1 when
 * the program could not be run or timed out.
 */
int bw_test_run(const char *const argv[], char **out, int *status);
/* Runs "cd dir && <printf-formatted command>" with sh; its stdout and stderr,
 * malloc'd (never NULL), and the exit status in *status when not NULL. */
char *bw_test_sh_in(const char *dir, int *status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* As bw_test_run() with stdout and stderr apart; either pointer may be NULL. */
int bw_test_run_split(const char *const argv[], char **out, char **err, int *status);
/* bw_test_run() of {"curl", args..., NULL}: bw_test_curl(&out, &st, "-s", url). */
int bw_test_curl_args(char **out, int *status, ...);
#define bw_test_curl(out, status, ...) \
    bw_test_curl_args(out, status, __VA_ARGS__, (const char *) NULL)

/* Live (not zombie) children of parent; fills up to max pids; returns the count. */
int bw_test_children(pid_t parent, pid_t *pids, int max);
/* True while pid exists and is not a zombie. */
bool bw_test_pid_alive(pid_t pid);
/* Waits until pid is gone (reaping it when it is our child). True if it went. */
bool bw_test_pid_wait_exit(pid_t pid, int timeout_ms);
/* True when pid descends from this test process (safe to signal). */
bool bw_test_pid_is_ours(pid_t pid);
/* The process title (/proc/pid/cmdline, NULs as spaces) into buf; -1 if gone. */
int bw_test_proc_title(pid_t pid, char *buf, size_t size);
/* Resident set size in KiB (VmRSS), or -1. */
long bw_test_proc_rss_kb(pid_t pid);

/* ------------------------------------------------------------- servers */

/*
 * Creates a fresh prefix (conf/, logs/, html/; conf/ seeded with the source
 * tree's conf/ files such as mime.types) and writes conf/bulwark.conf rendered
 * from conf_template. Placeholders, replaced everywhere in the template:
 *   %%PORT%% %%PORT1%%..%%PORT9%%   free 127.0.0.1 ports (held until launch)
 *   %%PREFIX%%                      the prefix directory, no trailing slash
 *   %%ORIGIN_PORT%%..%%ORIGIN_PORT9%%  ports of running origins, start order
 *   %%NO_PREAMBLE%%                 removed; disables the preamble below
 *   %%NAME%%                        any NAME given as a "NAME", "value" pair
 * Unless disabled, each of these main-level directives the template does not
 * set itself is prepended: daemon off; master_process on; worker_processes 1;
 * error_log logs/error.log info; pid logs/bulwark.pid; and events
 * { worker_connections 1024; } when there is no events block.
 * Extra arguments are NAME, value pairs; the macro ends the list.
 * NULL (and a message) on failure.
 */
bw_test_server_t *bw_test_server_prepare_vars(const char *conf_template, ...);
#define bw_test_server_prepare(...) \
    bw_test_server_prepare_vars(__VA_ARGS__, (const char *) NULL)
/*
 * Starts the binary of a prepared server: -p prefix/ -c conf, output to
 * logs/stderr.log; waits until %%PORT%% accepts a connection (or, with no
 * %%PORT%%, until the pid file appears). 0 when up; -1 when it exited or did
 * not come up in time (then killed; srv->exit_status, its logs stay readable).
 */
int bw_test_server_launch(bw_test_server_t *srv);
/* prepare + launch; on failure prints the logs, cleans up and returns NULL. */
bw_test_server_t *bw_test_server_start_vars(const char *conf_template, ...);
#define bw_test_server_start(...) \
    bw_test_server_start_vars(__VA_ARGS__, (const char *) NULL)
/*
 * Sends QUIT, waits (bounded) for the master and its workers to exit, then
 * KILLs what is left. Fails the running cmocka test when error.log or
 * stderr.log holds "[alert]", "AddressSanitizer", "runtime error:" or
 * "LeakSanitizer" (outside lines allowed with bw_test_server_allow()) or when
 * the master crashed. Removes the prefix unless BW_TEST_LEAVE=1, frees srv.
 */
void bw_test_server_stop(bw_test_server_t *srv);
/* Log lines containing text are not failures at stop (e.g. "exited on signal 9"). */
void bw_test_server_allow(bw_test_server_t *srv, const char *text);
/*
 * The check stop makes: counts the lines of logs/stderr.log and of every log
 * whose name holds "error" that show a bug and are not allowed, quoting the
 * first few into msg.
 */
int bw_test_server_bad_lines(bw_test_server_t *srv, char *msg, size_t size);

/* Renders conf_template (NULL: the last one) into conf/bulwark.conf. 0 or -1. */
int bw_test_server_write_conf(bw_test_server_t *srv, const char *conf_template);
/* The rendered text of conf_template for srv, malloc'd; NULL with a message on error. */
char *bw_test_conf_render(bw_test_server_t *srv, const char *conf_template);
/*
 * Rewrites the config (NULL: unchanged), sends HUP and waits until a worker
 * that did not exist before appears. False when none did in time (for example
 * because the new config was rejected).
 */
bool bw_test_server_reload(bw_test_server_t *srv, const char *conf_template);
/*
 * Runs the binary with -p and -c of this prefix plus args (NULL-terminated by
 * the macro), e.g. bw_test_server_run(srv, &out, &st, "-t"). See bw_test_run().
 */
int bw_test_server_run_args(bw_test_server_t *srv, char **out, int *status, ...);
#define bw_test_server_run(srv, out, status, ...) \
    bw_test_server_run_args(srv, out, status, __VA_ARGS__, (const char *) NULL)

/* The master's pid: from logs/bulwark.pid when readable, else srv->pid. */
pid_t bw_test_server_master_pid(bw_test_server_t *srv);
/* Sends sig to the master; 0 or -1. */
int bw_test_server_signal(bw_test_server_t *srv, int sig);
/* Live children of the master (workers, cache processes); returns the count. */
int bw_test_server_workers(bw_test_server_t *srv, pid_t *pids, int max);
/* Waits until the master has at least n live children. */
bool bw_test_server_wait_workers(bw_test_server_t *srv, int n, int timeout_ms);

/* "prefix/rel" in one of 8 rotating static buffers (valid for a few calls). */
const char *bw_test_server_path(bw_test_server_t *srv, const char *rel);
/* Writes data into prefix/rel, creating directories; 0 or -1. */
int bw_test_server_write_file(bw_test_server_t *srv, const char *rel, const char *data);
int bw_test_server_write_file_len(bw_test_server_t *srv, const char *rel,
                                  const void *data, size_t len);
/* prefix/rel, malloc'd and NUL-terminated (len may be NULL); NULL if unreadable. */
char *bw_test_server_read_file(bw_test_server_t *srv, const char *rel, size_t *len);
/* Occurrences of needle in prefix/rel (0 when the file is missing). */
int bw_test_server_file_count(bw_test_server_t *srv, const char *rel, const char *needle);
/* Occurrences of needle in logs/error.log. */
int bw_test_server_log_count(bw_test_server_t *srv, const char *needle);
/* Waits until logs/error.log holds needle at least count times. */
bool bw_test_server_log_wait(bw_test_server_t *srv, const char *needle, int count,
                             int timeout_ms);
/* Waits until prefix/rel holds needle at least count times. */
bool bw_test_server_file_wait(bw_test_server_t *srv, const char *rel, const char *needle,
                              int count, int timeout_ms);
/* Lines of logs/error.log matching the POSIX extended regex; -1 on a bad regex. */
int bw_test_server_log_grep(bw_test_server_t *srv, const char *regex);
/* Waits until a line of logs/error.log matches regex. */
bool bw_test_server_log_wait_re(bw_test_server_t *srv, const char *regex, int timeout_ms);

/* --------------------------------------------------------------- origin */

/*
 * Starts bw_origin on a free port with extra args (NULL-terminated by the
 * macro): bw_test_origin_start(&port, "-n", "a"). Stores the port in *port
 * when not NULL and lists the origin for %%ORIGIN_PORTn%%. NULL on failure.
 */
bw_test_origin_t *bw_test_origin_start_args(int *port, ...);
#define bw_test_origin_start(...) \
    bw_test_origin_start_args(__VA_ARGS__, (const char *) NULL)
/* SIGTERM, bounded wait (then KILL); fails the test unless it exited with 0. */
void bw_test_origin_stop(bw_test_origin_t *origin);
/* Asks the origin on port for its counters (GET /__origin/stats). 0 or -1. */
int bw_test_origin_stats(int port, long *requests, long *connections);
/* Byte `offset` of the body an origin sends for len=N ('a' + offset % 26). */
char bw_test_pattern_byte(uint64_t offset);
/* True when body[0..len) equals the pattern starting at offset. */
bool bw_test_pattern_check(const char *body, size_t len, uint64_t offset);

/* --------------------------------------------------------------- client */

/* A TCP connection to 127.0.0.1:port; fd or -1 after timeout_ms. */
int bw_test_connect(int port, int timeout_ms);
/* Writes all of data (no SIGPIPE); 0, or -1 when the peer is gone. */
int bw_test_send_all(int fd, const void *data, size_t len);
/*
 * Reads until the peer closes or timeout_ms passes without it: malloc'd,
 * NUL-terminated, length in *len; *closed (may be NULL) tells which.
 */
char *bw_test_recv_all(int fd, size_t *len, int timeout_ms, bool *closed);

bw_test_conn_t *bw_test_conn_open(int port);
int bw_test_conn_send(bw_test_conn_t *c, const void *data, size_t len);
int bw_test_conn_send_str(bw_test_conn_t *c, const char *data);
/*
 * Reads the next response of the stream (several may be pipelined), keeping
 * bytes that follow it. 0 when a status line and headers arrived (see
 * r->complete for the body), -1 on timeout, garbage or a close before any
 * response. r->closed is set when the peer has closed by the time it ends.
 */
int bw_test_conn_read_response(bw_test_conn_t *c, bw_test_response_t *r);
int bw_test_conn_read_response_flags(bw_test_conn_t *c, bw_test_response_t *r, int flags,
                                     int timeout_ms);
/* Waits for the peer to close; true if it did within timeout_ms. */
bool bw_test_conn_wait_closed(bw_test_conn_t *c, int timeout_ms);
void bw_test_conn_close(bw_test_conn_t *c);

/*
 * Sends raw (byte exact) on a new connection and reads one final response
 * (1xx interim responses are skipped, 101 is final). r->closed tells whether
 * the server closed afterwards: waited for up to BW_TEST_TIMEOUT_MS when the
 * response said "Connection: close" or had no length, else for 100 ms.
 * 0, or -1 when no response came.
 */
int bw_test_http_request(int port, const char *raw, bw_test_response_t *r);
int bw_test_http_request_len(int port, const void *raw, size_t len, bw_test_response_t *r);
/* "GET uri HTTP/1.1", Host: localhost, Connection: close. */
int bw_test_http_get(int port, const char *uri, bw_test_response_t *r);

/*
 * Parses one response from data[0..len). Returns 1 when r holds one (consumed
 * bytes in *consumed; r->complete false when eof cut its body short), 0 when
 * more bytes are needed (only when !eof), -1 on garbage or eof before a head.
 */
int bw_test_response_parse(const char *data, size_t len, bool eof, int flags,
                           bw_test_response_t *r, size_t *consumed);
/* First header named name (case-insensitive), or NULL. */
const char *bw_test_response_header(const bw_test_response_t *r, const char *name);
/* Number of headers named name. */
int bw_test_response_header_count(const bw_test_response_t *r, const char *name);
/* First trailer field named name, or NULL. */
const char *bw_test_response_trailer(const bw_test_response_t *r, const char *name);
void bw_test_response_free(bw_test_response_t *r);

/* ------------------------------------------ shared by the harness's files */

/*
 * Forks and execs argv with fds 0/1/2 from in/out/err (-1: /dev/null); the
 * child dies with the test process and inherits no other descriptor.
 * Returns the pid or -1.
 */
pid_t bw_test_proc_spawn(const char *const argv[], int in, int out, int err);
/*
 * Waits until pid is gone; when it was our child its wait status goes to
 * *status (else -1 there). True if it went within timeout_ms.
 */
bool bw_test_proc_reap(pid_t pid, int *status, int timeout_ms);
/* Sends sig to pid only when bw_test_pid_is_ours(pid); 0 or -1. */
int bw_test_proc_kill(pid_t pid, int sig);
/* Sends sig to the members of process group pgid that descend from us; returns how many. */
int bw_test_proc_kill_group(pid_t pgid, int sig);
/* Reads a whole file: malloc'd, NUL-terminated; NULL if unreadable. */
char *bw_test_file_read(const char *path, size_t *len);
/* Occurrences of needle in the file at path (0 when missing). */
int bw_test_file_count(const char *path, const char *needle);
/* Port of the origin in slot n (1-based, %%ORIGIN_PORTn%%), or 0 when none. */
int bw_test_origin_slot_port(int n);
/*
 * The first argument of the main-level directive `name` in conf text, copied
 * into buf (quotes removed). True when the directive is set at main level;
 * buf may be NULL to only ask whether it is there (blocks count: "events").
 */
bool bw_test_conf_main_directive(const char *conf, const char *name, char *buf, size_t size);

/* ------------------------------------------ prefix content (prefix_files.c) */

/* Sets the modification time of prefix/rel (a link itself, not its target); 0 or -1. */
int bw_test_server_set_mtime(bw_test_server_t *srv, const char *rel, time_t mtime);
/* bw_test_server_write_file_len(), then the modification time; 0 or -1. */
int bw_test_server_write_file_mtime(bw_test_server_t *srv, const char *rel, const void *data,
                                    size_t len, time_t mtime);
/* Writes size bytes of the origin's pattern (bw_test_pattern_byte) into prefix/rel; 0 or -1. */
int bw_test_server_write_pattern(bw_test_server_t *srv, const char *rel, size_t size);
/*
 * bw_test_server_prepare(), then data written into prefix/<dir><name> for
 * each of names[0..n) (dir is "" or ends in '/'), then launch. NULL (the
 * server stopped) on any failure.
 */
bw_test_server_t *bw_test_server_start_files(const char *conf_template, const char *dir,
                                             const char *const *names, size_t n,
                                             const char *data);

/* ---------------- configurations from a format (conf_check.c; fail the test) */

/* bw_test_server_start() of the printf-formatted text; fails the test if it does not start. */
bw_test_server_t *bw_test_server_start_fmt(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));
/*
 * Runs `-t` on the printf-formatted configuration in a fresh prefix: the
 * output (stdout and stderr, malloc'd: the caller frees it) and the exit
 * status in *status.
 */
char *bw_test_conf_test(int *status, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Fails the test unless `-t` of the formatted configuration exits 1 and says message. */
/*
 * Runs `-t` on "http {\n<http>\n}": unless it exits 1 with "<message> in
 * file:line" for the line holding "@@" (no mark: the http block's closing
 * brace), appends a description to failures[size] for the caller to report.
 */
void bw_test_conf_check_marked(const char *http, const char *message, char *failures,
                               size_t size);
void bw_test_conf_expect_error(const char *message, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* ------------------------- checked requests (http_assert.c; fail the test) */

/*
 * Sends "method target" with extra header lines (each ending in CRLF; may be
 * NULL) on a new connection and reads one response into r, as
 * bw_test_http_request(). HTTP/1.1 with "Host: host" and "Connection: close";
 * with host NULL, HTTP/1.0 without a Host header.
 */
void bw_test_http_request_host(int port, const char *method, const char *host,
                               const char *target, const char *extra, bw_test_response_t *r);
/*
 * Sends the raw request req on a new connection and reads one response (as
 * the answer to HEAD when req starts with "HEAD "), without waiting for the
 * close.
 */
void bw_test_http_exchange(int port, const char *req, bw_test_response_t *r);
/* The status of the response to the raw request req (bw_test_http_request()). */
int bw_test_http_status(int port, const char *req);
/*
 * GET target as bw_test_http_request_host() does; fails the test unless the
 * status is `status` and, when body is not NULL, the body is exactly body.
 */
void bw_test_expect_get(int port, const char *host, const char *target, int status,
                        const char *body);
/* Fails the test unless r has the header name with exactly value (value NULL: no such header). */
void bw_test_expect_header(const bw_test_response_t *r, const char *name, const char *value);

/* ------------------------------------------------------------------ dns */

/* A DNS server for tests: UDP on 127.0.0.1, answered by a thread of the test process. */
typedef struct bw_test_dns_s bw_test_dns_t;

/*
 * Details (harness/dns.c): a packet that is not a query with one question of
 * class IN is ignored (no reply, not counted). A name's mode applies to
 * queries of that name only, not to names reached through a CNAME. An alias
 * answers with its CNAME whatever records it has itself; chains are followed
 * up to 8 CNAMEs (a longer one or a loop: SERVFAIL); a chain ending at an
 * unknown name answers its CNAMEs with NXDOMAIN (RFC 6604). Replies are cut
 * to whole records within 512 bytes (TC is never set; there is no TCP).
 * Query counts survive bw_test_dns_forget().
 */

typedef enum {
    BW_TEST_DNS_ANSWER = 0, /* the records added for the name (NOERROR, maybe no answer
                               of the type asked) */
    BW_TEST_DNS_NXDOMAIN,   /* rcode 3 */
    BW_TEST_DNS_SERVFAIL,   /* rcode 2 */
    BW_TEST_DNS_REFUSED,    /* rcode 5 */
    BW_TEST_DNS_SILENT,     /* no reply at all */
} bw_test_dns_mode_t;

/* Starts the server on a free UDP port of 127.0.0.1, stored in *port. NULL on failure. */
bw_test_dns_t *bw_test_dns_start(int *port);
/* Stops the thread, closes the socket, frees everything. NULL is fine. */
void bw_test_dns_stop(bw_test_dns_t *dns);
/* Adds an address record for name (case-insensitive, no trailing dot needed):
 * an A record for "1.2.3.4", an AAAA record for an address with ':'. 0 or -1. */
int bw_test_dns_add(bw_test_dns_t *dns, const char *name, const char *addr, unsigned ttl);
/* Makes alias a CNAME of target: answers for alias carry the CNAME record and then
 * target's records of the type asked (as a recursive resolver answers). 0 or -1. */
int bw_test_dns_cname(bw_test_dns_t *dns, const char *alias, const char *target, unsigned ttl);
/* What the server does for queries of name from now on (default BW_TEST_DNS_ANSWER). 0 or -1. */
int bw_test_dns_mode(bw_test_dns_t *dns, const char *name, bw_test_dns_mode_t mode);
/* Removes every record and mode of name (later queries: NXDOMAIN, as for any unknown name). */
void bw_test_dns_forget(bw_test_dns_t *dns, const char *name);
/* Queries received so far for name (NULL: any name) and qtype (1 = A, 28 = AAAA, 0 = any). */
int bw_test_dns_queries(bw_test_dns_t *dns, const char *name, int qtype);

#endif
