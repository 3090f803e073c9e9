/* SPDX-License-Identifier: MIT */
/*
 * openstack/nova.c: servers and their volume attachments.
 *
 * Requests carry "OpenStack-API-Version: compute 2.60" and go through
 * service_call. Nova's name filter is a regular expression, so a name
 * lookup escapes it and then keeps only exact matches.
 */
#include "openstack/nova.h"

#include <stdlib.h>
#include <string.h>

#include "openstack/service.h"
#include "rbdmove/base/json.h"
#include "rbdmove/base/log.h"
#include "rbdmove/base/xalloc.h"

#define MICROVERSION_HEADER "OpenStack-API-Version: compute " NOVA_MICROVERSION

struct nova {
    struct service svc;
};

static const char *const service_types[] = {"compute", NULL};

void nova_server_release(struct nova_server *s)
{
    if (!s)
        return;
    free(s->name);
    free(s->status);
    free(s->vm_state);
    free(s->task_state);
    free(s->availability_zone);
    free(s->host);
    free(s->project_id);
    for (size_t i = 0; i < s->n_volumes; i++)
        free(s->volume_ids[i]);
    free(s->volume_ids);
    memset(s, 0, sizeof(*s));
}

static void servers_free(struct nova_server *s, size_t n)
{
    for (size_t i = 0; s && i < n; i++)
        nova_server_release(&s[i]);
    free(s);
}

/* Also the service_release_fn of the attachment list. */
static void attachment_release(void *elem)
{
    struct nova_attachment *a = elem;

    free(a->device);
    free(a->attachment_id);
}

void nova_attachments_free(struct nova_attachment *a, size_t n)
{
    for (size_t i = 0; a && i < n; i++)
        attachment_release(&a[i]);
    free(a);
}

/* ---- parsing ------------------------------------------------------------- */

static int copy_id(char dst[37], const char *id, const char *what,
                   struct error *err)
{
    if (!id || strlen(id) > 36)
        return error_set(err, ERROR_PROTOCOL, 0,
                         "unexpected Nova answer: bad %s '%s'", what,
                         id ? id : "(none)");
    memcpy(dst, id, strlen(id) + 1);
    return 0;
}

static void parse_volumes(json_t *arr, struct nova_server *s)
{
    size_t i;
    json_t *v;

    if (!json_array_size(arr))
        return;
    s->volume_ids = xcalloc(json_array_size(arr), sizeof(*s->volume_ids));
    json_array_foreach(arr, i, v)
    {
        char *id = http_json_strdup(v, "id");

        if (id)
            s->volume_ids[s->n_volumes++] = id;
    }
}

/* A service_parse_fn: one server object into *elem. */
static int server_from_json(json_t *j, void *elem, struct error *err)
{
    struct nova_server *out = elem;
    struct nova_server s;
    json_error_t jerr;
    const char *id = NULL;
    const char *status = NULL;

    memset(out, 0, sizeof(*out));
    memset(&s, 0, sizeof(s));
    if (json_unpack_ex(j, &jerr, 0, "{s:s, s:s}", "id", &id, "status",
                       &status) < 0)
        return error_set(err, ERROR_PROTOCOL, 0, "unexpected Nova server: %s",
                         jerr.text);
    if (copy_id(s.id, id, "server id", err) < 0)
        return -1;
    s.status = xstrdup(status);
    s.name = http_json_strdup(j, "name");
    s.vm_state = http_json_strdup(j, "OS-EXT-STS:vm_state");
    s.task_state = http_json_strdup(j, "OS-EXT-STS:task_state");
    s.availability_zone = http_json_strdup(j, "OS-EXT-AZ:availability_zone");
    s.host = http_json_strdup(j, "OS-EXT-SRV-ATTR:host");
    s.project_id = http_json_strdup(j, "tenant_id");
    s.locked = http_json_bool(j, "locked", false);
    parse_volumes(json_object_get(j, "os-extended-volumes:volumes_attached"),
                  &s);
    *out = s;
    return 0;
}

int nova_server_parse(const char *body, size_t len, struct nova_server *out,
                      struct error *err)
{
    json_t *root = NULL;
    json_t *s;
    int ret = -1;

    memset(out, 0, sizeof(*out));
    if (http_json_parse(body, len, "Nova server", &root, err) < 0)
        return -1;
    s = json_object_get(root, "server");
    if (!json_is_object(s))
        error_set(err, ERROR_PROTOCOL, 0,
                  "unexpected Nova answer: no \"server\" object");
    else
        ret = server_from_json(s, out, err);
    json_decref(root);
    return ret;
}

static void server_release(void *elem)
{
    nova_server_release(elem);
}

int nova_server_list_parse(const char *body, size_t len,
                           struct nova_server **out, size_t *n,
                           struct error *err)
{
    json_t *root = NULL;
    void *list = NULL;
    int r;

    *out = NULL;
    *n = 0;
    if (http_json_parse(body, len, "Nova server list", &root, err) < 0)
        return -1;
    r = service_parse_array(root, "Nova", "servers", sizeof(**out),
                            server_from_json, server_release, &list, n, err);
    *out = list;
    json_decref(root);
    return r;
}

/* A service_parse_fn: one volumeAttachment object into *elem. */
static int attachment_from_json(json_t *j, void *elem, struct error *err)
{
    struct nova_attachment *out = elem;
    struct nova_attachment a;

    memset(out, 0, sizeof(*out));
    memset(&a, 0, sizeof(a));
    if (copy_id(a.volume_id, json_string_value(json_object_get(j, "volumeId")),
                "volumeId", err) < 0 ||
        copy_id(a.server_id, json_string_value(json_object_get(j, "serverId")),
                "serverId", err) < 0)
        return -1;
    a.device = http_json_strdup(j, "device");
    a.attachment_id = http_json_strdup(j, "attachment_id");
    *out = a;
    return 0;
}

int nova_attachments_parse(const char *body, size_t len,
                           struct nova_attachment **out, size_t *n,
                           struct error *err)
{
    json_t *root = NULL;
    void *list = NULL;
    int r;

    *out = NULL;
    *n = 0;
    if (http_json_parse(body, len, "Nova volume attachments", &root, err) < 0)
        return -1;
    r = service_parse_array(root, "Nova", "volumeAttachments", sizeof(**out),
                            attachment_from_json, attachment_release, &list, n,
                            err);
    *out = list;
    json_decref(root);
    return r;
}

int nova_attachment_parse(const char *body, size_t len,
                          struct nova_attachment *out, struct error *err)
{
    json_t *root = NULL;
    json_t *a;
    int ret = -1;

    memset(out, 0, sizeof(*out));
    if (http_json_parse(body, len, "Nova volume attachment", &root, err) < 0)
        return -1;
    a = json_object_get(root, "volumeAttachment");
    if (!json_is_object(a))
        error_set(err, ERROR_PROTOCOL, 0,
                  "unexpected Nova answer: no \"volumeAttachment\" object");
    else
        ret = attachment_from_json(a, out, err);
    json_decref(root);
    return ret;
}

bool nova_server_can_attach(const struct nova_server *s, struct buf *why)
{
    static const char *const ok[] = {
        "ACTIVE",  "SHUTOFF",           "PAUSED", "SUSPENDED",
        "SHELVED", "SHELVED_OFFLOADED", NULL};

    if (s->task_state) {
        if (why)
            buf_addf(why, "server %s is busy (task '%s')", s->id,
                     s->task_state);
        return false;
    }
    for (int i = 0; ok[i]; i++) {
        if (!strcmp(s->status, ok[i]))
            return true;
    }
    if (why)
        buf_addf(why, "server %s is %s: volumes cannot be attached", s->id,
                 s->status);
    return false;
}

/* ---- requests ------------------------------------------------------------ */

int nova_open(struct keystone *ks, struct nova **out, struct error *err)
{
    struct service svc;

    *out = NULL;
    if (service_init(&svc, ks, service_types, MICROVERSION_HEADER, err) < 0)
        return error_prefix(err, "cannot find Nova");
    *out = xcalloc(1, sizeof(**out));
    (*out)->svc = svc;
    return 0;
}

void nova_close(struct nova *n)
{
    if (!n)
        return;
    service_release(&n->svc);
    free(n);
}

const char *nova_url(const struct nova *n)
{
    return n->svc.url;
}

int nova_server_get(struct nova *n, const char *id, struct nova_server *out,
                    struct error *err)
{
    struct http_response resp = HTTP_RESPONSE_INIT;
    struct buf path = BUF_INIT;
    int ret = -1;

    memset(out, 0, sizeof(*out));
    buf_adds(&path, "/servers/");
    http_url_escape(&path, id);
    if (service_call(&n->svc, "GET", buf_str(&path), NULL, &resp, err) < 0 ||
        nova_server_parse(resp.body.data, resp.body.len, out, err) < 0) {
        error_prefix(err, "cannot show server '%s'", id);
        goto out;
    }
    ret = 0;
out:
    buf_release(&path);
    http_response_release(&resp);
    return ret;
}

/* "^name$" with the regular-expression characters escaped. */
static void add_name_regex(struct buf *b, const char *name)
{
    struct buf re = BUF_INIT;

    buf_adds(&re, "^");
    for (const char *p = name; *p; p++) {
        if (strchr("\\.^$*+?()[]{}|", *p))
            buf_adds(&re, "\\");
        buf_add(&re, p, 1);
    }
    buf_adds(&re, "$");
    http_url_escape(b, buf_str(&re));
    buf_release(&re);
}

static int find_by_name(struct nova *n, const char *name,
                        struct nova_server *out, struct error *err)
{
    struct http_response resp = HTTP_RESPONSE_INIT;
    struct buf path = BUF_INIT;
    struct nova_server *list = NULL;
    size_t count = 0, hits = 0, hit = 0;
    int ret = -1;

    buf_adds(&path, "/servers/detail?name=");
    add_name_regex(&path, name);
    if (service_call(&n->svc, "GET", buf_str(&path), NULL, &resp, err) < 0 ||
        nova_server_list_parse(resp.body.data, resp.body.len, &list, &count,
                               err) < 0) {
        error_prefix(err, "cannot list servers named '%s'", name);
        goto out;
    }
    for (size_t i = 0; i < count; i++) {
        if (list[i].name && !strcmp(list[i].name, name)) {
            hits++;
            hit = i;
        }
    }
    if (hits == 0) {
        error_set(err, ERROR_API, 404, "no server with name or id '%s'", name);
        goto out;
    }
    if (hits > 1) {
        error_set(err, ERROR_USAGE, 0,
                  "more than one server is named '%s' (%zu): give its id", name,
                  hits);
        goto out;
    }
    *out = list[hit];
    memset(&list[hit], 0, sizeof(list[hit]));
    ret = 0;
out:
    servers_free(list, count);
    buf_release(&path);
    http_response_release(&resp);
    return ret;
}

int nova_server_find(struct nova *n, const char *name_or_id,
                     struct nova_server *out, struct error *err)
{
    struct error e = ERROR_INIT;

    memset(out, 0, sizeof(*out));
    if (http_is_uuid(name_or_id)) {
        if (nova_server_get(n, name_or_id, out, &e) == 0)
            return 0;
        if (e.kind != ERROR_API || e.cause != 404) {
            *err = e;
            return -1;
        }
    }
    return find_by_name(n, name_or_id, out, err);
}

int nova_attachments_list(struct nova *n, const char *server_id,
                          struct nova_attachment **out, size_t *count,
                          struct error *err)
{
    struct http_response resp = HTTP_RESPONSE_INIT;
    struct buf path = BUF_INIT;
    int ret = -1;

    *out = NULL;
    *count = 0;
    buf_adds(&path, "/servers/");
    http_url_escape(&path, server_id);
    buf_adds(&path, "/os-volume_attachments");
    if (service_call(&n->svc, "GET", buf_str(&path), NULL, &resp, err) < 0 ||
        nova_attachments_parse(resp.body.data, resp.body.len, out, count, err) <
            0) {
        error_prefix(err, "cannot list the volumes of server %s", server_id);
        goto out;
    }
    ret = 0;
out:
    buf_release(&path);
    http_response_release(&resp);
    return ret;
}

int nova_volume_attach(struct nova *n, const char *server_id,
                       const char *volume_id, const char *device,
                       struct nova_attachment *out, struct error *err)
{
    struct http_response resp = HTTP_RESPONSE_INIT;
    struct buf path = BUF_INIT;
    struct nova_attachment a;
    json_t *att = json_pack("{s:s}", "volumeId", volume_id);
    json_t *body = json_pack("{s:o}", "volumeAttachment", att);
    int ret = -1;

    if (out)
        memset(out, 0, sizeof(*out));
    if (device)
        json_object_set_new(att, "device", json_string(device));
    buf_adds(&path, "/servers/");
    http_url_escape(&path, server_id);
    buf_adds(&path, "/os-volume_attachments");
    if (service_call(&n->svc, "POST", buf_str(&path), body, &resp, err) < 0 ||
        nova_attachment_parse(resp.body.data, resp.body.len, &a, err) < 0) {
        error_prefix(err, "cannot attach volume %s to server %s", volume_id,
                     server_id);
        goto out;
    }
    log_debug("attach of volume %s to server %s accepted as %s", volume_id,
              server_id, a.device ? a.device : "(device unknown)");
    if (out) {
        *out = a;
    } else {
        free(a.device);
        free(a.attachment_id);
    }
    ret = 0;
out:
    json_decref(body);
    buf_release(&path);
    http_response_release(&resp);
    return ret;
}

int nova_volume_detach(struct nova *n, const char *server_id,
                       const char *volume_id, struct error *err)
{
    struct http_response resp = HTTP_RESPONSE_INIT;
    struct buf path = BUF_INIT;
    int ret = 0;

    buf_adds(&path, "/servers/");
    http_url_escape(&path, server_id);
    buf_adds(&path, "/os-volume_attachments/");
    http_url_escape(&path, volume_id);
    if (service_call(&n->svc, "DELETE", buf_str(&path), NULL, &resp, err) < 0)
        ret = error_prefix(err, "cannot detach volume %s from server %s",
                           volume_id, server_id);
    buf_release(&path);
    http_response_release(&resp);
    return ret;
}
