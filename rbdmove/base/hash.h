/* SPDX-License-Identifier: MIT */
/*
 * rbdmove/base/hash.h: XXH64, written from its public specification. Used to
 * compare blocks of two images without moving them: a fast, well-mixed
 * 64-bit hash, enough to catch corruption (not an adversary).
 */
#ifndef RBDMOVE_HASH_H
#define RBDMOVE_HASH_H

#include <stddef.h>
#include <stdint.h>

uint64_t hash_xxh64(const void *data, size_t len, uint64_t seed);

#endif
