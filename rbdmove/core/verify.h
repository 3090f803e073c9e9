/* SPDX-License-Identifier: MIT */
/*
 * rbdmove/core/verify.h: prove two snapshots equal without moving their data.
 *
 * Each side hashes its own snapshot in fixed blocks (independent of the
 * object size, so images with different object sizes compare), reading
 * only allocated blocks: an unallocated block hashes as zeros without a
 * read. The two hash lists are then compared.
 */
#ifndef RBDMOVE_VERIFY_H
#define RBDMOVE_VERIFY_H

#include <stdint.h>

#include "rbdmove/core/copy.h"
#include "rbdmove/core/dest.h"
#include "rbdmove/base/error.h"

#define VERIFY_BLOCK (4u * 1024 * 1024)
/* Reads in flight when hashing a whole image, unless the copy's window
 * asks for fewer (verify_window). */
#define VERIFY_WINDOW 16u
/* Blocks hashed at once, at most: 1 GiB of hashes, an image of 512 TiB in
 * VERIFY_BLOCK (a usage error beyond; PROTO_HASHES_MAX bounds the wire). */
#define VERIFY_HASHES_MAX (UINT64_C(1) << 27)

struct image;

/*
 * The hashing window that goes with a copy's window: twice it (hashing
 * only reads), at most VERIFY_WINDOW; VERIFY_WINDOW for 0. A smaller
 * --window is a memory budget (a batch shares one out among its jobs),
 * and hashing 16 blocks of 4 MiB took more than the copy itself.
 */
unsigned verify_window(unsigned copy_window);

/*
 * Hash img (open at a snapshot) in blocks of block bytes, window reads in
 * flight (fewer when window blocks would take over 128 MiB).
 */
int verify_hash_image(struct image *img, uint64_t block, unsigned window,
                      progress_fn *progress, void *progress_ctx,
                      struct dest_hashes *out, struct error *err) MUST_CHECK;

/*
 * Hash only the blocks listed in idx (ascending) of img, into hashes[i]
 * for idx[i]: the check of a final round, which touched few blocks. Takes
 * memory for the window's reads only, not in proportion to the image.
 */
int verify_hash_blocks(struct image *img, uint64_t block, unsigned window,
                       const uint64_t *idx, size_t n, uint64_t *hashes,
                       struct error *err) MUST_CHECK;

/*
 * The blocks (of block bytes) that changed in img (open at a snapshot)
 * since snapshot since, ascending. Caller frees *idx.
 */
int verify_changed_blocks(struct image *img, const char *since, uint64_t block,
                          uint64_t **idx, size_t *n,
                          struct error *err) MUST_CHECK;

/* A differing range, for reports. */
struct verify_range {
    uint64_t off;
    uint64_t len;
};

/*
 * Compare two hash lists. Returns the number of differing ranges found
 * (adjacent blocks merged), filling at most max of them into ranges. A
 * size difference counts as one range covering the tail.
 */
uint64_t verify_compare(const struct dest_hashes *a,
                        const struct dest_hashes *b,
                        struct verify_range *ranges, uint64_t max);

#endif
