/* SPDX-License-Identifier: MIT */
/*
 * rbdmove/core/cluster.h: a connection to one Ceph cluster.
 *
 * Owns the rados_t. Timeouts are always set, so a call against a dead
 * cluster fails with ETIMEDOUT instead of hanging.
 */
#ifndef RBDMOVE_CLUSTER_H
#define RBDMOVE_CLUSTER_H

#include <stdbool.h>
#include <stdint.h>

#include "rbdmove/base/error.h"

struct cluster;

/*
 * Connect with the configuration file conf (NULL: librados' default search)
 * as client id (NULL: "admin"). timeout_s bounds the mount and every mon
 * and osd operation (0: 60 s).
 */
int cluster_connect(const char *conf, const char *id, int timeout_s,
                    struct cluster **out, struct error *err) MUST_CHECK;

/*
 * True while a connect that a stop gave up on still runs in its thread:
 * the process must then end with _exit(), as returning from main() would
 * run librados' static destructors under that thread (and abort with
 * boost::bad_get, as seen when a batch's job was stopped mid-connect).
 */
bool cluster_abandoned(void);

/* NULL-safe. */
void cluster_close(struct cluster *cl);

/* The cluster's fsid (borrowed). */
const char *cluster_fsid(const struct cluster *cl);

/* The monitors the client was given (mon_host; borrowed, "" when
 * unknown): with the fsid, what tells two clusters apart. */
const char *cluster_mons(const struct cluster *cl);

/* This client's global id (client.N), as watchers lists show it. */
uint64_t cluster_instance_id(struct cluster *cl);

/* This client's address (as an image's lock owners and the blocklist
 * name it: "IP:PORT/NONCE"), owned; NULL when it cannot be told. */
char *cluster_addr(struct cluster *cl);

/* The name of pool id (owned), NULL when there is no such pool. */
char *cluster_pool_name(struct cluster *cl, int64_t id);

/* The rados_t as a void pointer, for image.c only. */
void *cluster_rados(struct cluster *cl);

#endif
