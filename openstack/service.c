/* SPDX-License-Identifier: MIT */
/*
 * openstack/service.c: the request path and the list loop that Cinder
 * and Nova share.
 *
 * Owns the endpoint URL of one service; borrows the keystone session,
 * which adds and renews the token, and through it the HTTP client, which
 * retries. The microversion header is the only thing a client adds.
 * service_parse_array reads jansson values and returns plain C arrays;
 * what an element means is the client's callback.
 */
#include "openstack/service.h"

#include <stdlib.h>
#include <string.h>

#include "rbdmove/base/json.h"

#include "rbdmove/base/xalloc.h"

int service_init(struct service *svc, struct keystone *ks,
                 const char *const *types, const char *header,
                 struct error *err)
{
    char *url = NULL;

    memset(svc, 0, sizeof(*svc));
    if (keystone_endpoint_dup(ks, types, &url, err) < 0)
        return -1;
    svc->ks = ks;
    svc->url = url;
    svc->header = header;
    return 0;
}

void service_release(struct service *svc)
{
    if (!svc)
        return;
    free(svc->url);
    memset(svc, 0, sizeof(*svc));
}

int service_call(struct service *svc, const char *method, const char *path,
                 const struct json_t *body, struct http_response *resp,
                 struct error *err)
{
    struct http_request req = {0};
    char *url = xasprintf("%s%s", svc->url, path);
    char *text = body ? http_json_dump(body) : NULL;
    int r;

    req.method = method;
    req.url = url;
    req.headers[0] = svc->header;
    req.body = text;
    req.body_len = text ? strlen(text) : 0;
    r = keystone_request(svc->ks, &req, resp, err);
    free(text);
    free(url);
    return r;
}

int service_parse_array(const struct json_t *obj, const char *service,
                        const char *key, size_t size, service_parse_fn *parse,
                        service_release_fn *release, void **out, size_t *n,
                        struct error *err)
{
    json_t *arr = json_object_get(obj, key);
    json_t *j;
    char *list;
    size_t i;

    *out = NULL;
    *n = 0;
    if (!json_is_array(arr))
        return error_set(err, ERROR_PROTOCOL, 0,
                         "unexpected %s answer: no \"%s\" array", service, key);
    list = xcalloc(json_array_size(arr) + 1, size);
    json_array_foreach(arr, i, j)
    {
        if (parse(j, list + i * size, err) < 0) {
            for (size_t k = 0; release && k < i; k++)
                release(list + k * size);
            free(list);
            return -1;
        }
    }
    *out = list;
    *n = json_array_size(arr);
    return 0;
}
