/*
 * cmd.h - private to rotator/: helpers the command implementations share.
 */
#ifndef DKIMROT_CMD_H
#define DKIMROT_CMD_H

#include "rotator.h"

/* Load and validate; prints every problem with file:line; EXIT_USAGE on error. */
int cmd_load_conf(const char *path, struct conf **out);

/* The configured domains named (all when none); EXIT_USAGE for an unknown one. */
int cmd_pick_domains(struct conf *conf, char **names, int n_names,
		     struct conf_domain ***out, size_t *n_out);

int cmd_open_state(const struct conf *conf, bool writer, struct state **st);

/* What every command opens: the configuration, its domains, the state. */
struct cmd_ctx {
	struct conf *conf;
	struct state *st;
	struct conf_domain **domains;
	size_t n_domains;
};

/* Load, pick the domains named, open the state (as the writer or not). */
int cmd_open(const char *conf_path, char **names, int n_names, bool writer,
	     struct cmd_ctx *c);
void cmd_close(struct cmd_ctx *c);

int cmd_parse_duration_opt(const char *opt, const char *text, int64_t *out);

#endif
