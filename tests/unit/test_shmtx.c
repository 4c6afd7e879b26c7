/*
 * test_shmtx.c -- the process-shared lock: exclusion across forked
 * processes, owner bookkeeping, and force-release of a lock whose holder
 * was killed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "shmtx.h"

typedef struct {
    bw_shmtx_t        mtx;
    volatile uint64_t counter; /* incremented non-atomically under the lock */
    volatile int      inside;  /* processes inside the critical section */
    volatile int      overlap; /* set if two were ever inside at once */
} bw_test_shared_t;

static int
bw_test_setup(void **state)
{
    void *p = mmap(NULL, sizeof(bw_test_shared_t), PROT_READ | PROT_WRITE,
                   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        return -1;
    }
    bw_test_shared_t *sh = p;
    bw_shmtx_init(&sh->mtx);
    *state = sh;
    return 0;
}

static int
bw_test_teardown(void **state)
{
    munmap(*state, sizeof(bw_test_shared_t));
    return 0;
}

static void
bw_test_wait_ok(pid_t pid)
{
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

static void
test_shmtx_trylock_excludes_second_taker(void **state)
{
    bw_test_shared_t *sh = *state;

    assert_int_equal(bw_shmtx_owner(&sh->mtx), 0);
    assert_true(bw_shmtx_trylock(&sh->mtx));
    assert_int_equal(bw_shmtx_owner(&sh->mtx), getpid());
    assert_int_equal(bw_shmtx_pid(), getpid());
    assert_false(bw_shmtx_trylock(&sh->mtx)); /* not recursive */
    assert_true(bw_shmtx_unlock(&sh->mtx));
    assert_int_equal(bw_shmtx_owner(&sh->mtx), 0);
    assert_false(bw_shmtx_unlock(&sh->mtx)); /* not held: nothing to release */
    assert_true(bw_shmtx_trylock(&sh->mtx));
    assert_true(bw_shmtx_unlock(&sh->mtx));
}

static void
test_shmtx_other_process_cannot_take_or_release_a_held_lock(void **state)
{
    bw_test_shared_t *sh = *state;

    bw_shmtx_lock(&sh->mtx);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        /* the child has its own pid: the lock is the parent's */
        int bad = bw_shmtx_pid() != getpid() || bw_shmtx_owner(&sh->mtx) != getppid()
                  || bw_shmtx_trylock(&sh->mtx) || bw_shmtx_unlock(&sh->mtx);
        _exit(bad);
    }
    bw_test_wait_ok(pid);
    assert_int_equal(bw_shmtx_owner(&sh->mtx), getpid());
    assert_true(bw_shmtx_unlock(&sh->mtx));
}

#define BW_TEST_PROCS 4
#define BW_TEST_INCS  20000

static void
test_shmtx_counter_incremented_by_many_processes_is_exact(void **state)
{
    bw_test_shared_t *sh = *state;
    pid_t pids[BW_TEST_PROCS];

    sh->counter = 0;
    for (int i = 0; i < BW_TEST_PROCS; i++) {
        pids[i] = fork();
        assert_true(pids[i] >= 0);
        if (pids[i] == 0) {
            for (int n = 0; n < BW_TEST_INCS; n++) {
                bw_shmtx_lock(&sh->mtx);
                if (sh->inside++ != 0) {
                    sh->overlap = 1;
                }
                uint64_t v = sh->counter; /* read-modify-write that races without the lock */
                if (n % 64 == 0) {
                    sched_yield();        /* get preempted while holding it, now and then */
                }
                sh->counter = v + 1;
                sh->inside--;
                if (!bw_shmtx_unlock(&sh->mtx)) {
                    _exit(3);
                }
            }
            _exit(0);
        }
    }
    for (int i = 0; i < BW_TEST_PROCS; i++) {
        bw_test_wait_ok(pids[i]);
    }
    assert_int_equal(sh->overlap, 0);
    assert_int_equal(sh->counter, (uint64_t) BW_TEST_PROCS * BW_TEST_INCS);
    assert_int_equal(bw_shmtx_owner(&sh->mtx), 0);
}

static void
test_shmtx_lock_waits_for_the_holder(void **state)
{
    bw_test_shared_t *sh = *state;
    int ready[2];

    assert_int_equal(pipe(ready), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        bw_shmtx_lock(&sh->mtx);
        sh->counter = 1;
        (void) !write(ready[1], "x", 1);
        usleep(100 * 1000);
        sh->counter = 2; /* the parent must see this once it holds the lock */
        _exit(bw_shmtx_unlock(&sh->mtx) ? 0 : 1);
    }
    char c;
    assert_int_equal(read(ready[0], &c, 1), 1);
    assert_int_equal(bw_shmtx_owner(&sh->mtx), pid);
    bw_shmtx_lock(&sh->mtx);
    assert_int_equal(sh->counter, 2);
    assert_int_equal(bw_shmtx_owner(&sh->mtx), getpid());
    assert_true(bw_shmtx_unlock(&sh->mtx));
    bw_test_wait_ok(pid);
    close(ready[0]);
    close(ready[1]);
}

static void
test_shmtx_force_unlock_releases_lock_of_killed_child(void **state)
{
    bw_test_shared_t *sh = *state;
    int ready[2];

    assert_int_equal(pipe(ready), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        bw_shmtx_lock(&sh->mtx);
        (void) !write(ready[1], "x", 1);
        for (;;) {
            pause(); /* dies holding the lock */
        }
    }
    char c;
    assert_int_equal(read(ready[0], &c, 1), 1);
    assert_int_equal(kill(pid, SIGKILL), 0);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status));

    /* the dead child still owns the word */
    assert_int_equal(bw_shmtx_owner(&sh->mtx), pid);
    assert_false(bw_shmtx_trylock(&sh->mtx));
    assert_false(bw_shmtx_force_unlock(&sh->mtx, pid + 1)); /* someone else: untouched */
    assert_false(bw_shmtx_force_unlock(&sh->mtx, 0));
    assert_int_equal(bw_shmtx_owner(&sh->mtx), pid);

    assert_true(bw_shmtx_force_unlock(&sh->mtx, pid));
    assert_int_equal(bw_shmtx_owner(&sh->mtx), 0);
    assert_false(bw_shmtx_force_unlock(&sh->mtx, pid)); /* already released */
    assert_true(bw_shmtx_trylock(&sh->mtx));
    assert_true(bw_shmtx_unlock(&sh->mtx));
    close(ready[0]);
    close(ready[1]);
}

static void
test_shmtx_force_unlock_leaves_a_live_holder_alone(void **state)
{
    bw_test_shared_t *sh = *state;

    bw_shmtx_lock(&sh->mtx);
    assert_false(bw_shmtx_force_unlock(&sh->mtx, getpid() + 1));
    assert_int_equal(bw_shmtx_owner(&sh->mtx), getpid());
    assert_true(bw_shmtx_unlock(&sh->mtx));
}

static void
test_shmtx_lock_without_spinning_still_excludes(void **state)
{
    bw_test_shared_t *sh = *state;
    pid_t pids[2];

    sh->mtx.spin = 0; /* yield at once, as on one CPU */
    sh->counter = 0;
    for (int i = 0; i < 2; i++) {
        pids[i] = fork();
        assert_true(pids[i] >= 0);
        if (pids[i] == 0) {
            for (int n = 0; n < 5000; n++) {
                bw_shmtx_lock(&sh->mtx);
                uint64_t v = sh->counter;
                sh->counter = v + 1;
                bw_shmtx_unlock(&sh->mtx);
            }
            _exit(0);
        }
    }
    for (int i = 0; i < 2; i++) {
        bw_test_wait_ok(pids[i]);
    }
    assert_int_equal(sh->counter, 10000);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_shmtx_trylock_excludes_second_taker, bw_test_setup,
                                        bw_test_teardown),
        cmocka_unit_test_setup_teardown(test_shmtx_other_process_cannot_take_or_release_a_held_lock,
                                        bw_test_setup, bw_test_teardown),
        cmocka_unit_test_setup_teardown(test_shmtx_counter_incremented_by_many_processes_is_exact,
                                        bw_test_setup, bw_test_teardown),
        cmocka_unit_test_setup_teardown(test_shmtx_lock_waits_for_the_holder, bw_test_setup,
                                        bw_test_teardown),
        cmocka_unit_test_setup_teardown(test_shmtx_force_unlock_releases_lock_of_killed_child,
                                        bw_test_setup, bw_test_teardown),
        cmocka_unit_test_setup_teardown(test_shmtx_force_unlock_leaves_a_live_holder_alone,
                                        bw_test_setup, bw_test_teardown),
        cmocka_unit_test_setup_teardown(test_shmtx_lock_without_spinning_still_excludes,
                                        bw_test_setup, bw_test_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
