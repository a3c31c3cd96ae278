/*
 * conf_domains.c - the `domains` list: each signing domain, the dns and mta
 * entries it uses, its zone and nameservers when given, and its policy
 * overrides.  The result is sorted by name so conf_domain_find() can
 * bsearch 100,000 domains.
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf_priv.h"

#define NAMESERVERS_MAX 32

static const char *const domain_keys[] = {
	"domain", "dns", "mta", "zone", "nameservers",
	"algorithm", "rotate_every", "grace", "ttl", "selector", "propagation_timeout", NULL
};

/* ----------------------------------------------------------- nameservers */

static bool port_parse(const char *text, uint16_t *out)
{
	unsigned long v;
	char *end;

	if (*text == '\0' || strspn(text, "0123456789") != strlen(text) || strlen(text) > 5)
		return false;
	errno = 0;
	v = strtoul(text, &end, 10);
	if (errno != 0 || v < 1 || v > 65535)
		return false;
	*out = (uint16_t)v;
	return true;
}

/* "host", "1.2.3.4:5353", "[::1]:5353", or a bare IPv6 address. */
static bool server_parse(const char *text, struct conf_server *out, char *why, size_t len)
{
	char host[DKR_NAME_MAX + 16];	/* any part of the text fits */
	const char *port = NULL, *colon = strchr(text, ':');
	size_t n;

	out->port = 53;
	if (strlen(text) > DKR_NAME_MAX + 8) {
		snprintf(why, len, "is too long");
		return false;
	}

	if (text[0] == '[') {
		const char *close = strchr(text, ']');

		if (close == NULL || (close[1] != '\0' && close[1] != ':')) {
			snprintf(why, len, "has no closing ']' before the port");
			return false;
		}
		n = (size_t)(close - text - 1);
		memcpy(host, text + 1, n);
		host[n] = '\0';
		port = close[1] == ':' ? close + 2 : NULL;
		if (strchr(host, ':') == NULL) {
			snprintf(why, len, "puts something other than an IPv6 address in brackets");
			return false;
		}
	} else if (colon != NULL && strchr(colon + 1, ':') == NULL) {
		n = (size_t)(colon - text);
		memcpy(host, text, n);
		host[n] = '\0';
		port = colon + 1;
	} else {
		/* No colon, or several: a hostname or a bare IPv6 address. */
		str_copy(host, sizeof(host), text);
	}

	if (port != NULL && !port_parse(port, &out->port)) {
		snprintf(why, len, "has port \"%s\", not a number in 1..65535", port);
		return false;
	}
	if (!conf_host_parse(host, out->host, sizeof(out->host))) {
		snprintf(why, len, "is neither a hostname nor an IP address (IPv6 with a port: "
			 "\"[::1]:5353\")");
		return false;
	}
	return true;
}

static void nameservers_read(struct conf_ctx *cx, const config_setting_t *s, const char *where,
			     struct conf_domain *d)
{
	int t = config_setting_type(s);
	int n = config_setting_length(s);
	char why[128];

	if (t != CONFIG_TYPE_ARRAY && t != CONFIG_TYPE_LIST) {
		conf_diag_add(cx, s, where, "nameservers must be a list of strings: "
			      "nameservers = [ \"192.0.2.1\", \"ns2.example.net:5353\" ];");
		return;
	}
	if (n == 0 || n > NAMESERVERS_MAX) {
		conf_diag_add(cx, s, where, "nameservers must hold 1 to %d entries (leave it out "
			      "to use the zone's NS records)", NAMESERVERS_MAX);
		return;
	}

	d->nameservers = xcalloc((size_t)n, sizeof(d->nameservers[0]));
	for (int i = 0; i < n; i++) {
		const config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
		const char *text;

		if (config_setting_type(e) != CONFIG_TYPE_STRING) {
			conf_diag_add(cx, e, where, "nameserver %d must be a string", i + 1);
			continue;
		}
		text = config_setting_get_string(e);
		if (!server_parse(text, &d->nameservers[d->n_nameservers], why, sizeof(why))) {
			conf_diag_add(cx, e, where, "nameserver \"%.*s\" %s", DKR_NAME_MAX, text,
				      why);
			continue;
		}
		d->n_nameservers++;
	}
}

/* --------------------------------------------------------------- entries */

static bool domain_name_read(struct conf_ctx *cx, const config_setting_t *g, char *where,
			     struct conf_domain *d)
{
	const config_setting_t *s = conf_member(cx, g, "domain", where, true);
	char raw[DKR_NAME_MAX + 2];

	if (s == NULL)
		return false;
	if (config_setting_type(s) == CONFIG_TYPE_STRING &&
	    strlen(config_setting_get_string(s)) >= sizeof(raw)) {
		conf_diag_add(cx, s, where, "domain is longer than %d characters", DKR_NAME_MAX);
		return false;
	}
	if (!conf_value_string(cx, s, where, raw, sizeof(raw), false))
		return false;

	snprintf(where, CONF_WHERE_MAX, "domain \"%s\"", raw);
	if (name_normalise(raw, d->domain, sizeof(d->domain), NULL) != DKR_OK) {
		conf_diag_add(cx, s, "", "domain \"%s\" is not a valid hostname (labels of 1 to "
			      "63 letters, digits or hyphens, at most %d characters)", raw,
			      DKR_NAME_MAX);
		d->domain[0] = '\0';
		return false;
	}
	return true;
}

static void zone_read(struct conf_ctx *cx, const config_setting_t *g, const char *where,
		      struct conf_domain *d)
{
	const config_setting_t *s = conf_member(cx, g, "zone", where, false);
	char raw[DKR_NAME_MAX + 2];

	if (s == NULL || !conf_value_string(cx, s, where, raw, sizeof(raw), false))
		return;
	if (name_normalise(raw, d->zone, sizeof(d->zone), NULL) != DKR_OK) {
		conf_diag_add(cx, s, where, "zone \"%s\" is not a valid hostname", raw);
		d->zone[0] = '\0';
		return;
	}
	if (d->domain[0] != '\0' && !name_in_zone(d->domain, d->zone))
		conf_diag_add(cx, s, where, "zone \"%s\" is neither the domain nor a parent of it",
			      d->zone);
}

/* The name a domain gives for its dns or mta entry; reports a missing one. */
static bool ref_read(struct conf_ctx *cx, const config_setting_t *g, const char *where,
		     const char *key, char *name, size_t len)
{
	const config_setting_t *s = conf_member(cx, g, key, where, true);

	return s != NULL && conf_value_string(cx, s, where, name, len, false);
}

static void refs_resolve(struct conf_ctx *cx, const config_setting_t *g, const char *where,
			 struct conf *conf, struct conf_domain *d)
{
	char name[CONF_NAME_MAX];

	if (ref_read(cx, g, where, "dns", name, sizeof(name))) {
		for (size_t i = 0; d->dns == NULL && i < conf->n_dns; i++)
			if (strcmp(conf->dns[i].name, name) == 0)
				d->dns = &conf->dns[i];
		if (d->dns == NULL)
			conf_diag_add(cx, config_setting_get_member(g, "dns"), where,
				      "dns \"%s\" is not defined in the dns list", name);
	}

	if (ref_read(cx, g, where, "mta", name, sizeof(name))) {
		for (size_t i = 0; d->mta == NULL && i < conf->n_mta; i++)
			if (strcmp(conf->mta[i].name, name) == 0)
				d->mta = &conf->mta[i];
		if (d->mta == NULL)
			conf_diag_add(cx, config_setting_get_member(g, "mta"), where,
				      "mta \"%s\" is not defined in the mta list", name);
	}
}

/* Cloudflare takes 1 ("automatic", really 300) or 60..86400: with 1 the
 * TTL dkimrot waits for would not be the one served. */
static void cloudflare_ttl_check(struct conf_ctx *cx, const config_setting_t *g,
				 const char *where, const struct conf_domain *d)
{
	if (d->dns == NULL || d->dns->type != DNS_CLOUDFLARE || d->policy.ttl >= 60)
		return;
	conf_diag_add(cx, g, where, "ttl %" PRId64 " cannot be used with Cloudflare "
		      "(dns \"%s\"): it accepts 60 to 86400 seconds", d->policy.ttl, d->dns->name);
}

static void domain_entry_read(struct conf_ctx *cx, const config_setting_t *g, size_t idx,
			      struct conf *conf, const config_setting_t **src)
{
	struct conf_domain *d = &conf->domains[conf->n_domains];
	const config_setting_t *s;
	char where[CONF_WHERE_MAX];

	snprintf(where, sizeof(where), "domains entry %zu", idx + 1);
	if (config_setting_type(g) != CONFIG_TYPE_GROUP) {
		conf_diag_add(cx, g, where, "must be a group { domain = ...; dns = ...; "
			      "mta = ...; }");
		return;
	}
	d->line = (int)config_setting_source_line(g);
	domain_name_read(cx, g, where, d);
	conf_keys_check(cx, g, where, domain_keys);

	refs_resolve(cx, g, where, conf, d);

	zone_read(cx, g, where, d);
	s = conf_member(cx, g, "nameservers", where, false);
	if (s != NULL)
		nameservers_read(cx, s, where, d);

	d->policy = conf->policy;
	conf_policy_read(cx, g, where, &d->policy, false);
	cloudflare_ttl_check(cx, g, where, d);

	/* Kept only with a valid name: duplicates are found among these. */
	if (d->domain[0] != '\0')
		src[conf->n_domains++] = g;
	else
		free(d->nameservers);
}

/* --------------------------------------------------- order and doubles */

static int domain_idx_cmp(const void *a, const void *b, void *arg)
{
	const struct conf_domain *base = arg;
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	int c = strcmp(base[x].domain, base[y].domain);

	if (c != 0)
		return c;
	return x < y ? -1 : x > y;
}

/* Put a[i] = a[idx[i]] for every i, in place: each entry is large and
 * there may be 100,000 of them, so no second array. */
static void domains_permute(struct conf_domain *a, uint32_t *idx, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct conf_domain tmp;
		size_t j = i;

		if (idx[i] == i)
			continue;
		tmp = a[i];
		while (idx[j] != i) {
			size_t k = idx[j];

			a[j] = a[k];
			idx[j] = (uint32_t)j;
			j = k;
		}
		a[j] = tmp;
		idx[j] = (uint32_t)j;
	}
}

/*
 * Sort by name (bsearch needs it) and report each name defined again, at
 * its later definition: ties sort in file order.
 */
static void domains_sort(struct conf_ctx *cx, const config_setting_t **src, struct conf *conf)
{
	const struct conf_domain *a = conf->domains;
	size_t n = conf->n_domains;
	uint32_t *idx = xcalloc(n, sizeof(*idx));

	for (size_t i = 0; i < n; i++)
		idx[i] = (uint32_t)i;
	qsort_r(idx, n, sizeof(*idx), domain_idx_cmp, conf->domains);

	for (size_t i = 1, first = 0; i < n; i++) {
		if (strcmp(a[idx[i]].domain, a[idx[first]].domain) != 0) {
			first = i;
			continue;
		}
		conf_diag_add(cx, src[idx[i]], "", "domain \"%s\" is defined twice (first at "
			      "line %d)", a[idx[i]].domain, a[idx[first]].line);
	}

	domains_permute(conf->domains, idx, n);
	free(idx);
}

void conf_domains_read(struct conf_ctx *cx, const config_setting_t *list, struct conf *conf)
{
	const config_setting_t **src;
	int t, n;

	if (list == NULL)
		return;
	t = config_setting_type(list);
	n = config_setting_length(list);
	if (t != CONFIG_TYPE_LIST && !(t == CONFIG_TYPE_ARRAY && n == 0)) {
		conf_diag_add(cx, list, "", "domains must be a list of groups: "
			      "domains = ( { domain = ...; dns = ...; mta = ...; } );");
		return;
	}
	if (n == 0)
		return;

	/* Where each kept domain came from, for messages about doubles. */
	src = xcalloc((size_t)n, sizeof(*src));
	conf->domains = xcalloc((size_t)n, sizeof(conf->domains[0]));
	for (int i = 0; i < n; i++) {
		domain_entry_read(cx, config_setting_get_elem(list, (unsigned)i), (size_t)i, conf,
				  src);
		if (conf->n_domains < (size_t)n)
			memset(&conf->domains[conf->n_domains], 0, sizeof(conf->domains[0]));
	}
	domains_sort(cx, src, conf);
	free(src);
}
