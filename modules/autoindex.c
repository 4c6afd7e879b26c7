/*
 * autoindex.c -- directory listings (module `autoindex`, content phase):
 * `autoindex on` lists the directory a URI ending in '/' names, as nginx
 * lays it out, in the `autoindex_format` asked: html (the default: names
 * cut to 50 columns, dates and sizes aligned; `autoindex_exact_size off`
 * rounds sizes to K/M/G; `autoindex_localtime on` shows local time), xml,
 * json, or jsonp (json wrapped in the `callback` argument's function).
 *
 * Names starting with '.' are not listed; directories come first, then
 * files, each in byte order of their names. A symlink to nowhere is listed
 * with its own attributes. The body is built in one buffer and has no
 * Content-Length (it goes chunked, or to the close).
 */
#include "core_module.h"
#include "clock.h"
#include "pool.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#define BW_AUTOINDEX_HTML  0
#define BW_AUTOINDEX_JSON  1
#define BW_AUTOINDEX_XML   2
#define BW_AUTOINDEX_JSONP 3

/* Columns a name may take in the html listing. */
#define BW_AUTOINDEX_NAME_LEN 50
/* The longest jsonp callback name accepted. */
#define BW_AUTOINDEX_CALLBACK_MAX 128

typedef struct {
    bw_int_t  enable;
    bw_uint_t format;
    bw_int_t  localtime;
    bw_int_t  exact_size;
} bw_autoindex_loc_conf_t;

typedef struct {
    bw_str_t name; /* NUL-terminated */
    bool     dir;
    bool     file;
    time_t   mtime;
    off_t    size;
} bw_autoindex_entry_t;

/* An open directory, closed with the request's pool. */
typedef struct {
    DIR      *dir;
    u_char   *path;
    bw_log_t *log;
} bw_autoindex_dir_t;

static bw_int_t bw_autoindex_handler(bw_http_request_t *r);
static void *bw_autoindex_create_loc(bw_conf_t *cf);
static const char *bw_autoindex_merge_loc(bw_conf_t *cf, void *prev, void *conf);

static const bw_conf_enum_t bw_autoindex_formats[] = {
    {"html", BW_AUTOINDEX_HTML},
    {"xml", BW_AUTOINDEX_XML},
    {"json", BW_AUTOINDEX_JSON},
    {"jsonp", BW_AUTOINDEX_JSONP},
    {NULL, 0},
};

#define BW_AUTOINDEX_WHERE (BW_CTX_HTTP | BW_CTX_SRV | BW_CTX_LOC)
#define BW_AUTOINDEX_OFF(f) offsetof(bw_autoindex_loc_conf_t, f)

static const bw_directive_t bw_autoindex_directives[] = {
    {"autoindex", BW_AUTOINDEX_WHERE, BW_ARGS_FLAG, BW_CONF_LOC, bw_conf_set_flag,
     BW_AUTOINDEX_OFF(enable), NULL},
    {"autoindex_format", BW_AUTOINDEX_WHERE, BW_ARGS_TAKE1, BW_CONF_LOC, bw_conf_set_enum,
     BW_AUTOINDEX_OFF(format), bw_autoindex_formats},
    {"autoindex_localtime", BW_AUTOINDEX_WHERE, BW_ARGS_FLAG, BW_CONF_LOC, bw_conf_set_flag,
     BW_AUTOINDEX_OFF(localtime), NULL},
    {"autoindex_exact_size", BW_AUTOINDEX_WHERE, BW_ARGS_FLAG, BW_CONF_LOC, bw_conf_set_flag,
     BW_AUTOINDEX_OFF(exact_size), NULL},
    BW_DIRECTIVES_END,
};

static const bw_http_phase_hook_t bw_autoindex_phases[] = {
    {BW_HTTP_CONTENT_PHASE, bw_autoindex_handler},
    {0, NULL},
};

static const bw_http_module_t bw_autoindex_module_ctx = {
    .create_loc = bw_autoindex_create_loc,
    .merge_loc = bw_autoindex_merge_loc,
    .phases = bw_autoindex_phases,
};

bw_module_t bw_autoindex_module = {
    .name = "autoindex",
    .type = BW_MODULE_HTTP,
    .directives = bw_autoindex_directives,
    .ctx = &bw_autoindex_module_ctx,
};

static const char *const bw_autoindex_months[] = {
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
};

/* ------------------------------------------------------------ escaping */

/* Keeps RFC 3986 unreserved bytes of a link; the rest become %XX. Writes
 * into dst when not NULL; returns the escaped length. */
static size_t
bw_autoindex_escape_uri(u_char *dst, const u_char *src, size_t n)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t len = 0;

    for (size_t i = 0; i < n; i++) {
        u_char c = src[i];
        bool keep = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
                    || c == '-' || c == '.' || c == '_' || c == '~';
        if (keep) {
            if (dst) {
                dst[len] = c;
            }
            len++;
            continue;
        }
        if (dst) {
            dst[len] = '%';
            dst[len + 1] = (u_char) hex[c >> 4];
            dst[len + 2] = (u_char) hex[c & 0xf];
        }
        len += 3;
    }
    return len;
}

/* Escapes < > & " for html and xml text. dst may be NULL; returns the length. */
static size_t
bw_autoindex_escape_html(u_char *dst, const u_char *src, size_t n)
{
    size_t len = 0;

    for (size_t i = 0; i < n; i++) {
        const char *rep = NULL;
        switch (src[i]) {
        case '<': rep = "&lt;"; break;
        case '>': rep = "&gt;"; break;
        case '&': rep = "&amp;"; break;
        case '"': rep = "&quot;"; break;
        default: break;
        }
        size_t rl = rep ? strlen(rep) : 1;
        if (dst) {
            if (rep) {
                memcpy(dst + len, rep, rl);
            } else {
                dst[len] = src[i];
            }
        }
        len += rl;
    }
    return len;
}

/* Escapes a JSON string's content. dst may be NULL; returns the length. */
static size_t
bw_autoindex_escape_json(u_char *dst, const u_char *src, size_t n)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t len = 0;

    for (size_t i = 0; i < n; i++) {
        u_char c = src[i], out[6];
        size_t k = 0;
        if (c == '\\' || c == '"') {
            out[k++] = '\\';
            out[k++] = c;
        } else if (c < 0x20) {
            out[k++] = '\\';
            switch (c) {
            case '\n': out[k++] = 'n'; break;
            case '\r': out[k++] = 'r'; break;
            case '\t': out[k++] = 't'; break;
            case '\b': out[k++] = 'b'; break;
            case '\f': out[k++] = 'f'; break;
            default:
                memcpy(out + k, "u00", 3);
                k += 3;
                out[k++] = (u_char) hex[c >> 4];
                out[k++] = (u_char) hex[c & 0xf];
                break;
            }
        } else {
            out[k++] = c;
        }
        if (dst) {
            memcpy(dst + len, out, k);
        }
        len += k;
    }
    return len;
}

/* Appends a C string; returns the new end. */
static u_char *
bw_autoindex_cpy(u_char *p, const char *s)
{
    size_t n = strlen(s);
    memcpy(p, s, n);
    return p + n;
}

/* ---------------------------------------------------- reading the dir */

static void
bw_autoindex_dir_close(void *data)
{
    bw_autoindex_dir_t *d = data;

    if (d->dir && closedir(d->dir) == -1) {
        bw_log_error(BW_LOG_ALERT, d->log, errno, "closedir() \"%s\" failed",
                     (const char *) d->path);
    }
    d->dir = NULL;
}

/* Opens the directory at path (NUL-terminated). BW_OK or a status (logged). */
static bw_int_t
bw_autoindex_dir_open(bw_http_request_t *r, u_char *path, bw_autoindex_dir_t **out)
{
    bw_pool_cleanup_t *cln = bw_pool_cleanup_add(r->pool, sizeof(bw_autoindex_dir_t));
    if (cln == NULL) {
        return 500;
    }
    bw_autoindex_dir_t *d = cln->data;
    d->path = path;
    d->log = r->connection->log;
    d->dir = opendir((const char *) path);
    cln->handler = bw_autoindex_dir_close;
    if (d->dir == NULL) {
        int err = errno;
        unsigned level = BW_LOG_ERR;
        bw_int_t rc;
        if (err == ENOENT || err == ENOTDIR || err == ENAMETOOLONG) {
            rc = 404;
        } else if (err == EACCES) {
            rc = 403;
        } else {
            level = BW_LOG_CRIT;
            rc = 500;
        }
        bw_log_error(level, d->log, err, "opendir() \"%s\" failed", (const char *) path);
        return rc;
    }
    *out = d;
    return BW_OK;
}

/*
 * Fills e from the file at `file` (a broken symlink from the link itself).
 * BW_OK, BW_DECLINED to skip an entry that may not be read, or BW_ERROR
 * (logged).
 */
static bw_rc_t
bw_autoindex_entry_stat(bw_http_request_t *r, u_char *file, bw_autoindex_entry_t *e)
{
    struct stat st;

    if (stat((const char *) file, &st) == -1) {
        int err = errno;
        if (err != ENOENT && err != ELOOP) {
            bw_log_error(BW_LOG_CRIT, r->connection->log, err, "stat() \"%s\" failed",
                         (const char *) file);
            return err == EACCES ? BW_DECLINED : BW_ERROR;
        }
        if (lstat((const char *) file, &st) == -1) {
            bw_log_error(BW_LOG_CRIT, r->connection->log, errno, "lstat() \"%s\" failed",
                         (const char *) file);
            return BW_ERROR;
        }
    }
    e->dir = S_ISDIR(st.st_mode);
    e->file = S_ISREG(st.st_mode);
    e->mtime = st.st_mtime;
    e->size = st.st_size;
    return BW_OK;
}

/* Reads the listed entries of d (whose path is dir_path, dir_len bytes). */
static bw_rc_t
bw_autoindex_entries_read(bw_http_request_t *r, bw_autoindex_dir_t *d, const bw_str_t *dir_path,
                          bw_array_t *entries)
{
    for (;;) {
        errno = 0;
        struct dirent *de = readdir(d->dir);
        if (de == NULL) {
            if (errno != 0) {
                bw_log_error(BW_LOG_CRIT, r->connection->log, errno, "readdir() \"%s\" failed",
                             (const char *) dir_path->data);
                return BW_ERROR;
            }
            return BW_OK;
        }
        if (de->d_name[0] == '.') {
            continue;
        }
        size_t len = strlen(de->d_name);
        u_char *file = bw_pnalloc(r->pool, dir_path->len + 1 + len + 1);
        if (file == NULL) {
            return BW_ERROR;
        }
        memcpy(file, dir_path->data, dir_path->len);
        file[dir_path->len] = '/';
        memcpy(file + dir_path->len + 1, de->d_name, len + 1);

        bw_autoindex_entry_t e;
        bw_rc_t rc = bw_autoindex_entry_stat(r, file, &e);
        if (rc == BW_DECLINED) {
            continue;
        }
        if (rc != BW_OK) {
            return rc;
        }
        e.name.data = file + dir_path->len + 1;
        e.name.len = len;
        bw_autoindex_entry_t *slot = bw_array_push(entries);
        if (slot == NULL) {
            return BW_ERROR;
        }
        *slot = e;
    }
}

/* Directories first, then byte order of names. */
static int
bw_autoindex_entry_cmp(const void *a, const void *b)
{
    const bw_autoindex_entry_t *x = a, *y = b;

    if (x->dir != y->dir) {
        return x->dir ? -1 : 1;
    }
    return strcmp((const char *) x->name.data, (const char *) y->name.data);
}

/* ---------------------------------------------------------------- html */

/* The size column: exact, or rounded to K/M/G as nginx rounds. */
static u_char *
bw_autoindex_html_size(u_char *p, const bw_autoindex_entry_t *e, bool exact)
{
    const off_t k = 1024, m = 1024 * 1024, g = 1024 * 1024 * 1024;
    off_t length = e->size, size;
    char scale = '\0';

    if (exact) {
        if (e->dir) {
            return bw_autoindex_cpy(p, "                  -");
        }
        return p + sprintf((char *) p, "%19" PRId64, (int64_t) length);
    }
    if (e->dir) {
        return bw_autoindex_cpy(p, "      -");
    }
    if (length > g - 1) {
        size = length / g + (length % g > g / 2 - 1);
        scale = 'G';
    } else if (length > m - 1) {
        size = length / m + (length % m > m / 2 - 1);
        scale = 'M';
    } else if (length > 9999) {
        size = length / k + (length % k > 511);
        scale = 'K';
    } else {
        size = length;
    }
    if (scale) {
        return p + sprintf((char *) p, "%6" PRId64 "%c", (int64_t) size, scale);
    }
    return p + sprintf((char *) p, " %6" PRId64, (int64_t) size);
}

/* The link text: the name cut to 50 columns ("..>" marks a cut), padded. */
static u_char *
bw_autoindex_html_name(u_char *p, const bw_autoindex_entry_t *e)
{
    size_t len = e->name.len;
    const u_char *name = e->name.data;

    if (bw_autoindex_escape_html(NULL, name, len) != len) {
        size_t n = len > BW_AUTOINDEX_NAME_LEN ? BW_AUTOINDEX_NAME_LEN - 3 : len;
        p += bw_autoindex_escape_html(p, name, n);
    } else {
        size_t n = bw_min(len, (size_t) BW_AUTOINDEX_NAME_LEN);
        memcpy(p, name, n);
        p += n;
        if (len > BW_AUTOINDEX_NAME_LEN) {
            p -= 3;
        }
    }
    if (len > BW_AUTOINDEX_NAME_LEN) {
        return bw_autoindex_cpy(p, "..&gt;</a>");
    }
    if (e->dir && len < BW_AUTOINDEX_NAME_LEN) {
        *p++ = '/';
        len++;
    }
    p = bw_autoindex_cpy(p, "</a>");
    memset(p, ' ', BW_AUTOINDEX_NAME_LEN - len);
    return p + (BW_AUTOINDEX_NAME_LEN - len);
}

static u_char *
bw_autoindex_html_entry(u_char *p, const bw_autoindex_entry_t *e,
                        const bw_autoindex_loc_conf_t *alcf)
{
    struct tm tm;

    p = bw_autoindex_cpy(p, "<a href=\"");
    p += bw_autoindex_escape_uri(p, e->name.data, e->name.len);
    if (e->dir) {
        *p++ = '/';
    }
    *p++ = '"';
    *p++ = '>';
    p = bw_autoindex_html_name(p, e);
    *p++ = ' ';

    time_t t = e->mtime + (alcf->localtime ? (time_t) bw_time.gmtoff * 60 : 0);
    gmtime_r(&t, &tm);
    p += sprintf((char *) p, "%02d-%s-%d %02d:%02d ", tm.tm_mday, bw_autoindex_months[tm.tm_mon],
                 tm.tm_year + 1900, tm.tm_hour, tm.tm_min);
    p = bw_autoindex_html_size(p, e, alcf->exact_size);
    *p++ = '\r';
    *p++ = '\n';
    return p;
}

static bw_buf_t *
bw_autoindex_html(bw_http_request_t *r, const bw_array_t *entries)
{
    bw_autoindex_loc_conf_t *alcf = bw_http_get_loc_conf(r, bw_autoindex_module);
    const bw_autoindex_entry_t *e = entries->elts;
    size_t uri_len = bw_autoindex_escape_html(NULL, r->uri.data, r->uri.len);

    size_t len = sizeof("<html>\r\n<head><title>Index of </title></head>\r\n<body>\r\n"
                        "<h1>Index of </h1><hr><pre><a href=\"../\">../</a>\r\n"
                        "</pre><hr></body>\r\n</html>\r\n")
                 + 2 * uri_len;
    for (size_t i = 0; i < entries->nelts; i++) {
        len += sizeof("<a href=\"/\">..&gt;</a> 28-Sep-1970 12:00 \r\n")
               + bw_autoindex_escape_uri(NULL, e[i].name.data, e[i].name.len)
               + bw_autoindex_escape_html(NULL, e[i].name.data, e[i].name.len)
               + BW_AUTOINDEX_NAME_LEN + 64 /* size column, long years */;
    }
    bw_buf_t *b = bw_buf_create_temp(r->pool, len);
    if (b == NULL) {
        return NULL;
    }
    u_char *p = b->last;
    p = bw_autoindex_cpy(p, "<html>\r\n<head><title>Index of ");
    p += bw_autoindex_escape_html(p, r->uri.data, r->uri.len);
    p = bw_autoindex_cpy(p, "</title></head>\r\n<body>\r\n<h1>Index of ");
    p += bw_autoindex_escape_html(p, r->uri.data, r->uri.len);
    p = bw_autoindex_cpy(p, "</h1><hr><pre><a href=\"../\">../</a>\r\n");
    for (size_t i = 0; i < entries->nelts; i++) {
        p = bw_autoindex_html_entry(p, &e[i], alcf);
    }
    p = bw_autoindex_cpy(p, "</pre><hr></body>\r\n</html>\r\n");
    b->last = p;
    return b;
}

/* ---------------------------------------------------------- json, xml */

static const char *
bw_autoindex_type(const bw_autoindex_entry_t *e)
{
    return e->dir ? "directory" : e->file ? "file" : "other";
}

static bw_buf_t *
bw_autoindex_json(bw_http_request_t *r, const bw_array_t *entries, const bw_str_t *callback)
{
    const bw_autoindex_entry_t *e = entries->elts;
    size_t len = sizeof("/* callback */\r\n([\r\n]);") + callback->len;

    for (size_t i = 0; i < entries->nelts; i++) {
        len += sizeof("\r\n{ \"name\":\"\", \"type\":\"directory\", "
                      "\"mtime\":\"Wed, 31 Dec 1986 10:00:00 GMT\", \"size\": },")
               + bw_autoindex_escape_json(NULL, e[i].name.data, e[i].name.len) + 64;
    }
    bw_buf_t *b = bw_buf_create_temp(r->pool, len);
    if (b == NULL) {
        return NULL;
    }
    u_char *p = b->last;
    if (callback->len) {
        p = bw_autoindex_cpy(p, "/* callback */\r\n");
        memcpy(p, callback->data, callback->len);
        p += callback->len;
        *p++ = '(';
    }
    *p++ = '[';
    for (size_t i = 0; i < entries->nelts; i++) {
        p = bw_autoindex_cpy(p, "\r\n{ \"name\":\"");
        p += bw_autoindex_escape_json(p, e[i].name.data, e[i].name.len);
        p = bw_autoindex_cpy(p, "\", \"type\":\"");
        p = bw_autoindex_cpy(p, bw_autoindex_type(&e[i]));
        p = bw_autoindex_cpy(p, "\", \"mtime\":\"");
        p += bw_time_http(p, e[i].mtime);
        if (e[i].file) {
            p += sprintf((char *) p, "\", \"size\":%" PRId64, (int64_t) e[i].size);
        } else {
            *p++ = '"';
        }
        p = bw_autoindex_cpy(p, " },");
    }
    if (entries->nelts) {
        p--; /* the last entry's ',' */
    }
    p = bw_autoindex_cpy(p, "\r\n]");
    if (callback->len) {
        p = bw_autoindex_cpy(p, ");");
    }
    b->last = p;
    return b;
}

static bw_buf_t *
bw_autoindex_xml(bw_http_request_t *r, const bw_array_t *entries)
{
    const bw_autoindex_entry_t *e = entries->elts;
    size_t len = sizeof("<?xml version=\"1.0\"?>\r\n<list>\r\n</list>\r\n");
    struct tm tm;

    for (size_t i = 0; i < entries->nelts; i++) {
        len += sizeof("<directory mtime=\"1986-12-31T10:00:00Z\" size=\"\"></directory>\r\n")
               + bw_autoindex_escape_html(NULL, e[i].name.data, e[i].name.len) + 64;
    }
    bw_buf_t *b = bw_buf_create_temp(r->pool, len);
    if (b == NULL) {
        return NULL;
    }
    u_char *p = bw_autoindex_cpy(b->last, "<?xml version=\"1.0\"?>\r\n<list>\r\n");
    for (size_t i = 0; i < entries->nelts; i++) {
        const char *type = bw_autoindex_type(&e[i]);
        gmtime_r(&e[i].mtime, &tm);
        p += sprintf((char *) p, "<%s mtime=\"%04d-%02d-%02dT%02d:%02d:%02dZ\"", type,
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                     tm.tm_sec);
        if (e[i].file) {
            p += sprintf((char *) p, " size=\"%" PRId64 "\"", (int64_t) e[i].size);
        }
        *p++ = '>';
        p += bw_autoindex_escape_html(p, e[i].name.data, e[i].name.len);
        p += sprintf((char *) p, "</%s>\r\n", type);
    }
    b->last = bw_autoindex_cpy(p, "</list>\r\n");
    return b;
}

/* ------------------------------------------------------------- handler */

/*
 * The jsonp callback: the `callback` argument as sent (empty when absent).
 * BW_OK, or BW_DECLINED for a name too long or with other characters than
 * letters, digits, '_' and '.' (logged).
 */
static bw_rc_t
bw_autoindex_callback(bw_http_request_t *r, bw_str_t *callback)
{
    const u_char *p = r->args.data, *end = r->args.data + r->args.len;

    callback->len = 0;
    callback->data = NULL;
    while (p < end) {
        const u_char *amp = memchr(p, '&', (size_t) (end - p));
        const u_char *next = amp ? amp : end;
        if (next - p > 8 && bw_strncasecmp(p, (const u_char *) "callback=", 9) == 0) {
            callback->data = (u_char *) p + 9;
            callback->len = (size_t) (next - p - 9);
            break;
        }
        p = amp ? amp + 1 : end;
    }
    if (callback->len > BW_AUTOINDEX_CALLBACK_MAX) {
        bw_log_error(BW_LOG_ERR, r->connection->log, 0,
                     "client sent too long callback name: \"%.*s\"", BW_STR_ARG(*callback));
        return BW_DECLINED;
    }
    for (size_t i = 0; i < callback->len; i++) {
        u_char c = callback->data[i];
        if (c != '_' && c != '.' && !(c >= 'a' && c <= 'z') && !(c >= 'A' && c <= 'Z')
            && !(c >= '0' && c <= '9')) {
            bw_log_error(BW_LOG_ERR, r->connection->log, 0,
                         "client sent invalid callback name: \"%.*s\"", BW_STR_ARG(*callback));
            return BW_DECLINED;
        }
    }
    return BW_OK;
}

/* Sets the response's type for the format; jsonp without a callback is json. */
static void
bw_autoindex_content_type(bw_http_request_t *r, bw_uint_t format)
{
    bw_http_headers_out_t *ho = &r->headers_out;

    switch (format) {
    case BW_AUTOINDEX_JSON:
        bw_str_set(&ho->content_type, "application/json");
        break;
    case BW_AUTOINDEX_JSONP:
        bw_str_set(&ho->content_type, "application/javascript");
        break;
    case BW_AUTOINDEX_XML:
        bw_str_set(&ho->content_type, "text/xml");
        bw_str_set(&ho->charset, "utf-8");
        break;
    default:
        bw_str_set(&ho->content_type, "text/html");
        break;
    }
    ho->content_type_len = ho->content_type.len;
    ho->content_type_lowcase.len = 0;
    ho->content_type_lowcase.data = NULL;
}

/* Reads, sorts and sends the listing after the header went out. */
static bw_int_t
bw_autoindex_send_body(bw_http_request_t *r, bw_autoindex_dir_t *d, const bw_str_t *path,
                       bw_uint_t format, const bw_str_t *callback)
{
    bw_array_t entries;
    bw_buf_t *b;

    if (bw_array_init(&entries, r->pool, 32, sizeof(bw_autoindex_entry_t)) != BW_OK
        || bw_autoindex_entries_read(r, d, path, &entries) != BW_OK) {
        return BW_ERROR;
    }
    bw_autoindex_dir_close(d);
    if (entries.nelts > 1) {
        qsort(entries.elts, entries.nelts, sizeof(bw_autoindex_entry_t), bw_autoindex_entry_cmp);
    }
    switch (format) {
    case BW_AUTOINDEX_JSON:
    case BW_AUTOINDEX_JSONP:
        b = bw_autoindex_json(r, &entries, callback);
        break;
    case BW_AUTOINDEX_XML:
        b = bw_autoindex_xml(r, &entries);
        break;
    default:
        b = bw_autoindex_html(r, &entries);
        break;
    }
    bw_chain_t *out = bw_chain_alloc_link(r->pool);
    if (b == NULL || out == NULL) {
        return BW_ERROR;
    }
    b->last_buf = r == r->main;
    b->last_in_chain = 1;
    out->buf = b;
    out->next = NULL;
    return bw_http_output_filter(r, out);
}

static bw_int_t
bw_autoindex_handler(bw_http_request_t *r)
{
    bw_autoindex_loc_conf_t *alcf = bw_http_get_loc_conf(r, bw_autoindex_module);
    bw_autoindex_dir_t *d;
    bw_str_t path, callback = bw_null_string;
    size_t root;

    if (r->uri.len == 0 || r->uri.data[r->uri.len - 1] != '/') {
        return BW_DECLINED;
    }
    if (!(r->method & (BW_HTTP_GET | BW_HTTP_HEAD)) || !alcf->enable) {
        return BW_DECLINED;
    }
    if (bw_http_map_uri_to_path(r, &path, &root, 0) == NULL) {
        return 500;
    }
    if (path.len > 1 && path.data[path.len - 1] == '/') {
        path.data[--path.len] = '\0';
    }
    bw_int_t rc = bw_autoindex_dir_open(r, path.data, &d);
    if (rc != BW_OK) {
        return rc;
    }
    rc = bw_http_discard_request_body(r);
    if (rc != BW_OK) {
        return rc;
    }
    bw_uint_t format = alcf->format;
    if (format == BW_AUTOINDEX_JSONP) {
        if (bw_autoindex_callback(r, &callback) != BW_OK) {
            return 400;
        }
        if (callback.len == 0) {
            format = BW_AUTOINDEX_JSON;
        }
    }
    r->headers_out.status = 200;
    bw_autoindex_content_type(r, format);

    rc = bw_http_send_header(r);
    if (rc == BW_ERROR || rc > BW_OK || r->header_only) {
        return rc;
    }
    return bw_autoindex_send_body(r, d, &path, format, &callback);
}

/* ---------------------------------------------------- configuration */

static void *
bw_autoindex_create_loc(bw_conf_t *cf)
{
    bw_autoindex_loc_conf_t *conf = bw_pcalloc(cf->pool, sizeof(bw_autoindex_loc_conf_t));
    if (conf == NULL) {
        return NULL;
    }
    conf->enable = BW_CONF_UNSET;
    conf->format = BW_CONF_UNSET_UINT;
    conf->localtime = BW_CONF_UNSET;
    conf->exact_size = BW_CONF_UNSET;
    return conf;
}

static const char *
bw_autoindex_merge_loc(bw_conf_t *cf, void *prev, void *child)
{
    bw_autoindex_loc_conf_t *parent = prev, *conf = child;

    bw_conf_merge_value(conf->enable, parent->enable, 0);
    bw_conf_merge_uint(conf->format, parent->format, BW_AUTOINDEX_HTML);
    bw_conf_merge_value(conf->localtime, parent->localtime, 0);
    bw_conf_merge_value(conf->exact_size, parent->exact_size, 1);
    return BW_CONF_OK;
}
