/* SPDX-License-Identifier: MIT */
/*
 * rbdmove/base/json_in.h: a small, strict JSON reader (RFC 8259), for the
 * core's few needs (reading what the rbd CLI prints with --format json)
 * without jansson, which stays inside openstack/.
 *
 * Base layer, pure C. A document is parsed at once into a tree of nodes
 * owned by its root. Input is treated as hostile: nesting depth, input
 * length and node count are bounded, and anything outside the grammar is
 * an error naming the line and column: a byte-order mark, comments,
 * trailing commas, single quotes, leading zeros, invalid UTF-8 (overlong
 * forms and surrogates included), raw control characters in strings,
 * unpaired \u surrogates, a \u0000 escape (strings are C strings), a
 * duplicated object key, and anything after the document but white space.
 *
 * Numbers keep their literal text: json_in_u64 reads integers exactly,
 * to UINT64_MAX, without passing through a double.
 */
#ifndef RBDMOVE_JSON_IN_H
#define RBDMOVE_JSON_IN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rbdmove/base/error.h"

enum json_in_type {
    JSON_IN_NULL,
    JSON_IN_BOOL,
    JSON_IN_NUMBER,
    JSON_IN_STRING,
    JSON_IN_ARRAY,
    JSON_IN_OBJECT,
};

/*
 * One value. Plain data owned by the root of its tree: read it with the
 * accessors below rather than by hand.
 */
struct json_in {
    enum json_in_type type;
    bool boolean;          /* BOOL */
    size_t n;              /* STRING: bytes; ARRAY, OBJECT: members */
    char *text;            /* STRING: the value; NUMBER: the literal */
    char **keys;           /* OBJECT: n keys, in document order */
    struct json_in *items; /* ARRAY, OBJECT: n values */
};

#define JSON_IN_DEFAULT_DEPTH 64
#define JSON_IN_DEFAULT_LENGTH (64u << 20)
#define JSON_IN_DEFAULT_NODES (8u << 20)

/* Bounds of one parse; a zero field means its default above. */
struct json_in_limits {
    unsigned max_depth; /* arrays and objects nested at most this deep */
    size_t max_length;  /* bytes of input */
    size_t max_nodes;   /* values in the tree */
};

/*
 * Parse the len bytes at text (no terminating NUL needed) as one JSON
 * document. limits may be NULL (all defaults). On success *out is a new
 * tree the caller frees with json_in_free. On failure *out is NULL and err
 * holds ERROR_PROTOCOL, "JSON: <what> at line L, column C" (the column
 * counts bytes from 1); nothing is allocated then. Aborts on OOM only.
 */
int json_in_parse(const char *text, size_t len,
                  const struct json_in_limits *limits, struct json_in **out,
                  struct error *err) MUST_CHECK;

/* Free a tree from json_in_parse. NULL-safe. */
void json_in_free(struct json_in *root);

/* The member key of object v, NULL when v is not an object or has no such
 * key (borrowed). */
const struct json_in *json_in_get(const struct json_in *v, const char *key);

/* Element i of array v, NULL when v is not an array or i is out of range
 * (borrowed). */
const struct json_in *json_in_at(const struct json_in *v, size_t i);

/* Members of an array or object; 0 for anything else (and for NULL). */
size_t json_in_len(const struct json_in *v);

/* True when v is not NULL and of type t. */
bool json_in_is(const struct json_in *v, enum json_in_type t);

/* The string's value (borrowed), NULL when v is not a string. */
const char *json_in_string(const struct json_in *v);

/*
 * True, with *out set, when v is a number written as a non-negative
 * integer (no fraction, no exponent, no minus sign) within uint64_t. Else
 * false, *out untouched.
 */
bool json_in_u64(const struct json_in *v, uint64_t *out);

/* True, with *out set, when v is true or false. */
bool json_in_bool(const struct json_in *v, bool *out);

/* "null", "boolean", "number", "string", "array" or "object". */
const char *json_in_type_name(enum json_in_type t);

#endif
