/*
 * http_conf.h -- for unit tests (bw_unit_support): the http{} configuration
 * levels, with the http core module's configurations in place, that tests
 * of directives, scripts and variables build on.
 */
#ifndef BW_TEST_HTTP_CONF_H
#define BW_TEST_HTTP_CONF_H

#include "conf.h"
#include "core_module.h"
#include "pool.h"
#include "support.h"

#define BW_TEST_CONFS 64 /* room in each configuration level (> any module index) */

/*
 * The http{} context as a directive or a variable sees it: a pool, a conf
 * parser state in BW_CTX_HTTP, the three levels of module configurations and
 * the http core module's own at each level.
 */
typedef struct {
    bw_pool_t               *pool;
    bw_conf_t                cf;
    bw_conf_ctx_t            ctx;
    void                    *main_conf[BW_TEST_CONFS];
    void                    *srv_conf[BW_TEST_CONFS];
    void                    *loc_conf[BW_TEST_CONFS];
    bw_http_core_main_conf_t cmcf;
    bw_http_core_srv_conf_t  cscf;
    bw_http_core_loc_conf_t  clcf;
} bw_test_http_conf_t;

/*
 * Zeroes hc and links it up: a new pool, cf over ctx in BW_CTX_HTTP logging
 * to stderr, and the http core module's configurations at its index of each
 * level. The caller registers variables or directives next and destroys
 * hc->pool at the end.
 */
void bw_test_http_conf_init(bw_test_http_conf_t *hc);

#endif
