/*
 * upstream_tunnel.c -- a 101 Switching Protocols answer to a request that
 * asked for an Upgrade (WebSocket): after the head, both connections become
 * a byte tunnel until either side closes, each direction through its own
 * buffer, idle sides bounded by proxy_read_timeout / proxy_send_timeout and
 * the client's send_timeout.
 */
#include "upstream_internal.h"

#include "pool.h"

/* Moves bytes one way through b: what src sends goes to dst. BW_OK,
 * BW_DONE (src closed and everything it sent was delivered), BW_ERROR. */
static bw_rc_t
bw_upstream_tunnel_pump(bw_connection_t *src, bw_connection_t *dst, bw_buf_t *b)
{
    for (int rounds = 0; rounds < 64; rounds++) {
        bool progress = false;
        if (b->pos < b->last) {
            ssize_t n = dst->send(dst, b->pos, (size_t) (b->last - b->pos));
            if (n == BW_ERROR) {
                return BW_ERROR;
            }
            if (n > 0) {
                b->pos += n;
                progress = true;
            }
        }
        if (b->pos == b->last) {
            b->pos = b->last = b->start;
        }
        if (b->last < b->end && src->read->ready && !src->read->eof) {
            ssize_t n = src->recv(src, b->last, (size_t) (b->end - b->last));
            if (n == BW_ERROR) {
                return BW_ERROR;
            }
            if (n > 0) {
                b->last += n;
                progress = true;
            }
        }
        if (!progress) {
            break;
        }
    }
    return src->read->eof && b->pos == b->last ? BW_DONE : BW_OK;
}

/* Arms the idle timers of a tunnel side: reading under read_timeout,
 * pending writes under the writer's timeout. */
static void
bw_upstream_tunnel_timers(bw_connection_t *c, bw_msec_t read_timeout, bool pending,
                          bw_msec_t write_timeout)
{
    if (!c->read->ready) {
        bw_event_add_timer(c->read, read_timeout);
    }
    if (pending) {
        bw_event_add_timer(c->write, write_timeout);
    } else if (c->write->timer_set) {
        bw_event_del_timer(c->write);
    }
}

static void
bw_upstream_tunnel(bw_http_request_t *r, bw_upstream_t *u)
{
    bw_connection_t *c = u->peer.connection, *cc = r->connection;
    bw_msec_t        send_timeout = bw_http_core_loc(r)->send_timeout;

    if (r->buffered) {
        /* the 101 head is still on its way to the client */
        if (bw_http_output_filter(r, NULL) == BW_ERROR) {
            bw_upstream_finalize(r, u, BW_ERROR);
            return;
        }
        if (r->buffered) {
            bw_event_add_timer(cc->write, send_timeout);
            return;
        }
    }
    bw_rc_t down = bw_upstream_tunnel_pump(c, cc, &u->buffer);
    bw_rc_t up = bw_upstream_tunnel_pump(cc, c, &u->from_client);
    if (down == BW_ERROR || up == BW_ERROR) {
        bw_upstream_finalize(r, u, BW_ERROR);
        return;
    }
    if (down == BW_DONE || up == BW_DONE) {
        bw_upstream_finalize(r, u, BW_OK);
        return;
    }
    bw_upstream_tunnel_timers(c, u->conf->read_timeout, u->from_client.pos < u->from_client.last,
                              u->conf->send_timeout);
    bw_upstream_tunnel_timers(cc, u->conf->read_timeout, u->buffer.pos < u->buffer.last,
                              send_timeout);
}

static void
bw_upstream_tunnel_upstream(bw_http_request_t *r, bw_upstream_t *u)
{
    bw_connection_t *c = u->peer.connection;

    if (c->read->timedout || c->write->timedout) {
        c->read->timedout = c->write->timedout = 0;
        bw_log_error(BW_LOG_ERR, r->connection->log, ETIMEDOUT, "upstream timed out");
        bw_upstream_finalize(r, u, 504);
        return;
    }
    bw_upstream_tunnel(r, u);
}

static void
bw_upstream_tunnel_downstream(bw_http_request_t *r)
{
    bw_upstream_t   *u = bw_upstream_get(r);
    bw_connection_t *cc = r->connection;

    if (u == NULL) {
        return;
    }
    if (cc->read->timedout || cc->write->timedout) {
        cc->read->timedout = cc->write->timedout = 0;
        cc->timedout = 1;
        bw_log_error(BW_LOG_INFO, cc->log, ETIMEDOUT, "client timed out");
        bw_upstream_finalize(r, u, BW_HTTP_REQUEST_TIME_OUT);
        return;
    }
    bw_upstream_tunnel(r, u);
}

/* 101 Switching Protocols to an Upgrade request: pass the head, then relay
 * bytes both ways until either side closes. */
void
bw_upstream_upgrade(bw_http_request_t *r, bw_upstream_t *u)
{
    bw_connection_t *c = u->peer.connection;
    bw_buf_t        *hin = r->header_in;
    size_t           early = hin && hin->pos < hin->last ? (size_t) (hin->last - hin->pos) : 0;
    size_t           size = bw_max(u->conf->buffer_size, early);

    u->upgrade = 1;
    u->keepalive = 0;
    r->keepalive = 0;
    r->headers_out.content_length_n = -1;
    bw_int_t rc = bw_http_send_header(r);
    if (rc == BW_ERROR || rc > BW_OK) {
        bw_upstream_finalize(r, u, rc);
        return;
    }
    u->header_sent = 1;
    if (bw_http_send_special(r, BW_HTTP_FLUSH) == BW_ERROR) {
        bw_upstream_finalize(r, u, BW_ERROR);
        return;
    }
    r->connection->log->action = "proxying upgraded connection";

    /* what the client sent after its head goes first */
    u->from_client.start = bw_palloc(r->pool, size);
    if (u->from_client.start == NULL) {
        bw_upstream_finalize(r, u, BW_ERROR);
        return;
    }
    u->from_client.pos = u->from_client.last = u->from_client.start;
    u->from_client.end = u->from_client.start + size;
    if (early) {
        memcpy(u->from_client.last, hin->pos, early);
        u->from_client.last += early;
        hin->pos = hin->last;
    }
    if (c->read->timer_set) {
        bw_event_del_timer(c->read);
    }
    u->read_event_handler = bw_upstream_tunnel_upstream;
    u->write_event_handler = bw_upstream_tunnel_upstream;
    r->read_event_handler = bw_upstream_tunnel_downstream;
    r->write_event_handler = bw_upstream_tunnel_downstream;
    bw_upstream_tunnel(r, u);
}
