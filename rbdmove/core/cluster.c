/* SPDX-License-Identifier: MIT */
/*
 * rbdmove/core/cluster.c: connect to one Ceph cluster through librados.
 */
#include "rbdmove/core/cluster.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rados/librados.h>

#include "rbdmove/core/image.h"
#include "rbdmove/base/xalloc.h"

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
    r = rados_connect(cl->rados);
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

void *cluster_rados(struct cluster *cl)
{
    return cl->rados;
}

uint64_t cluster_instance_id(struct cluster *cl)
{
    return rados_get_instance_id(cl->rados);
}
