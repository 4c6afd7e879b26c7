/*
 * shmtx.c -- the process-shared lock: compare-and-swap of the owner's pid
 * into one word, with acquire/release ordering so the data the lock guards
 * is seen whole by the next owner.
 *
 * Waiting is in three stages, because holders are other processes that the
 * kernel may have descheduled: spin with a CPU pause while the holder is
 * likely running on another CPU (skipped on one CPU, where spinning only
 * delays the holder), then sched_yield, then sleep in naps that grow up to a
 * millisecond.
 */
#include "shmtx.h"

#include <pthread.h>
#include <sched.h>
#include <unistd.h>

#define BW_SHMTX_YIELDS  64   /* sched_yield rounds before sleeping */
#define BW_SHMTX_NAP_MIN 10   /* first nap, us */
#define BW_SHMTX_NAP_MAX 1000 /* longest nap, us */

static pid_t bw_shmtx_cached_pid;
static long bw_shmtx_ncpu;
static pthread_once_t bw_shmtx_once = PTHREAD_ONCE_INIT;

static void
bw_shmtx_pid_refresh(void)
{
    bw_shmtx_cached_pid = getpid();
}

/* Runs once per process image: caches pid and CPU count, refreshes pid after fork. */
static void
bw_shmtx_process_init(void)
{
    bw_shmtx_pid_refresh();
    bw_shmtx_ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    pthread_atfork(NULL, NULL, bw_shmtx_pid_refresh);
}

pid_t
bw_shmtx_pid(void)
{
    pthread_once(&bw_shmtx_once, bw_shmtx_process_init);
    return bw_shmtx_cached_pid;
}

static inline void
bw_shmtx_cpu_pause(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

void
bw_shmtx_init(bw_shmtx_t *mtx)
{
    __atomic_store_n(&mtx->lock, 0, __ATOMIC_RELEASE);
    mtx->spin = BW_SHMTX_SPIN;
}

bool
bw_shmtx_trylock(bw_shmtx_t *mtx)
{
    pid_t expected = 0;

    if (__atomic_load_n(&mtx->lock, __ATOMIC_RELAXED) != 0) {
        return false;
    }
    return __atomic_compare_exchange_n(&mtx->lock, &expected, bw_shmtx_pid(), false,
                                       __ATOMIC_ACQUIRE, __ATOMIC_RELAXED);
}

/* Spins with growing pause bursts while the lock stays taken; true if it was won. */
static bool
bw_shmtx_lock_spin(bw_shmtx_t *mtx)
{
    if (bw_shmtx_ncpu <= 1) {
        return false;
    }
    for (uint32_t n = 1; n && n < mtx->spin; n <<= 1) {
        for (uint32_t i = 0; i < n; i++) {
            bw_shmtx_cpu_pause();
        }
        if (bw_shmtx_trylock(mtx)) {
            return true;
        }
    }
    return false;
}

void
bw_shmtx_lock(bw_shmtx_t *mtx)
{
    if (bw_shmtx_trylock(mtx) || bw_shmtx_lock_spin(mtx)) {
        return;
    }
    for (int i = 0; i < BW_SHMTX_YIELDS; i++) {
        sched_yield();
        if (bw_shmtx_trylock(mtx)) {
            return;
        }
    }
    useconds_t nap = BW_SHMTX_NAP_MIN;
    for (;;) {
        usleep(nap);
        if (bw_shmtx_trylock(mtx)) {
            return;
        }
        nap = bw_min(nap * 2, BW_SHMTX_NAP_MAX);
    }
}

bool
bw_shmtx_unlock(bw_shmtx_t *mtx)
{
    pid_t expected = bw_shmtx_pid();

    return __atomic_compare_exchange_n(&mtx->lock, &expected, 0, false, __ATOMIC_RELEASE,
                                       __ATOMIC_RELAXED);
}

bool
bw_shmtx_force_unlock(bw_shmtx_t *mtx, pid_t pid)
{
    if (pid == 0) {
        return false;
    }
    return __atomic_compare_exchange_n(&mtx->lock, &pid, 0, false, __ATOMIC_RELEASE,
                                       __ATOMIC_RELAXED);
}

pid_t
bw_shmtx_owner(const bw_shmtx_t *mtx)
{
    return __atomic_load_n(&mtx->lock, __ATOMIC_RELAXED);
}
