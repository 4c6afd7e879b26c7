/*
 * log_conf.c -- parsing the error_log directive's target and levels, shared
 * by the main-context directive and the http one.
 */
#include "log_conf.h"

#include "cycle.h"

#include <string.h>

/* The level named by the arguments from the third on: BW_OK with *level, or BW_ERROR. */
static bw_rc_t
bw_log_target_levels(bw_conf_t *cf, unsigned *level)
{
    bw_str_t *value = cf->args->elts;
    bool      have = false;

    *level = BW_LOG_ERR;
    for (size_t i = 2; i < cf->args->nelts; i++) {
        int l = bw_log_level_parse(&value[i]);
        if (l < 0 && value[i].len > 6 && memcmp(value[i].data, "debug_", 6) == 0) {
            l = BW_LOG_DEBUG; /* nginx's debug_http & co.: all debug here */
        }
        if (l < 0) {
            bw_conf_error(cf, "invalid log level \"%.*s\"", BW_STR_ARG(value[i]));
            return BW_ERROR;
        }
        if (have && l != BW_LOG_DEBUG) {
            bw_conf_error(cf, "duplicate log level \"%.*s\"", BW_STR_ARG(value[i]));
            return BW_ERROR;
        }
        have = true;
        *level = (unsigned) l;
    }
    return BW_OK;
}

bw_rc_t
bw_log_target_parse(bw_conf_t *cf, bw_log_t *log)
{
    bw_str_t *file = &bw_array_at(cf->args, bw_str_t, 1);
    unsigned  level;

    if (bw_log_target_levels(cf, &level) != BW_OK) {
        return BW_ERROR;
    }
    if (file->len >= 7
        && (memcmp(file->data, "syslog:", 7) == 0 || memcmp(file->data, "memory:", 7) == 0)) {
        bw_conf_error(cf, "%.6s error_log targets are not supported by bulwark",
                      (char *) file->data);
        return BW_ERROR;
    }

    bw_open_file_t *open_file = &bw_log_stderr_file;
    if (!bw_str_eq_lit(file, "stderr")) {
        open_file = bw_cycle_open_file(cf->cycle, file);
        if (open_file == NULL) {
            return BW_ERROR;
        }
    }
    log->level = level;
    log->file = open_file;
    return BW_OK;
}

void
bw_log_target_append(bw_log_t *head, bw_log_t *target)
{
    bw_log_t *last = head;

    while (last->next) {
        last = last->next;
    }
    last->next = target;
}
