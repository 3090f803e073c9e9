/* SPDX-License-Identifier: MIT */
/*
 * rbdmove/core/mark.h: the marks replicate.c leaves in the destination
 * image's metadata (dest.h: DEST_META_BASE, _SEED, _PENDING), one line of
 * text each:
 *
 *   v1 fsid=FSID image=IMAGE-ID snap=NAME snap_id=N [from=NAME] [done=N]
 *      [head=1]
 *
 * They say which source (cluster fsid, image id) and which of its
 * snapshots the destination holds, so that a later run knows what it can
 * build on. They are read back from a destination that may have been
 * changed by anyone: mark_parse() accepts only what mark_format() writes.
 */
#ifndef RBDMOVE_MARK_H
#define RBDMOVE_MARK_H

#include <stdbool.h>
#include <stdint.h>

#include "rbdmove/base/error.h"

struct mark {
    char *fsid;
    char *image;
    char *snap;
    uint64_t snap_id;
    char *from;    /* pending only */
    uint64_t done; /* seed only: bytes below which the seed is complete */
    bool head;     /* pending only: towards the source head, no snapshot */
};

/* Parse s, the value of the metadata key (named in errors). ERROR_STATE
 * when it is not a mark of this version: a missing or repeated field, a
 * number that is not a decimal 64-bit one, a snapshot name that is not
 * name_is_safe. */
int mark_parse(const char *key, const char *s, struct mark *m,
               struct error *err) MUST_CHECK;
/* The text of m for the source fsid and image id (m's own fsid and image
 * are not used). Caller frees. */
char *mark_format(const char *fsid, const char *image_id, const struct mark *m);
void mark_release(struct mark *m);

#endif
