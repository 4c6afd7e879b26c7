/*
 * conf_lexer.c -- the configuration tokenizer: bytes of one file in memory
 * to statements of words (grammar in conf_lexer.h).
 *
 * One forward pass, byte by byte. The states mirror the grammar: between
 * words, inside a plain word, inside quotes, right after a closing quote
 * (a separator must follow), after a backslash, inside a comment.
 */
#include "conf_lexer.h"

#include "pool.h"

/* Where the scan stands; reset for every statement. */
typedef struct {
    u_char *start;      /* first byte of the current word */
    bool    in_word;    /* a word (or a quoted string) has started */
    bool    escaped;    /* the previous byte was a backslash */
    bool    has_escape; /* the current word holds a backslash: copy it */
    bool    comment;    /* skipping to the end of the line */
    bool    dollar;     /* the previous byte was '$': '{' stays in the word */
    bool    need_space; /* a quoted string just closed */
    u_char  quote;      /* '"' or '\'' while inside quotes */
} bw_conf_lex_state_t;

static bool
bw_conf_lex_is_space(u_char ch)
{
    return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n';
}

static bw_conf_lex_t
bw_conf_lex_fail(bw_conf_t *cf)
{
    cf->file->failed = true;
    return BW_CONF_LEX_ERROR;
}

/* Copies [src, end) into dst resolving escapes; returns the copy's length. */
static size_t
bw_conf_lex_unescape(u_char *dst, const u_char *src, const u_char *end)
{
    u_char *d = dst;

    while (src < end) {
        if (*src == '\\' && src + 1 < end) {
            switch (src[1]) {
            case '"':
            case '\'':
            case '\\':
                *d++ = src[1];
                src += 2;
                continue;
            case 't':
                *d++ = '\t';
                src += 2;
                continue;
            case 'r':
                *d++ = '\r';
                src += 2;
                continue;
            case 'n':
                *d++ = '\n';
                src += 2;
                continue;
            default:
                break; /* "\x" stays as two bytes */
            }
        }
        *d++ = *src++;
    }
    return (size_t) (d - dst);
}

/*
 * Ends the current word at `end` (the byte just read, which terminated it)
 * and appends it to cf->args.
 */
static bool
bw_conf_lex_word_add(bw_conf_t *cf, bw_conf_lex_state_t *st, u_char *end)
{
    bw_str_t *w = bw_array_push(cf->args);
    if (w == NULL) {
        return false;
    }
    if (!st->has_escape) {
        w->data = st->start;
        w->len = (size_t) (end - st->start);
        *end = '\0';
        return true;
    }
    w->data = bw_pnalloc(cf->pool, (size_t) (end - st->start) + 1);
    if (w->data == NULL) {
        return false;
    }
    w->len = bw_conf_lex_unescape(w->data, st->start, end);
    w->data[w->len] = '\0';
    return true;
}

static bw_conf_lex_t
bw_conf_lex_eof(bw_conf_t *cf, const bw_conf_lex_state_t *st)
{
    if (cf->args->nelts == 0 && !st->in_word) {
        return BW_CONF_LEX_EOF;
    }
    if (cf->file->command_line) {
        bw_conf_error(cf, "unexpected end of parameter, expecting \";\"");
    } else {
        bw_conf_error(cf, "unexpected end of file, expecting \";\" or \"}\"");
    }
    return bw_conf_lex_fail(cf);
}

/*
 * A byte between words: separators, statement ends, a comment, or the first
 * byte of a word. Returns -1 to go on, else the statement's end.
 */
static int
bw_conf_lex_between(bw_conf_t *cf, bw_conf_lex_state_t *st, u_char ch)
{
    if (bw_conf_lex_is_space(ch)) {
        return -1;
    }
    switch (ch) {
    case ';':
    case '{':
        if (cf->args->nelts == 0) {
            bw_conf_error(cf, "unexpected \"%c\"", ch);
            return bw_conf_lex_fail(cf);
        }
        return ch == ';' ? BW_CONF_LEX_STMT : BW_CONF_LEX_BLOCK;
    case '}':
        if (cf->args->nelts != 0) {
            bw_conf_error(cf, "unexpected \"}\"");
            return bw_conf_lex_fail(cf);
        }
        return BW_CONF_LEX_BLOCK_END;
    case '#':
        st->comment = true;
        return -1;
    default:
        break;
    }

    st->in_word = true;
    st->has_escape = false;
    st->start = cf->file->pos - 1;
    if (ch == '\\') {
        st->escaped = true;
        st->has_escape = true;
    } else if (ch == '"' || ch == '\'') {
        st->quote = ch;
        st->start++;
    } else if (ch == '$') {
        st->dollar = true;
    }
    return -1;
}

/* A byte inside a word or quotes. Returns -1 to go on, else the statement's end. */
static int
bw_conf_lex_inside(bw_conf_t *cf, bw_conf_lex_state_t *st, u_char ch)
{
    if (ch == '{' && st->dollar) {
        return -1;
    }
    st->dollar = false;
    if (ch == '\\') {
        st->escaped = true;
        st->has_escape = true;
        return -1;
    }
    if (ch == '$') {
        st->dollar = true;
        return -1;
    }

    if (st->quote) {
        if (ch != st->quote) {
            return -1;
        }
        st->quote = 0;
        st->need_space = true;
    } else if (!bw_conf_lex_is_space(ch) && ch != ';' && ch != '{') {
        return -1;
    } else {
        st->in_word = false;
    }

    if (!bw_conf_lex_word_add(cf, st, cf->file->pos - 1)) {
        bw_conf_error(cf, "not enough memory to read the configuration");
        return bw_conf_lex_fail(cf);
    }
    if (ch == ';') {
        return BW_CONF_LEX_STMT;
    }
    return ch == '{' ? BW_CONF_LEX_BLOCK : -1;
}

/*
 * The byte after a closing quote: a separator, ';', '{', or ')' which
 * starts the next word. Returns -1 to go on, -2 when `ch` must be read again
 * as the first byte of a word, else the statement's end.
 */
static int
bw_conf_lex_after_quote(bw_conf_t *cf, bw_conf_lex_state_t *st, u_char ch)
{
    st->need_space = false;
    st->in_word = false;
    if (bw_conf_lex_is_space(ch)) {
        return -1;
    }
    if (ch == ';') {
        return BW_CONF_LEX_STMT;
    }
    if (ch == '{') {
        return BW_CONF_LEX_BLOCK;
    }
    if (ch == ')') {
        return -2;
    }
    bw_conf_error(cf, "unexpected \"%c\"", ch);
    return bw_conf_lex_fail(cf);
}

bw_conf_lex_t
bw_conf_lexer_next(bw_conf_t *cf)
{
    bw_conf_file_t     *f = cf->file;
    bw_conf_lex_state_t st = {0};
    int                 rc;

    cf->args->nelts = 0;
    if (f->failed) {
        return BW_CONF_LEX_ERROR;
    }

    while (f->pos < f->end) {
        u_char ch = *f->pos++;

        if (ch == '\n') {
            f->line++;
            st.comment = false;
        }
        if (st.comment) {
            continue;
        }
        if (st.escaped) {
            st.escaped = false;
            continue;
        }
        if (st.need_space) {
            rc = bw_conf_lex_after_quote(cf, &st, ch);
            if (rc == -1) {
                continue;
            }
            if (rc != -2) {
                return (bw_conf_lex_t) rc;
            }
        }
        rc = st.in_word ? bw_conf_lex_inside(cf, &st, ch) : bw_conf_lex_between(cf, &st, ch);
        if (rc != -1) {
            return (bw_conf_lex_t) rc;
        }
    }
    return bw_conf_lex_eof(cf, &st);
}
