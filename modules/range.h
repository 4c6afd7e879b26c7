/*
 * range.h -- byte ranges of responses (RFC 9110 section 14): the Range
 * header parser the range filter uses, exposed so that it can be tested on
 * its own.
 *
 * The filter itself (modules/range.c, module `range`) answers a 200 that
 * allows ranges with a 206 (one part, or multipart/byteranges), a 416 when
 * no range can be satisfied, or the whole 200 with "Accept-Ranges: bytes".
 */
#ifndef BW_RANGE_H
#define BW_RANGE_H

#include "array.h"
#include "str.h"

#include <sys/types.h>

/* One satisfiable range: bytes [start, end) of the representation. */
typedef struct {
    off_t    start;
    off_t    end;           /* exclusive */
    bw_str_t content_range; /* multipart: "S-E/T\r\n\r\n" for the part's head */
} bw_http_range_t;

/* A Range header that asks for nothing satisfiable (answer 416). */
#define BW_HTTP_RANGE_NOT_SATISFIABLE 416

/*
 * Parses the byte-range set of a Range header, `spec` being what follows
 * "bytes=" (spaces allowed around numbers, '-' and ','), against a body of
 * `length` bytes, appending each satisfiable range to `ranges` (an array of
 * bw_http_range_t) in the order asked. As nginx decides:
 *   BW_OK                          ranges holds at least one range
 *   BW_HTTP_RANGE_NOT_SATISFIABLE  a syntax error, or no range overlaps
 *   BW_DECLINED                    send the whole body: more than `max`
 *                                  ranges, ranges that add up to more than
 *                                  the body, or a range starting at 0 of an
 *                                  empty body
 *   BW_ERROR                       no memory
 */
bw_int_t bw_http_range_parse(const bw_str_t *spec, off_t length, size_t max,
                             bw_array_t *ranges);

#endif
