/*
 * test_io.c -- plain socket I/O over socketpairs: recv/send readiness
 * bookkeeping, and bw_send_chain over memory and file buffers, with limits,
 * partial writes and a truncated file.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "cycle.h"
#include "event.h"
#include "io.h"
#include "pool.h"
#include "support.h"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

static bw_cycle_t     bw_test_cycle;
static bw_open_file_t bw_test_log_file;
static bw_log_t       bw_test_log;
static bw_pool_t     *bw_test_pool;
static bw_connection_t *bw_test_c;
static int             bw_test_peer;

static int
bw_test_setup(void **state)
{
    int sv[2];
    (void) state;
    memset(&bw_test_cycle, 0, sizeof(bw_test_cycle));
    bw_test_log_capture(&bw_test_log, &bw_test_log_file);
    bw_test_cycle.log = &bw_test_log;
    bw_test_cycle.pool = bw_pool_create(4096, &bw_test_log);
    bw_test_pool = bw_pool_create(4096, &bw_test_log);
    if (bw_test_cycle.pool == NULL || bw_test_pool == NULL
        || bw_connections_init(&bw_test_cycle, 4) != BW_OK
        || socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv) != 0) {
        return -1;
    }
    bw_test_c = bw_connection_get(&bw_test_cycle, sv[0], &bw_test_log);
    bw_test_c->write->ready = 1;
    bw_test_c->read->ready = 1;
    bw_test_peer = sv[1];
    return 0;
}

static int
bw_test_teardown(void **state)
{
    (void) state;
    close(bw_test_c->fd);
    bw_connection_free(bw_test_c);
    close(bw_test_peer);
    bw_pool_destroy(bw_test_pool);
    bw_pool_destroy(bw_test_cycle.pool);
    close(bw_test_log_file.fd);
    return 0;
}

/* Reads everything the peer end has now. */
static size_t
bw_test_peer_read(u_char *buf, size_t size)
{
    size_t got = 0;
    for (;;) {
        ssize_t n = read(bw_test_peer, buf + got, size - got);
        if (n <= 0) {
            return got;
        }
        got += (size_t) n;
    }
}

static bw_chain_t *
bw_test_mem_link(const char *text, bw_chain_t *next)
{
    size_t len = strlen(text);
    bw_chain_t *cl = bw_chain_create_temp(bw_test_pool, len);
    assert_non_null(cl);
    memcpy(cl->buf->last, text, len);
    cl->buf->last += len;
    cl->next = next;
    return cl;
}

/* A temp file holding `text`, and a file buffer over [pos, last). */
static bw_chain_t *
bw_test_file_link(bw_file_t *file, off_t pos, off_t last, bw_chain_t *next)
{
    bw_chain_t *cl = bw_chain_alloc_link(bw_test_pool);
    cl->buf = bw_buf_calloc(bw_test_pool);
    cl->buf->in_file = 1;
    cl->buf->file = file;
    cl->buf->file_pos = pos;
    cl->buf->file_last = last;
    cl->next = next;
    return cl;
}

static void
bw_test_file_open(bw_file_t *file, const char *text)
{
    file->fd = memfd_create("body", 0);
    assert_true(file->fd >= 0);
    assert_int_equal(write(file->fd, text, strlen(text)), (ssize_t) strlen(text));
    bw_str_set(&file->name, "/tmp/body");
    file->log = &bw_test_log;
}

static void
test_io_recv_short_read_clears_ready(void **state)
{
    (void) state;
    u_char buf[64];
    assert_int_equal(write(bw_test_peer, "abc", 3), 3);
    assert_int_equal(bw_recv(bw_test_c, buf, sizeof(buf)), 3);
    assert_false(bw_test_c->read->ready);
    assert_memory_equal(buf, "abc", 3);
}

static void
test_io_recv_full_read_keeps_ready(void **state)
{
    (void) state;
    u_char buf[3];
    assert_int_equal(write(bw_test_peer, "abcdef", 6), 6);
    assert_int_equal(bw_recv(bw_test_c, buf, sizeof(buf)), 3);
    assert_true(bw_test_c->read->ready);
    assert_int_equal(bw_recv(bw_test_c, buf, sizeof(buf)), 3);
    assert_int_equal(bw_recv(bw_test_c, buf, sizeof(buf)), BW_AGAIN);
    assert_false(bw_test_c->read->ready);
}

static void
test_io_recv_pending_eof_keeps_ready_until_zero(void **state)
{
    (void) state;
    u_char buf[64];
    bw_test_c->read->pending_eof = 1;
    assert_int_equal(write(bw_test_peer, "ab", 2), 2);
    shutdown(bw_test_peer, SHUT_WR);
    assert_int_equal(bw_recv(bw_test_c, buf, sizeof(buf)), 2);
    assert_true(bw_test_c->read->ready);
    assert_int_equal(bw_recv(bw_test_c, buf, sizeof(buf)), 0);
    assert_true(bw_test_c->read->eof);
    assert_false(bw_test_c->read->ready);
}

static void
test_io_recv_error_sets_error(void **state)
{
    (void) state;
    u_char buf[8];
    int fd = bw_test_c->fd;
    bw_test_c->fd = open("/dev/null", O_RDONLY); /* not a socket: ENOTSOCK */
    assert_int_equal(bw_recv(bw_test_c, buf, sizeof(buf)), BW_ERROR);
    assert_true(bw_test_c->read->error);
    close(bw_test_c->fd);
    bw_test_c->fd = fd;
}

static void
test_io_send_counts_sent(void **state)
{
    (void) state;
    u_char buf[16];
    assert_int_equal(bw_send(bw_test_c, (const u_char *) "hello", 5), 5);
    assert_int_equal(bw_test_c->sent, 5);
    assert_int_equal(bw_test_peer_read(buf, sizeof(buf)), 5);
}

static void
test_io_send_chain_sends_memory_and_file_in_order(void **state)
{
    (void) state;
    bw_file_t file;
    u_char buf[128];
    bw_test_file_open(&file, "0123456789");

    bw_chain_t *last = bw_chain_alloc_link(bw_test_pool);
    last->buf = bw_buf_calloc(bw_test_pool);
    last->buf->last_buf = 1;
    /* headers, then two contiguous file ranges (one sendfile), then a trailer */
    bw_chain_t *in = bw_test_mem_link(
        "HEAD ", bw_test_file_link(&file, 2, 5, bw_test_file_link(&file, 5, 8,
                     bw_test_mem_link(" TAIL", last))));

    assert_null(bw_send_chain(bw_test_c, in, 0));
    assert_int_equal(bw_test_c->sent, 16);
    size_t n = bw_test_peer_read(buf, sizeof(buf));
    assert_int_equal(n, 16);
    assert_memory_equal(buf, "HEAD 234567 TAIL", 16);
    assert_int_equal(bw_chain_size(in), 0);
    close(file.fd);
}

static void
test_io_send_chain_honours_limit(void **state)
{
    (void) state;
    u_char buf[64];
    bw_chain_t *in = bw_test_mem_link("abcdef", bw_test_mem_link("ghij", NULL));

    bw_chain_t *rest = bw_send_chain(bw_test_c, in, 8);
    assert_ptr_equal(rest, in->next);
    assert_int_equal(bw_test_c->sent, 8);
    assert_int_equal(bw_buf_size(rest->buf), 2);
    assert_true(bw_test_c->write->ready);
    assert_int_equal(bw_test_peer_read(buf, sizeof(buf)), 8);

    assert_null(bw_send_chain(bw_test_c, rest, 0));
    assert_int_equal(bw_test_peer_read(buf, sizeof(buf)), 2);
    assert_memory_equal(buf, "ij", 2);
}

static void
test_io_send_chain_partial_write_keeps_the_rest(void **state)
{
    (void) state;
    size_t big = 4 * 1024 * 1024;
    char *text = malloc(big + 1);
    assert_non_null(text);
    for (size_t i = 0; i < big; i++) {
        text[i] = (char) ('a' + i % 26);
    }
    text[big] = '\0';
    bw_chain_t *in = bw_test_mem_link(text, NULL);

    bw_chain_t *rest = bw_send_chain(bw_test_c, in, 0);
    assert_ptr_equal(rest, in);
    assert_false(bw_test_c->write->ready);
    off_t first = bw_test_c->sent;
    assert_true(first > 0 && first < (off_t) big);
    assert_int_equal(bw_buf_size(in->buf), (off_t) big - first);
    /* Not ready: nothing is attempted. */
    assert_ptr_equal(bw_send_chain(bw_test_c, rest, 0), rest);
    assert_int_equal(bw_test_c->sent, first);

    /* Drain the peer and finish, checking every byte arrived in order. */
    u_char *got = malloc(big);
    size_t have = 0;
    for (int i = 0; i < 10000 && have < big; i++) {
        have += bw_test_peer_read(got + have, big - have);
        bw_test_c->write->ready = 1;
        rest = bw_send_chain(bw_test_c, rest, 0);
        assert_ptr_not_equal(rest, BW_CHAIN_ERROR);
    }
    assert_null(rest);
    assert_int_equal(have, big);
    assert_memory_equal(got, text, big);
    assert_int_equal(bw_test_c->sent, (off_t) big);
    free(got);
    free(text);
}

static void
test_io_send_chain_reports_truncated_file(void **state)
{
    (void) state;
    bw_file_t file;
    bw_test_file_open(&file, "short");
    bw_chain_t *in = bw_test_file_link(&file, 0, 100, NULL);

    bw_chain_t *rest = bw_send_chain(bw_test_c, in, 0);
    /* The 5 bytes that exist go out; the missing rest is an error. */
    if (rest != BW_CHAIN_ERROR) {
        bw_test_c->write->ready = 1;
        rest = bw_send_chain(bw_test_c, rest, 0);
    }
    assert_ptr_equal(rest, BW_CHAIN_ERROR);
    assert_true(bw_test_c->write->error);
    close(file.fd);
}

static void
test_io_send_chain_of_markers_only_is_done(void **state)
{
    (void) state;
    bw_chain_t *cl = bw_chain_alloc_link(bw_test_pool);
    cl->buf = bw_buf_calloc(bw_test_pool);
    cl->buf->flush = 1;
    assert_null(bw_send_chain(bw_test_c, cl, 0));
    assert_int_equal(bw_test_c->sent, 0);
}

int
main(void)
{
#define BW_T(f) cmocka_unit_test_setup_teardown(f, bw_test_setup, bw_test_teardown)
    const struct CMUnitTest tests[] = {
        BW_T(test_io_recv_short_read_clears_ready),
        BW_T(test_io_recv_full_read_keeps_ready),
        BW_T(test_io_recv_pending_eof_keeps_ready_until_zero),
        BW_T(test_io_recv_error_sets_error),
        BW_T(test_io_send_counts_sent),
        BW_T(test_io_send_chain_sends_memory_and_file_in_order),
        BW_T(test_io_send_chain_honours_limit),
        BW_T(test_io_send_chain_partial_write_keeps_the_rest),
        BW_T(test_io_send_chain_reports_truncated_file),
        BW_T(test_io_send_chain_of_markers_only_is_done),
    };
#undef BW_T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
