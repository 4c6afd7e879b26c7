/*
 * test_variables.c -- http/variables.c and variables_core.c: declarations
 * and indexes (nginx's messages), binding of prefix families, the
 * per-request cache, regex captures and named captures, and the values of
 * the standard variables for a hand-built request.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cmocka.h>

#include "core_module.h"
#include "pool.h"
#include "regex.h"
#include "request.h"
#include "script.h"
#include "variables.h"

#define BW_TV_CONFS 64

typedef struct {
    bw_pool_t               *pool;
    bw_conf_t                cf;
    bw_conf_ctx_t            ctx;
    void                    *main_conf[BW_TV_CONFS];
    void                    *srv_conf[BW_TV_CONFS];
    void                    *loc_conf[BW_TV_CONFS];
    bw_http_core_main_conf_t cmcf;
    bw_http_core_srv_conf_t  cscf;
    bw_http_core_loc_conf_t  clcf;
    bw_log_t                 log;
    bw_connection_t          c;
    struct sockaddr_in       peer;
    bw_http_request_t        r;
} bw_tv_t;

static bw_str_t
bw_tv_str(const char *s)
{
    bw_str_t v = { strlen(s), (u_char *) s };
    return v;
}

/* ---- stderr capture, to check messages word for word ---- */

static int  bw_tv_saved_fd = -1;
static FILE *bw_tv_capture_file;

static void
bw_tv_capture_begin(void)
{
    fflush(stderr);
    bw_tv_capture_file = tmpfile();
    assert_non_null(bw_tv_capture_file);
    bw_tv_saved_fd = dup(2);
    dup2(fileno(bw_tv_capture_file), 2);
}

/* Ends the capture; returns what was written (static buffer). */
static const char *
bw_tv_capture_end(void)
{
    static char buf[4096];
    fflush(stderr);
    dup2(bw_tv_saved_fd, 2);
    close(bw_tv_saved_fd);
    rewind(bw_tv_capture_file);
    size_t n = fread(buf, 1, sizeof(buf) - 1, bw_tv_capture_file);
    buf[n] = '\0';
    fclose(bw_tv_capture_file);
    return buf;
}

/* ---- the fixture: a configuration and one request ---- */

static int
bw_tv_setup(void **state)
{
    bw_tv_t *t = calloc(1, sizeof(bw_tv_t));
    assert_non_null(t);
    assert_true(bw_http_core_module.index < BW_TV_CONFS);
    t->pool = bw_pool_create(4096, &bw_log_stderr_log);
    t->cf.pool = t->pool;
    t->cf.temp_pool = t->pool;
    t->cf.log = &bw_log_stderr_log;
    t->cf.ctx = &t->ctx;
    t->cf.ctx_type = BW_CTX_HTTP;
    t->ctx.main_conf = t->main_conf;
    t->ctx.srv_conf = t->srv_conf;
    t->ctx.loc_conf = t->loc_conf;
    t->main_conf[bw_http_core_module.index] = &t->cmcf;
    t->srv_conf[bw_http_core_module.index] = &t->cscf;
    t->loc_conf[bw_http_core_module.index] = &t->clcf;
    t->cscf.server_name = bw_tv_str("primary.test");
    t->cscf.ctx = &t->ctx;
    t->clcf.root = bw_tv_str("/srv/www");
    assert_int_equal(bw_http_variables_add_core_vars(&t->cf), BW_OK);

    t->log = bw_log_stderr_log;
    t->peer.sin_family = AF_INET;
    t->peer.sin_port = htons(54321);
    t->peer.sin_addr.s_addr = htonl(0x7f000001);
    t->c.sockaddr = (struct sockaddr *) &t->peer;
    t->c.socklen = sizeof(t->peer);
    t->c.addr_text = bw_tv_str("127.0.0.1");
    t->c.log = &t->log;
    t->c.fd = -1;
    t->c.number = 7;
    t->c.requests = 3;

    bw_http_request_t *r = &t->r;
    r->pool = t->pool;
    r->connection = &t->c;
    r->main = r;
    r->main_conf = t->main_conf;
    r->srv_conf = t->srv_conf;
    r->loc_conf = t->loc_conf;
    r->uri = bw_tv_str("/a/b.html");
    r->args = bw_tv_str("x=1&y=&z&X=9");
    r->unparsed_uri = bw_tv_str("/a/b.html?x=1&y=&z&X=9");
    r->request_line = bw_tv_str("GET /a/b.html?x=1&y=&z&X=9 HTTP/1.1");
    r->method_name = bw_tv_str("GET");
    r->http_protocol = bw_tv_str("HTTP/1.1");
    r->http_version = 1001;
    r->headers_in.content_length_n = -1;
    r->headers_out.content_length_n = -1;
    r->headers_out.last_modified_time = -1;
    assert_int_equal(bw_array_init(&r->headers_in.headers, t->pool, 8, sizeof(bw_http_header_t)),
                     BW_OK);
    assert_int_equal(bw_array_init(&r->headers_out.headers, t->pool, 8,
                                   sizeof(bw_http_header_t)), BW_OK);
    *state = t;
    return 0;
}

static int
bw_tv_teardown(void **state)
{
    bw_tv_t *t = *state;
    bw_pool_destroy(t->pool);
    free(t);
    return 0;
}

static bw_http_header_t *
bw_tv_header(bw_array_t *headers, const char *name, const char *value)
{
    bw_http_header_t *h = bw_array_push(headers);
    assert_non_null(h);
    memset(h, 0, sizeof(*h));
    h->hash = 1;
    h->key = bw_tv_str(name);
    h->value = bw_tv_str(value);
    return h;
}

static bw_int_t
bw_tv_index(bw_tv_t *t, const char *name)
{
    bw_str_t n = bw_tv_str(name);
    bw_int_t i = bw_http_get_variable_index(&t->cf, &n);
    assert_true(i >= 0);
    return i;
}

/* The value of `name` after init_vars, as a NUL-terminated string ("<nf>": not found). */
static const char *
bw_tv_value(bw_tv_t *t, bw_int_t index)
{
    static char               buf[512];
    bw_http_variable_value_t *v = bw_http_get_flushed_variable(&t->r, (bw_uint_t) index);
    if (v == NULL) {
        return "<error>";
    }
    if (v->not_found) {
        return "<nf>";
    }
    snprintf(buf, sizeof(buf), "%.*s", (int) v->len, v->data ? (char *) v->data : "");
    return buf;
}

/* ---- declarations ---- */

static void
test_variables_duplicate_builtin_is_refused_with_nginx_message(void **state)
{
    bw_tv_t *t = *state;
    bw_str_t name = bw_tv_str("uri");

    bw_tv_capture_begin();
    bw_http_variable_t *v = bw_http_add_variable(&t->cf, &name, BW_HTTP_VAR_CHANGEABLE);
    const char *out = bw_tv_capture_end();
    assert_null(v);
    assert_non_null(strstr(out, "[emerg] the duplicate \"uri\" variable"));
    assert_int_equal(t->cf.errors, 1);
}

static void
test_variables_changeable_redeclaration_returns_same_variable(void **state)
{
    bw_tv_t *t = *state;
    bw_str_t a = bw_tv_str("Foo"), b = bw_tv_str("foo");

    bw_http_variable_t *v1 = bw_http_add_variable(&t->cf, &a, BW_HTTP_VAR_CHANGEABLE);
    bw_http_variable_t *v2 = bw_http_add_variable(&t->cf, &b, BW_HTTP_VAR_CHANGEABLE);
    assert_non_null(v1);
    assert_ptr_equal(v1, v2);
    assert_int_equal(v1->name.len, 3);
    assert_memory_equal(v1->name.data, "foo", 3);
}

static void
test_variables_index_is_case_insensitive_and_stable(void **state)
{
    bw_tv_t *t = *state;
    bw_int_t a = bw_tv_index(t, "Request_URI");
    bw_int_t b = bw_tv_index(t, "request_uri");
    bw_int_t c = bw_tv_index(t, "uri");
    assert_int_equal(a, b);
    assert_int_not_equal(a, c);
    assert_int_equal(bw_http_variables_init_vars(&t->cf), BW_OK);
    assert_string_equal(bw_tv_value(t, a), "/a/b.html?x=1&y=&z&X=9");
    assert_true(bw_http_variables_count() >= 2);
}

static void
test_variables_empty_name_reports_invalid_variable_name(void **state)
{
    bw_tv_t *t = *state;
    bw_str_t empty = bw_tv_str("");

    bw_tv_capture_begin();
    bw_int_t i = bw_http_get_variable_index(&t->cf, &empty);
    const char *out = bw_tv_capture_end();
    assert_int_equal(i, -1);
    assert_non_null(strstr(out, "invalid variable name \"$\""));
}

static void
test_variables_unknown_name_fails_init_vars_without_position(void **state)
{
    bw_tv_t       *t = *state;
    bw_conf_file_t file = { .name = bw_tv_str("/x.conf"), .line = 9 };

    bw_tv_index(t, "no_such_thing");
    t->cf.file = &file;
    bw_tv_capture_begin();
    bw_rc_t rc = bw_http_variables_init_vars(&t->cf);
    const char *out = bw_tv_capture_end();
    assert_int_equal(rc, BW_ERROR);
    assert_non_null(strstr(out, "[emerg] unknown \"no_such_thing\" variable\n"));
    assert_ptr_equal(t->cf.file, &file);
}

static void
test_variables_name_validity(void **state)
{
    bw_str_t ok = bw_tv_str("a_Z9"), bad = bw_tv_str("a-b"), empty = bw_tv_str("");
    assert_true(bw_http_variable_name_valid(&ok));
    assert_false(bw_http_variable_name_valid(&bad));
    assert_false(bw_http_variable_name_valid(&empty));
}

/* ---- request headers, cookies, arguments ---- */

static void
test_variables_http_prefix_reads_headers_and_joins_repeats(void **state)
{
    bw_tv_t *t = *state;
    bw_int_t ua = bw_tv_index(t, "http_user_agent");
    bw_int_t xf = bw_tv_index(t, "http_x_forwarded_for");
    bw_int_t ck = bw_tv_index(t, "http_cookie");
    bw_int_t none = bw_tv_index(t, "http_x_none");

    bw_tv_header(&t->r.headers_in.headers, "User-Agent", "UA/1");
    bw_tv_header(&t->r.headers_in.headers, "X-Forwarded-For", "1.1.1.1");
    bw_tv_header(&t->r.headers_in.headers, "x-forwarded-for", "2.2.2.2");
    bw_tv_header(&t->r.headers_in.headers, "Cookie", "a=1");
    bw_tv_header(&t->r.headers_in.headers, "Cookie", "b=2");
    assert_int_equal(bw_http_variables_init_vars(&t->cf), BW_OK);
    assert_string_equal(bw_tv_value(t, ua), "UA/1");
    assert_string_equal(bw_tv_value(t, xf), "1.1.1.1, 2.2.2.2");
    assert_string_equal(bw_tv_value(t, ck), "a=1; b=2");
    assert_string_equal(bw_tv_value(t, none), "<nf>");
}

static void
test_variables_cookie_parsing_matches_nginx(void **state)
{
    bw_tv_t *t = *state;
    bw_int_t a = bw_tv_index(t, "cookie_a");
    bw_int_t b = bw_tv_index(t, "cookie_b");
    bw_int_t c = bw_tv_index(t, "cookie_C");
    bw_int_t d = bw_tv_index(t, "cookie_d");

    /* what nginx answers for these two header lines */
    bw_tv_header(&t->r.headers_in.headers, "Cookie", "a=1, b=2 ;c = 3");
    bw_tv_header(&t->r.headers_in.headers, "Cookie", "b=4; a=5");
    assert_int_equal(bw_http_variables_init_vars(&t->cf), BW_OK);
    assert_string_equal(bw_tv_value(t, a), "1, b=2 ");
    assert_string_equal(bw_tv_value(t, b), "2 ");
    assert_string_equal(bw_tv_value(t, c), "3");
    assert_string_equal(bw_tv_value(t, d), "<nf>");
}

static void
test_variables_arg_takes_first_match_case_insensitively(void **state)
{
    bw_tv_t *t = *state;
    bw_int_t x = bw_tv_index(t, "arg_x");
    bw_int_t y = bw_tv_index(t, "arg_y");
    bw_int_t z = bw_tv_index(t, "arg_z");
    bw_int_t q = bw_tv_index(t, "arg_q");

    assert_int_equal(bw_http_variables_init_vars(&t->cf), BW_OK);
    assert_string_equal(bw_tv_value(t, x), "1");
    assert_string_equal(bw_tv_value(t, y), "");
    assert_string_equal(bw_tv_value(t, z), "<nf>"); /* "z" without '=' */
    assert_string_equal(bw_tv_value(t, q), "<nf>");
    t->r.args = bw_tv_str("X=9&x=1");
    assert_string_equal(bw_tv_value(t, x), "9"); /* NOCACHEABLE: follows the new args */
}

/* ---- the request line, the server, the connection ---- */

static void
test_variables_request_line_values(void **state)
{
    bw_tv_t *t = *state;
    bw_int_t uri = bw_tv_index(t, "uri"), doc = bw_tv_index(t, "document_uri");
    bw_int_t args = bw_tv_index(t, "args"), qs = bw_tv_index(t, "query_string");
    bw_int_t is_args = bw_tv_index(t, "is_args"), req = bw_tv_index(t, "request");
    bw_int_t method = bw_tv_index(t, "request_method");
    bw_int_t proto = bw_tv_index(t, "server_protocol");

    assert_int_equal(bw_http_variables_init_vars(&t->cf), BW_OK);
    assert_string_equal(bw_tv_value(t, uri), "/a/b.html");
    assert_string_equal(bw_tv_value(t, doc), "/a/b.html");
    assert_string_equal(bw_tv_value(t, args), "x=1&y=&z&X=9");
    assert_string_equal(bw_tv_value(t, qs), "x=1&y=&z&X=9");
    assert_string_equal(bw_tv_value(t, is_args), "?");
    assert_string_equal(bw_tv_value(t, req), "GET /a/b.html?x=1&y=&z&X=9 HTTP/1.1");
    assert_string_equal(bw_tv_value(t, method), "GET");
    assert_string_equal(bw_tv_value(t, proto), "HTTP/1.1");
    t->r.args.len = 0;
    assert_string_equal(bw_tv_value(t, is_args), "");
}

static void
test_variables_host_prefers_request_then_server_name(void **state)
{
    bw_tv_t *t = *state;
    bw_int_t host = bw_tv_index(t, "host"), sn = bw_tv_index(t, "server_name");

    assert_int_equal(bw_http_variables_init_vars(&t->cf), BW_OK);
    assert_string_equal(bw_tv_value(t, host), "primary.test");
    assert_string_equal(bw_tv_value(t, sn), "primary.test");

    /* a second request on the same configuration, with a Host header */
    t->r.variables = NULL;
    t->r.headers_in.server = bw_tv_str("other.test");
    assert_string_equal(bw_tv_value(t, host), "other.test");
    assert_string_equal(bw_tv_value(t, sn), "primary.test");
}

static void
test_variables_connection_values(void **state)
{
    bw_tv_t *t = *state;
    bw_int_t ra = bw_tv_index(t, "remote_addr"), rp = bw_tv_index(t, "remote_port");
    bw_int_t bin = bw_tv_index(t, "binary_remote_addr");
    bw_int_t conn = bw_tv_index(t, "connection");
    bw_int_t reqs = bw_tv_index(t, "connection_requests");
    bw_int_t scheme = bw_tv_index(t, "scheme"), https = bw_tv_index(t, "https");
    bw_int_t pipe = bw_tv_index(t, "pipe");

    assert_int_equal(bw_http_variables_init_vars(&t->cf), BW_OK);
    assert_string_equal(bw_tv_value(t, ra), "127.0.0.1");
    assert_string_equal(bw_tv_value(t, rp), "54321");
    bw_http_variable_value_t *v = bw_http_get_indexed_variable(&t->r, (bw_uint_t) bin);
    assert_non_null(v);
    assert_int_equal(v->len, 4);
    assert_memory_equal(v->data, "\x7f\x00\x00\x01", 4);
    assert_string_equal(bw_tv_value(t, conn), "7");
    assert_string_equal(bw_tv_value(t, reqs), "3");
    assert_string_equal(bw_tv_value(t, scheme), "http");
    assert_string_equal(bw_tv_value(t, https), "");
    assert_string_equal(bw_tv_value(t, pipe), ".");
}

static void
test_variables_status_and_versions(void **state)
{
    bw_tv_t *t = *state;
    bw_int_t status = bw_tv_index(t, "status");
    bw_int_t nv = bw_tv_index(t, "nginx_version");
    bw_int_t bv = bw_tv_index(t, "bulwark_version");

    assert_int_equal(bw_http_variables_init_vars(&t->cf), BW_OK);
    assert_string_equal(bw_tv_value(t, status), "000");
    t->r.headers_out.status = 200;
    assert_string_equal(bw_tv_value(t, status), "200");
    t->r.err_status = 404;
    assert_string_equal(bw_tv_value(t, status), "404");
    assert_string_equal(bw_tv_value(t, nv), "1.31.5");
    assert_true(strlen(bw_tv_value(t, bv)) > 0);
}

static void
test_variables_request_id_is_32_hex_and_stable(void **state)
{
    bw_tv_t *t = *state;
    bw_int_t id = bw_tv_index(t, "request_id");
    char     first[64];

    assert_int_equal(bw_http_variables_init_vars(&t->cf), BW_OK);
    snprintf(first, sizeof(first), "%s", bw_tv_value(t, id));
    assert_int_equal(strlen(first), 32);
    assert_int_equal(strspn(first, "0123456789abcdef"), 32);
    t->r.variables = NULL; /* even recomputed, the request keeps its id */
    assert_string_equal(bw_tv_value(t, id), first);
}

static void
test_variables_remote_user_from_basic_auth(void **state)
{
    bw_tv_t *t = *state;
    bw_int_t user = bw_tv_index(t, "remote_user");

    assert_int_equal(bw_http_variables_init_vars(&t->cf), BW_OK);
    assert_string_equal(bw_tv_value(t, user), "<nf>");
    t->r.variables = NULL;
    /* "alice:secret" */
    t->r.headers_in.authorization = bw_tv_header(&t->r.headers_in.headers, "Authorization",
                                                 "Basic YWxpY2U6c2VjcmV0");
    assert_string_equal(bw_tv_value(t, user), "alice");
}

static void
test_variables_sent_http_reads_response_headers(void **state)
{
    bw_tv_t *t = *state;
    bw_int_t ct = bw_tv_index(t, "sent_http_content_type");
    bw_int_t cl = bw_tv_index(t, "sent_http_content_length");
    bw_int_t xa = bw_tv_index(t, "sent_http_x_a");
    bw_int_t conn = bw_tv_index(t, "sent_http_connection");

    assert_int_equal(bw_http_variables_init_vars(&t->cf), BW_OK);
    assert_string_equal(bw_tv_value(t, ct), "<nf>");
    t->r.headers_out.content_type = bw_tv_str("text/html");
    t->r.headers_out.charset = bw_tv_str("utf-8");
    t->r.headers_out.content_length_n = 12;
    bw_tv_header(&t->r.headers_out.headers, "X-A", "1");
    bw_http_header_t *gone = bw_tv_header(&t->r.headers_out.headers, "X-A", "deleted");
    gone->hash = 0;
    bw_tv_header(&t->r.headers_out.headers, "X-A", "2");
    assert_string_equal(bw_tv_value(t, ct), "text/html; charset=utf-8");
    assert_string_equal(bw_tv_value(t, cl), "12");
    assert_string_equal(bw_tv_value(t, xa), "1, 2");
    assert_string_equal(bw_tv_value(t, conn), "close");
}

static void
test_variables_limit_rate_is_settable(void **state)
{
    bw_tv_t *t = *state;
    bw_str_t name = bw_tv_str("limit_rate");
    bw_int_t lr = bw_tv_index(t, "limit_rate");

    assert_int_equal(bw_http_variables_init_vars(&t->cf), BW_OK);
    t->clcf.limit_rate = 100;
    assert_string_equal(bw_tv_value(t, lr), "100");
    bw_http_variable_t *v = bw_http_add_variable(&t->cf, &name, BW_HTTP_VAR_CHANGEABLE);
    assert_non_null(v);
    assert_non_null(v->set);
    bw_http_variable_value_t value = { .data = (u_char *) "2k", .len = 2, .valid = 1 };
    v->set(&t->r, &value, v->data);
    assert_true(t->r.limit_rate_set);
    assert_int_equal(t->r.limit_rate, 2048);
    assert_string_equal(bw_tv_value(t, lr), "2048");
}

/* ---- the cache ---- */

static int bw_tv_calls;

static bw_rc_t
bw_tv_counter(bw_http_request_t *r, bw_http_variable_value_t *v, uintptr_t data)
{
    static char buf[16];
    int         n = snprintf(buf, sizeof(buf), "%d", ++bw_tv_calls);
    v->data = (u_char *) buf;
    v->len = (size_t) n;
    return BW_OK;
}

static void
test_variables_cacheable_value_is_computed_once(void **state)
{
    bw_tv_t *t = *state;
    bw_str_t name = bw_tv_str("counted");
    bw_http_variable_t *v = bw_http_add_variable(&t->cf, &name, 0);
    assert_non_null(v);
    v->get = bw_tv_counter;
    bw_int_t i = bw_tv_index(t, "counted");

    bw_tv_calls = 0;
    assert_int_equal(bw_http_variables_init_vars(&t->cf), BW_OK);
    assert_string_equal(bw_tv_value(t, i), "1");
    assert_string_equal(bw_tv_value(t, i), "1");
    assert_int_equal(bw_tv_calls, 1);
}

static void
test_variables_nocacheable_value_is_recomputed_when_flushed(void **state)
{
    bw_tv_t *t = *state;
    bw_str_t name = bw_tv_str("ticks");
    bw_http_variable_t *v = bw_http_add_variable(&t->cf, &name, BW_HTTP_VAR_NOCACHEABLE);
    assert_non_null(v);
    v->get = bw_tv_counter;
    bw_int_t i = bw_tv_index(t, "ticks");

    bw_tv_calls = 0;
    assert_int_equal(bw_http_variables_init_vars(&t->cf), BW_OK);
    assert_string_equal(bw_tv_value(t, i), "1");
    assert_string_equal(bw_tv_value(t, i), "2");
    /* the unflushed read keeps the cached value */
    bw_http_variable_value_t *value = bw_http_get_indexed_variable(&t->r, (bw_uint_t) i);
    assert_non_null(value);
    assert_int_equal(bw_tv_calls, 2);
}

static bw_int_t bw_tv_self_index;

static bw_rc_t
bw_tv_self(bw_http_request_t *r, bw_http_variable_value_t *v, uintptr_t data)
{
    bw_http_variable_value_t *inner = bw_http_get_flushed_variable(r, (bw_uint_t) bw_tv_self_index);
    if (inner == NULL) {
        return BW_ERROR;
    }
    *v = *inner;
    return BW_OK;
}

static void
test_variables_self_reference_fails_instead_of_recursing(void **state)
{
    bw_tv_t *t = *state;
    bw_str_t name = bw_tv_str("loop");
    bw_http_variable_t *v = bw_http_add_variable(&t->cf, &name, BW_HTTP_VAR_NOCACHEABLE);
    assert_non_null(v);
    v->get = bw_tv_self;
    bw_tv_self_index = bw_tv_index(t, "loop");
    assert_int_equal(bw_http_variables_init_vars(&t->cf), BW_OK);

    bw_tv_capture_begin();
    bw_http_variable_value_t *value =
        bw_http_get_indexed_variable(&t->r, (bw_uint_t) bw_tv_self_index);
    const char *out = bw_tv_capture_end();
    assert_null(value);
    assert_non_null(strstr(out, "cycle while evaluating variable \"loop\""));
}

static void
test_variables_set_indexed_value_overrides(void **state)
{
    bw_tv_t *t = *state;
    bw_str_t name = bw_tv_str("mine"), value = bw_tv_str("set-value");
    bw_http_variable_t *v = bw_http_add_variable(&t->cf, &name, BW_HTTP_VAR_CHANGEABLE);
    assert_non_null(v);
    v->get = bw_tv_counter;
    bw_int_t i = bw_tv_index(t, "mine");
    assert_int_equal(bw_http_variables_init_vars(&t->cf), BW_OK);
    assert_int_equal(bw_http_set_indexed_variable(&t->r, (bw_uint_t) i, &value), BW_OK);
    assert_string_equal(bw_tv_value(t, i), "set-value");
}

/* ---- lookups by name at run time ---- */

static void
test_variables_get_by_name_finds_builtin_prefix_and_unknown(void **state)
{
    bw_tv_t *t = *state;
    bw_str_t uri = bw_tv_str("uri"), ua = bw_tv_str("http_user_agent");
    bw_str_t nothing = bw_tv_str("nothing_here");

    bw_tv_header(&t->r.headers_in.headers, "User-Agent", "UA/2");
    assert_int_equal(bw_http_variables_init_vars(&t->cf), BW_OK);
    bw_http_variable_value_t *v =
        bw_http_get_variable(&t->r, &uri, bw_http_variable_hash(uri.data, uri.len));
    assert_non_null(v);
    assert_int_equal(v->len, 9);
    assert_memory_equal(v->data, "/a/b.html", 9);
    v = bw_http_get_variable(&t->r, &ua, bw_http_variable_hash(ua.data, ua.len));
    assert_non_null(v);
    assert_int_equal(v->len, 4);
    assert_memory_equal(v->data, "UA/2", 4);
    v = bw_http_get_variable(&t->r, &nothing, bw_http_variable_hash(nothing.data, nothing.len));
    assert_non_null(v);
    assert_true(v->not_found);
}

/* ---- captures ---- */

static void
test_variables_regex_captures_and_named_groups(void **state)
{
    bw_tv_t *t = *state;
    bw_str_t pattern = bw_tv_str("^/(?<dir>[a-z]+)/(\\w+)\\.(html)$");
    bw_regex_t *re = bw_http_regex_compile(&t->cf, &pattern, false);
    assert_non_null(re);
    bw_int_t dir = bw_tv_index(t, "dir");
    assert_int_equal(bw_http_variables_init_vars(&t->cf), BW_OK);

    assert_string_equal(bw_tv_value(t, dir), "<nf>");
    bw_str_t subject = t->r.uri, cap;
    assert_int_equal(bw_regex_exec_request(&t->r, re, &subject), BW_OK);
    assert_int_equal(t->r.ncaptures, 4);
    assert_true(bw_http_capture(&t->r, 1, &cap));
    assert_int_equal(cap.len, 1);
    assert_memory_equal(cap.data, "a", 1);
    assert_true(bw_http_capture(&t->r, 3, &cap));
    assert_memory_equal(cap.data, "html", 4);
    assert_false(bw_http_capture(&t->r, 4, &cap));
    assert_int_equal(cap.len, 0);
    assert_string_equal(bw_tv_value(t, dir), "a");

    /* a failed match leaves the previous captures alone */
    bw_str_t other = bw_tv_str("no match here");
    assert_int_equal(bw_regex_exec_request(&t->r, re, &other), BW_DECLINED);
    assert_int_equal(t->r.ncaptures, 4);
    assert_true(bw_http_capture(&t->r, 2, &cap));
    assert_memory_equal(cap.data, "b", 1);
}

static void
test_variables_named_capture_cannot_shadow_builtin(void **state)
{
    bw_tv_t *t = *state;
    bw_str_t pattern = bw_tv_str("^(?<uri>.*)$");

    bw_tv_capture_begin();
    bw_regex_t *re = bw_http_regex_compile(&t->cf, &pattern, false);
    const char *out = bw_tv_capture_end();
    assert_null(re);
    assert_non_null(strstr(out, "the duplicate \"uri\" variable"));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, bw_tv_setup, bw_tv_teardown)
        T(test_variables_duplicate_builtin_is_refused_with_nginx_message),
        T(test_variables_changeable_redeclaration_returns_same_variable),
        T(test_variables_index_is_case_insensitive_and_stable),
        T(test_variables_empty_name_reports_invalid_variable_name),
        T(test_variables_unknown_name_fails_init_vars_without_position),
        T(test_variables_name_validity),
        T(test_variables_http_prefix_reads_headers_and_joins_repeats),
        T(test_variables_cookie_parsing_matches_nginx),
        T(test_variables_arg_takes_first_match_case_insensitively),
        T(test_variables_request_line_values),
        T(test_variables_host_prefers_request_then_server_name),
        T(test_variables_connection_values),
        T(test_variables_status_and_versions),
        T(test_variables_request_id_is_32_hex_and_stable),
        T(test_variables_remote_user_from_basic_auth),
        T(test_variables_sent_http_reads_response_headers),
        T(test_variables_limit_rate_is_settable),
        T(test_variables_cacheable_value_is_computed_once),
        T(test_variables_nocacheable_value_is_recomputed_when_flushed),
        T(test_variables_self_reference_fails_instead_of_recursing),
        T(test_variables_set_indexed_value_overrides),
        T(test_variables_get_by_name_finds_builtin_prefix_and_unknown),
        T(test_variables_regex_captures_and_named_groups),
        T(test_variables_named_capture_cannot_shadow_builtin),
#undef T
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
