/*
 * queue.h -- intrusive circular doubly-linked list (LRU queues, idle lists).
 *
 * A bw_queue_t sentinel heads the list; elements embed a bw_queue_t and are
 * recovered with bw_queue_data().
 */
#ifndef BW_QUEUE_H
#define BW_QUEUE_H

#include "types.h"

typedef struct bw_queue_s bw_queue_t;
struct bw_queue_s {
    bw_queue_t *prev;
    bw_queue_t *next;
};

#define bw_queue_init(q)   do { (q)->prev = (q); (q)->next = (q); } while (0)
#define bw_queue_empty(h)  ((h) == (h)->prev)
#define bw_queue_head(h)   ((h)->next)
#define bw_queue_last(h)   ((h)->prev)
#define bw_queue_sentinel(h) (h)
#define bw_queue_next(q)   ((q)->next)
#define bw_queue_prev(q)   ((q)->prev)

/* Inserts x right after h (at the head). */
#define bw_queue_insert_head(h, x) \
    do { (x)->next = (h)->next; (x)->next->prev = (x); (x)->prev = (h); (h)->next = (x); } while (0)
/* Inserts x right before h (at the tail). */
#define bw_queue_insert_tail(h, x) \
    do { (x)->prev = (h)->prev; (x)->prev->next = (x); (x)->next = (h); (h)->prev = (x); } while (0)
#define bw_queue_remove(x) \
    do { (x)->next->prev = (x)->prev; (x)->prev->next = (x)->next; \
         (x)->prev = NULL; (x)->next = NULL; } while (0)

#define bw_queue_data(q, type, link) ((type *) ((u_char *) (q) - offsetof(type, link)))

#endif
