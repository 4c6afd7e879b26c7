/*
 * template.c -- turns a test's config template into the config a server runs:
 * %%NAME%% placeholders become ports, the prefix, origin ports or the test's
 * own values, and the standard preamble is prepended for every main-level
 * directive the template does not set itself.
 */
#include "harness.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define BW_TEST_NAME_MAX 64

typedef struct {
    char  *data;
    size_t len;
    size_t cap;
    bool   failed;
} bw_test_text_t;

/* The preamble: each line is added unless the template sets its directive. */
static const struct {
    const char *name;
    const char *line;
} bw_test_preamble[] = {
    { "daemon",            "daemon off;\n" },
    { "master_process",    "master_process on;\n" },
    { "worker_processes",  "worker_processes 1;\n" },
    { "error_log",         "error_log logs/error.log info;\n" },
    { "pid",               "pid logs/bulwark.pid;\n" },
    { "events",            "events { worker_connections 1024; }\n" },
};

static void bw_test_text_add(bw_test_text_t *t, const char *data, size_t len)
{
    if (t->failed) {
        return;
    }
    if (t->len + len + 1 > t->cap) {
        size_t ncap = (t->cap ? t->cap * 2 : 4096) + len;
        char  *nd = realloc(t->data, ncap);

        if (nd == NULL) {
            t->failed = true;
            return;
        }
        t->data = nd;
        t->cap = ncap;
    }
    memcpy(t->data + t->len, data, len);
    t->len += len;
    t->data[t->len] = '\0';
}

static void bw_test_text_adds(bw_test_text_t *t, const char *s)
{
    bw_test_text_add(t, s, strlen(s));
}

/* Skips a quoted string starting at p (the quote); returns the byte after it. */
static const char *bw_test_conf_skip_quoted(const char *p)
{
    char q = *p++;

    while (*p != '\0' && *p != q) {
        p += (p[0] == '\\' && p[1] != '\0') ? 2 : 1;
    }
    return *p == q ? p + 1 : p;
}

/* Skips a bare word; "${name}" inside a word is part of it. */
static const char *bw_test_conf_skip_word(const char *p)
{
    while (*p != '\0' && !isspace((unsigned char) *p) && strchr(";{}", *p) == NULL) {
        if (p[0] == '$' && p[1] == '{') {
            const char *end = strchr(p, '}');

            p = end != NULL ? end + 1 : p + strlen(p);
            continue;
        }
        p += (p[0] == '\\' && p[1] != '\0') ? 2 : 1;
    }
    return p;
}

/* Copies the word or quoted string at p into buf, quotes removed. */
static void bw_test_conf_copy_arg(const char *p, char *buf, size_t size)
{
    const char *end;
    size_t      n;

    if (*p == '"' || *p == '\'') {
        end = bw_test_conf_skip_quoted(p);
        p++;
        n = (size_t) (end - p);
        n -= (n > 0 && (end[-1] == '"' || end[-1] == '\'')) ? 1 : 0;
    } else {
        end = bw_test_conf_skip_word(p);
        n = (size_t) (end - p);
    }
    if (n >= size) {
        n = size - 1;
    }
    memcpy(buf, p, n);
    buf[n] = '\0';
}

bool bw_test_conf_main_directive(const char *conf, const char *name, char *buf, size_t size)
{
    const char *p = conf;
    size_t      nlen = strlen(name);
    int         depth = 0;
    bool        at_name = true;

    while (*p != '\0') {
        const char *end;

        if (isspace((unsigned char) *p)) {
            p++;
        } else if (*p == '#') {
            p += strcspn(p, "\n");
        } else if (*p == ';' || *p == '{' || *p == '}') {
            depth += (*p == '{') ? 1 : (*p == '}') ? -1 : 0;
            at_name = true;
            p++;
        } else if (*p == '"' || *p == '\'') {
            p = bw_test_conf_skip_quoted(p);
            at_name = false;
        } else {
            end = bw_test_conf_skip_word(p);
            if (at_name && depth == 0 && (size_t) (end - p) == nlen
                && memcmp(p, name, nlen) == 0)
            {
                if (buf != NULL && size > 0) {
                    end += strspn(end, " \t\r\n");
                    bw_test_conf_copy_arg(end, buf, size);
                }
                return true;
            }
            at_name = false;
            p = end;
        }
    }
    return false;
}

/* The port for %%PORTn%%, reserving a free one the first time it is asked. */
static int bw_test_conf_port(bw_test_server_t *srv, int n)
{
    if (srv->ports[n] == 0) {
        int port = bw_test_free_port(&srv->reserved_fd[n]);

        if (port <= 0) {
            return -1;
        }
        srv->ports[n] = port;
        if (n == 1) {
            srv->port = port;
        }
    }
    return srv->ports[n];
}

/* Parses "", "2".."9" after a placeholder stem; 0 when it is not a slot. */
static int bw_test_conf_slot(const char *suffix)
{
    if (suffix[0] == '\0') {
        return 1;
    }
    if (suffix[0] >= '1' && suffix[0] <= '9' && suffix[1] == '\0') {
        return suffix[0] - '0';
    }
    return 0;
}

/* Appends the value of placeholder name; false when it is unknown. */
static bool bw_test_conf_resolve(bw_test_server_t *srv, const char *name, bw_test_text_t *out)
{
    char num[16];
    int  slot, port;

    for (int i = 0; i < srv->nvars; i++) {
        if (strcmp(srv->vars[i].name, name) == 0) {
            bw_test_text_adds(out, srv->vars[i].value);
            return true;
        }
    }
    if (strcmp(name, "PREFIX") == 0) {
        bw_test_text_adds(out, srv->prefix);
        return true;
    }
    if (strcmp(name, "NO_PREAMBLE") == 0) {
        srv->preamble = false;
        return true;
    }
    if (strncmp(name, "PORT", 4) == 0 && (slot = bw_test_conf_slot(name + 4)) > 0) {
        port = bw_test_conf_port(srv, slot);
    } else if (strncmp(name, "ORIGIN_PORT", 11) == 0
               && (slot = bw_test_conf_slot(name + 11)) > 0)
    {
        port = bw_test_origin_slot_port(slot);
        if (port == 0) {
            fprintf(stderr, "harness: %%%%%s%%%%: no origin is running in slot %d\n", name,
                    slot);
            return false;
        }
    } else {
        fprintf(stderr, "harness: unknown placeholder %%%%%s%%%%\n", name);
        return false;
    }
    if (port <= 0) {
        fprintf(stderr, "harness: no free port for %%%%%s%%%%\n", name);
        return false;
    }
    snprintf(num, sizeof(num), "%d", port);
    bw_test_text_adds(out, num);
    return true;
}

/* Replaces every %%NAME%% of tpl into out; false on an unknown name. */
static bool bw_test_conf_substitute(bw_test_server_t *srv, const char *tpl, bw_test_text_t *out)
{
    const char *p = tpl;

    for (;;) {
        const char *open = strstr(p, "%%"), *name, *close;
        char        buf[BW_TEST_NAME_MAX];
        size_t      n;

        if (open == NULL) {
            bw_test_text_adds(out, p);
            return true;
        }
        name = open + 2;
        n = strspn(name, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_");
        close = name + n;
        if (n == 0 || n >= sizeof(buf) || strncmp(close, "%%", 2) != 0) {
            bw_test_text_add(out, p, (size_t) (name - p));  /* a literal "%%" */
            p = name;
            continue;
        }
        bw_test_text_add(out, p, (size_t) (open - p));
        memcpy(buf, name, n);
        buf[n] = '\0';
        if (!bw_test_conf_resolve(srv, buf, out)) {
            return false;
        }
        p = close + 2;
    }
}

/* Records where the pid file will be, for launch to wait on. */
static void bw_test_conf_note_pid(bw_test_server_t *srv, const char *conf)
{
    char arg[256];

    srv->pid_path[0] = '\0';
    if (!bw_test_conf_main_directive(conf, "pid", arg, sizeof(arg))) {
        return;
    }
    if (arg[0] == '/') {
        snprintf(srv->pid_path, sizeof(srv->pid_path), "%s", arg);
    } else if (strcmp(arg, "off") != 0) {
        snprintf(srv->pid_path, sizeof(srv->pid_path), "%s/%s", srv->prefix, arg);
    }
}

char *bw_test_conf_render(bw_test_server_t *srv, const char *conf_template)
{
    bw_test_text_t body = { 0 }, full = { 0 };

    srv->preamble = true;
    if (!bw_test_conf_substitute(srv, conf_template, &body) || body.failed) {
        free(body.data);
        return NULL;
    }
    bw_test_text_adds(&full, "");
    if (srv->preamble) {
        for (size_t i = 0; i < sizeof(bw_test_preamble) / sizeof(bw_test_preamble[0]); i++) {
            if (!bw_test_conf_main_directive(body.data, bw_test_preamble[i].name, NULL, 0)) {
                bw_test_text_adds(&full, bw_test_preamble[i].line);
            }
        }
    }
    bw_test_text_add(&full, body.data, body.len);
    bw_test_text_adds(&full, "\n");
    free(body.data);
    if (full.failed) {
        free(full.data);
        return NULL;
    }
    bw_test_conf_note_pid(srv, full.data);
    return full.data;
}
