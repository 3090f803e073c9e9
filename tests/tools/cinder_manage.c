/* SPDX-License-Identifier: MIT */
/*
 * tests/tools/cinder_manage.c: Cinder's manage-existing calls for the
 * tests (see cinder_manage.h), moved out of openstack/cinder_backend.c and
 * cinder.c. Request bodies are written with json_out; the requests and
 * error messages are the ones those files made.
 */
#include "tests/tools/cinder_manage.h"

#include <stdlib.h>
#include <string.h>

#include "openstack/http.h"
#include "rbdmove/base/buf.h"
#include "rbdmove/base/json_out.h"
#include "rbdmove/base/xalloc.h"

/*
 * One request to path (relative to the endpoint, starting with '/') with
 * the microversion header and an optional JSON body, as cinder.c makes
 * it with openstack/service.c's service_call. The answer is in *resp;
 * contract of keystone_request.
 */
static int call(struct keystone *ks, struct cinder *c, const char *method,
                const char *path, const char *body, struct http_response *resp,
                struct error *err)
{
    struct http_request req = {0};
    char *url = xasprintf("%s%s", cinder_url(c), path);
    int r;

    req.method = method;
    req.url = url;
    req.headers[0] = "OpenStack-API-Version: volume " CINDER_MICROVERSION;
    req.body = body;
    req.body_len = body ? strlen(body) : 0;
    r = keystone_request(ks, &req, resp, err);
    free(url);
    return r;
}

int cinder_manageable_list(struct keystone *ks, struct cinder *c,
                           const char *host, struct cinder_manageable **out,
                           size_t *n, struct error *err)
{
    struct http_response resp = HTTP_RESPONSE_INIT;
    struct buf path = BUF_INIT;
    int ret = -1;

    *out = NULL;
    *n = 0;
    buf_adds(&path, "/manageable_volumes/detail?host=");
    http_url_escape(&path, host);
    if (call(ks, c, "GET", buf_str(&path), NULL, &resp, err) < 0 ||
        cinder_manageable_parse(resp.body.data, resp.body.len, out, n, err) <
            0) {
        error_prefix(err, "cannot list manageable volumes on '%s'", host);
        goto out;
    }
    ret = 0;
out:
    buf_release(&path);
    http_response_release(&resp);
    return ret;
}

/* j[key] = value when value is not NULL. */
static void set_opt(struct json_out *j, const char *key, const char *value)
{
    if (value)
        json_out_str(j, key, value);
}

int cinder_volume_manage(struct keystone *ks, struct cinder *c,
                         const struct cinder_manage_spec *spec,
                         struct cinder_volume *out, struct error *err)
{
    struct http_response resp = HTTP_RESPONSE_INIT;
    struct json_out body = JSON_OUT_INIT;
    int ret = -1;

    memset(out, 0, sizeof(*out));
    json_out_object_begin(&body, NULL);
    json_out_object_begin(&body, "volume");
    json_out_str(&body, "host", spec->host);
    json_out_object_begin(&body, "ref");
    json_out_str(&body, "source-name", spec->source_name);
    json_out_object_end(&body);
    json_out_bool(&body, "bootable", spec->bootable);
    set_opt(&body, "name", spec->name);
    set_opt(&body, "description", spec->description);
    set_opt(&body, "volume_type", spec->volume_type);
    set_opt(&body, "availability_zone", spec->availability_zone);
    if (spec->n_metadata) {
        json_out_object_begin(&body, "metadata");
        for (size_t i = 0; i < spec->n_metadata; i++)
            json_out_str(&body, spec->metadata[i].key, spec->metadata[i].value);
        json_out_object_end(&body);
    }
    json_out_object_end(&body);
    json_out_object_end(&body);
    if (call(ks, c, "POST", "/manageable_volumes", json_out_text(&body), &resp,
             err) < 0 ||
        cinder_volume_parse(resp.body.data, resp.body.len, out, err) < 0) {
        error_prefix(err, "cannot manage image '%s' on '%s'", spec->source_name,
                     spec->host);
        goto out;
    }
    ret = 0;
out:
    json_out_release(&body);
    http_response_release(&resp);
    return ret;
}

int cinder_volume_unmanage(struct keystone *ks, struct cinder *c,
                           const char *id, struct error *err)
{
    struct http_response resp = HTTP_RESPONSE_INIT;
    struct buf path = BUF_INIT;
    int r;

    buf_adds(&path, "/volumes/");
    http_url_escape(&path, id);
    buf_adds(&path, "/action");
    r = call(ks, c, "POST", buf_str(&path), "{\"os-unmanage\":{}}", &resp, err);
    buf_release(&path);
    http_response_release(&resp);
    if (r < 0)
        return error_prefix(err, "cannot unmanage volume %s", id);
    return 0;
}
