/*
 * conf.c -- reading configuration files and dispatching their statements to
 * directive setters; the `include` directive; configuration messages.
 *
 * The lexer (conf_lexer.c) cuts statements; this file finds the directive
 * each one names in the always-present table below and in the modules'
 * tables, checks context, ending and argument count with nginx's messages,
 * and calls the setter. Errors accumulate: a failed statement is reported
 * and parsing goes on with the next one (the body of a failed block
 * directive is skipped), so that one run reports every problem. Lexical
 * errors stop the file they occur in.
 */
#include "conf.h"

#include "conf_lexer.h"
#include "cycle.h"
#include "module.h"
#include "pool.h"

#include <fcntl.h>
#include <glob.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#define BW_CONF_MSG_MAX       2048
#define BW_CONF_INCLUDE_DEPTH 64 /* include nesting; deeper is surely a loop */

/* What ends the text being parsed. */
typedef enum {
    BW_CONF_BODY_FILE,  /* end of file */
    BW_CONF_BODY_BLOCK, /* '}' */
    BW_CONF_BODY_PARAM, /* end of -g text */
} bw_conf_body_t;

static const char *bw_conf_include(bw_conf_t *cf, const bw_directive_t *d, void *conf);

const bw_directive_t bw_conf_core_directives[] = {
    {"include", BW_CTX_ANY, BW_ARGS_TAKE1, BW_CONF_NONE, bw_conf_include, 0, NULL},
    BW_DIRECTIVES_END,
};

/* ---- messages ---- */

/* True when `log` writes somewhere else than the stderr every message goes to. */
static bool
bw_conf_log_is_file(const bw_log_t *log)
{
    if (log == NULL || log == &bw_log_stderr_log) {
        return false;
    }
    return log->next != NULL || (log->file != NULL && log->file->fd != STDERR_FILENO);
}

void
bw_conf_log(bw_conf_t *cf, unsigned level, int err, const char *fmt, ...)
{
    char    msg[BW_CONF_MSG_MAX];
    size_t  n;
    int     w;
    va_list ap;

    va_start(ap, fmt);
    w = vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    n = w < 0 ? 0 : bw_min((size_t) w, sizeof(msg) - 1);

    if (err != 0 && n < sizeof(msg) - 1) {
        w = snprintf(msg + n, sizeof(msg) - n, " (%d: %s)", err, strerror(err));
        n += w < 0 ? 0 : bw_min((size_t) w, sizeof(msg) - 1 - n);
    }
    if (cf->file != NULL && n < sizeof(msg) - 1) {
        if (cf->file->command_line) {
            snprintf(msg + n, sizeof(msg) - n, " in command line");
        } else {
            snprintf(msg + n, sizeof(msg) - n, " in %s:%lu", (const char *) cf->file->name.data,
                     (unsigned long) cf->file->line);
        }
    }

    bw_log_stderr(level, 0, "%s", msg);
    if (bw_conf_log_is_file(cf->log)) {
        bw_log_error(level, cf->log, 0, "%s", msg);
    }
    if (level != BW_LOG_STDERR && level <= BW_LOG_ERR) {
        cf->errors++;
    }
}

/* ---- file names ---- */

bw_rc_t
bw_conf_full_name(bw_cycle_t *cycle, bw_str_t *name, bool conf_prefix)
{
    const bw_str_t *prefix = conf_prefix ? &cycle->conf_prefix : &cycle->prefix;
    bool            abs = name->len > 0 && name->data[0] == '/';
    size_t          plen = abs ? 0 : prefix->len;
    bool            slash = plen > 0 && prefix->data[plen - 1] != '/';

    u_char *p = bw_pnalloc(cycle->pool, plen + slash + name->len + 1);
    if (p == NULL) {
        return BW_ERROR;
    }
    u_char *d = p;
    if (plen) {
        memcpy(d, prefix->data, plen);
        d += plen;
    }
    if (slash) {
        *d++ = '/';
    }
    if (name->len) {
        memcpy(d, name->data, name->len);
        d += name->len;
    }
    *d = '\0';
    name->data = p;
    name->len = (size_t) (d - p);
    return BW_OK;
}

/* ---- reading files ---- */

/* Keeps a pristine copy of a file for -T, once per name. */
static bw_rc_t
bw_conf_dump_add(bw_conf_t *cf, const bw_conf_file_t *f)
{
    if (cf->dumped == NULL) {
        cf->dumped = bw_array_create(cf->pool, 4, sizeof(bw_conf_file_t));
        if (cf->dumped == NULL) {
            return BW_ERROR;
        }
    }
    for (size_t i = 0; i < cf->dumped->nelts; i++) {
        if (bw_str_eq(&bw_array_at(cf->dumped, bw_conf_file_t, i).name, &f->name)) {
            return BW_OK;
        }
    }
    size_t  size = (size_t) (f->end - f->start);
    u_char *copy = bw_pnalloc(cf->pool, size + 1);
    bw_conf_file_t *d = bw_array_push(cf->dumped);
    if (copy == NULL || d == NULL) {
        return BW_ERROR;
    }
    memcpy(copy, f->start, size);
    copy[size] = '\0';
    *d = *f;
    d->start = d->pos = copy;
    d->end = copy + size;
    return BW_OK;
}

/* Reads all of an open file into pool memory; false with errno set on failure. */
static bool
bw_conf_file_load(bw_conf_t *cf, int fd, u_char **buf, size_t *len)
{
    struct stat sb;

    if (fstat(fd, &sb) != 0) {
        return false;
    }
    if (S_ISDIR(sb.st_mode)) {
        errno = EISDIR;
        return false;
    }
    size_t  size = sb.st_size > 0 ? (size_t) sb.st_size : 0;
    u_char *p = bw_pnalloc(cf->pool, size + 1);
    if (p == NULL) {
        errno = ENOMEM;
        return false;
    }
    size_t got = 0;
    while (got < size) {
        ssize_t n = pread(fd, p + got, size - got, (off_t) got);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            return false;
        }
        if (n == 0) {
            break; /* the file shrank while being read */
        }
        got += (size_t) n;
    }
    p[got] = '\0';
    *buf = p;
    *len = got;
    return true;
}

/* Opens and reads `name` (made absolute against the conf prefix). NULL when reported. */
static bw_conf_file_t *
bw_conf_file_read(bw_conf_t *cf, const bw_str_t *name)
{
    bw_str_t full = *name;

    if (cf->cycle != NULL && bw_conf_full_name(cf->cycle, &full, true) != BW_OK) {
        bw_conf_error(cf, "not enough memory for the file name");
        return NULL;
    }
    if (cf->cycle == NULL && bw_pstrcopy(cf->pool, &full, name) != BW_OK) {
        bw_conf_error(cf, "not enough memory for the file name");
        return NULL;
    }

    int fd = open((const char *) full.data, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        bw_conf_log(cf, BW_LOG_EMERG, errno, "open() \"%s\" failed", (const char *) full.data);
        return NULL;
    }
    u_char *buf;
    size_t  len;
    bool    ok = bw_conf_file_load(cf, fd, &buf, &len);
    int     err = errno;
    close(fd);
    if (!ok) {
        /* nginx reports a failed read (a directory, say) without the includer's location */
        bw_conf_file_t *includer = cf->file;
        cf->file = NULL;
        bw_conf_log(cf, BW_LOG_CRIT, err, "pread() \"%s\" failed", (const char *) full.data);
        cf->file = includer;
        return NULL;
    }

    bw_conf_file_t *f = bw_pcalloc(cf->pool, sizeof(bw_conf_file_t));
    if (f == NULL) {
        bw_conf_error(cf, "not enough memory to read \"%s\"", (const char *) full.data);
        return NULL;
    }
    f->name = full;
    f->start = f->pos = buf;
    f->end = buf + len;
    f->line = 1;
    f->depth = cf->file ? cf->file->depth + 1 : 0;
    if (cf->dump && bw_conf_dump_add(cf, f) != BW_OK) {
        bw_conf_error(cf, "not enough memory to keep \"%s\" for -T", (const char *) full.data);
        return NULL;
    }
    return f;
}

/* ---- dispatching statements ---- */

/* nginx's argument-count rules; nargs excludes the directive name. */
static bool
bw_conf_args_valid(uint32_t args, size_t nargs)
{
    if (args & BW_ARGS_ANY) {
        return true;
    }
    if (args & BW_ARGS_FLAG) {
        return nargs == 1;
    }
    if (args & BW_ARGS_1MORE) {
        return nargs >= 1;
    }
    if (args & BW_ARGS_2MORE) {
        return nargs >= 2;
    }
    if (nargs >= BW_CONF_MAX_ARGS) {
        return false;
    }
    return (args & (BW_ARGS_NOARGS << nargs)) != 0;
}

/* The conf struct a directive of module `m` sets, per its level; NULL when none. */
static void *
bw_conf_target(const bw_conf_t *cf, const bw_module_t *m, const bw_directive_t *d)
{
    void **confs = NULL;

    if (m == NULL || cf->ctx == NULL) {
        return NULL;
    }
    switch (d->level) {
    case BW_CONF_MAIN:
        confs = cf->ctx->main_conf;
        break;
    case BW_CONF_SRV:
        confs = cf->ctx->srv_conf;
        break;
    case BW_CONF_LOC:
        confs = cf->ctx->loc_conf;
        break;
    case BW_CONF_NONE:
        break;
    }
    return confs ? confs[m->index] : NULL;
}

/* Checks the statement against directive d and calls its setter. */
static void
bw_conf_directive_run(bw_conf_t *cf, const bw_module_t *m, const bw_directive_t *d,
                      bw_conf_lex_t end)
{
    bw_str_t  name = bw_array_at(cf->args, bw_str_t, 0);
    bw_uint_t errors = cf->errors;

    if (!(d->args & BW_ARGS_BLOCK) && end != BW_CONF_LEX_STMT) {
        bw_conf_error(cf, "directive \"%.*s\" is not terminated by \";\"", BW_STR_ARG(name));
        return;
    }
    if ((d->args & BW_ARGS_BLOCK) && end != BW_CONF_LEX_BLOCK) {
        bw_conf_error(cf, "directive \"%.*s\" has no opening \"{\"", BW_STR_ARG(name));
        return;
    }
    if (!bw_conf_args_valid(d->args, cf->args->nelts - 1)) {
        bw_conf_error(cf, "invalid number of arguments in \"%.*s\" directive", BW_STR_ARG(name));
        return;
    }

    cf->module = m;
    const char *rv = d->set(cf, d, bw_conf_target(cf, m, d));
    if (rv == BW_CONF_OK) {
        return;
    }
    if (rv == BW_CONF_ERROR) {
        if (cf->errors == errors) {
            cf->errors++; /* the setter failed without a word (no memory) */
        }
        return;
    }
    bw_conf_error(cf, "\"%.*s\" directive %s", BW_STR_ARG(name), rv);
}

/* Finds `name` in a directive table; *seen tells whether the name exists at all. */
static const bw_directive_t *
bw_conf_table_find(const bw_conf_t *cf, const bw_directive_t *d, const bw_str_t *name, bool *seen)
{
    for (; d && d->name; d++) {
        if (strlen(d->name) != name->len || memcmp(d->name, name->data, name->len) != 0) {
            continue;
        }
        *seen = true;
        if (d->where & cf->ctx_type) {
            return d;
        }
    }
    return NULL;
}

/* Runs one statement through the directive it names. */
static void
bw_conf_dispatch(bw_conf_t *cf, bw_conf_lex_t end)
{
    bw_str_t            *name = &bw_array_at(cf->args, bw_str_t, 0);
    bw_module_t *const  *mods = cf->modules ? cf->modules : bw_modules;
    const bw_directive_t *d;
    bool                 seen = false;

    d = bw_conf_table_find(cf, bw_conf_core_directives, name, &seen);
    if (d) {
        bw_conf_directive_run(cf, NULL, d, end);
        return;
    }
    for (size_t i = 0; mods[i]; i++) {
        d = bw_conf_table_find(cf, mods[i]->directives, name, &seen);
        if (d) {
            bw_conf_directive_run(cf, mods[i], d, end);
            return;
        }
    }

    if (seen) {
        bw_conf_error(cf, "\"%.*s\" directive is not allowed here", BW_STR_ARG(*name));
    } else if (bw_conf_is_nginx_directive(name)) {
        bw_conf_error(cf, "directive \"%.*s\" is not supported by bulwark", BW_STR_ARG(*name));
    } else {
        bw_conf_error(cf, "unknown directive \"%.*s\"", BW_STR_ARG(*name));
    }
}

/* Passes a statement of a types{}-like block to cf->handler. */
static void
bw_conf_handler_run(bw_conf_t *cf, bw_conf_lex_t end)
{
    bw_uint_t errors = cf->errors;

    if (end == BW_CONF_LEX_BLOCK) {
        bw_conf_error(cf, "unexpected \"{\"");
        return;
    }
    const char *rv = cf->handler(cf, cf->handler_conf);
    if (rv == BW_CONF_OK) {
        return;
    }
    if (rv == BW_CONF_ERROR) {
        if (cf->errors == errors) {
            cf->errors++;
        }
        return;
    }
    bw_conf_error(cf, "%s", rv);
}

/* Skips the body of a block whose directive failed, up to its closing '}'. */
static void
bw_conf_block_skip(bw_conf_t *cf)
{
    bw_uint_t depth = 1;

    while (depth > 0) {
        switch (bw_conf_lexer_next(cf)) {
        case BW_CONF_LEX_BLOCK:
            depth++;
            break;
        case BW_CONF_LEX_BLOCK_END:
            depth--;
            break;
        case BW_CONF_LEX_STMT:
            break;
        case BW_CONF_LEX_EOF:
            bw_conf_error(cf, "unexpected end of file, expecting \"}\"");
            cf->file->failed = true;
            return;
        case BW_CONF_LEX_ERROR:
            return;
        }
    }
}

/* One statement: handler or directive; on failure, skip a body nobody parsed. */
static void
bw_conf_statement(bw_conf_t *cf, bw_conf_lex_t end)
{
    bw_uint_t errors = cf->errors;
    bw_uint_t blocks = cf->blocks;

    if (cf->handler) {
        bw_conf_handler_run(cf, end);
    } else {
        bw_conf_dispatch(cf, end);
    }
    if (cf->errors > errors && end == BW_CONF_LEX_BLOCK && cf->blocks == blocks
        && !cf->file->failed) {
        bw_conf_block_skip(cf);
    }
}

/* Parses statements of cf->file until what ends `type`, or a lexical error. */
static void
bw_conf_body_parse(bw_conf_t *cf, bw_conf_body_t type)
{
    while (!cf->file->failed) {
        bw_conf_lex_t rc = bw_conf_lexer_next(cf);

        switch (rc) {
        case BW_CONF_LEX_ERROR:
            return;
        case BW_CONF_LEX_BLOCK_END:
            if (type == BW_CONF_BODY_BLOCK) {
                return;
            }
            bw_conf_error(cf, "unexpected \"}\"");
            cf->file->failed = true;
            return;
        case BW_CONF_LEX_EOF:
            if (type == BW_CONF_BODY_BLOCK) {
                bw_conf_error(cf, "unexpected end of file, expecting \"}\"");
                cf->file->failed = true;
            }
            return;
        case BW_CONF_LEX_BLOCK:
            if (type == BW_CONF_BODY_PARAM) {
                bw_conf_error(cf, "block directives are not supported in -g option");
                bw_conf_block_skip(cf);
                continue;
            }
            /* fall through */
        case BW_CONF_LEX_STMT:
            bw_conf_statement(cf, rc);
            break;
        }
    }
}

static bw_rc_t
bw_conf_args_ensure(bw_conf_t *cf)
{
    if (cf->args == NULL) {
        cf->args = bw_array_create(cf->pool, BW_CONF_MAX_ARGS, sizeof(bw_str_t));
    }
    return cf->args ? BW_OK : BW_ERROR;
}

bw_rc_t
bw_conf_parse(bw_conf_t *cf, const bw_str_t *filename)
{
    bw_uint_t errors = cf->errors;

    if (bw_conf_args_ensure(cf) != BW_OK) {
        bw_conf_error(cf, "not enough memory to parse the configuration");
        return BW_ERROR;
    }

    if (filename == NULL) {
        if (cf->file == NULL || cf->file->failed) {
            return BW_ERROR;
        }
        cf->blocks++;
        bw_conf_body_parse(cf, BW_CONF_BODY_BLOCK);
        return cf->errors > errors ? BW_ERROR : BW_OK;
    }

    if (cf->file != NULL && cf->file->depth >= BW_CONF_INCLUDE_DEPTH) {
        bw_conf_error(cf, "too deep nesting of included files at \"%.*s\"",
                      BW_STR_ARG(*filename));
        return BW_ERROR;
    }
    bw_conf_file_t *f = bw_conf_file_read(cf, filename);
    if (f == NULL) {
        return BW_ERROR;
    }
    bw_conf_file_t *parent = cf->file;
    cf->file = f;
    bw_conf_body_parse(cf, BW_CONF_BODY_FILE);
    cf->file = parent;
    return cf->errors > errors ? BW_ERROR : BW_OK;
}

bw_rc_t
bw_conf_parse_string(bw_conf_t *cf, const bw_str_t *text)
{
    bw_uint_t       errors = cf->errors;
    bw_conf_file_t *f = bw_pcalloc(cf->pool, sizeof(bw_conf_file_t));
    bw_str_t        copy;

    if (f == NULL || bw_pstrcopy(cf->pool, &copy, text) != BW_OK
        || bw_conf_args_ensure(cf) != BW_OK) {
        bw_conf_error(cf, "not enough memory to parse the command line");
        return BW_ERROR;
    }
    bw_str_set(&f->name, "command line");
    f->start = f->pos = copy.data;
    f->end = copy.data + copy.len;
    f->line = 1;
    f->command_line = true;

    bw_conf_file_t *parent = cf->file;
    cf->file = f;
    bw_conf_body_parse(cf, BW_CONF_BODY_PARAM);
    cf->file = parent;
    return cf->errors > errors ? BW_ERROR : BW_OK;
}

/* ---- include ---- */

static bool
bw_conf_is_glob(const bw_str_t *s)
{
    for (size_t i = 0; i < s->len; i++) {
        if (s->data[i] == '*' || s->data[i] == '?' || s->data[i] == '[') {
            return true;
        }
    }
    return false;
}

/* Parses every file matching `pattern` (absolute), in sorted order; none is fine. */
static const char *
bw_conf_include_glob(bw_conf_t *cf, const bw_str_t *pattern)
{
    glob_t gl;
    int    rc = glob((const char *) pattern->data, 0, NULL, &gl);

    if (rc == GLOB_NOMATCH) {
        return BW_CONF_OK;
    }
    if (rc != 0) {
        bw_conf_log(cf, BW_LOG_EMERG, rc == GLOB_NOSPACE ? ENOMEM : errno, "glob() \"%s\" failed",
                    (const char *) pattern->data);
        return BW_CONF_ERROR;
    }
    bool failed = false;
    for (size_t i = 0; i < gl.gl_pathc; i++) {
        bw_str_t name = {strlen(gl.gl_pathv[i]), (u_char *) gl.gl_pathv[i]};
        if (bw_conf_parse(cf, &name) != BW_OK) {
            failed = true; /* reported; go on with the other files */
        }
    }
    globfree(&gl);
    return failed ? BW_CONF_ERROR : BW_CONF_OK;
}

/* include file|mask: parses the file(s) in the current context. */
static const char *
bw_conf_include(bw_conf_t *cf, const bw_directive_t *d, void *conf)
{
    bw_str_t name = bw_array_at(cf->args, bw_str_t, 1);

    if (cf->cycle != NULL && bw_conf_full_name(cf->cycle, &name, true) != BW_OK) {
        bw_conf_error(cf, "not enough memory for the file name");
        return BW_CONF_ERROR;
    }
    if (bw_conf_is_glob(&name)) {
        return bw_conf_include_glob(cf, &name);
    }
    return bw_conf_parse(cf, &name) == BW_OK ? BW_CONF_OK : BW_CONF_ERROR;
}
