/*
 * conf_policy.c - the rotation policy: the defaults, the `policy` group and
 * the per-domain overrides, the relations between its durations, and the
 * selector pattern (a strftime format that must always give one DNS label).
 */
#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "conf_priv.h"

#define TTL_MAX 86400
#define ROTATE_MIN 60	/* short enough for a demo or a lab; real use is days */

static const char *const policy_keys[] = {
	"algorithm", "rotate_every", "grace", "ttl", "selector", "propagation_timeout", NULL
};

/* Where each key was set in the scope being read; NULL: inherited. */
struct policy_at {
	const config_setting_t *rotate, *grace, *ttl;
};

void conf_policy_defaults(struct conf_policy *p)
{
	memset(p, 0, sizeof(*p));
	p->algorithm = KEY_RSA2048;
	p->rotate_every = 90 * 86400;
	p->grace = 7 * 86400;
	p->ttl = 3600;
	snprintf(p->selector, sizeof(p->selector), "k%%Y%%m%%d");
	p->propagation_timeout = 2 * 3600;
}

/* ------------------------------------------------------ selector pattern */

/* The conversions a selector may use, with the widest text each gives
 * (years up to 9999, %s up to 11 digits). */
static const struct {
	char conv;
	size_t max;
} selector_convs[] = {
	{ 'Y', 4 }, { 'y', 2 }, { 'C', 2 }, { 'G', 4 }, { 'g', 2 }, { 'm', 2 },
	{ 'd', 2 }, { 'j', 3 }, { 'H', 2 }, { 'M', 2 }, { 'S', 2 }, { 's', 11 },
	{ 'V', 2 }, { 'U', 2 }, { 'W', 2 }, { 'u', 1 }, { 'w', 1 },
};

static size_t selector_conv_width(char c)
{
	for (size_t i = 0; i < sizeof(selector_convs) / sizeof(selector_convs[0]); i++)
		if (selector_convs[i].conv == c)
			return selector_convs[i].max;
	return 0;
}

/*
 * Check the pattern itself, so no date can ever give a bad selector: every
 * conversion gives digits only, so the literal characters and the widest
 * possible result decide.  False with the reason in `why`.
 */
static bool selector_pattern_check(const char *pat, char *why, size_t len)
{
	size_t n = strlen(pat), max = 0;

	if (n == 0) {
		snprintf(why, len, "selector pattern is empty");
		return false;
	}

	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)pat[i];

		if (c == '%') {
			size_t w = i + 1 < n ? selector_conv_width(pat[i + 1]) : 0;

			if (w == 0) {
				snprintf(why, len,
					 "selector \"%s\": \"%%%.1s\" is not allowed: use only "
					 "%%Y %%y %%C %%G %%g %%m %%d %%j %%H %%M %%S %%s %%V %%U "
					 "%%W %%u %%w (a %%%% would put a '%%' in the label)",
					 pat, pat + i + 1);
				return false;
			}
			max += w;
			i++;
			continue;
		}

		if (c == '.') {
			snprintf(why, len, "selector \"%s\" contains a dot: a selector must be "
				 "one DNS label", pat);
			return false;
		}
		if (!isalnum(c) && c != '-') {
			snprintf(why, len, "selector \"%s\": character '%c' cannot appear in a "
				 "DNS label (letters, digits and hyphens only)", pat,
				 isprint(c) ? c : '?');
			return false;
		}
		max++;
	}

	if (pat[0] == '-' || pat[n - 1] == '-') {
		snprintf(why, len, "selector \"%s\" starts or ends with a hyphen, which a DNS "
			 "label cannot", pat);
		return false;
	}
	if (max > DKR_LABEL_MAX) {
		snprintf(why, len, "selector \"%s\" can give %zu characters, more than the %d "
			 "a DNS label holds", pat, max, DKR_LABEL_MAX);
		return false;
	}
	return true;
}

/*
 * glibc computes %s with mktime(), which reads the broken-down time as
 * local time: replace it with the seconds ourselves so it is UTC too.
 */
static bool selector_format_build(const char *pattern, int64_t t, char *fmt, size_t len)
{
	size_t used = 0;

	for (const char *p = pattern; *p != '\0'; p++) {
		int n;

		if (p[0] == '%' && p[1] == 's') {
			n = snprintf(fmt + used, len - used, "%" PRId64, t);
			p++;
		} else if (p[0] == '%' && p[1] != '\0') {
			n = snprintf(fmt + used, len - used, "%c%c", p[0], p[1]);
			p++;
		} else {
			n = snprintf(fmt + used, len - used, "%c", p[0]);
		}
		if (n < 0 || (size_t)n >= len - used)
			return false;
		used += (size_t)n;
	}
	return true;
}

int conf_selector_render(const char *pattern, int64_t t, char *out, size_t len,
			 struct dkr_error *e)
{
	char fmt[256], buf[256], when[64];
	time_t tt = (time_t)t;
	struct tm tm;
	size_t n;

	time_format(t, when, sizeof(when));
	if (pattern == NULL || strlen(pattern) >= CONF_SELECTOR_PATTERN_MAX ||
	    !selector_format_build(pattern, t, fmt, sizeof(fmt)))
		return dkr_fail(e, DKR_EINVAL, "selector pattern is missing or too long");
	if (gmtime_r(&tt, &tm) == NULL)
		return dkr_fail(e, DKR_EINVAL, "selector \"%s\": time %" PRId64 " is out of range",
				pattern, t);

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
	n = strftime(buf, sizeof(buf), fmt, &tm);
#pragma GCC diagnostic pop

	if (n == 0 || !name_is_label(buf))
		return dkr_fail(e, DKR_EINVAL, "selector \"%s\" gives \"%s\" at %s, which is not "
				"a DNS label (1 to 63 letters, digits or hyphens)", pattern,
				n == 0 ? "" : buf, when);
	if (!str_copy(out, len, buf))
		return dkr_fail(e, DKR_EINVAL, "selector \"%s\" at %s does not fit in %zu bytes",
				pattern, when, len);
	return DKR_OK;
}

/* The pattern check is the rule; rendering at awkward times backs it up. */
static bool selector_check(struct conf_ctx *cx, const config_setting_t *s, const char *where,
			   const char *pat)
{
	static const int64_t samples[] = {
		1,		/* 1970-01-01T00:00:01Z: %s is one digit */
		951782400,	/* 2000-02-29: a leap day */
		1735689599,	/* 2024-12-31T23:59:59Z: day 366, week 1 of 2025 */
		2147483647,	/* the 32-bit end of time */
		4102444799,	/* 2099-12-31T23:59:59Z */
	};
	char why[400], sel[DKR_LABEL_MAX + 1];
	struct dkr_error e;

	if (!selector_pattern_check(pat, why, sizeof(why))) {
		conf_diag_add(cx, s, where, "%s", why);
		return false;
	}
	for (size_t i = 0; i < sizeof(samples) / sizeof(samples[0]); i++) {
		if (conf_selector_render(pat, samples[i], sel, sizeof(sel), &e) != DKR_OK) {
			conf_diag_add(cx, s, where, "%s", e.msg);
			return false;
		}
	}
	return true;
}

/* ----------------------------------------------------------- single keys */

static void algorithm_read(struct conf_ctx *cx, const config_setting_t *s, const char *where,
			   struct conf_policy *p)
{
	static const char valid[] = "use one of rsa-2048, rsa-3072, rsa-4096, ed25519";
	char name[32];
	int alg;

	if (!conf_value_string(cx, s, where, name, sizeof(name), false))
		return;

	alg = key_alg_parse(name);
	if (alg >= 0) {
		p->algorithm = (enum key_alg)alg;
		return;
	}

	if (strncmp(name, "rsa-", 4) == 0 && atoi(name + 4) > 0 && atoi(name + 4) < 2048)
		conf_diag_add(cx, s, where, "algorithm \"%s\": RSA keys shorter than 2048 bits "
			      "are refused; %s", name, valid);
	else
		conf_diag_add(cx, s, where, "unknown algorithm \"%s\"; %s", name, valid);
}

static void selector_read(struct conf_ctx *cx, const config_setting_t *s, const char *where,
			  struct conf_policy *p)
{
	char pat[CONF_SELECTOR_PATTERN_MAX];

	if (config_setting_type(s) == CONFIG_TYPE_STRING &&
	    strlen(config_setting_get_string(s)) >= sizeof(pat)) {
		conf_diag_add(cx, s, where, "selector pattern is longer than %zu characters",
			      sizeof(pat) - 1);
		return;
	}
	if (!conf_value_string(cx, s, where, pat, sizeof(pat), true))
		return;

	if (selector_check(cx, s, where, pat))
		memcpy(p->selector, pat, sizeof(pat));
}

static bool ttl_read(struct conf_ctx *cx, const config_setting_t *s, const char *where,
		     struct conf_policy *p)
{
	int64_t v;

	if (!conf_value_integer(cx, s, where, &v))
		return false;
	if (v < 1 || v > TTL_MAX) {
		conf_diag_add(cx, s, where, "ttl %" PRId64 " is out of range: use 1 to %d "
			      "seconds (a day at most)", v, TTL_MAX);
		return false;
	}
	p->ttl = v;
	return true;
}

static bool rotate_read(struct conf_ctx *cx, const config_setting_t *s, const char *where,
			struct conf_policy *p)
{
	char buf[64];
	int64_t v;

	if (!conf_value_duration(cx, s, where, &v))
		return false;
	if (v < ROTATE_MIN) {
		conf_diag_add(cx, s, where, "rotate_every (%s) must be at least 1m",
			      duration_format(v, buf, sizeof(buf)));
		return false;
	}
	p->rotate_every = v;
	return true;
}

static void timeout_read(struct conf_ctx *cx, const config_setting_t *s, const char *where,
			 struct conf_policy *p)
{
	int64_t v;

	if (!conf_value_duration(cx, s, where, &v))
		return;
	if (v <= 0) {
		conf_diag_add(cx, s, where, "propagation_timeout must be longer than 0s");
		return;
	}
	p->propagation_timeout = v;
}

/* --------------------------------------------------------------- a scope */

/* The durations must fit together; report at the key this scope set. */
static void policy_relations_check(struct conf_ctx *cx, const struct policy_at *at,
				   const char *where, const struct conf_policy *p)
{
	char a[64], b[64];

	if ((at->grace != NULL || at->ttl != NULL) && p->grace < p->ttl)
		conf_diag_add(cx, at->grace != NULL ? at->grace : at->ttl, where,
			      "grace (%s) is shorter than ttl (%" PRId64 "s): a resolver could "
			      "still serve the old record when it is withdrawn",
			      duration_format(p->grace, a, sizeof(a)), p->ttl);
	else if ((at->rotate != NULL || at->grace != NULL || at->ttl != NULL) &&
		 p->rotate_every <= p->grace + p->ttl)
		conf_diag_add(cx, at->rotate != NULL ? at->rotate :
			      at->grace != NULL ? at->grace : at->ttl, where,
			      "rotate_every (%s) must be longer than grace + ttl (%s), or retired "
			      "keys would pile up in DNS",
			      duration_format(p->rotate_every, a, sizeof(a)),
			      duration_format(p->grace + p->ttl, b, sizeof(b)));
}

/*
 * Read the policy keys present in `group` over what `p` already holds (the
 * built-in defaults, or the configured ones for a domain).  The defaults'
 * group is checked for unknown keys here; a domain checks its own.
 */
void conf_policy_read(struct conf_ctx *cx, const config_setting_t *group, const char *where,
		      struct conf_policy *p, bool is_default)
{
	struct policy_at at = { 0 };
	const config_setting_t *s;
	int64_t v;

	if (is_default)
		conf_keys_check(cx, group, where, policy_keys);

	if ((s = config_setting_get_member(group, "algorithm")) != NULL)
		algorithm_read(cx, s, where, p);
	if ((s = config_setting_get_member(group, "rotate_every")) != NULL &&
	    rotate_read(cx, s, where, p))
		at.rotate = s;
	if ((s = config_setting_get_member(group, "grace")) != NULL &&
	    conf_value_duration(cx, s, where, &v)) {
		p->grace = v;
		at.grace = s;
	}
	if ((s = config_setting_get_member(group, "ttl")) != NULL && ttl_read(cx, s, where, p))
		at.ttl = s;
	if ((s = config_setting_get_member(group, "selector")) != NULL)
		selector_read(cx, s, where, p);
	if ((s = config_setting_get_member(group, "propagation_timeout")) != NULL)
		timeout_read(cx, s, where, p);

	policy_relations_check(cx, &at, where, p);
}
