/*
 * shmtx.h -- a lock shared by processes, built on one atomic word that lives
 * in shared memory (a zone's slab header, or any MAP_SHARED mapping).
 *
 * The word holds 0 when the lock is free and the owner's pid while it is
 * held, so the master can tell which process holds a zone's lock and release
 * it when that process died (bw_shmtx_force_unlock). The lock is not
 * recursive, and is meant for short critical sections: a waiter spins a
 * little (on several CPUs), then yields, then sleeps in short naps.
 */
#ifndef BW_SHMTX_H
#define BW_SHMTX_H

#include "types.h"

typedef struct {
    pid_t    lock; /* 0: free; else the owner's pid. Only touched atomically. */
    uint32_t spin; /* pause rounds before yielding the CPU; 0: yield at once */
} bw_shmtx_t;

/* Default for bw_shmtx_t.spin. */
#define BW_SHMTX_SPIN 2048

/* Initialises a free lock in place (the word must be in shared memory to be shared). */
void bw_shmtx_init(bw_shmtx_t *mtx);

/* Takes the lock without waiting; true when it is now ours. */
bool bw_shmtx_trylock(bw_shmtx_t *mtx);

/* Takes the lock, waiting as long as needed: spin, then sched_yield, then short sleeps. */
void bw_shmtx_lock(bw_shmtx_t *mtx);

/* Releases the lock if this process holds it; false (nothing done) otherwise. */
bool bw_shmtx_unlock(bw_shmtx_t *mtx);

/*
 * Releases the lock only if `pid` holds it: for the master, after reaping a
 * child that died inside a critical section. True when it was released.
 */
bool bw_shmtx_force_unlock(bw_shmtx_t *mtx, pid_t pid);

/* The pid holding the lock, or 0 when free (a snapshot: it may change at once). */
pid_t bw_shmtx_owner(const bw_shmtx_t *mtx);

/* This process's pid as the lock records it (cached; refreshed in a forked child). */
pid_t bw_shmtx_pid(void);

#endif
