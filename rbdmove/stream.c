/* SPDX-License-Identifier: MIT */
/* rbdmove/stream.c: rbd diff v1 codec (being written). */
#include "rbdmove/stream.h"
