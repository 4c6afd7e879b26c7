/*
 * request_body.c -- request bodies: reading one for a handler (into a
 * memory buffer of client_body_buffer_size, spilling to a temp file under
 * client_body_temp_path beyond that), or discarding one so the connection
 * can serve its next request; "100 Continue"; Content-Length and chunked
 * framing; client_max_body_size (413).
 *
 * Bytes that arrived with the head (r->header_in after the head) are used
 * first. A Content-Length body is read directly into its buffer, never
 * past its end. A chunked body is read into the spare room of r->header_in
 * and decoded from there, so bytes past the body's end stay in r->header_in
 * for a pipelined request, as after a head.
 *
 * State: r->request_body (request.h); its `chunked` pointer holds the
 * engine's bw_http_body_t below (the chunked decoder and the temp file).
 */
#include "request_internal.h"

#include "clock.h"
#include "cycle.h"
#include "log.h"
#include "pool.h"
#include "timer.h"

#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

/* Room below which r->header_in is swapped for a large buffer to read a
 * chunked body into. */
#define BW_HTTP_BODY_RAW_MIN 2048
/* Stack buffer for discarding a Content-Length body. */
#define BW_HTTP_DISCARD_CHUNK 4096
/* client_body_in_file_only values. */
#define BW_HTTP_BODY_FILE_OFF   0
#define BW_HTTP_BODY_FILE_ON    1 /* keep the file after the request */
#define BW_HTTP_BODY_FILE_CLEAN 2

typedef struct {
    bw_http_chunked_t chunked;   /* decoder (chunked bodies) */
    u_char           *head_end;  /* in r->header_in: bytes before it are the head's */
    bw_file_t         file;      /* the temp file, fd -1 until the body spills */
    off_t             file_size; /* bytes written to it */
} bw_http_body_t;

/* What the temp file's cleanup needs once the request is gone. */
typedef struct {
    int   fd;
    char *name;
    bool  keep;
} bw_http_body_temp_t;

static void bw_http_read_body_handler(bw_http_request_t *r);
static bw_int_t bw_http_body_feed_bytes(bw_http_request_t *r, u_char **pos, u_char *last,
                                        bool discard, bw_http_request_body_t *rb,
                                        bw_http_body_t *st, off_t max);

static bw_http_body_t *
bw_http_body_state(bw_http_request_t *r)
{
    return r->request_body->chunked;
}

/* ---------------------------------------------------------- 100-continue */

bw_rc_t
bw_http_test_expect(bw_http_request_t *r)
{
    static const char line[] = "HTTP/1.1 100 Continue\r\n\r\n";
    bw_http_header_t *expect = r->headers_in.expect;

    if (r->expect_tested || expect == NULL || r->http_version < BW_HTTP_VERSION_11) {
        return BW_OK;
    }
    r->expect_tested = 1;
    if (expect->value.len != sizeof("100-continue") - 1
        || bw_strncasecmp(expect->value.data, (const u_char *) "100-continue",
                          expect->value.len) != 0) {
        return BW_OK;
    }
    /* one small packet on a fresh socket: it goes out at once or not at all */
    ssize_t n = r->connection->send(r->connection, (const u_char *) line, sizeof(line) - 1);
    if (n == (ssize_t) sizeof(line) - 1) {
        return BW_OK;
    }
    r->connection->error = 1;
    return BW_ERROR;
}

/* -------------------------------------------------------------- set up */

/* Creates r->request_body and its state. BW_OK or BW_ERROR (no memory). */
static bw_rc_t
bw_http_body_create(bw_http_request_t *r)
{
    bw_http_request_body_t *rb = bw_pcalloc(r->pool, sizeof(*rb));
    bw_http_body_t *st = bw_pcalloc(r->pool, sizeof(*st));
    if (rb == NULL || st == NULL) {
        return BW_ERROR;
    }
    rb->temp_fd = -1;
    rb->rest = r->headers_in.chunked ? -1 : r->headers_in.content_length_n;
    rb->chunked = st;
    st->file.fd = -1;
    st->head_end = r->header_in ? r->header_in->pos : NULL;
    r->request_body = rb;
    return BW_OK;
}

/* ------------------------------------------------------------ temp file */

static void
bw_http_body_temp_cleanup(void *data)
{
    bw_http_body_temp_t *t = data;

    if (t->fd != -1) {
        close(t->fd);
    }
    if (!t->keep) {
        unlink(t->name);
    }
}

/*
 * Creates every missing directory of `path` (NUL-terminated). The master
 * creates client_body_temp_path at start (cycle->paths); this covers a path
 * removed since, when the worker's user may write there.
 */
static void
bw_http_body_mkdir(char *path, bw_log_t *log)
{
    for (char *p = path + 1; *p; p++) {
        if (*p == '/') {
            *p = '\0';
            mkdir(path, 0700);
            *p = '/';
        }
    }
    if (mkdir(path, 0700) == -1 && errno != EEXIST) {
        bw_log_error(BW_LOG_CRIT, log, errno, "mkdir() \"%s\" failed", path);
    }
}

/* Opens a new temp file in client_body_temp_path. BW_OK or BW_ERROR. */
static bw_rc_t
bw_http_body_temp_open(bw_http_request_t *r)
{
    static uint32_t seq;
    bw_http_core_loc_conf_t *clcf = bw_http_core_loc(r);
    bw_http_body_t *st = bw_http_body_state(r);
    bw_str_t dir = clcf->client_body_temp_path;
    bw_log_t *log = r->connection->log;
    char *name = bw_pnalloc(r->pool, dir.len + sizeof("/0000000000"));
    bw_pool_cleanup_t *cln = bw_pool_cleanup_add(r->pool, sizeof(bw_http_body_temp_t));
    bool made = false;
    int fd = -1;

    if (name == NULL || cln == NULL) {
        return BW_ERROR;
    }
    if (seq == 0) {
        seq = (uint32_t) getpid() * 1000u;
    }
    for (int tries = 0; tries < 100 && fd == -1; tries++) {
        snprintf(name, dir.len + sizeof("/0000000000"), "%.*s/%010u", BW_STR_ARG(dir),
                 (unsigned) (++seq % 1000000000u));
        fd = open(name, O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, 0600);
        if (fd != -1 || errno == EEXIST) {
            continue;
        }
        if (errno != ENOENT || made) {
            bw_log_error(BW_LOG_CRIT, log, errno, "open() \"%s\" failed", name);
            return BW_ERROR;
        }
        char *d = bw_pstrz(r->pool, &dir);
        if (d == NULL) {
            return BW_ERROR;
        }
        bw_http_body_mkdir(d, log);
        made = true;
    }
    if (fd == -1) {
        bw_log_error(BW_LOG_CRIT, log, EEXIST, "open() \"%s\" failed", name);
        return BW_ERROR;
    }
    bw_http_body_temp_t *t = cln->data;
    t->fd = fd;
    t->name = name;
    t->keep = clcf->client_body_in_file_only == BW_HTTP_BODY_FILE_ON;
    cln->handler = bw_http_body_temp_cleanup;

    st->file.fd = fd;
    st->file.name.data = (u_char *) name;
    st->file.name.len = strlen(name);
    st->file.log = log;
    r->request_body->temp_fd = fd;
    r->request_body->temp_path = st->file.name;
    bw_log_error(BW_LOG_WARN, log, 0, "a client request body is buffered to a temporary file %s",
                 name);
    return BW_OK;
}

/* Writes the memory buffer's bytes to the temp file and empties it. */
static bw_rc_t
bw_http_body_spill(bw_http_request_t *r)
{
    bw_http_request_body_t *rb = r->request_body;
    bw_http_body_t *st = bw_http_body_state(r);
    bw_buf_t *b = rb->buf;

    if (st->file.fd == -1 && bw_http_body_temp_open(r) != BW_OK) {
        return BW_ERROR;
    }
    while (b->pos < b->last) {
        ssize_t n = pwrite(st->file.fd, b->pos, (size_t) (b->last - b->pos), st->file_size);
        if (n == -1 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            bw_log_error(BW_LOG_CRIT, r->connection->log, errno, "pwrite() \"%s\" failed",
                         (char *) st->file.name.data);
            return BW_ERROR;
        }
        b->pos += n;
        st->file_size += n;
    }
    b->pos = b->last = b->start;
    return BW_OK;
}

/* ----------------------------------------------------------- storing */

/* The body's memory buffer: client_body_buffer_size, or less for a short
 * Content-Length body. NULL on no memory. */
static bw_buf_t *
bw_http_body_buffer(bw_http_request_t *r)
{
    bw_http_request_body_t *rb = r->request_body;
    if (rb->buf) {
        return rb->buf;
    }
    size_t size = bw_http_core_loc(r)->client_body_buffer_size;
    if (!r->headers_in.chunked && r->headers_in.content_length_n < (off_t) size) {
        size = (size_t) r->headers_in.content_length_n;
    }
    rb->buf = bw_buf_create_temp(r->pool, size ? size : 1);
    return rb->buf;
}

/* Appends decoded body bytes, spilling to the temp file when full. */
static bw_int_t
bw_http_body_store(bw_http_request_t *r, const u_char *p, size_t len)
{
    bw_buf_t *b = bw_http_body_buffer(r);
    if (b == NULL) {
        return 500;
    }
    while (len) {
        if (b->last == b->end && bw_http_body_spill(r) != BW_OK) {
            return 500;
        }
        size_t n = bw_min(len, (size_t) (b->end - b->last));
        memcpy(b->last, p, n);
        b->last += n;
        p += n;
        len -= n;
    }
    return BW_OK;
}

/*
 * Feeds received bytes [*pos, last) to the body, advancing *pos. Returns
 * BW_AGAIN (more to come), BW_DONE (the body is complete; *pos is past
 * it), or the status to answer (413, 400, 500). Discarding drops the data
 * and checks no size limit (nginx does not either).
 */
static bw_int_t
bw_http_body_feed(bw_http_request_t *r, u_char **pos, u_char *last, bool discard)
{
    bw_http_request_body_t *rb = r->request_body;
    bw_http_body_t *st = bw_http_body_state(r);
    off_t max = bw_http_core_loc(r)->client_max_body_size;
    u_char *start = *pos;
    bw_int_t rc = bw_http_body_feed_bytes(r, pos, last, discard, rb, st, max);
    if (!discard) {
        r->request_length += *pos - start; /* a read body counts, a discarded one not (nginx) */
    }
    return rc;
}

static bw_int_t
bw_http_body_feed_bytes(bw_http_request_t *r, u_char **pos, u_char *last, bool discard,
                        bw_http_request_body_t *rb, bw_http_body_t *st, off_t max)
{
    if (!r->headers_in.chunked) {
        size_t n = (size_t) bw_min((off_t) (last - *pos), rb->rest);
        if (!discard) {
            bw_int_t rc = bw_http_body_store(r, *pos, n);
            if (rc != BW_OK) {
                return rc;
            }
        }
        *pos += n;
        rb->rest -= (off_t) n;
        rb->received += (off_t) n;
        return rb->rest == 0 ? BW_DONE : BW_AGAIN;
    }
    for (;;) {
        bw_rc_t rc = bw_http_parse_chunked(&st->chunked, pos, last);
        if (rc > 0) {
            bw_log_error(BW_LOG_INFO, r->connection->log, 0, "client sent invalid chunked body");
            return 400;
        }
        if (!discard && max && st->chunked.total > max) {
            bw_log_error(BW_LOG_ERR, r->connection->log, 0,
                         "client intended to send too large chunked body: %lld+%lld bytes",
                         (long long) rb->received, (long long) (st->chunked.total - rb->received));
            return 413;
        }
        if (rc == BW_DONE) {
            rb->rest = 0;
            return BW_DONE;
        }
        if (rc == BW_AGAIN) {
            return BW_AGAIN;
        }
        if (!discard) {
            bw_int_t src = bw_http_body_store(r, st->chunked.data, st->chunked.data_len);
            if (src != BW_OK) {
                return src;
            }
        }
        rb->received += (off_t) st->chunked.data_len;
    }
}

/*
 * Makes room in r->header_in for raw chunked bytes: the bytes already
 * decoded after the head are dropped; a buffer with too little room left is
 * replaced by a large buffer (the head stays where it is).
 */
static bw_rc_t
bw_http_body_raw_room(bw_http_request_t *r)
{
    bw_http_body_t *st = bw_http_body_state(r);
    bw_buf_t *b = r->header_in;

    if (b->end - b->last >= BW_HTTP_BODY_RAW_MIN) {
        return BW_OK;
    }
    if (b->pos > st->head_end) {
        size_t n = (size_t) (b->last - b->pos);
        memmove(st->head_end, b->pos, n);
        b->pos = st->head_end;
        b->last = b->pos + n;
    }
    if (b->end - b->last >= BW_HTTP_BODY_RAW_MIN) {
        return BW_OK;
    }
    bw_buf_t *nb = bw_http_large_buffer_get(r->http_connection, true);
    if (nb == NULL) {
        return b->last < b->end ? BW_OK : BW_ERROR;
    }
    size_t n = (size_t) (b->last - b->pos);
    memcpy(nb->start, b->pos, n);
    b->pos = b->last;
    nb->last = nb->start + n;
    r->header_in = nb;
    st->head_end = nb->start;
    return BW_OK;
}

/* ------------------------------------------------------------ reading */

/* The body is complete: hand it over as rb->bufs and call the handler. */
static void
bw_http_body_finish(bw_http_request_t *r)
{
    bw_http_request_body_t *rb = r->request_body;
    bw_http_body_t *st = bw_http_body_state(r);
    bw_connection_t *c = r->connection;
    bool to_file = st->file.fd != -1
                   || bw_http_core_loc(r)->client_body_in_file_only != BW_HTTP_BODY_FILE_OFF;
    bw_buf_t *b = NULL;

    r->reading_body = 0;
    r->read_event_handler = bw_http_block_reading;
    if (c->read->timer_set) {
        bw_event_del_timer(c->read);
    }
    if (to_file && rb->buf == NULL && bw_http_body_buffer(r) == NULL) {
        bw_http_finalize_request(r, 500);
        return;
    }
    if (to_file) {
        if (bw_http_body_spill(r) != BW_OK || (b = bw_buf_calloc(r->pool)) == NULL) {
            bw_http_finalize_request(r, 500);
            return;
        }
        b->in_file = 1;
        b->file = &st->file;
        b->file_pos = 0;
        b->file_last = st->file_size;
    } else {
        b = rb->buf;
    }
    if (b) {
        b->last_buf = 1;
        b->last_in_chain = 1;
        rb->bufs = bw_chain_alloc_link(r->pool);
        if (rb->bufs == NULL) {
            bw_http_finalize_request(r, 500);
            return;
        }
        rb->bufs->buf = b;
        rb->bufs->next = NULL;
    }
    rb->post_handler(r);
}

/*
 * Reads the rest of the body from the socket. BW_OK: complete, the post
 * handler was called. BW_AGAIN: waiting (client_body_timeout armed). Else
 * the status to answer.
 */
static bw_int_t
bw_http_body_read(bw_http_request_t *r)
{
    bw_http_request_body_t *rb = r->request_body;
    bw_connection_t *c = r->connection;

    for (;;) {
        ssize_t n;
        bw_int_t rc = BW_AGAIN;

        if (r->headers_in.chunked) {
            if (bw_http_body_raw_room(r) != BW_OK) {
                return 500;
            }
            bw_buf_t *b = r->header_in;
            n = c->read->ready ? c->recv(c, b->last, (size_t) (b->end - b->last)) : BW_AGAIN;
            if (n > 0) {
                b->last += n;
                rc = bw_http_body_feed(r, &b->pos, b->last, false);
            }
        } else {
            bw_buf_t *b = bw_http_body_buffer(r);
            if (b == NULL || (b->last == b->end && bw_http_body_spill(r) != BW_OK)) {
                return 500;
            }
            size_t size = (size_t) bw_min((off_t) (b->end - b->last), rb->rest);
            n = c->read->ready ? c->recv(c, b->last, size) : BW_AGAIN;
            if (n > 0) {
                b->last += n;
                rb->rest -= n;
                rb->received += n;
                r->request_length += n;
                rc = rb->rest == 0 ? BW_DONE : BW_AGAIN;
            }
        }
        if (n > 0) {
            if (rc == BW_DONE) {
                bw_http_body_finish(r);
                return BW_OK;
            }
            if (rc != BW_AGAIN) {
                return rc;
            }
            continue;
        }
        if (n == BW_AGAIN) {
            bw_event_add_timer(c->read, bw_http_core_loc(r)->client_body_timeout);
            return BW_AGAIN;
        }
        if (n == 0) {
            bw_log_error(BW_LOG_INFO, c->log, 0, "client prematurely closed connection");
        }
        c->error = 1;
        return 400;
    }
}

static void
bw_http_read_body_handler(bw_http_request_t *r)
{
    bw_connection_t *c = r->connection;

    if (c->read->timedout) {
        /* nginx closes without an answer and logs 408 */
        c->timedout = 1;
        bw_http_terminate_request(r, 408);
        return;
    }
    bw_int_t rc = bw_http_body_read(r);
    if (rc != BW_OK && rc != BW_AGAIN) {
        bw_http_finalize_request(r, rc);
    }
}

bw_int_t
bw_http_read_client_request_body(bw_http_request_t *r,
                                 void (*post_handler)(bw_http_request_t *r))
{
    bw_int_t rc;

    r->main->count++;
    if (r != r->main || r->request_body || r->discard_body) {
        post_handler(r);
        return BW_OK;
    }
    if (bw_http_test_expect(r) != BW_OK || bw_http_body_create(r) != BW_OK) {
        rc = 500;
        goto failed;
    }
    r->request_body->post_handler = post_handler;
    off_t length = r->headers_in.content_length_n;
    if (!r->headers_in.chunked && length <= 0) {
        bw_http_body_finish(r);
        return BW_OK;
    }
    off_t max = bw_http_core_loc(r)->client_max_body_size;
    if (!r->headers_in.chunked && max && length > max) {
        bw_log_error(BW_LOG_ERR, r->connection->log, 0,
                     "client intended to send too large body: %lld bytes", (long long) length);
        rc = 413;
        goto failed;
    }
    r->reading_body = 1;
    bw_buf_t *hb = r->header_in;
    if (!r->headers_in.chunked && hb->last - hb->pos >= length) {
        /* all of it came with the head: use it where it is */
        bw_buf_t *b = bw_buf_calloc(r->pool);
        if (b == NULL) {
            rc = 500;
            goto failed;
        }
        b->temporary = 1;
        b->start = b->pos = hb->pos;
        b->end = b->last = hb->pos + length;
        hb->pos += length;
        r->request_length += length;
        r->request_body->buf = b;
        r->request_body->rest = 0;
        r->request_body->received = length;
        bw_http_body_finish(r);
        return BW_OK;
    }
    rc = bw_http_body_feed(r, &hb->pos, hb->last, false);
    if (rc == BW_DONE) {
        bw_http_body_finish(r);
        return BW_OK;
    }
    if (rc != BW_AGAIN) {
        goto failed;
    }
    r->read_event_handler = bw_http_read_body_handler;
    r->write_event_handler = bw_http_request_empty_handler;
    rc = bw_http_body_read(r);
    if (rc == BW_OK || rc == BW_AGAIN) {
        return rc;
    }

failed:
    r->main->count--;
    return rc;
}

/* ---------------------------------------------------------- discarding */

/*
 * Reads and drops body bytes until the socket would block. BW_DONE when the
 * body is over, BW_AGAIN, or a status (400 for bad chunked framing or a
 * closed connection).
 */
static bw_int_t
bw_http_discard_read(bw_http_request_t *r)
{
    bw_connection_t *c = r->connection;
    u_char buf[BW_HTTP_DISCARD_CHUNK];

    for (;;) {
        ssize_t n;
        bw_int_t rc;

        if (r->headers_in.chunked) {
            if (bw_http_body_raw_room(r) != BW_OK) {
                return 500;
            }
            bw_buf_t *b = r->header_in;
            n = c->read->ready ? c->recv(c, b->last, (size_t) (b->end - b->last)) : BW_AGAIN;
            if (n <= 0) {
                goto ended;
            }
            b->last += n;
            rc = bw_http_body_feed(r, &b->pos, b->last, true);
        } else {
            size_t size = (size_t) bw_min((off_t) sizeof(buf), r->request_body->rest);
            n = c->read->ready ? c->recv(c, buf, size) : BW_AGAIN;
            if (n <= 0) {
                goto ended;
            }
            u_char *p = buf;
            rc = bw_http_body_feed(r, &p, buf + n, true);
        }
        if (rc != BW_AGAIN) {
            return rc;
        }
        continue;

    ended:
        if (n == BW_AGAIN) {
            return BW_AGAIN;
        }
        c->error = 1;
        return 400;
    }
}

bw_int_t
bw_http_discard_request_body(bw_http_request_t *r)
{
    bw_connection_t *c = r->connection;

    if (r != r->main || r->discard_body || r->request_body) {
        return BW_OK;
    }
    if (bw_http_test_expect(r) != BW_OK) {
        return 500;
    }
    if (c->read->timer_set) {
        bw_event_del_timer(c->read);
    }
    if (r->headers_in.content_length_n <= 0 && !r->headers_in.chunked) {
        return BW_OK;
    }
    if (bw_http_body_create(r) != BW_OK) {
        return 500;
    }
    bw_buf_t *b = r->header_in;
    bw_int_t rc = bw_http_body_feed(r, &b->pos, b->last, true);
    if (rc == BW_AGAIN) {
        rc = bw_http_discard_read(r);
    }
    if (rc == BW_DONE) {
        r->lingering_close = 0;
        return BW_OK;
    }
    if (rc != BW_AGAIN) {
        return rc;
    }
    /* the rest comes later: keep the request until it is read */
    r->count++;
    r->discard_body = 1;
    r->read_event_handler = bw_http_discarded_body_handler;
    return BW_OK;
}

void
bw_http_discarded_body_handler(bw_http_request_t *r)
{
    bw_connection_t *c = r->connection;
    bw_event_t *rev = c->read;
    bw_msec_t left = 0;

    if (rev->timedout) {
        c->error = 1; /* lingering_timeout: nothing came, close */
        bw_http_finalize_request(r, BW_ERROR);
        return;
    }
    if (r->lingering_time) {
        left = r->lingering_time - bw_time.monotonic;
        if (left <= 0) {
            r->discard_body = 0;
            r->lingering_close = 0;
            bw_http_finalize_request(r, BW_ERROR);
            return;
        }
    }
    bw_int_t rc = bw_http_discard_read(r);
    if (rc == BW_DONE) {
        r->discard_body = 0;
        r->lingering_close = 0;
        r->lingering_time = 0;
        if (rev->timer_set) {
            bw_event_del_timer(rev);
        }
        bw_http_finalize_request(r, BW_DONE);
        return;
    }
    if (rc != BW_AGAIN) {
        c->error = 1;
        bw_http_finalize_request(r, BW_ERROR);
        return;
    }
    if (left) {
        bw_event_add_timer(rev, bw_min(left, bw_http_core_loc(r)->lingering_timeout));
    }
}
