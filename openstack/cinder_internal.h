/* SPDX-License-Identifier: MIT */
/*
 * openstack/cinder_internal.h: what cinder.c shares with cinder_backend.c.
 * Not for use outside the Cinder module.
 */
#ifndef OPENSTACK_CINDER_INTERNAL_H
#define OPENSTACK_CINDER_INTERNAL_H

#include <stddef.h>

#include "openstack/cinder.h"
#include "openstack/http.h"

/*
 * One request to path (relative to the endpoint, starting with '/') with
 * the microversion header and an optional JSON body (not consumed). The
 * answer is in *resp; contract of keystone_request.
 */
int cinder_call(struct cinder *c, const char *method, const char *path,
                struct json_t *body, struct http_response *resp,
                struct error *err) MUST_CHECK;

/* The project the session is scoped to (borrowed). */
const char *cinder_project_id(const struct cinder *c);

#endif
