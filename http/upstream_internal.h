/*
 * upstream_internal.h -- what the files of the upstream core share among
 * themselves; modules use upstream.h only.
 *
 *   upstream.c              the module: upstream{} groups, per-location
 *                           settings, $upstream_* variables
 *   upstream_connect.c      one attempt: connect, send the request, read and
 *                           parse the head, next upstream, finalize
 *   upstream_headers.c      the response head as the client gets it
 *                           (hidden headers, proxy_redirect, cookies,
 *                           X-Accel-*), then the body or the tunnel
 *   upstream_body.c         the body relay: framing, proxy_buffers, the temp
 *                           file, backpressure
 *   upstream_temp.c         temp paths and temp files (proxy_temp_path)
 *   upstream_tunnel.c       101 Switching Protocols: a byte tunnel
 *   upstream_request_body.c the request body sent as it arrives
 */
#ifndef BW_HTTP_UPSTREAM_INTERNAL_H
#define BW_HTTP_UPSTREAM_INTERNAL_H

#include "upstream.h"

#define BW_HTTP_CLIENT_CLOSED_REQUEST 499
#define BW_HTTP_REQUEST_TIME_OUT      408

/* ---- the body relay's memory (upstream_body.c) ---- */

/*
 * A storage buffer of the relay: recv() fills [start, end) from `last`;
 * body pieces (the buffers given to the filters) point into it and have
 * `shadow` set to &slot->buf. It can be refilled from the start once no
 * piece is left in it (refs == 0): each piece was sent or written to the
 * temp file.
 */
typedef struct bw_upstream_slot_s bw_upstream_slot_t;
struct bw_upstream_slot_s {
    bw_buf_t            buf;
    bw_uint_t           refs; /* pieces not yet sent or spilled */
    bw_upstream_slot_t *next; /* in the free list */
};

/*
 * The relay's state. Body pieces travel, in order, through: in_file (spilled
 * to the temp file) and in_mem (in a slot), both not yet given to the
 * filters, in_file always ahead of in_mem; then busy (given to the filters,
 * not yet sent); then back to free_links.
 */
typedef struct bw_upstream_pipe_s {
    bw_upstream_slot_t  head;        /* the head buffer's storage (proxy_buffer_size) */
    bw_upstream_slot_t *reading;     /* the slot recv() fills */
    bw_upstream_slot_t *free;        /* empty slots */
    bw_uint_t           nslots;      /* slots allocated besides the head's */
    bw_uint_t           max_slots;   /* proxy_buffers number; 0 without buffering */
    size_t              slot_size;   /* proxy_buffers size */
    bw_chain_t         *in_file;
    bw_chain_t         *in_file_last; /* the last link of in_file, or NULL */
    bw_chain_t         *in_mem;
    bw_chain_t        **in_mem_tail;
    bw_chain_t         *busy;
    bw_chain_t        **busy_tail;
    bw_chain_t         *free_links;  /* links with a buffer header each */
    off_t               busy_size;   /* bytes in busy not yet sent */
    bw_file_t           file;        /* the temp file; fd -1 until the first spill */
    off_t               file_size;   /* bytes written to it */
    bool                spill;       /* the temp file may be used */
    bool                last_sent;   /* the last buffer went to the filters */
} bw_upstream_pipe_t;

/* ---- the request body sent as it arrives (upstream_request_body.c) ---- */

typedef struct bw_upstream_stream_s {
    bw_buf_t          *buf;       /* client_body_buffer_size: what recv() reads into */
    bw_http_chunked_t  chunked;   /* decoder of a chunked request body */
    bw_chain_t        *free;      /* links and buffer headers of sent pieces */
    bw_chain_t        *used;      /* the pieces of the last read: u->request_out */
    bw_chain_t       **used_tail;
    u_char             line[24];  /* the size line of the chunk being sent */
    bool               preread;   /* bytes that came with the head were used */
    bool               done;      /* the whole body was read */
} bw_upstream_stream_t;

/* ---- upstream.c ---- */

/* True when the array of bw_str_t holds name (case-insensitive). */
bool bw_upstream_names_has(const bw_array_t *a, const bw_str_t *name);

/* ---- upstream_connect.c ---- */

/* The monotonic clock of the attempts' timings. */
bw_msec_t bw_upstream_now(void);
/* An event handler for a step with nothing to do. */
void bw_upstream_dummy_handler(bw_http_request_t *r, bw_upstream_t *u);
/* Client read events while the upstream works: notices a client that left. */
void bw_upstream_check_broken(bw_http_request_t *r);
/* Starts an attempt: picks a peer and connects (or takes a cached connection). */
void bw_upstream_connect(bw_http_request_t *r, bw_upstream_t *u);
/* Sends u->request_out (and a streamed body as it arrives); then waits for
 * the head. */
void bw_upstream_send_request(bw_http_request_t *r, bw_upstream_t *u);
/* The attempt failed with ft_type (BW_UPSTREAM_FT_*): another peer, or the end. */
void bw_upstream_next(bw_http_request_t *r, bw_upstream_t *u, bw_uint_t ft_type);
/*
 * Ends the upstream's work once: releases the peer (to the keep-alive cache
 * when reusable), then ends the request with rc (BW_OK after the body: the
 * last buffer goes out).
 */
void bw_upstream_finalize(bw_http_request_t *r, bw_upstream_t *u, bw_int_t rc);
/* Gives the peer connection back: to the keep-alive cache when the response
 * was read whole and allows it, else closed. Idempotent. */
void bw_upstream_release_peer(bw_upstream_t *u);
/* recv() on the peer; failures logged at error level. Bytes, 0 at EOF,
 * BW_AGAIN or BW_ERROR. */
ssize_t bw_upstream_recv(bw_connection_t *c, u_char *buf, size_t size);

/* ---- upstream_headers.c ---- */

/*
 * The head is parsed and final: X-Accel-Redirect, or the headers to the
 * client and then the body (or the tunnel of a 101).
 */
void bw_upstream_send_response(bw_http_request_t *r, bw_upstream_t *u);
/* Copies the upstream's headers to r->headers_out (hiding, rewriting).
 * BW_OK or BW_ERROR. */
bw_rc_t bw_upstream_process_headers(bw_http_request_t *r, bw_upstream_t *u);

/* ---- upstream_body.c ---- */

/* The head went to the client: relays the body (bytes already in u->buffer
 * first). */
void bw_upstream_body_start(bw_http_request_t *r, bw_upstream_t *u);
/* Moves the body on: to the client as it drains, from the peer while there
 * is room. Called on events of either side. */
void bw_upstream_relay(bw_http_request_t *r, bw_upstream_t *u);

/* ---- upstream_temp.c ---- */

/*
 * Opens a new temp file under path (creating missing level directories),
 * unlinked at once so nothing is left behind; the fd is closed with r's
 * pool. Logs `warn` (at warn level) with the file's name. BW_OK or
 * BW_ERROR (logged).
 */
bw_rc_t bw_upstream_temp_open(bw_http_request_t *r, const bw_upstream_temp_path_t *path,
                              bw_file_t *file, const char *warn);

/* ---- upstream_tunnel.c ---- */

/* 101 to an Upgrade request: passes the head, then relays bytes both ways. */
void bw_upstream_upgrade(bw_http_request_t *r, bw_upstream_t *u);

/* ---- upstream_request_body.c ---- */

/*
 * Reads what the client sent of a streamed body and appends it to
 * u->request_out. BW_OK: pieces were added; BW_AGAIN: nothing now (the
 * client's read timer is armed); BW_DONE: the body is complete (its last
 * pieces, if any, were added); else an HTTP status (400, 408, 413, 500).
 * Only when u->request_out is empty: earlier pieces were all sent.
 */
bw_int_t bw_upstream_stream_read(bw_http_request_t *r, bw_upstream_t *u);
/* The head of the answer arrived: stop waiting for the client's body. */
void bw_upstream_stream_stop(bw_http_request_t *r, bw_upstream_t *u);

#endif
