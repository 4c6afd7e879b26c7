/*
 * module.c -- numbering of the generated module table and the process hooks
 * run over it in order.
 */
#include "module.h"

#include <string.h>

void
bw_module_init(void)
{
    bw_uint_t per_type[3] = {0, 0, 0};
    for (bw_uint_t i = 0; bw_modules[i]; i++) {
        bw_modules[i]->index = i;
        bw_modules[i]->ctx_index = per_type[bw_modules[i]->type]++;
    }
}

bw_module_t *
bw_module_find(const char *name)
{
    for (bw_uint_t i = 0; bw_modules[i]; i++) {
        if (strcmp(bw_modules[i]->name, name) == 0) {
            return bw_modules[i];
        }
    }
    return NULL;
}

bw_rc_t
bw_module_init_cycle(bw_cycle_t *cycle)
{
    for (bw_uint_t i = 0; bw_modules[i]; i++) {
        if (bw_modules[i]->init_cycle && bw_modules[i]->init_cycle(cycle) != BW_OK) {
            return BW_ERROR;
        }
    }
    return BW_OK;
}

bw_rc_t
bw_module_init_worker(bw_cycle_t *cycle)
{
    for (bw_uint_t i = 0; bw_modules[i]; i++) {
        if (bw_modules[i]->init_worker && bw_modules[i]->init_worker(cycle) != BW_OK) {
            return BW_ERROR;
        }
    }
    return BW_OK;
}

void
bw_module_exit_worker(bw_cycle_t *cycle)
{
    for (bw_uint_t i = 0; bw_modules[i]; i++) {
        if (bw_modules[i]->exit_worker) {
            bw_modules[i]->exit_worker(cycle);
        }
    }
}

void
bw_module_exit_master(bw_cycle_t *cycle)
{
    for (bw_uint_t i = 0; bw_modules[i]; i++) {
        if (bw_modules[i]->exit_master) {
            bw_modules[i]->exit_master(cycle);
        }
    }
}
