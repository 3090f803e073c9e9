/* SPDX-License-Identifier: MIT */
/*
 * openstack/service.h: what the clients of the OpenStack APIs (cinder.c,
 * nova.c) share: the session, the service's endpoint from the catalog,
 * the one function that sends a request to it, and the parsing of a JSON
 * array into a C array.
 *
 * A struct service knows no paths and no answer formats: the client that
 * embeds it builds the requests and parses the answers, with
 * service_parse_array for the loop that every list answer needs. Tokens
 * are keystone.c's business and retries http.c's: nothing is renewed or
 * repeated here.
 */
#ifndef OPENSTACK_SERVICE_H
#define OPENSTACK_SERVICE_H

#include <stddef.h>

#include "openstack/http.h"
#include "openstack/keystone.h"
#include "rbdmove/base/error.h"

/*
 * One service of a session, embedded in its client (struct cinder, struct
 * nova). Plain data: a client may adjust url after service_init.
 */
struct service {
    struct keystone *ks; /* borrowed; outlives the service */
    char *url;           /* owned; the endpoint, no trailing '/' */
    const char *header;  /* borrowed; sent with every request, or NULL */
};

/*
 * Find the endpoint of the first of types (in order of preference) in the
 * session's region and interface, as keystone_endpoint_dup does. Keeps
 * references to ks and header ("OpenStack-API-Version: ..."), which must
 * outlive svc. On failure *svc is left zeroed and err is the catalog's.
 */
int service_init(struct service *svc, struct keystone *ks,
                 const char *const *types, const char *header,
                 struct error *err) MUST_CHECK;

/* Frees the URL; *svc is zeroed. NULL-safe. */
void service_release(struct service *svc);

/*
 * Send method to the endpoint's URL followed by path (which starts with
 * '/' and carries any query), with the header and an optional JSON body
 * (not consumed), through keystone_request: the token is added, and
 * renewed once on 401; http_send retries failed connections and
 * 502/503 (504 for idempotent methods). Contract of keystone_request
 * otherwise: *resp holds the last answer, also on failure.
 */
int service_call(struct service *svc, const char *method, const char *path,
                 const struct json_t *body, struct http_response *resp,
                 struct error *err) MUST_CHECK;

/*
 * Fill the zeroed element elem of a C array from the JSON value j. On
 * failure set err and leave nothing in elem to release.
 */
typedef int service_parse_fn(struct json_t *j, void *elem, struct error *err);

/* Free what a service_parse_fn put in elem (not elem itself). */
typedef void service_release_fn(void *elem);

/*
 * Parse the array obj[key] of an answer of service ("Cinder", "Nova")
 * into a new C array of elements of size bytes, one parse call per
 * element, in order. The array has one zeroed element after the last.
 * On success *out is the array, which the caller owns, and *n its
 * length. Fails with ERROR_PROTOCOL "unexpected <service> answer: no
 * "<key>" array" when obj[key] is missing or not an array, and with
 * parse's error; then the elements parsed so far are released (release
 * may be NULL when parse cannot fail), *out is NULL and *n 0. Pure.
 */
int service_parse_array(const struct json_t *obj, const char *service,
                        const char *key, size_t size, service_parse_fn *parse,
                        service_release_fn *release, void **out, size_t *n,
                        struct error *err) MUST_CHECK;

#endif
