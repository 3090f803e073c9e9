/* SPDX-License-Identifier: MIT */
/*
 * openstack/http.h: one HTTP client for the OpenStack services (libcurl).
 *
 * An http_client owns one curl easy handle, reused for every request so
 * that connections are kept alive. Every request has a connect and a total
 * timeout; TLS is verified unless the caller asks otherwise. Transport
 * failures become ERROR_HTTP (cause = CURLcode), responses >= 400 become
 * ERROR_API (cause = HTTP status) carrying the service's own message. The
 * X-Auth-Token header and request bodies marked secret are never logged.
 *
 * The small JSON helpers at the end are for the openstack/ modules only;
 * they take jansson values (struct json_t) that never leave openstack/.
 */
#ifndef OPENSTACK_HTTP_H
#define OPENSTACK_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rbdmove/base/buf.h"
#include "rbdmove/base/error.h"

/* jansson's json_t, without pulling <jansson.h> into every includer. */
struct json_t;

/* Connection settings; a zeroed struct means the defaults. */
struct http_options {
    const char *cacert;      /* CA bundle (PEM file); NULL: system store */
    bool insecure;           /* skip TLS verification: only when asked */
    long connect_timeout_ms; /* 0: 10 s */
    long timeout_ms;         /* whole request, per attempt; 0: 120 s */
    unsigned max_attempts;   /* including the first; 0: 4 */
    double retry_delay;      /* first back-off in seconds, doubled; 0: 0.5 */
};

/* Extra request headers, "Name: value", NULL-terminated. */
#define HTTP_MAX_HEADERS 6

struct http_request {
    const char *method; /* "GET", "POST", "PUT", "DELETE", "HEAD" */
    const char *url;    /* absolute */
    const char *token;  /* sent as X-Auth-Token, or NULL; never logged */
    const char *headers[HTTP_MAX_HEADERS + 1];
    const char *body; /* JSON text, or NULL for none */
    size_t body_len;
    bool secret_body; /* the body holds a password: never log it */
};

struct http_response {
    long status; /* 0 when no response arrived */
    struct buf body;
    char *subject_token; /* X-Subject-Token (Keystone); a secret */
};

#define HTTP_RESPONSE_INIT                                                     \
    {                                                                          \
        0, BUF_INIT, NULL                                                      \
    }

/* Frees the body and wipes the subject token; the response can be reused. */
void http_response_release(struct http_response *resp);

struct http_client;

/*
 * A client with one curl handle configured from opts (copied; opts may be
 * NULL). The caller owns *out. Fails with ERROR_USAGE when the CA file
 * cannot be read, ERROR_HTTP when libcurl cannot start.
 */
int http_client_new(const struct http_options *opts, struct http_client **out,
                    struct error *err) MUST_CHECK;

/* NULL-safe. */
void http_client_free(struct http_client *c);

/*
 * Perform req, retrying with exponential back-off (bounded by
 * max_attempts) when the connection fails, and on 502/503 (and 504 for
 * idempotent methods). *resp is released first, then filled with the last
 * response received, also on failure, so that a caller can look at the
 * status. Returns 0 for statuses below 400; -1 with ERROR_HTTP when no
 * response came, ERROR_API (cause = status) with the service's message
 * for >= 400.
 */
int http_send(struct http_client *c, const struct http_request *req,
              struct http_response *resp, struct error *err) MUST_CHECK;

/*
 * The human message of an OpenStack error body into out: Keystone's
 * {"error": {"message"}}, Cinder/Nova {"itemNotFound": {"message"}} and
 * friends, {"errors": [{"detail"}]}, {"message"}, or the first line of a
 * plain-text body. Falls back to a generic "HTTP <status>" text. Pure.
 */
void http_error_message(long status, const char *body, size_t len,
                        struct buf *out);

/*
 * JSON helpers for openstack/ modules.
 *
 * http_json_parse: decode text into a new reference (*out, the caller
 * json_decrefs it) with jsonx_parse, so as strictly (duplicate keys, NUL
 * bytes); ERROR_PROTOCOL naming what on malformed text or when the top
 * level is not an object.
 */
int http_json_parse(const char *text, size_t len, const char *what,
                    struct json_t **out, struct error *err) MUST_CHECK;

/* An owned copy of obj[key] when it is a string, else NULL. */
char *http_json_strdup(const struct json_t *obj, const char *key);

/* obj[key] as a bool: JSON true/false or the strings "true"/"false"
 * (Cinder's "bootable"); dflt otherwise. */
bool http_json_bool(const struct json_t *obj, const char *key, bool dflt);

/* obj[key] as an integer: JSON integer, or a real with no fraction, or a
 * decimal string; dflt otherwise. */
int64_t http_json_int(const struct json_t *obj, const char *key, int64_t dflt);

/* obj[key] as a number (integer or real); dflt otherwise (strings such as
 * "unknown" or "infinite" that Cinder drivers report give dflt). */
double http_json_number(const struct json_t *obj, const char *key, double dflt);

/*
 * Serialise v compactly into an owned string for a request body. Returns
 * NULL only when v cannot be encoded (a BUG in the caller).
 */
char *http_json_dump(const struct json_t *v);

/* Sleep for s seconds (restarted after signals). */
void http_sleep(double s);

/* True when s has the form of a UUID (36 characters, dashes at 8-13-18-23,
 * hex elsewhere): an id rather than a name. */
bool http_is_uuid(const char *s);

/* Append s to b percent-encoded for a URL query value or path segment. */
void http_url_escape(struct buf *b, const char *s);

#endif
