/*
 * core_module.c -- the http core module (`http_core`): its directive table,
 * its configuration structs with nginx's defaults and merge rules, and its
 * try_files phase hook.
 *
 * Setters with their own syntax live by theme in core_blocks.c (server,
 * location, limit_except, types), core_listen.c (listen, server_name),
 * core_files.c (root, alias, try_files) and core_directives.c (the rest);
 * plain values use the stock setters of core/conf.h.
 */
#include "core_internal.h"

#include "cycle.h"
#include "pool.h"

#include <unistd.h>

static void *bw_http_core_create_main(bw_conf_t *cf);
static const char *bw_http_core_init_main(bw_conf_t *cf, void *conf);
static void *bw_http_core_create_srv(bw_conf_t *cf);
static const char *bw_http_core_merge_srv(bw_conf_t *cf, void *parent, void *child);
static void *bw_http_core_create_loc(bw_conf_t *cf);
static const char *bw_http_core_merge_loc(bw_conf_t *cf, void *parent, void *child);

#define BW_MAINO(f) offsetof(bw_http_core_main_conf_t, f)
#define BW_SRVO(f)  offsetof(bw_http_core_srv_conf_t, f)
#define BW_LOCO(f)  offsetof(bw_http_core_loc_conf_t, f)

#define BW_H   BW_CTX_HTTP
#define BW_HS  (BW_CTX_HTTP | BW_CTX_SRV)
#define BW_HSL (BW_CTX_HTTP | BW_CTX_SRV | BW_CTX_LOC)
#define BW_HSLI (BW_HSL | BW_CTX_LIF)

static const bw_conf_enum_t bw_http_core_lingering_close[] = {
    {"off", 0}, {"on", 1}, {"always", 2}, {NULL, 0},
};
static const bw_conf_enum_t bw_http_core_server_tokens[] = {
    {"off", 0}, {"on", 1}, {"build", 2}, {NULL, 0},
};
static const bw_conf_enum_t bw_http_core_if_modified_since[] = {
    {"off", 0}, {"exact", 1}, {"before", 2}, {NULL, 0},
};
static const bw_conf_enum_t bw_http_core_satisfy[] = {
    {"all", 0}, {"any", 1}, {NULL, 0},
};
static const bw_conf_enum_t bw_http_core_body_in_file[] = {
    {"off", 0}, {"on", 1}, {"clean", 2}, {NULL, 0},
};
static const bw_conf_enum_t bw_http_core_keepalive_disable[] = {
    {"none", BW_HTTP_KEEPALIVE_DISABLE_NONE},
    {"msie6", BW_HTTP_KEEPALIVE_DISABLE_MSIE6},
    {"safari", BW_HTTP_KEEPALIVE_DISABLE_SAFARI},
    {NULL, 0},
};

#define BW_LOC_FLAG(name, field) \
    {name, BW_HSL, BW_ARGS_FLAG, BW_CONF_LOC, bw_conf_set_flag, BW_LOCO(field), NULL}
#define BW_LOC_SET(name, setter, field) \
    {name, BW_HSL, BW_ARGS_TAKE1, BW_CONF_LOC, setter, BW_LOCO(field), NULL}
#define BW_LOC_ENUM(name, field, table) \
    {name, BW_HSL, BW_ARGS_TAKE1, BW_CONF_LOC, bw_conf_set_enum, BW_LOCO(field), table}
#define BW_NOOP(name, args) {name, BW_HSL, args, BW_CONF_NONE, bw_conf_set_noop, 0, NULL}

static const bw_directive_t bw_http_core_directives[] = {
    /* http{} level */
    {"variables_hash_max_size", BW_H, BW_ARGS_TAKE1, BW_CONF_MAIN, bw_conf_set_num,
     BW_MAINO(variables_hash_max_size), NULL},
    {"variables_hash_bucket_size", BW_H, BW_ARGS_TAKE1, BW_CONF_MAIN, bw_conf_set_size,
     BW_MAINO(variables_hash_bucket_size), NULL},
    {"server_names_hash_max_size", BW_H, BW_ARGS_TAKE1, BW_CONF_MAIN, bw_conf_set_num,
     BW_MAINO(server_names_hash_max_size), NULL},
    {"server_names_hash_bucket_size", BW_H, BW_ARGS_TAKE1, BW_CONF_MAIN, bw_conf_set_size,
     BW_MAINO(server_names_hash_bucket_size), NULL},
    {"server", BW_H, BW_ARGS_BLOCK | BW_ARGS_NOARGS, BW_CONF_NONE, bw_http_core_server, 0, NULL},

    /* server{} level */
    {"connection_pool_size", BW_HS, BW_ARGS_TAKE1, BW_CONF_SRV, bw_http_core_pool_size,
     BW_SRVO(connection_pool_size), NULL},
    {"request_pool_size", BW_HS, BW_ARGS_TAKE1, BW_CONF_SRV, bw_http_core_pool_size,
     BW_SRVO(request_pool_size), NULL},
    {"client_header_timeout", BW_HS, BW_ARGS_TAKE1, BW_CONF_SRV, bw_conf_set_msec,
     BW_SRVO(client_header_timeout), NULL},
    {"client_header_buffer_size", BW_HS, BW_ARGS_TAKE1, BW_CONF_SRV, bw_conf_set_size,
     BW_SRVO(client_header_buffer_size), NULL},
    {"large_client_header_buffers", BW_HS, BW_ARGS_TAKE2, BW_CONF_SRV,
     bw_http_core_large_header_buffers, 0, NULL},
    {"ignore_invalid_headers", BW_HS, BW_ARGS_FLAG, BW_CONF_SRV, bw_conf_set_flag,
     BW_SRVO(ignore_invalid_headers), NULL},
    {"merge_slashes", BW_HS, BW_ARGS_FLAG, BW_CONF_SRV, bw_conf_set_flag,
     BW_SRVO(merge_slashes), NULL},
    {"underscores_in_headers", BW_HS, BW_ARGS_FLAG, BW_CONF_SRV, bw_conf_set_flag,
     BW_SRVO(underscores_in_headers), NULL},
    {"location", BW_CTX_SRV | BW_CTX_LOC, BW_ARGS_BLOCK | BW_ARGS_TAKE12, BW_CONF_NONE,
     bw_http_core_location, 0, NULL},
    {"listen", BW_CTX_SRV, BW_ARGS_1MORE, BW_CONF_SRV, bw_http_core_listen, 0, NULL},
    {"server_name", BW_CTX_SRV, BW_ARGS_1MORE, BW_CONF_SRV, bw_http_core_server_name, 0, NULL},

    /* files and types */
    BW_NOOP("types_hash_max_size", BW_ARGS_TAKE1),
    BW_NOOP("types_hash_bucket_size", BW_ARGS_TAKE1),
    {"types", BW_HSL, BW_ARGS_BLOCK | BW_ARGS_NOARGS, BW_CONF_LOC, bw_http_core_types, 0, NULL},
    BW_LOC_SET("default_type", bw_conf_set_str, default_type),
    {"root", BW_HSLI, BW_ARGS_TAKE1, BW_CONF_LOC, bw_http_core_root, 0, NULL},
    {"alias", BW_CTX_LOC, BW_ARGS_TAKE1, BW_CONF_LOC, bw_http_core_root, 1, NULL},
    {"try_files", BW_CTX_SRV | BW_CTX_LOC, BW_ARGS_2MORE, BW_CONF_LOC, bw_http_core_try_files,
     0, NULL},
    {"limit_except", BW_CTX_LOC, BW_ARGS_BLOCK | BW_ARGS_1MORE, BW_CONF_LOC,
     bw_http_core_limit_except, 0, NULL},
    {"internal", BW_CTX_LOC, BW_ARGS_NOARGS, BW_CONF_LOC, bw_http_core_internal, 0, NULL},
    BW_LOC_ENUM("if_modified_since", if_modified_since, bw_http_core_if_modified_since),
    BW_LOC_SET("max_ranges", bw_conf_set_num, max_ranges),
    BW_LOC_FLAG("etag", etag),
    BW_LOC_FLAG("log_not_found", log_not_found),
    BW_LOC_FLAG("log_subrequest", log_subrequest),
    {"disable_symlinks", BW_HSL, BW_ARGS_TAKE12, BW_CONF_LOC, bw_http_core_disable_symlinks, 0,
     NULL},
    {"directio", BW_HSL, BW_ARGS_TAKE1, BW_CONF_LOC, bw_http_core_directio, 0, NULL},
    BW_NOOP("directio_alignment", BW_ARGS_TAKE1),
    {"aio", BW_HSL, BW_ARGS_TAKE1, BW_CONF_LOC, bw_http_core_aio, 0, NULL},
    BW_NOOP("aio_write", BW_ARGS_FLAG),
    BW_NOOP("read_ahead", BW_ARGS_TAKE1),
    BW_NOOP("output_buffers", BW_ARGS_TAKE2),
    {"open_file_cache", BW_HSL, BW_ARGS_TAKE12, BW_CONF_LOC, bw_http_core_open_file_cache, 0,
     NULL},
    BW_LOC_SET("open_file_cache_valid", bw_conf_set_sec, open_file_cache_valid),
    BW_LOC_SET("open_file_cache_min_uses", bw_conf_set_num, open_file_cache_min_uses),
    BW_LOC_FLAG("open_file_cache_errors", open_file_cache_errors),
    BW_NOOP("open_file_cache_events", BW_ARGS_FLAG),

    /* request body */
    BW_LOC_SET("client_max_body_size", bw_conf_set_off, client_max_body_size),
    BW_LOC_SET("client_body_buffer_size", bw_conf_set_size, client_body_buffer_size),
    BW_LOC_SET("client_body_timeout", bw_conf_set_msec, client_body_timeout),
    {"client_body_temp_path", BW_HSL, BW_ARGS_TAKE1234, BW_CONF_LOC,
     bw_http_core_client_body_temp_path, 0, NULL},
    BW_LOC_ENUM("client_body_in_file_only", client_body_in_file_only, bw_http_core_body_in_file),
    BW_LOC_FLAG("client_body_in_single_buffer", client_body_in_single_buffer),

    /* sending */
    {"sendfile", BW_HSLI, BW_ARGS_FLAG, BW_CONF_LOC, bw_conf_set_flag, BW_LOCO(sendfile), NULL},
    BW_LOC_SET("sendfile_max_chunk", bw_conf_set_size, sendfile_max_chunk),
    BW_LOC_SET("subrequest_output_buffer_size", bw_conf_set_size,
               subrequest_output_buffer_size),
    BW_LOC_FLAG("tcp_nopush", tcp_nopush),
    BW_LOC_FLAG("tcp_nodelay", tcp_nodelay),
    BW_LOC_SET("send_timeout", bw_conf_set_msec, send_timeout),
    BW_LOC_SET("send_lowat", bw_http_core_send_lowat, send_lowat),
    BW_LOC_SET("postpone_output", bw_conf_set_size, postpone_output),
    {"limit_rate", BW_HSLI, BW_ARGS_TAKE1, BW_CONF_LOC, bw_conf_set_size, BW_LOCO(limit_rate),
     NULL},
    {"limit_rate_after", BW_HSLI, BW_ARGS_TAKE1, BW_CONF_LOC, bw_conf_set_size,
     BW_LOCO(limit_rate_after), NULL},
    BW_LOC_FLAG("chunked_transfer_encoding", chunked_transfer_encoding),
    BW_LOC_FLAG("reset_timedout_connection", reset_timedout_connection),

    /* connection */
    BW_LOC_SET("keepalive_time", bw_conf_set_msec, keepalive_time),
    {"keepalive_timeout", BW_HSL, BW_ARGS_TAKE12, BW_CONF_LOC, bw_http_core_keepalive_timeout,
     0, NULL},
    BW_LOC_SET("keepalive_requests", bw_conf_set_num, keepalive_requests),
    {"keepalive_disable", BW_HSL, BW_ARGS_TAKE12, BW_CONF_LOC, bw_conf_set_bitmask,
     BW_LOCO(keepalive_disable), bw_http_core_keepalive_disable},
    BW_LOC_ENUM("lingering_close", lingering_close, bw_http_core_lingering_close),
    BW_LOC_SET("lingering_time", bw_conf_set_msec, lingering_time),
    BW_LOC_SET("lingering_timeout", bw_conf_set_msec, lingering_timeout),
    {"resolver", BW_HSL, BW_ARGS_1MORE, BW_CONF_LOC, bw_http_core_resolver, 0, NULL},
    BW_LOC_SET("resolver_timeout", bw_conf_set_msec, resolver_timeout),

    /* responses */
    BW_LOC_ENUM("server_tokens", server_tokens, bw_http_core_server_tokens),
    BW_LOC_FLAG("absolute_redirect", absolute_redirect),
    BW_LOC_FLAG("server_name_in_redirect", server_name_in_redirect),
    BW_LOC_FLAG("port_in_redirect", port_in_redirect),
    BW_LOC_FLAG("msie_padding", msie_padding),
    BW_LOC_FLAG("msie_refresh", msie_refresh),
    BW_LOC_FLAG("recursive_error_pages", recursive_error_pages),
    {"error_page", BW_HSLI, BW_ARGS_2MORE, BW_CONF_LOC, bw_http_core_error_page, 0, NULL},
    {"error_log", BW_HSL, BW_ARGS_1MORE, BW_CONF_LOC, bw_http_core_error_log, 0, NULL},
    BW_LOC_ENUM("satisfy", satisfy, bw_http_core_satisfy),
    BW_LOC_SET("auth_delay", bw_conf_set_msec, auth_delay),
    BW_DIRECTIVES_END,
};

static const bw_http_phase_hook_t bw_http_core_phases[] = {
    {BW_HTTP_PRECONTENT_PHASE, bw_http_core_try_files_handler},
    {0, NULL},
};

static const bw_http_module_t bw_http_core_ctx = {
    .create_main = bw_http_core_create_main,
    .init_main = bw_http_core_init_main,
    .create_srv = bw_http_core_create_srv,
    .merge_srv = bw_http_core_merge_srv,
    .create_loc = bw_http_core_create_loc,
    .merge_loc = bw_http_core_merge_loc,
    .phases = bw_http_core_phases,
};

bw_module_t bw_http_core_module = {
    .name = "http_core",
    .type = BW_MODULE_HTTP,
    .directives = bw_http_core_directives,
    .ctx = &bw_http_core_ctx,
};

/* ---- main ---- */

static void *
bw_http_core_create_main(bw_conf_t *cf)
{
    bw_http_core_main_conf_t *cmcf = bw_pcalloc(cf->pool, sizeof(bw_http_core_main_conf_t));

    if (cmcf == NULL
        || bw_array_init(&cmcf->servers, cf->pool, 4, sizeof(bw_http_core_srv_conf_t *))
               != BW_OK) {
        return NULL;
    }
    cmcf->variables_hash_max_size = BW_CONF_UNSET_UINT;
    cmcf->variables_hash_bucket_size = BW_CONF_UNSET_UINT;
    cmcf->server_names_hash_max_size = BW_CONF_UNSET_UINT;
    cmcf->server_names_hash_bucket_size = BW_CONF_UNSET_UINT;
    return cmcf;
}

static const char *
bw_http_core_init_main(bw_conf_t *cf, void *conf)
{
    bw_http_core_main_conf_t *cmcf = conf;

    /* Accepted for compatibility: bulwark's tables size themselves. */
    bw_conf_merge_uint(cmcf->variables_hash_max_size, BW_CONF_UNSET_UINT, 1024);
    bw_conf_merge_uint(cmcf->variables_hash_bucket_size, BW_CONF_UNSET_UINT, 64);
    bw_conf_merge_uint(cmcf->server_names_hash_max_size, BW_CONF_UNSET_UINT, 512);
    bw_conf_merge_uint(cmcf->server_names_hash_bucket_size, BW_CONF_UNSET_UINT, 64);
    return BW_CONF_OK;
}

/* ---- server ---- */

static void *
bw_http_core_create_srv(bw_conf_t *cf)
{
    bw_http_core_srv_conf_t *cscf = bw_pcalloc(cf->pool, sizeof(bw_http_core_srv_conf_t));

    if (cscf == NULL
        || bw_array_init(&cscf->server_names, cf->pool, 4, sizeof(bw_http_server_name_t))
               != BW_OK
        || bw_array_init(&cscf->listen, cf->pool, 2, sizeof(bw_http_listen_opt_t)) != BW_OK
        || bw_array_init(&cscf->named_locations, cf->pool, 2, sizeof(void *)) != BW_OK) {
        return NULL;
    }
    cscf->connection_pool_size = BW_CONF_UNSET_SIZE;
    cscf->request_pool_size = BW_CONF_UNSET_SIZE;
    cscf->client_header_buffer_size = BW_CONF_UNSET_SIZE;
    cscf->large_client_header_buffers_num = BW_CONF_UNSET;
    cscf->large_client_header_buffers_size = BW_CONF_UNSET_SIZE;
    cscf->client_header_timeout = BW_CONF_UNSET_MSEC;
    cscf->ignore_invalid_headers = BW_CONF_UNSET;
    cscf->merge_slashes = BW_CONF_UNSET;
    cscf->underscores_in_headers = BW_CONF_UNSET;
    if (cf->file) {
        cscf->file_name = cf->file->name;
        cscf->line = cf->file->line;
    }
    return cscf;
}

/* The primary name: the first server_name, without a leading '.' of ".x.com". */
static bw_rc_t
bw_http_core_primary_name(bw_conf_t *cf, bw_http_core_srv_conf_t *conf)
{
    if (conf->server_names.nelts == 0) {
        bw_http_server_name_t *sn = bw_array_push(&conf->server_names);
        if (sn == NULL) {
            return BW_ERROR;
        }
        memset(sn, 0, sizeof(*sn));
        sn->server = conf;
        bw_str_set(&sn->name, "");
    }
    bw_http_server_name_t *sn = conf->server_names.elts;
    bw_str_t               name = sn[0].name;

    if (sn[0].regex) {
        name.data--; /* "~re": the name kept the tilde just before the pattern */
        name.len++;
    } else if (name.len && name.data[0] == '.') {
        name.data++;
        name.len--;
    }
    return bw_pstrcopy(cf->pool, &conf->server_name, &name);
}

static const char *
bw_http_core_merge_srv(bw_conf_t *cf, void *parent, void *child)
{
    bw_http_core_srv_conf_t *prev = parent, *conf = child;

    bw_conf_merge_size(conf->connection_pool_size, prev->connection_pool_size,
                       64 * sizeof(void *));
    bw_conf_merge_size(conf->request_pool_size, prev->request_pool_size, 4096);
    bw_conf_merge_msec(conf->client_header_timeout, prev->client_header_timeout, 60000);
    bw_conf_merge_size(conf->client_header_buffer_size, prev->client_header_buffer_size, 1024);
    bw_conf_merge_value(conf->large_client_header_buffers_num,
                        prev->large_client_header_buffers_num, 4);
    bw_conf_merge_size(conf->large_client_header_buffers_size,
                       prev->large_client_header_buffers_size, 8192);
    if (conf->large_client_header_buffers_size < conf->connection_pool_size) {
        bw_conf_error(cf, "the \"large_client_header_buffers\" size must be equal to or "
                          "greater than \"connection_pool_size\"");
        return BW_CONF_ERROR;
    }
    bw_conf_merge_value(conf->ignore_invalid_headers, prev->ignore_invalid_headers, 1);
    bw_conf_merge_value(conf->merge_slashes, prev->merge_slashes, 1);
    bw_conf_merge_value(conf->underscores_in_headers, prev->underscores_in_headers, 0);

    if (conf->ctx == NULL) {
        return BW_CONF_OK; /* the http{} level's own server conf */
    }
    return bw_http_core_primary_name(cf, conf) == BW_OK ? BW_CONF_OK : BW_CONF_ERROR;
}

/* ---- location ---- */

static void *
bw_http_core_create_loc(bw_conf_t *cf)
{
    bw_http_core_loc_conf_t *c = bw_pcalloc(cf->pool, sizeof(bw_http_core_loc_conf_t));

    if (c == NULL) {
        return NULL;
    }
    c->internal = BW_CONF_UNSET;
    c->if_modified_since = BW_CONF_UNSET_UINT;
    c->max_ranges = BW_CONF_UNSET;
    c->etag = BW_CONF_UNSET;
    c->disable_symlinks = BW_CONF_UNSET;
    c->log_not_found = BW_CONF_UNSET;
    c->log_subrequest = BW_CONF_UNSET;
    c->directio = BW_CONF_UNSET;
    c->client_max_body_size = BW_CONF_UNSET;
    c->client_body_buffer_size = BW_CONF_UNSET_SIZE;
    c->client_body_timeout = BW_CONF_UNSET_MSEC;
    c->client_body_in_file_only = BW_CONF_UNSET;
    c->client_body_in_single_buffer = BW_CONF_UNSET;
    c->sendfile = BW_CONF_UNSET;
    c->sendfile_max_chunk = BW_CONF_UNSET_SIZE;
    c->subrequest_output_buffer_size = BW_CONF_UNSET_SIZE;
    c->tcp_nopush = BW_CONF_UNSET;
    c->tcp_nodelay = BW_CONF_UNSET;
    c->send_timeout = BW_CONF_UNSET_MSEC;
    c->send_lowat = BW_CONF_UNSET_SIZE;
    c->postpone_output = BW_CONF_UNSET_SIZE;
    c->limit_rate = BW_CONF_UNSET_SIZE;
    c->limit_rate_after = BW_CONF_UNSET_SIZE;
    c->chunked_transfer_encoding = BW_CONF_UNSET;
    c->reset_timedout_connection = BW_CONF_UNSET;
    c->keepalive_timeout = BW_CONF_UNSET_MSEC;
    c->keepalive_header = BW_CONF_UNSET;
    c->keepalive_requests = BW_CONF_UNSET_UINT;
    c->keepalive_time = BW_CONF_UNSET_MSEC;
    c->keepalive_disable = 0;
    c->lingering_close = BW_CONF_UNSET_UINT;
    c->lingering_time = BW_CONF_UNSET_MSEC;
    c->lingering_timeout = BW_CONF_UNSET_MSEC;
    c->resolver = BW_CONF_UNSET_PTR;
    c->open_file_cache = BW_CONF_UNSET_PTR;
    c->open_file_cache_valid = BW_CONF_UNSET;
    c->open_file_cache_min_uses = BW_CONF_UNSET_UINT;
    c->open_file_cache_errors = BW_CONF_UNSET;
    c->resolver_timeout = BW_CONF_UNSET_MSEC;
    c->auth_delay = BW_CONF_UNSET_MSEC;
    c->server_tokens = BW_CONF_UNSET_UINT;
    c->absolute_redirect = BW_CONF_UNSET;
    c->server_name_in_redirect = BW_CONF_UNSET;
    c->port_in_redirect = BW_CONF_UNSET;
    c->msie_padding = BW_CONF_UNSET;
    c->msie_refresh = BW_CONF_UNSET;
    c->recursive_error_pages = BW_CONF_UNSET;
    c->satisfy = BW_CONF_UNSET_UINT;
    return c;
}

static void
bw_http_core_merge_body(bw_http_core_loc_conf_t *prev, bw_http_core_loc_conf_t *conf)
{
    bw_conf_merge_value(conf->client_max_body_size, prev->client_max_body_size, 1024 * 1024);
    bw_conf_merge_size(conf->client_body_buffer_size, prev->client_body_buffer_size,
                       2 * (size_t) getpagesize());
    bw_conf_merge_msec(conf->client_body_timeout, prev->client_body_timeout, 60000);
    bw_conf_merge_value(conf->client_body_in_file_only, prev->client_body_in_file_only, 0);
    bw_conf_merge_value(conf->client_body_in_single_buffer, prev->client_body_in_single_buffer,
                        0);
}

static void
bw_http_core_merge_sending(bw_http_core_loc_conf_t *prev, bw_http_core_loc_conf_t *conf)
{
    bw_conf_merge_value(conf->sendfile, prev->sendfile, 0);
    bw_conf_merge_size(conf->sendfile_max_chunk, prev->sendfile_max_chunk, 2 * 1024 * 1024);
    bw_conf_merge_size(conf->subrequest_output_buffer_size, prev->subrequest_output_buffer_size,
                       (size_t) getpagesize());
    bw_conf_merge_value(conf->tcp_nopush, prev->tcp_nopush, 0);
    bw_conf_merge_value(conf->tcp_nodelay, prev->tcp_nodelay, 1);
    bw_conf_merge_msec(conf->send_timeout, prev->send_timeout, 60000);
    bw_conf_merge_size(conf->send_lowat, prev->send_lowat, 0);
    bw_conf_merge_size(conf->postpone_output, prev->postpone_output, 1460);
    bw_conf_merge_size(conf->limit_rate, prev->limit_rate, 0);
    bw_conf_merge_size(conf->limit_rate_after, prev->limit_rate_after, 0);
    bw_conf_merge_value(conf->chunked_transfer_encoding, prev->chunked_transfer_encoding, 1);
    bw_conf_merge_value(conf->reset_timedout_connection, prev->reset_timedout_connection, 0);
}

static void
bw_http_core_merge_connection(bw_http_core_loc_conf_t *prev, bw_http_core_loc_conf_t *conf)
{
    if (conf->keepalive_timeout == BW_CONF_UNSET_MSEC) {
        conf->keepalive_timeout = prev->keepalive_timeout;
        conf->keepalive_header = prev->keepalive_header;
    }
    bw_conf_merge_msec(conf->keepalive_timeout, BW_CONF_UNSET_MSEC, 75000);
    bw_conf_merge_value(conf->keepalive_header, BW_CONF_UNSET, 0);
    bw_conf_merge_uint(conf->keepalive_requests, prev->keepalive_requests, 1000);
    bw_conf_merge_msec(conf->keepalive_time, prev->keepalive_time, 3600000);
    if (conf->keepalive_disable == 0) {
        conf->keepalive_disable = prev->keepalive_disable ? prev->keepalive_disable
                                                          : BW_HTTP_KEEPALIVE_DISABLE_MSIE6;
    }
    bw_conf_merge_uint(conf->lingering_close, prev->lingering_close, 1);
    bw_conf_merge_msec(conf->lingering_time, prev->lingering_time, 30000);
    bw_conf_merge_msec(conf->lingering_timeout, prev->lingering_timeout, 5000);
    bw_conf_merge_ptr(conf->resolver, prev->resolver, NULL);
    bw_conf_merge_ptr(conf->open_file_cache, prev->open_file_cache, NULL);
    bw_conf_merge_value(conf->open_file_cache_valid, prev->open_file_cache_valid, 60);
    bw_conf_merge_uint(conf->open_file_cache_min_uses, prev->open_file_cache_min_uses, 1);
    bw_conf_merge_value(conf->open_file_cache_errors, prev->open_file_cache_errors, 0);
    bw_conf_merge_msec(conf->resolver_timeout, prev->resolver_timeout, 30000);
    bw_conf_merge_msec(conf->auth_delay, prev->auth_delay, 0);
}

static void
bw_http_core_merge_responses(bw_conf_t *cf, bw_http_core_loc_conf_t *prev,
                             bw_http_core_loc_conf_t *conf)
{
    bw_conf_merge_uint(conf->server_tokens, prev->server_tokens, 1);
    bw_conf_merge_value(conf->absolute_redirect, prev->absolute_redirect, 1);
    bw_conf_merge_value(conf->server_name_in_redirect, prev->server_name_in_redirect, 0);
    bw_conf_merge_value(conf->port_in_redirect, prev->port_in_redirect, 1);
    bw_conf_merge_value(conf->msie_padding, prev->msie_padding, 1);
    bw_conf_merge_value(conf->msie_refresh, prev->msie_refresh, 0);
    bw_conf_merge_value(conf->recursive_error_pages, prev->recursive_error_pages, 0);
    bw_conf_merge_uint(conf->satisfy, prev->satisfy, 0);
    bw_conf_merge_uint(conf->if_modified_since, prev->if_modified_since, 1);
    bw_conf_merge_value(conf->max_ranges, prev->max_ranges, -1);
    bw_conf_merge_value(conf->etag, prev->etag, 1);
    bw_conf_merge_value(conf->log_not_found, prev->log_not_found, 1);
    bw_conf_merge_value(conf->log_subrequest, prev->log_subrequest, 0);
    bw_conf_merge_value(conf->disable_symlinks, prev->disable_symlinks, 0);
    bw_conf_merge_value(conf->directio, prev->directio, 0);
    bw_conf_merge_value(conf->internal, prev->internal, 0);
    /* error_page is inherited only by a level that has none of its own. */
    if (conf->error_pages == NULL) {
        conf->error_pages = prev->error_pages;
    }
    if (conf->error_log == NULL) {
        conf->error_log = prev->error_log ? prev->error_log : &cf->cycle->new_log;
    }
}

static const char *
bw_http_core_merge_loc(bw_conf_t *cf, void *parent, void *child)
{
    bw_http_core_loc_conf_t *prev = parent, *conf = child;

    bw_http_core_merge_body(prev, conf);
    bw_http_core_merge_sending(prev, conf);
    bw_http_core_merge_connection(prev, conf);
    bw_http_core_merge_responses(cf, prev, conf);
    return bw_http_core_merge_files(cf, prev, conf);
}
