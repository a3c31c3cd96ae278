/*
 * conf_priv.h - what the files of the conf module share while one
 * configuration file is being loaded: the load context that collects
 * diagnostics, and typed getters that report wrong types and missing keys.
 * Nothing outside conf/ includes this header.
 */
#ifndef DKIMROT_CONF_PRIV_H
#define DKIMROT_CONF_PRIV_H

#include <libconfig.h>

#include "conf.h"

/* Past this many problems the rest are only counted: one typo repeated
 * over 100,000 domains must not take gigabytes to report. */
#define CONF_DIAGS_MAX 100

/* Longest "where" prefix of a message: 'domain "<253 characters>"'. */
#define CONF_WHERE_MAX 300

struct conf_ctx {
	const char *path;	/* as the operator gave it, for messages */
	char dir[4096];		/* absolute directory of the file: base of relative paths */
	struct conf_diags *diags;
	size_t dropped;		/* problems beyond CONF_DIAGS_MAX */
};

/*
 * Record a problem at setting `at` (its file and line; NULL: the file
 * itself).  `where` names the entry ("dns \"primary\"", "policy"); empty
 * or NULL for top-level keys.
 */
void conf_diag_add(struct conf_ctx *cx, const config_setting_t *at, const char *where,
		   const char *fmt, ...) DKR_PRINTF(4, 5);

/* Report every member of `group` whose name is not in `allowed` (NULL-ended). */
void conf_keys_check(struct conf_ctx *cx, const config_setting_t *group, const char *where,
		     const char *const *allowed);

/* The member `key` of `group`; reports it missing when `required`. */
const config_setting_t *conf_member(struct conf_ctx *cx, const config_setting_t *group,
				    const char *key, const char *where, bool required);

/*
 * Typed values of one setting.  Each returns true when the value was valid
 * and stored in `out`, and otherwise reports why (the load then fails, so
 * `out` no longer matters).
 */
bool conf_value_string(struct conf_ctx *cx, const config_setting_t *s, const char *where,
		       char *out, size_t len, bool allow_empty);
bool conf_value_path(struct conf_ctx *cx, const config_setting_t *s, const char *where,
		     char *out, size_t len);
bool conf_value_duration(struct conf_ctx *cx, const config_setting_t *s, const char *where,
			 int64_t *out);
bool conf_value_integer(struct conf_ctx *cx, const config_setting_t *s, const char *where,
			int64_t *out);

/*
 * Member lookup and typed value in one step; an absent optional key gives
 * false.  An optional string may be empty (`reload = "";`), a required
 * one not.
 */
bool conf_get_string(struct conf_ctx *cx, const config_setting_t *group, const char *key,
		     const char *where, bool required, char *out, size_t len);
bool conf_get_path(struct conf_ctx *cx, const config_setting_t *group, const char *key,
		   const char *where, bool required, char *out, size_t len);

/* Is `text` a hostname (normalised into out) or an IPv4/IPv6 literal? */
bool conf_host_parse(const char *text, char *out, size_t len);

/* The sections, one file each. */
void conf_policy_defaults(struct conf_policy *p);
void conf_policy_read(struct conf_ctx *cx, const config_setting_t *group, const char *where,
		      struct conf_policy *p, bool is_default);

void conf_dns_read(struct conf_ctx *cx, const config_setting_t *list, struct conf *conf);
void conf_mta_read(struct conf_ctx *cx, const config_setting_t *list, struct conf *conf);
void conf_domains_read(struct conf_ctx *cx, const config_setting_t *list, struct conf *conf);

#endif
