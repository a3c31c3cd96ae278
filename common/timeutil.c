/*
 * timeutil.c - the injectable clock, durations ("90d") and times (ISO 8601
 * UTC or "+30d"), and key algorithm names.
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common.h"

static int64_t fake_now;
static bool fake_env_read;

int64_t clock_now(void)
{
	if (fake_now != 0)
		return fake_now;

	/* The environment fixes the clock for a whole process (tests, demo). */
	if (!fake_env_read) {
		const char *env = getenv("DKIMROT_FAKE_NOW");
		int64_t t;

		fake_env_read = true;
		if (env != NULL && *env != '\0' &&
		    time_parse(env, (int64_t)time(NULL), &t, NULL) == DKR_OK)
			fake_now = t;
		if (fake_now != 0)
			return fake_now;
	}
	return (int64_t)time(NULL);
}

void clock_set_fake(int64_t now)
{
	fake_now = now;
	fake_env_read = true;
}

static int64_t unit_seconds(char unit)
{
	switch (unit) {
	case 's':
		return 1;
	case 'm':
		return 60;
	case 'h':
		return 3600;
	case 'd':
		return 86400;
	case 'w':
		return 7 * 86400;
	default:
		return 0;
	}
}

int duration_parse(const char *text, int64_t *out, struct dkr_error *e)
{
	const char *p = text;
	int64_t total = 0;
	bool any = false;

	if (text == NULL || *text == '\0')
		return dkr_fail(e, DKR_EINVAL, "empty duration");

	/* One or more "<number><unit>" groups, optionally separated by spaces. */
	while (*p != '\0') {
		char *end;
		long long n;
		int64_t unit;

		while (*p == ' ')
			p++;
		if (*p == '\0')
			break;
		if (!isdigit((unsigned char)*p))
			goto bad;

		errno = 0;
		n = strtoll(p, &end, 10);
		if (errno != 0 || n < 0 || n > 100LL * 365 * 86400)
			goto bad;
		p = end;

		if (*p == '\0' && !any) {
			unit = 1;	/* a bare number is seconds */
		} else {
			unit = unit_seconds(*p);
			if (unit == 0)
				goto bad;
			p++;
		}

		total += (int64_t)n * unit;
		if (total > 100LL * 365 * 86400)
			goto bad;
		any = true;
	}

	if (!any)
		goto bad;
	*out = total;
	return DKR_OK;

bad:
	return dkr_fail(e, DKR_EINVAL,
			"invalid duration \"%s\" (expected a number with a unit s, m, h, d or w, "
			"like \"90d\")", text);
}

const char *duration_format(int64_t secs, char *buf, size_t len)
{
	static const struct {
		int64_t secs;
		char unit;
	} units[] = { { 86400, 'd' }, { 3600, 'h' }, { 60, 'm' }, { 1, 's' } };
	size_t used = 0;
	int parts = 0;

	if (len == 0)
		return buf;
	buf[0] = '\0';
	if (secs < 0) {
		used += (size_t)snprintf(buf, len, "-");
		secs = -secs;
	}
	if (secs == 0) {
		snprintf(buf + used, len - used, "0s");
		return buf;
	}

	/* Two units are plenty for a human: "7d 2h", "45m 10s". */
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]) && parts < 2; i++) {
		int64_t n = secs / units[i].secs;

		if (n == 0)
			continue;
		secs -= n * units[i].secs;
		if (used < len)
			used += (size_t)snprintf(buf + used, len - used, "%s%" PRId64 "%c",
						 parts > 0 ? " " : "", n, units[i].unit);
		parts++;
	}
	return buf;
}

int time_parse(const char *text, int64_t now, int64_t *out, struct dkr_error *e)
{
	struct tm tm;
	const char *end;
	int64_t d;

	if (text == NULL || *text == '\0')
		return dkr_fail(e, DKR_EINVAL, "empty time");

	if (text[0] == '+') {
		if (duration_parse(text + 1, &d, NULL) != DKR_OK)
			goto bad;
		*out = now + d;
		return DKR_OK;
	}

	/* A plain number of seconds since the epoch, for scripts. */
	if (isdigit((unsigned char)text[0]) && strspn(text, "0123456789") == strlen(text) &&
	    strlen(text) > 8) {
		*out = strtoll(text, NULL, 10);
		return DKR_OK;
	}

	memset(&tm, 0, sizeof(tm));
	end = strptime(text, "%Y-%m-%dT%H:%M:%S", &tm);
	if (end == NULL) {
		memset(&tm, 0, sizeof(tm));
		end = strptime(text, "%Y-%m-%d", &tm);
	}
	if (end == NULL)
		goto bad;
	if (*end == 'Z' || *end == 'z')
		end++;
	else if (strcmp(end, "+00:00") == 0)
		end += 6;
	if (*end != '\0')
		goto bad;

	*out = (int64_t)timegm(&tm);
	return DKR_OK;

bad:
	return dkr_fail(e, DKR_EINVAL,
			"invalid time \"%s\" (expected ISO 8601 UTC like 2027-03-01T00:00:00Z, "
			"or relative like +30d)", text);
}

const char *time_format(int64_t t, char *buf, size_t len)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (t == 0) {
		snprintf(buf, len, "-");
		return buf;
	}
	gmtime_r(&tt, &tm);
	strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
	return buf;
}

static const char *const alg_names[KEY_ALG_COUNT] = {
	[KEY_RSA2048] = "rsa-2048",
	[KEY_RSA3072] = "rsa-3072",
	[KEY_RSA4096] = "rsa-4096",
	[KEY_ED25519] = "ed25519",
};

const char *key_alg_name(enum key_alg alg)
{
	if ((int)alg < 0 || alg >= KEY_ALG_COUNT)
		return "unknown";
	return alg_names[alg];
}

int key_alg_parse(const char *name)
{
	for (int i = 0; i < KEY_ALG_COUNT; i++)
		if (name != NULL && strcmp(name, alg_names[i]) == 0)
			return i;
	return -1;
}
