/*
 * test_header_filter.c -- the response head as http/header_filter.c writes
 * it (status lines and nginx's reason phrases, header order, Server tokens,
 * Date, charset, Content-Length, Last-Modified, relative Location made
 * absolute, Connection / Keep-Alive, deleted headers, HEAD / 204 / 304 /
 * HTTP/0.9 rules), the write filter (postpone_output, backpressure,
 * sendfile off) and the chunked module (chunk framing, trailers, HTTP/1.0
 * close-delimited bodies), on a hand-built request whose connection
 * captures what would go to the socket.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cmocka.h>

#include "clock.h"
#include "pool.h"
#include "request_internal.h"
#include "timer.h"

#define BW_TH_CONFS 64
#define BW_TH_OUT   (256 * 1024)

typedef struct {
    bw_pool_t               *cpool;
    bw_conf_ctx_t            ctx;
    void                    *main_conf[BW_TH_CONFS];
    void                    *srv_conf[BW_TH_CONFS];
    void                    *loc_conf[BW_TH_CONFS];
    void                    *rctx[BW_TH_CONFS];
    bw_http_core_srv_conf_t  cscf;
    bw_http_core_loc_conf_t  clcf;
    bw_log_t                 log;
    bw_event_t               rev, wev;
    bw_connection_t          c;
    bw_http_connection_t     hc;
    struct sockaddr_in       local;
    bw_http_request_t       *r;
    /* the capture */
    char                     out[BW_TH_OUT];
    size_t                   nout;
    size_t                   per_call;    /* 0: take everything */
    int                      calls;
    bw_http_header_filter_fn header_next[BW_TH_CONFS];
    bw_http_body_filter_fn   body_next[BW_TH_CONFS];
} bw_th_t;

static bw_th_t *bw_th;

/* The fake socket: takes up to per_call bytes of memory and file buffers. */
static bw_chain_t *
bw_th_send_chain(bw_connection_t *c, bw_chain_t *in, off_t limit)
{
    size_t room = bw_th->per_call ? bw_th->per_call : BW_TH_OUT;

    bw_th->calls++;
    for (; in; in = in->next) {
        bw_buf_t *b = in->buf;
        if (bw_buf_special(b)) {
            continue;
        }
        if (bw_buf_in_memory(b)) {
            size_t n = bw_min((size_t) (b->last - b->pos), room);
            assert_true(bw_th->nout + n <= BW_TH_OUT);
            memcpy(bw_th->out + bw_th->nout, b->pos, n);
            bw_th->nout += n;
            b->pos += n;
            room -= n;
            c->sent += (off_t) n;
            if (b->pos < b->last) {
                c->write->ready = 0;
                return in;
            }
            continue;
        }
        fail_msg("a file buffer reached the socket with sendfile off");
    }
    return NULL;
}

static bw_rc_t
bw_th_body_capture(bw_http_request_t *r, bw_chain_t *in)
{
    return bw_http_write_filter(r, in);
}

static int
bw_th_setup(void **state)
{
    bw_th_t *t = calloc(1, sizeof(bw_th_t));
    assert_non_null(t);
    bw_th = t;
    bw_module_init();
    bw_time_update();
    bw_event_timer_init();
    assert_true(bw_modules_n < BW_TH_CONFS);

    t->cpool = bw_pool_create(1024, &bw_log_stderr_log);
    t->log = bw_log_stderr_log;
    t->log.level = BW_LOG_ERR;
    t->cscf.client_header_buffer_size = 1024;
    t->cscf.large_client_header_buffers_num = 4;
    t->cscf.large_client_header_buffers_size = 8192;
    bw_str_set(&t->cscf.server_name, "localhost");
    t->cscf.ctx = &t->ctx;
    t->clcf.postpone_output = 1460;
    t->clcf.server_tokens = 1;
    t->clcf.keepalive_timeout = 75000;
    t->clcf.keepalive_requests = 1000;
    t->clcf.keepalive_time = 3600000;
    t->clcf.keepalive_disable = BW_HTTP_KEEPALIVE_DISABLE_MSIE6;
    t->clcf.absolute_redirect = 1;
    t->clcf.port_in_redirect = 1;
    t->clcf.chunked_transfer_encoding = 1;
    t->clcf.send_timeout = 60000;
    t->ctx.main_conf = t->main_conf;
    t->ctx.srv_conf = t->srv_conf;
    t->ctx.loc_conf = t->loc_conf;
    t->srv_conf[bw_http_core_module.index] = &t->cscf;
    t->loc_conf[bw_http_core_module.index] = &t->clcf;

    t->local.sin_family = AF_INET;
    t->local.sin_port = htons(8080);
    t->local.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    t->c.fd = -1;
    t->c.read = &t->rev;
    t->c.write = &t->wev;
    t->rev.data = &t->c;
    t->wev.data = &t->c;
    t->wev.write = 1;
    t->wev.ready = 1;
    t->c.log = &t->log;
    t->c.pool = t->cpool;
    t->c.send_chain = bw_th_send_chain;
    t->c.local_sockaddr = (struct sockaddr *) &t->local;
    t->c.local_socklen = sizeof(t->local);
    t->c.requests = 1;
    t->c.data = &t->hc;
    t->c.tcp_nodelay = BW_TCP_NODELAY_DISABLED;
    t->hc.connection = &t->c;
    t->hc.conf = t->ctx;
    t->hc.start_msec = bw_time.monotonic;

    bw_pool_t *pool = bw_pool_create(4096, &t->log);
    bw_http_request_t *r = bw_pcalloc(pool, sizeof(*r));
    assert_non_null(r);
    r->pool = pool;
    r->connection = &t->c;
    r->main = r;
    r->http_connection = &t->hc;
    r->main_conf = t->main_conf;
    r->srv_conf = t->srv_conf;
    r->loc_conf = t->loc_conf;
    r->ctx = t->rctx;
    r->count = 1;
    r->method = BW_HTTP_GET;
    r->http_version = BW_HTTP_VERSION_11;
    r->keepalive = 1;
    r->headers_out.status = 200;
    r->headers_out.content_length_n = -1;
    r->headers_out.last_modified_time = -1;
    assert_int_equal(bw_array_init(&r->headers_out.headers, pool, 8, sizeof(bw_http_header_t)),
                     BW_OK);
    assert_int_equal(bw_array_init(&r->headers_out.trailers, pool, 2, sizeof(bw_http_header_t)),
                     BW_OK);
    assert_int_equal(bw_array_init(&r->headers_in.headers, pool, 8, sizeof(bw_http_header_t)),
                     BW_OK);
    t->r = r;

    /* chains as the core wires them: chunked -> header filter -> write filter */
    bw_http_header_next = t->header_next;
    bw_http_body_next = t->body_next;
    t->header_next[bw_chunked_module.index] =
        ((const bw_http_module_t *) bw_http_header_filter_module.ctx)->header_filter;
    t->body_next[bw_chunked_module.index] = bw_th_body_capture;
    *state = t;
    return 0;
}

static int
bw_th_teardown(void **state)
{
    bw_th_t *t = *state;
    bw_pool_destroy(t->r->pool);
    bw_pool_destroy(t->cpool);
    free(t);
    return 0;
}

/* ---- helpers ---- */

static bw_rc_t
bw_th_send_head(bw_th_t *t)
{
    const bw_http_module_t *hf = bw_http_header_filter_module.ctx;
    return hf->header_filter(t->r);
}

static bw_rc_t
bw_th_send_head_chunked(bw_th_t *t)
{
    const bw_http_module_t *m = bw_chunked_module.ctx;
    return m->header_filter(t->r);
}

static bw_rc_t
bw_th_body(bw_th_t *t, const char *text, bool last)
{
    bw_buf_t *b = bw_buf_calloc(t->r->pool);
    bw_chain_t *cl = bw_chain_alloc_link(t->r->pool);
    b->memory = 1;
    b->pos = b->start = (u_char *) text;
    b->last = b->end = (u_char *) text + strlen(text);
    b->last_buf = last;
    cl->buf = b;
    cl->next = NULL;
    const bw_http_module_t *m = bw_chunked_module.ctx;
    return m->body_filter(t->r, cl);
}

static void
bw_th_add(bw_th_t *t, const char *key, const char *value)
{
    bw_str_t k = {strlen(key), (u_char *) key}, v = {strlen(value), (u_char *) value};
    assert_non_null(bw_http_add_header_out(t->r, &k, &v));
}

static const char *
bw_th_out(bw_th_t *t)
{
    t->out[t->nout] = '\0';
    return t->out;
}

/* Asserts that the captured head equals `expect` with "DATE" for the date. */
static void
bw_th_expect_head(bw_th_t *t, const char *expect)
{
    char want[4096];
    const char *d = strstr(expect, "DATE");
    assert_non_null(d);
    snprintf(want, sizeof(want), "%.*s%s%s", (int) (d - expect), expect, (char *) bw_time.http,
             d + 4);
    assert_string_equal(bw_th_out(t), want);
}

/* ---- status lines ---- */

static void
test_reason_phrases_are_nginx_ones(void **state)
{
    assert_string_equal(bw_http_status_text(200), "OK");
    assert_string_equal(bw_http_status_text(302), "Moved Temporarily");
    assert_string_equal(bw_http_status_text(405), "Not Allowed");
    assert_string_equal(bw_http_status_text(408), "Request Time-out");
    assert_string_equal(bw_http_status_text(414), "Request-URI Too Large");
    assert_string_equal(bw_http_status_text(429), "Too Many Requests");
    assert_string_equal(bw_http_status_text(503), "Service Temporarily Unavailable");
    assert_string_equal(bw_http_status_text(504), "Gateway Time-out");
    assert_string_equal(bw_http_status_text(507), "Insufficient Storage");
    assert_null(bw_http_status_text(203));
    assert_null(bw_http_status_text(418));
    assert_null(bw_http_status_text(506));
    assert_null(bw_http_status_text(600));
    assert_null(bw_http_status_text(100));
}

static void
test_head_minimal_keepalive_order(void **state)
{
    bw_th_t *t = *state;
    t->r->headers_out.content_length_n = 5;
    bw_str_set(&t->r->headers_out.content_type, "text/plain");
    t->r->header_only = 1; /* flush the head now */
    assert_int_equal(bw_th_send_head(t), BW_OK);
    bw_th_expect_head(t, "HTTP/1.1 200 OK\r\nServer: bulwark/" BW_VERSION "\r\nDate: DATE\r\n"
                         "Content-Type: text/plain\r\nContent-Length: 5\r\n"
                         "Connection: keep-alive\r\n\r\n");
    assert_true(t->r->header_sent);
    assert_int_equal(t->r->header_size, (off_t) t->nout);
}

static void
test_unknown_status_has_bare_code_and_status_line_overrides(void **state)
{
    bw_th_t *t = *state;
    t->r->headers_out.status = 418;
    t->r->header_only = 1;
    t->r->keepalive = 0;
    t->clcf.server_tokens = 0;
    assert_int_equal(bw_th_send_head(t), BW_OK);
    bw_th_expect_head(t, "HTTP/1.1 418 \r\nServer: bulwark\r\nDate: DATE\r\n"
                         "Connection: close\r\n\r\n");

    t->nout = 0;
    t->r->header_sent = 0;
    t->rctx[bw_http_write_filter_module.index] = NULL; /* a fresh response */
    bw_str_set(&t->r->headers_out.status_line, "299 Custom Thing");
    assert_int_equal(bw_th_send_head(t), BW_OK);
    assert_memory_equal(bw_th_out(t), "HTTP/1.1 299 Custom Thing\r\n", 27);
}

static void
test_fixed_headers_then_list_in_order_skipping_deleted(void **state)
{
    bw_th_t *t = *state;
    bw_http_request_t *r = t->r;
    r->headers_out.content_length_n = 10;
    r->headers_out.last_modified_time = 0;
    bw_str_set(&r->headers_out.content_type, "text/html");
    bw_str_set(&r->headers_out.charset, "utf-8");
    bw_th_add(t, "ETag", "\"x\"");
    bw_th_add(t, "X-Gone", "1");
    bw_th_add(t, "X-Kept", "2");
    ((bw_http_header_t *) r->headers_out.headers.elts)[1].hash = 0;
    r->chunked = 0;
    t->clcf.keepalive_header = 25;
    r->header_only = 1;
    assert_int_equal(bw_th_send_head(t), BW_OK);
    bw_th_expect_head(t, "HTTP/1.1 200 OK\r\nServer: bulwark/" BW_VERSION "\r\nDate: DATE\r\n"
                         "Content-Type: text/html; charset=utf-8\r\nContent-Length: 10\r\n"
                         "Last-Modified: Thu, 01 Jan 1970 00:00:00 GMT\r\n"
                         "Connection: keep-alive\r\nKeep-Alive: timeout=25\r\n"
                         "ETag: \"x\"\r\nX-Kept: 2\r\n\r\n");
}

static void
test_module_server_and_date_replace_the_fixed_ones(void **state)
{
    bw_th_t *t = *state;
    bw_th_add(t, "Server", "origin/1");
    t->r->headers_out.server = &((bw_http_header_t *) t->r->headers_out.headers.elts)[0];
    bw_th_add(t, "Date", "yesterday");
    t->r->headers_out.date = &((bw_http_header_t *) t->r->headers_out.headers.elts)[1];
    t->r->header_only = 1;
    assert_int_equal(bw_th_send_head(t), BW_OK);
    assert_string_equal(bw_th_out(t), "HTTP/1.1 200 OK\r\nConnection: keep-alive\r\n"
                                      "Server: origin/1\r\nDate: yesterday\r\n\r\n");
}

static void
test_last_modified_dropped_for_non_2xx(void **state)
{
    bw_th_t *t = *state;
    t->r->headers_out.status = 404;
    t->r->headers_out.last_modified_time = 1000;
    t->r->header_only = 1;
    assert_int_equal(bw_th_send_head(t), BW_OK);
    assert_null(strstr(bw_th_out(t), "Last-Modified"));
    assert_int_equal(t->r->headers_out.last_modified_time, -1);
}

static void
test_relative_location_becomes_absolute_with_host_and_port(void **state)
{
    bw_th_t *t = *state;
    bw_str_set(&t->r->headers_in.server, "example.com");
    t->r->headers_out.status = 301;
    bw_th_add(t, "Location", "/dir/");
    t->r->header_only = 1;
    assert_int_equal(bw_th_send_head(t), BW_OK);
    bw_th_expect_head(t, "HTTP/1.1 301 Moved Permanently\r\nServer: bulwark/" BW_VERSION "\r\n"
                         "Date: DATE\r\nLocation: http://example.com:8080/dir/\r\n"
                         "Connection: keep-alive\r\n\r\n");
}

static void
test_location_port_80_omitted_and_server_name_in_redirect(void **state)
{
    bw_th_t *t = *state;
    t->local.sin_port = htons(80);
    t->clcf.server_name_in_redirect = 1;
    bw_str_set(&t->r->headers_in.server, "example.com");
    t->r->headers_out.status = 302;
    bw_th_add(t, "Location", "/x");
    t->r->header_only = 1;
    assert_int_equal(bw_th_send_head(t), BW_OK);
    assert_non_null(strstr(bw_th_out(t), "\r\nLocation: http://localhost/x\r\n"));
}

static void
test_location_kept_relative_without_absolute_redirect(void **state)
{
    bw_th_t *t = *state;
    t->clcf.absolute_redirect = 0;
    t->r->headers_out.status = 302;
    bw_th_add(t, "Location", "/x");
    t->r->header_only = 1;
    assert_int_equal(bw_th_send_head(t), BW_OK);
    assert_non_null(strstr(bw_th_out(t), "Connection: keep-alive\r\nLocation: /x\r\n\r\n"));
}

static void
test_204_drops_type_length_and_is_header_only(void **state)
{
    bw_th_t *t = *state;
    t->r->headers_out.status = 204;
    t->r->headers_out.content_length_n = 0;
    bw_str_set(&t->r->headers_out.content_type, "text/plain");
    assert_int_equal(bw_th_send_head(t), BW_OK);
    bw_th_expect_head(t, "HTTP/1.1 204 No Content\r\nServer: bulwark/" BW_VERSION "\r\n"
                         "Date: DATE\r\nConnection: keep-alive\r\n\r\n");
    assert_true(t->r->header_only);
}

static void
test_head_request_sends_length_but_no_body(void **state)
{
    bw_th_t *t = *state;
    t->r->method = BW_HTTP_HEAD;
    t->r->headers_out.content_length_n = 3;
    assert_int_equal(bw_th_send_head(t), BW_OK);
    assert_non_null(strstr(bw_th_out(t), "Content-Length: 3\r\n"));
    size_t head = t->nout;
    assert_int_equal(bw_th_body(t, "abc", true), BW_OK);
    assert_int_equal(t->nout, head); /* the body went nowhere */
}

static void
test_http09_gets_no_head(void **state)
{
    bw_th_t *t = *state;
    t->r->http_version = BW_HTTP_VERSION_9;
    assert_int_equal(bw_th_send_head(t), BW_OK);
    assert_int_equal(t->nout, 0);
    assert_int_equal(bw_th_body(t, "hi\n", true), BW_OK);
    assert_string_equal(bw_th_out(t), "hi\n");
}

static void
test_keepalive_limits_turn_connection_close(void **state)
{
    bw_th_t *t = *state;
    t->c.requests = 5;
    t->clcf.keepalive_requests = 5;
    t->r->header_only = 1;
    assert_int_equal(bw_th_send_head(t), BW_OK);
    assert_non_null(strstr(bw_th_out(t), "Connection: close\r\n"));
    assert_false(t->r->keepalive);
}

static void
test_keepalive_disabled_for_msie6_post(void **state)
{
    bw_th_t *t = *state;
    t->r->headers_in.msie6 = true;
    t->r->method = BW_HTTP_POST;
    t->r->header_only = 1;
    assert_int_equal(bw_th_send_head(t), BW_OK);
    assert_non_null(strstr(bw_th_out(t), "Connection: close\r\n"));
}

static void
test_keepalive_timeout_zero_closes(void **state)
{
    bw_th_t *t = *state;
    t->clcf.keepalive_timeout = 0;
    t->r->header_only = 1;
    assert_int_equal(bw_th_send_head(t), BW_OK);
    assert_non_null(strstr(bw_th_out(t), "Connection: close\r\n"));
}

/* ---- write filter ---- */

static void
test_postpone_output_holds_small_head_until_body(void **state)
{
    bw_th_t *t = *state;
    t->r->headers_out.content_length_n = 3;
    assert_int_equal(bw_th_send_head(t), BW_OK);
    assert_int_equal(t->nout, 0); /* held: smaller than postpone_output */
    assert_int_equal(t->calls, 0);
    assert_int_equal(bw_th_body(t, "abc", true), BW_OK);
    assert_int_equal(t->calls, 1); /* head and body in one write */
    assert_non_null(strstr(bw_th_out(t), "\r\n\r\nabc"));
}

static void
test_backpressure_sets_buffered_and_resumes(void **state)
{
    bw_th_t *t = *state;
    t->r->headers_out.content_length_n = 10;
    t->per_call = 16;
    assert_int_equal(bw_th_send_head(t), BW_OK);
    assert_int_equal(bw_th_body(t, "0123456789", true), BW_AGAIN);
    assert_true(t->r->buffered);
    assert_int_equal(t->nout, 16);
    for (int i = 0; i < 50 && t->r->buffered; i++) {
        t->wev.ready = 1;
        bw_rc_t rc = bw_http_write_filter(t->r, NULL);
        assert_true(rc == BW_OK || rc == BW_AGAIN);
    }
    assert_false(t->r->buffered);
    assert_non_null(strstr(bw_th_out(t), "\r\n\r\n0123456789"));
    assert_int_equal(t->r->header_size + 10, (off_t) t->nout);
}

static void
test_sendfile_off_reads_file_into_memory(void **state)
{
    bw_th_t *t = *state;
    char path[] = "/tmp/bw_th_fileXXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    unlink(path);
    char data[70000];
    for (size_t i = 0; i < sizeof(data); i++) {
        data[i] = (char) ('a' + i % 26);
    }
    assert_int_equal(write(fd, data, sizeof(data)), (ssize_t) sizeof(data));

    bw_file_t file = {fd, {strlen(path), (u_char *) path}, &t->log};
    bw_buf_t *b = bw_buf_calloc(t->r->pool);
    b->in_file = 1;
    b->file = &file;
    b->file_pos = 10;
    b->file_last = sizeof(data);
    b->last_buf = 1;
    bw_chain_t cl = {b, NULL};
    t->r->http_version = BW_HTTP_VERSION_9; /* no head: only the body */
    assert_int_equal(bw_th_send_head(t), BW_OK);
    t->per_call = 5000;
    bw_rc_t rc = bw_http_write_filter(t->r, &cl);
    for (int i = 0; i < 100 && rc == BW_AGAIN; i++) {
        t->wev.ready = 1;
        rc = bw_http_write_filter(t->r, NULL);
    }
    assert_int_equal(rc, BW_OK);
    assert_int_equal(t->nout, sizeof(data) - 10);
    assert_memory_equal(t->out, data + 10, sizeof(data) - 10);
    close(fd);
}

/* ---- chunked ---- */

static void
test_chunked_frames_body_for_http11_unknown_length(void **state)
{
    bw_th_t *t = *state;
    t->clcf.postpone_output = 0;
    assert_int_equal(bw_th_send_head_chunked(t), BW_OK);
    assert_true(t->r->chunked);
    assert_int_equal(bw_th_body(t, "hello", false), BW_OK);
    assert_int_equal(bw_th_body(t, "0123456789abcdefX", true), BW_OK);
    const char *o = bw_th_out(t);
    assert_non_null(strstr(o, "Transfer-Encoding: chunked\r\nConnection: keep-alive\r\n\r\n"));
    assert_non_null(strstr(o, "\r\n\r\n5\r\nhello\r\n11\r\n0123456789abcdefX\r\n0\r\n\r\n"));
    assert_true(t->r->keepalive);
}

static void
test_chunked_last_carries_trailers(void **state)
{
    bw_th_t *t = *state;
    t->clcf.postpone_output = 0;
    t->r->expect_trailers = 1;
    t->r->headers_out.content_length_n = 2;
    assert_int_equal(bw_th_send_head_chunked(t), BW_OK);
    assert_null(strstr(bw_th_out(t), "Content-Length"));
    bw_http_header_t *h = bw_array_push(&t->r->headers_out.trailers);
    h->hash = 1;
    bw_str_set(&h->key, "X-Sum");
    bw_str_set(&h->value, "42");
    assert_int_equal(bw_th_body(t, "ab", true), BW_OK);
    assert_non_null(strstr(bw_th_out(t), "\r\n\r\n2\r\nab\r\n0\r\nX-Sum: 42\r\n\r\n"));
}

static void
test_chunked_off_for_http10_closes_instead(void **state)
{
    bw_th_t *t = *state;
    t->clcf.postpone_output = 0;
    t->r->http_version = BW_HTTP_VERSION_10;
    assert_int_equal(bw_th_send_head_chunked(t), BW_OK);
    assert_false(t->r->chunked);
    assert_false(t->r->keepalive);
    assert_int_equal(bw_th_body(t, "raw", true), BW_OK);
    const char *o = bw_th_out(t);
    assert_non_null(strstr(o, "Connection: close\r\n\r\nraw"));
    assert_null(strstr(o, "Transfer-Encoding"));
}

static void
test_chunked_skips_head_204_and_known_length(void **state)
{
    bw_th_t *t = *state;
    t->r->headers_out.content_length_n = 4;
    assert_int_equal(bw_th_send_head_chunked(t), BW_OK);
    assert_false(t->r->chunked);

    bw_th_teardown(state);
    bw_th_setup(state);
    t = *state;
    t->r->method = BW_HTTP_HEAD;
    assert_int_equal(bw_th_send_head_chunked(t), BW_OK);
    assert_false(t->r->chunked);
    assert_true(t->r->keepalive);
}

#define BW_TH(f) cmocka_unit_test_setup_teardown(f, bw_th_setup, bw_th_teardown)

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reason_phrases_are_nginx_ones),
        BW_TH(test_head_minimal_keepalive_order),
        BW_TH(test_unknown_status_has_bare_code_and_status_line_overrides),
        BW_TH(test_fixed_headers_then_list_in_order_skipping_deleted),
        BW_TH(test_module_server_and_date_replace_the_fixed_ones),
        BW_TH(test_last_modified_dropped_for_non_2xx),
        BW_TH(test_relative_location_becomes_absolute_with_host_and_port),
        BW_TH(test_location_port_80_omitted_and_server_name_in_redirect),
        BW_TH(test_location_kept_relative_without_absolute_redirect),
        BW_TH(test_204_drops_type_length_and_is_header_only),
        BW_TH(test_head_request_sends_length_but_no_body),
        BW_TH(test_http09_gets_no_head),
        BW_TH(test_keepalive_limits_turn_connection_close),
        BW_TH(test_keepalive_disabled_for_msie6_post),
        BW_TH(test_keepalive_timeout_zero_closes),
        BW_TH(test_postpone_output_holds_small_head_until_body),
        BW_TH(test_backpressure_sets_buffered_and_resumes),
        BW_TH(test_sendfile_off_reads_file_into_memory),
        BW_TH(test_chunked_frames_body_for_http11_unknown_length),
        BW_TH(test_chunked_last_carries_trailers),
        BW_TH(test_chunked_off_for_http10_closes_instead),
        BW_TH(test_chunked_skips_head_204_and_known_length),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
