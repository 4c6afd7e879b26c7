/*
 * test_request_body.c -- http/request_body.c on a hand-built request whose
 * connection is one end of a socketpair: bodies taken from the bytes read
 * with the head (in place, without a copy) and from the socket, bodies that
 * arrive later (the read handler resumes), spilling to a temp file under
 * client_body_temp_path (created when missing) past client_body_buffer_size,
 * chunked decoding that leaves a pipelined request's bytes in place, 413 on
 * the declared length and on the announced chunk sizes, 400 on bad
 * framing, "100 Continue", and discarding.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "clock.h"
#include "io.h"
#include "pool.h"
#include "request_internal.h"
#include "timer.h"

#define BW_TB_CONFS 64

typedef struct {
    bw_pool_t               *cpool;
    bw_conf_ctx_t            ctx;
    void                    *srv_conf[BW_TB_CONFS];
    void                    *loc_conf[BW_TB_CONFS];
    void                    *rctx[BW_TB_CONFS];
    bw_http_core_srv_conf_t  cscf;
    bw_http_core_loc_conf_t  clcf;
    bw_log_t                 log;
    bw_event_t               rev, wev;
    bw_connection_t          c;
    bw_http_connection_t     hc;
    bw_http_request_t       *r;
    int                      peer;         /* the client's end */
    char                     tmpdir[64];
    char                     bodydir[128];
    int                      posted;       /* post_handler calls */
} bw_tb_t;

static bw_tb_t *bw_tb;

static void
bw_tb_post(bw_http_request_t *r)
{
    (void) r;
    bw_tb->posted++;
}

static int
bw_tb_setup(void **state)
{
    bw_tb_t *t = calloc(1, sizeof(bw_tb_t));
    int sv[2];

    assert_non_null(t);
    bw_tb = t;
    bw_module_init();
    bw_time_update();
    bw_event_timer_init();
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    assert_int_equal(fcntl(sv[0], F_SETFL, O_NONBLOCK), 0);
    t->peer = sv[1];

    strcpy(t->tmpdir, "/tmp/bw_tb_XXXXXX");
    assert_non_null(mkdtemp(t->tmpdir));
    snprintf(t->bodydir, sizeof(t->bodydir), "%s/client/body", t->tmpdir);

    t->cpool = bw_pool_create(1024, &bw_log_stderr_log);
    t->log = bw_log_stderr_log;
    t->log.level = BW_LOG_CRIT;
    t->cscf.client_header_buffer_size = 1024;
    t->cscf.large_client_header_buffers_num = 4;
    t->cscf.large_client_header_buffers_size = 8192;
    t->clcf.client_body_buffer_size = 16384;
    t->clcf.client_max_body_size = 1024 * 1024;
    t->clcf.client_body_timeout = 60000;
    t->clcf.client_body_temp_path.data = (u_char *) t->bodydir;
    t->clcf.client_body_temp_path.len = strlen(t->bodydir);
    t->ctx.srv_conf = t->srv_conf;
    t->ctx.loc_conf = t->loc_conf;
    t->srv_conf[bw_http_core_module.index] = &t->cscf;
    t->loc_conf[bw_http_core_module.index] = &t->clcf;

    t->c.fd = sv[0];
    t->c.read = &t->rev;
    t->c.write = &t->wev;
    t->rev.data = &t->c;
    t->wev.data = &t->c;
    t->wev.write = 1;
    t->wev.ready = 1;
    t->rev.ready = 1;
    t->c.log = &t->log;
    t->c.pool = t->cpool;
    t->c.recv = bw_recv;
    t->c.send = bw_send;
    t->c.data = &t->hc;
    t->hc.connection = &t->c;
    t->hc.conf = t->ctx;

    bw_pool_t *pool = bw_pool_create(4096, &t->log);
    bw_http_request_t *r = bw_pcalloc(pool, sizeof(*r));
    assert_non_null(r);
    r->pool = pool;
    r->connection = &t->c;
    r->main = r;
    r->http_connection = &t->hc;
    r->srv_conf = t->srv_conf;
    r->loc_conf = t->loc_conf;
    r->ctx = t->rctx;
    r->count = 1;
    r->method = BW_HTTP_POST;
    r->http_version = BW_HTTP_VERSION_11;
    r->headers_in.content_length_n = -1;
    r->header_in = bw_buf_create_temp(t->cpool, 1024);
    t->r = r;
    *state = t;
    return 0;
}

static int
bw_tb_teardown(void **state)
{
    bw_tb_t *t = *state;
    char cmd[200];

    bw_event_del_timer(&t->rev);
    bw_pool_destroy(t->r->pool);
    bw_pool_destroy(t->cpool);
    close(t->c.fd);
    close(t->peer);
    snprintf(cmd, sizeof(cmd), "rm -rf %s", t->tmpdir);
    assert_int_equal(system(cmd), 0);
    free(t);
    return 0;
}

/* Puts bytes in the head buffer, as if read with the head. */
static void
bw_tb_preread(bw_tb_t *t, const char *bytes, size_t len)
{
    memcpy(t->r->header_in->last, bytes, len);
    t->r->header_in->last += len;
}

static void
bw_tb_client_sends(bw_tb_t *t, const char *bytes)
{
    assert_int_equal(write(t->peer, bytes, strlen(bytes)), (ssize_t) strlen(bytes));
    t->rev.ready = 1;
}

/* The whole body as one string (memory or temp file), malloc'd. */
static char *
bw_tb_body(bw_tb_t *t, size_t *len)
{
    bw_http_request_body_t *rb = t->r->request_body;
    assert_non_null(rb);
    assert_non_null(rb->bufs);
    bw_buf_t *b = rb->bufs->buf;
    char *s;
    if (b->in_file) {
        size_t n = (size_t) (b->file_last - b->file_pos);
        s = calloc(1, n + 1);
        assert_int_equal(pread(b->file->fd, s, n, b->file_pos), (ssize_t) n);
        *len = n;
    } else {
        size_t n = (size_t) (b->last - b->pos);
        s = calloc(1, n + 1);
        memcpy(s, b->pos, n);
        *len = n;
    }
    assert_null(rb->bufs->next);
    return s;
}

static void
bw_tb_chunked(bw_tb_t *t)
{
    t->r->headers_in.chunked = true;
    t->r->headers_in.content_length_n = -1;
}

/* ---- reading ---- */

static void
test_body_read_with_head_is_used_in_place(void **state)
{
    bw_tb_t *t = *state;
    t->r->headers_in.content_length_n = 5;
    bw_tb_preread(t, "helloGET /next", 14);
    u_char *at = t->r->header_in->pos;

    assert_int_equal(bw_http_read_client_request_body(t->r, bw_tb_post), BW_OK);
    assert_int_equal(t->posted, 1);
    assert_int_equal(t->r->count, 2); /* the caller returns BW_DONE to drop it */
    assert_ptr_equal(t->r->request_body->bufs->buf->pos, at);
    size_t len;
    char *body = bw_tb_body(t, &len);
    assert_int_equal(len, 5);
    assert_string_equal(body, "hello");
    free(body);
    assert_memory_equal(t->r->header_in->pos, "GET /next", 9);
    assert_false(t->r->reading_body);
}

static void
test_body_completed_from_socket(void **state)
{
    bw_tb_t *t = *state;
    t->r->headers_in.content_length_n = 11;
    bw_tb_preread(t, "hello", 5);
    bw_tb_client_sends(t, " world");

    assert_int_equal(bw_http_read_client_request_body(t->r, bw_tb_post), BW_OK);
    assert_int_equal(t->posted, 1);
    size_t len;
    char *body = bw_tb_body(t, &len);
    assert_string_equal(body, "hello world");
    free(body);
    assert_int_equal(t->r->request_body->received, 11);
}

static void
test_body_arriving_later_resumes_the_read_handler(void **state)
{
    bw_tb_t *t = *state;
    t->r->headers_in.content_length_n = 6;

    assert_int_equal(bw_http_read_client_request_body(t->r, bw_tb_post), BW_AGAIN);
    assert_int_equal(t->posted, 0);
    assert_true(t->r->reading_body);
    assert_true(t->rev.timer_set); /* client_body_timeout */

    bw_tb_client_sends(t, "abc");
    t->r->read_event_handler(t->r);
    assert_int_equal(t->posted, 0);
    bw_tb_client_sends(t, "def");
    t->r->read_event_handler(t->r);
    assert_int_equal(t->posted, 1);
    assert_false(t->rev.timer_set);
    size_t len;
    char *body = bw_tb_body(t, &len);
    assert_string_equal(body, "abcdef");
    free(body);
}

static void
test_body_spills_to_temp_file_in_created_directory(void **state)
{
    bw_tb_t *t = *state;
    char data[1001];
    for (int i = 0; i < 1000; i++) {
        data[i] = (char) ('a' + i % 26);
    }
    data[1000] = '\0';
    t->clcf.client_body_buffer_size = 64;
    t->r->headers_in.content_length_n = 1000;
    bw_tb_preread(t, data, 100);
    bw_tb_client_sends(t, data + 100);

    assert_int_equal(bw_http_read_client_request_body(t->r, bw_tb_post), BW_OK);
    assert_int_equal(t->posted, 1);
    bw_http_request_body_t *rb = t->r->request_body;
    assert_true(rb->bufs->buf->in_file);
    assert_true(rb->temp_fd >= 0);
    assert_int_equal(strncmp((char *) rb->temp_path.data, t->bodydir, strlen(t->bodydir)), 0);
    struct stat st;
    assert_int_equal(stat((char *) rb->temp_path.data, &st), 0);
    assert_int_equal(st.st_size, 1000);
    size_t len;
    char *body = bw_tb_body(t, &len);
    assert_int_equal(len, 1000);
    assert_memory_equal(body, data, 1000);
    free(body);

    /* the file goes with the request */
    char path[256];
    snprintf(path, sizeof(path), "%.*s", BW_STR_ARG(rb->temp_path));
    bw_pool_destroy(t->r->pool);
    bw_pool_t *np = bw_pool_create(1024, &t->log);
    t->r = bw_pcalloc(np, sizeof(*t->r));
    t->r->pool = np;
    assert_int_not_equal(stat(path, &st), 0);
}

static void
test_chunked_body_decoded_leaving_next_request(void **state)
{
    bw_tb_t *t = *state;
    const char raw[] = "5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nX-T: 1\r\n\r\nGET /next HTTP/1.1";
    bw_tb_chunked(t);
    bw_tb_preread(t, raw, 12);
    bw_tb_client_sends(t, raw + 12);

    assert_int_equal(bw_http_read_client_request_body(t->r, bw_tb_post), BW_OK);
    assert_int_equal(t->posted, 1);
    size_t len;
    char *body = bw_tb_body(t, &len);
    assert_string_equal(body, "hello world");
    free(body);
    bw_buf_t *b = t->r->header_in;
    assert_int_equal(b->last - b->pos, 18);
    assert_memory_equal(b->pos, "GET /next HTTP/1.1", 18);
}

static void
test_chunked_body_spills_too(void **state)
{
    bw_tb_t *t = *state;
    t->clcf.client_body_buffer_size = 4;
    bw_tb_chunked(t);
    bw_tb_client_sends(t, "a\r\n0123456789\r\n3\r\nabc\r\n0\r\n\r\n");

    assert_int_equal(bw_http_read_client_request_body(t->r, bw_tb_post), BW_OK);
    size_t len;
    char *body = bw_tb_body(t, &len);
    assert_string_equal(body, "0123456789abc");
    free(body);
    assert_true(t->r->request_body->bufs->buf->in_file);
}

static void
test_declared_length_over_max_is_413_without_reference(void **state)
{
    bw_tb_t *t = *state;
    t->clcf.client_max_body_size = 10;
    t->r->headers_in.content_length_n = 11;
    assert_int_equal(bw_http_read_client_request_body(t->r, bw_tb_post), 413);
    assert_int_equal(t->r->count, 1);
    assert_int_equal(t->posted, 0);
}

static void
test_chunk_sizes_over_max_are_413_before_the_data(void **state)
{
    bw_tb_t *t = *state;
    t->clcf.client_max_body_size = 10;
    bw_tb_chunked(t);
    bw_tb_preread(t, "4\r\nabcd\r\n8\r\n", 12);
    assert_int_equal(bw_http_read_client_request_body(t->r, bw_tb_post), 413);
    assert_int_equal(t->r->count, 1);
}

static void
test_bad_chunk_framing_is_400(void **state)
{
    bw_tb_t *t = *state;
    bw_tb_chunked(t);
    bw_tb_preread(t, "zz\r\n", 4);
    assert_int_equal(bw_http_read_client_request_body(t->r, bw_tb_post), 400);
}

static void
test_closed_mid_body_is_400_and_connection_error(void **state)
{
    bw_tb_t *t = *state;
    t->r->headers_in.content_length_n = 10;
    bw_tb_client_sends(t, "abc");
    shutdown(t->peer, SHUT_WR);
    t->rev.pending_eof = 1; /* as the loop marks EPOLLRDHUP */
    assert_int_equal(bw_http_read_client_request_body(t->r, bw_tb_post), 400);
    assert_true(t->c.error);
}

static void
test_expect_100_continue_sent_once_for_http11(void **state)
{
    bw_tb_t *t = *state;
    bw_http_header_t expect = {1, bw_string("Expect"), bw_string("100-Continue"), NULL, NULL};
    char buf[64] = {0};

    t->r->headers_in.expect = &expect;
    t->r->headers_in.content_length_n = 2;
    bw_tb_client_sends(t, "ok");
    assert_int_equal(bw_http_read_client_request_body(t->r, bw_tb_post), BW_OK);
    assert_int_equal(read(t->peer, buf, sizeof(buf) - 1), 25);
    assert_string_equal(buf, "HTTP/1.1 100 Continue\r\n\r\n");
    assert_int_equal(bw_http_test_expect(t->r), BW_OK); /* not again */
    assert_int_equal(recv(t->peer, buf, sizeof(buf), MSG_DONTWAIT), -1);
}

static void
test_expect_ignored_for_http10(void **state)
{
    bw_tb_t *t = *state;
    bw_http_header_t expect = {1, bw_string("Expect"), bw_string("100-continue"), NULL, NULL};
    char buf[64];

    t->r->http_version = BW_HTTP_VERSION_10;
    t->r->headers_in.expect = &expect;
    assert_int_equal(bw_http_test_expect(t->r), BW_OK);
    assert_int_equal(recv(t->peer, buf, sizeof(buf), MSG_DONTWAIT), -1);
}

/* ---- discarding ---- */

static void
test_discard_completes_at_once_when_all_is_there(void **state)
{
    bw_tb_t *t = *state;
    t->r->headers_in.content_length_n = 8;
    bw_tb_preread(t, "1234", 4);
    bw_tb_client_sends(t, "5678GET /");

    assert_int_equal(bw_http_discard_request_body(t->r), BW_OK);
    assert_false(t->r->discard_body);
    assert_int_equal(t->r->count, 1);
    char rest[16] = {0};
    assert_int_equal(recv(t->peer, rest, sizeof(rest), MSG_DONTWAIT), -1); /* nothing sent */
    /* the bytes of the next request stay in the socket: a CL body is not over-read */
    assert_int_equal(recv(t->c.fd, rest, sizeof(rest), MSG_DONTWAIT), 5);
    assert_memory_equal(rest, "GET /", 5);
}

static void
test_discard_pending_takes_a_reference(void **state)
{
    bw_tb_t *t = *state;
    t->r->headers_in.content_length_n = 100;
    bw_tb_preread(t, "12", 2);

    assert_int_equal(bw_http_discard_request_body(t->r), BW_OK);
    assert_true(t->r->discard_body);
    assert_int_equal(t->r->count, 2);
    assert_ptr_equal(t->r->read_event_handler, bw_http_discarded_body_handler);
    assert_int_equal(t->r->request_body->rest, 98);
    /* a later read_client_request_body sees no body */
    t->posted = 0;
    assert_int_equal(bw_http_read_client_request_body(t->r, bw_tb_post), BW_OK);
    assert_int_equal(t->posted, 1);
}

static void
test_discard_chunked_keeps_pipelined_bytes(void **state)
{
    bw_tb_t *t = *state;
    bw_tb_chunked(t);
    bw_tb_preread(t, "3\r\nabc\r\n0\r\n\r\nGET /n", 20);
    assert_int_equal(bw_http_discard_request_body(t->r), BW_OK);
    assert_false(t->r->discard_body);
    assert_memory_equal(t->r->header_in->pos, "GET /n", 6);
}

static void
test_discard_ignores_max_body_size(void **state)
{
    bw_tb_t *t = *state;
    t->clcf.client_max_body_size = 2;
    bw_tb_chunked(t);
    bw_tb_preread(t, "10\r\n0123456789abcdef\r\n0\r\n\r\n", 27);
    assert_int_equal(bw_http_discard_request_body(t->r), BW_OK);
    assert_false(t->r->discard_body);
}

static void
test_discard_bad_chunk_is_400(void **state)
{
    bw_tb_t *t = *state;
    bw_tb_chunked(t);
    bw_tb_preread(t, "-1\r\n", 4);
    assert_int_equal(bw_http_discard_request_body(t->r), 400);
}

#define BW_TB(f) cmocka_unit_test_setup_teardown(f, bw_tb_setup, bw_tb_teardown)

int
main(void)
{
    const struct CMUnitTest tests[] = {
        BW_TB(test_body_read_with_head_is_used_in_place),
        BW_TB(test_body_completed_from_socket),
        BW_TB(test_body_arriving_later_resumes_the_read_handler),
        BW_TB(test_body_spills_to_temp_file_in_created_directory),
        BW_TB(test_chunked_body_decoded_leaving_next_request),
        BW_TB(test_chunked_body_spills_too),
        BW_TB(test_declared_length_over_max_is_413_without_reference),
        BW_TB(test_chunk_sizes_over_max_are_413_before_the_data),
        BW_TB(test_bad_chunk_framing_is_400),
        BW_TB(test_closed_mid_body_is_400_and_connection_error),
        BW_TB(test_expect_100_continue_sent_once_for_http11),
        BW_TB(test_expect_ignored_for_http10),
        BW_TB(test_discard_completes_at_once_when_all_is_there),
        BW_TB(test_discard_pending_takes_a_reference),
        BW_TB(test_discard_chunked_keeps_pipelined_bytes),
        BW_TB(test_discard_ignores_max_body_size),
        BW_TB(test_discard_bad_chunk_is_400),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
