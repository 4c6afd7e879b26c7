/*
 * main.c -- the command line: -c -p -g -e -t -T -q -s -v -V -h, as nginx.
 * Hands off to cycle creation and the master (or single) process.
 */
#include "conf.h"
#include "listen.h"
#include "cycle.h"
#include "module.h"
#include "process.h"

#include <openssl/crypto.h>
#include <openssl/opensslv.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define BW_NGINX_VERSION "1.31.5"

#ifndef BW_PREFIX
#define BW_PREFIX "/usr/local/bulwark/"
#endif
#define BW_CONF_PATH "conf/bulwark.conf"

typedef struct {
    bool        help, version, version_full, test, dump, quiet;
    const char *prefix, *conf, *param, *errlog, *signal;
} bw_main_opts_t;

static void
bw_main_usage(void)
{
    fprintf(stderr,
            "Usage: bulwark [-?hvVtTq] [-s signal] [-p prefix]\n"
            "             [-e filename] [-c filename] [-g directives]\n\n"
            "Options:\n"
            "  -?,-h         : this help\n"
            "  -v            : show version and exit\n"
            "  -V            : show version and configure options then exit\n"
            "  -t            : test configuration and exit\n"
            "  -T            : test configuration, dump it and exit\n"
            "  -q            : suppress non-error messages during configuration testing\n"
            "  -s signal     : send signal to a master process: stop, quit, reopen, reload\n"
            "  -p prefix     : set prefix path (default: %s)\n"
            "  -e filename   : set error log file (default: logs/error.log)\n"
            "  -c filename   : set configuration file (default: %s)\n"
            "  -g directives : set global directives out of configuration file\n\n",
            BW_PREFIX, BW_CONF_PATH);
}

static void
bw_main_version(bool full)
{
    fprintf(stderr, "bulwark version: bulwark/%s\n", BW_VERSION);
    fprintf(stderr, "nginx version: nginx/%s\n", BW_NGINX_VERSION);
    if (!full) {
        return;
    }
    fprintf(stderr, "built by %s\n", BW_CC);
    fprintf(stderr, "built with %s (running with %s)\n", OPENSSL_VERSION_TEXT,
            OpenSSL_version(OPENSSL_VERSION));
    fprintf(stderr, "TLS SNI support enabled\n");
    fprintf(stderr, "configure arguments: --prefix=%s%s%s\n", BW_PREFIX,
            bw_modules_configure_args[0] ? " " : "", bw_modules_configure_args);
}

/* nginx-style flags: several may share one dash ("-tq"); values may be glued ("-cfile"). */
static int
bw_main_parse_args(int argc, char **argv, bw_main_opts_t *o)
{
    for (int i = 1; i < argc; i++) {
        const char *p = argv[i];
        if (*p++ != '-') {
            bw_log_stderr(BW_LOG_STDERR, 0, "invalid option: \"%s\"", argv[i]);
            return -1;
        }
        while (*p) {
            const char **val = NULL;
            switch (*p++) {
            case '?': case 'h': o->help = true; break;
            case 'v': o->version = true; break;
            case 'V': o->version = o->version_full = true; break;
            case 't': o->test = true; break;
            case 'T': o->test = o->dump = true; break;
            case 'q': o->quiet = true; break;
            case 'p': val = &o->prefix; break;
            case 'c': val = &o->conf; break;
            case 'g': val = &o->param; break;
            case 'e': val = &o->errlog; break;
            case 's': val = &o->signal; break;
            default:
                bw_log_stderr(BW_LOG_STDERR, 0, "invalid option: \"%c\"", p[-1]);
                return -1;
            }
            if (val == NULL) {
                continue;
            }
            if (*p) {
                *val = p;
            } else if (i + 1 < argc) {
                *val = argv[++i];
            } else {
                bw_log_stderr(BW_LOG_STDERR, 0, "option \"-%c\" requires %s", p[-1],
                              p[-1] == 's' ? "signal name" : p[-1] == 'g' ? "directives"
                              : p[-1] == 'p' ? "directory name" : "file name");
                return -1;
            }
            break;
        }
    }
    if (o->signal && bw_process_signal_number(o->signal) < 0) {
        bw_log_stderr(BW_LOG_STDERR, 0, "invalid option: \"-s %s\"", o->signal);
        return -1;
    }
    return 0;
}

static void
bw_main_set(bw_str_t *dst, const char *src)
{
    dst->data = (u_char *) src;
    dst->len = src ? strlen(src) : 0;
}

static void
bw_main_dump(void)
{
    if (bw_cycle_dumped == NULL) {
        return;
    }
    bw_conf_file_t *files = bw_cycle_dumped->elts;
    for (size_t i = 0; i < bw_cycle_dumped->nelts; i++) {
        printf("# configuration file %.*s:\n", BW_STR_ARG(files[i].name));
        size_t len = (size_t) (files[i].end - files[i].start);
        fwrite(files[i].start, 1, len, stdout);
        putchar('\n'); /* as nginx -T: one newline after each file's content */
    }
    fflush(stdout);
}

int
main(int argc, char **argv)
{
    bw_main_opts_t o;
    memset(&o, 0, sizeof(o));
    bw_argv = argv;

    if (bw_main_parse_args(argc, argv, &o) != 0) {
        return 1;
    }
    if (o.version) {
        bw_main_version(o.version_full);
    }
    if (o.help) {
        bw_main_usage();
    }
    if (o.version || o.help) {
        return 0;
    }
    bw_log_quiet = o.quiet;
    bw_module_init();

    bw_cycle_params_t *params = &bw_process_params;
    bw_main_set(&params->prefix, o.prefix ? o.prefix : BW_PREFIX);
    bw_main_set(&params->conf_file, o.conf ? o.conf : BW_CONF_PATH);
    bw_main_set(&params->conf_param, o.param);
    bw_main_set(&params->error_log, o.errlog);
    params->test = o.test || o.signal;
    params->dump = o.dump;

    /* Started by an old master's USR2: adopt the sockets it handed over. */
    if (!params->test && getenv("BULWARK") && bw_listening_inherit(NULL) != BW_OK) {
        return 1;
    }
    bw_cycle_t *cycle = bw_cycle_create(params, NULL);
    if (o.test) {
        const char *file = cycle ? (char *) cycle->conf_file.data : NULL;
        char buf[4096];
        if (file == NULL) {
            snprintf(buf, sizeof(buf), "%s%s", o.conf && o.conf[0] == '/' ? "" :
                     (o.prefix ? o.prefix : BW_PREFIX), o.conf ? o.conf : BW_CONF_PATH);
            bw_log_stderr(BW_LOG_STDERR, 0,
                          "configuration file %s test failed", buf);
            return 1;
        }
        if (!o.quiet) {
            bw_log_stderr(BW_LOG_STDERR, 0, "the configuration file %s syntax is ok", file);
            bw_log_stderr(BW_LOG_STDERR, 0, "configuration file %s test is successful", file);
        }
        if (o.dump) {
            bw_main_dump();
        }
        bw_cycle_destroy(cycle);
        return 0;
    }
    if (cycle == NULL) {
        return 1;
    }
    if (o.signal) {
        int rc = bw_process_signal_send(cycle, o.signal);
        bw_cycle_destroy(cycle);
        return rc;
    }
    bw_cycle = cycle;
    if (bw_core_conf(cycle)->master) {
        return bw_master_run(cycle);
    }
    return bw_single_run(cycle);
}
