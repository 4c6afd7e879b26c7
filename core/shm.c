/*
 * shm.c -- declaring, mapping, reusing and releasing shared memory zones.
 *
 * Zones are anonymous MAP_SHARED mappings made by the master before it
 * forks workers, so all processes see them at the same address. On reload
 * the master builds the new cycle's zones beside the old ones; a zone whose
 * name, size and owner are unchanged keeps its mapping, so rate-limit state,
 * cache index and sessions survive a reload.
 *
 * cycle->shared_memory holds pointers to zones allocated one by one from
 * the cycle pool: modules keep a zone's address in their configuration, so
 * a zone must not move when the array grows.
 */
#include "shm.h"

#include "pool.h"

#include <stdio.h>
#include <sys/mman.h>

/* Number of zones of a cycle (none when the array was never initialised). */
static size_t
bw_shm_zones_n(const bw_cycle_t *cycle)
{
    return cycle && cycle->shared_memory.elts ? cycle->shared_memory.nelts : 0;
}

static bw_shm_zone_t *
bw_shm_zone_at(const bw_cycle_t *cycle, size_t i)
{
    return ((bw_shm_zone_t **) cycle->shared_memory.elts)[i];
}

bw_shm_zone_t *
bw_shm_zone_find(bw_cycle_t *cycle, const bw_str_t *name)
{
    for (size_t i = 0; i < bw_shm_zones_n(cycle); i++) {
        if (bw_str_eq(&bw_shm_zone_at(cycle, i)->name, name)) {
            return bw_shm_zone_at(cycle, i);
        }
    }
    return NULL;
}

/* A declaration of a zone already in the list: same owner, compatible size. */
static bw_shm_zone_t *
bw_shm_zone_redeclare(bw_shm_zone_t *zone, size_t size, void *tag, char *err, size_t errlen)
{
    if (zone->tag != tag) {
        snprintf(err, errlen,
                 "the shared memory zone \"%.*s\" is already declared for a different use",
                 BW_STR_ARG(zone->name));
        return NULL;
    }
    if (zone->size == 0) {
        zone->size = size;
    }
    if (size && size != zone->size) {
        snprintf(err, errlen,
                 "the size %zu of shared memory zone \"%.*s\" conflicts with already declared"
                 " size %zu",
                 size, BW_STR_ARG(zone->name), zone->size);
        return NULL;
    }
    return zone;
}

/* Allocates a zone in the cycle pool and appends its pointer; NULL on no memory. */
static bw_shm_zone_t *
bw_shm_zone_append(bw_cycle_t *cycle, const bw_str_t *name)
{
    bw_array_t *zones = &cycle->shared_memory;

    /* (re)initialise an empty list whose elements are not zone pointers */
    if ((zones->elts == NULL || (zones->nelts == 0 && zones->size != sizeof(bw_shm_zone_t *)))
        && bw_array_init(zones, cycle->pool, 8, sizeof(bw_shm_zone_t *)) != BW_OK) {
        return NULL;
    }
    bw_shm_zone_t *zone = bw_pcalloc(cycle->pool, sizeof(bw_shm_zone_t));
    if (zone == NULL || bw_pstrcopy(cycle->pool, &zone->name, name) != BW_OK) {
        return NULL;
    }
    bw_shm_zone_t **slot = bw_array_push(zones);
    if (slot == NULL) {
        return NULL;
    }
    *slot = zone;
    return zone;
}

bw_shm_zone_t *
bw_shm_zone_declare(bw_cycle_t *cycle, const bw_str_t *name, size_t size, void *tag, char *err,
                    size_t errlen)
{
    if (size && size < BW_SHM_ZONE_MIN_SIZE) {
        snprintf(err, errlen, "zone \"%.*s\" is too small", BW_STR_ARG(*name));
        return NULL;
    }

    bw_shm_zone_t *zone = bw_shm_zone_find(cycle, name);
    if (zone) {
        return bw_shm_zone_redeclare(zone, size, tag, err, errlen);
    }

    zone = bw_shm_zone_append(cycle, name);
    if (zone == NULL) {
        snprintf(err, errlen, "out of memory declaring shared memory zone \"%.*s\"",
                 BW_STR_ARG(*name));
        return NULL;
    }
    zone->size = size;
    zone->tag = tag;
    return zone;
}

bw_rc_t
bw_shm_zones_check(bw_cycle_t *cycle)
{
    bw_rc_t rc = BW_OK;

    for (size_t i = 0; i < bw_shm_zones_n(cycle); i++) {
        bw_shm_zone_t *zone = bw_shm_zone_at(cycle, i);
        if (zone->size == 0) {
            bw_log_error(BW_LOG_EMERG, cycle->log, 0, "zero size shared memory zone \"%.*s\"",
                         BW_STR_ARG(zone->name));
            rc = BW_ERROR;
        }
    }
    return rc;
}

/* The old cycle's zone that `zone` may take over, or NULL. */
static bw_shm_zone_t *
bw_shm_zone_reusable(bw_shm_zone_t *zone, bw_cycle_t *old_cycle)
{
    if (old_cycle == NULL || zone->noreuse) {
        return NULL;
    }
    bw_shm_zone_t *old = bw_shm_zone_find(old_cycle, &zone->name);
    if (old == NULL || old->addr == NULL || old->size != zone->size || old->tag != zone->tag) {
        return NULL;
    }
    return old;
}

/* Maps a fresh zone and lays out its slab pool. */
static bw_rc_t
bw_shm_zone_map(bw_cycle_t *cycle, bw_shm_zone_t *zone)
{
    void *addr = mmap(NULL, zone->size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (addr == MAP_FAILED) {
        bw_log_error(BW_LOG_CRIT, cycle->log, errno, "mmap(MAP_ANONYMOUS|MAP_SHARED, %zu) failed",
                     zone->size);
        return BW_ERROR;
    }
    zone->addr = addr;

    bw_slab_pool_t *pool = addr;
    pool->end = zone->addr + zone->size;
    bw_slab_init(pool);
    snprintf(pool->name, sizeof(pool->name), "%.*s", BW_STR_ARG(zone->name));
    return BW_OK;
}

static void
bw_shm_zone_unmap(bw_cycle_t *cycle, bw_shm_zone_t *zone)
{
    if (zone->addr == NULL) {
        return;
    }
    if (munmap(zone->addr, zone->size) == -1) {
        bw_log_error(BW_LOG_CRIT, cycle->log, errno, "munmap(%p, %zu) failed", (void *) zone->addr,
                     zone->size);
    }
    zone->addr = NULL;
}

/* Unmaps zones [0, n) of `cycle` that were freshly mapped (not taken from old_cycle). */
static void
bw_shm_zones_unwind(bw_cycle_t *cycle, bw_cycle_t *old_cycle, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        bw_shm_zone_t *zone = bw_shm_zone_at(cycle, i);
        bw_shm_zone_t *old = bw_shm_zone_reusable(zone, old_cycle);
        if (old && old->addr == zone->addr) {
            zone->addr = NULL; /* still the old cycle's */
            continue;
        }
        bw_shm_zone_unmap(cycle, zone);
    }
}

bw_rc_t
bw_shm_zones_create(bw_cycle_t *cycle, bw_cycle_t *old_cycle)
{
    if (bw_shm_zones_check(cycle) != BW_OK) {
        return BW_ERROR;
    }
    if (bw_slab_log == NULL) {
        bw_slab_log = cycle->log;
    }

    for (size_t i = 0; i < bw_shm_zones_n(cycle); i++) {
        bw_shm_zone_t *zone = bw_shm_zone_at(cycle, i);
        bw_shm_zone_t *old = bw_shm_zone_reusable(zone, old_cycle);
        void *old_data = NULL;

        if (old) {
            zone->addr = old->addr;
            old_data = old->data;
        } else if (bw_shm_zone_map(cycle, zone) != BW_OK) {
            bw_shm_zones_unwind(cycle, old_cycle, i);
            return BW_ERROR;
        }

        if (zone->init && zone->init(zone, old_data) != BW_OK) {
            bw_shm_zones_unwind(cycle, old_cycle, i + 1);
            return BW_ERROR;
        }
    }
    return BW_OK;
}

/* True when some zone of `cycle` uses the mapping at addr. */
static bool
bw_shm_zones_uses(const bw_cycle_t *cycle, const u_char *addr)
{
    for (size_t i = 0; i < bw_shm_zones_n(cycle); i++) {
        if (bw_shm_zone_at(cycle, i)->addr == addr) {
            return true;
        }
    }
    return false;
}

void
bw_shm_zones_release_unused(bw_cycle_t *cycle, bw_cycle_t *keep)
{
    for (size_t i = 0; i < bw_shm_zones_n(cycle); i++) {
        bw_shm_zone_t *zone = bw_shm_zone_at(cycle, i);
        if (zone->addr && bw_shm_zones_uses(keep, zone->addr)) {
            zone->addr = NULL; /* now keep's */
            continue;
        }
        bw_shm_zone_unmap(cycle, zone);
    }
    if (keep) {
        bw_slab_log = keep->log;
    } else if (bw_slab_log == cycle->log) {
        bw_slab_log = NULL; /* the log may go away with the cycle */
    }
}

void
bw_shm_zones_destroy(bw_cycle_t *cycle)
{
    bw_shm_zones_release_unused(cycle, NULL);
}

bw_uint_t
bw_shm_zones_force_unlock(bw_cycle_t *cycle, pid_t pid)
{
    bw_uint_t n = 0;

    for (size_t i = 0; i < bw_shm_zones_n(cycle); i++) {
        bw_shm_zone_t *zone = bw_shm_zone_at(cycle, i);
        if (zone->addr && bw_shmtx_force_unlock(&bw_shm_zone_pool(zone)->mutex, pid)) {
            bw_log_error(BW_LOG_ALERT, cycle->log, 0,
                         "shared memory zone \"%.*s\" was locked by %d", BW_STR_ARG(zone->name),
                         (int) pid);
            n++;
        }
    }
    return n;
}
