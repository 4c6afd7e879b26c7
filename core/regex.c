/*
 * regex.c -- PCRE2 compilation with JIT, named-capture tables, and matching
 * with one per-process match-data block.
 *
 * Messages follow nginx's ("pcre2_compile() failed: ... in "..." at "..."")
 * so that configuration errors read the same.
 */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "regex.h"

#include "conf.h"
#include "pool.h"

#include <pcre2.h>
#include <stdio.h>

/* This process's match data; workers each get their own after fork. */
static pcre2_match_data *bw_regex_md;
static uint32_t          bw_regex_md_pairs;

static void
bw_regex_code_cleanup(void *data)
{
    pcre2_code_free(data);
}

/* Formats nginx's compile error into pool memory. */
static void
bw_regex_error_set(bw_pool_t *pool, const bw_str_t *pattern, int code, size_t offset,
                   bw_str_t *err)
{
    PCRE2_UCHAR reason[256];
    bw_str_t   *msg;

    if (pcre2_get_error_message(code, reason, sizeof(reason)) < 0) {
        snprintf((char *) reason, sizeof(reason), "error %d", code);
    }
    if (offset < pattern->len) {
        msg = bw_psprintf(pool, "pcre2_compile() failed: %s in \"%.*s\" at \"%.*s\"",
                          (char *) reason, BW_STR_ARG(*pattern),
                          (int) (pattern->len - offset), (char *) pattern->data + offset);
    } else {
        msg = bw_psprintf(pool, "pcre2_compile() failed: %s in \"%.*s\"", (char *) reason,
                          BW_STR_ARG(*pattern));
    }
    if (msg) {
        *err = *msg;
    }
}

/* Reads the name table of a compiled pattern into re->names. */
static bw_rc_t
bw_regex_names_read(bw_pool_t *pool, bw_regex_t *re)
{
    uint32_t     count = 0, entry = 0;
    PCRE2_SPTR   table = NULL;
    pcre2_code  *code = re->code;

    pcre2_pattern_info(code, PCRE2_INFO_NAMECOUNT, &count);
    if (count == 0) {
        return BW_OK;
    }
    pcre2_pattern_info(code, PCRE2_INFO_NAMEENTRYSIZE, &entry);
    pcre2_pattern_info(code, PCRE2_INFO_NAMETABLE, &table);

    re->names = bw_pcalloc(pool, count * sizeof(bw_regex_name_t));
    if (re->names == NULL) {
        return BW_ERROR;
    }
    /* Each entry: a 2-byte big-endian group number, then the NUL-terminated name. */
    for (uint32_t i = 0; i < count; i++) {
        const u_char *p = table + (size_t) i * entry;
        bw_str_t      name = {strlen((const char *) p + 2), (u_char *) p + 2};

        re->names[i].index = (p[0] << 8) | p[1];
        if (bw_pstrcopy(pool, &re->names[i].name, &name) != BW_OK) {
            return BW_ERROR;
        }
    }
    re->nnames = count;
    /* The table is sorted by name; keep group order for predictable variables. */
    for (uint32_t i = 1; i < count; i++) {
        bw_regex_name_t n = re->names[i];
        uint32_t        j = i;
        while (j > 0 && re->names[j - 1].index > n.index) {
            re->names[j] = re->names[j - 1];
            j--;
        }
        re->names[j] = n;
    }
    return BW_OK;
}

bw_regex_t *
bw_regex_compile_pool(bw_pool_t *pool, const bw_str_t *pattern, bool caseless, bw_str_t *err)
{
    int         code;
    PCRE2_SIZE  offset;
    uint32_t    captures = 0;

    if (err) {
        bw_str_null(err);
    }
    bw_regex_t        *re = bw_pcalloc(pool, sizeof(bw_regex_t));
    bw_pool_cleanup_t *cln = bw_pool_cleanup_add(pool, 0);
    if (re == NULL || cln == NULL || bw_pstrcopy(pool, &re->pattern, pattern) != BW_OK) {
        return NULL;
    }
    pcre2_code *c = pcre2_compile(re->pattern.data, re->pattern.len,
                                  caseless ? PCRE2_CASELESS : 0, &code, &offset, NULL);
    if (c == NULL) {
        if (err) {
            bw_regex_error_set(pool, pattern, code, offset, err);
        }
        return NULL;
    }
    cln->handler = bw_regex_code_cleanup;
    cln->data = c;
    re->code = c;
    re->caseless = caseless;
    /* JIT is an optimisation: a pattern it cannot handle still runs interpreted. */
    re->jit = pcre2_jit_compile(c, PCRE2_JIT_COMPLETE) == 0;

    pcre2_pattern_info(c, PCRE2_INFO_CAPTURECOUNT, &captures);
    re->captures = (int) captures;
    if (bw_regex_names_read(pool, re) != BW_OK) {
        return NULL;
    }
    return re;
}

bw_regex_t *
bw_regex_compile(bw_conf_t *cf, const bw_str_t *pattern, bool caseless)
{
    bw_str_t err;

    bw_regex_t *re = bw_regex_compile_pool(cf->pool, pattern, caseless, &err);
    if (re == NULL) {
        if (err.len) {
            bw_conf_error(cf, "%.*s", BW_STR_ARG(err));
        } else {
            bw_conf_error(cf, "no memory to compile the regex \"%.*s\"", BW_STR_ARG(*pattern));
        }
    }
    return re;
}

/* Ensures the process's match data holds at least `pairs` pairs. */
static pcre2_match_data *
bw_regex_match_data(uint32_t pairs)
{
    if (bw_regex_md != NULL && bw_regex_md_pairs >= pairs) {
        return bw_regex_md;
    }
    if (pairs < 10) {
        pairs = 10; /* $0..$9: most patterns never need a bigger block */
    }
    pcre2_match_data *md = pcre2_match_data_create(pairs, NULL);
    if (md == NULL) {
        return NULL;
    }
    pcre2_match_data_free(bw_regex_md);
    bw_regex_md = md;
    bw_regex_md_pairs = pairs;
    return md;
}

int
bw_regex_exec(const bw_regex_t *re, const bw_str_t *s, size_t *ovector, int ovec_pairs)
{
    pcre2_match_data *md = bw_regex_match_data((uint32_t) re->captures + 1);
    if (md == NULL) {
        return PCRE2_ERROR_NOMEMORY;
    }
    const u_char *subject = s->data ? s->data : (const u_char *) "";
    int rc = pcre2_match(re->code, subject, s->len, 0, 0, md, NULL);
    if (rc == PCRE2_ERROR_JIT_STACKLIMIT) {
        /* A deep pattern exhausted the JIT stack: the interpreter has its own limits. */
        rc = pcre2_match(re->code, subject, s->len, 0, PCRE2_NO_JIT, md, NULL);
    }
    if (rc < 0) {
        return rc; /* PCRE2_ERROR_NOMATCH is BW_REGEX_NO_MATCH */
    }
    if (rc == 0) {
        rc = (int) bw_regex_md_pairs; /* cannot happen: the block fits every group */
    }
    if (ovec_pairs > 0 && ovector != NULL) {
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
        int         n = bw_min(rc, ovec_pairs);
        for (int i = 0; i < 2 * n; i++) {
            ovector[i] = ov[i] == PCRE2_UNSET ? (size_t) -1 : ov[i];
        }
        return n;
    }
    return rc;
}

bool
bw_regex_match(const bw_regex_t *re, const bw_str_t *s)
{
    return bw_regex_exec(re, s, NULL, 0) > 0;
}

int
bw_regex_name_index(const bw_regex_t *re, const bw_str_t *name)
{
    for (bw_uint_t i = 0; i < re->nnames; i++) {
        if (bw_str_eq(&re->names[i].name, name)) {
            return re->names[i].index;
        }
    }
    return -1;
}

void
bw_regex_match_data_free(void)
{
    pcre2_match_data_free(bw_regex_md);
    bw_regex_md = NULL;
    bw_regex_md_pairs = 0;
}
