/* SPDX-License-Identifier: MIT */
/*
 * openstack/cinder_internal.h: what cinder.c shares with cinder_backend.c.
 * Not for use outside the Cinder module.
 */
#ifndef OPENSTACK_CINDER_INTERNAL_H
#define OPENSTACK_CINDER_INTERNAL_H

#include "openstack/cinder.h"
#include "openstack/service.h"

/* Requests go through service_call(&c->svc, ...), which adds the
 * microversion header; svc.url is .../v3/<project id>. */
struct cinder {
    struct service svc;
};

#endif
