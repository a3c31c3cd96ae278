/*
 * names.c - DNS name checks.  A domain or selector becomes part of a file
 * path and of a DNS name, so only plain hostnames pass: no "..", no "/",
 * nothing a shell or a directory walk could misread.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"

static bool label_ok(const char *s, size_t len, bool allow_underscore)
{
	if (len == 0 || len > DKR_LABEL_MAX)
		return false;
	if (s[0] == '-' || s[len - 1] == '-')
		return false;

	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (isalnum(c) || c == '-')
			continue;
		/* "_domainkey" and "_dmarc" style labels appear in zone names. */
		if (allow_underscore && c == '_')
			continue;
		return false;
	}
	return true;
}

bool name_is_label(const char *label)
{
	return label != NULL && label_ok(label, strlen(label), false);
}

bool name_is_hostname(const char *name)
{
	size_t len;
	const char *p;

	if (name == NULL)
		return false;
	len = strlen(name);
	if (len == 0 || len > DKR_NAME_MAX)
		return false;

	p = name;
	for (;;) {
		const char *dot = strchr(p, '.');
		size_t l = dot != NULL ? (size_t)(dot - p) : strlen(p);

		if (!label_ok(p, l, true))
			return false;
		if (dot == NULL)
			break;
		p = dot + 1;
	}
	return true;
}

int name_normalise(const char *in, char *out, size_t len, struct dkr_error *e)
{
	size_t n;

	if (in == NULL)
		return dkr_fail(e, DKR_EINVAL, "missing name");

	n = strlen(in);
	if (n > 1 && in[n - 1] == '.')
		n--;
	if (n == 0 || n > DKR_NAME_MAX || n >= len)
		return dkr_fail(e, DKR_EINVAL, "invalid name \"%.300s\": length %zu is not 1..%d",
				in, n, DKR_NAME_MAX);

	for (size_t i = 0; i < n; i++)
		out[i] = (char)tolower((unsigned char)in[i]);
	out[n] = '\0';

	if (!name_is_hostname(out))
		return dkr_fail(e, DKR_EINVAL,
				"invalid name \"%.300s\": each label must be 1 to 63 letters, "
				"digits or hyphens, not starting or ending with a hyphen", in);
	return DKR_OK;
}

bool name_in_zone(const char *name, const char *zone)
{
	size_t nl = strlen(name);
	size_t zl = strlen(zone);

	if (zl == 0)
		return false;
	if (nl == zl)
		return strcasecmp(name, zone) == 0;
	if (nl < zl + 1)
		return false;
	return name[nl - zl - 1] == '.' && strcasecmp(name + nl - zl, zone) == 0;
}

bool str_copy(char *dst, size_t len, const char *src)
{
	size_t n = strlen(src);

	if (n >= len) {
		if (len > 0)
			dst[0] = '\0';
		return false;
	}
	memcpy(dst, src, n + 1);
	return true;
}

void *xcalloc(size_t n, size_t size)
{
	void *p = calloc(n == 0 ? 1 : n, size == 0 ? 1 : size);

	if (p == NULL) {
		fputs("dkimrot: out of memory\n", stderr);
		abort();
	}
	return p;
}

char *xstrdup(const char *s)
{
	char *p = strdup(s);

	if (p == NULL) {
		fputs("dkimrot: out of memory\n", stderr);
		abort();
	}
	return p;
}

char *xasprintf(const char *fmt, ...)
{
	va_list ap;
	char *p;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&p, fmt, ap);
	va_end(ap);
	if (n < 0) {
		fputs("dkimrot: out of memory\n", stderr);
		abort();
	}
	return p;
}
