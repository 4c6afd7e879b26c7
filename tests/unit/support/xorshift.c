/*
 * xorshift.c -- a small seeded pseudo-random sequence (xorshift64), so the
 * randomised feeds and operation mixes of the unit tests repeat exactly.
 */
#include "support.h"

uint32_t
bw_test_xorshift(uint64_t *state)
{
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    return (uint32_t) (*state >> 16);
}
