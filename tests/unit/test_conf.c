/*
 * test_conf.c -- the configuration parser through files on disk: dispatch to
 * setters, contexts, argument counts, blocks, handlers, include (plain,
 * globs, nesting, missing files), -g text, -T dump, error accumulation and
 * the exact text and line of every message.
 *
 * A fake module table (cf->modules) stands in for the real modules; its
 * setters record what they saw in bw_test_seen.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "conf.h"
#include "cycle.h"
#include "module.h"
#include "pool.h"
#include "support.h"

/* ---- the fake modules ---- */

typedef struct {
    bw_int_t flag;
    bw_int_t num;
} bw_test_main_conf_t;

static char bw_test_seen[8192]; /* "name[arg][arg] " per statement set */

static void
bw_test_record(bw_conf_t *cf, const char *tag)
{
    size_t n = strlen(bw_test_seen);

    n += snprintf(bw_test_seen + n, sizeof(bw_test_seen) - n, "%s", tag);
    for (size_t i = 0; i < cf->args->nelts; i++) {
        bw_str_t *a = &bw_array_at(cf->args, bw_str_t, i);
        n += snprintf(bw_test_seen + n, sizeof(bw_test_seen) - n, "%s%.*s", i ? "|" : "",
                      BW_STR_ARG(*a));
    }
    snprintf(bw_test_seen + n, sizeof(bw_test_seen) - n, " ");
}

static void
bw_test_append(const char *text)
{
    size_t n = strlen(bw_test_seen);
    snprintf(bw_test_seen + n, sizeof(bw_test_seen) - n, "%s", text);
}

static const char *
bw_test_set_record(bw_conf_t *cf, const bw_directive_t *d, void *conf)
{
    bw_test_record(cf, "");
    return BW_CONF_OK;
}

/* A block directive: parses its body with ctx_type HTTP. */
static const char *
bw_test_set_block(bw_conf_t *cf, const bw_directive_t *d, void *conf)
{
    uint32_t saved = cf->ctx_type;

    bw_test_record(cf, "");
    bw_test_append("{ ");
    cf->ctx_type = BW_CTX_HTTP;
    bw_rc_t rc = bw_conf_parse(cf, NULL);
    cf->ctx_type = saved;
    bw_test_append("} ");
    return rc == BW_OK ? BW_CONF_OK : BW_CONF_ERROR;
}

/* A block directive that refuses its argument before reading the body. */
static const char *
bw_test_set_failblock(bw_conf_t *cf, const bw_directive_t *d, void *conf)
{
    return "has a bad argument";
}

static const char *
bw_test_set_fragment(bw_conf_t *cf, const bw_directive_t *d, void *conf)
{
    return "is odd";
}

static const char *
bw_test_set_silent_error(bw_conf_t *cf, const bw_directive_t *d, void *conf)
{
    return BW_CONF_ERROR;
}

static const char *
bw_test_set_warn(bw_conf_t *cf, const bw_directive_t *d, void *conf)
{
    bw_conf_log(cf, BW_LOG_WARN, 0, "\"%s\" is deprecated", d->name);
    return BW_CONF_OK;
}

static void *bw_test_conf_seen;

static const char *
bw_test_set_conf_ptr(bw_conf_t *cf, const bw_directive_t *d, void *conf)
{
    bw_test_conf_seen = conf;
    return BW_CONF_OK;
}

static const char *
bw_test_handler(bw_conf_t *cf, void *conf)
{
    bw_test_record(cf, "type:");
    bw_str_t *a = cf->args->elts;
    return bw_str_eq_lit(&a[0], "bad") ? "invalid type line" : BW_CONF_OK;
}

/* types-like block: every statement goes to bw_test_handler. */
static const char *
bw_test_set_types(bw_conf_t *cf, const bw_directive_t *d, void *conf)
{
    cf->handler = bw_test_handler;
    bw_rc_t rc = bw_conf_parse(cf, NULL);
    cf->handler = NULL;
    return rc == BW_OK ? BW_CONF_OK : BW_CONF_ERROR;
}

#define BW_TEST_MAIN_OFF(f) offsetof(bw_test_main_conf_t, f)

static const bw_directive_t bw_test_directives[] = {
    {"t_flag", BW_CTX_MAIN, BW_ARGS_FLAG, BW_CONF_MAIN, bw_conf_set_flag, BW_TEST_MAIN_OFF(flag),
     NULL},
    {"t_num", BW_CTX_MAIN, BW_ARGS_TAKE1, BW_CONF_MAIN, bw_conf_set_num, BW_TEST_MAIN_OFF(num),
     NULL},
    {"t_any", BW_CTX_MAIN | BW_CTX_HTTP, BW_ARGS_ANY, BW_CONF_NONE, bw_test_set_record, 0, NULL},
    {"t_noargs", BW_CTX_MAIN, BW_ARGS_NOARGS, BW_CONF_NONE, bw_test_set_record, 0, NULL},
    {"t_take13", BW_CTX_MAIN, BW_ARGS_TAKE13, BW_CONF_NONE, bw_test_set_record, 0, NULL},
    {"t_take7", BW_CTX_MAIN, BW_ARGS_TAKE7, BW_CONF_NONE, bw_test_set_record, 0, NULL},
    {"t_1more", BW_CTX_MAIN, BW_ARGS_1MORE, BW_CONF_NONE, bw_test_set_record, 0, NULL},
    {"t_2more", BW_CTX_MAIN, BW_ARGS_2MORE, BW_CONF_NONE, bw_test_set_record, 0, NULL},
    {"t_block", BW_CTX_MAIN | BW_CTX_HTTP, BW_ARGS_BLOCK | BW_ARGS_ANY, BW_CONF_NONE,
     bw_test_set_block, 0, NULL},
    {"t_failblock", BW_CTX_MAIN, BW_ARGS_BLOCK | BW_ARGS_TAKE1, BW_CONF_NONE,
     bw_test_set_failblock, 0, NULL},
    {"t_types", BW_CTX_MAIN | BW_CTX_HTTP, BW_ARGS_BLOCK | BW_ARGS_NOARGS, BW_CONF_NONE,
     bw_test_set_types, 0, NULL},
    {"t_inner", BW_CTX_HTTP, BW_ARGS_TAKE1, BW_CONF_NONE, bw_test_set_record, 0, NULL},
    {"t_frag", BW_CTX_MAIN, BW_ARGS_TAKE1, BW_CONF_NONE, bw_test_set_fragment, 0, NULL},
    {"t_silent", BW_CTX_MAIN, BW_ARGS_NOARGS, BW_CONF_NONE, bw_test_set_silent_error, 0, NULL},
    {"t_warn", BW_CTX_MAIN, BW_ARGS_NOARGS, BW_CONF_NONE, bw_test_set_warn, 0, NULL},
    {"t_main_ptr", BW_CTX_MAIN, BW_ARGS_NOARGS, BW_CONF_MAIN, bw_test_set_conf_ptr, 0, NULL},
    {"t_srv_ptr", BW_CTX_MAIN, BW_ARGS_NOARGS, BW_CONF_SRV, bw_test_set_conf_ptr, 0, NULL},
    {"t_loc_ptr", BW_CTX_MAIN, BW_ARGS_NOARGS, BW_CONF_LOC, bw_test_set_conf_ptr, 0, NULL},
    {"t_none_ptr", BW_CTX_MAIN, BW_ARGS_NOARGS, BW_CONF_NONE, bw_test_set_conf_ptr, 0, NULL},
    BW_DIRECTIVES_END,
};

/* A second module reusing the name t_inner for the main context. */
static const char *
bw_test_set_other(bw_conf_t *cf, const bw_directive_t *d, void *conf)
{
    bw_test_record(cf, "other:");
    return BW_CONF_OK;
}

static const bw_directive_t bw_test_other_directives[] = {
    {"t_inner", BW_CTX_MAIN, BW_ARGS_TAKE1, BW_CONF_NONE, bw_test_set_other, 0, NULL},
    BW_DIRECTIVES_END,
};

static bw_module_t bw_test_module = {.name = "test", .directives = bw_test_directives, .index = 0};
static bw_module_t bw_test_other_module = {
    .name = "other", .directives = bw_test_other_directives, .index = 1};
static bw_module_t *bw_test_modules[] = {&bw_test_module, &bw_test_other_module, NULL};

/* ---- fixture: a cycle, a conf, a temp directory ---- */

typedef struct {
    bw_pool_t          *pool;
    bw_cycle_t          cycle;
    bw_conf_t           cf;
    bw_conf_ctx_t       ctx;
    void               *main_confs[2];
    bw_test_main_conf_t main_conf;
    char                dir[64]; /* ends without '/' */
} bw_test_fx_t;

static int
bw_test_setup(void **state)
{
    bw_test_fx_t *fx = calloc(1, sizeof(*fx));
    assert_non_null(fx);
    strcpy(fx->dir, "/tmp/bw_test_conf_XXXXXX");
    assert_non_null(mkdtemp(fx->dir));
    fx->pool = bw_pool_create(BW_POOL_DEFAULT_SIZE, NULL);
    assert_non_null(fx->pool);

    fx->cycle.pool = fx->pool;
    bw_str_t *cp = bw_psprintf(fx->pool, "%s/", fx->dir);
    fx->cycle.conf_prefix = *cp;
    bw_str_set(&fx->cycle.prefix, "/prefix/");

    fx->main_conf.flag = BW_CONF_UNSET;
    fx->main_conf.num = BW_CONF_UNSET;
    fx->main_confs[0] = &fx->main_conf;
    fx->ctx.main_conf = fx->main_confs;

    fx->cf.cycle = &fx->cycle;
    fx->cf.pool = fx->pool;
    fx->cf.log = &bw_log_stderr_log;
    fx->cf.ctx = &fx->ctx;
    fx->cf.ctx_type = BW_CTX_MAIN;
    fx->cf.modules = bw_test_modules;
    bw_test_seen[0] = '\0';
    *state = fx;
    return 0;
}

static int
bw_test_teardown(void **state)
{
    bw_test_fx_t *fx = *state;
    char          cmd[128];

    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", fx->dir);
    assert_int_equal(system(cmd), 0);
    bw_pool_destroy(fx->pool);
    free(fx);
    return 0;
}

/* Writes `text` to dir/name (name may contain a subdirectory that exists). */
static void
bw_test_write(bw_test_fx_t *fx, const char *name, const char *text)
{
    char path[256];

    snprintf(path, sizeof(path), "%s/%s", fx->dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void
bw_test_mkdir(bw_test_fx_t *fx, const char *name)
{
    char path[256];

    snprintf(path, sizeof(path), "%s/%s", fx->dir, name);
    assert_int_equal(mkdir(path, 0700), 0);
}

/* Parses dir/name (given relative: resolved against the conf prefix). */
static bw_rc_t
bw_test_parse(bw_test_fx_t *fx, const char *name, const char **err)
{
    bw_str_t file = {strlen(name), (u_char *) name};

    bw_test_stderr_begin();
    bw_rc_t rc = bw_conf_parse(&fx->cf, &file);
    *err = bw_test_stderr_end();
    return rc;
}

/* "bulwark: [emerg] <msg> in <dir>/<file>:<line>\n" */
static const char *
bw_test_emerg(bw_test_fx_t *fx, const char *msg, const char *file, int line)
{
    static char buf[4][1024];
    static int  i;

    i = (i + 1) % 4;
    snprintf(buf[i], sizeof(buf[i]), "bulwark: [emerg] %s in %s/%s:%d\n", msg, fx->dir, file, line);
    return buf[i];
}

/* ---- dispatch ---- */

static void
test_conf_setter_sees_every_argument(void **state)
{
    bw_test_fx_t *fx = *state;
    const char   *err;

    bw_test_write(fx, "m.conf", "t_any a \"b c\" 'd' \"\" $x ${y}z \"e\\\"f\";\n");
    assert_int_equal(bw_test_parse(fx, "m.conf", &err), BW_OK);
    assert_string_equal(err, "");
    assert_string_equal(bw_test_seen, "t_any|a|b c|d||$x|${y}z|e\"f ");
    assert_int_equal(fx->cf.errors, 0);
}

static void
test_conf_stock_setters_write_the_main_conf(void **state)
{
    bw_test_fx_t *fx = *state;
    const char   *err;

    bw_test_write(fx, "m.conf", "t_flag on;\nt_num 42;\n");
    assert_int_equal(bw_test_parse(fx, "m.conf", &err), BW_OK);
    assert_string_equal(err, "");
    assert_int_equal(fx->main_conf.flag, 1);
    assert_int_equal(fx->main_conf.num, 42);
}

static void
test_conf_nested_blocks_change_context(void **state)
{
    bw_test_fx_t *fx = *state;
    const char   *err;

    bw_test_write(fx, "m.conf",
                  "t_block outer {\n"
                  "    t_inner 1;\n"
                  "    t_block {\n"
                  "        t_inner 2;\n"
                  "    }\n"
                  "    t_inner 3;\n"
                  "}\n"
                  "t_any top;\n");
    assert_int_equal(bw_test_parse(fx, "m.conf", &err), BW_OK);
    assert_string_equal(err, "");
    assert_string_equal(bw_test_seen, "t_block|outer { t_inner|1 t_block { t_inner|2 } "
                                      "t_inner|3 } t_any|top ");
    assert_int_equal(fx->cf.blocks, 2);
    assert_int_equal(fx->cf.ctx_type, BW_CTX_MAIN);
}

static void
test_conf_directive_name_taken_by_next_module_when_context_differs(void **state)
{
    bw_test_fx_t *fx = *state;
    const char   *err;

    bw_test_write(fx, "m.conf", "t_inner main;\nt_block { t_inner http; }\n");
    assert_int_equal(bw_test_parse(fx, "m.conf", &err), BW_OK);
    assert_string_equal(err, "");
    assert_string_equal(bw_test_seen, "other:t_inner|main t_block { t_inner|http } ");
}

static void
test_conf_setter_receives_conf_of_its_level(void **state)
{
    bw_test_fx_t *fx = *state;
    const char   *err;
    int           srv, loc;
    void         *srv_confs[2] = {&srv, NULL}, *loc_confs[2] = {&loc, NULL};

    bw_test_write(fx, "main.conf", "t_main_ptr;\n");
    bw_test_write(fx, "srv.conf", "t_srv_ptr;\n");
    bw_test_write(fx, "loc.conf", "t_loc_ptr;\n");
    bw_test_write(fx, "none.conf", "t_none_ptr;\n");

    assert_int_equal(bw_test_parse(fx, "main.conf", &err), BW_OK);
    assert_ptr_equal(bw_test_conf_seen, &fx->main_conf);
    assert_int_equal(bw_test_parse(fx, "srv.conf", &err), BW_OK);
    assert_null(bw_test_conf_seen); /* no srv_conf array: NULL */

    fx->ctx.srv_conf = srv_confs;
    fx->ctx.loc_conf = loc_confs;
    assert_int_equal(bw_test_parse(fx, "srv.conf", &err), BW_OK);
    assert_ptr_equal(bw_test_conf_seen, &srv);
    assert_int_equal(bw_test_parse(fx, "loc.conf", &err), BW_OK);
    assert_ptr_equal(bw_test_conf_seen, &loc);
    bw_test_conf_seen = &srv;
    assert_int_equal(bw_test_parse(fx, "none.conf", &err), BW_OK);
    assert_null(bw_test_conf_seen);

    fx->cf.ctx = NULL;
    bw_test_conf_seen = &srv;
    assert_int_equal(bw_test_parse(fx, "main.conf", &err), BW_OK);
    assert_null(bw_test_conf_seen);
}

/* ---- dispatch errors ---- */

typedef struct {
    const char *text;
    const char *message;
    int         line;
} bw_test_error_case_t;

/* Each case is one file; it must fail with exactly that one message. */
static void
bw_test_error_cases(bw_test_fx_t *fx, const bw_test_error_case_t *cases, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const char *err;
        bw_test_write(fx, "e.conf", cases[i].text);
        fx->main_conf.flag = fx->main_conf.num = BW_CONF_UNSET;
        fx->cf.errors = 0;
        bw_rc_t     rc = bw_test_parse(fx, "e.conf", &err);
        const char *want = bw_test_emerg(fx, cases[i].message, "e.conf", cases[i].line);
        if (rc != BW_ERROR || strcmp(err, want) != 0 || fx->cf.errors != 1) {
            print_error("input: %s\nwant: %sgot:  %s(rc %d, errors %lu)\n", cases[i].text, want,
                        err, rc, (unsigned long) fx->cf.errors);
            fail();
        }
    }
}

static void
test_conf_unknown_unsupported_and_misplaced_directives(void **state)
{
    static const bw_test_error_case_t cases[] = {
        {"t_any;\nlisen 80;\n", "unknown directive \"lisen\"", 2},
        {"\n\nproxy_pass http://x;\n", "directive \"proxy_pass\" is not supported by bulwark", 3},
        {"t_inner\n  a\n  b;\n", "invalid number of arguments in \"t_inner\" directive", 3},
        {"t_block {\n  t_num 1;\n}\n", "\"t_num\" directive is not allowed here", 2},
        {"\"t any\" 1;\n", "unknown directive \"t any\"", 1},
    };
    bw_test_error_cases(*state, cases, bw_nelems(cases));
}

static void
test_conf_argument_counts_follow_nginx_rules(void **state)
{
    static const bw_test_error_case_t bad[] = {
        {"t_flag;", "invalid number of arguments in \"t_flag\" directive", 1},
        {"t_flag on off;", "invalid number of arguments in \"t_flag\" directive", 1},
        {"t_noargs x;", "invalid number of arguments in \"t_noargs\" directive", 1},
        {"t_take13;", "invalid number of arguments in \"t_take13\" directive", 1},
        {"t_take13 a b;", "invalid number of arguments in \"t_take13\" directive", 1},
        {"t_take13 a b c d;", "invalid number of arguments in \"t_take13\" directive", 1},
        {"t_take7 1 2 3 4 5 6;", "invalid number of arguments in \"t_take7\" directive", 1},
        {"t_take7 1 2 3 4 5 6 7 8;", "invalid number of arguments in \"t_take7\" directive", 1},
        {"t_1more;", "invalid number of arguments in \"t_1more\" directive", 1},
        {"t_2more a;", "invalid number of arguments in \"t_2more\" directive", 1},
    };
    bw_test_fx_t *fx = *state;
    const char   *err;

    bw_test_error_cases(fx, bad, bw_nelems(bad));

    bw_test_seen[0] = '\0';
    bw_test_write(fx, "ok.conf",
                  "t_flag off; t_noargs; t_take13 a; t_take13 a b c; t_take7 1 2 3 4 5 6 7;\n"
                  "t_1more a; t_1more a b c d e f g h i j; t_2more a b; t_any; t_any 1 2;\n");
    fx->main_conf.flag = BW_CONF_UNSET;
    assert_int_equal(bw_test_parse(fx, "ok.conf", &err), BW_OK);
    assert_string_equal(err, "");
    assert_string_equal(bw_test_seen, "t_noargs t_take13|a t_take13|a|b|c t_take7|1|2|3|4|5|6|7 "
                                      "t_1more|a t_1more|a|b|c|d|e|f|g|h|i|j t_2more|a|b t_any "
                                      "t_any|1|2 ");
}

static void
test_conf_statement_endings_are_checked(void **state)
{
    static const bw_test_error_case_t cases[] = {
        {"t_block;\n", "directive \"t_block\" has no opening \"{\"", 1},
        /* the body of a statement refused at its '{' is skipped: t_num inside is not seen */
        {"t_num 1 {\n  t_num 2;\n  t_inner { x; }\n}\n",
         "directive \"t_num\" is not terminated by \";\"", 1},
    };
    bw_test_error_cases(*state, cases, bw_nelems(cases));
}

static void
test_conf_setter_fragment_and_duplicate_messages(void **state)
{
    static const bw_test_error_case_t cases[] = {
        {"t_frag x;", "\"t_frag\" directive is odd", 1},
        {"t_num 1;\n\nt_num 2;\n", "\"t_num\" directive is duplicate", 3},
        {"t_flag maybe;", "invalid value \"maybe\" in \"t_flag\" directive, it must be \"on\" or "
                          "\"off\"", 1},
        {"t_num x1;", "\"t_num\" directive invalid number", 1},
    };
    bw_test_error_cases(*state, cases, bw_nelems(cases));
}

static void
test_conf_silent_setter_error_still_fails_the_parse(void **state)
{
    bw_test_fx_t *fx = *state;
    const char   *err;

    bw_test_write(fx, "m.conf", "t_silent;\n");
    assert_int_equal(bw_test_parse(fx, "m.conf", &err), BW_ERROR);
    assert_string_equal(err, "");
    assert_int_equal(fx->cf.errors, 1);
}

static void
test_conf_warning_is_printed_but_not_an_error(void **state)
{
    bw_test_fx_t *fx = *state;
    const char   *err;
    char          want[512];

    bw_test_write(fx, "m.conf", "\nt_warn;\n");
    assert_int_equal(bw_test_parse(fx, "m.conf", &err), BW_OK);
    snprintf(want, sizeof(want), "bulwark: [warn] \"t_warn\" is deprecated in %s/m.conf:2\n",
             fx->dir);
    assert_string_equal(err, want);
    assert_int_equal(fx->cf.errors, 0);
}

static void
test_conf_errors_also_go_to_a_file_log(void **state)
{
    bw_test_fx_t  *fx = *state;
    const char    *err;
    FILE          *tmp = tmpfile();
    bw_open_file_t file = {fileno(tmp), bw_string("test.log"), NULL, NULL};
    bw_log_t       log = {.level = BW_LOG_ERR, .file = &file};
    char           buf[1024];

    fx->cf.log = &log;
    bw_test_write(fx, "m.conf", "nope;\n");
    assert_int_equal(bw_test_parse(fx, "m.conf", &err), BW_ERROR);
    assert_string_equal(err, bw_test_emerg(fx, "unknown directive \"nope\"", "m.conf", 1));
    rewind(tmp);
    size_t n = fread(buf, 1, sizeof(buf) - 1, tmp);
    buf[n] = '\0';
    fclose(tmp);
    assert_non_null(strstr(buf, " [emerg] "));
    char tail[512];
    snprintf(tail, sizeof(tail), "unknown directive \"nope\" in %s/m.conf:1\n", fx->dir);
    assert_true(n >= strlen(tail));
    assert_string_equal(buf + n - strlen(tail), tail);
}

/* ---- accumulation and recovery ---- */

static void
test_conf_errors_accumulate_and_bad_block_body_is_skipped(void **state)
{
    bw_test_fx_t *fx = *state;
    const char   *err;
    char          want[2048];

    bw_test_write(fx, "m.conf",
                  "t_num 1;\n"            /* 1 */
                  "lisen 80;\n"           /* 2 */
                  "t_failblock x {\n"     /* 3 */
                  "    t_inner a; t_any {\n"
                  "      \"q;}\" ;\n"
                  "    }\n"
                  "}\n"                   /* 7 */
                  "t_flag maybe;\n"       /* 8 */
                  "t_block {\n"           /* 9 */
                  "    t_num 2;\n"        /* 10: not allowed in the block */
                  "    t_inner ok;\n"
                  "}\n"
                  "t_any after;\n");
    assert_int_equal(bw_test_parse(fx, "m.conf", &err), BW_ERROR);
    snprintf(want, sizeof(want), "%s%s%s%s",
             bw_test_emerg(fx, "unknown directive \"lisen\"", "m.conf", 2),
             bw_test_emerg(fx, "\"t_failblock\" directive has a bad argument", "m.conf", 3),
             bw_test_emerg(fx, "invalid value \"maybe\" in \"t_flag\" directive, it must be "
                               "\"on\" or \"off\"", "m.conf", 8),
             bw_test_emerg(fx, "\"t_num\" directive is not allowed here", "m.conf", 10));
    assert_string_equal(err, want);
    assert_int_equal(fx->cf.errors, 4);
    assert_string_equal(bw_test_seen, "t_block { t_inner|ok } t_any|after ");
    assert_int_equal(fx->main_conf.num, 1);
}

static void
test_conf_lexical_error_stops_the_file(void **state)
{
    static const bw_test_error_case_t cases[] = {
        {"t_any a;\n}\nt_any b;\n", "unexpected \"}\"", 2},
        {"t_block {\n  t_inner \"x\"y;\n}\nt_any after;\n", "unexpected \"y\"", 2},
        {"t_block {\n  t_inner a;\n", "unexpected end of file, expecting \"}\"", 3},
        {"t_block {\n  t_block {\n", "unexpected end of file, expecting \"}\"", 3},
        {"t_any a", "unexpected end of file, expecting \";\" or \"}\"", 1},
        {"t_failblock x {\n  a;\n", "unexpected end of file, expecting \"}\"", 3},
    };
    bw_test_fx_t *fx = *state;

    bw_test_error_cases(fx, cases, bw_nelems(cases) - 1);
    assert_null(strstr(bw_test_seen, "after"));
    assert_null(strstr(bw_test_seen, "|b"));

    /* a failed block whose body then hits the end of the file: two messages */
    const char *err;
    char        want[1024];
    bw_test_write(fx, "e.conf", cases[5].text);
    assert_int_equal(bw_test_parse(fx, "e.conf", &err), BW_ERROR);
    snprintf(want, sizeof(want), "%s%s",
             bw_test_emerg(fx, "\"t_failblock\" directive has a bad argument", "e.conf", 1),
             bw_test_emerg(fx, cases[5].message, "e.conf", cases[5].line));
    assert_string_equal(err, want);
}

/* ---- handler blocks ---- */

static void
test_conf_handler_block_gets_every_statement(void **state)
{
    bw_test_fx_t *fx = *state;
    const char   *err;
    char          want[1024];

    bw_test_write(fx, "m.conf",
                  "t_types {\n"
                  "    text/html html htm;\n"
                  "    include x;\n"
                  "    bad line;\n"
                  "    a {\n"
                  "      b;\n"
                  "    }\n"
                  "    image/png png;\n"
                  "}\n"
                  "t_any after;\n");
    assert_int_equal(bw_test_parse(fx, "m.conf", &err), BW_ERROR);
    snprintf(want, sizeof(want), "%s%s", bw_test_emerg(fx, "invalid type line", "m.conf", 4),
             bw_test_emerg(fx, "unexpected \"{\"", "m.conf", 5));
    assert_string_equal(err, want);
    assert_string_equal(bw_test_seen, "type:text/html|html|htm type:include|x type:bad|line "
                                      "type:image/png|png t_any|after ");
}

/* ---- include ---- */

static void
test_conf_include_relative_file_in_current_context(void **state)
{
    bw_test_fx_t *fx = *state;
    const char   *err;

    bw_test_write(fx, "m.conf", "t_any 1;\nt_block {\n  include inner.conf;\n}\nt_any 3;\n");
    bw_test_write(fx, "inner.conf", "t_inner 2;\n");
    assert_int_equal(bw_test_parse(fx, "m.conf", &err), BW_OK);
    assert_string_equal(err, "");
    assert_string_equal(bw_test_seen, "t_any|1 t_block { t_inner|2 } t_any|3 ");
}

static void
test_conf_include_glob_sorted_empty_and_nested(void **state)
{
    bw_test_fx_t *fx = *state;
    const char   *err;

    bw_test_mkdir(fx, "d");
    bw_test_mkdir(fx, "empty");
    bw_test_write(fx, "m.conf", "include empty/*.conf;\ninclude d/*.conf;\nt_any end;\n");
    bw_test_write(fx, "d/b.conf", "t_any b;\n");
    bw_test_write(fx, "d/a.conf", "t_any a;\ninclude d/nested/*.conf;\n");
    bw_test_write(fx, "d/c.conf", "t_any c;\n");
    bw_test_write(fx, "d/c.txt", "t_any not_included;\n");
    bw_test_mkdir(fx, "d/nested");
    bw_test_write(fx, "d/nested/n.conf", "t_any n;\n");
    assert_int_equal(bw_test_parse(fx, "m.conf", &err), BW_OK);
    assert_string_equal(err, "");
    assert_string_equal(bw_test_seen, "t_any|a t_any|n t_any|b t_any|c t_any|end ");
}

static void
test_conf_include_single_glob_match_and_absolute_path(void **state)
{
    bw_test_fx_t *fx = *state;
    const char   *err;
    char          text[256];

    snprintf(text, sizeof(text), "include %s/on?.conf;\ninclude \"%s/two.conf\";\n", fx->dir,
             fx->dir);
    bw_test_write(fx, "m.conf", text);
    bw_test_write(fx, "one.conf", "t_any one;\n");
    bw_test_write(fx, "two.conf", "t_any two;\n");
    assert_int_equal(bw_test_parse(fx, "m.conf", &err), BW_OK);
    assert_string_equal(err, "");
    assert_string_equal(bw_test_seen, "t_any|one t_any|two ");
}

static void
test_conf_include_missing_file_message(void **state)
{
    bw_test_fx_t *fx = *state;
    const char   *err;
    char          msg[512], want[1024];

    bw_test_write(fx, "m.conf", "t_any a;\n\ninclude nope.conf;\nt_any b;\n");
    assert_int_equal(bw_test_parse(fx, "m.conf", &err), BW_ERROR);
    snprintf(msg, sizeof(msg), "open() \"%s/nope.conf\" failed (2: No such file or directory)",
             fx->dir);
    snprintf(want, sizeof(want), "%s", bw_test_emerg(fx, msg, "m.conf", 3));
    assert_string_equal(err, want);
    assert_string_equal(bw_test_seen, "t_any|a t_any|b "); /* parsing went on */
}

static void
test_conf_include_errors_name_the_included_file(void **state)
{
    bw_test_fx_t *fx = *state;
    const char   *err;
    char          want[2048];

    bw_test_write(fx, "m.conf", "include i.conf;\nbad1;\ninclude j.conf;\nt_any end;\n");
    bw_test_write(fx, "i.conf", "t_any i;\n\nbad2;\n");
    bw_test_write(fx, "j.conf", "t_any j;\n}\nt_any not_read;\n"); /* stops j.conf only */
    assert_int_equal(bw_test_parse(fx, "m.conf", &err), BW_ERROR);
    snprintf(want, sizeof(want), "%s%s%s",
             bw_test_emerg(fx, "unknown directive \"bad2\"", "i.conf", 3),
             bw_test_emerg(fx, "unknown directive \"bad1\"", "m.conf", 2),
             bw_test_emerg(fx, "unexpected \"}\"", "j.conf", 2));
    assert_string_equal(err, want);
    assert_string_equal(bw_test_seen, "t_any|i t_any|j t_any|end ");
    assert_int_equal(fx->cf.errors, 3);
}

static void
test_conf_include_argument_count_and_directory(void **state)
{
    bw_test_fx_t *fx = *state;
    const char   *err;
    char          msg[512], want[1024];

    bw_test_mkdir(fx, "sub");
    bw_test_write(fx, "m.conf", "include;\ninclude sub;\n");
    assert_int_equal(bw_test_parse(fx, "m.conf", &err), BW_ERROR);
    snprintf(msg, sizeof(msg), "pread() \"%s/sub\" failed (21: Is a directory)\n", fx->dir);
    snprintf(want, sizeof(want), "%sbulwark: [crit] %s",
             bw_test_emerg(fx, "invalid number of arguments in \"include\" directive", "m.conf", 1),
             msg);
    assert_string_equal(err, want);
    assert_int_equal(fx->cf.errors, 2);
}

static void
test_conf_include_loop_is_stopped(void **state)
{
    bw_test_fx_t *fx = *state;
    const char   *err;

    bw_test_write(fx, "m.conf", "include m.conf;\n");
    assert_int_equal(bw_test_parse(fx, "m.conf", &err), BW_ERROR);
    assert_non_null(strstr(err, "too deep nesting of included files"));
    assert_int_equal(fx->cf.errors, 1);
    assert_int_equal(strchr(err, '\n') - err + 1, (long) strlen(err)); /* one line */
}

static void
test_conf_main_file_missing_has_no_location(void **state)
{
    bw_test_fx_t *fx = *state;
    const char   *err;
    char          want[512];

    assert_int_equal(bw_test_parse(fx, "absent.conf", &err), BW_ERROR);
    snprintf(want, sizeof(want),
             "bulwark: [emerg] open() \"%s/absent.conf\" failed (2: No such file or directory)\n",
             fx->dir);
    assert_string_equal(err, want);
}

/* ---- -T dump ---- */

static void
test_conf_dump_keeps_each_file_once_as_written(void **state)
{
    bw_test_fx_t *fx = *state;
    const char   *err;
    const char   *main_text = "t_any \"a b\";\ninclude i.conf;\ninclude i*.conf;\n";
    char          name[256];

    fx->cf.dump = true;
    bw_test_write(fx, "m.conf", main_text);
    bw_test_write(fx, "i.conf", "t_any i; # no newline at end");
    assert_int_equal(bw_test_parse(fx, "m.conf", &err), BW_OK);
    assert_string_equal(bw_test_seen, "t_any|a b t_any|i t_any|i ");
    assert_non_null(fx->cf.dumped);
    assert_int_equal(fx->cf.dumped->nelts, 2);

    bw_conf_file_t *f = fx->cf.dumped->elts;
    snprintf(name, sizeof(name), "%s/m.conf", fx->dir);
    assert_string_equal((char *) f[0].name.data, name);
    assert_int_equal(f[0].end - f[0].start, strlen(main_text));
    assert_memory_equal(f[0].start, main_text, strlen(main_text));
    snprintf(name, sizeof(name), "%s/i.conf", fx->dir);
    assert_string_equal((char *) f[1].name.data, name);
    assert_memory_equal(f[1].start, "t_any i; # no newline at end", f[1].end - f[1].start);
}

static void
test_conf_no_dump_without_flag(void **state)
{
    bw_test_fx_t *fx = *state;
    const char   *err;

    bw_test_write(fx, "m.conf", "t_any;\n");
    assert_int_equal(bw_test_parse(fx, "m.conf", &err), BW_OK);
    assert_null(fx->cf.dumped);
}

/* ---- -g ---- */

static bw_rc_t
bw_test_parse_string(bw_test_fx_t *fx, const char *text, const char **err)
{
    bw_str_t s = {strlen(text), (u_char *) text};

    bw_test_stderr_begin();
    bw_rc_t rc = bw_conf_parse_string(&fx->cf, &s);
    *err = bw_test_stderr_end();
    return rc;
}

static void
test_conf_command_line_text(void **state)
{
    bw_test_fx_t *fx = *state;
    const char   *err;
    char          text[] = "t_any a; t_flag on;";

    assert_int_equal(bw_test_parse_string(fx, text, &err), BW_OK);
    assert_string_equal(err, "");
    assert_string_equal(bw_test_seen, "t_any|a ");
    assert_int_equal(fx->main_conf.flag, 1);
    assert_string_equal(text, "t_any a; t_flag on;"); /* the caller's text is left alone */

    assert_int_equal(bw_test_parse_string(fx, "t_any b; t_num 1", &err), BW_ERROR);
    assert_string_equal(err, "bulwark: [emerg] unexpected end of parameter, expecting \";\" in "
                             "command line\n");
    assert_int_equal(bw_test_parse_string(fx, "x;", &err), BW_ERROR);
    assert_string_equal(err, "bulwark: [emerg] unknown directive \"x\" in command line\n");
    assert_int_equal(bw_test_parse_string(fx, "t_block { t_inner 1; } t_any c;", &err), BW_ERROR);
    assert_string_equal(err, "bulwark: [emerg] block directives are not supported in -g option in "
                             "command line\n");
    assert_string_equal(bw_test_seen, "t_any|a t_any|b t_any|c ");
    assert_int_equal(bw_test_parse_string(fx, "t_any d; }", &err), BW_ERROR);
    assert_string_equal(err, "bulwark: [emerg] unexpected \"}\" in command line\n");
}

/* ---- helpers ---- */

static void
test_conf_full_name_against_prefixes(void **state)
{
    bw_test_fx_t *fx = *state;
    bw_str_t      n;
    char          want[256];

    bw_str_set(&n, "x.conf");
    assert_int_equal(bw_conf_full_name(&fx->cycle, &n, true), BW_OK);
    snprintf(want, sizeof(want), "%s/x.conf", fx->dir);
    assert_string_equal((char *) n.data, want);
    assert_int_equal(n.len, strlen(want));

    bw_str_set(&n, "logs/error.log");
    assert_int_equal(bw_conf_full_name(&fx->cycle, &n, false), BW_OK);
    assert_string_equal((char *) n.data, "/prefix/logs/error.log");

    u_char abs[] = "/etc/x.confTRAILING";
    n.data = abs;
    n.len = strlen("/etc/x.conf");
    assert_int_equal(bw_conf_full_name(&fx->cycle, &n, true), BW_OK);
    assert_string_equal((char *) n.data, "/etc/x.conf"); /* NUL-terminated copy */

    bw_str_set(&fx->cycle.prefix, "/noslash");
    bw_str_set(&n, "a");
    assert_int_equal(bw_conf_full_name(&fx->cycle, &n, false), BW_OK);
    assert_string_equal((char *) n.data, "/noslash/a");
}

static void
test_conf_nginx_directive_list_is_sorted_and_searchable(void **state)
{
    static const char *const yes[] = {"proxy_pass", "absolute_redirect", "zone", "xslt_types",
                                      "js_content", "brotli", "more_set_headers", "listen",
                                      "stream", "mail", "http3", "quic_retry", "echo"};
    static const char *const no[] = {"lisen", "", "proxy_pas", "proxy_passx", "Proxy_pass",
                                     "aaa", "zzzz"};

    assert_true(bw_conf_nginx_directives_n > 500);
    for (size_t i = 1; i < bw_conf_nginx_directives_n; i++) {
        if (strcmp(bw_conf_nginx_directives[i - 1], bw_conf_nginx_directives[i]) >= 0) {
            print_error("not sorted at %s, %s\n", bw_conf_nginx_directives[i - 1],
                        bw_conf_nginx_directives[i]);
            fail();
        }
    }
    for (size_t i = 0; i < bw_nelems(yes); i++) {
        bw_str_t s = {strlen(yes[i]), (u_char *) yes[i]};
        assert_true(bw_conf_is_nginx_directive(&s));
    }
    for (size_t i = 0; i < bw_nelems(no); i++) {
        bw_str_t s = {strlen(no[i]), (u_char *) no[i]};
        assert_false(bw_conf_is_nginx_directive(&s));
    }
    for (size_t i = 0; i < bw_conf_nginx_directives_n; i++) {
        bw_str_t s = {strlen(bw_conf_nginx_directives[i]), (u_char *) bw_conf_nginx_directives[i]};
        assert_true(bw_conf_is_nginx_directive(&s));
    }
}

#define BW_TEST(f) cmocka_unit_test_setup_teardown(f, bw_test_setup, bw_test_teardown)

int
main(void)
{
    const struct CMUnitTest tests[] = {
        BW_TEST(test_conf_setter_sees_every_argument),
        BW_TEST(test_conf_stock_setters_write_the_main_conf),
        BW_TEST(test_conf_nested_blocks_change_context),
        BW_TEST(test_conf_directive_name_taken_by_next_module_when_context_differs),
        BW_TEST(test_conf_setter_receives_conf_of_its_level),
        BW_TEST(test_conf_unknown_unsupported_and_misplaced_directives),
        BW_TEST(test_conf_argument_counts_follow_nginx_rules),
        BW_TEST(test_conf_statement_endings_are_checked),
        BW_TEST(test_conf_setter_fragment_and_duplicate_messages),
        BW_TEST(test_conf_silent_setter_error_still_fails_the_parse),
        BW_TEST(test_conf_warning_is_printed_but_not_an_error),
        BW_TEST(test_conf_errors_also_go_to_a_file_log),
        BW_TEST(test_conf_errors_accumulate_and_bad_block_body_is_skipped),
        BW_TEST(test_conf_lexical_error_stops_the_file),
        BW_TEST(test_conf_handler_block_gets_every_statement),
        BW_TEST(test_conf_include_relative_file_in_current_context),
        BW_TEST(test_conf_include_glob_sorted_empty_and_nested),
        BW_TEST(test_conf_include_single_glob_match_and_absolute_path),
        BW_TEST(test_conf_include_missing_file_message),
        BW_TEST(test_conf_include_errors_name_the_included_file),
        BW_TEST(test_conf_include_argument_count_and_directory),
        BW_TEST(test_conf_include_loop_is_stopped),
        BW_TEST(test_conf_main_file_missing_has_no_location),
        BW_TEST(test_conf_dump_keeps_each_file_once_as_written),
        BW_TEST(test_conf_no_dump_without_flag),
        BW_TEST(test_conf_command_line_text),
        BW_TEST(test_conf_full_name_against_prefixes),
        BW_TEST(test_conf_nginx_directive_list_is_sorted_and_searchable),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
