/* SPDX-License-Identifier: MIT */
/*
 * rbdmove/core/plan.h: the read-only pre-flight of a move (core).
 *
 * plan_build looks at both regions through the OpenStack APIs and changes
 * nothing: the source volume, what it is attached to, its RBD image and
 * pool, the destination server, the volume a move would create there, and
 * every problem that would stop the move. `rbdmove plan` prints the
 * result; the move itself (migrate.c) runs the same pre-flight and keeps
 * the sessions it opened.
 */
#ifndef RBDMOVE_PLAN_H
#define RBDMOVE_PLAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "openstack/cinder.h"
#include "openstack/config.h"
#include "openstack/keystone.h"
#include "openstack/nova.h"
#include "rbdmove/base/error.h"

struct plan_options {
    /* The source cloud: --os-cloud, --os-region-name, OS_* variables. */
    struct config_args src;
    /*
     * The destination: --dst-os-cloud and --dst-os-region-name. With
     * dst.cloud NULL the source's cloud is used (and its OS_* variables);
     * a cloud named on its own is read from clouds.yaml only.
     */
    struct config_args dst;
    const char *volume;          /* name or id, in the source region */
    const char *dst_server;      /* name or id, in the destination region */
    const char *dst_volume_type; /* NULL: the source volume's type */
    const char *dst_availability_zone; /* NULL: Cinder's default */
    unsigned api_timeout;              /* seconds per request try; 0: 60 */
    /* The destination volume exists already (a failback writes into the
     * original): no new volume, so neither quota nor free space nor its
     * name is checked for one. */
    bool dst_volume_exists;
};

enum plan_severity {
    PLAN_PROBLEM, /* the move cannot proceed */
    PLAN_WARNING, /* worth knowing; the move can proceed */
};

/* One finding. */
struct plan_note {
    enum plan_severity severity;
    const char *side;     /* "source", "destination" or "move" (static) */
    enum error_kind kind; /* of the error behind it; ERROR_STATE for checks */
    int cause;
    char *text;
};

/* One side of the move: a cloud and region, and what answered there. */
struct plan_side {
    char *cloud;  /* cloud name, "envvars", or NULL when not resolved */
    char *region; /* NULL when none was set */
    char *source; /* the clouds.yaml it was read from, or "environment" */
    char *auth_url;
    char *project_id;
    bool authenticated;
    char *cinder_url; /* NULL when not found */
    char *nova_url;
    /* Live sessions, for a caller that goes on to act (NULL on failure). */
    struct keystone *ks;
    struct cinder *cinder;
    struct nova *nova;
};

struct plan_attachment {
    char *server_id;
    char *server_name;   /* NULL when the server is not visible */
    char *server_status; /* NULL likewise */
    char *device;
};

struct plan {
    struct plan_side src, dst;

    /* The source volume (valid when have_volume). */
    bool have_volume;
    struct cinder_volume volume;
    struct plan_attachment *attachments;
    size_t n_attachments;
    char rbd_image[64]; /* "volume-<id>" */
    char *rbd_pool;     /* NULL when it cannot be told (not admin) */
    char *ceph_fsid;    /* of the source backend, NULL when unknown */

    /* The destination server (valid when have_server). */
    bool have_server;
    struct nova_server server;

    /* The volume a move would create (valid when have_volume). */
    char *new_name;
    uint64_t new_size_gib;
    char *new_type; /* NULL: Cinder's default type */
    char *new_availability_zone;
    char *dst_rbd_pool; /* where the type's backend keeps it, if known */
    char *dst_ceph_fsid;
    bool have_limits;
    struct cinder_limits dst_limits;

    struct plan_note *notes;
    size_t n_notes;
};

/*
 * Run the pre-flight. Never fails as a function: everything that goes
 * wrong (configuration, authentication, unknown region, volume or server,
 * states, quotas) becomes a note in the returned plan, which the caller
 * owns and frees with plan_free.
 */
struct plan *plan_build(const struct plan_options *o);

/* True when no note is a PLAN_PROBLEM. */
bool plan_ok(const struct plan *p);

/* Number of notes of a severity. */
size_t plan_count(const struct plan *p, enum plan_severity severity);

/* Closes the sessions and frees everything. NULL-safe. */
void plan_free(struct plan *p);

/*
 * The checks on a source volume alone (state, attachments, encryption,
 * migration, earlier rbdmove marks), adding notes to p. Pure; exported for
 * the unit tests.
 */
void plan_check_volume(struct plan *p, const struct cinder_volume *v);

#endif
