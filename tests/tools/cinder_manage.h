/* SPDX-License-Identifier: MIT */
/*
 * tests/tools/cinder_manage.h: Cinder's manage-existing calls, for
 * rbm-os-client and the tests that drive it (t41-openstack-client.sh).
 *
 * rbdmove never adopts or forgets volumes, so these live with the tests
 * rather than in openstack/. They make their requests as openstack/cinder.c
 * does, through its public parts: the session's keystone_request, the
 * endpoint of cinder_url and CINDER_MICROVERSION (manage-existing needs
 * 3.8), and they parse the answers with cinder.h's parsers. ks must be the
 * session that c was opened with. Admin only.
 */
#ifndef RBDMOVE_TESTS_TOOLS_CINDER_MANAGE_H
#define RBDMOVE_TESTS_TOOLS_CINDER_MANAGE_H

#include <stdbool.h>
#include <stddef.h>

#include "openstack/cinder.h"
#include "openstack/keystone.h"
#include "rbdmove/base/error.h"

/*
 * What a backend holds that Cinder could manage, on host "h@backend#pool".
 * The caller frees *out with cinder_manageables_free.
 */
int cinder_manageable_list(struct keystone *ks, struct cinder *c,
                           const char *host, struct cinder_manageable **out,
                           size_t *n, struct error *err) MUST_CHECK;

struct cinder_manage_spec {
    const char *host;        /* "host@backend#pool" */
    const char *source_name; /* the RBD image to adopt */
    const char *name;
    const char *description;
    const char *volume_type;
    const char *availability_zone;
    const struct cinder_kv *metadata;
    size_t n_metadata;
    bool bootable;
};

/* Adopt an existing backend image as a new volume (status "managing"; wait
 * for "available"). Cinder's RBD driver renames the image to
 * volume-<new id> and rounds the size up to whole GiB. */
int cinder_volume_manage(struct keystone *ks, struct cinder *c,
                         const struct cinder_manage_spec *spec,
                         struct cinder_volume *out,
                         struct error *err) MUST_CHECK;

/* Forget a volume without deleting its image (os-unmanage). */
int cinder_volume_unmanage(struct keystone *ks, struct cinder *c,
                           const char *id, struct error *err) MUST_CHECK;

#endif
