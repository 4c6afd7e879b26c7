/*
 * io.h -- non-blocking socket I/O for connections: the default c->recv,
 * c->send and c->send_chain (TLS replaces them with its own).
 *
 * Return convention (ssize_t): bytes moved (> 0); 0 from recv on end of
 * stream; BW_AGAIN when the socket would block (the event's `ready` is
 * cleared: wait for the next edge); BW_ERROR after logging (`error` set).
 */
#ifndef BW_IO_H
#define BW_IO_H

#include "conn.h"

/* The most bytes one bw_send_chain call sends when the caller sets no limit. */
#define BW_SEND_CHAIN_MAX ((off_t) 0x7ffff000)
/* The most buffers gathered into one writev. */
#define BW_IOVS_MAX 64

/*
 * Reads up to `size` (> 0) bytes. A short read clears rev->ready (edge-triggered:
 * the socket is drained) unless the peer already shut down, so the next
 * call sees the 0 that sets rev->eof.
 */
ssize_t bw_recv(bw_connection_t *c, u_char *buf, size_t size);
/* Writes up to `size` bytes; adds them to c->sent. A short write clears wev->ready. */
ssize_t bw_send(bw_connection_t *c, const u_char *buf, size_t size);

/*
 * Sends the chain `in`, at most `limit` bytes (0: BW_SEND_CHAIN_MAX):
 * memory buffers with writev (up to BW_IOVS_MAX at a time), file buffers
 * with sendfile; memory followed by a file is sent with MSG_MORE so headers
 * and body share packets. Advances the buffers' pos/file_pos and c->sent.
 * Returns the first link with bytes left (NULL when all was sent), or
 * BW_CHAIN_ERROR after logging. Stops early, ready cleared, when the socket
 * would block.
 */
bw_chain_t *bw_send_chain(bw_connection_t *c, bw_chain_t *in, off_t limit);

/*
 * Logs a failed socket call: at info when the peer caused it (reset, broken
 * pipe, unreachable: client misbehaviour, not ours), at crit otherwise.
 */
void bw_io_error_log(bw_connection_t *c, int err, const char *call);

#endif
