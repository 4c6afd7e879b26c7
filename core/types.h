/*
 * types.h -- forward typedefs and return codes shared by every layer.
 *
 * Every other header includes this one first; it holds no behaviour.
 */
#ifndef BW_TYPES_H
#define BW_TYPES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

typedef intptr_t  bw_int_t;
typedef uintptr_t bw_uint_t;
typedef unsigned char u_char;

/* Milliseconds, monotonic unless said otherwise. */
typedef int64_t bw_msec_t;

/*
 * Control codes returned by functions that may need the caller to act.
 * Only HTTP phase handlers may also return an HTTP status >= 100.
 */
typedef int bw_rc_t;
#define BW_OK        0
#define BW_ERROR    -1
#define BW_AGAIN    -2  /* would block: call again when the fd is ready */
#define BW_BUSY     -3
#define BW_DONE     -4  /* handled, stop processing */
#define BW_DECLINED -5  /* not mine: try the next handler */

typedef struct bw_pool_s       bw_pool_t;
typedef struct bw_log_s        bw_log_t;
typedef struct bw_cycle_s      bw_cycle_t;
typedef struct bw_conf_s       bw_conf_t;
typedef struct bw_module_s     bw_module_t;
typedef struct bw_directive_s  bw_directive_t;
typedef struct bw_buf_s        bw_buf_t;
typedef struct bw_chain_s      bw_chain_t;
typedef struct bw_event_s      bw_event_t;
typedef struct bw_connection_s bw_connection_t;
typedef struct bw_listening_s  bw_listening_t;
typedef struct bw_shm_zone_s   bw_shm_zone_t;
typedef struct bw_slab_pool_s  bw_slab_pool_t;

#define bw_align(d, a)     (((d) + ((a) - 1)) & ~((a) - 1))
#define bw_align_ptr(p, a) (u_char *) (((uintptr_t) (p) + ((uintptr_t) (a) - 1)) & ~((uintptr_t) (a) - 1))
#define bw_nelems(a)       (sizeof(a) / sizeof((a)[0]))
#define bw_min(a, b)       ((a) < (b) ? (a) : (b))
#define bw_max(a, b)       ((a) > (b) ? (a) : (b))

#define BW_ALIGNMENT sizeof(uintptr_t)

#endif
