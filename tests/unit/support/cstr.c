/*
 * cstr.c -- counted strings over C string literals, for building test inputs.
 */
#include <string.h>

#include "support.h"

bw_str_t
bw_test_cstr(const char *s)
{
    bw_str_t v = {strlen(s), (u_char *) s};
    return v;
}
