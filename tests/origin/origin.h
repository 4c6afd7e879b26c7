/*
 * origin.h -- types shared by the files of bw_origin, the test backend: the
 * connection, the request as received, and the controls that shape the
 * response. See origin.c for what the controls do.
 */
#ifndef BW_ORIGIN_H
#define BW_ORIGIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define BW_ORIGIN_MAX_HEADERS    256
#define BW_ORIGIN_MAX_EXTRA      32         /* header= and trailer= per request */
#define BW_ORIGIN_MAX_HEAD       (1 << 20)  /* request head bytes before a 400 */
#define BW_ORIGIN_MAX_WS_PAYLOAD (16 << 20)
#define BW_ORIGIN_PIECE          65536      /* body bytes generated per write */

/* A byte buffer: bytes [start, end) are pending. */
typedef struct {
    char  *data;
    size_t start;
    size_t end;
    size_t cap;
} bw_origin_buf_t;

typedef enum {
    BW_ORIGIN_ECHO_NONE = 0,
    BW_ORIGIN_ECHO_RAW,        /* echo=1: request head and body bytes as received */
    BW_ORIGIN_ECHO_BODY,       /* echo=body: the decoded request body only */
} bw_origin_echo_t;

/* What the request asked of the response (query arguments, X-Origin-Control). */
typedef struct {
    int              status;
    int              delay_ms;
    int              body_delay_ms;
    int              chunk_delay_ms;
    int64_t          len;              /* -1: not given */
    bool             chunked;
    size_t           chunk;
    bool             close;
    bool             close_mid;
    bool             cond;
    bool             ws;
    bw_origin_echo_t echo;
    size_t           huge_header;
    char            *body;             /* body=text, decoded */
    char            *extra[BW_ORIGIN_MAX_EXTRA];    /* "Name: value" lines */
    int              nextra;
    char            *trailer[BW_ORIGIN_MAX_EXTRA];
    int              ntrailer;
} bw_origin_ctl_t;

typedef struct {
    const char *name;
    const char *value;
} bw_origin_field_t;

typedef enum {
    BW_ORIGIN_CHUNK_SIZE = 0,  /* reading the hex size line */
    BW_ORIGIN_CHUNK_DATA,
    BW_ORIGIN_CHUNK_DATA_END,  /* the CRLF after chunk data */
    BW_ORIGIN_CHUNK_TRAILER,   /* trailer lines up to the blank one */
    BW_ORIGIN_CHUNK_DONE,
} bw_origin_chunk_state_t;

/* The request being read or answered. */
typedef struct {
    char                   *head;       /* raw head bytes as received (NUL-terminated) */
    size_t                  head_len;
    char                   *parsed;     /* a copy cut into NUL-terminated fields */
    const char             *method;
    const char             *uri;
    const char             *version;
    bw_origin_field_t       fields[BW_ORIGIN_MAX_HEADERS];
    int                     nfields;
    bool                    has_body;
    bool                    chunked;
    int64_t                 body_left;  /* Content-Length bytes still to come */
    bw_origin_chunk_state_t chunk_state;
    uint64_t                chunk_left;
    uint64_t                body_len;   /* decoded body bytes received */
    bw_origin_buf_t         raw_body;   /* framing included, for echo=1 */
    bw_origin_buf_t         body;       /* decoded, for echo=body */
    bool                    keep_alive;
    bool                    is_head;
    bw_origin_ctl_t         ctl;
} bw_origin_req_t;

typedef enum {
    BW_ORIGIN_READ = 0,        /* reading a request (or idle between requests) */
    BW_ORIGIN_DELAY,           /* request read; waiting delay= before the headers */
    BW_ORIGIN_WRITE,           /* sending the response */
    BW_ORIGIN_PAUSE,           /* body_delay= or chunk_delay= between body pieces */
    BW_ORIGIN_WS,              /* WebSocket: echoing frames */
    BW_ORIGIN_LINGER,          /* our side shut down; draining until the peer closes */
} bw_origin_state_t;

typedef struct bw_origin_conn_s bw_origin_conn_t;

struct bw_origin_conn_s {
    int               fd;
    uint64_t          id;               /* accept order, from 1 */
    uint64_t          nrequests;        /* requests answered on this connection */
    bw_origin_state_t state;
    uint32_t          events;           /* epoll interest now registered */
    int64_t           timer_at;         /* monotonic ms; 0: none */
    bw_origin_buf_t   in;
    bw_origin_buf_t   out;
    bw_origin_req_t   req;
    bool              head_done;        /* req holds a parsed head */
    bool              peer_eof;         /* the peer closed its sending side */
    bool              closed;           /* closed; freed after the current event batch */
    /* the response body being generated */
    const char       *src;              /* body bytes, or NULL for the len= pattern */
    char             *src_owned;        /* what to free for src */
    uint64_t          body_total;
    uint64_t          body_sent;
    uint64_t          body_stop;        /* close_mid: stop (and close) here */
    bool              paused;           /* the delay before the next piece has passed */
    bool              body_done;        /* everything, last chunk included, is queued */
    bool              resp_chunked;
    bool              resp_bodyless;    /* HEAD, 1xx, 204, 304: no body, no last chunk */
    bool              resp_close;       /* close after this response */
    bw_origin_conn_t *prev;
    bw_origin_conn_t *next;
};

/* Process-wide settings and counters. */
typedef struct {
    const char       *name;
    int               idle_ms;          /* -k: close idle keep-alive connections */
    bool              refuse;           /* -r */
    bool              verbose;          /* -v */
    uint64_t          requests;
    uint64_t          connections;
    uint64_t          active;
    bw_origin_conn_t *conns;
    bw_origin_conn_t *dead;             /* closed, to free after the event batch */
} bw_origin_t;

extern bw_origin_t bw_origin;

/* ---- origin.c: the loop */
int64_t bw_origin_now_ms(void);
/* Re-registers c with epoll for the events its state needs. */
void bw_origin_conn_watch(bw_origin_conn_t *c);
/* Closes c; its memory stays valid (c->closed) until the event batch ends. */
void bw_origin_conn_close(bw_origin_conn_t *c);
/* Shuts our side down and drains the peer for a moment before closing. */
void bw_origin_conn_linger(bw_origin_conn_t *c);

/* ---- buf */
bool bw_origin_buf_add(bw_origin_buf_t *b, const void *data, size_t len);
bool bw_origin_buf_addf(bw_origin_buf_t *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
size_t bw_origin_buf_len(const bw_origin_buf_t *b);
void bw_origin_buf_consume(bw_origin_buf_t *b, size_t n);
void bw_origin_buf_free(bw_origin_buf_t *b);

/* ---- request.c: reading requests */
/* Processes buffered input in the READ state; may start a response. */
void bw_origin_request_input(bw_origin_conn_t *c);
void bw_origin_request_reset(bw_origin_req_t *r);
/* Value of the first header named name (case-insensitive), or NULL. */
const char *bw_origin_request_header(const bw_origin_req_t *r, const char *name);
/* True when a comma-separated header list holds token (case-insensitive). */
bool bw_origin_request_has_token(const bw_origin_req_t *r, const char *name, const char *token);

/* ---- control.c: query arguments and X-Origin-Control */
void bw_origin_ctl_parse(bw_origin_ctl_t *ctl, const char *query);
void bw_origin_ctl_free(bw_origin_ctl_t *ctl);

/* ---- response.c: answering */
/* The request is complete: wait delay= or answer now. */
void bw_origin_response_start(bw_origin_conn_t *c);
/* Sends the head after delay=. */
void bw_origin_response_send(bw_origin_conn_t *c);
/* Writes what can be written; called on EPOLLOUT and after pauses. */
void bw_origin_response_write(bw_origin_conn_t *c);
/* Writes c->out; -1 on a write error, 0 when all is out, 1 when some waits. */
int bw_origin_response_flush(bw_origin_conn_t *c);
/* Queues a small complete response and closes after it (for bad requests). */
void bw_origin_response_error(bw_origin_conn_t *c, int status);

/* ---- ws.c: WebSocket */
/* Answers the Upgrade with 101; false when the request is not a valid one. */
bool bw_origin_ws_accept(bw_origin_conn_t *c);
/* Echoes every complete frame buffered in c->in. */
void bw_origin_ws_input(bw_origin_conn_t *c);

#endif
