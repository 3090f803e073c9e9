/* SPDX-License-Identifier: MIT */
/*
 * openstack/cinder.c: Cinder v3 volumes, pools, quotas and types.
 *
 * Every request carries "OpenStack-API-Version: volume 3.50" and goes
 * through service_call. Answers are copied out of jansson into the
 * plain structs of cinder.h at once; no json_t outlives a function here.
 * Knows nothing about Nova: attaching is nova.c's, waiting for the
 * resulting volume status is here. cinder_backend.c has the admin side
 * (pools, quotas, types, the manage-existing answer).
 */
#include "openstack/cinder.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "openstack/cinder_internal.h"
#include "rbdmove/base/json.h"
#include "rbdmove/base/log.h"
#include "rbdmove/base/strutil.h"
#include "rbdmove/base/xalloc.h"

#define MICROVERSION_HEADER "OpenStack-API-Version: volume " CINDER_MICROVERSION

static const char *const service_types[] = {"volumev3", "block-storage", NULL};

/* ---- plain structs --------------------------------------------------- */

static void kv_free(struct cinder_kv *kv, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free((char *)kv[i].key);
        free((char *)kv[i].value);
    }
    free(kv);
}

void cinder_volume_release(struct cinder_volume *v)
{
    if (!v)
        return;
    free(v->name);
    free(v->status);
    free(v->volume_type);
    free(v->availability_zone);
    free(v->host);
    free(v->name_id);
    free(v->migration_status);
    free(v->description);
    for (size_t i = 0; i < v->n_attachments; i++) {
        free(v->attachments[i].attachment_id);
        free(v->attachments[i].server_id);
        free(v->attachments[i].device);
        free(v->attachments[i].host_name);
    }
    free(v->attachments);
    kv_free(v->metadata, v->n_metadata);
    memset(v, 0, sizeof(*v));
}

void cinder_volumes_free(struct cinder_volume *v, size_t n)
{
    for (size_t i = 0; v && i < n; i++)
        cinder_volume_release(&v[i]);
    free(v);
}

const char *cinder_volume_meta(const struct cinder_volume *v, const char *key)
{
    for (size_t i = 0; i < v->n_metadata; i++) {
        if (!strcmp(v->metadata[i].key, key))
            return v->metadata[i].value;
    }
    return NULL;
}

const char *cinder_volume_rbd_image(const struct cinder_volume *v, char *out,
                                    size_t outlen)
{
    /* Cinder's volume_name_template is "volume-%s" of the volume's
     * name_id, which differs from its id only after a migration. */
    snprintf(out, outlen, "volume-%s", v->name_id ? v->name_id : v->id);
    return out;
}

enum cinder_status_class cinder_status_classify(const char *status)
{
    static const char *const stable[] = {"available", "in-use", NULL};
    static const char *const busy[] = {
        "creating",    "attaching",        "detaching",
        "reserved",    "deleting",         "extending",
        "downloading", "uploading",        "retyping",
        "backing-up",  "restoring-backup", "awaiting-transfer",
        "maintenance", "managing",         NULL};

    if (!status)
        return CINDER_STATUS_UNKNOWN;
    if (!strncmp(status, "error", 5))
        return CINDER_STATUS_ERROR;
    for (int i = 0; stable[i]; i++) {
        if (!strcmp(status, stable[i]))
            return CINDER_STATUS_STABLE;
    }
    for (int i = 0; busy[i]; i++) {
        if (!strcmp(status, busy[i]))
            return CINDER_STATUS_BUSY;
    }
    return CINDER_STATUS_UNKNOWN;
}

/* ---- parsing ----------------------------------------------------------- */

static void parse_attachments(json_t *arr, struct cinder_volume *v)
{
    size_t i;
    json_t *a;

    if (!json_array_size(arr))
        return;
    v->attachments = xcalloc(json_array_size(arr), sizeof(*v->attachments));
    json_array_foreach(arr, i, a)
    {
        struct cinder_attachment *at = &v->attachments[v->n_attachments++];

        at->attachment_id = http_json_strdup(a, "attachment_id");
        if (!at->attachment_id)
            at->attachment_id = http_json_strdup(a, "id");
        at->server_id = http_json_strdup(a, "server_id");
        at->device = http_json_strdup(a, "device");
        at->host_name = http_json_strdup(a, "host_name");
    }
}

static void parse_metadata(json_t *obj, struct cinder_kv **out, size_t *n)
{
    const char *key;
    json_t *val;

    if (!json_object_size(obj))
        return;
    *out = xcalloc(json_object_size(obj), sizeof(**out));
    json_object_foreach(obj, key, val)
    {
        if (!json_is_string(val))
            continue;
        (*out)[*n].key = xstrdup(key);
        (*out)[*n].value = xstrdup(json_string_value(val));
        (*n)++;
    }
}

/* A service_parse_fn: one volume object into *elem. */
static int volume_from_json(json_t *j, void *elem, struct error *err)
{
    struct cinder_volume *out = elem;
    struct cinder_volume v;
    json_error_t jerr;
    const char *id = NULL;
    const char *status = NULL;
    json_int_t size = 0;

    memset(out, 0, sizeof(*out));
    memset(&v, 0, sizeof(v));
    if (json_unpack_ex(j, &jerr, 0, "{s:s, s:s, s:I}", "id", &id, "status",
                       &status, "size", &size) < 0)
        return error_set(err, ERROR_PROTOCOL, 0, "unexpected Cinder volume: %s",
                         jerr.text);
    if (strlen(id) >= sizeof(v.id) || size < 0)
        return error_set(err, ERROR_PROTOCOL, 0,
                         "unexpected Cinder volume: id '%s', size %" PRId64, id,
                         (int64_t)size);
    memcpy(v.id, id, strlen(id) + 1);
    v.status = xstrdup(status);
    v.size_gib = (uint64_t)size;
    v.name = http_json_strdup(j, "name");
    v.volume_type = http_json_strdup(j, "volume_type");
    v.availability_zone = http_json_strdup(j, "availability_zone");
    v.host = http_json_strdup(j, "os-vol-host-attr:host");
    v.name_id = http_json_strdup(j, "os-vol-mig-status-attr:name_id");
    v.migration_status = http_json_strdup(j, "migration_status");
    v.description = http_json_strdup(j, "description");
    if (keystone_time_parse(json_string_value(json_object_get(j, "created_at")),
                            &v.created_at) < 0)
        v.created_at = 0;
    v.bootable = http_json_bool(j, "bootable", false);
    v.multiattach = http_json_bool(j, "multiattach", false);
    v.encrypted = http_json_bool(j, "encrypted", false);
    /* The name_id equals the id unless the volume was migrated. */
    if (v.name_id && !strcmp(v.name_id, v.id)) {
        free(v.name_id);
        v.name_id = NULL;
    }
    parse_attachments(json_object_get(j, "attachments"), &v);
    parse_metadata(json_object_get(j, "metadata"), &v.metadata, &v.n_metadata);
    *out = v;
    return 0;
}

int cinder_volume_parse(const char *body, size_t len, struct cinder_volume *out,
                        struct error *err)
{
    json_t *root = NULL;
    json_t *v;
    int ret = -1;

    memset(out, 0, sizeof(*out));
    if (http_json_parse(body, len, "Cinder volume", &root, err) < 0)
        return -1;
    v = json_object_get(root, "volume");
    if (!json_is_object(v)) {
        error_set(err, ERROR_PROTOCOL, 0,
                  "unexpected Cinder answer: no \"volume\" object");
        goto out;
    }
    ret = volume_from_json(v, out, err);
out:
    json_decref(root);
    return ret;
}

/* The marker of the "next" link of a list, or NULL. */
static char *next_marker(json_t *links)
{
    size_t i;
    json_t *l;

    json_array_foreach(links, i, l)
    {
        const char *rel = json_string_value(json_object_get(l, "rel"));
        const char *href = json_string_value(json_object_get(l, "href"));
        const char *m;
        size_t len;

        if (!rel || strcmp(rel, "next") != 0 || !href)
            continue;
        m = strstr(href, "marker=");
        if (!m)
            continue;
        m += 7;
        len = strcspn(m, "&#");
        return len ? xstrndup(m, len) : NULL;
    }
    return NULL;
}

static void volume_release(void *elem)
{
    cinder_volume_release(elem);
}

int cinder_volume_list_parse(const char *body, size_t len,
                             struct cinder_volume **out, size_t *n, char **next,
                             struct error *err)
{
    json_t *root = NULL;
    void *vols = NULL;
    int r;

    *out = NULL;
    *n = 0;
    if (next)
        *next = NULL;
    if (http_json_parse(body, len, "Cinder volume list", &root, err) < 0)
        return -1;
    r = service_parse_array(root, "Cinder", "volumes", sizeof(**out),
                            volume_from_json, volume_release, &vols, n, err);
    if (r == 0 && next)
        *next = next_marker(json_object_get(root, "volumes_links"));
    *out = vols;
    json_decref(root);
    return r;
}

/* ---- requests ------------------------------------------------------------ */

int cinder_open(struct keystone *ks, struct cinder **out, struct error *err)
{
    struct service svc;
    size_t len;

    *out = NULL;
    if (service_init(&svc, ks, service_types, MICROVERSION_HEADER, err) < 0)
        return error_prefix(err, "cannot find Cinder");
    /* Catalogs list .../v3/<project id>; a bare .../v3 (allowed since
     * 3.67) gets the project id added so that every microversion works. */
    len = strlen(svc.url);
    if (len >= 3 && !strcmp(svc.url + len - 3, "/v3") &&
        keystone_project_id(ks)) {
        char *full = xasprintf("%s/%s", svc.url, keystone_project_id(ks));

        free(svc.url);
        svc.url = full;
    }
    *out = xcalloc(1, sizeof(**out));
    (*out)->svc = svc;
    return 0;
}

void cinder_close(struct cinder *c)
{
    if (!c)
        return;
    service_release(&c->svc);
    free(c);
}

const char *cinder_url(const struct cinder *c)
{
    return c->svc.url;
}

int cinder_volume_get(struct cinder *c, const char *id,
                      struct cinder_volume *out, struct error *err)
{
    struct http_response resp = HTTP_RESPONSE_INIT;
    struct buf path = BUF_INIT;
    int ret = -1;

    memset(out, 0, sizeof(*out));
    buf_adds(&path, "/volumes/");
    http_url_escape(&path, id);
    if (service_call(&c->svc, "GET", buf_str(&path), NULL, &resp, err) < 0 ||
        cinder_volume_parse(resp.body.data, resp.body.len, out, err) < 0) {
        error_prefix(err, "cannot show volume '%s'", id);
        goto out;
    }
    ret = 0;
out:
    buf_release(&path);
    http_response_release(&resp);
    return ret;
}

/* Append the volumes of src to *dst, emptying src. */
static void append_volumes(struct cinder_volume **dst, size_t *n,
                           struct cinder_volume *src, size_t m)
{
    *dst = xrealloc(*dst, (*n + m + 1) * sizeof(**dst));
    memcpy(*dst + *n, src, m * sizeof(*src));
    *n += m;
    free(src);
}

/* Every page of /volumes/detail, with the name filter when name is set. */
static int list_pages(struct cinder *c, const char *name,
                      struct cinder_volume **out, size_t *n, struct error *err)
{
    struct http_response resp = HTTP_RESPONSE_INIT;
    struct buf path = BUF_INIT;
    char *marker = NULL;
    int ret = -1;

    do {
        struct cinder_volume *page = NULL;
        size_t count = 0;

        buf_reset(&path);
        buf_adds(&path, "/volumes/detail?sort=created_at:asc");
        if (name) {
            buf_adds(&path, "&name=");
            http_url_escape(&path, name);
        }
        if (marker) {
            buf_adds(&path, "&marker=");
            http_url_escape(&path, marker);
            free(marker);
            marker = NULL;
        }
        if (service_call(&c->svc, "GET", buf_str(&path), NULL, &resp, err) <
                0 ||
            cinder_volume_list_parse(resp.body.data, resp.body.len, &page,
                                     &count, &marker, err) < 0)
            goto out;
        append_volumes(out, n, page, count);
    } while (marker);
    ret = 0;
out:
    free(marker);
    buf_release(&path);
    http_response_release(&resp);
    return ret;
}

int cinder_volume_list(struct cinder *c, const char *name,
                       struct cinder_volume **out, size_t *n, struct error *err)
{
    struct cinder_volume *all = NULL;
    size_t count = 0;
    int r;

    *out = NULL;
    *n = 0;
    r = list_pages(c, name, &all, &count, err);
    /* Clouds whose resource_filters.json does not allow "name" answer 400
     * to non-admins: list everything and filter here, as cinderclient's
     * find does. */
    if (r < 0 && name && err->kind == ERROR_API && err->cause == 400) {
        log_debug("name filter refused (%s); listing all volumes", err->msg);
        cinder_volumes_free(all, count);
        all = NULL;
        count = 0;
        error_clear(err);
        r = list_pages(c, NULL, &all, &count, err);
    }
    if (r < 0) {
        cinder_volumes_free(all, count);
        return error_prefix(err, "cannot list volumes");
    }
    /* Keep exact matches only: the filter may be fuzzy, or absent. */
    *out = xcalloc(count + 1, sizeof(**out));
    for (size_t i = 0; i < count; i++) {
        if (name && !(all[i].name && !strcmp(all[i].name, name)))
            cinder_volume_release(&all[i]);
        else
            (*out)[(*n)++] = all[i];
    }
    free(all);
    return 0;
}

int cinder_volume_find(struct cinder *c, const char *name_or_id,
                       struct cinder_volume *out, struct error *err)
{
    struct cinder_volume *list = NULL;
    struct error e = ERROR_INIT;
    size_t n = 0;
    int ret = -1;

    memset(out, 0, sizeof(*out));
    if (http_is_uuid(name_or_id)) {
        if (cinder_volume_get(c, name_or_id, out, &e) == 0)
            return 0;
        if (e.kind != ERROR_API || e.cause != 404) {
            *err = e;
            return -1;
        }
    }
    if (cinder_volume_list(c, name_or_id, &list, &n, err) < 0)
        return -1;
    if (n == 0) {
        error_set(err, ERROR_API, 404, "no volume with name or id '%s'",
                  name_or_id);
        goto out;
    }
    if (n > 1) {
        error_set(err, ERROR_USAGE, 0,
                  "more than one volume is named '%s' (%zu): give its id",
                  name_or_id, n);
        goto out;
    }
    *out = list[0];
    memset(&list[0], 0, sizeof(list[0]));
    ret = 0;
out:
    cinder_volumes_free(list, n);
    return ret;
}

/* A new JSON object of the key/value pairs. */
static json_t *cinder_metadata_json(const struct cinder_kv *kv, size_t n)
{
    json_t *o = json_object();

    for (size_t i = 0; i < n; i++)
        json_object_set_new(o, kv[i].key, json_string(kv[i].value));
    return o;
}

/* o[key] = value when value is not NULL. */
static void cinder_json_set_opt(json_t *o, const char *key, const char *value)
{
    if (value)
        json_object_set_new(o, key, json_string(value));
}

int cinder_volume_create(struct cinder *c,
                         const struct cinder_volume_spec *spec,
                         struct cinder_volume *out, struct error *err)
{
    struct http_response resp = HTTP_RESPONSE_INIT;
    json_t *v = json_pack("{s:I}", "size", (json_int_t)spec->size_gib);
    json_t *body = json_pack("{s:o}", "volume", v);
    int ret = -1;

    memset(out, 0, sizeof(*out));
    cinder_json_set_opt(v, "name", spec->name);
    cinder_json_set_opt(v, "description", spec->description);
    cinder_json_set_opt(v, "volume_type", spec->volume_type);
    cinder_json_set_opt(v, "availability_zone", spec->availability_zone);
    if (spec->n_metadata)
        json_object_set_new(
            v, "metadata",
            cinder_metadata_json(spec->metadata, spec->n_metadata));
    if (service_call(&c->svc, "POST", "/volumes", body, &resp, err) < 0 ||
        cinder_volume_parse(resp.body.data, resp.body.len, out, err) < 0) {
        error_prefix(err, "cannot create a %" PRIu64 " GiB volume%s%s%s",
                     spec->size_gib, spec->name ? " '" : "",
                     spec->name ? spec->name : "", spec->name ? "'" : "");
        goto out;
    }
    log_debug("created volume %s (%s)", out->id, out->status);
    ret = 0;
out:
    json_decref(body);
    http_response_release(&resp);
    return ret;
}

/* A request on /volumes/<id><suffix> whose answer only matters by status. */
static int volume_call(struct cinder *c, const char *method, const char *id,
                       const char *suffix, json_t *body, struct error *err)
{
    struct http_response resp = HTTP_RESPONSE_INIT;
    struct buf path = BUF_INIT;
    int r;

    buf_adds(&path, "/volumes/");
    http_url_escape(&path, id);
    buf_adds(&path, suffix);
    r = service_call(&c->svc, method, buf_str(&path), body, &resp, err);
    buf_release(&path);
    http_response_release(&resp);
    return r;
}

int cinder_volume_delete(struct cinder *c, const char *id, struct error *err)
{
    if (volume_call(c, "DELETE", id, "", NULL, err) < 0)
        return error_prefix(err, "cannot delete volume %s", id);
    return 0;
}

int cinder_volume_metadata_set(struct cinder *c, const char *id,
                               const struct cinder_kv *kv, size_t n,
                               struct error *err)
{
    json_t *body = json_pack("{s:o}", "metadata", cinder_metadata_json(kv, n));
    int r = volume_call(c, "POST", id, "/metadata", body, err);

    json_decref(body);
    if (r < 0)
        return error_prefix(err, "cannot set metadata of volume %s", id);
    return 0;
}

int cinder_volume_metadata_unset(struct cinder *c, const char *id,
                                 const char *key, struct error *err)
{
    struct buf suffix = BUF_INIT;
    struct error e = ERROR_INIT;
    int r;

    buf_adds(&suffix, "/metadata/");
    http_url_escape(&suffix, key);
    r = volume_call(c, "DELETE", id, buf_str(&suffix), NULL, &e);
    buf_release(&suffix);
    if (r < 0 && !(e.kind == ERROR_API && e.cause == 404)) {
        *err = e;
        return error_prefix(err, "cannot remove metadata '%s' of volume %s",
                            key, id);
    }
    return 0;
}

static int volume_action(struct cinder *c, const char *id, json_t *action,
                         struct error *err)
{
    int r = volume_call(c, "POST", id, "/action", action, err);

    json_decref(action);
    return r;
}

int cinder_volume_reset_status(struct cinder *c, const char *id,
                               const char *status, struct error *err)
{
    json_t *a = json_pack("{s:{s:s}}", "os-reset_status", "status", status);

    if (volume_action(c, id, a, err) < 0)
        return error_prefix(err,
                            "cannot reset the status of volume %s to "
                            "'%s'",
                            id, status);
    return 0;
}

/* ---- waiting ------------------------------------------------------------- */

static void note_status(struct buf *seen, char **last, const char *status)
{
    if (*last && !strcmp(*last, status))
        return;
    log_debug("status '%s'", status);
    if (seen)
        buf_addf(seen, "%s%s", seen->len ? "," : "", status);
    free(*last);
    *last = xstrdup(status);
}

/* An error of the API rather than an answer about the volume. */
static bool wait_transient(const struct error *e)
{
    return (e->kind == ERROR_API && e->cause >= 500) || e->kind == ERROR_HTTP;
}

int cinder_volume_wait(struct cinder *c, const char *id,
                       const struct cinder_wait *w, struct cinder_volume *out,
                       struct error *err)
{
    double timeout = w->timeout > 0 ? w->timeout : 300;
    double pause = w->interval > 0 ? w->interval : 0.25;
    double start = time_now();
    const char *goal = w->want ? w->want : "not busy";
    bool want_gone = w->want && !strcmp(w->want, "deleted");
    char *last = NULL;
    int ret = -1;

    if (out)
        memset(out, 0, sizeof(*out));
    for (;;) {
        struct cinder_volume v;
        struct error e = ERROR_INIT;
        double left;

        if (cinder_volume_get(c, id, &v, &e) < 0) {
            if (want_gone && e.kind == ERROR_API && e.cause == 404) {
                note_status(w->seen, &last, "deleted");
                ret = 0;
                break;
            }
            /* A poll is only a question: a fault of the API (a 5xx, a
             * lost connection) is asked again until the wait's time is up,
             * rather than taken for the volume's state. */
            left = start + timeout - time_now();
            if (wait_transient(&e) && left > 0) {
                log_warn("volume %s: %s; asking again", id, e.msg);
                http_sleep(pause < left ? pause : left);
                pause = pause * 1.5 > 2.0 ? 2.0 : pause * 1.5;
                continue;
            }
            *err = e;
            error_prefix(err, "waiting for volume %s to be '%s'", id, goal);
            break;
        }
        note_status(w->seen, &last, v.status);
        if (w->want ? !strcmp(v.status, w->want)
                    : cinder_status_classify(v.status) != CINDER_STATUS_BUSY) {
            if (out)
                *out = v;
            else
                cinder_volume_release(&v);
            ret = 0;
            break;
        }
        if (cinder_status_classify(v.status) == CINDER_STATUS_ERROR &&
            cinder_status_classify(w->want) != CINDER_STATUS_ERROR) {
            error_set(err, ERROR_STATE, 0,
                      "volume %s went to status '%s' while waiting for '%s'",
                      id, v.status, goal);
            cinder_volume_release(&v);
            break;
        }
        cinder_volume_release(&v);
        left = start + timeout - time_now();
        if (left <= 0) {
            error_set(err, ERROR_STATE, 0,
                      "volume %s is still '%s' after %.0f s (waiting for "
                      "'%s')",
                      id, last, timeout, goal);
            break;
        }
        http_sleep(pause < left ? pause : left);
        pause = pause * 1.5 > 2.0 ? 2.0 : pause * 1.5;
    }
    free(last);
    return ret;
}
