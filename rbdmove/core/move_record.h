/* SPDX-License-Identifier: MIT */
/*
 * rbdmove/core/move_record.h: what one move remembers, typed. The phases
 * of a move and the only ways between them, and the record loaded from and
 * saved to its journal (journal.h: the same "key value" text as before,
 * so that the journal of an older rbdmove still loads).
 *
 * The machine. Each arrow is a step that the journal records before the
 * next one is taken; a phase may also be saved again as it is.
 *
 *   (none) > new > creating > replicating > detaching > detached
 *          > attaching > attached > done          the main line
 *   new > replicating               the destination volume exists already
 *   detaching, detached >           a resumed move finds the source attached
 *     replicating                   again: the cutover starts over
 *   attaching > detached            a resumed move finds the destination
 *                                   not attached: the attach starts over
 *   detaching .. attached >         the cutover failed and the source was
 *     rolled-back > replicating     put back; resume tries again
 *   all but attached and done >     abort: everything undone
 *     aborted
 *
 * move_phase_next() is that table, in one switch that -Wswitch checks.
 */
#ifndef RBDMOVE_MOVE_RECORD_H
#define RBDMOVE_MOVE_RECORD_H

#include <stdbool.h>
#include <stdint.h>

#include "rbdmove/base/error.h"

struct journal;

enum move_phase {
    MOVE_NONE,        /* journal created, pre-flight not passed */
    MOVE_NEW,         /* nothing changed yet */
    MOVE_CREATING,    /* dst.volume requested (its id recorded first) */
    MOVE_REPLICATING, /* seed and rounds while the server writes */
    MOVE_DETACHING,   /* detach requested; the source may be attached */
    MOVE_DETACHED,    /* the source is detached, nobody has its image open */
    MOVE_ATTACHING,   /* final round applied and verified; attach asked */
    MOVE_ATTACHED,    /* the destination volume is in use */
    MOVE_DONE,        /* temporary snapshots removed, volumes marked */
    MOVE_ROLLED_BACK, /* a cutover failed and the source is back */
    MOVE_ABORTED,     /* everything undone */
    MOVE_GROUP,       /* not a move: the journal of a group (move --server) */
};
#define MOVE_PHASE_COUNT (MOVE_GROUP + 1)

/* The phase's name in the journal and in status ("" for MOVE_NONE). */
const char *move_phase_name(enum move_phase p);
/* name (NULL: MOVE_NONE) to a phase; false when unknown. */
bool move_phase_parse(const char *name, enum move_phase *p);
/* May a move in from go to to? */
bool move_phase_next(enum move_phase from, enum move_phase to);
/* The cutover is under way or about to be (a signal must not stop it
 * half-way; resume drives it on). */
bool move_phase_in_cutover(enum move_phase p);
/* Nothing follows: the move is done or was aborted (resume refuses it). */
bool move_phase_is_final(enum move_phase p);
/* The same for a phase's name in a journal (NULL: not final). */
bool move_phase_name_is_final(const char *name);

/* The snapshots of a move, noted by abort before the destination goes. */
/* NEXT: the source snapshot a round is about to create (replicate.h,
 * snap_intent), so that one a killed run left, named by no mark, is found. */
enum move_snap {
    MOVE_SNAP_BASE,
    MOVE_SNAP_SEED,
    MOVE_SNAP_PENDING,
    MOVE_SNAP_NEXT
};
#define MOVE_SNAP_COUNT 4

/*
 * Auto-converge: a write limit rbdmove put on the source image (image
 * metadata conf_rbd_qos_write_bps_limit). Recorded, with the value the
 * image had before, before the limit is set, so that whoever finds it
 * set (a resume, an abort, after a kill -9) puts that value back exactly,
 * or removes the key when there was none.
 */
enum move_throttle {
    MOVE_THROTTLE_NONE,     /* never limited (or an older journal) */
    MOVE_THROTTLE_SET,      /* a limit is, or may be, on the image */
    MOVE_THROTTLE_RESTORED, /* the value before is back */
};

struct move_record {
    enum move_phase phase;
    struct {
        char *volume, *name, *server, *device, *pool, *image;
        uint64_t size_gib;
        /* The address of this move's source client in the last run: a
         * run killed with the source detached left the image's lock held
         * (librbd takes it to snapshot an image nobody else holds), and a
         * later run, holding the journal, breaks it at once. */
        char *lock_owner;
    } src;
    struct {
        char *volume, *server, *pool, *image;
        bool created; /* rbdmove asked Cinder for it (abort deletes it) */
        /* The address of the client that took the image's lock in the
         * last run (dest.h, lock_self): a later run, holding the journal,
         * knows that run dead and breaks its lock at once. */
        char *lock_owner;
    } dst;
    /* A failback (migrate_failback.c): the source is a copy sync made
     * and failover put to work, the destination the volume it was a copy
     * of, which already holds their common point. */
    struct {
        bool on;
        bool discard;     /* --discard-primary-changes */
        bool head_proved; /* the original's head was proved equal to point */
        char *point;      /* the common snapshot (by name, on both sides) */
        char *base;       /* the last base, recorded before cleanup re-bases */
    } failback;
    double max_downtime; /* NAN: not recorded */
    struct {
        /* Seconds; NAN: not recorded (yet). */
        double t_detach, t_final, t_verify, t_attach, downtime;
    } cutover;
    char *snaps[MOVE_SNAP_COUNT];
    struct {
        enum move_throttle state;
        bool prev_exists; /* the image had the key before the move */
        char *prev;       /* with prev_exists: its value ("" is a value) */
        unsigned level;   /* the level set last (1..3), 0: none */
        uint64_t limit;   /* bytes/s set last, 0: none */
    } throttle;
};

void move_record_init(struct move_record *r);
void move_record_release(struct move_record *r);

/* Load what j holds; ERROR_STATE naming the key when a value cannot be
 * read (an unknown phase, a number that is not one), or when a throttle
 * is recorded without the value to restore. */
int move_record_load(const struct journal *j, struct move_record *r,
                     struct error *err) MUST_CHECK;
/* Write r into j (in memory; journal_save writes the file). Keys the
 * record does not know (the command line's, cli.*) are left as they are. */
void move_record_store(const struct move_record *r, struct journal *j);

/* Replace *field with a copy of value (NULL clears). */
void move_record_set(char **field, const char *value);

#endif
