/* SPDX-License-Identifier: MIT */
/*
 * openstack/config.h: which cloud to talk to, read the way openstackclient
 * reads it.
 *
 * Sources, lowest priority first: clouds.yaml (the first found of
 * $OS_CLIENT_CONFIG_FILE, ./clouds.yaml, ~/.config/openstack/clouds.yaml,
 * /etc/openstack/clouds.yaml) with secure.yaml merged over it (same places,
 * $OS_CLIENT_SECURE_FILE first), then the OS_* variables, then the command
 * line. Without a cloud name (--os-cloud or OS_CLOUD) only the OS_*
 * variables count. The YAML is read with libyaml. Vendor profiles
 * (clouds-public.yaml, "profile:") are not supported.
 */
#ifndef OPENSTACK_CONFIG_H
#define OPENSTACK_CONFIG_H

#include <stdbool.h>

#include "openstack/http.h"
#include "openstack/keystone.h"
#include "rbdmove/base/error.h"

/* What the command line says; every field may be NULL/false. */
struct config_args {
    const char *cloud;     /* --os-cloud; NULL: $OS_CLOUD when use_env */
    const char *region;    /* --os-region-name */
    const char *interface; /* --os-interface */
    const char *cacert;    /* --os-cacert */
    bool insecure;         /* --insecure */
    /*
     * Apply the OS_* variables. A command that talks to a second cloud
     * named on its own (--dst-os-cloud) reads that one from the files only,
     * so that one cloud's OS_PASSWORD is not sent to another.
     */
    bool use_env;
    /* Search paths, NULL-terminated; NULL means the usual places. */
    const char *const *config_files;
    const char *const *secure_files;
};

/* One resolved cloud. Plain data, owned strings; release with
 * config_cloud_release (which wipes the secrets in auth). */
struct config_cloud {
    char *name;   /* the cloud's name, or "envvars" */
    char *source; /* the clouds.yaml it came from, or "environment" */
    struct keystone_auth auth;
    char *region;    /* NULL when none is set anywhere */
    char *interface; /* "public" unless set */
    char *cacert;    /* NULL: system store */
    bool insecure;
    /* Why insecure ("--insecure", "OS_INSECURE", "verify: false in
     * clouds.yaml", ...; static), NULL when TLS is verified. */
    const char *insecure_why;
};

/*
 * Resolve the cloud. On success *out is filled (the caller releases it)
 * and its auth passes keystone_auth_check. ERROR_USAGE for a cloud that no
 * file names, a region the cloud does not list, YAML that does not parse,
 * or missing settings; ERROR_IO when a file exists but cannot be read.
 */
int config_cloud_load(const struct config_args *args, struct config_cloud *out,
                      struct error *err) MUST_CHECK;

/* NULL-safe; leaves *c zeroed. */
void config_cloud_release(struct config_cloud *c);

/* The HTTP options of a cloud (borrows its strings). */
void config_cloud_http(const struct config_cloud *c, struct http_options *out);

#endif
