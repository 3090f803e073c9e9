/* SPDX-License-Identifier: MIT */
/*
 * rbdmove/base/json.h: jansson for every layer, and the few strict helpers
 * its users share.
 *
 * The one file that includes <jansson.h> (scripts/check-layers.sh): code
 * that reads JSON includes this header instead, so jansson is a base-layer
 * dependency like libc. The users are openstack/ (the services' answers)
 * and the core's dest_rbdcli.c (what the rbd CLI prints with --format
 * json). Writing JSON for --json output stays with json_out.h.
 *
 * The helpers are named jsonx_ because json_ is jansson's prefix (as curl
 * keeps its curlx_ helpers apart from curl_).
 */
#ifndef RBDMOVE_JSON_H
#define RBDMOVE_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "rbdmove/base/error.h"

/*
 * Parse the len bytes at text (no terminating NUL needed; text may be NULL
 * when len is 0) as one JSON document of any type. Strict: besides what
 * jansson refuses (comments, trailing commas, invalid UTF-8, a \u0000
 * escape, anything after the document but white space), a duplicated
 * object key and a NUL byte anywhere are errors. Integers must fit in
 * int64_t (json_int_t).
 *
 * On success *out is a new reference the caller json_decrefs. On failure
 * *out is NULL and err holds ERROR_PROTOCOL, "malformed JSON in <what>:
 * <jansson's text> (line L, column C)", or "...: NUL byte at offset N".
 */
int jsonx_parse(const char *text, size_t len, const char *what, json_t **out,
                struct error *err) MUST_CHECK;

/*
 * True, with *out set, when obj is an object whose member key is a JSON
 * integer >= 0. False, *out untouched, when obj is not an object, key is
 * missing, or its value is of another type: a real (even 1.0 or 1e3), a
 * negative integer, a string of digits. ("-0" is the integer 0 to jansson,
 * so it is taken as 0.)
 */
bool jsonx_get_u64(const json_t *obj, const char *key, uint64_t *out);

/* obj[key] when obj is an object and the member a string (borrowed, valid
 * while obj lives), else NULL. */
const char *jsonx_get_string(const json_t *obj, const char *key);

#endif
