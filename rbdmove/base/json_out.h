/* SPDX-License-Identifier: MIT */
/*
 * rbdmove/base/json_out.h: writing JSON text, for --json output and events.
 *
 * Base layer (pure C): the CLI and core write JSON text straight into a
 * buffer, with no jansson tree in between (reading JSON is json.h's). A
 * writer builds one value; keys are given for members of objects and NULL
 * inside arrays.
 *
 *     struct json_out j = JSON_OUT_INIT;
 *     json_out_object_begin(&j, NULL);
 *     json_out_str(&j, "event", "done");
 *     json_out_u64(&j, "bytes", n);
 *     json_out_object_end(&j);
 *     puts(json_out_str_value(&j)); json_out_release(&j);
 */
#ifndef RBDMOVE_JSON_OUT_H
#define RBDMOVE_JSON_OUT_H

#include <stdbool.h>
#include <stdint.h>

#include "rbdmove/base/buf.h"

#define JSON_OUT_MAX_DEPTH 32

struct json_out {
    struct buf buf;
    int depth;
    bool has_items[JSON_OUT_MAX_DEPTH];
};

#define JSON_OUT_INIT                                                          \
    {                                                                          \
        BUF_INIT, 0,                                                           \
        {                                                                      \
            false                                                              \
        }                                                                      \
    }

void json_out_object_begin(struct json_out *j, const char *key);
void json_out_object_end(struct json_out *j);
void json_out_array_begin(struct json_out *j, const char *key);
void json_out_array_end(struct json_out *j);
/* s NULL writes null. */
void json_out_str(struct json_out *j, const char *key, const char *s);
void json_out_u64(struct json_out *j, const char *key, uint64_t v);
void json_out_i64(struct json_out *j, const char *key, int64_t v);
/* Non-finite values are written as null. */
void json_out_double(struct json_out *j, const char *key, double v);
void json_out_bool(struct json_out *j, const char *key, bool v);
void json_out_null(struct json_out *j, const char *key);

/* The text so far (borrowed). */
const char *json_out_text(const struct json_out *j);
void json_out_release(struct json_out *j);

/* Append s as a quoted JSON string (escapes control characters; invalid
 * UTF-8 bytes become U+FFFD). */
void json_out_quote(struct buf *b, const char *s);

#endif
