/* SPDX-License-Identifier: MIT */
/*
 * rbdmove/base/json_out.c: JSON text writer.
 */
#include "rbdmove/base/json_out.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>

void json_out_quote(struct buf *b, const char *s)
{
    const unsigned char *p = (const unsigned char *)s;

    buf_adds(b, "\"");
    while (*p) {
        unsigned char c = *p;
        size_t n = c < 0x80         ? 1
                   : (c >> 5) == 6  ? 2
                   : (c >> 4) == 14 ? 3
                   : (c >> 3) == 30 ? 4
                                    : 0;
        size_t i;

        if (c == '"' || c == '\\') {
            buf_addf(b, "\\%c", c);
        } else if (c < 0x20) {
            buf_addf(b, "\\u%04x", c);
        } else if (n == 1) {
            buf_add(b, p, 1);
        } else {
            for (i = 1; n && i < n; i++) {
                if ((p[i] & 0xC0) != 0x80)
                    break;
            }
            if (!n || i < n) {
                buf_adds(b, "\\ufffd");
                p++;
                continue;
            }
            buf_add(b, p, n);
            p += n;
            continue;
        }
        p++;
    }
    buf_adds(b, "\"");
}

static void item(struct json_out *j, const char *key)
{
    if (j->depth > 0 && j->has_items[j->depth - 1])
        buf_adds(&j->buf, ",");
    if (j->depth > 0)
        j->has_items[j->depth - 1] = true;
    if (key) {
        json_out_quote(&j->buf, key);
        buf_adds(&j->buf, ":");
    }
}

static void open_(struct json_out *j, const char *key, const char *c)
{
    item(j, key);
    buf_adds(&j->buf, c);
    if (j->depth < JSON_OUT_MAX_DEPTH)
        j->has_items[j->depth] = false;
    j->depth++;
}

static void close_(struct json_out *j, const char *c)
{
    if (j->depth > 0)
        j->depth--;
    buf_adds(&j->buf, c);
}

void json_out_object_begin(struct json_out *j, const char *key)
{
    open_(j, key, "{");
}

void json_out_object_end(struct json_out *j)
{
    close_(j, "}");
}

void json_out_array_begin(struct json_out *j, const char *key)
{
    open_(j, key, "[");
}

void json_out_array_end(struct json_out *j)
{
    close_(j, "]");
}

void json_out_str(struct json_out *j, const char *key, const char *s)
{
    item(j, key);
    if (s)
        json_out_quote(&j->buf, s);
    else
        buf_adds(&j->buf, "null");
}

void json_out_u64(struct json_out *j, const char *key, uint64_t v)
{
    item(j, key);
    buf_addf(&j->buf, "%" PRIu64, v);
}

void json_out_i64(struct json_out *j, const char *key, int64_t v)
{
    item(j, key);
    buf_addf(&j->buf, "%" PRId64, v);
}

void json_out_double(struct json_out *j, const char *key, double v)
{
    item(j, key);
    if (isfinite(v))
        buf_addf(&j->buf, "%.3f", v);
    else
        buf_adds(&j->buf, "null");
}

void json_out_bool(struct json_out *j, const char *key, bool v)
{
    item(j, key);
    buf_adds(&j->buf, v ? "true" : "false");
}

void json_out_null(struct json_out *j, const char *key)
{
    item(j, key);
    buf_adds(&j->buf, "null");
}

const char *json_out_text(const struct json_out *j)
{
    return buf_str(&j->buf);
}

void json_out_release(struct json_out *j)
{
    buf_release(&j->buf);
    j->depth = 0;
}
