/*
 * cmd_util.c - what the commands share: loading the configuration with
 * every problem reported, choosing the domains named on the command line,
 * and the parts of a key's story that status and plan both print.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"

int cmd_load_conf(const char *path, struct conf **out)
{
	struct conf_diags diags = { 0 };
	struct dkr_error e = { 0 };
	int rc;

	rc = conf_load(path, out, &diags, &e);
	if (rc == DKR_OK) {
		conf_diags_free(&diags);
		return EXIT_OK;
	}

	if (diags.n == 0)
		fprintf(stderr, "dkimrot: %s\n", e.msg);
	for (size_t i = 0; i < diags.n; i++) {
		if (diags.items[i].line > 0)
			fprintf(stderr, "dkimrot: %s:%d: %s\n", diags.items[i].file,
				diags.items[i].line, diags.items[i].msg);
		else
			fprintf(stderr, "dkimrot: %s: %s\n", diags.items[i].file,
				diags.items[i].msg);
	}
	conf_diags_free(&diags);
	return EXIT_USAGE;
}

int cmd_pick_domains(struct conf *conf, char **names, int n_names,
		     struct conf_domain ***out, size_t *n_out)
{
	struct conf_domain **v;
	size_t n = 0;

	if (n_names == 0) {
		v = xcalloc(conf->n_domains + 1, sizeof(*v));
		for (size_t i = 0; i < conf->n_domains; i++)
			v[n++] = &conf->domains[i];
		*out = v;
		*n_out = n;
		return EXIT_OK;
	}

	v = xcalloc((size_t)n_names, sizeof(*v));
	for (int i = 0; i < n_names; i++) {
		char norm[DKR_NAME_MAX + 1];
		struct conf_domain *d = NULL;

		if (name_normalise(names[i], norm, sizeof(norm), NULL) == DKR_OK)
			d = conf_domain_find(conf, norm);
		if (d == NULL) {
			fprintf(stderr, "dkimrot: %s: domain \"%s\" is not configured\n",
				conf->path, names[i]);
			free(v);
			return EXIT_USAGE;
		}
		v[n++] = d;
	}
	*out = v;
	*n_out = n;
	return EXIT_OK;
}

int cmd_open_state(const struct conf *conf, bool writer, struct state **st)
{
	struct dkr_error e = { 0 };

	if (state_open(conf->state_db, writer, st, &e) != DKR_OK) {
		fprintf(stderr, "dkimrot: %s\n", e.msg);
		return e.code == DKR_ELOCKED ? EXIT_FAIL : EXIT_FAIL;
	}
	return EXIT_OK;
}

int cmd_open(const char *conf_path, char **names, int n_names, bool writer,
	     struct cmd_ctx *c)
{
	int rc;

	memset(c, 0, sizeof(*c));
	rc = cmd_load_conf(conf_path, &c->conf);
	if (rc != EXIT_OK)
		return rc;
	rc = cmd_pick_domains(c->conf, names, n_names, &c->domains, &c->n_domains);
	if (rc != EXIT_OK)
		return rc;
	return cmd_open_state(c->conf, writer, &c->st);
}

void cmd_close(struct cmd_ctx *c)
{
	if (c->st != NULL)
		state_close(c->st);
	free(c->domains);
	if (c->conf != NULL)
		conf_free(c->conf);
	memset(c, 0, sizeof(*c));
}

int cmd_parse_duration_opt(const char *opt, const char *text, int64_t *out)
{
	struct dkr_error e = { 0 };

	if (duration_parse(text, out, &e) != DKR_OK) {
		fprintf(stderr, "dkimrot: %s: %s\n", opt, e.msg);
		return EXIT_USAGE;
	}
	return EXIT_OK;
}
