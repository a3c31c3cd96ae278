/*
 * conf.c - loading dkimrot's configuration file: the libconfig parse, the
 * diagnostics every later check appends to, the typed getters the section
 * readers share, and the lookups the rest of the daemon uses afterwards.
 *
 * The loader never stops at the first problem: `dkimrot check` shows them
 * all, each with its file and line.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf_priv.h"

#define CONF_DEFAULT_STATE_DB "/var/lib/dkimrot/state.db"
#define DURATION_MAX (100LL * 365 * 86400)

static const char *const top_keys[] = {
	"state_db", "policy", "dns", "mta", "domains", NULL
};

/* ----------------------------------------------------------- diagnostics */

static void diag_push(struct conf_ctx *cx, const char *file, int line, const char *msg)
{
	struct conf_diags *d = cx->diags;
	struct conf_diag *item;

	if (d->n >= CONF_DIAGS_MAX) {
		cx->dropped++;
		return;
	}

	if (d->n == d->cap) {
		size_t cap = d->cap == 0 ? 8 : d->cap * 2;
		struct conf_diag *items = reallocarray(d->items, cap, sizeof(*items));

		if (items == NULL) {
			cx->dropped++;
			return;
		}
		d->items = items;
		d->cap = cap;
	}

	item = &d->items[d->n++];
	memset(item, 0, sizeof(*item));
	snprintf(item->file, sizeof(item->file), "%s", file);
	item->line = line;
	snprintf(item->msg, sizeof(item->msg), "%s", msg);
}

void conf_diag_add(struct conf_ctx *cx, const config_setting_t *at, const char *where,
		   const char *fmt, ...)
{
	char text[sizeof(((struct conf_diag *)0)->msg)];
	char file[sizeof(((struct conf_diag *)0)->file)];
	const char *src = NULL;
	int line = 0;
	size_t used = 0;
	va_list ap;

	if (at != NULL) {
		src = config_setting_source_file(at);
		line = (int)config_setting_source_line(at);
	}

	/* libconfig names an @included file as written: say where it is. */
	if (src == NULL || strcmp(src, cx->path) == 0)
		snprintf(file, sizeof(file), "%s", cx->path);
	else if (src[0] == '/')
		snprintf(file, sizeof(file), "%s", src);
	else if (snprintf(file, sizeof(file), "%s/%s", cx->dir, src) >= (int)sizeof(file))
		snprintf(file, sizeof(file), "%s", src);

	if (where != NULL && *where != '\0')
		used = (size_t)snprintf(text, sizeof(text), "%s: ", where);
	if (used >= sizeof(text))
		used = sizeof(text) - 1;

	va_start(ap, fmt);
	vsnprintf(text + used, sizeof(text) - used, fmt, ap);
	va_end(ap);

	diag_push(cx, file, line, text);
}

/* Earliest line first, so the first message is the first thing to fix;
 * problems found in later passes (duplicates) fall into place. */
static int diag_cmp(const void *a, const void *b)
{
	const struct conf_diag *x = a, *y = b;

	if (x->line != y->line)
		return x->line < y->line ? -1 : 1;
	return 0;
}

static void diags_sort(struct conf_diags *d)
{
	/* Insertion sort keeps equal lines in the order they were found. */
	for (size_t i = 1; i < d->n; i++) {
		struct conf_diag tmp = d->items[i];
		size_t j = i;

		while (j > 0 && diag_cmp(&d->items[j - 1], &tmp) > 0) {
			d->items[j] = d->items[j - 1];
			j--;
		}
		d->items[j] = tmp;
	}
}

void conf_diags_free(struct conf_diags *diags)
{
	if (diags == NULL)
		return;
	free(diags->items);
	diags->items = NULL;
	diags->n = 0;
	diags->cap = 0;
}

/* --------------------------------------------------------------- getters */

void conf_keys_check(struct conf_ctx *cx, const config_setting_t *group, const char *where,
		     const char *const *allowed)
{
	int n = config_setting_length(group);

	for (int i = 0; i < n; i++) {
		const config_setting_t *s = config_setting_get_elem(group, (unsigned)i);
		const char *name = config_setting_name(s);
		char valid[400];
		size_t used = 0;
		bool known = false;

		for (size_t k = 0; allowed[k] != NULL; k++)
			if (name != NULL && strcmp(name, allowed[k]) == 0)
				known = true;
		if (known)
			continue;

		valid[0] = '\0';
		for (size_t k = 0; allowed[k] != NULL && used < sizeof(valid); k++)
			used += (size_t)snprintf(valid + used, sizeof(valid) - used, "%s%s",
						 k > 0 ? ", " : "", allowed[k]);
		conf_diag_add(cx, s, where, "unknown key \"%s\" (valid keys: %s)",
			      name != NULL ? name : "", valid);
	}
}

const config_setting_t *conf_member(struct conf_ctx *cx, const config_setting_t *group,
				    const char *key, const char *where, bool required)
{
	const config_setting_t *s = NULL;

	if (group != NULL)
		s = config_setting_get_member(group, key);
	if (s == NULL && required)
		conf_diag_add(cx, group, where, "missing required key \"%s\"", key);
	return s;
}

bool conf_value_string(struct conf_ctx *cx, const config_setting_t *s, const char *where,
		       char *out, size_t len, bool allow_empty)
{
	const char *name = config_setting_name(s);
	const char *v;
	size_t n;

	if (config_setting_type(s) != CONFIG_TYPE_STRING) {
		conf_diag_add(cx, s, where, "%s must be a string (in double quotes)", name);
		return false;
	}

	v = config_setting_get_string(s);
	n = strlen(v);
	if (n == 0 && !allow_empty) {
		conf_diag_add(cx, s, where, "%s must not be empty", name);
		return false;
	}
	if (n >= len) {
		conf_diag_add(cx, s, where, "%s is too long (%zu characters, at most %zu)",
			      name, n, len - 1);
		return false;
	}

	/* Values end up in paths, URLs, HTTP headers and log lines. */
	for (size_t i = 0; i < n; i++) {
		if (iscntrl((unsigned char)v[i])) {
			conf_diag_add(cx, s, where, "%s contains a control character", name);
			return false;
		}
	}

	memcpy(out, v, n + 1);
	return true;
}

bool conf_value_path(struct conf_ctx *cx, const config_setting_t *s, const char *where,
		     char *out, size_t len)
{
	char tmp[4096];
	int n;

	if (!conf_value_string(cx, s, where, tmp, sizeof(tmp), false))
		return false;

	/* Relative to the config file, so a config and its files move together. */
	if (tmp[0] == '/')
		n = snprintf(out, len, "%s", tmp);
	else
		n = snprintf(out, len, "%s/%s", cx->dir, tmp);
	if (n < 0 || (size_t)n >= len) {
		conf_diag_add(cx, s, where, "%s is too long once made absolute (%s/%s)",
			      config_setting_name(s), cx->dir, tmp);
		out[0] = '\0';
		return false;
	}
	return true;
}

bool conf_value_duration(struct conf_ctx *cx, const config_setting_t *s, const char *where,
			 int64_t *out)
{
	const char *name = config_setting_name(s);
	struct dkr_error e;
	int64_t v;

	switch (config_setting_type(s)) {
	case CONFIG_TYPE_INT:
	case CONFIG_TYPE_INT64:
		v = config_setting_get_int64(s);
		if (v < 0) {
			conf_diag_add(cx, s, where, "%s must not be negative", name);
			return false;
		}
		break;
	case CONFIG_TYPE_STRING:
		if (duration_parse(config_setting_get_string(s), &v, &e) != DKR_OK) {
			conf_diag_add(cx, s, where, "%s: %s", name, e.msg);
			return false;
		}
		break;
	default:
		conf_diag_add(cx, s, where,
			      "%s must be a duration such as \"7d\" (units s, m, h, d, w) "
			      "or a number of seconds", name);
		return false;
	}

	/* The same bound duration_parse() keeps, so sums cannot overflow. */
	if (v > DURATION_MAX) {
		conf_diag_add(cx, s, where, "%s is longer than 100 years", name);
		return false;
	}
	*out = v;
	return true;
}

bool conf_value_integer(struct conf_ctx *cx, const config_setting_t *s, const char *where,
			int64_t *out)
{
	int t = config_setting_type(s);

	if (t != CONFIG_TYPE_INT && t != CONFIG_TYPE_INT64) {
		conf_diag_add(cx, s, where, "%s must be an integer", config_setting_name(s));
		return false;
	}
	*out = config_setting_get_int64(s);
	return true;
}

bool conf_get_string(struct conf_ctx *cx, const config_setting_t *group, const char *key,
		     const char *where, bool required, char *out, size_t len)
{
	const config_setting_t *s = conf_member(cx, group, key, where, required);

	return s != NULL && conf_value_string(cx, s, where, out, len, !required);
}

bool conf_get_path(struct conf_ctx *cx, const config_setting_t *group, const char *key,
		   const char *where, bool required, char *out, size_t len)
{
	const config_setting_t *s = conf_member(cx, group, key, where, required);

	return s != NULL && conf_value_path(cx, s, where, out, len);
}

bool conf_host_parse(const char *text, char *out, size_t len)
{
	unsigned char addr[16];
	struct dkr_error e;

	if (strlen(text) >= len)
		return false;
	if (inet_pton(AF_INET, text, addr) == 1 || inet_pton(AF_INET6, text, addr) == 1) {
		snprintf(out, len, "%s", text);
		return true;
	}

	/* All digits and dots is a mistyped address, never a hostname. */
	if (strspn(text, "0123456789.") == strlen(text))
		return false;
	return name_normalise(text, out, len, &e) == DKR_OK;
}

/* ------------------------------------------------------------ the loader */

/* The absolute directory holding `path`: the base of relative paths. */
static bool conf_dir_find(const char *path, char *out, size_t len)
{
	char *copy = xstrdup(path);
	char *real = realpath(dirname(copy), NULL);
	bool ok = real != NULL && str_copy(out, len, real);

	free(real);
	free(copy);
	return ok;
}

static void conf_parse_failed(struct conf_ctx *cx, config_t *cf)
{
	const char *file = config_error_file(cf) != NULL ? config_error_file(cf) : cx->path;
	char msg[512];
	FILE *f;

	if (config_error_type(cf) != CONFIG_ERR_FILE_IO) {
		snprintf(msg, sizeof(msg), "%s", config_error_text(cf));
		diag_push(cx, file, config_error_line(cf), msg);
		return;
	}

	/* libconfig only says "file I/O error": ask the system why. */
	f = fopen(cx->path, "r");
	if (f != NULL) {
		fclose(f);
		snprintf(msg, sizeof(msg), "cannot read the file (or a file it includes)");
	} else {
		snprintf(msg, sizeof(msg), "cannot read the file: %s", strerror(errno));
	}
	diag_push(cx, file, 0, msg);
}

static void conf_top_read(struct conf_ctx *cx, const config_setting_t *root, struct conf *conf)
{
	const config_setting_t *s;

	conf_keys_check(cx, root, "", top_keys);

	snprintf(conf->state_db, sizeof(conf->state_db), "%s", CONF_DEFAULT_STATE_DB);
	conf_get_path(cx, root, "state_db", "", false, conf->state_db,
		      sizeof(conf->state_db));

	conf_policy_defaults(&conf->policy);
	s = conf_member(cx, root, "policy", "", false);
	if (s != NULL && config_setting_type(s) != CONFIG_TYPE_GROUP)
		conf_diag_add(cx, s, "", "policy must be a group: policy = { ... };");
	else if (s != NULL)
		conf_policy_read(cx, s, "policy", &conf->policy, true);

	conf_dns_read(cx, conf_member(cx, root, "dns", "", false), conf);
	conf_mta_read(cx, conf_member(cx, root, "mta", "", false), conf);
	conf_domains_read(cx, conf_member(cx, root, "domains", "", false), conf);
}

/* Turn the collected problems into the loader's result. */
static int conf_result(struct conf_ctx *cx, struct dkr_error *e)
{
	struct conf_diags *d = cx->diags;
	const struct conf_diag *first;

	if (d->n == 0)
		return DKR_OK;

	diags_sort(d);
	if (cx->dropped > 0) {
		char msg[128];

		snprintf(msg, sizeof(msg), "%zu more problems not shown", cx->dropped);
		cx->dropped = 0;
		d->n = d->n < CONF_DIAGS_MAX ? d->n : CONF_DIAGS_MAX - 1;
		diag_push(cx, cx->path, 0, msg);
	}

	first = &d->items[0];
	if (first->line > 0)
		return dkr_fail(e, DKR_ECONFIG, "%s:%d: %s", first->file, first->line,
				first->msg);
	return dkr_fail(e, DKR_ECONFIG, "%s: %s", first->file, first->msg);
}

int conf_load(const char *path, struct conf **out, struct conf_diags *diags,
	      struct dkr_error *e)
{
	struct conf_diags own = { 0 };
	struct conf_ctx cx = { .path = path, .diags = diags != NULL ? diags : &own };
	struct conf *conf = xcalloc(1, sizeof(*conf));
	config_t cf;
	int rc;

	*out = NULL;
	config_init(&cf);

	if (!str_copy(conf->path, sizeof(conf->path), path)) {
		diag_push(&cx, path, 0, "path of the configuration file is too long");
		goto out;
	}

	/* @include and relative paths both start from the file's directory. */
	if (!conf_dir_find(path, cx.dir, sizeof(cx.dir))) {
		char msg[300];

		snprintf(msg, sizeof(msg), "cannot find the file's directory: %s",
			 strerror(errno));
		diag_push(&cx, path, 0, msg);
		goto out;
	}
	config_set_include_dir(&cf, cx.dir);

	if (config_read_file(&cf, path) != CONFIG_TRUE) {
		conf_parse_failed(&cx, &cf);
		goto out;
	}

	conf_top_read(&cx, config_root_setting(&cf), conf);

	if (conf->n_domains == 0 && cx.diags->n == 0)
		log_msg(LOG_LVL_NOTICE, "%s: no domains configured: nothing to rotate", path);

out:
	config_destroy(&cf);
	rc = conf_result(&cx, e);
	if (rc == DKR_OK)
		*out = conf;
	else
		conf_free(conf);
	conf_diags_free(&own);
	return rc;
}

void conf_free(struct conf *conf)
{
	if (conf == NULL)
		return;

	for (size_t i = 0; i < conf->n_dns; i++) {
		secret_free(conf->dns[i].tsig_secret);
		secret_free(conf->dns[i].api_secret);
	}
	for (size_t i = 0; i < conf->n_domains; i++)
		free(conf->domains[i].nameservers);

	free(conf->dns);
	free(conf->mta);
	free(conf->domains);
	free(conf);
}

/* --------------------------------------------------------------- lookups */

const char *conf_path_choose(const char *from_cli)
{
	const char *env;

	if (from_cli != NULL && *from_cli != '\0')
		return from_cli;
	env = getenv("DKIMROT_CONFIG");
	if (env != NULL && *env != '\0')
		return env;
	return CONF_DEFAULT_PATH;
}

static int domain_key_cmp(const void *key, const void *elem)
{
	const struct conf_domain *d = elem;

	return strcmp(key, d->domain);
}

struct conf_domain *conf_domain_find(const struct conf *conf, const char *domain)
{
	char name[DKR_NAME_MAX + 1];

	if (conf == NULL || domain == NULL || conf->n_domains == 0)
		return NULL;
	if (name_normalise(domain, name, sizeof(name), NULL) != DKR_OK)
		return NULL;

	/* conf_domains_read() left the array sorted by name. */
	return bsearch(name, conf->domains, conf->n_domains, sizeof(conf->domains[0]),
		       domain_key_cmp);
}

const char *conf_dns_type_name(enum conf_dns_type t)
{
	switch (t) {
	case DNS_RFC2136:
		return "rfc2136";
	case DNS_POWERDNS:
		return "powerdns";
	case DNS_CLOUDFLARE:
		return "cloudflare";
	case DNS_EXEC:
		return "exec";
	}
	return "unknown";
}

const char *conf_mta_type_name(enum conf_mta_type t)
{
	switch (t) {
	case MTA_ZDKIMFILTER:
		return "zdkimfilter";
	case MTA_OPENDKIM:
		return "opendkim";
	}
	return "unknown";
}
