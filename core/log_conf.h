/*
 * log_conf.h -- the arguments of the error_log directive ("file [level
 * ...]"), parsed the same way wherever the directive is allowed (main
 * context, http, server, location).
 */
#ifndef BW_LOG_CONF_H
#define BW_LOG_CONF_H

#include "conf.h"
#include "log.h"

/*
 * Reads the current directive's arguments (cf->args: name, file, levels)
 * into log: the level (default "error"; nginx's debug_http & co. mean
 * debug; a second level other than a debug one is a duplicate) and the file
 * ("stderr" is fd 2, any other name is opened through the cycle). syslog:
 * and memory: targets are refused. BW_OK, or BW_ERROR after logging why;
 * log is left untouched then. log->next is not touched.
 */
bw_rc_t bw_log_target_parse(bw_conf_t *cf, bw_log_t *log);

/* Appends target at the end of the list of targets that starts with head. */
void bw_log_target_append(bw_log_t *head, bw_log_t *target);

#endif
