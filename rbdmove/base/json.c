/* SPDX-License-Identifier: MIT */
/*
 * rbdmove/base/json.c: the strict helpers over jansson (see json.h).
 *
 * Turns jansson's json_error_t into struct error; knows nothing about who
 * sent the text.
 */
#include "rbdmove/base/json.h"

#include <string.h>

int jsonx_parse(const char *text, size_t len, const char *what, json_t **out,
                struct error *err)
{
    const char *nul;
    json_error_t jerr;
    json_t *root;

    *out = NULL;
    if (!text)
        len = 0;
    /* jansson's buffer reader takes a NUL byte for white space or the end
     * of input in some places ("[1\0]" parses as [1]): refuse it first. */
    nul = len ? memchr(text, '\0', len) : NULL;
    if (nul)
        return error_set(err, ERROR_PROTOCOL, 0,
                         "malformed JSON in %s: NUL byte at offset %zu", what,
                         (size_t)(nul - text));
    root = json_loadb(text ? text : "", len,
                      JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &jerr);
    if (!root)
        return error_set(err, ERROR_PROTOCOL, 0,
                         "malformed JSON in %s: %s (line %d, column %d)", what,
                         jerr.text, jerr.line, jerr.column);
    *out = root;
    return 0;
}

bool jsonx_get_u64(const json_t *obj, const char *key, uint64_t *out)
{
    json_t *v = json_object_get(obj, key);

    if (!json_is_integer(v) || json_integer_value(v) < 0)
        return false;
    *out = (uint64_t)json_integer_value(v);
    return true;
}

const char *jsonx_get_string(const json_t *obj, const char *key)
{
    return json_string_value(json_object_get(obj, key));
}
