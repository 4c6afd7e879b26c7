/*
 * upstream_zone.h -- what the upstream_zone module (modules/upstream_zone.c)
 * leaves in a group's configuration: the shared memory zone named by
 * `zone name [size]` in its upstream{} block.
 *
 * Once the zones are mapped (before the workers start), the group's peer
 * lists live in that zone (see bw_upstream_rr_peers_share in
 * http/upstream_rr.h): every worker then balances over, and accounts
 * failures, connections and health-check verdicts in, the same peers. A
 * zone may hold several groups. Zones of upstream groups are never taken
 * over by a reload: a new configuration starts from fresh peer state.
 *
 * Other modules reach this without linking to it: the module is found with
 * bw_module_find("upstream_zone") and the conf below is
 * us->srv_conf[module->index] (NULL when the group has no zone).
 */
#ifndef BW_UPSTREAM_ZONE_H
#define BW_UPSTREAM_ZONE_H

#include "shm.h"
#include "upstream.h"

typedef struct {
    bw_shm_zone_t *zone;
} bw_upstream_zone_srv_conf_t;

/* The zone of group us, or NULL (also when the module is not built in). */
static inline bw_shm_zone_t *
bw_upstream_zone_of(const bw_upstream_srv_conf_t *us)
{
    const bw_module_t *m = bw_module_find("upstream_zone");

    if (m == NULL || us->srv_conf == NULL || us->srv_conf[m->index] == NULL) {
        return NULL;
    }
    return ((const bw_upstream_zone_srv_conf_t *) us->srv_conf[m->index])->zone;
}

#endif
