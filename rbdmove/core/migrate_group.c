/* SPDX-License-Identifier: MIT */
/*
 * rbdmove/core/migrate_group.c: several volumes of one server moved with one
 * cutover (see migrate.h): the list of a server's data volumes, then each
 * volume replicates as in migrate.c, and the detaches, final rounds and
 * attaches run side by side so that the downtime is that of the slowest.
 */
#include "rbdmove/core/migrate.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "openstack/nova.h"
#include "rbdmove/base/buf.h"
#include "rbdmove/base/cancel.h"
#include "rbdmove/core/journal.h"
#include "rbdmove/core/migrate_int.h"
#include "rbdmove/core/replicate.h"
#include "rbdmove/base/strutil.h"
#include "rbdmove/base/xalloc.h"

static bool is_boot_device(const char *dev)
{
    size_t n = dev ? strlen(dev) : 0;

    /* /dev/vda, /dev/sda, /dev/xvda, /dev/hda: what Nova boots from. */
    return n >= 2 && !strcmp(dev + n - 2, "da");
}

static int cmp_device(const void *a, const void *b)
{
    const struct nova_attachment *x = a, *y = b;

    return strcmp(x->device ? x->device : "", y->device ? y->device : "");
}

int migrate_server_volumes(const struct plan_options *po, const char *server,
                           char ***ids, size_t *n, char *server_id,
                           struct error *err)
{
    struct plan_options o = *po;
    struct nova_attachment *a = NULL;
    struct nova_server s;
    struct buf why = BUF_INIT;
    struct plan *p;
    size_t cnt = 0;
    int ret = -1;

    *ids = NULL;
    *n = 0;
    memset(&s, 0, sizeof(s));
    o.volume = NULL;
    o.dst_server = NULL;
    p = plan_build(&o);
    if (!p->src.nova) {
        move_preflight_failed(p, "no compute service", err);
        goto out;
    }
    if (nova_server_find(p->src.nova, server, &s, err) < 0 ||
        nova_attachments_list(p->src.nova, s.id, &a, &cnt, err) < 0)
        goto out;
    if (server_id)
        snprintf(server_id, 37, "%s", s.id);
    qsort(a, cnt, sizeof(*a), cmp_device);
    for (size_t i = 0; i < cnt; i++) {
        if (is_boot_device(a[i].device))
            continue;
        *ids = xrealloc(*ids, (*n + 1) * sizeof(char *));
        (*ids)[(*n)++] = xstrdup(a[i].volume_id);
    }
    if (*n == 0) {
        error_set(err, ERROR_STATE, 0,
                  "server %s has no data volume to move (its boot disk "
                  "cannot be detached)",
                  s.id);
        goto out;
    }
    ret = 0;
out:
    nova_attachments_free(a, cnt);
    nova_server_release(&s);
    buf_release(&why);
    plan_free(p);
    return ret;
}

/* ---- several volumes, one cutover -------------------------------------------
 */

/* Undo a group's cutover: every destination already attached is detached
 * again, every detached source re-attached. */
static int group_rollback(struct move **ms, size_t n, const struct error *why,
                          struct error *err)
{
    struct error first = *why;
    bool reported = false;
    int ret = -1;

    for (size_t i = 0; i < n; i++) {
        struct move *m = ms[i];
        struct error e = ERROR_INIT;

        if (m->rec.phase == MOVE_DETACHING || m->rec.phase == MOVE_DETACHED ||
            m->rec.phase == MOVE_ATTACHING || m->rec.phase == MOVE_ATTACHED) {
            /* move_rollback() always fails, saying what it did: keep the
             * first account, the others are in the journals. */
            if (move_rollback(m, &first, &e) < 0 && !reported) {
                *err = e;
                reported = true;
            }
        }
    }
    if (!reported)
        *err = first;
    return ret;
}

static int group_cutover(struct move **ms, size_t n, struct error *err)
{
    struct error e = ERROR_INIT;
    double t0 = 0; /* the downtime's start; 0: in an earlier run */
    bool fresh = true;
    size_t i;

    for (i = 0; i < n; i++)
        fresh = fresh && ms[i]->rec.phase == MOVE_REPLICATING &&
                !ms[i]->detach_done;
    if (fresh)
        t0 = time_now();

    for (i = 0; i < n; i++) {
        if (ms[i]->rec.phase != MOVE_DETACHED &&
            ms[i]->rec.phase != MOVE_ATTACHING &&
            move_check_dst_server(ms[i], err) < 0)
            return -1;
        /* As cutover() in migrate.c: the writes back before the detach. */
        if (move_throttle_release(ms[i], err) < 0)
            return error_prefix(err, "nothing was cut over");
        replicate_set_cancel(ms[i]->repl, NULL, NULL);
    }
    /* Every request first, then every wait: the volumes detach (and
     * attach) side by side, and the downtime is that of the slowest. */
    for (i = 0; i < n; i++) {
        if ((ms[i]->rec.phase == MOVE_REPLICATING ||
             ms[i]->rec.phase == MOVE_DETACHING) &&
            move_detach_request(ms[i], &e) < 0)
            return group_rollback(ms, n, &e, err);
    }
    for (i = 0; i < n; i++) {
        if (ms[i]->rec.phase == MOVE_DETACHING &&
            move_detach_wait(ms[i], t0, &e) < 0)
            return group_rollback(ms, n, &e, err);
    }
    for (i = 0; i < n; i++) {
        if (ms[i]->rec.phase == MOVE_DETACHED &&
            move_final_verify(ms[i], &e) < 0)
            return group_rollback(ms, n, &e, err);
    }
    for (i = 0; i < n; i++) {
        struct move *m = ms[i];

        if (m->rec.phase != MOVE_ATTACHING)
            continue;
        move_attach_started(m);
        if (move_attach_request(m->plan->dst.nova, m->rec.dst.server,
                                m->rec.dst.volume, NULL, &m->rep->dst_device,
                                &e) < 0)
            return group_rollback(ms, n, &e, err);
        move_test_hold(m, "attach-requested");
    }
    for (i = 0; i < n; i++) {
        struct move *m = ms[i];

        if (m->rec.phase != MOVE_ATTACHING)
            continue;
        if (move_wait_volume(m->plan->dst.cinder, m->rec.dst.volume, "in-use",
                             m->o->attach_timeout, &e) < 0 ||
            move_attach_done(m, t0, &e) < 0)
            return group_rollback(ms, n, &e, err);
    }
    return 0;
}

int migrate_run_group(struct journal **js, size_t n,
                      const struct migrate_opts *os,
                      struct migrate_report *reps, struct error *err)
{
    struct move *ms = xcalloc(n, sizeof(*ms));
    struct move **live = xcalloc(n, sizeof(*live));
    size_t i, nlive = 0;
    int ret = -1;

    for (i = 0; i < n; i++) {
        memset(&reps[i], 0, sizeof(reps[i]));
        move_init(&ms[i], js[i], &os[i], &reps[i]);
    }
    for (i = 0; i < n; i++) {
        if (move_record_load(js[i], &ms[i].rec, err) < 0 ||
            move_throttle_release(&ms[i], err) < 0)
            goto out;
        if (ms[i].rec.phase == MOVE_ABORTED) {
            error_set(err, ERROR_STATE, 0, "move %s was aborted",
                      journal_id(js[i]));
            goto out;
        }
        if (ms[i].rec.phase == MOVE_DONE)
            continue;
        if (move_preflight(&ms[i], ms[i].rec.phase != MOVE_NONE, err) < 0)
            goto out;
    }
    /* Each volume replicates until it is ready; then a last look at the
     * first ones, which kept changing while the others caught up. */
    for (i = 0; i < n; i++) {
        if (ms[i].plan && move_prepare(&ms[i], err) < 0)
            goto out;
        /* The next volumes may take long (a seed): their server keeps its
         * writes meanwhile; the last look limits them again if need be. */
        if (i + 1 < n && move_throttle_release(&ms[i], err) < 0)
            goto out;
    }
    for (i = 0; i + 1 < n; i++) {
        if (ms[i].plan && ms[i].rec.phase == MOVE_REPLICATING &&
            move_converge(&ms[i], err) < 0)
            goto out;
    }
    for (i = 0; i < n; i++) {
        if (ms[i].plan && move_phase_in_cutover(ms[i].rec.phase))
            live[nlive++] = &ms[i];
    }
    /* As cutover() in migrate.c: finish, or roll back, whatever signal. */
    cancel_defer();
    ret = nlive ? group_cutover(live, nlive, err) : 0;
    cancel_resume();
    if (ret < 0)
        goto out;
    ret = -1;
    for (i = 0; i < n; i++) {
        if (ms[i].plan && ms[i].rec.phase == MOVE_ATTACHED &&
            move_cleanup(&ms[i], err) < 0)
            goto out;
        if (ms[i].rec.dst.volume)
            snprintf(reps[i].dst_volume_id, sizeof(reps[i].dst_volume_id), "%s",
                     ms[i].rec.dst.volume);
    }
    ret = 0;
out:
    for (i = 0; i < n; i++) {
        /* Only past the pre-flight can this run have set a limit (one
         * left by an earlier run was lifted, or failed to, at the load). */
        if (ms[i].plan)
            ret = move_throttle_finish(&ms[i], ret, err);
        move_release(&ms[i]);
    }
    free(ms);
    free(live);
    return ret;
}
