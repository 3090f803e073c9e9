/* SPDX-License-Identifier: MIT */
/*
 * rbdmove/core/mark.c: the marks in the destination's metadata (see
 * mark.h).
 */
#include "rbdmove/core/mark.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "rbdmove/base/buf.h"
#include "rbdmove/base/strutil.h"
#include "rbdmove/base/xalloc.h"

void mark_release(struct mark *m)
{
    free(m->fsid);
    free(m->image);
    free(m->snap);
    free(m->from);
    memset(m, 0, sizeof(*m));
}

/* Set a string field once: a repeated field is not a mark we wrote. */
static bool set_once(char **field, const char *v)
{
    if (*field || !*v)
        return false;
    *field = xstrdup(v);
    return true;
}

static bool set_number(uint64_t *field, bool *seen, const char *v)
{
    struct error e = ERROR_INIT;

    if (*seen)
        return false;
    *seen = true;
    return parse_uint(v, "mark", 0, UINT64_MAX, field, &e) == 0;
}

static bool set_field(struct mark *m, const char *k, const char *v,
                      bool seen[3])
{
    if (!strcmp(k, "fsid"))
        return set_once(&m->fsid, v);
    if (!strcmp(k, "image"))
        return set_once(&m->image, v);
    if (!strcmp(k, "snap"))
        return set_once(&m->snap, v);
    if (!strcmp(k, "from"))
        return set_once(&m->from, v);
    if (!strcmp(k, "snap_id"))
        return set_number(&m->snap_id, &seen[0], v);
    if (!strcmp(k, "done"))
        return set_number(&m->done, &seen[1], v);
    if (!strcmp(k, "head")) {
        if (seen[2] || (strcmp(v, "1") && strcmp(v, "0")))
            return false;
        seen[2] = true;
        m->head = !strcmp(v, "1");
        return true;
    }
    return true; /* a field of a later v1 writer: ignored */
}

int mark_parse(const char *key, const char *s, struct mark *m,
               struct error *err)
{
    char *copy = xstrdup(s);
    char *save = NULL;
    char *tok;
    bool seen[3] = {false, false, false};
    int ret = -1;

    memset(m, 0, sizeof(*m));
    tok = strtok_r(copy, " ", &save);
    if (!tok || strcmp(tok, "v1"))
        goto bad;
    while ((tok = strtok_r(NULL, " ", &save))) {
        char *eq = strchr(tok, '=');

        if (!eq)
            goto bad;
        *eq = '\0';
        if (!set_field(m, tok, eq + 1, seen))
            goto bad;
    }
    if (!m->fsid || !m->image || !m->snap || !seen[0] ||
        !name_is_safe(m->snap) || (m->from && !name_is_safe(m->from)))
        goto bad;
    ret = 0;
    goto out;
bad:
    mark_release(m);
    error_set(err, ERROR_STATE, 0, "unreadable %s metadata '%s'", key, s);
out:
    free(copy);
    return ret;
}

char *mark_format(const char *fsid, const char *image_id, const struct mark *m)
{
    struct buf b = BUF_INIT;

    buf_addf(&b, "v1 fsid=%s image=%s snap=%s snap_id=%" PRIu64, fsid, image_id,
             m->snap, m->snap_id);
    if (m->from)
        buf_addf(&b, " from=%s", m->from);
    if (m->done)
        buf_addf(&b, " done=%" PRIu64, m->done);
    if (m->head)
        buf_adds(&b, " head=1");
    return buf_take(&b);
}
