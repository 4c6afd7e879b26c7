/*
 * stderr_capture.c -- redirect fd 2 into a temporary file and read it back,
 * so a unit test can check messages (nginx's wording) word for word.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <unistd.h>

#include <cmocka.h>

#include "support.h"

static FILE *bw_test_err_file;
static int   bw_test_err_saved = -1;

void
bw_test_stderr_begin(void)
{
    fflush(stderr);
    bw_test_err_file = tmpfile();
    assert_non_null(bw_test_err_file);
    bw_test_err_saved = dup(2);
    dup2(fileno(bw_test_err_file), 2);
}

const char *
bw_test_stderr_end(void)
{
    static char buf[16384];

    fflush(stderr);
    dup2(bw_test_err_saved, 2);
    close(bw_test_err_saved);
    rewind(bw_test_err_file);
    size_t n = fread(buf, 1, sizeof(buf) - 1, bw_test_err_file);
    buf[n] = '\0';
    fclose(bw_test_err_file);
    return buf;
}
