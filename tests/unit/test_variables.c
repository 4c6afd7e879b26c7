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

#include "http_conf.h"

typedef struct {
    bw_test_http_conf_t      hc;
    bw_log_t                 log;
    bw_connection_t          c;
    struct sockaddr_in       peer;
    bw_http_request_t        r;
} bw_tv_t;

/* ---- the fixture: a configuration and one request ---- */

static int
bw_tv_setup(void **state)
{
    bw_tv_t *t = calloc(1, sizeof(bw_tv_t));
    assert_non_null(t);
    bw_test_http_conf_init(&t->hc);
    t->hc.cscf.server_name = bw_test_cstr("primary.test");
    t->hc.cscf.ctx = &t->hc.ctx;
    t->hc.clcf.root = bw_test_cstr("/srv/www");
    assert_int_equal(bw_http_variables_add_core_vars(&t->hc.cf), BW_OK);

    t->log = bw_log_stderr_log;
    t->peer.sin_family = AF_INET;
    t->peer.sin_port = htons(54321);
    t->peer.sin_addr.s_addr = htonl(0x7f000001);
    t->c.sockaddr = (struct sockaddr *) &t->peer;
    t->c.socklen = sizeof(t->peer);
    t->c.addr_text = bw_test_cstr("127.0.0.1");
    t->c.log = &t->log;
    t->c.fd = -1;
    t->c.number = 7;
    t->c.requests = 3;

    bw_http_request_t *r = &t->r;
    r->pool = t->hc.pool;
    r->connection = &t->c;
    r->main = r;
    r->main_conf = t->hc.main_conf;
    r->srv_conf = t->hc.srv_conf;
    r->loc_conf = t->hc.loc_conf;
    r->uri = bw_test_cstr("/a/b.html");
    r->args = bw_test_cstr("x=1&y=&z&X=9");
    r->unparsed_uri = bw_test_cstr("/a/b.html?x=1&y=&z&X=9");
    r->request_line = bw_test_cstr("GET /a/b.html?x=1&y=&z&X=9 HTTP/1.1");
    r->method_name = bw_test_cstr("GET");
    r->http_protocol = bw_test_cstr("HTTP/1.1");
    r->http_version = 1001;
    r->headers_in.content_length_n = -1;
    r->headers_out.content_length_n = -1;
    r->headers_out.last_modified_time = -1;
    assert_int_equal(bw_array_init(&r->headers_in.headers, t->hc.pool, 8, sizeof(bw_http_header_t)),
                     BW_OK);
    assert_int_equal(bw_array_init(&r->headers_out.headers, t->hc.pool, 8,
                                   sizeof(bw_http_header_t)), BW_OK);
    *state = t;
    return 0;
}

static int
bw_tv_teardown(void **state)
{
    bw_tv_t *t = *state;
    bw_pool_destroy(t->hc.pool);
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
    h->key = bw_test_cstr(name);
    h->value = bw_test_cstr(value);
    return h;
}

static bw_int_t
bw_tv_index(bw_tv_t *t, const char *name)
{
    bw_str_t n = bw_test_cstr(name);
    bw_int_t i = bw_http_get_variable_index(&t->hc.cf, &n);
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
    bw_str_t name = bw_test_cstr("uri");

    bw_test_stderr_begin();
    bw_http_variable_t *v = bw_http_add_variable(&t->hc.cf, &name, BW_HTTP_VAR_CHANGEABLE);
    const char *out = bw_test_stderr_end();
    assert_null(v);
    assert_non_null(strstr(out, "[emerg] the duplicate \"uri\" variable"));
    assert_int_equal(t->hc.cf.errors, 1);
}

static void
test_variables_changeable_redeclaration_returns_same_variable(void **state)
{
    bw_tv_t *t = *state;
    bw_str_t a = bw_test_cstr("Foo"), b = bw_test_cstr("foo");

    bw_http_variable_t *v1 = bw_http_add_variable(&t->hc.cf, &a, BW_HTTP_VAR_CHANGEABLE);
    bw_http_variable_t *v2 = bw_http_add_variable(&t->hc.cf, &b, BW_HTTP_VAR_CHANGEABLE);
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
    assert_int_equal(bw_http_variables_init_vars(&t->hc.cf), BW_OK);
    assert_string_equal(bw_tv_value(t, a), "/a/b.html?x=1&y=&z&X=9");
    assert_true(bw_http_variables_count() >= 2);
}

static void
test_variables_empty_name_reports_invalid_variable_name(void **state)
{
    bw_tv_t *t = *state;
    bw_str_t empty = bw_test_cstr("");

    bw_test_stderr_begin();
    bw_int_t i = bw_http_get_variable_index(&t->hc.cf, &empty);
    const char *out = bw_test_stderr_end();
    assert_int_equal(i, -1);
    assert_non_null(strstr(out, "invalid variable name \"$\""));
}

static void
test_variables_unknown_name_fails_init_vars_without_position(void **state)
{
    bw_tv_t       *t = *state;
    bw_conf_file_t file = { .name = bw_test_cstr("/x.conf"), .line = 9 };

    bw_tv_index(t, "no_such_thing");
    t->hc.cf.file = &file;
    bw_test_stderr_begin();
    bw_rc_t rc = bw_http_variables_init_vars(&t->hc.cf);
    const char *out = bw_test_stderr_end();
    assert_int_equal(rc, BW_ERROR);
    assert_non_null(strstr(out, "[emerg] unknown \"no_such_thing\" variable\n"));
    assert_ptr_equal(t->hc.cf.file, &file);
}

static void
test_variables_name_validity(void **state)
{
    bw_str_t ok = bw_test_cstr("a_Z9"), bad = bw_test_cstr("a-b"), empty = bw_test_cstr("");
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
    assert_int_equal(bw_http_variables_init_vars(&t->hc.cf), BW_OK);
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
    assert_int_equal(bw_http_variables_init_vars(&t->hc.cf), BW_OK);
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

    assert_int_equal(bw_http_variables_init_vars(&t->hc.cf), BW_OK);
    assert_string_equal(bw_tv_value(t, x), "1");
    assert_string_equal(bw_tv_value(t, y), "");
    assert_string_equal(bw_tv_value(t, z), "<nf>"); /* "z" without '=' */
    assert_string_equal(bw_tv_value(t, q), "<nf>");
    t->r.args = bw_test_cstr("X=9&x=1");
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

    assert_int_equal(bw_http_variables_init_vars(&t->hc.cf), BW_OK);
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

    assert_int_equal(bw_http_variables_init_vars(&t->hc.cf), BW_OK);
    assert_string_equal(bw_tv_value(t, host), "primary.test");
    assert_string_equal(bw_tv_value(t, sn), "primary.test");

    /* a second request on the same configuration, with a Host header */
    t->r.variables = NULL;
    t->r.headers_in.server = bw_test_cstr("other.test");
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

    assert_int_equal(bw_http_variables_init_vars(&t->hc.cf), BW_OK);
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

    assert_int_equal(bw_http_variables_init_vars(&t->hc.cf), BW_OK);
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

    assert_int_equal(bw_http_variables_init_vars(&t->hc.cf), BW_OK);
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

    assert_int_equal(bw_http_variables_init_vars(&t->hc.cf), BW_OK);
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

    assert_int_equal(bw_http_variables_init_vars(&t->hc.cf), BW_OK);
    assert_string_equal(bw_tv_value(t, ct), "<nf>");
    t->r.headers_out.content_type = bw_test_cstr("text/html");
    t->r.headers_out.charset = bw_test_cstr("utf-8");
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
    bw_str_t name = bw_test_cstr("limit_rate");
    bw_int_t lr = bw_tv_index(t, "limit_rate");

    assert_int_equal(bw_http_variables_init_vars(&t->hc.cf), BW_OK);
    t->hc.clcf.limit_rate = 100;
    assert_string_equal(bw_tv_value(t, lr), "100");
    bw_http_variable_t *v = bw_http_add_variable(&t->hc.cf, &name, BW_HTTP_VAR_CHANGEABLE);
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
    bw_str_t name = bw_test_cstr("counted");
    bw_http_variable_t *v = bw_http_add_variable(&t->hc.cf, &name, 0);
    assert_non_null(v);
    v->get = bw_tv_counter;
    bw_int_t i = bw_tv_index(t, "counted");

    bw_tv_calls = 0;
    assert_int_equal(bw_http_variables_init_vars(&t->hc.cf), BW_OK);
    assert_string_equal(bw_tv_value(t, i), "1");
    assert_string_equal(bw_tv_value(t, i), "1");
    assert_int_equal(bw_tv_calls, 1);
}

static void
test_variables_nocacheable_value_is_recomputed_when_flushed(void **state)
{
    bw_tv_t *t = *state;
    bw_str_t name = bw_test_cstr("ticks");
    bw_http_variable_t *v = bw_http_add_variable(&t->hc.cf, &name, BW_HTTP_VAR_NOCACHEABLE);
    assert_non_null(v);
    v->get = bw_tv_counter;
    bw_int_t i = bw_tv_index(t, "ticks");

    bw_tv_calls = 0;
    assert_int_equal(bw_http_variables_init_vars(&t->hc.cf), BW_OK);
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
    bw_str_t name = bw_test_cstr("loop");
    bw_http_variable_t *v = bw_http_add_variable(&t->hc.cf, &name, BW_HTTP_VAR_NOCACHEABLE);
    assert_non_null(v);
    v->get = bw_tv_self;
    bw_tv_self_index = bw_tv_index(t, "loop");
    assert_int_equal(bw_http_variables_init_vars(&t->hc.cf), BW_OK);

    bw_test_stderr_begin();
    bw_http_variable_value_t *value =
        bw_http_get_indexed_variable(&t->r, (bw_uint_t) bw_tv_self_index);
    const char *out = bw_test_stderr_end();
    assert_null(value);
    assert_non_null(strstr(out, "cycle while evaluating variable \"loop\""));
}

static void
test_variables_set_indexed_value_overrides(void **state)
{
    bw_tv_t *t = *state;
    bw_str_t name = bw_test_cstr("mine"), value = bw_test_cstr("set-value");
    bw_http_variable_t *v = bw_http_add_variable(&t->hc.cf, &name, BW_HTTP_VAR_CHANGEABLE);
    assert_non_null(v);
    v->get = bw_tv_counter;
    bw_int_t i = bw_tv_index(t, "mine");
    assert_int_equal(bw_http_variables_init_vars(&t->hc.cf), BW_OK);
    assert_int_equal(bw_http_set_indexed_variable(&t->r, (bw_uint_t) i, &value), BW_OK);
    assert_string_equal(bw_tv_value(t, i), "set-value");
}

/* ---- lookups by name at run time ---- */

static void
test_variables_get_by_name_finds_builtin_prefix_and_unknown(void **state)
{
    bw_tv_t *t = *state;
    bw_str_t uri = bw_test_cstr("uri"), ua = bw_test_cstr("http_user_agent");
    bw_str_t nothing = bw_test_cstr("nothing_here");

    bw_tv_header(&t->r.headers_in.headers, "User-Agent", "UA/2");
    assert_int_equal(bw_http_variables_init_vars(&t->hc.cf), BW_OK);
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
    bw_str_t pattern = bw_test_cstr("^/(?<dir>[a-z]+)/(\\w+)\\.(html)$");
    bw_regex_t *re = bw_http_regex_compile(&t->hc.cf, &pattern, false);
    assert_non_null(re);
    bw_int_t dir = bw_tv_index(t, "dir");
    assert_int_equal(bw_http_variables_init_vars(&t->hc.cf), BW_OK);

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
    bw_str_t other = bw_test_cstr("no match here");
    assert_int_equal(bw_regex_exec_request(&t->r, re, &other), BW_DECLINED);
    assert_int_equal(t->r.ncaptures, 4);
    assert_true(bw_http_capture(&t->r, 2, &cap));
    assert_memory_equal(cap.data, "b", 1);
}

static void
test_variables_named_capture_cannot_shadow_builtin(void **state)
{
    bw_tv_t *t = *state;
    bw_str_t pattern = bw_test_cstr("^(?<uri>.*)$");

    bw_test_stderr_begin();
    bw_regex_t *re = bw_http_regex_compile(&t->hc.cf, &pattern, false);
    const char *out = bw_test_stderr_end();
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
