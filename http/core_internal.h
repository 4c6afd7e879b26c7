/*
 * core_internal.h -- what the http core module's files share among
 * themselves: directive setters (defined by theme in core_blocks.c,
 * core_listen.c, core_files.c and core_directives.c, listed in the
 * directive table of core_module.c), the listen address registry
 * (ports.c) and the phase engine builder (phases.c) used by http.c.
 * Other modules use core_module.h.
 */
#ifndef BW_HTTP_CORE_INTERNAL_H
#define BW_HTTP_CORE_INTERNAL_H

#include "core_module.h"

typedef const char *bw_http_core_set_fn(bw_conf_t *cf, const bw_directive_t *d, void *conf);

/* ---- core_blocks.c: server{}, location{}, limit_except{}, types{} ---- */
bw_http_core_set_fn bw_http_core_server;
bw_http_core_set_fn bw_http_core_location;
bw_http_core_set_fn bw_http_core_limit_except;
bw_http_core_set_fn bw_http_core_types;

/* ---- core_listen.c: listen, server_name ---- */
bw_http_core_set_fn bw_http_core_listen;
bw_http_core_set_fn bw_http_core_server_name;
/* Adds the implicit `listen *:80` (8000 when not run by root) of a server
 * without listen. BW_OK or BW_ERROR (reported). */
bw_rc_t bw_http_core_listen_default(bw_conf_t *cf, bw_http_core_srv_conf_t *cscf);

/* ---- core_files.c: root/alias, try_files, types ---- */
bw_http_core_set_fn bw_http_core_root;   /* root and alias */
bw_http_core_set_fn bw_http_core_try_files;
/* The precontent phase handler of try_files. */
bw_int_t bw_http_core_try_files_handler(bw_http_request_t *r);
/* Merges root/alias and types of a location conf. NULL or an error. */
const char *bw_http_core_merge_files(bw_conf_t *cf, bw_http_core_loc_conf_t *prev,
                                     bw_http_core_loc_conf_t *conf);
/* Sets r->exten from r->uri (the extension of the last path segment). */
void bw_http_core_set_exten(bw_http_request_t *r);

/* ---- core_directives.c: the other directives with their own syntax ---- */
bw_http_core_set_fn bw_http_core_error_page;
bw_http_core_set_fn bw_http_core_error_log;
bw_http_core_set_fn bw_http_core_keepalive_timeout;
bw_http_core_set_fn bw_http_core_large_header_buffers;
bw_http_core_set_fn bw_http_core_pool_size;
bw_http_core_set_fn bw_http_core_directio;
bw_http_core_set_fn bw_http_core_disable_symlinks;
bw_http_core_set_fn bw_http_core_open_file_cache;
bw_http_core_set_fn bw_http_core_aio;
bw_http_core_set_fn bw_http_core_client_body_temp_path;
bw_http_core_set_fn bw_http_core_internal;
bw_http_core_set_fn bw_http_core_resolver;
bw_http_core_set_fn bw_http_core_send_lowat;

/* ---- ports.c: listen addresses and the listening sockets ---- */

/*
 * Records that `cscf` listens on `opt`: checks "a duplicate listen",
 * "duplicate listen options for ..." and "a duplicate default server for
 * ..." as nginx does at the listen directive. BW_OK or BW_ERROR (reported).
 */
bw_rc_t bw_http_ports_add(bw_conf_t *cf, bw_http_core_main_conf_t *cmcf,
                          bw_http_core_srv_conf_t *cscf, const bw_http_listen_opt_t *opt);
/*
 * After every server is merged: builds each address's server names (with
 * nginx's "conflicting server name" warnings) and registers the listening
 * sockets with cf->cycle. BW_OK or BW_ERROR (reported).
 */
bw_rc_t bw_http_ports_init(bw_conf_t *cf, bw_http_core_main_conf_t *cmcf);

/* ---- phases.c: the phase engine and the filter tables ---- */

/* Builds cmcf->phase_engine from the HTTP modules' phase hooks, in module
 * order. BW_OK or BW_ERROR (no memory). */
bw_rc_t bw_http_phases_init(bw_conf_t *cf, bw_http_core_main_conf_t *cmcf);
/* Fills bw_http_header_next / bw_http_body_next from module order.
 * BW_OK or BW_ERROR (no memory). */
bw_rc_t bw_http_filters_init(void);

#endif
