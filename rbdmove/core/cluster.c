/* SPDX-License-Identifier: MIT */
/*
 * rbdmove/core/cluster.c: connect to one Ceph cluster through librados.
 */
#include "rbdmove/core/cluster.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <rados/librados.h>

#include "rbdmove/base/cancel.h"
#include "rbdmove/base/xalloc.h"
#include "rbdmove/core/image.h"

struct cluster {
    rados_t rados;
    char *conf;
    char fsid[64];
    char mons[512]; /* mon_host as this client resolved it, or "" */
};

static int set_opt(rados_t r, const char *opt, const char *val,
                   struct error *err)
{
    int rc = rados_conf_set(r, opt, val);

    if (rc < 0)
        return error_set(err, ERROR_CEPH, -rc, "cannot set ceph option %s",
                         opt);
    return 0;
}

/* One rados_connect in a thread of its own, so that the caller can give up
 * on a stop (cancel.h): the mount waits up to client_mount_timeout and
 * no signal cuts it short. */
struct connect_job {
    rados_t rados;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool done, abandoned;
    int rc;
};

/* Connects given up on and still running (see cluster_abandoned). */
static atomic_int abandoned_running;

bool cluster_abandoned(void)
{
    return atomic_load(&abandoned_running) > 0;
}

static void connect_job_free(struct connect_job *j)
{
    pthread_mutex_destroy(&j->mu);
    pthread_cond_destroy(&j->cv);
    free(j);
}

static void *connect_main(void *arg)
{
    struct connect_job *j = arg;
    int rc = rados_connect(j->rados);
    bool abandoned;

    pthread_mutex_lock(&j->mu);
    j->rc = rc;
    j->done = true;
    abandoned = j->abandoned;
    pthread_cond_signal(&j->cv);
    pthread_mutex_unlock(&j->mu);
    if (abandoned) {
        if (rc == 0)
            rados_shutdown(j->rados);
        connect_job_free(j);
        atomic_fetch_sub(&abandoned_running, 1);
    }
    return NULL;
}

/* rados_connect(r), or -EINTR on a stop; then the thread keeps r. */
static int connect_cancellable(rados_t r)
{
    struct connect_job *j = xcalloc(1, sizeof(*j));
    pthread_t th;
    int rc;

    j->rados = r;
    pthread_mutex_init(&j->mu, NULL);
    pthread_cond_init(&j->cv, NULL);
    if (pthread_create(&th, NULL, connect_main, j) != 0) {
        connect_job_free(j);
        return rados_connect(r);
    }
    pthread_detach(th);
    pthread_mutex_lock(&j->mu);
    while (!j->done && !cancel_requested()) {
        struct timespec ts;

        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 100 * 1000 * 1000;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&j->cv, &j->mu, &ts);
    }
    if (!j->done) {
        j->abandoned = true;
        atomic_fetch_add(&abandoned_running, 1);
        pthread_mutex_unlock(&j->mu);
        return -EINTR;
    }
    rc = j->rc;
    pthread_mutex_unlock(&j->mu);
    connect_job_free(j);
    return rc;
}

int cluster_connect(const char *conf, const char *id, int timeout_s,
                    struct cluster **out, struct error *err)
{
    struct cluster *cl = xcalloc(1, sizeof(*cl));
    char tmo[32];
    int ret = -1;
    int r;

    *out = NULL;
    cl->conf = xstrdup(conf ? conf : "default");
    snprintf(tmo, sizeof(tmo), "%d", timeout_s > 0 ? timeout_s : 60);
    r = rados_create(&cl->rados, id ? id : "admin");
    if (r < 0) {
        error_set(err, ERROR_CEPH, -r, "cannot create a ceph client '%s'",
                  id ? id : "admin");
        cl->rados = NULL;
        goto out;
    }
    r = rados_conf_read_file(cl->rados, conf);
    if (r < 0) {
        error_set(err, ERROR_CEPH, -r, "cannot read ceph configuration '%s'",
                  cl->conf);
        goto out;
    }
    if (set_opt(cl->rados, "rados_mon_op_timeout", tmo, err) < 0 ||
        set_opt(cl->rados, "rados_osd_op_timeout", tmo, err) < 0 ||
        set_opt(cl->rados, "client_mount_timeout", tmo, err) < 0)
        goto out;
    r = connect_cancellable(cl->rados);
    if (r == -EINTR) {
        /* The connect goes on in its thread, which now owns the handle. */
        cl->rados = NULL;
        error_set(err, ERROR_INTERRUPTED, 0,
                  "connecting to the cluster of '%s': stopped by signal %d",
                  cl->conf, cancel_signal());
        goto out;
    }
    if (r < 0) {
        error_set(err, ERROR_CEPH, -r, "cannot connect to the cluster of '%s'",
                  cl->conf);
        goto out;
    }
    r = rados_cluster_fsid(cl->rados, cl->fsid, sizeof(cl->fsid));
    if (r < 0) {
        error_set(err, ERROR_CEPH, -r, "cannot read the fsid of '%s'",
                  cl->conf);
        goto out;
    }
    /* Two clusters cloned from one install share an fsid: their monitors
     * tell them apart. Not fatal when unreadable (then "" ). */
    if (rados_conf_get(cl->rados, "mon_host", cl->mons, sizeof(cl->mons)) < 0)
        cl->mons[0] = '\0';
    *out = cl;
    cl = NULL;
    ret = 0;
out:
    cluster_close(cl);
    return ret;
}

void cluster_close(struct cluster *cl)
{
    if (!cl)
        return;
    /* Shutting librados down under an image still open (its close gave
     * up on a dead cluster) could crash: leave both to the exit. */
    if (cl->rados && !image_abandoned_handles())
        rados_shutdown(cl->rados);
    free(cl->conf);
    free(cl);
}

const char *cluster_fsid(const struct cluster *cl)
{
    return cl->fsid;
}

const char *cluster_mons(const struct cluster *cl)
{
    return cl->mons;
}

char *cluster_pool_name(struct cluster *cl, int64_t id)
{
    char name[256];

    if (id < 0 ||
        rados_pool_reverse_lookup(cl->rados, id, name, sizeof(name)) < 0)
        return NULL;
    return xstrdup(name);
}

void *cluster_rados(struct cluster *cl)
{
    return cl->rados;
}

char *cluster_addr(struct cluster *cl)
{
    char *a = NULL, *out = NULL;

    if (rados_getaddrs(cl->rados, &a) == 0 && a && *a)
        out = xstrdup(a);
    if (a)
        rados_buffer_free(a);
    return out;
}

uint64_t cluster_instance_id(struct cluster *cl)
{
    return rados_get_instance_id(cl->rados);
}
