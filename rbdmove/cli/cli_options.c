/* SPDX-License-Identifier: MIT */
/*
 * rbdmove/cli/cli_options.c: the callbacks of the shared option groups, for
 * the options that set more than one variable or take a word.
 */
#include "rbdmove/cli/cli_options.h"

#include <string.h>

#include "rbdmove/base/strutil.h"
#include "rbdmove/core/copy.h"

int cli_options_interface(const struct parse_option *opt, const char *arg,
                          struct error *err)
{
    struct plan_options *p = opt->value;

    (void)err;
    p->src.interface = arg;
    p->dst.interface = arg;
    return 0;
}

int cli_options_insecure(const struct parse_option *opt, const char *arg,
                         struct error *err)
{
    struct plan_options *p = opt->value;

    (void)arg;
    (void)err;
    p->src.insecure = true;
    p->dst.insecure = true;
    return 0;
}

int cli_options_receiver(const struct parse_option *opt, const char *arg,
                         struct error *err)
{
    bool *rbd = opt->value;

    if (strcmp(arg, "rbdmove") && strcmp(arg, "rbd"))
        return error_set(err, ERROR_USAGE, 0,
                         "invalid --receiver '%s' (rbdmove or rbd)", arg);
    *rbd = !strcmp(arg, "rbd");
    return 0;
}

int cli_options_progress(const struct parse_option *opt, const char *arg,
                         struct error *err)
{
    return progress_mode_parse(arg, opt->value, err);
}

/* Set the name option opt to arg when it is a safe name; else say why,
 * calling it what ("pool", "ceph client id"). */
static int set_name(const struct parse_option *opt, const char *arg,
                    const char *what, struct error *err)
{
    struct buf why = BUF_INIT;
    int ret = 0;

    if (name_problem(arg, &why))
        ret = error_set(err, ERROR_USAGE, 0, "--%s: the %s %s", opt->long_name,
                        what, buf_str(&why));
    else
        *(const char **)opt->value = arg;
    buf_release(&why);
    return ret;
}

int cli_options_ceph_id(const struct parse_option *opt, const char *arg,
                        struct error *err)
{
    if (!strncmp(arg, "client.", 7))
        return error_set(err, ERROR_USAGE, 0,
                         "--%s '%s': give the id without 'client.' (--%s %s)",
                         opt->long_name, arg, opt->long_name, arg + 7);
    return set_name(opt, arg, "ceph client id", err);
}

int cli_options_pool(const struct parse_option *opt, const char *arg,
                     struct error *err)
{
    return set_name(opt, arg, "pool name", err);
}

enum parse_options_status
cli_options_check_memory(const struct cli_command *cmd,
                         const struct copy_params *p)
{
    size_t window = p->window ? p->window : 1;

    if (window * p->chunk_size <= COPY_MEMORY_MAX)
        return PARSE_OPT_DONE;
    return parse_options_error(cmd,
                               "--window %zu x --chunk-size %zu is %zu MiB of "
                               "buffers, over the %zu MiB allowed",
                               window, p->chunk_size,
                               (window * p->chunk_size) >> 20,
                               COPY_MEMORY_MAX >> 20);
}
