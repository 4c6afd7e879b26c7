/*
 * io.c -- plain (non-TLS) socket reads and writes for connections, including
 * gathering a buffer chain into writev and sendfile calls.
 */
#include "io.h"

#include "log.h"

#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/uio.h>

void
bw_io_error_log(bw_connection_t *c, int err, const char *call)
{
    unsigned level = BW_LOG_CRIT;

    switch (err) {
    case ECONNRESET:
    case EPIPE:
    case ENOTCONN:
    case ETIMEDOUT:
    case ECONNREFUSED:
    case ENETDOWN:
    case ENETUNREACH:
    case EHOSTDOWN:
    case EHOSTUNREACH:
        level = BW_LOG_INFO;
        break;
    }
    bw_log_error(level, c->log, err, "%s failed", call);
}

ssize_t
bw_recv(bw_connection_t *c, u_char *buf, size_t size)
{
    bw_event_t *rev = c->read;

    for (;;) {
        ssize_t n = recv(c->fd, buf, size, 0);
        if (n > 0) {
            if ((size_t) n < size && !rev->pending_eof) {
                rev->ready = 0;
            }
            return n;
        }
        if (n == 0) {
            rev->ready = 0;
            rev->eof = 1;
            return 0;
        }
        int err = errno;
        if (err == EINTR) {
            continue;
        }
        rev->ready = 0;
        if (err == EAGAIN || err == EWOULDBLOCK) {
            return BW_AGAIN;
        }
        rev->error = 1;
        bw_io_error_log(c, err, "recv()");
        return BW_ERROR;
    }
}

ssize_t
bw_send(bw_connection_t *c, const u_char *buf, size_t size)
{
    bw_event_t *wev = c->write;

    for (;;) {
        ssize_t n = send(c->fd, buf, size, MSG_NOSIGNAL);
        if (n >= 0) {
            c->sent += n;
            if ((size_t) n < size) {
                wev->ready = 0;
            }
            return n;
        }
        int err = errno;
        if (err == EINTR) {
            continue;
        }
        wev->ready = 0;
        if (err == EAGAIN || err == EWOULDBLOCK) {
            return BW_AGAIN;
        }
        wev->error = 1;
        bw_io_error_log(c, err, "send()");
        return BW_ERROR;
    }
}

/* Sends iov with sendmsg (writev with flags); bytes, BW_AGAIN or BW_ERROR. */
static ssize_t
bw_io_sendmsg(bw_connection_t *c, struct iovec *iov, int niov, bool more)
{
    struct msghdr msg = {.msg_iov = iov, .msg_iovlen = (size_t) niov};
    int flags = MSG_NOSIGNAL | (more ? MSG_MORE : 0);

    for (;;) {
        ssize_t n = sendmsg(c->fd, &msg, flags);
        if (n >= 0) {
            return n;
        }
        if (errno == EINTR) {
            continue;
        }
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            return BW_AGAIN;
        }
        c->write->error = 1;
        bw_io_error_log(c, errno, "writev()");
        return BW_ERROR;
    }
}

/*
 * Gathers memory buffers from `cl` into iov, at most `room` bytes, stopping
 * at the first buffer that is only in a file. *want gets the byte count and
 * *more whether a file buffer follows at once.
 */
static int
bw_io_gather(const bw_chain_t *cl, struct iovec *iov, off_t room, off_t *want, bool *more)
{
    int niov = 0;
    off_t size = 0;

    *more = false;
    for (; cl && niov < BW_IOVS_MAX && size < room; cl = cl->next) {
        bw_buf_t *b = cl->buf;
        if (bw_buf_special(b)) {
            continue;
        }
        if (!bw_buf_in_memory(b)) {
            *more = true;
            break;
        }
        off_t len = bw_min((off_t) (b->last - b->pos), room - size);
        if (len == 0) {
            continue;
        }
        iov[niov].iov_base = b->pos;
        iov[niov].iov_len = (size_t) len;
        niov++;
        size += len;
    }
    *want = size;
    return niov;
}

/*
 * Sends file buffers starting at `cl` with one sendfile while they continue
 * the same file contiguously, at most `room` bytes. *want gets the count.
 */
static ssize_t
bw_io_sendfile(bw_connection_t *c, const bw_chain_t *cl, off_t room, off_t *want)
{
    bw_buf_t *b = cl->buf;
    off_t offset = b->file_pos, end = b->file_last;

    for (cl = cl->next; cl && end - offset < room; cl = cl->next) {
        bw_buf_t *nb = cl->buf;
        if (bw_buf_in_memory(nb) || !nb->in_file || nb->file->fd != b->file->fd
            || nb->file_pos != end) {
            break;
        }
        end = nb->file_last;
    }
    size_t size = (size_t) bw_min(end - offset, room);
    *want = (off_t) size;

    for (;;) {
        ssize_t n = sendfile(c->fd, b->file->fd, &offset, size);
        if (n > 0) {
            return n;
        }
        if (n == 0) {
            bw_log_error(BW_LOG_CRIT, c->log, 0, "sendfile() reported that \"%s\" was "
                         "truncated at %lld", (char *) b->file->name.data, (long long) offset);
            c->write->error = 1;
            return BW_ERROR;
        }
        if (errno == EINTR) {
            continue;
        }
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            return BW_AGAIN;
        }
        c->write->error = 1;
        bw_io_error_log(c, errno, "sendfile()");
        return BW_ERROR;
    }
}

bw_chain_t *
bw_send_chain(bw_connection_t *c, bw_chain_t *in, off_t limit)
{
    bw_event_t *wev = c->write;
    struct iovec iov[BW_IOVS_MAX];
    off_t total = 0;

    if (limit <= 0 || limit > BW_SEND_CHAIN_MAX) {
        limit = BW_SEND_CHAIN_MAX;
    }
    while (total < limit) {
        /* Skip markers and empty buffers: only data needs a system call. */
        in = bw_chain_update_sent(in, 0);
        if (in == NULL) {
            return NULL;
        }
        if (!wev->ready) {
            return in;
        }
        off_t want;
        ssize_t n;
        if (bw_buf_in_memory(in->buf)) {
            bool more;
            int niov = bw_io_gather(in, iov, limit - total, &want, &more);
            n = bw_io_sendmsg(c, iov, niov, more);
        } else {
            n = bw_io_sendfile(c, in, limit - total, &want);
        }
        if (n == BW_ERROR) {
            return BW_CHAIN_ERROR;
        }
        if (n == BW_AGAIN) {
            wev->ready = 0;
            return in;
        }
        c->sent += n;
        total += n;
        in = bw_chain_update_sent(in, n);
        if (n < want) {
            wev->ready = 0;
            return in;
        }
    }
    return in;
}
