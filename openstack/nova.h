/* SPDX-License-Identifier: MIT */
/*
 * openstack/nova.h: the parts of the Nova compute API that move a volume
 * from one server to another: show or find a server, list its volume
 * attachments, attach, detach.
 *
 * Attach and detach only make the request; the volume's progress
 * (reserved, attaching, in-use; detaching, available) is Cinder's to
 * report, so callers wait with cinder_volume_wait. Plain structs out, no
 * jansson.
 */
#ifndef OPENSTACK_NOVA_H
#define OPENSTACK_NOVA_H

#include <stdbool.h>
#include <stddef.h>

#include "openstack/keystone.h"
#include "rbdmove/base/buf.h"
#include "rbdmove/base/error.h"

/* 2.60 (Queens): multiattach; tags on attachments. */
#define NOVA_MICROVERSION "2.60"

struct nova_server {
    char id[37];
    char *name;
    char *status;            /* "ACTIVE", "SHUTOFF", "ERROR", ... */
    char *vm_state;          /* OS-EXT-STS:vm_state, or NULL */
    char *task_state;        /* OS-EXT-STS:task_state; NULL when idle */
    char *availability_zone; /* OS-EXT-AZ:availability_zone, or NULL */
    char *host;              /* OS-EXT-SRV-ATTR:host (admin), or NULL */
    char *project_id;        /* tenant_id */
    bool locked;
    char **volume_ids; /* os-extended-volumes:volumes_attached */
    size_t n_volumes;
};

void nova_server_release(struct nova_server *s);

struct nova_attachment {
    char volume_id[37];
    char server_id[37];
    char *device;        /* "/dev/vdb", or NULL */
    char *attachment_id; /* Cinder's attachment (2.89+), or NULL */
};

void nova_attachments_free(struct nova_attachment *a, size_t n);

/*
 * Parsers, pure (ERROR_PROTOCOL on bad input, out-params left empty):
 *   nova_server_parse:      {"server": {...}}
 *   nova_server_list_parse: {"servers": [...]}
 *   nova_attachments_parse: {"volumeAttachments": [...]}
 *   nova_attachment_parse:  {"volumeAttachment": {...}}
 */
int nova_server_parse(const char *body, size_t len, struct nova_server *out,
                      struct error *err) MUST_CHECK;
int nova_server_list_parse(const char *body, size_t len,
                           struct nova_server **out, size_t *n,
                           struct error *err) MUST_CHECK;
int nova_attachments_parse(const char *body, size_t len,
                           struct nova_attachment **out, size_t *n,
                           struct error *err) MUST_CHECK;
int nova_attachment_parse(const char *body, size_t len,
                          struct nova_attachment *out,
                          struct error *err) MUST_CHECK;

/*
 * Whether a volume can be attached to the server now: it exists, is not
 * being changed (no task state), and is in a state that Nova accepts for
 * an attach (ACTIVE, SHUTOFF, PAUSED, SUSPENDED, SHELVED*). Appends the
 * reason to why when not. Pure.
 */
bool nova_server_can_attach(const struct nova_server *s, struct buf *why);

struct nova;

/* Find Nova's endpoint ("compute") in the session's region. Keeps a
 * reference to ks, which must outlive the handle. */
int nova_open(struct keystone *ks, struct nova **out,
              struct error *err) MUST_CHECK;

/* NULL-safe. */
void nova_close(struct nova *n);

const char *nova_url(const struct nova *n);

/* Show one server by id. ERROR_API 404 when it does not exist. */
int nova_server_get(struct nova *n, const char *id, struct nova_server *out,
                    struct error *err) MUST_CHECK;

/*
 * Find a server by id or exact name, as the openstack CLI does (an id
 * that exists wins; a name must match exactly one server: ERROR_USAGE
 * when several do, ERROR_API 404 when none does).
 */
int nova_server_find(struct nova *n, const char *name_or_id,
                     struct nova_server *out, struct error *err) MUST_CHECK;

/* The server's volume attachments; free with nova_attachments_free. */
int nova_attachments_list(struct nova *n, const char *server_id,
                          struct nova_attachment **out, size_t *count,
                          struct error *err) MUST_CHECK;

/*
 * Ask Nova to attach the volume (device NULL: Nova picks). *out (may be
 * NULL) gets Nova's answer, with the device it chose. The volume becomes
 * "in-use" a few seconds later.
 */
int nova_volume_attach(struct nova *n, const char *server_id,
                       const char *volume_id, const char *device,
                       struct nova_attachment *out,
                       struct error *err) MUST_CHECK;

/* Ask Nova to detach the volume (202); it becomes "available" later. */
int nova_volume_detach(struct nova *n, const char *server_id,
                       const char *volume_id, struct error *err) MUST_CHECK;

#endif
