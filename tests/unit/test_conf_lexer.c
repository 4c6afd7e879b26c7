/*
 * test_conf_lexer.c -- the configuration tokenizer on memory buffers: every
 * grammar rule and every lexical error message with its line number.
 *
 * Each case renders the statements the lexer returns as text:
 *   [w1][w2];   a statement ended by ';'
 *   [w1]{       a statement ended by '{'
 *   }           a closing brace
 *   EOF / ERR   end of input / a reported error
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "conf.h"
#include "conf_lexer.h"
#include "pool.h"
#include "support.h"

/* ---- lexing a buffer ---- */

typedef struct {
    bw_pool_t     *pool;
    bw_conf_t      cf;
    bw_conf_file_t file;
    char          *text; /* writable copy: the lexer NUL-terminates words in place */
} bw_test_lex_t;

static void
bw_test_lex_init(bw_test_lex_t *t, const char *text, size_t len, bool command_line)
{
    memset(t, 0, sizeof(*t));
    t->pool = bw_pool_create(4096, NULL);
    assert_non_null(t->pool);
    t->text = bw_pnalloc(t->pool, len + 1);
    memcpy(t->text, text, len);
    t->text[len] = '\0';
    t->file.name.data = (u_char *) (command_line ? "command line" : "t.conf");
    t->file.name.len = strlen((char *) t->file.name.data);
    t->file.start = t->file.pos = (u_char *) t->text;
    t->file.end = (u_char *) t->text + len;
    t->file.line = 1;
    t->file.command_line = command_line;
    t->cf.pool = t->pool;
    t->cf.file = &t->file;
    t->cf.args = bw_array_create(t->pool, 8, sizeof(bw_str_t));
    assert_non_null(t->cf.args);
}

/* Appends the rendering of one lexer result to out. */
static void
bw_test_lex_render(bw_test_lex_t *t, bw_conf_lex_t rc, char *out, size_t room)
{
    size_t n = strlen(out);

    for (size_t i = 0; i < t->cf.args->nelts; i++) {
        bw_str_t *w = &bw_array_at(t->cf.args, bw_str_t, i);
        assert_int_equal(w->data[w->len], '\0'); /* every word NUL-terminated */
        n += snprintf(out + n, room - n, "[%.*s]", BW_STR_ARG(*w));
    }
    const char *end = rc == BW_CONF_LEX_STMT        ? ";"
                      : rc == BW_CONF_LEX_BLOCK     ? "{"
                      : rc == BW_CONF_LEX_BLOCK_END ? "}"
                      : rc == BW_CONF_LEX_EOF       ? "EOF"
                                                    : "ERR";
    snprintf(out + n, room - n, "%s", end);
}

/* Lexes all of `text`; returns the rendering and (via err) the messages. */
static const char *
bw_test_lex_run(const char *text, bool command_line, const char **err, bw_uint_t *lines)
{
    static char   out[4096];
    bw_test_lex_t t;

    bw_test_lex_init(&t, text, strlen(text), command_line);
    out[0] = '\0';
    bw_test_stderr_begin();
    for (int i = 0; i < 100; i++) {
        bw_conf_lex_t rc = bw_conf_lexer_next(&t.cf);
        if (out[0]) {
            strcat(out, " ");
        }
        bw_test_lex_render(&t, rc, out, sizeof(out));
        if (rc == BW_CONF_LEX_EOF || rc == BW_CONF_LEX_ERROR) {
            break;
        }
    }
    const char *e = bw_test_stderr_end();
    if (err) {
        *err = e;
    }
    if (lines) {
        *lines = t.file.line;
    }
    bw_pool_destroy(t.pool);
    return out;
}

/* ---- grammar ---- */

typedef struct {
    const char *text;
    const char *tokens;
} bw_test_lex_case_t;

static void
bw_test_lex_cases(const bw_test_lex_case_t *cases, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const char *err;
        const char *got = bw_test_lex_run(cases[i].text, false, &err, NULL);
        if (strcmp(got, cases[i].tokens) != 0 || err[0] != '\0') {
            print_error("input: %s\nwant: %s\ngot:  %s\nstderr: %s\n", cases[i].text,
                        cases[i].tokens, got, err);
            fail();
        }
    }
}

static void
test_lexer_words_statements_and_blocks(void **state)
{
    static const bw_test_lex_case_t cases[] = {
        {"", "EOF"},
        {"  \t\r\n\n", "EOF"},
        {"a;", "[a]; EOF"},
        {"a b  c\t d;", "[a][b][c][d]; EOF"},
        {"a\nb\r\nc;", "[a][b][c]; EOF"},
        {"a ;", "[a]; EOF"},
        {"a;b;", "[a]; [b]; EOF"},
        {"http {\n}\n", "[http]{ } EOF"},
        {"http{}", "[http]{ } EOF"},
        {"a { b { c; } }", "[a]{ [b]{ [c]; } } EOF"},
        {"location ~ \\.php$ { }", "[location][~][\\.php$]{ } EOF"},
        {"a}b c;", "[a}b][c]; EOF"}, /* '}' inside a word is a byte of it */
        {"a)b;", "[a)b]; EOF"},
    };
    bw_test_lex_cases(cases, bw_nelems(cases));
}

static void
test_lexer_comments(void **state)
{
    static const bw_test_lex_case_t cases[] = {
        {"# only a comment", "EOF"},
        {"# c {\na;", "[a]; EOF"},
        {"a; # trailing ; { }\nb;", "[a]; [b]; EOF"},
        {"a #mid\n b;", "[a][b]; EOF"},
        {"a#b c;", "[a#b][c]; EOF"}, /* '#' inside a word is not a comment */
        {"a \"#x\";", "[a][#x]; EOF"},
    };
    bw_test_lex_cases(cases, bw_nelems(cases));
}

static void
test_lexer_quotes(void **state)
{
    static const bw_test_lex_case_t cases[] = {
        {"a \"b c\";", "[a][b c]; EOF"},
        {"a 'b c';", "[a][b c]; EOF"},
        {"a \"\";", "[a][]; EOF"},
        {"a '' \"\";", "[a][][]; EOF"},
        {"a \"x;{}#'y\";", "[a][x;{}#'y]; EOF"},
        {"a 'x\"y';", "[a][x\"y]; EOF"},
        {"a \"b\";", "[a][b]; EOF"},
        {"a \"b\"{}", "[a][b]{ } EOF"},
        {"a \"multi\nline\";", "[a][multi\nline]; EOF"},
        {"if ($a = \"b\") {}", "[if][($a][=][b][)]{ } EOF"},
        {"a \"b\")c;", "[a][b][)c]; EOF"},
        {"a\"b\" c;", "[a\"b\"][c]; EOF"}, /* quotes only open at a word's start */
        {"a b'c';", "[a][b'c']; EOF"},
    };
    bw_test_lex_cases(cases, bw_nelems(cases));
}

static void
test_lexer_escapes(void **state)
{
    static const bw_test_lex_case_t cases[] = {
        {"a \"x\\\"y\";", "[a][x\"y]; EOF"},
        {"a 'x\\'y';", "[a][x'y]; EOF"},
        {"a x\\\\y;", "[a][x\\y]; EOF"},
        {"a x\\ty\\rz\\n;", "[a][x\ty\rz\n]; EOF"},
        {"a \\d+\\.\\w;", "[a][\\d+\\.\\w]; EOF"}, /* other escapes stay as two bytes */
        {"a x\\ y;", "[a][x\\ y]; EOF"},           /* an escaped space joins the word */
        {"a x\\;y;", "[a][x\\;y]; EOF"},
        {"a \\\"b;", "[a][\"b]; EOF"},
        {"a \"\\\\\";", "[a][\\]; EOF"},
        {"a x\\\ny;", "[a][x\\\ny]; EOF"},
    };
    bw_test_lex_cases(cases, bw_nelems(cases));
}

static void
test_lexer_variables(void **state)
{
    static const bw_test_lex_case_t cases[] = {
        {"set $a $b;", "[set][$a][$b]; EOF"},
        {"set $a ${b}c;", "[set][$a][${b}c]; EOF"},
        {"return 200 x${a}y${b};", "[return][200][x${a}y${b}]; EOF"},
        {"a \"${x}\";", "[a][${x}]; EOF"},
        {"a $x{ }", "[a][$x]{ } EOF"}, /* '{' after a name, not after '$', opens a block */
        {"a ${x y};", "[a][${x][y}]; EOF"},
        {"a $${{x}};", "[a][$${{x}}]; EOF"},
    };
    bw_test_lex_cases(cases, bw_nelems(cases));
}

static void
test_lexer_counts_lines(void **state)
{
    bw_uint_t lines;

    bw_test_lex_run("a;\nb;\n\nc;\n", false, NULL, &lines);
    assert_int_equal(lines, 5);
    bw_test_lex_run("a \"x\ny\" # c\n\\\n;", false, NULL, &lines);
    assert_int_equal(lines, 4);
}

static void
test_lexer_words_point_into_buffer_unless_escaped(void **state)
{
    bw_test_lex_t t;
    const char   *text = "ab \"c d\" e\\tf;";

    bw_test_lex_init(&t, text, strlen(text), false);
    assert_int_equal(bw_conf_lexer_next(&t.cf), BW_CONF_LEX_STMT);
    assert_int_equal(t.cf.args->nelts, 3);
    bw_str_t *w = t.cf.args->elts;
    assert_ptr_equal(w[0].data, (u_char *) t.text);
    assert_ptr_equal(w[1].data, (u_char *) t.text + 4);
    assert_true(w[2].data < (u_char *) t.text || w[2].data > (u_char *) t.text + strlen(text));
    assert_string_equal((char *) w[2].data, "e\tf");
    bw_pool_destroy(t.pool);
}

/* ---- errors ---- */

typedef struct {
    const char *text;
    const char *message; /* without the "bulwark: [emerg] " prefix and newline */
} bw_test_lex_error_t;

static void
test_lexer_error_messages_with_lines(void **state)
{
    static const bw_test_lex_error_t cases[] = {
        {"a 1", "unexpected end of file, expecting \";\" or \"}\" in t.conf:1"},
        {"a\n1\n", "unexpected end of file, expecting \";\" or \"}\" in t.conf:3"},
        {"a \"1", "unexpected end of file, expecting \";\" or \"}\" in t.conf:1"},
        {"a '1\n\n", "unexpected end of file, expecting \";\" or \"}\" in t.conf:3"},
        {"a \"1\"", "unexpected end of file, expecting \";\" or \"}\" in t.conf:1"},
        {"a 1\\", "unexpected end of file, expecting \";\" or \"}\" in t.conf:1"},
        {"a; # x\nb", "unexpected end of file, expecting \";\" or \"}\" in t.conf:2"},
        {"a \"1\"x;", "unexpected \"x\" in t.conf:1"},
        {"a\n'1'#;", "unexpected \"#\" in t.conf:2"},
        {"a \"1\"};", "unexpected \"}\" in t.conf:1"},
        {"a 1 }", "unexpected \"}\" in t.conf:1"},
        {"a;\n\n{", "unexpected \"{\" in t.conf:3"},
        {"{}", "unexpected \"{\" in t.conf:1"},
        {";", "unexpected \";\" in t.conf:1"},
        {"a;;", "unexpected \";\" in t.conf:1"},
        {"a {\n ; }", "unexpected \";\" in t.conf:2"},
    };

    for (size_t i = 0; i < bw_nelems(cases); i++) {
        const char *err;
        char        want[512];
        const char *got = bw_test_lex_run(cases[i].text, false, &err, NULL);
        snprintf(want, sizeof(want), "bulwark: [emerg] %s\n", cases[i].message);
        if (strcmp(err, want) != 0 || strstr(got, "ERR") == NULL) {
            print_error("input: %s\nwant: %sgot:  %stokens: %s\n", cases[i].text, want, err, got);
            fail();
        }
    }
}

static void
test_lexer_command_line_end_of_parameter(void **state)
{
    const char *err;

    bw_test_lex_run("pid /x; daemon off", true, &err, NULL);
    assert_string_equal(err, "bulwark: [emerg] unexpected end of parameter, expecting \";\" in "
                             "command line\n");
    bw_test_lex_run("pid \"/x", true, &err, NULL);
    assert_string_equal(err, "bulwark: [emerg] unexpected end of parameter, expecting \";\" in "
                             "command line\n");
    assert_string_equal(bw_test_lex_run("a b; c;", true, &err, NULL), "[a][b]; [c]; EOF");
    assert_string_equal(err, "");
}

static void
test_lexer_error_stops_the_file(void **state)
{
    bw_test_lex_t t;
    const char   *text = "a \"b\"c; d;";

    bw_test_lex_init(&t, text, strlen(text), false);
    bw_test_stderr_begin();
    assert_int_equal(bw_conf_lexer_next(&t.cf), BW_CONF_LEX_ERROR);
    assert_true(t.file.failed);
    assert_int_equal(bw_conf_lexer_next(&t.cf), BW_CONF_LEX_ERROR);
    bw_test_stderr_end();
    bw_pool_destroy(t.pool);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lexer_words_statements_and_blocks),
        cmocka_unit_test(test_lexer_comments),
        cmocka_unit_test(test_lexer_quotes),
        cmocka_unit_test(test_lexer_escapes),
        cmocka_unit_test(test_lexer_variables),
        cmocka_unit_test(test_lexer_counts_lines),
        cmocka_unit_test(test_lexer_words_point_into_buffer_unless_escaped),
        cmocka_unit_test(test_lexer_error_messages_with_lines),
        cmocka_unit_test(test_lexer_command_line_end_of_parameter),
        cmocka_unit_test(test_lexer_error_stops_the_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
