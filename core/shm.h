/*
 * shm.h -- shared memory zones: named MAP_SHARED regions declared while the
 * configuration is parsed, mapped by the master before fork, and adopted by
 * the next cycle on reload when nothing about them changed.
 *
 * Life of a zone:
 *   1. parsing: a directive (`limit_req_zone ... zone=one:10m`) calls
 *      bw_shm_zone_add(), then sets zone->init and zone->data; a directive
 *      that only refers to a zone (`limit_req zone=one`) adds it with size 0.
 *   2. bw_shm_zones_create(cycle, old_cycle), in the master: each zone either
 *      takes over the old cycle's mapping (same name, size and tag) and is
 *      initialised with init(zone, old_zone->data), or gets a fresh mapping
 *      with a slab pool at its start and init(zone, NULL).
 *   3. commit: bw_shm_zones_release_unused(old_cycle, new_cycle) unmaps the
 *      old cycle's zones the new one did not take over; a failed reload calls
 *      bw_shm_zones_release_unused(new_cycle, old_cycle) instead.
 *   4. exit: bw_shm_zones_destroy(cycle).
 */
#ifndef BW_SHM_H
#define BW_SHM_H

#include "conf.h"
#include "cycle.h"
#include "slab.h"

/* Smallest zone a directive may declare (nginx: 8 pages). */
#define BW_SHM_ZONE_MIN_SIZE (8 * BW_SLAB_PAGE_SIZE)

/* Room for a bw_shm_zone_declare() error message. */
#define BW_SHM_ERR_LEN 256

struct bw_shm_zone_s {
    bw_str_t name;    /* cycle-pool copy, NUL-terminated */
    size_t   size;    /* bytes of the mapping; 0 while only referred to */
    void    *tag;     /* identifies the owner (module or directive): a zone is one owner's */
    void    *data;    /* the owner's: typically its conf-time context pointing into the
                         zone; handed to the next cycle's init as old_data on reuse */
    /*
     * Called in the master after mapping: old_data is the previous cycle's
     * zone->data when the mapping was taken over (the shared root is also in
     * bw_shm_zone_pool(zone)->data), NULL for a fresh zone, whose slab pool
     * is initialised and empty. BW_OK, or BW_ERROR after logging.
     */
    bw_rc_t (*init)(bw_shm_zone_t *zone, void *old_data);
    u_char  *addr;    /* the mapping, NULL until created; a bw_slab_pool_t at its start */
    bool     noreuse; /* never take over the old cycle's mapping */
};

/* The slab pool at the start of a created zone. */
#define bw_shm_zone_pool(zone) ((bw_slab_pool_t *) (zone)->addr)

/*
 * The pure part of bw_shm_zone_add: finds the zone `name` in
 * cycle->shared_memory or appends it. That array holds bw_shm_zone_t
 * pointers (each zone allocated from the cycle pool, so a zone's address
 * stays valid while more are declared); it is initialised here on first
 * use, also when the cycle set it up empty for another element size.
 * size 0 refers to a zone declared elsewhere; a later declaration
 * with a size sets it. Returns the zone, or NULL with a message (nginx's
 * wording, no " in file:line") written into err[errlen]:
 *   the shared memory zone "x" is already declared for a different use
 *   the size N of shared memory zone "x" conflicts with already declared size M
 *   zone "x" is too small                     (0 < size < BW_SHM_ZONE_MIN_SIZE)
 */
bw_shm_zone_t *bw_shm_zone_declare(bw_cycle_t *cycle, const bw_str_t *name, size_t size,
                                   void *tag, char *err, size_t errlen);

/*
 * Declares or refers to a zone while parsing a directive (see
 * bw_shm_zone_declare); errors are reported with bw_conf_error() and NULL
 * returned. The caller then sets init and data on a zone it declares.
 * Modules that print the whole argument when a zone is too small, as nginx
 * does (zone "zone=one:1k" is too small), check BW_SHM_ZONE_MIN_SIZE first.
 */
static inline bw_shm_zone_t *
bw_shm_zone_add(bw_conf_t *cf, const bw_str_t *name, size_t size, void *tag)
{
    char err[BW_SHM_ERR_LEN];
    bw_shm_zone_t *zone = bw_shm_zone_declare(cf->cycle, name, size, tag, err, sizeof(err));
    if (zone == NULL) {
        bw_conf_error(cf, "%s", err);
    }
    return zone;
}

/* The zone called `name` in the cycle, or NULL. */
bw_shm_zone_t *bw_shm_zone_find(bw_cycle_t *cycle, const bw_str_t *name);

/*
 * Checks the declarations once parsing is done: a zone that was only ever
 * referred to is `[emerg] zero size shared memory zone "x"` on cycle->log.
 * BW_OK or BW_ERROR (every such zone is reported).
 */
bw_rc_t bw_shm_zones_check(bw_cycle_t *cycle);

/*
 * Maps every zone of `cycle` (master, before fork), reusing old_cycle's
 * mapping for a zone of the same name, size and tag (unless noreuse), and
 * calls each zone's init. old_cycle may be NULL. Runs bw_shm_zones_check
 * first. On failure everything this call mapped is unmapped again (zones
 * taken over stay with old_cycle) and BW_ERROR returned after logging.
 * Sets bw_slab_log to cycle->log if it was not set yet.
 */
bw_rc_t bw_shm_zones_create(bw_cycle_t *cycle, bw_cycle_t *old_cycle);

/*
 * Unmaps the zones of `cycle` whose mapping `keep` does not use (keep may be
 * NULL: unmap all). After a reload: (old_cycle, new_cycle) on commit,
 * (new_cycle, old_cycle) on rollback. Points bw_slab_log at keep's log
 * (with no keep, resets it to NULL if it was cycle's).
 */
void bw_shm_zones_release_unused(bw_cycle_t *cycle, bw_cycle_t *keep);

/* Unmaps every zone of `cycle` (exit, tests). */
void bw_shm_zones_destroy(bw_cycle_t *cycle);

/*
 * For the master after reaping child `pid`: releases every zone lock that
 * pid held, logging `[alert] shared memory zone "x" was locked by <pid>` for
 * each. Returns how many were released.
 */
bw_uint_t bw_shm_zones_force_unlock(bw_cycle_t *cycle, pid_t pid);

#endif
