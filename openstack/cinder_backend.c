/* SPDX-License-Identifier: MIT */
/*
 * openstack/cinder_backend.c: the half of the Cinder module (cinder.h)
 * that is about backends and the project rather than one volume: the
 * manage-existing answer, scheduler pools, limits and quotas, volume
 * types.
 *
 * Split from cinder.c only to keep files short; it shares struct cinder
 * (and so service_call) through cinder_internal.h and parses with jansson
 * the same way.
 */
#include "openstack/cinder.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "openstack/cinder_internal.h"
#include "rbdmove/base/json.h"
#include "rbdmove/base/log.h"
#include "rbdmove/base/xalloc.h"

/* ---- manage-existing (the calls are in tests/tools/cinder_manage.c) ------ */

void cinder_manageables_free(struct cinder_manageable *m, size_t n)
{
    for (size_t i = 0; m && i < n; i++) {
        free(m[i].reference);
        free(m[i].reason_not_safe);
        free(m[i].cinder_id);
    }
    free(m);
}

/* A service_parse_fn that cannot fail. */
static int manageable_from_json(json_t *j, void *elem, struct error *err)
{
    struct cinder_manageable *m = elem;
    json_t *ref = json_object_get(j, "reference");

    (void)err;
    m->reference = http_json_strdup(ref, "source-name");
    if (!m->reference)
        m->reference = http_json_strdup(ref, "source-id");
    m->size_gib = (uint64_t)http_json_int(j, "size", 0);
    m->safe_to_manage = http_json_bool(j, "safe_to_manage", false);
    m->reason_not_safe = http_json_strdup(j, "reason_not_safe");
    m->cinder_id = http_json_strdup(j, "cinder_id");
    return 0;
}

int cinder_manageable_parse(const char *body, size_t len,
                            struct cinder_manageable **out, size_t *n,
                            struct error *err)
{
    json_t *root = NULL;
    void *list = NULL;
    int r;

    *out = NULL;
    *n = 0;
    if (http_json_parse(body, len, "Cinder manageable volumes", &root, err) < 0)
        return -1;
    /* The key has a hyphen, unlike every other Cinder list. */
    r = service_parse_array(root, "Cinder", "manageable-volumes", sizeof(**out),
                            manageable_from_json, NULL, &list, n, err);
    *out = list;
    json_decref(root);
    return r;
}

/* ---- pools --------------------------------------------------------------- */

void cinder_pools_free(struct cinder_pool *p, size_t n)
{
    for (size_t i = 0; p && i < n; i++) {
        free(p[i].name);
        free(p[i].backend_name);
        free(p[i].storage_protocol);
        free(p[i].ceph_fsid);
        free(p[i].rbd_user);
        free(p[i].rbd_pool);
    }
    free(p);
}

/*
 * The RBD driver's location_info is "cluster:conf:fsid:user:pool"; the
 * conf path could hold a ':', so count fields from the end.
 */
static void parse_location(const char *loc, struct cinder_pool *p)
{
    const char *f[3];
    const char *end;
    int k = 0;

    if (!loc)
        return;
    end = loc + strlen(loc);
    for (const char *s = end; s > loc && k < 3; s--) {
        if (s[-1] == ':')
            f[k++] = s;
    }
    if (k < 3 || strchr(loc, ':') >= f[2] - 1)
        return; /* fewer than five fields */
    p->rbd_pool = xstrdup(f[0]);
    p->rbd_user = xstrndup(f[1], (size_t)(f[0] - 1 - f[1]));
    p->ceph_fsid = xstrndup(f[2], (size_t)(f[1] - 1 - f[2]));
}

/* A service_parse_fn that cannot fail. */
static int pool_from_json(json_t *j, void *elem, struct error *err)
{
    struct cinder_pool *p = elem;
    json_t *caps = json_object_get(j, "capabilities");
    const char *proto;

    (void)err;
    p->name = http_json_strdup(j, "name");
    p->backend_name = http_json_strdup(caps, "volume_backend_name");
    p->storage_protocol = http_json_strdup(caps, "storage_protocol");
    p->total_gib = http_json_number(caps, "total_capacity_gb", -1);
    p->free_gib = http_json_number(caps, "free_capacity_gb", -1);
    proto = p->storage_protocol;
    if (proto && (!strcasecmp(proto, "ceph") || !strcasecmp(proto, "rbd")))
        parse_location(
            json_string_value(json_object_get(caps, "location_info")), p);
    return 0;
}

int cinder_pools_parse(const char *body, size_t len, struct cinder_pool **out,
                       size_t *n, struct error *err)
{
    json_t *root = NULL;
    void *list = NULL;
    int r;

    *out = NULL;
    *n = 0;
    if (http_json_parse(body, len, "Cinder pools", &root, err) < 0)
        return -1;
    r = service_parse_array(root, "Cinder", "pools", sizeof(**out),
                            pool_from_json, NULL, &list, n, err);
    *out = list;
    json_decref(root);
    return r;
}

int cinder_pools_list(struct cinder *c, struct cinder_pool **out, size_t *n,
                      struct error *err)
{
    struct http_response resp = HTTP_RESPONSE_INIT;
    int ret = -1;

    *out = NULL;
    *n = 0;
    if (service_call(&c->svc, "GET", "/scheduler-stats/get_pools?detail=true",
                     NULL, &resp, err) < 0 ||
        cinder_pools_parse(resp.body.data, resp.body.len, out, n, err) < 0) {
        error_prefix(err, "cannot list backend pools");
        goto out;
    }
    ret = 0;
out:
    http_response_release(&resp);
    return ret;
}

const struct cinder_pool *cinder_pool_for_host(const struct cinder_pool *p,
                                               size_t n, const char *host)
{
    for (size_t i = 0; host && i < n; i++) {
        if (p[i].name && !strcmp(p[i].name, host))
            return &p[i];
    }
    return NULL;
}

/* ---- limits and quotas --------------------------------------------------- */

static void limits_unknown(struct cinder_limits *l)
{
    l->volumes_max = l->volumes_used = CINDER_LIMIT_UNKNOWN;
    l->gigabytes_max = l->gigabytes_used = CINDER_LIMIT_UNKNOWN;
    l->per_volume_gigabytes = CINDER_LIMIT_UNKNOWN;
    l->type_volumes_max = l->type_volumes_used = CINDER_LIMIT_UNKNOWN;
    l->type_gigabytes_max = l->type_gigabytes_used = CINDER_LIMIT_UNKNOWN;
}

int cinder_limits_parse(const char *body, size_t len, struct cinder_limits *out,
                        struct error *err)
{
    json_t *root = NULL;
    json_t *abs;

    limits_unknown(out);
    if (http_json_parse(body, len, "Cinder limits", &root, err) < 0)
        return -1;
    abs = json_object_get(json_object_get(root, "limits"), "absolute");
    if (!json_is_object(abs)) {
        json_decref(root);
        return error_set(err, ERROR_PROTOCOL, 0,
                         "unexpected Cinder answer: no \"limits.absolute\"");
    }
    out->volumes_max =
        http_json_int(abs, "maxTotalVolumes", CINDER_LIMIT_UNKNOWN);
    out->volumes_used =
        http_json_int(abs, "totalVolumesUsed", CINDER_LIMIT_UNKNOWN);
    out->gigabytes_max =
        http_json_int(abs, "maxTotalVolumeGigabytes", CINDER_LIMIT_UNKNOWN);
    out->gigabytes_used =
        http_json_int(abs, "totalGigabytesUsed", CINDER_LIMIT_UNKNOWN);
    json_decref(root);
    return 0;
}

/* A quota entry: a number, or {"limit": N, "in_use": M} with usage=true. */
static void quota_entry(json_t *qs, const char *key, int64_t *limit,
                        int64_t *in_use)
{
    json_t *v = json_object_get(qs, key);

    if (json_is_object(v)) {
        *limit = http_json_int(v, "limit", CINDER_LIMIT_UNKNOWN);
        if (in_use)
            *in_use = http_json_int(v, "in_use", CINDER_LIMIT_UNKNOWN);
    } else if (v) {
        *limit = http_json_int(qs, key, CINDER_LIMIT_UNKNOWN);
    }
}

int cinder_quota_set_parse(const char *body, size_t len, const char *type,
                           struct cinder_limits *out, struct error *err)
{
    json_t *root = NULL;
    json_t *qs;
    char *key;

    if (http_json_parse(body, len, "Cinder quota set", &root, err) < 0)
        return -1;
    qs = json_object_get(root, "quota_set");
    if (!json_is_object(qs)) {
        json_decref(root);
        return error_set(err, ERROR_PROTOCOL, 0,
                         "unexpected Cinder answer: no \"quota_set\"");
    }
    quota_entry(qs, "per_volume_gigabytes", &out->per_volume_gigabytes, NULL);
    if (type) {
        key = xasprintf("gigabytes_%s", type);
        quota_entry(qs, key, &out->type_gigabytes_max,
                    &out->type_gigabytes_used);
        free(key);
        key = xasprintf("volumes_%s", type);
        quota_entry(qs, key, &out->type_volumes_max, &out->type_volumes_used);
        free(key);
    }
    json_decref(root);
    return 0;
}

int cinder_limits_get(struct cinder *c, const char *type,
                      struct cinder_limits *out, struct error *err)
{
    struct http_response resp = HTTP_RESPONSE_INIT;
    struct error e = ERROR_INIT;
    char *path = NULL;
    int ret = -1;

    limits_unknown(out);
    if (service_call(&c->svc, "GET", "/limits", NULL, &resp, err) < 0 ||
        cinder_limits_parse(resp.body.data, resp.body.len, out, err) < 0) {
        error_prefix(err, "cannot read volume limits");
        goto out;
    }
    path = xasprintf("/os-quota-sets/%s?usage=true",
                     keystone_project_id(c->svc.ks));
    if (service_call(&c->svc, "GET", path, NULL, &resp, &e) < 0 ||
        cinder_quota_set_parse(resp.body.data, resp.body.len, type, out, &e) <
            0)
        log_debug("quota set not readable: %s", e.msg);
    ret = 0;
out:
    free(path);
    http_response_release(&resp);
    return ret;
}

/* One limit: max (-1 unlimited) against used + need. */
static int over(int64_t max, int64_t used, uint64_t need, struct buf *problems,
                const char *fmt_what)
{
    if (max == CINDER_LIMIT_UNKNOWN || max < 0)
        return 0;
    if (used == CINDER_LIMIT_UNKNOWN)
        used = 0;
    if ((uint64_t)used + need <= (uint64_t)max)
        return 0;
    if (problems)
        buf_addf(problems,
                 "%s%s quota exceeded: %" PRId64 " of %" PRId64
                 " in use, %" PRIu64 " more needed",
                 problems->len ? "\n" : "", fmt_what, used, max, need);
    return 1;
}

int cinder_limits_check(const struct cinder_limits *l, uint64_t size_gib,
                        struct buf *problems)
{
    int n = 0;

    n += over(l->volumes_max, l->volumes_used, 1, problems, "volume");
    n += over(l->gigabytes_max, l->gigabytes_used, size_gib, problems,
              "gigabyte");
    n += over(l->type_volumes_max, l->type_volumes_used, 1, problems,
              "volume type's volume");
    n += over(l->type_gigabytes_max, l->type_gigabytes_used, size_gib, problems,
              "volume type's gigabyte");
    if (l->per_volume_gigabytes != CINDER_LIMIT_UNKNOWN &&
        l->per_volume_gigabytes >= 0 &&
        size_gib > (uint64_t)l->per_volume_gigabytes) {
        if (problems)
            buf_addf(problems,
                     "%svolumes may have at most %" PRId64
                     " GiB here, this one has %" PRIu64 " GiB",
                     problems->len ? "\n" : "", l->per_volume_gigabytes,
                     size_gib);
        n++;
    }
    return n;
}

/* ---- volume types -------------------------------------------------------- */

void cinder_types_free(struct cinder_volume_type *t, size_t n)
{
    for (size_t i = 0; t && i < n; i++) {
        free(t[i].id);
        free(t[i].name);
        free(t[i].backend_name);
    }
    free(t);
}

/* A service_parse_fn that cannot fail. */
static int type_from_json(json_t *j, void *elem, struct error *err)
{
    struct cinder_volume_type *t = elem;

    (void)err;
    t->id = http_json_strdup(j, "id");
    t->name = http_json_strdup(j, "name");
    t->backend_name = http_json_strdup(json_object_get(j, "extra_specs"),
                                       "volume_backend_name");
    t->is_public = http_json_bool(
        j, "is_public",
        http_json_bool(j, "os-volume-type-access:is_public", true));
    return 0;
}

int cinder_types_parse(const char *body, size_t len,
                       struct cinder_volume_type **out, size_t *n,
                       struct error *err)
{
    json_t *root = NULL;
    void *list = NULL;
    int r;

    *out = NULL;
    *n = 0;
    if (http_json_parse(body, len, "Cinder volume types", &root, err) < 0)
        return -1;
    r = service_parse_array(root, "Cinder", "volume_types", sizeof(**out),
                            type_from_json, NULL, &list, n, err);
    *out = list;
    json_decref(root);
    return r;
}

int cinder_types_list(struct cinder *c, struct cinder_volume_type **out,
                      size_t *n, struct error *err)
{
    struct http_response resp = HTTP_RESPONSE_INIT;
    int ret = -1;

    *out = NULL;
    *n = 0;
    if (service_call(&c->svc, "GET", "/types", NULL, &resp, err) < 0 ||
        cinder_types_parse(resp.body.data, resp.body.len, out, n, err) < 0) {
        error_prefix(err, "cannot list volume types");
        goto out;
    }
    ret = 0;
out:
    http_response_release(&resp);
    return ret;
}

const struct cinder_volume_type *
cinder_type_lookup(const struct cinder_volume_type *t, size_t n,
                   const char *name_or_id)
{
    for (size_t i = 0; name_or_id && i < n; i++) {
        if ((t[i].name && !strcmp(t[i].name, name_or_id)) ||
            (t[i].id && !strcmp(t[i].id, name_or_id)))
            return &t[i];
    }
    return NULL;
}
