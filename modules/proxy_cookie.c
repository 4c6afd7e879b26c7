/*
 * proxy_cookie.c -- the proxy module's proxy_cookie_domain and
 * proxy_cookie_path: their directive setter and the rewrite of the domain
 * and path attributes of Set-Cookie values from the backend (the upstream
 * core calls bw_proxy_rewrite_cookie for each Set-Cookie it passes on).
 */
#include "proxy_internal.h"

#include "pool.h"

#include <string.h>

/* ================================================================ */
/* proxy_cookie_domain, proxy_cookie_path                            */
/* ================================================================ */

/* One "key=value" (or "key") of a Set-Cookie value, blanks trimmed. */
typedef struct {
    bw_str_t key;
    bw_str_t value;
    bool     has_value;
} bw_proxy_cookie_attr_t;

static bw_str_t
bw_proxy_trim(const u_char *p, const u_char *end)
{
    while (p < end && (*p == ' ' || *p == '\t')) {
        p++;
    }
    while (end > p && (end[-1] == ' ' || end[-1] == '\t')) {
        end--;
    }
    bw_str_t s = {(size_t) (end - p), (u_char *) p};
    return s;
}

/* Splits a Set-Cookie value at ';' into attrs (room for n). Returns the count. */
static size_t
bw_proxy_cookie_split(const bw_str_t *v, bw_proxy_cookie_attr_t *attrs, size_t n)
{
    const u_char *p = v->data, *end = v->data + v->len;
    size_t        count = 0;

    while (p <= end && count < n) {
        const u_char *semi = memchr(p, ';', (size_t) (end - p));
        const u_char *stop = semi ? semi : end;
        const u_char *eq = memchr(p, '=', (size_t) (stop - p));
        bw_proxy_cookie_attr_t *a = &attrs[count++];
        a->has_value = eq != NULL;
        a->key = bw_proxy_trim(p, eq ? eq : stop);
        a->value = eq ? bw_proxy_trim(eq + 1, stop) : a->key;
        if (semi == NULL) {
            break;
        }
        p = semi + 1;
    }
    return count;
}

/*
 * Applies the first matching rule to an attribute value. A domain rule
 * matches the whole domain, a leading dot aside, case-insensitively, and
 * keeps the dot; a path rule replaces a matching prefix; a regex rule
 * replaces the whole value. BW_OK rewritten, BW_DECLINED, BW_ERROR.
 */
static bw_rc_t
bw_proxy_cookie_rule_apply(bw_http_request_t *r, const bw_array_t *rules, bool domain,
                           bw_str_t *value)
{
    const bw_proxy_redirect_t *pr = rules->elts;

    for (size_t i = 0; i < rules->nelts; i++) {
        size_t   keep = 0, matched = value->len;
        bw_str_t pattern, repl;

        if (pr[i].regex != NULL) {
            if (bw_regex_exec_request(r, pr[i].regex, value) != BW_OK) {
                continue;
            }
        } else {
            if (bw_http_complex_value(r, pr[i].pattern, &pattern) != BW_OK) {
                return BW_ERROR;
            }
            if (domain) {
                keep = value->len > 0 && value->data[0] == '.';
                if (value->len - keep != pattern.len
                    || bw_strncasecmp(value->data + keep, pattern.data, pattern.len) != 0) {
                    continue;
                }
            } else {
                if (pattern.len > value->len
                    || memcmp(value->data, pattern.data, pattern.len) != 0) {
                    continue;
                }
                matched = pattern.len;
            }
        }
        if (bw_http_complex_value(r, pr[i].replacement, &repl) != BW_OK) {
            return BW_ERROR;
        }
        size_t  rest = domain || pr[i].regex ? 0 : value->len - matched;
        u_char *p = bw_pnalloc(r->pool, keep + repl.len + rest + 1);
        if (p == NULL) {
            return BW_ERROR;
        }
        memcpy(p, value->data, keep);
        memcpy(p + keep, repl.data, repl.len);
        memcpy(p + keep + repl.len, value->data + matched, rest);
        value->data = p;
        value->len = keep + repl.len + rest;
        return BW_OK;
    }
    return BW_DECLINED;
}

/* "a=b; path=/x; secure": each attribute joined with "; ", as nginx rebuilds it. */
static bw_rc_t
bw_proxy_cookie_join(bw_http_request_t *r, const bw_proxy_cookie_attr_t *attrs, size_t n,
                     bw_str_t *out)
{
    size_t len = 0;

    for (size_t i = 0; i < n; i++) {
        len += attrs[i].key.len + 2 + (attrs[i].has_value ? attrs[i].value.len + 1 : 0);
    }
    u_char *p = bw_pnalloc(r->pool, len + 1);
    if (p == NULL) {
        return BW_ERROR;
    }
    out->data = p;
    for (size_t i = 0; i < n; i++) {
        if (i > 0) {
            *p++ = ';';
            *p++ = ' ';
        }
        p = (u_char *) mempcpy(p, attrs[i].key.data, attrs[i].key.len);
        if (attrs[i].has_value) {
            *p++ = '=';
            p = (u_char *) mempcpy(p, attrs[i].value.data, attrs[i].value.len);
        }
    }
    *p = '\0';
    out->len = (size_t) (p - out->data);
    return BW_OK;
}

/* The upstream core's hook for Set-Cookie: BW_OK rewritten, BW_DECLINED, BW_ERROR. */
bw_rc_t
bw_proxy_rewrite_cookie(bw_http_request_t *r, bw_http_header_t *h)
{
    bw_proxy_loc_conf_t *plcf = bw_proxy_loc(r);
    size_t               n = 1;
    bool                 changed = false;

    for (size_t i = 0; i < h->value.len; i++) {
        n += h->value.data[i] == ';';
    }
    bw_proxy_cookie_attr_t *attrs = bw_palloc(r->pool, n * sizeof(*attrs));
    if (attrs == NULL) {
        return BW_ERROR;
    }
    n = bw_proxy_cookie_split(&h->value, attrs, n);
    /* the first pair is the cookie itself; the attributes follow */
    for (size_t i = 1; i < n; i++) {
        bw_array_t *rules = NULL;
        bool        domain = false;
        if (attrs[i].has_value && attrs[i].key.len == 6
            && bw_strncasecmp(attrs[i].key.data, (const u_char *) "domain", 6) == 0) {
            rules = plcf->cookie_domains;
            domain = true;
        } else if (attrs[i].has_value && attrs[i].key.len == 4
                   && bw_strncasecmp(attrs[i].key.data, (const u_char *) "path", 4) == 0) {
            rules = plcf->cookie_paths;
        }
        if (rules == NULL) {
            continue;
        }
        bw_rc_t rc = bw_proxy_cookie_rule_apply(r, rules, domain, &attrs[i].value);
        if (rc == BW_ERROR) {
            return BW_ERROR;
        }
        changed = changed || rc == BW_OK;
    }
    if (!changed) {
        return BW_DECLINED;
    }
    return bw_proxy_cookie_join(r, attrs, n, &h->value) == BW_OK ? BW_OK : BW_ERROR;
}

/* proxy_cookie_domain / proxy_cookie_path: off | pattern replacement (d->offset
 * tells which list). A domain's leading dot is ignored in both strings; a
 * domain regex is always caseless, a path regex only with "~*". */
const char *
bw_proxy_set_cookie_rule(bw_conf_t *cf, const bw_directive_t *d, void *conf)
{
    bw_array_t **rules = (bw_array_t **) ((char *) conf + d->offset);
    bool         domain = d->offset == BW_PROXY_OFF(cookie_domains);
    bw_str_t    *value = cf->args->elts;

    if (*rules == NULL) {
        return "is duplicate";
    }
    if (cf->args->nelts == 2) {
        if (!bw_str_eq_lit(&value[1], "off")) {
            bw_conf_error(cf, "invalid parameter \"%.*s\"", BW_STR_ARG(value[1]));
            return BW_CONF_ERROR;
        }
        if (*rules != BW_CONF_UNSET_PTR) {
            return "is duplicate";
        }
        *rules = NULL;
        return BW_CONF_OK;
    }
    if (*rules == BW_CONF_UNSET_PTR) {
        *rules = bw_array_create(cf->pool, 2, sizeof(bw_proxy_redirect_t));
        if (*rules == NULL) {
            return BW_CONF_ERROR;
        }
    }
    bw_proxy_redirect_t *pr = bw_array_push(*rules);
    if (pr == NULL) {
        return BW_CONF_ERROR;
    }
    memset(pr, 0, sizeof(*pr));
    bw_str_t pattern = value[1], repl = value[2];
    if (domain && repl.len > 0 && repl.data[0] == '.') {
        repl.data++;
        repl.len--;
    }
    if (pattern.len > 0 && pattern.data[0] == '~') {
        bool caseless = domain;
        pattern.data++;
        pattern.len--;
        if (!domain && pattern.len > 0 && pattern.data[0] == '*') {
            caseless = true;
            pattern.data++;
            pattern.len--;
        }
        pr->regex = bw_http_regex_compile(cf, &pattern, caseless);
        if (pr->regex == NULL) {
            return BW_CONF_ERROR;
        }
    } else {
        if (domain && pattern.len > 0 && pattern.data[0] == '.') {
            pattern.data++;
            pattern.len--;
        }
        if (bw_http_compile_complex_value(cf, &pattern, &pr->pattern) != BW_OK) {
            return BW_CONF_ERROR;
        }
    }
    return bw_http_compile_complex_value(cf, &repl, &pr->replacement) == BW_OK ? BW_CONF_OK
                                                                              : BW_CONF_ERROR;
}

