/*
 * origin_ctl.c -- starting and stopping bw_origin (tests/origin) from a test,
 * the slots behind %%ORIGIN_PORTn%%, the origin's counters, and the byte
 * pattern of the bodies it generates.
 */
#include "harness.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define BW_TEST_ORIGIN_MAX_ARGS 32

/* Running origins by slot: slot n (1-based) is %%ORIGIN_PORTn%%. */
static bw_test_origin_t *bw_test_origin_slots[BW_TEST_MAX_ORIGINS];

int bw_test_origin_slot_port(int n)
{
    if (n < 1 || n > BW_TEST_MAX_ORIGINS || bw_test_origin_slots[n - 1] == NULL) {
        return 0;
    }
    return bw_test_origin_slots[n - 1]->port;
}

/* Reads the first line the origin prints (its port) within the deadline. */
static int bw_test_origin_read_port(int fd, int64_t deadline)
{
    char   line[32];
    size_t n = 0;

    while (n < sizeof(line) - 1 && bw_test_now_ms() < deadline) {
        struct pollfd pfd = { fd, POLLIN, 0 };
        ssize_t       r;

        if (poll(&pfd, 1, (int) (deadline - bw_test_now_ms())) <= 0) {
            continue;
        }
        r = read(fd, line + n, 1);
        if (r <= 0) {
            return -1;
        }
        if (line[n] == '\n') {
            line[n] = '\0';
            return atoi(line);
        }
        n++;
    }
    return -1;
}

/* Puts origin into the lowest free slot. */
static void bw_test_origin_register(bw_test_origin_t *origin)
{
    for (int i = 0; i < BW_TEST_MAX_ORIGINS; i++) {
        if (bw_test_origin_slots[i] == NULL) {
            bw_test_origin_slots[i] = origin;
            return;
        }
    }
}

bw_test_origin_t *bw_test_origin_start_args(int *port, ...)
{
    const char       *argv[BW_TEST_ORIGIN_MAX_ARGS + 4];
    int               n = 0, p[2];
    bw_test_origin_t *origin;
    va_list           ap;

    argv[n++] = bw_test_origin_binary();
    argv[n++] = "-p";
    argv[n++] = "0";
    va_start(ap, port);
    for (const char *a = va_arg(ap, const char *); a != NULL; a = va_arg(ap, const char *)) {
        if (n == BW_TEST_ORIGIN_MAX_ARGS) {
            va_end(ap);
            return NULL;
        }
        argv[n++] = a;
    }
    va_end(ap);
    argv[n] = NULL;

    origin = calloc(1, sizeof(*origin));
    if (origin == NULL || pipe2(p, O_CLOEXEC) == -1) {
        free(origin);
        return NULL;
    }
    origin->pid = bw_test_proc_spawn(argv, -1, p[1], 2);
    close(p[1]);
    origin->port = origin->pid > 0
        ? bw_test_origin_read_port(p[0], bw_test_now_ms() + bw_test_timeout(BW_TEST_TIMEOUT_MS))
        : -1;
    close(p[0]);
    if (origin->port <= 0) {
        fprintf(stderr, "harness: %s did not report its port\n", argv[0]);
        if (origin->pid > 0) {
            kill(origin->pid, SIGKILL);
            bw_test_proc_reap(origin->pid, NULL, 5000);
        }
        free(origin);
        return NULL;
    }
    bw_test_origin_register(origin);
    if (port != NULL) {
        *port = origin->port;
    }
    return origin;
}

void bw_test_origin_stop(bw_test_origin_t *origin)
{
    int st = -1;
    int pid;

    if (origin == NULL) {
        return;
    }
    for (int i = 0; i < BW_TEST_MAX_ORIGINS; i++) {
        if (bw_test_origin_slots[i] == origin) {
            bw_test_origin_slots[i] = NULL;
        }
    }
    pid = origin->pid;
    free(origin);
    kill(pid, SIGTERM);
    if (!bw_test_proc_reap(pid, &st, bw_test_timeout(BW_TEST_TIMEOUT_MS))) {
        kill(pid, SIGKILL);
        bw_test_proc_reap(pid, &st, 5000);
        fail_msg("bw_origin %d did not exit on SIGTERM", pid);
    }
    if (st == -1 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        fail_msg("bw_origin %d ended badly (wait status %d)", pid, st);
    }
}

int bw_test_origin_stats(int port, long *requests, long *connections)
{
    bw_test_response_t r;
    const char        *p;
    int                rc = -1;

    if (bw_test_http_get(port, "/__origin/stats", &r) != 0) {
        return -1;
    }
    if (r.status == 200 && r.body != NULL) {
        p = strstr(r.body, "requests ");
        if (p != NULL && requests != NULL) {
            *requests = strtol(p + 9, NULL, 10);
        }
        p = strstr(r.body, "connections ");
        if (p != NULL && connections != NULL) {
            *connections = strtol(p + 12, NULL, 10);
        }
        rc = 0;
    }
    bw_test_response_free(&r);
    return rc;
}

char bw_test_pattern_byte(uint64_t offset)
{
    return (char) ('a' + offset % 26);
}

bool bw_test_pattern_check(const char *body, size_t len, uint64_t offset)
{
    for (size_t i = 0; i < len; i++) {
        if (body[i] != bw_test_pattern_byte(offset + i)) {
            return false;
        }
    }
    return true;
}
