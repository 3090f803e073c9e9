/* SPDX-License-Identifier: MIT */
/*
 * rbdmove/cli/batch_plan.c: read a batch plan and turn each job into the
 * command line it stands for, checked by that command's own option table
 * and parser (batch_plan.h).
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "openstack/document.h"
#include "rbdmove/base/strutil.h"
#include "rbdmove/base/xalloc.h"
#include "rbdmove/cli/batch_plan.h"
#include "rbdmove/cli/cli.h"
#include "rbdmove/cli/commands.h"

/* Keys a plan may not set: batch decides them for every job. */
static const char *const batch_owned[] = {
    "json", "state-dir", "progress", "help", "verbose", "quiet", NULL,
};

struct plan_ctx {
    const char *shown;
    const struct doc_node *defaults; /* NULL: none */
};

static int at(struct error *err, const struct plan_ctx *c,
              const struct doc_node *n, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* "PLAN:LINE:COL: what" */
static int at(struct error *err, const struct plan_ctx *c,
              const struct doc_node *n, const char *fmt, ...)
{
    char what[ERROR_MSG_MAX];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    return error_set(err, ERROR_USAGE, 0, "%s:%u:%u: %s", c->shown, n->line,
                     n->column, what);
}

static int check_option(const char *verb, const char *name, const char *value,
                        enum parse_option_arg *arg, struct error *err)
{
    if (!strcmp(verb, "move"))
        return move_check_option(name, value, arg, err);
    return sync_check_option(name, value, arg, err);
}

static bool known_anywhere(const char *name)
{
    enum parse_option_arg arg;
    struct error e = ERROR_INIT;

    return check_option("move", name, NULL, &arg, &e) != 1 ||
           check_option("sync", name, NULL, &arg, &e) != 1;
}

/* A key batch owns, or one that names a job: refused where it is. */
static int check_key(const struct plan_ctx *c, const struct doc_node *key,
                     const char *where, struct error *err)
{
    for (size_t i = 0; batch_owned[i]; i++) {
        if (!strcmp(key->scalar, batch_owned[i]))
            return at(err, c, key, "%s: '%s' is set by batch for every job",
                      where, key->scalar);
    }
    if (!strcmp(key->scalar, "server"))
        return at(err, c, key,
                  "%s: 'server' is not a job option: write the job as "
                  "'move-server: SERVER'",
                  where);
    return 0;
}

static void push(struct batch_job *job, char *s)
{
    job->argv = xrealloc(job->argv, (job->argc + 2) * sizeof(*job->argv));
    job->argv[job->argc++] = s;
    job->argv[job->argc] = NULL;
}

static bool plain_is(const struct doc_node *v, const char *word)
{
    return v->plain && !strcmp(v->scalar, word);
}

/*
 * Add option key = v to job's command line. 1 when the job's command has
 * no such option.
 */
static int add_option(const struct plan_ctx *c, struct batch_job *job,
                      const struct doc_node *key, const struct doc_node *v,
                      struct error *err)
{
    enum parse_option_arg arg = PARSE_ARG_NONE;
    struct error e = ERROR_INIT;
    const char *name = key->scalar;
    int rc;

    rc = check_option(job->verb, name, NULL, &arg, &e);
    if (rc == 1)
        return 1;
    if (v->type != DOC_SCALAR)
        return at(err, c, v, "job %u: %s: expected a value, not a %s",
                  job->index, name, document_type_name(v->type));
    if (arg != PARSE_ARG_REQUIRED &&
        (plain_is(v, "true") || plain_is(v, "false"))) {
        if (plain_is(v, "true")) {
            push(job, xasprintf("--%s", name));
        } else {
            /* false: the opposite flag where there is one
             * ("auto-converge: false"), else the default. */
            char *no = xasprintf("no-%s", name);

            if (check_option(job->verb, no, NULL, &arg, &e) == 0)
                push(job, xasprintf("--%s", no));
            free(no);
        }
        return 0;
    }
    if (arg == PARSE_ARG_NONE)
        return at(err, c, v, "job %u: %s is a flag: true or false", job->index,
                  name);
    if (!v->scalar[0] || plain_is(v, "~") || plain_is(v, "null"))
        return at(err, c, v, "job %u: %s needs a value", job->index, name);
    if (check_option(job->verb, name, v->scalar, &arg, &e) < 0)
        return at(err, c, v, "job %u: %s", job->index, e.msg);
    push(job, xasprintf("--%s=%s", name, v->scalar));
    if (!strcmp(name, "dst-server")) {
        free(job->dst_server);
        job->dst_server = xstrdup(v->scalar);
    }
    if (!strcmp(name, "bwlimit") &&
        parse_size(v->scalar, "bwlimit", &job->bwlimit, &e) < 0)
        job->bwlimit = 0;
    return 0;
}

static const char *const job_kinds[][2] = {
    {"move", "move"},
    {"move-server", "move"},
    {"sync", "sync"},
};

/* The job entry n (a mapping): its kind, target and options. */
static int build_job(const struct plan_ctx *c, const struct doc_node *n,
                     struct batch_job *job, struct error *err)
{
    const struct doc_node *kind_key = NULL;
    char **args;
    int rc;

    if (n->type != DOC_MAPPING)
        return at(err, c, n,
                  "job %u: expected a mapping such as 'move: "
                  "VOLUME', not a %s",
                  job->index, document_type_name(n->type));
    for (size_t i = 0; i < n->n; i++) {
        for (size_t k = 0; k < 3; k++) {
            if (strcmp(n->keys[i]->scalar, job_kinds[k][0]))
                continue;
            if (kind_key)
                return at(err, c, n->keys[i],
                          "job %u: '%s' and '%s' in one job: one command "
                          "per job",
                          job->index, kind_key->scalar, n->keys[i]->scalar);
            kind_key = n->keys[i];
            job->kind = job_kinds[k][0];
            job->verb = job_kinds[k][1];
            if (n->items[i]->type != DOC_SCALAR || !n->items[i]->scalar[0])
                return at(err, c, n->items[i],
                          "job %u: %s needs a %s name or id", job->index,
                          job->kind, k == 1 ? "server" : "volume");
            job->target = xstrdup(n->items[i]->scalar);
        }
    }
    if (!kind_key)
        return at(err, c, n,
                  "job %u: no command: give one of move, move-server, sync",
                  job->index);
    push(job, xstrdup(job->verb));
    /* The defaults first, those the job does not set itself. */
    for (size_t i = 0; c->defaults && i < c->defaults->n; i++) {
        const struct doc_node *key = c->defaults->keys[i];

        if (document_get(n, key->scalar))
            continue;
        rc = add_option(c, job, key, c->defaults->items[i], err);
        if (rc < 0)
            return -1;
    }
    for (size_t i = 0; i < n->n; i++) {
        const struct doc_node *key = n->keys[i];
        char where[32];

        if (key == kind_key)
            continue;
        snprintf(where, sizeof(where), "job %u", job->index);
        if (check_key(c, key, where, err) < 0)
            return -1;
        if (!strcmp(key->scalar, "move") || !strcmp(key->scalar, "sync") ||
            !strcmp(key->scalar, "move-server"))
            continue;
        rc = add_option(c, job, key, n->items[i], err);
        if (rc < 0)
            return -1;
        if (rc == 1)
            return at(err, c, key, "job %u: '%s' is not an option of %s%s",
                      job->index, key->scalar, job->kind,
                      known_anywhere(key->scalar) ? ""
                                                  : " (see rbdmove "
                                                    "move --help)");
    }
    job->target_at = job->argc;
    if (!strcmp(job->kind, "move-server")) {
        push(job, xasprintf("--server=%s", job->target));
    } else {
        push(job, xstrdup("--"));
        push(job, xstrdup(job->target));
    }
    /* The command's own parser on the whole line, as it will run; it
     * reorders what it is given, so a copy. */
    args = xcalloc(job->argc + 1, sizeof(*args));
    memcpy(args, job->argv, job->argc * sizeof(*args));
    rc = !strcmp(job->verb, "move") ? move_check_args((int)job->argc, args)
                                    : sync_check_args((int)job->argc, args);
    free(args);
    if (rc != EXIT_OK)
        return at(err, c, n, "job %u (%s %s) is refused by %s, as said above",
                  job->index, job->kind, job->target, job->verb);
    return 0;
}

static int check_defaults(const struct plan_ctx *c, struct error *err)
{
    const struct doc_node *d = c->defaults;

    if (d->type != DOC_MAPPING)
        return at(err, c, d,
                  "defaults: expected a mapping of options, not "
                  "a %s",
                  document_type_name(d->type));
    for (size_t i = 0; i < d->n; i++) {
        const struct doc_node *key = d->keys[i];

        if (check_key(c, key, "defaults", err) < 0)
            return -1;
        if (!strcmp(key->scalar, "move") || !strcmp(key->scalar, "sync") ||
            !strcmp(key->scalar, "move-server"))
            return at(err, c, key,
                      "defaults: '%s' names a job: put it under "
                      "jobs",
                      key->scalar);
        if (!known_anywhere(key->scalar))
            return at(err, c, key,
                      "defaults: '%s' is not an option of move or sync",
                      key->scalar);
    }
    return 0;
}

/* Two jobs of one volume (or server) would fight over it. */
static int check_unique(const struct plan_ctx *c, const struct doc_node *jobs,
                        const struct batch_plan *p, struct error *err)
{
    for (size_t i = 0; i < p->n; i++) {
        bool si = !strcmp(p->jobs[i].kind, "move-server");

        for (size_t k = 0; k < i; k++) {
            bool sk = !strcmp(p->jobs[k].kind, "move-server");

            if (si == sk && !strcmp(p->jobs[i].target, p->jobs[k].target))
                return at(err, c, jobs->items[i],
                          "job %u: %s '%s' is in job %u already",
                          p->jobs[i].index, si ? "server" : "volume",
                          p->jobs[i].target, p->jobs[k].index);
        }
    }
    return 0;
}

int batch_plan_load(const char *path, const char *shown, struct batch_plan *p,
                    struct error *err)
{
    struct doc_node *root = NULL;
    const struct doc_node *jobs;
    struct plan_ctx c = {shown, NULL};
    int ret = -1;

    memset(p, 0, sizeof(*p));
    if (document_load(path, &root, err) < 0)
        return -1;
    if (root->type != DOC_MAPPING) {
        at(err, &c, root, "expected a mapping with defaults and jobs, not a %s",
           document_type_name(root->type));
        goto out;
    }
    for (size_t i = 0; i < root->n; i++) {
        if (strcmp(root->keys[i]->scalar, "defaults") &&
            strcmp(root->keys[i]->scalar, "jobs")) {
            at(err, &c, root->keys[i],
               "unknown key '%s': a plan has defaults and jobs",
               root->keys[i]->scalar);
            goto out;
        }
    }
    c.defaults = document_get(root, "defaults");
    if (c.defaults && c.defaults->type == DOC_SCALAR &&
        (plain_is(c.defaults, "~") || plain_is(c.defaults, "null") ||
         !c.defaults->scalar[0]))
        c.defaults = NULL; /* "defaults:" with nothing under it */
    if (c.defaults && check_defaults(&c, err) < 0)
        goto out;
    jobs = document_get(root, "jobs");
    if (!jobs) {
        at(err, &c, root, "no jobs: the plan needs a list 'jobs'");
        goto out;
    }
    if (jobs->type != DOC_SEQUENCE || !jobs->n) {
        at(err, &c, jobs, "jobs: expected a list of one job or more");
        goto out;
    }
    p->jobs = xcalloc(jobs->n, sizeof(*p->jobs));
    for (size_t i = 0; i < jobs->n; i++) {
        struct batch_job *job = &p->jobs[p->n++];

        job->index = (unsigned)i + 1;
        job->line = jobs->items[i]->line;
        job->column = jobs->items[i]->column;
        if (build_job(&c, jobs->items[i], job, err) < 0)
            goto out;
    }
    ret = check_unique(&c, jobs, p, err);
out:
    document_free(root);
    if (ret < 0)
        batch_plan_release(p);
    return ret;
}

void batch_plan_release(struct batch_plan *p)
{
    for (size_t i = 0; i < p->n; i++) {
        struct batch_job *job = &p->jobs[i];

        free(job->target);
        free(job->dst_server);
        for (size_t k = 0; k < job->argc; k++)
            free(job->argv[k]);
        free(job->argv);
    }
    free(p->jobs);
    memset(p, 0, sizeof(*p));
}
