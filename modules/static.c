/*
 * static.c -- plain files (module `static`, content phase): maps the URI to
 * a file under root/alias, answers 404/403 as the open fails, redirects a
 * directory named without its trailing slash (301 to "uri/"), and sends a
 * regular file as one file buffer with Content-Type, Content-Length,
 * Last-Modified, ETag (unless `etag off`) and ranges allowed.
 *
 * URIs ending in '/' are left to index and autoindex. GET and HEAD are
 * served; POST gets 405 for a file that exists (and is offered to the
 * others first, as nginx does), other methods 405 at once. The file
 * descriptor lives until the request's pool is destroyed; the write filter
 * sends the buffer (sendfile or reads, per `sendfile`).
 */
#include "core_module.h"
#include "pool.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

static bw_int_t bw_static_handler(bw_http_request_t *r);

static const bw_http_phase_hook_t bw_static_phases[] = {
    {BW_HTTP_CONTENT_PHASE, bw_static_handler},
    {0, NULL},
};

static const bw_http_module_t bw_static_module_ctx = {
    .phases = bw_static_phases,
};

bw_module_t bw_static_module = {
    .name = "static",
    .type = BW_MODULE_HTTP,
    .ctx = &bw_static_module_ctx,
};

/* The status for a failed open(), and how loudly it is logged. */
static bw_int_t
bw_static_open_error(int err, unsigned *level)
{
    switch (err) {
    case ENOENT:
    case ENOTDIR:
    case ENAMETOOLONG:
        *level = BW_LOG_ERR;
        return 404;
    case EACCES:
    case EMLINK:
    case ELOOP:
        *level = BW_LOG_ERR;
        return 403;
    default:
        *level = BW_LOG_CRIT;
        return 500;
    }
}

/*
 * Opens path (NUL-terminated) for reading and stats it, through the
 * location's open_file_cache when there is one. The file stays open until
 * the request's pool goes. BW_OK, or the status to answer with (logged as
 * nginx logs it; a missing file only with log_not_found on).
 */
static bw_int_t
bw_static_open(bw_http_request_t *r, const bw_str_t *path, bw_file_t **out, struct stat *st)
{
    bw_http_core_loc_conf_t *clcf = bw_http_core_loc(r);
    bw_log_t                *log = r->connection->log;
    bw_open_file_info_t      of = {
        .valid = (bw_msec_t) clcf->open_file_cache_valid * 1000,
        .min_uses = clcf->open_file_cache_min_uses,
        .errors = clcf->open_file_cache_errors != 0,
    };
    unsigned level;

    bw_file_t *file = bw_pcalloc(r->pool, sizeof(bw_file_t));
    if (file == NULL) {
        return 500;
    }
    bw_rc_t rc = bw_open_cached_file(clcf->open_file_cache, path, &of, r->pool, log);
    if (rc == BW_ERROR) {
        return 500;
    }
    if (rc != BW_OK) {
        if (strcmp(of.failed, "fstat()") == 0) {
            bw_log_error(BW_LOG_CRIT, log, of.err, "fstat() \"%s\" failed",
                         (const char *) path->data);
            return 500;
        }
        bw_int_t status = bw_static_open_error(of.err, &level);
        if (status != 404 || clcf->log_not_found) {
            bw_log_error(level, log, of.err, "open() \"%s\" failed", (const char *) path->data);
        }
        return status;
    }
    file->fd = of.fd;
    file->name = *path;
    file->log = log;
    *st = of.st;
    *out = file;
    return BW_OK;
}

/*
 * A directory named without its trailing slash: 301 to "uri/" (with the
 * arguments). The header filter makes the Location absolute as
 * absolute_redirect and friends say.
 */
static bw_int_t
bw_static_redirect_dir(bw_http_request_t *r)
{
    static const bw_str_t key = bw_string("Location");
    bw_str_t location;

    location.len = r->uri.len + 1 + (r->args.len ? r->args.len + 1 : 0);
    location.data = bw_pnalloc(r->pool, location.len);
    if (location.data == NULL) {
        return 500;
    }
    u_char *p = location.data;
    memcpy(p, r->uri.data, r->uri.len);
    p += r->uri.len;
    *p++ = '/';
    if (r->args.len) {
        *p++ = '?';
        memcpy(p, r->args.data, r->args.len);
    }

    if (r->headers_out.location) {
        r->headers_out.location->hash = 0;
        r->headers_out.location = NULL;
    }
    bw_http_header_t *h = bw_http_add_header_out(r, &key, &location);
    if (h == NULL) {
        return 500;
    }
    r->headers_out.location = h;
    return 301;
}

/* ETag "<mtime hex>-<size hex>", as nginx forms it (unless `etag off`). */
static bw_rc_t
bw_static_etag_set(bw_http_request_t *r)
{
    static const bw_str_t key = bw_string("ETag");

    if (!bw_http_core_loc(r)->etag) {
        return BW_OK;
    }
    /* "<mtime hex>-<size hex>" as nginx forms it; built without printf (hot path) */
    u_char *p = bw_pnalloc(r->pool, sizeof("\"-\"") - 1 + 2 * 16);
    bw_str_t *value = bw_palloc(r->pool, sizeof(bw_str_t));
    if (p == NULL || value == NULL) {
        return BW_ERROR;
    }
    value->data = p;
    *p++ = '"';
    p = bw_x64_put(p, (uint64_t) r->headers_out.last_modified_time);
    *p++ = '-';
    p = bw_x64_put(p, (uint64_t) r->headers_out.content_length_n);
    *p++ = '"';
    value->len = (size_t) (p - value->data);
    bw_http_header_t *h = bw_http_add_header_out(r, &key, value);
    if (h == NULL) {
        return BW_ERROR;
    }
    r->headers_out.etag = h;
    return BW_OK;
}

/* Sends the header, then the whole file as one buffer (none for HEAD). */
static bw_int_t
bw_static_send(bw_http_request_t *r, bw_file_t *file, off_t size)
{
    bw_buf_t *b = bw_buf_calloc(r->pool);
    bw_chain_t *out = bw_chain_alloc_link(r->pool);
    if (b == NULL || out == NULL) {
        return 500;
    }

    bw_rc_t rc = bw_http_send_header(r);
    if (rc == BW_ERROR || rc > BW_OK || r->header_only) {
        return rc;
    }

    b->file = file;
    b->file_pos = 0;
    b->file_last = size;
    b->in_file = size > 0;
    b->last_buf = r == r->main;
    b->last_in_chain = 1;
    b->sync = !b->last_buf && !b->in_file;
    out->buf = b;
    out->next = NULL;
    return bw_http_output_filter(r, out);
}

static bw_int_t
bw_static_handler(bw_http_request_t *r)
{
    bw_str_t path;
    size_t root;
    struct stat st;
    bw_file_t *file = NULL;

    if (!(r->method & (BW_HTTP_GET | BW_HTTP_HEAD | BW_HTTP_POST))) {
        return 405;
    }
    if (r->uri.len == 0 || r->uri.data[r->uri.len - 1] == '/') {
        return BW_DECLINED;
    }
    if (bw_http_map_uri_to_path(r, &path, &root, 0) == NULL) {
        return 500;
    }
    bw_int_t rc = bw_static_open(r, &path, &file, &st);
    if (rc != BW_OK) {
        return rc;
    }
    if (S_ISDIR(st.st_mode)) {
        return bw_static_redirect_dir(r);
    }
    if (!S_ISREG(st.st_mode)) {
        bw_log_error(BW_LOG_CRIT, r->connection->log, 0, "\"%s\" is not a regular file",
                     (const char *) path.data);
        return 404;
    }
    if (r->method == BW_HTTP_POST) {
        return 405;
    }
    rc = bw_http_discard_request_body(r);
    if (rc != BW_OK) {
        return rc;
    }

    r->headers_out.status = 200;
    r->headers_out.content_length_n = st.st_size;
    r->headers_out.last_modified_time = st.st_mtime;
    if (bw_static_etag_set(r) != BW_OK || bw_http_set_content_type(r) != BW_OK) {
        return 500;
    }
    if (r != r->main && st.st_size == 0) {
        return bw_http_send_header(r);
    }
    r->allow_ranges = 1;
    return bw_static_send(r, file, st.st_size);
}
