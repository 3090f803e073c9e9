/* SPDX-License-Identifier: MIT */
/*
 * rbdmove/core/move_record.c: the phases of a move and its record in the
 * journal (see move_record.h).
 */
#include "rbdmove/core/move_record.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "rbdmove/base/strutil.h"
#include "rbdmove/base/xalloc.h"
#include "rbdmove/core/journal.h"

static const char *const phase_names[MOVE_PHASE_COUNT] = {
    [MOVE_NONE] = "",
    [MOVE_NEW] = "new",
    [MOVE_CREATING] = "creating",
    [MOVE_REPLICATING] = "replicating",
    [MOVE_DETACHING] = "detaching",
    [MOVE_DETACHED] = "detached",
    [MOVE_ATTACHING] = "attaching",
    [MOVE_ATTACHED] = "attached",
    [MOVE_DONE] = "done",
    [MOVE_ROLLED_BACK] = "rolled-back",
    [MOVE_ABORTED] = "aborted",
    [MOVE_GROUP] = "group",
};

static const char *const snap_keys[MOVE_SNAP_COUNT] = {
    [MOVE_SNAP_BASE] = "snap.base",
    [MOVE_SNAP_SEED] = "snap.seed",
    [MOVE_SNAP_PENDING] = "snap.pending",
    [MOVE_SNAP_NEXT] = "snap.next",
};

static const char *const throttle_states[] = {
    [MOVE_THROTTLE_NONE] = NULL,
    [MOVE_THROTTLE_SET] = "set",
    [MOVE_THROTTLE_RESTORED] = "restored",
};

const char *move_phase_name(enum move_phase p)
{
    return (unsigned)p < MOVE_PHASE_COUNT ? phase_names[p] : "?";
}

bool move_phase_parse(const char *name, enum move_phase *p)
{
    if (!name) {
        *p = MOVE_NONE;
        return true;
    }
    for (int i = MOVE_NEW; i < MOVE_PHASE_COUNT; i++) {
        if (!strcmp(name, phase_names[i])) {
            *p = (enum move_phase)i;
            return true;
        }
    }
    return false;
}

/* The table of move_record.h, by the phase a move leaves. No default: a
 * new phase does not compile (-Wswitch) until its ways out are written. */
bool move_phase_next(enum move_phase from, enum move_phase to)
{
    if (from == to && from != MOVE_NONE)
        return true;
    switch (from) {
    case MOVE_NONE:
        return to == MOVE_NEW || to == MOVE_ABORTED;
    case MOVE_NEW:
        return to == MOVE_CREATING || to == MOVE_REPLICATING ||
               to == MOVE_ABORTED;
    case MOVE_CREATING:
        return to == MOVE_REPLICATING || to == MOVE_ABORTED;
    case MOVE_REPLICATING:
        return to == MOVE_DETACHING || to == MOVE_ABORTED;
    case MOVE_DETACHING:
    case MOVE_DETACHED:
        return to == MOVE_DETACHED || to == MOVE_ATTACHING ||
               to == MOVE_REPLICATING || to == MOVE_ROLLED_BACK ||
               to == MOVE_ABORTED;
    case MOVE_ATTACHING:
        return to == MOVE_ATTACHED || to == MOVE_DETACHED ||
               to == MOVE_ROLLED_BACK || to == MOVE_ABORTED;
    case MOVE_ATTACHED:
        return to == MOVE_DONE || to == MOVE_ROLLED_BACK;
    case MOVE_ROLLED_BACK:
        return to == MOVE_REPLICATING || to == MOVE_ABORTED;
    case MOVE_DONE:
    case MOVE_ABORTED:
    case MOVE_GROUP:
        return false;
    }
    return false;
}

bool move_phase_in_cutover(enum move_phase p)
{
    return p == MOVE_REPLICATING || p == MOVE_DETACHING || p == MOVE_DETACHED ||
           p == MOVE_ATTACHING;
}

bool move_phase_is_final(enum move_phase p)
{
    return p == MOVE_DONE || p == MOVE_ABORTED;
}

bool move_phase_name_is_final(const char *name)
{
    enum move_phase p;

    return name && move_phase_parse(name, &p) && move_phase_is_final(p);
}

void move_record_set(char **field, const char *value)
{
    free(*field);
    *field = value ? xstrdup(value) : NULL;
}

void move_record_init(struct move_record *r)
{
    memset(r, 0, sizeof(*r));
    r->max_downtime = NAN;
    r->cutover.t_detach = r->cutover.t_final = r->cutover.t_verify = NAN;
    r->cutover.t_attach = r->cutover.downtime = NAN;
}

void move_record_release(struct move_record *r)
{
    char **strs[] = {&r->src.volume,    &r->src.name,       &r->src.server,
                     &r->src.device,    &r->src.pool,       &r->src.image,
                     &r->dst.volume,    &r->dst.server,     &r->dst.pool,
                     &r->dst.image,     &r->failback.point, &r->dst.lock_owner,
                     &r->failback.base, &r->src.lock_owner};

    for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++)
        free(*strs[i]);
    for (size_t i = 0; i < MOVE_SNAP_COUNT; i++)
        free(r->snaps[i]);
    free(r->throttle.prev);
    move_record_init(r);
}

/* The fields and their keys, for load and store. */
struct field {
    const char *key;
    size_t off;
};

#define STR_FIELD(key, member)                                                 \
    {                                                                          \
        key, offsetof(struct move_record, member)                              \
    }
static const struct field str_fields[] = {
    STR_FIELD("src.volume", src.volume),
    STR_FIELD("src.name", src.name),
    STR_FIELD("src.server", src.server),
    STR_FIELD("src.device", src.device),
    STR_FIELD("src.pool", src.pool),
    STR_FIELD("src.image", src.image),
    STR_FIELD("src.lock_owner", src.lock_owner),
    STR_FIELD("dst.volume", dst.volume),
    STR_FIELD("dst.server", dst.server),
    STR_FIELD("dst.pool", dst.pool),
    STR_FIELD("dst.image", dst.image),
    STR_FIELD("dst.lock_owner", dst.lock_owner),
    STR_FIELD("failback.point", failback.point),
    STR_FIELD("failback.base", failback.base),
};

#define SECS_FIELD(key, member)                                                \
    {                                                                          \
        key, offsetof(struct move_record, member)                              \
    }
static const struct field secs_fields[] = {
    SECS_FIELD("max_downtime", max_downtime),
    SECS_FIELD("cutover.t_detach", cutover.t_detach),
    SECS_FIELD("cutover.t_final", cutover.t_final),
    SECS_FIELD("cutover.t_verify", cutover.t_verify),
    SECS_FIELD("cutover.t_attach", cutover.t_attach),
    SECS_FIELD("cutover.downtime", cutover.downtime),
};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))
#define FIELD(type, r, f) ((type)((char *)(r) + (f).off))
#define CFIELD(type, r, f) ((type)((const char *)(r) + (f).off))

static int bad_value(const struct journal *j, const char *key, const char *v,
                     struct error *err)
{
    return error_set(err, ERROR_STATE, 0,
                     "journal %s: cannot read %s '%s' (edited by hand, or "
                     "written by a newer rbdmove?)",
                     journal_id(j), key, v);
}

static bool parse_secs(const char *v, double *out)
{
    char *end;

    errno = 0;
    *out = strtod(v, &end);
    return errno == 0 && end != v && *end == '\0' && isfinite(*out) &&
           *out >= 0;
}

/* The throttle.* keys; all absent in a journal from before them. */
static int load_throttle(const struct journal *j, struct move_record *r,
                         struct error *err)
{
    struct error e = ERROR_INIT;
    const char *v = journal_get(j, "throttle.state");
    uint64_t n;

    if (!v)
        return 0;
    if (!strcmp(v, "set"))
        r->throttle.state = MOVE_THROTTLE_SET;
    else if (!strcmp(v, "restored"))
        r->throttle.state = MOVE_THROTTLE_RESTORED;
    else
        return bad_value(j, "throttle.state", v, err);
    /* Without the value before, a restore could not be exact. */
    v = journal_get(j, "throttle.prev_exists");
    if (!v || (strcmp(v, "0") && strcmp(v, "1")))
        return bad_value(j, "throttle.prev_exists", v ? v : "(missing)", err);
    r->throttle.prev_exists = !strcmp(v, "1");
    v = journal_get(j, "throttle.prev");
    if (r->throttle.prev_exists && !v)
        return bad_value(j, "throttle.prev", "(missing)", err);
    move_record_set(&r->throttle.prev, r->throttle.prev_exists ? v : NULL);
    v = journal_get(j, "throttle.level");
    if (v && parse_uint(v, "throttle.level", 1, 3, &n, &e) < 0)
        return bad_value(j, "throttle.level", v, err);
    r->throttle.level = v ? (unsigned)n : 0;
    v = journal_get(j, "throttle.limit_bps");
    if (v && parse_uint(v, "throttle.limit_bps", 1, UINT64_MAX, &n, &e) < 0)
        return bad_value(j, "throttle.limit_bps", v, err);
    r->throttle.limit = v ? n : 0;
    return 0;
}

static void store_throttle(const struct move_record *r, struct journal *j)
{
    bool any = r->throttle.state != MOVE_THROTTLE_NONE;

    journal_set(j, "throttle.state", throttle_states[r->throttle.state]);
    journal_set(j, "throttle.prev_exists",
                any ? (r->throttle.prev_exists ? "1" : "0") : NULL);
    journal_set(j, "throttle.prev",
                any && r->throttle.prev_exists ? r->throttle.prev : NULL);
    if (any && r->throttle.level)
        journal_setf(j, "throttle.level", "%u", r->throttle.level);
    else
        journal_set(j, "throttle.level", NULL);
    if (any && r->throttle.limit)
        journal_setf(j, "throttle.limit_bps", "%" PRIu64, r->throttle.limit);
    else
        journal_set(j, "throttle.limit_bps", NULL);
}

int move_record_load(const struct journal *j, struct move_record *r,
                     struct error *err)
{
    struct error e = ERROR_INIT;
    const char *v;

    move_record_release(r);
    v = journal_get(j, "phase");
    if (!move_phase_parse(v, &r->phase))
        return bad_value(j, "phase", v, err);
    /* The pre-flight records what it found and phase "new" in one save:
     * a journal with the one and not the other lost lines (an older
     * rbdmove wrote no end line to tell), and is not resumed as new. */
    if (r->phase == MOVE_NONE && journal_get(j, "src.volume"))
        return error_set(err, ERROR_STATE, 0,
                         "journal %s is damaged: it names source volume %s "
                         "but records no phase; it was left as it is",
                         journal_id(j), journal_get(j, "src.volume"));
    for (size_t i = 0; i < COUNT(str_fields); i++)
        move_record_set(FIELD(char **, r, str_fields[i]),
                        journal_get(j, str_fields[i].key));
    for (size_t i = 0; i < MOVE_SNAP_COUNT; i++)
        move_record_set(&r->snaps[i], journal_get(j, snap_keys[i]));
    v = journal_get(j, "src.size_gib");
    if (v &&
        parse_uint(v, "src.size_gib", 0, UINT64_MAX, &r->src.size_gib, &e) < 0)
        return bad_value(j, "src.size_gib", v, err);
    v = journal_get(j, "dst.created");
    r->dst.created = v && !strcmp(v, "1");
    v = journal_get(j, "failback");
    r->failback.on = v && !strcmp(v, "1");
    v = journal_get(j, "failback.discard");
    r->failback.discard = v && !strcmp(v, "1");
    v = journal_get(j, "failback.head_proved");
    r->failback.head_proved = v && !strcmp(v, "1");
    for (size_t i = 0; i < COUNT(secs_fields); i++) {
        v = journal_get(j, secs_fields[i].key);
        if (v && !parse_secs(v, FIELD(double *, r, secs_fields[i])))
            return bad_value(j, secs_fields[i].key, v, err);
    }
    return load_throttle(j, r, err);
}

void move_record_store(const struct move_record *r, struct journal *j)
{
    journal_set(j, "phase",
                r->phase == MOVE_NONE ? NULL : move_phase_name(r->phase));
    for (size_t i = 0; i < COUNT(str_fields); i++)
        journal_set(j, str_fields[i].key,
                    *CFIELD(char *const *, r, str_fields[i]));
    for (size_t i = 0; i < MOVE_SNAP_COUNT; i++)
        journal_set(j, snap_keys[i], r->snaps[i]);
    if (r->src.volume)
        journal_setf(j, "src.size_gib", "%" PRIu64, r->src.size_gib);
    else
        journal_set(j, "src.size_gib", NULL);
    journal_set(j, "dst.created", r->dst.created ? "1" : NULL);
    journal_set(j, "failback", r->failback.on ? "1" : NULL);
    journal_set(j, "failback.discard", r->failback.discard ? "1" : NULL);
    journal_set(j, "failback.head_proved",
                r->failback.head_proved ? "1" : NULL);
    for (size_t i = 0; i < COUNT(secs_fields); i++) {
        double d = *CFIELD(const double *, r, secs_fields[i]);

        if (isnan(d))
            journal_set(j, secs_fields[i].key, NULL);
        else
            journal_setf(j, secs_fields[i].key, "%.3f", d);
    }
    store_throttle(r, j);
}
