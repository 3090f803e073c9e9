/* SPDX-License-Identifier: MIT */
/*
 * openstack/cinder.h: the Cinder v3 block-storage API (microversioned).
 *
 * Volumes (show, find by name or id, create, delete, metadata, status
 * polling), backend pools, quotas and volume types. Every answer is
 * returned as plain C structs owned by the caller; nothing here exposes
 * jansson. Requests go through a struct keystone session, which renews the
 * token when needed.
 */
#ifndef OPENSTACK_CINDER_H
#define OPENSTACK_CINDER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "openstack/keystone.h"
#include "rbdmove/base/buf.h"
#include "rbdmove/base/error.h"

/* The microversion every request asks for: manage-existing needs 3.8;
 * 3.50 is the newest that every release since Rocky (2018) speaks. */
#define CINDER_MICROVERSION "3.50"

/* A key and a value; owned by the struct holding it when it comes from
 * Cinder, borrowed when it is passed in. */
struct cinder_kv {
    const char *key;
    const char *value;
};

struct cinder_attachment {
    char *attachment_id;
    char *server_id;
    char *device;    /* "/dev/vdb", or NULL */
    char *host_name; /* compute host, or NULL */
};

struct cinder_volume {
    char id[37];
    char *name;   /* NULL when the volume has none */
    char *status; /* "available", "in-use", ... */
    uint64_t size_gib;
    char *volume_type;
    char *availability_zone;
    char *host;    /* "host@backend#pool" (admin only), or NULL */
    char *name_id; /* a migrated volume's image id (admin only), or NULL */
    char *migration_status;
    char *description;
    double created_at; /* seconds since the epoch, 0: not given */
    bool bootable;
    bool multiattach;
    bool encrypted;
    struct cinder_attachment *attachments;
    size_t n_attachments;
    struct cinder_kv *metadata; /* owned strings */
    size_t n_metadata;
};

/* Frees the strings and arrays; *v is zeroed. NULL-safe. */
void cinder_volume_release(struct cinder_volume *v);

/* Free an array of n volumes from cinder_volume_list. NULL-safe. */
void cinder_volumes_free(struct cinder_volume *v, size_t n);

/* The value of a metadata key (borrowed), or NULL. */
const char *cinder_volume_meta(const struct cinder_volume *v, const char *key);

/* The RBD image name Cinder's RBD driver uses for v: "volume-<id>", or
 * "volume-<name_id>" after a migration. Returns out. */
const char *cinder_volume_rbd_image(const struct cinder_volume *v, char *out,
                                    size_t outlen);

/* How a status behaves while waiting. */
enum cinder_status_class {
    CINDER_STATUS_STABLE, /* available, in-use */
    CINDER_STATUS_BUSY,   /* creating, attaching, detaching, reserved, ... */
    CINDER_STATUS_ERROR,  /* error, error_deleting, error_restoring, ... */
    CINDER_STATUS_UNKNOWN,
};

enum cinder_status_class cinder_status_classify(const char *status);

/*
 * Parsers of Cinder answers, pure, for the functions below and the unit
 * tests. On failure the out-params are left empty and err is
 * ERROR_PROTOCOL.
 *   cinder_volume_parse:      {"volume": {...}}
 *   cinder_volume_list_parse: {"volumes": [...], "volumes_links": [...]};
 *                             *next (may be NULL) gets the marker of the
 *                             next page, or NULL on the last one
 */
int cinder_volume_parse(const char *body, size_t len, struct cinder_volume *out,
                        struct error *err) MUST_CHECK;
int cinder_volume_list_parse(const char *body, size_t len,
                             struct cinder_volume **out, size_t *n, char **next,
                             struct error *err) MUST_CHECK;

struct cinder;

/*
 * Find Cinder's endpoint in the session's region (service types
 * block-storage, volumev3, volume). Keeps a reference to ks, which must
 * outlive the handle. Fails when the catalog has no such service.
 */
int cinder_open(struct keystone *ks, struct cinder **out,
                struct error *err) MUST_CHECK;

/* NULL-safe. */
void cinder_close(struct cinder *c);

/* The endpoint in use (borrowed). */
const char *cinder_url(const struct cinder *c);

/* Show one volume by id. ERROR_API 404 when it does not exist. */
int cinder_volume_get(struct cinder *c, const char *id,
                      struct cinder_volume *out, struct error *err) MUST_CHECK;

/*
 * Find a volume by id or by name, as the openstack CLI does: an id that
 * exists wins; otherwise the name must match exactly one volume
 * (ERROR_USAGE when several do, ERROR_API 404 when none does).
 */
int cinder_volume_find(struct cinder *c, const char *name_or_id,
                       struct cinder_volume *out, struct error *err) MUST_CHECK;

/*
 * The project's volumes, all of them or those named name (exactly), over
 * every page. Clouds that refuse the name filter are listed whole and
 * filtered here. The caller frees *out with cinder_volumes_free.
 */
int cinder_volume_list(struct cinder *c, const char *name,
                       struct cinder_volume **out, size_t *n,
                       struct error *err) MUST_CHECK;

/* What a new volume looks like; NULL fields are left to Cinder. */
struct cinder_volume_spec {
    uint64_t size_gib;
    const char *name;
    const char *description;
    const char *volume_type;
    const char *availability_zone;
    const struct cinder_kv *metadata;
    size_t n_metadata;
};

/* Create a volume; *out is Cinder's answer (status "creating"): wait for
 * "available" with cinder_volume_wait. */
int cinder_volume_create(struct cinder *c,
                         const struct cinder_volume_spec *spec,
                         struct cinder_volume *out,
                         struct error *err) MUST_CHECK;

/* Request deletion (202); wait for "deleted" to see it gone. */
int cinder_volume_delete(struct cinder *c, const char *id,
                         struct error *err) MUST_CHECK;

/* Add or replace the given metadata keys; other keys stay. */
int cinder_volume_metadata_set(struct cinder *c, const char *id,
                               const struct cinder_kv *kv, size_t n,
                               struct error *err) MUST_CHECK;

/* Remove one metadata key; a key that is not there is not an error. */
int cinder_volume_metadata_unset(struct cinder *c, const char *id,
                                 const char *key, struct error *err) MUST_CHECK;

/* Admin: force the volume's status (os-reset_status). */
int cinder_volume_reset_status(struct cinder *c, const char *id,
                               const char *status,
                               struct error *err) MUST_CHECK;

/* How to wait for a status. */
struct cinder_wait {
    const char *want; /* the status to reach, "deleted", or NULL: any
                         status that is not busy (cinder_status_classify) */
    double timeout;   /* seconds; 0: 300 */
    double interval;  /* first pause between polls; 0: 0.25 s, grows to 2 s */
    struct buf *seen; /* if set, every status seen is appended, ","-joined */
};

/*
 * Poll the volume until it reaches w->want (with want NULL: until it
 * leaves the busy statuses, whatever it ends in). Fails fast with
 * ERROR_STATE when it enters an error status (unless that is what is
 * wanted, or want is NULL), with
 * ERROR_STATE naming the last status after the timeout, and with the
 * request's error when a poll fails. *out (may be NULL) gets the last
 * answer on success.
 */
int cinder_volume_wait(struct cinder *c, const char *id,
                       const struct cinder_wait *w, struct cinder_volume *out,
                       struct error *err) MUST_CHECK;

/* ---- manage-existing (admin, microversion >= 3.8) -------------------- */

/* rbdmove does not adopt images: the calls that list, manage and unmanage
 * are the tests' own (tests/tools/cinder_manage.c); their answer's parser
 * stays here, with the other parsers and their recorded-answer tests. */

struct cinder_manageable {
    char *reference; /* the backend's name: the RBD image */
    uint64_t size_gib;
    bool safe_to_manage;
    char *reason_not_safe;
    char *cinder_id; /* when a volume already owns it */
};

void cinder_manageables_free(struct cinder_manageable *m, size_t n);

/* {"manageable-volumes": [...]}, pure. */
int cinder_manageable_parse(const char *body, size_t len,
                            struct cinder_manageable **out, size_t *n,
                            struct error *err) MUST_CHECK;

/* ---- backend pools (admin) ------------------------------------------ */

struct cinder_pool {
    char *name;             /* "host@backend#pool", as in a volume's host */
    char *backend_name;     /* volume_backend_name */
    char *storage_protocol; /* "ceph" for RBD */
    double total_gib;       /* < 0 when the driver reports none */
    double free_gib;
    /* From the RBD driver's location_info (NULL for other drivers):
     * "cluster:conf:fsid:user:pool". */
    char *ceph_fsid;
    char *rbd_user;
    char *rbd_pool;
};

void cinder_pools_free(struct cinder_pool *p, size_t n);

/* {"pools": [...]} from get_pools?detail=true, pure. */
int cinder_pools_parse(const char *body, size_t len, struct cinder_pool **out,
                       size_t *n, struct error *err) MUST_CHECK;

int cinder_pools_list(struct cinder *c, struct cinder_pool **out, size_t *n,
                      struct error *err) MUST_CHECK;

/* The pool whose name equals a volume's host, or NULL (borrowed). */
const struct cinder_pool *cinder_pool_for_host(const struct cinder_pool *p,
                                               size_t n, const char *host);

/* ---- quotas and types ------------------------------------------------ */

/* -1 means unlimited; CINDER_LIMIT_UNKNOWN that Cinder did not say. */
#define CINDER_LIMIT_UNKNOWN INT64_MIN

struct cinder_limits {
    int64_t volumes_max, volumes_used;
    int64_t gigabytes_max, gigabytes_used;
    int64_t per_volume_gigabytes;
    /* For one volume type, from the quota set; unknown when not asked or
     * not visible. */
    int64_t type_volumes_max, type_volumes_used;
    int64_t type_gigabytes_max, type_gigabytes_used;
};

/* {"limits": {"absolute": {...}}}, pure. Unset fields are unknown. */
int cinder_limits_parse(const char *body, size_t len, struct cinder_limits *out,
                        struct error *err) MUST_CHECK;

/* {"quota_set": {...}} of os-quota-sets?usage=true into the per-volume and
 * per-type fields of *out (type may be NULL), pure. */
int cinder_quota_set_parse(const char *body, size_t len, const char *type,
                           struct cinder_limits *out,
                           struct error *err) MUST_CHECK;

/* The project's limits; the quota set is read when the policy allows it,
 * and its fields stay unknown when it does not. */
int cinder_limits_get(struct cinder *c, const char *type,
                      struct cinder_limits *out, struct error *err) MUST_CHECK;

/*
 * Would one more volume of size_gib fit? Appends one sentence per limit
 * it would break to problems (when not NULL) and returns the count. Pure.
 */
int cinder_limits_check(const struct cinder_limits *l, uint64_t size_gib,
                        struct buf *problems);

struct cinder_volume_type {
    char *id;
    char *name;
    char *backend_name; /* extra_specs volume_backend_name, if visible */
    bool is_public;
};

void cinder_types_free(struct cinder_volume_type *t, size_t n);

/* {"volume_types": [...]}, pure. */
int cinder_types_parse(const char *body, size_t len,
                       struct cinder_volume_type **out, size_t *n,
                       struct error *err) MUST_CHECK;

int cinder_types_list(struct cinder *c, struct cinder_volume_type **out,
                      size_t *n, struct error *err) MUST_CHECK;

/* The type named or with the id name_or_id (borrowed), or NULL. */
const struct cinder_volume_type *
cinder_type_lookup(const struct cinder_volume_type *t, size_t n,
                   const char *name_or_id);

#endif
