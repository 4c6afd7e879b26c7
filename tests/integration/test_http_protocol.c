/*
 * test_http_protocol.c -- the response side of the HTTP core through the
 * real binary: the head in nginx's order and words (status lines, Server
 * with server_tokens, Date, Connection, Keep-Alive), nginx's built-in error
 * pages byte for byte (only the signature line differs: bulwark's name),
 * error_page (URI, =code, =, @named, URL redirects, recursion), relative
 * Location made absolute (absolute_redirect, port_in_redirect,
 * server_name_in_redirect), HEAD/204 without bodies, msie_padding and
 * msie_refresh, chunked vs close-delimited bodies, 444 and 408, and file
 * bodies with sendfile on and off. Every expected byte was checked against
 * nginx 1.22 with the same configuration.
 */
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static bw_test_server_t *bw_hp_srv;
static char              bw_hp_sig[64]; /* "bulwark/x.y.z" */

static const char bw_hp_conf[] =
    "http {\n"
    "  root %%PREFIX%%/html;\n"
    "  server { listen 127.0.0.1:%%PORT%%; server_name localhost;\n"
    "    location / { }\n"
    "    location /t { return 200 \"hi\\n\"; }\n"
    "    location /k { keepalive_timeout 30s 25s; return 200 \"k\\n\"; }\n"
    "    location /ep/ { error_page 404 /404.html; }\n"
    "    location /ep2/ { error_page 404 =200 /404.html; }\n"
    "    location /ep3/ { error_page 404 @named; }\n"
    "    location @named { return 200 \"named\\n\"; }\n"
    "    location /ep4/ { error_page 404 http://example.com/x; }\n"
    "    location /ep4b/ { error_page 404 =301 http://example.com/y; }\n"
    "    location /ep5/ { error_page 404 = /r201; }\n"
    "    location /ep6/ { error_page 404 /missing.html; }\n"
    "    location /ep7/ { recursive_error_pages on; error_page 404 /ep7/missing; }\n"
    "    location /ep8/ { error_page 500 /404.html; return 500; }\n"
    "    location /ep9/ { error_page 404 /404.html?a=b; }\n"
    "    location /r201 { return 201 \"r\\n\"; }\n"
    "    location /r204 { return 204; }\n"
    "    location /r301 { return 301 /x; }\n"
    "    location /r301abs { absolute_redirect off; return 301 /x; }\n"
    "    location /r301np { port_in_redirect off; return 301 /x; }\n"
    "    location /r301sn { server_name_in_redirect on; return 301 /x; }\n"
    "    location /r401 { return 401; }\n"
    "    location /r408 { return 408; }\n"
    "    location /r444 { return 444; }\n"
    "    location /r497 { return 497; }\n"
    "    location /r500 { return 500; }\n"
    "    location /r503 { return 503; }\n"
    "    location /tok { server_tokens off; return 404; }\n"
    "    location /nopad { msie_padding off; return 404; }\n"
    "    location /ref { msie_refresh on; return 302 http://e.com/a\"b; }\n"
    "    location /ai/ { alias %%PREFIX%%/html/d/; autoindex on; }\n"
    "    location /nochunk/ { chunked_transfer_encoding off; alias %%PREFIX%%/html/d/;\n"
    "                         autoindex on; }\n"
    "    location /sf/ { alias %%PREFIX%%/html/; sendfile on; tcp_nopush on; }\n"
    "    location /nosf/ { alias %%PREFIX%%/html/; sendfile off; postpone_output 0; }\n"
    "  }\n"
    "}\n";

#define BW_HP_BIG (1024 * 1024 + 7)

static int
bw_hp_setup(void **state)
{
    bw_hp_srv = bw_test_server_prepare(bw_hp_conf);
    if (bw_hp_srv == NULL) {
        return -1;
    }
    char *big = malloc(BW_HP_BIG);
    for (size_t i = 0; i < BW_HP_BIG; i++) {
        big[i] = bw_test_pattern_byte(i);
    }
    if (bw_test_server_write_file(bw_hp_srv, "html/404.html", "custom 404\n") != 0
        || bw_test_server_write_file(bw_hp_srv, "html/d/f.txt", "x\n") != 0
        || bw_test_server_write_file_len(bw_hp_srv, "html/big.bin", big, BW_HP_BIG) != 0
        || bw_test_server_launch(bw_hp_srv) != 0) {
        free(big);
        return -1;
    }
    free(big);
    bw_test_response_t r;
    if (bw_test_http_get(bw_hp_srv->port, "/t", &r) != 0
        || bw_test_response_header(&r, "Server") == NULL) {
        return -1;
    }
    snprintf(bw_hp_sig, sizeof(bw_hp_sig), "%s", bw_test_response_header(&r, "Server"));
    bw_test_response_free(&r);
    return 0;
}

static int
bw_hp_teardown(void **state)
{
    bw_test_server_stop(bw_hp_srv);
    return 0;
}

/* The raw answer to `req`, with Date/Last-Modified/ETag lines removed. */
static char *
bw_hp_raw(const char *req, bw_test_response_t *r)
{
    assert_int_equal(bw_test_http_request(bw_hp_srv->port, req, r), 0);
    char *out = malloc(r->raw_len + 1), *o = out;
    const char *p = r->raw, *end = r->raw + r->head_len;
    while (p < end) {
        const char *eol = strstr(p, "\r\n");
        size_t n = (size_t) (eol - p) + 2;
        if (strncmp(p, "Date: ", 6) != 0 && strncmp(p, "Last-Modified: ", 15) != 0
            && strncmp(p, "ETag: ", 6) != 0) {
            memcpy(o, p, n);
            o += n;
        }
        p += n;
    }
    memcpy(o, r->raw + r->head_len, r->raw_len - r->head_len);
    o[r->raw_len - r->head_len] = '\0';
    return out;
}

static char *
bw_hp_get(const char *uri, bw_test_response_t *r)
{
    char req[512];
    snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", uri);
    return bw_hp_raw(req, r);
}

/* nginx's page for "CODE TITLE", with this server's signature. */
static char *
bw_hp_page(const char *code_title, const char *sig)
{
    char *page;
    assert_true(asprintf(&page, "<html>\r\n<head><title>%s</title></head>\r\n<body>\r\n"
                         "<center><h1>%s</h1></center>\r\n<hr><center>%s</center>\r\n"
                         "</body>\r\n</html>\r\n", code_title, code_title, sig) > 0);
    return page;
}

/* Asserts the whole answer: head lines (without Date) and the page body. */
static void
bw_hp_expect(const char *uri, const char *head, const char *body)
{
    bw_test_response_t r;
    char *raw = bw_hp_get(uri, &r), *want;
    assert_true(asprintf(&want, "%s%s", head, body) > 0);
    if (strcmp(raw, want) != 0) {
        fail_msg("GET %s:\n--- got\n%s\n--- want\n%s", uri, raw, want);
    }
    free(want);
    free(raw);
    bw_test_response_free(&r);
}

static void
bw_hp_expect_page(const char *uri, const char *status_line, const char *title,
                  const char *extra_head)
{
    char *page = bw_hp_page(title, bw_hp_sig), *head;
    assert_true(asprintf(&head, "HTTP/1.1 %s\r\nServer: %s\r\nContent-Type: text/html\r\n"
                         "Content-Length: %zu\r\nConnection: close\r\n%s\r\n", status_line,
                         bw_hp_sig, strlen(page), extra_head) > 0);
    bw_hp_expect(uri, head, page);
    free(head);
    free(page);
}

/* ---- the head ---- */

static void
test_head_lines_in_nginx_order(void **state)
{
    bw_test_response_t r;
    assert_int_equal(bw_test_http_request(bw_hp_srv->port, "GET /t HTTP/1.1\r\nHost: a\r\n\r\n",
                                          &r), 0);
    assert_true(strncmp(bw_hp_sig, "bulwark/", 8) == 0);
    char *want;
    assert_true(asprintf(&want, "HTTP/1.1 200 OK\r\nServer: %s\r\nDate: %s\r\n"
                         "Content-Type: text/plain\r\nContent-Length: 3\r\n"
                         "Connection: keep-alive\r\n\r\nhi\n", bw_hp_sig,
                         bw_test_response_header(&r, "Date")) > 0);
    assert_string_equal(r.raw, want);
    /* an IMF-fixdate: "Mon, 23 Nov 2026 13:33:27 GMT" */
    const char *date = bw_test_response_header(&r, "Date");
    assert_int_equal(strlen(date), 29);
    assert_string_equal(date + 25, " GMT");
    assert_false(r.closed);
    free(want);
    bw_test_response_free(&r);
}

static void
test_keepalive_header_from_second_argument(void **state)
{
    bw_test_response_t r;
    assert_int_equal(bw_test_http_request(bw_hp_srv->port, "GET /k HTTP/1.1\r\nHost: a\r\n\r\n",
                                          &r), 0);
    assert_string_equal(bw_test_response_header(&r, "Connection"), "keep-alive");
    assert_string_equal(bw_test_response_header(&r, "Keep-Alive"), "timeout=25");
    bw_test_response_free(&r);
}

static void
test_server_tokens_off_names_no_version(void **state)
{
    bw_hp_expect("/tok", "HTTP/1.1 404 Not Found\r\nServer: bulwark\r\n"
                 "Content-Type: text/html\r\nContent-Length: 148\r\nConnection: close\r\n\r\n",
                 "<html>\r\n<head><title>404 Not Found</title></head>\r\n<body>\r\n"
                 "<center><h1>404 Not Found</h1></center>\r\n<hr><center>bulwark</center>\r\n"
                 "</body>\r\n</html>\r\n");
}

/* ---- built-in pages ---- */

static void
test_builtin_error_pages_are_nginx_bytes(void **state)
{
    bw_hp_expect_page("/missing", "404 Not Found", "404 Not Found", "");
    bw_hp_expect_page("/r401", "401 Unauthorized", "401 Authorization Required", "");
    bw_hp_expect_page("/r500", "500 Internal Server Error", "500 Internal Server Error", "");
    bw_hp_expect_page("/r503", "503 Service Temporarily Unavailable",
                      "503 Service Temporarily Unavailable", "");
}

static void
test_internal_497_answers_400_with_its_reason(void **state)
{
    char *body, *head;
    assert_true(asprintf(&body, "<html>\r\n<head><title>400 The plain HTTP request was sent to "
                         "HTTPS port</title></head>\r\n<body>\r\n<center><h1>400 Bad Request</h1>"
                         "</center>\r\n<center>The plain HTTP request was sent to HTTPS port"
                         "</center>\r\n<hr><center>%s</center>\r\n</body>\r\n</html>\r\n",
                         bw_hp_sig) > 0);
    assert_true(asprintf(&head, "HTTP/1.1 400 Bad Request\r\nServer: %s\r\n"
                         "Content-Type: text/html\r\nContent-Length: %zu\r\n"
                         "Connection: close\r\n\r\n", bw_hp_sig, strlen(body)) > 0);
    bw_hp_expect("/r497", head, body);
    free(head);
    free(body);
}

static void
test_msie_padding_and_its_switch(void **state)
{
    const char *ua = "User-Agent: Mozilla/4.0 (compatible; MSIE 6.0; Windows NT 5.1)\r\n";
    char req[512];
    bw_test_response_t r;

    snprintf(req, sizeof(req), "GET /missing HTTP/1.1\r\nHost: a\r\n%sConnection: close\r\n\r\n",
             ua);
    assert_int_equal(bw_test_http_request(bw_hp_srv->port, req, &r), 0);
    char *page = bw_hp_page("404 Not Found", bw_hp_sig);
    assert_int_equal(r.body_len, strlen(page) + 6 * 67);
    assert_memory_equal(r.body, page, strlen(page));
    assert_non_null(strstr(r.body + strlen(page),
                           "<!-- a padding to disable MSIE and Chrome friendly error page -->\r\n"));
    bw_test_response_free(&r);

    snprintf(req, sizeof(req), "GET /nopad HTTP/1.1\r\nHost: a\r\n%sConnection: close\r\n\r\n", ua);
    assert_int_equal(bw_test_http_request(bw_hp_srv->port, req, &r), 0);
    assert_int_equal(r.body_len, strlen(page));
    bw_test_response_free(&r);

    snprintf(req, sizeof(req), "GET /missing HTTP/1.1\r\nHost: a\r\nUser-Agent: x Chrome/99 y\r\n"
             "Connection: close\r\n\r\n");
    assert_int_equal(bw_test_http_request(bw_hp_srv->port, req, &r), 0);
    assert_int_equal(r.body_len, strlen(page) + 6 * 67);
    bw_test_response_free(&r);
    free(page);
}

static void
test_msie_refresh_replaces_redirect(void **state)
{
    char req[512];
    bw_test_response_t r;
    snprintf(req, sizeof(req), "GET /ref HTTP/1.1\r\nHost: a\r\nUser-Agent: Mozilla/4.0 "
             "(compatible; MSIE 6.0)\r\nConnection: close\r\n\r\n");
    assert_int_equal(bw_test_http_request(bw_hp_srv->port, req, &r), 0);
    assert_int_equal(r.status, 200);
    assert_null(bw_test_response_header(&r, "Location"));
    assert_string_equal(r.body, "<html><head><meta http-equiv=\"Refresh\" content=\"0; "
                                "URL=http://e.com/a%22b\"></head><body></body></html>\r\n");
    bw_test_response_free(&r);
    assert_int_equal(bw_test_http_get(bw_hp_srv->port, "/ref", &r), 0);
    assert_int_equal(r.status, 302);
    bw_test_response_free(&r);
}

/* ---- error_page ---- */

static void
bw_hp_expect_status_body(const char *uri, int status, const char *body, const char *location)
{
    bw_test_response_t r;
    char req[512];
    snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", uri);
    assert_int_equal(bw_test_http_request(bw_hp_srv->port, req, &r), 0);
    if (r.status != status || strcmp(r.body, body) != 0) {
        fail_msg("GET %s: expected %d \"%s\", got %d \"%s\"", uri, status, body, r.status, r.body);
    }
    const char *loc = bw_test_response_header(&r, "Location");
    if (location) {
        assert_non_null(loc);
        assert_string_equal(loc, location);
    } else {
        assert_null(loc);
    }
    bw_test_response_free(&r);
}

static void
test_error_page_variants(void **state)
{
    char *page302 = bw_hp_page("302 Found", bw_hp_sig);
    char *page301 = bw_hp_page("301 Moved Permanently", bw_hp_sig);
    char *page404 = bw_hp_page("404 Not Found", bw_hp_sig);
    char *page500 = bw_hp_page("500 Internal Server Error", bw_hp_sig);

    bw_hp_expect_status_body("/ep/x", 404, "custom 404\n", NULL);
    bw_hp_expect_status_body("/ep2/x", 200, "custom 404\n", NULL);
    bw_hp_expect_status_body("/ep3/x", 404, "named\n", NULL);
    bw_hp_expect_status_body("/ep4/x", 302, page302, "http://example.com/x");
    bw_hp_expect_status_body("/ep4b/x", 301, page301, "http://example.com/y");
    bw_hp_expect_status_body("/ep5/x", 201, "r\n", NULL);
    bw_hp_expect_status_body("/ep6/x", 404, page404, NULL);  /* the page itself is missing */
    bw_hp_expect_status_body("/ep7/x", 500, page500, NULL);  /* recursion ends in a cycle */
    bw_hp_expect_status_body("/ep8/x", 500, "custom 404\n", NULL);
    bw_hp_expect_status_body("/ep9/x", 404, "custom 404\n", NULL);
    free(page302);
    free(page301);
    free(page404);
    free(page500);
    assert_true(bw_test_server_log_wait(bw_hp_srv, "rewrite or internal redirection cycle while "
                                        "internally redirecting to \"/ep7/missing\"", 1, 5000));
}

/* ---- redirects ---- */

static void
test_relative_location_made_absolute_as_configured(void **state)
{
    char loc[128];
    snprintf(loc, sizeof(loc), "http://a:%d/x", bw_hp_srv->port);
    char *page = bw_hp_page("301 Moved Permanently", bw_hp_sig);
    bw_hp_expect_status_body("/r301", 301, page, loc);
    bw_hp_expect_status_body("/r301abs", 301, page, "/x");
    bw_hp_expect_status_body("/r301np", 301, page, "http://a/x");
    snprintf(loc, sizeof(loc), "http://localhost:%d/x", bw_hp_srv->port);
    bw_hp_expect_status_body("/r301sn", 301, page, loc);
    free(page);

    /* a made-absolute Location sits before Connection, as nginx writes it */
    bw_test_response_t r;
    char *raw = bw_hp_get("/r301", &r);
    char *want;
    assert_true(asprintf(&want, "Location: http://a:%d/x\r\nConnection: close\r\n\r\n",
                         bw_hp_srv->port) > 0);
    assert_non_null(strstr(raw, want));
    free(want);
    free(raw);
    bw_test_response_free(&r);
}

/* ---- bodiless answers ---- */

static void
test_head_and_204_send_no_body(void **state)
{
    bw_test_response_t r;
    int fd = bw_test_connect(bw_hp_srv->port, 5000);
    assert_true(fd >= 0);
    const char *req = "HEAD /t HTTP/1.1\r\nHost: a\r\n\r\nGET /r204 HTTP/1.1\r\nHost: a\r\n\r\n"
                      "GET /t HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n";
    assert_int_equal(bw_test_send_all(fd, req, strlen(req)), 0);
    size_t len;
    bool closed;
    char *all = bw_test_recv_all(fd, &len, 5000, &closed);
    close(fd);
    size_t used = 0, off = 0;
    assert_int_equal(bw_test_response_parse(all, len, true, BW_TEST_RESP_HEAD, &r, &used), 1);
    assert_int_equal(r.status, 200);
    assert_string_equal(bw_test_response_header(&r, "Content-Length"), "3");
    assert_int_equal(r.body_len, 0);
    bw_test_response_free(&r);
    off += used;
    assert_int_equal(bw_test_response_parse(all + off, len - off, true, 0, &r, &used), 1);
    assert_int_equal(r.status, 204);
    assert_null(bw_test_response_header(&r, "Content-Length"));
    assert_null(bw_test_response_header(&r, "Content-Type"));
    bw_test_response_free(&r);
    off += used;
    /* had HEAD or 204 leaked a body, this would not parse as the third answer */
    assert_int_equal(bw_test_response_parse(all + off, len - off, true, 0, &r, &used), 1);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "hi\n");
    assert_int_equal(off + used, len);
    bw_test_response_free(&r);
    free(all);
}

static void
test_return_444_and_408_close_without_answer(void **state)
{
    const char *uris[] = {"/r444", "/r408"};
    for (int i = 0; i < 2; i++) {
        int fd = bw_test_connect(bw_hp_srv->port, 5000);
        char req[128];
        snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: a\r\n\r\n", uris[i]);
        assert_int_equal(bw_test_send_all(fd, req, strlen(req)), 0);
        size_t len;
        bool closed;
        char *out = bw_test_recv_all(fd, &len, 5000, &closed);
        close(fd);
        assert_int_equal(len, 0);
        assert_true(closed);
        free(out);
    }
}

/* ---- bodies ---- */

static void
test_unknown_length_chunked_for_11_close_delimited_for_10(void **state)
{
    bw_test_response_t r;

    assert_int_equal(bw_test_http_request(bw_hp_srv->port, "GET /ai/ HTTP/1.1\r\nHost: a\r\n\r\n",
                                          &r), 0);
    assert_int_equal(r.status, 200);
    assert_true(r.chunked);
    assert_string_equal(bw_test_response_header(&r, "Transfer-Encoding"), "chunked");
    assert_string_equal(bw_test_response_header(&r, "Connection"), "keep-alive");
    assert_non_null(strstr(r.body, "<a href=\"f.txt\">f.txt</a>"));
    assert_false(r.closed);
    bw_test_response_free(&r);

    assert_int_equal(bw_test_http_request(bw_hp_srv->port, "GET /ai/ HTTP/1.0\r\n\r\n", &r), 0);
    assert_false(r.chunked);
    assert_true(r.close_delimited);
    assert_null(bw_test_response_header(&r, "Content-Length"));
    assert_string_equal(bw_test_response_header(&r, "Connection"), "close");
    assert_true(r.closed);
    assert_non_null(strstr(r.body, "</html>"));
    bw_test_response_free(&r);

    assert_int_equal(bw_test_http_request(bw_hp_srv->port,
                                          "GET /nochunk/ HTTP/1.1\r\nHost: a\r\n\r\n", &r), 0);
    assert_false(r.chunked);
    assert_true(r.close_delimited);
    assert_true(r.closed);
    bw_test_response_free(&r);
}

static void
test_file_bodies_intact_with_and_without_sendfile(void **state)
{
    const char *uris[] = {"/sf/big.bin", "/nosf/big.bin", "/big.bin"};
    for (int i = 0; i < 3; i++) {
        bw_test_response_t r;
        assert_int_equal(bw_test_http_get(bw_hp_srv->port, uris[i], &r), 0);
        assert_int_equal(r.status, 200);
        assert_int_equal(r.body_len, BW_HP_BIG);
        assert_true(bw_test_pattern_check(r.body, r.body_len, 0));
        bw_test_response_free(&r);
    }
    /* HEAD of a file: its length, no bytes */
    bw_test_response_t r;
    int fd = bw_test_connect(bw_hp_srv->port, 5000);
    const char *req = "HEAD /sf/big.bin HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n";
    assert_int_equal(bw_test_send_all(fd, req, strlen(req)), 0);
    size_t len;
    bool closed;
    char *all = bw_test_recv_all(fd, &len, 5000, &closed);
    close(fd);
    size_t used;
    assert_int_equal(bw_test_response_parse(all, len, true, BW_TEST_RESP_HEAD, &r, &used), 1);
    assert_int_equal(used, len);
    char want[32];
    snprintf(want, sizeof(want), "%d", BW_HP_BIG);
    assert_string_equal(bw_test_response_header(&r, "Content-Length"), want);
    bw_test_response_free(&r);
    free(all);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_head_lines_in_nginx_order),
        cmocka_unit_test(test_keepalive_header_from_second_argument),
        cmocka_unit_test(test_server_tokens_off_names_no_version),
        cmocka_unit_test(test_builtin_error_pages_are_nginx_bytes),
        cmocka_unit_test(test_internal_497_answers_400_with_its_reason),
        cmocka_unit_test(test_msie_padding_and_its_switch),
        cmocka_unit_test(test_msie_refresh_replaces_redirect),
        cmocka_unit_test(test_error_page_variants),
        cmocka_unit_test(test_relative_location_made_absolute_as_configured),
        cmocka_unit_test(test_head_and_204_send_no_body),
        cmocka_unit_test(test_return_444_and_408_close_without_answer),
        cmocka_unit_test(test_unknown_length_chunked_for_11_close_delimited_for_10),
        cmocka_unit_test(test_file_bodies_intact_with_and_without_sendfile),
    };
    return cmocka_run_group_tests(tests, bw_hp_setup, bw_hp_teardown);
}
