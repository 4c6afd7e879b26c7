/*
 * ws.c -- bw_origin's WebSocket echo (RFC 6455): the opening handshake with
 * Sec-WebSocket-Accept (section 4.2.2), then every frame sent back unmasked
 * with its opcode and FIN bit; ping is answered with pong, pong is dropped,
 * close is echoed and ends the connection.
 */
#include "origin.h"

#include <openssl/evp.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <string.h>

#define BW_ORIGIN_WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

#define BW_ORIGIN_WS_CLOSE 0x8
#define BW_ORIGIN_WS_PING  0x9
#define BW_ORIGIN_WS_PONG  0xA

bool bw_origin_ws_accept(bw_origin_conn_t *c)
{
    bw_origin_req_t *r = &c->req;
    const char      *key = bw_origin_request_header(r, "Sec-WebSocket-Key");
    unsigned char    digest[SHA_DIGEST_LENGTH];
    unsigned char    accept[64];
    char             joined[256];

    if (key == NULL || !bw_origin_request_has_token(r, "Upgrade", "websocket")
        || strlen(key) + sizeof(BW_ORIGIN_WS_GUID) > sizeof(joined))
    {
        return false;
    }
    snprintf(joined, sizeof(joined), "%s%s", key, BW_ORIGIN_WS_GUID);
    SHA1((const unsigned char *) joined, strlen(joined), digest);
    EVP_EncodeBlock(accept, digest, SHA_DIGEST_LENGTH);
    bw_origin_buf_addf(&c->out,
                       "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                       "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\nX-Origin: %s\r\n"
                       "X-Origin-Conn: %llu\r\n\r\n",
                       (const char *) accept, bw_origin.name, (unsigned long long) c->id);
    bw_origin_request_reset(r);
    c->head_done = false;
    c->state = BW_ORIGIN_WS;
    bw_origin_ws_input(c);
    return true;
}

/* Appends an unmasked frame header for a payload of len bytes. */
static void bw_origin_ws_frame_head(bw_origin_conn_t *c, unsigned char b0, uint64_t len)
{
    unsigned char h[10];
    size_t        n = 2;

    h[0] = b0;
    if (len < 126) {
        h[1] = (unsigned char) len;
    } else if (len <= 0xffff) {
        h[1] = 126;
        h[2] = (unsigned char) (len >> 8);
        h[3] = (unsigned char) len;
        n = 4;
    } else {
        h[1] = 127;
        for (int i = 0; i < 8; i++) {
            h[2 + i] = (unsigned char) (len >> (56 - 8 * i));
        }
        n = 10;
    }
    bw_origin_buf_add(&c->out, h, n);
}

/* Appends len payload bytes at p, unmasked with mask (NULL: not masked). */
static void bw_origin_ws_payload(bw_origin_conn_t *c, const unsigned char *p, uint64_t len,
                                 const unsigned char *mask)
{
    unsigned char piece[4096];

    for (uint64_t off = 0; off < len;) {
        size_t k = len - off < sizeof(piece) ? (size_t) (len - off) : sizeof(piece);

        for (size_t i = 0; i < k; i++) {
            piece[i] = mask != NULL ? p[off + i] ^ mask[(off + i) % 4] : p[off + i];
        }
        bw_origin_buf_add(&c->out, piece, k);
        off += k;
    }
}

/*
 * Size of the frame header at p[0..avail) and its payload length; 0 when
 * the header has not all come.
 */
static size_t bw_origin_ws_header(const unsigned char *p, size_t avail, uint64_t *len)
{
    size_t n = 2;

    if (avail < 2) {
        return 0;
    }
    *len = p[1] & 0x7f;
    if (*len == 126) {
        n = 4;
        if (avail < n) {
            return 0;
        }
        *len = ((uint64_t) p[2] << 8) | p[3];
    } else if (*len == 127) {
        n = 10;
        if (avail < n) {
            return 0;
        }
        *len = 0;
        for (int i = 0; i < 8; i++) {
            *len = (*len << 8) | p[2 + i];
        }
    }
    n += (p[1] & 0x80) ? 4 : 0;
    return avail >= n ? n : 0;
}

void bw_origin_ws_input(bw_origin_conn_t *c)
{
    for (;;) {
        size_t               avail = bw_origin_buf_len(&c->in), hlen;
        const unsigned char *p;
        uint64_t             len = 0;
        unsigned             op;

        if (avail < 2) {
            break;
        }
        p = (const unsigned char *) c->in.data + c->in.start;
        hlen = bw_origin_ws_header(p, avail, &len);
        if (hlen > 0 && len > BW_ORIGIN_MAX_WS_PAYLOAD) {
            bw_origin_conn_close(c);
            return;
        }
        if (hlen == 0 || avail - hlen < len) {
            break;
        }
        op = p[0] & 0x0f;
        if (op != BW_ORIGIN_WS_PONG) {
            unsigned char b0 = op == BW_ORIGIN_WS_PING ? (p[0] & 0xf0) | BW_ORIGIN_WS_PONG : p[0];

            bw_origin_ws_frame_head(c, b0, len);
            bw_origin_ws_payload(c, p + hlen, len, (p[1] & 0x80) ? p + hlen - 4 : NULL);
        }
        bw_origin_buf_consume(&c->in, hlen + (size_t) len);
        if (op == BW_ORIGIN_WS_CLOSE) {
            c->resp_close = true;
            c->body_done = true;
            c->state = BW_ORIGIN_WRITE;
            bw_origin_response_write(c);
            return;
        }
    }
    if (bw_origin_response_flush(c) == -1) {
        bw_origin_conn_close(c);
        return;
    }
    bw_origin_conn_watch(c);
}
