/*
 * http_conf.c -- the http{} configuration levels (with the http core
 * module's configurations in place) that tests of directives, scripts and
 * variables build on.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "http_conf.h"

void
bw_test_http_conf_init(bw_test_http_conf_t *hc)
{
    memset(hc, 0, sizeof(*hc));
    assert_true(bw_http_core_module.index < BW_TEST_CONFS);
    hc->pool = bw_pool_create(4096, &bw_log_stderr_log);
    assert_non_null(hc->pool);
    hc->cf.pool = hc->pool;
    hc->cf.temp_pool = hc->pool;
    hc->cf.log = &bw_log_stderr_log;
    hc->cf.ctx = &hc->ctx;
    hc->cf.ctx_type = BW_CTX_HTTP;
    hc->ctx.main_conf = hc->main_conf;
    hc->ctx.srv_conf = hc->srv_conf;
    hc->ctx.loc_conf = hc->loc_conf;
    hc->main_conf[bw_http_core_module.index] = &hc->cmcf;
    hc->srv_conf[bw_http_core_module.index] = &hc->cscf;
    hc->loc_conf[bw_http_core_module.index] = &hc->clcf;
}
