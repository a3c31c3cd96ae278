/*
 * conf_backends.c - the `dns` list (where records are published: RFC 2136
 * with TSIG, the PowerDNS API, the Cloudflare API, or a command) and the
 * `mta` list (which signing filter uses the keys, and as which group).
 * Secrets are read here, once, from files only their owner may read.
 */
#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "conf_priv.h"

#define CLOUDFLARE_URL "https://api.cloudflare.com/client/v4"
#define TIMEOUT_DEFAULT 30
#define TIMEOUT_MAX 3600

static const char *const dns_type_names[] = { "rfc2136", "powerdns", "cloudflare", "exec" };

/* Keys each dns type takes, after the common "name", "type", "timeout". */
static const char *const dns_type_keys[][6] = {
	[DNS_RFC2136] = { "server", "port", "tsig", NULL },
	[DNS_POWERDNS] = { "url", "server_id", "api_key_file", "ca_file", NULL },
	[DNS_CLOUDFLARE] = { "url", "api_token_file", "ca_file", NULL },
	[DNS_EXEC] = { "command", NULL },
};

static const char *const tsig_keys[] = { "name", "algorithm", "secret_file", NULL };

static const char *const mta_type_names[] = { "zdkimfilter", "opendkim" };

static const char *const mta_any_keys[] = {
	"name", "type", "keys_dir", "key_table", "signing_table", "key_dir", "group", "reload",
	NULL
};

static const char *const mta_type_keys[][10] = {
	[MTA_ZDKIMFILTER] = { "name", "type", "keys_dir", "group", "reload", NULL },
	[MTA_OPENDKIM] = { "name", "type", "key_table", "signing_table", "key_dir", "group",
			   "reload", NULL },
};

/* ---------------------------------------------------------------- shared */

/* A list of groups; an empty `[]` is accepted as an empty list. */
static bool list_check(struct conf_ctx *cx, const config_setting_t *list, const char *what)
{
	int t = config_setting_type(list);

	if (t == CONFIG_TYPE_LIST || (t == CONFIG_TYPE_ARRAY && config_setting_length(list) == 0))
		return true;
	conf_diag_add(cx, list, "", "%s must be a list of groups: %s = ( { ... }, { ... } );",
		      what, what);
	return false;
}

/* An entry's name goes into messages and the state: keep it plain. */
static bool entry_name_read(struct conf_ctx *cx, const config_setting_t *g, const char *where,
			    char *out, size_t len)
{
	const config_setting_t *s = conf_member(cx, g, "name", where, true);

	if (s == NULL || !conf_value_string(cx, s, where, out, len, false))
		return false;
	if (strspn(out, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") !=
	    strlen(out)) {
		conf_diag_add(cx, s, where, "name \"%s\" may hold only letters, digits, '.', "
			      "'_' and '-'", out);
		out[0] = '\0';
		return false;
	}
	return true;
}

/* The index of `type` in `names`, or -1 after reporting the valid ones. */
static int entry_type_read(struct conf_ctx *cx, const config_setting_t *g, const char *where,
			   const char *const *names, size_t n)
{
	const config_setting_t *s = conf_member(cx, g, "type", where, true);
	char type[32], valid[128];
	size_t used = 0;

	if (s == NULL || !conf_value_string(cx, s, where, type, sizeof(type), false))
		return -1;
	for (size_t i = 0; i < n; i++)
		if (strcmp(type, names[i]) == 0)
			return (int)i;

	valid[0] = '\0';
	for (size_t i = 0; i < n; i++)
		used += (size_t)snprintf(valid + used, sizeof(valid) - used, "%s%s",
					 i > 0 ? ", " : "", names[i]);
	conf_diag_add(cx, s, where, "unknown type \"%s\"; use one of %s", type, valid);
	return -1;
}

static bool key_in(const char *name, const char *const *keys)
{
	for (size_t i = 0; keys[i] != NULL; i++)
		if (strcmp(name, keys[i]) == 0)
			return true;
	return false;
}

/* ------------------------------------------------------------------- dns */

/*
 * Unknown keys, and keys of another type (an api_key_file on an rfc2136
 * entry means the operator thinks something that is not so).
 */
static void dns_keys_check(struct conf_ctx *cx, const config_setting_t *g, const char *where,
			   int type)
{
	static const char *const common[] = { "name", "type", "timeout", NULL };
	int n = config_setting_length(g);

	for (int i = 0; i < n; i++) {
		const config_setting_t *s = config_setting_get_elem(g, (unsigned)i);
		const char *name = config_setting_name(s);
		const char *owner = NULL;

		if (key_in(name, common) || (type >= 0 && key_in(name, dns_type_keys[type])))
			continue;
		for (int t = 0; t <= DNS_EXEC; t++)
			if (owner == NULL && key_in(name, dns_type_keys[t]))
				owner = dns_type_names[t];

		if (owner != NULL && type >= 0)
			conf_diag_add(cx, s, where, "key \"%s\" does not apply to type %s "
				      "(it belongs to %s)", name, dns_type_names[type], owner);
		else if (owner == NULL)
			conf_diag_add(cx, s, where, "unknown key \"%s\" (valid keys: name, type, "
				      "timeout, server, port, tsig, url, server_id, api_key_file, "
				      "api_token_file, ca_file, command)", name);
	}
}

/* Padding only at the end, only base64 characters, and OpenSSL agrees. */
static bool base64_valid(const char *s)
{
	static const char alphabet[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t n = strlen(s), body = strspn(s, alphabet);
	unsigned char *buf;
	int rc;

	if (n == 0 || n % 4 != 0 || n > 65536 || n - body > 2 ||
	    strspn(s + body, "=") != n - body)
		return false;

	buf = xcalloc(n / 4 * 3 + 1, 1);
	rc = EVP_DecodeBlock(buf, (const unsigned char *)s, (int)n);
	OPENSSL_cleanse(buf, n / 4 * 3 + 1);
	free(buf);
	return rc > 0;
}

static void tsig_read(struct conf_ctx *cx, const config_setting_t *g, const char *where,
		      struct conf_dns *d)
{
	static const char *const usable[] = {
		"hmac-md5", "hmac-sha1", "hmac-sha256", "hmac-sha512", NULL
	};
	const config_setting_t *s;
	struct dkr_error e;
	char name[DKR_NAME_MAX + 2];

	if (config_setting_type(g) != CONFIG_TYPE_GROUP) {
		conf_diag_add(cx, g, where, "tsig must be a group: tsig = { name = ...; "
			      "secret_file = ...; };");
		return;
	}
	conf_keys_check(cx, g, where, tsig_keys);

	s = conf_member(cx, g, "name", where, true);
	if (s != NULL && conf_value_string(cx, s, where, name, sizeof(name), false)) {
		if (name_normalise(name, d->tsig_name, sizeof(d->tsig_name), NULL) != DKR_OK)
			conf_diag_add(cx, s, where, "tsig name \"%s\" is not a valid DNS name",
				      name);
	}

	snprintf(d->tsig_algorithm, sizeof(d->tsig_algorithm), "hmac-sha256");
	s = conf_member(cx, g, "algorithm", where, false);
	if (s != NULL && conf_value_string(cx, s, where, name, sizeof(name), false)) {
		for (char *p = name; *p != '\0'; p++)
			*p = (char)tolower((unsigned char)*p);
		if (key_in(name, usable))
			str_copy(d->tsig_algorithm, sizeof(d->tsig_algorithm), name);
		else if (strcmp(name, "hmac-sha224") == 0 || strcmp(name, "hmac-sha384") == 0)
			conf_diag_add(cx, s, where, "tsig algorithm %s cannot be used: ldns 1.8 "
				      "does not sign with it correctly; use hmac-sha256 or "
				      "hmac-sha512", name);
		else
			conf_diag_add(cx, s, where, "unknown tsig algorithm \"%s\"; use one of "
				      "hmac-sha256, hmac-sha512, hmac-sha1, hmac-md5", name);
	}

	s = conf_member(cx, g, "secret_file", where, true);
	if (s == NULL || !conf_value_path(cx, s, where, d->tsig_secret_file,
					  sizeof(d->tsig_secret_file)))
		return;
	if (secret_read(d->tsig_secret_file, &d->tsig_secret, &e) != DKR_OK) {
		conf_diag_add(cx, s, where, "%s", e.msg);
		return;
	}
	if (!base64_valid(d->tsig_secret))
		conf_diag_add(cx, s, where, "secret file %s does not hold a base64 TSIG secret "
			      "(only the secret, as in the \"secret\" of a BIND key)",
			      d->tsig_secret_file);
}

static void rfc2136_read(struct conf_ctx *cx, const config_setting_t *g, const char *where,
			 struct conf_dns *d)
{
	const config_setting_t *s;
	char host[DKR_NAME_MAX + 1];
	int64_t port;

	d->server.port = 53;
	s = conf_member(cx, g, "server", where, true);
	if (s != NULL && conf_value_string(cx, s, where, host, sizeof(host), false) &&
	    !conf_host_parse(host, d->server.host, sizeof(d->server.host)))
		conf_diag_add(cx, s, where, "server \"%s\" is neither a hostname nor an IP "
			      "address", host);

	s = conf_member(cx, g, "port", where, false);
	if (s != NULL && conf_value_integer(cx, s, where, &port)) {
		if (port < 1 || port > 65535)
			conf_diag_add(cx, s, where, "port %" PRId64 " is not in 1..65535", port);
		else
			d->server.port = (uint16_t)port;
	}

	s = conf_member(cx, g, "tsig", where, false);
	if (s != NULL)
		tsig_read(cx, s, where, d);
}

/* An API token goes into an HTTP header: printable, no spaces, no newline. */
static void api_secret_read(struct conf_ctx *cx, const config_setting_t *g, const char *where,
			    const char *key, struct conf_dns *d)
{
	const config_setting_t *s = conf_member(cx, g, key, where, true);
	struct dkr_error e;

	if (s == NULL || !conf_value_path(cx, s, where, d->api_secret_file,
					  sizeof(d->api_secret_file)))
		return;
	if (secret_read(d->api_secret_file, &d->api_secret, &e) != DKR_OK) {
		conf_diag_add(cx, s, where, "%s", e.msg);
		return;
	}
	for (const char *p = d->api_secret; *p != '\0'; p++) {
		if (*p <= ' ' || *p > '~') {
			conf_diag_add(cx, s, where, "secret file %s holds a space or a character "
				      "that cannot go into an HTTP header", d->api_secret_file);
			return;
		}
	}
}

static void url_read(struct conf_ctx *cx, const config_setting_t *g, const char *where,
		     bool required, struct conf_dns *d)
{
	const config_setting_t *s = conf_member(cx, g, "url", where, required);
	size_t n, scheme;

	if (s == NULL || !conf_value_string(cx, s, where, d->url, sizeof(d->url), false))
		return;

	scheme = strncasecmp(d->url, "https://", 8) == 0 ? 8 :
		 strncasecmp(d->url, "http://", 7) == 0 ? 7 : 0;
	if (scheme == 0 || d->url[scheme] == '\0' || d->url[scheme] == '/' ||
	    strchr(d->url, ' ') != NULL) {
		conf_diag_add(cx, s, where, "url \"%s\" is not an http:// or https:// URL", d->url);
		return;
	}

	/* The providers append "/zones/...": one slash, not two. */
	n = strlen(d->url);
	while (n > scheme && d->url[n - 1] == '/')
		d->url[--n] = '\0';
}

static void http_read(struct conf_ctx *cx, const config_setting_t *g, const char *where,
		      struct conf_dns *d)
{
	const config_setting_t *s;

	if (d->type == DNS_CLOUDFLARE) {
		snprintf(d->url, sizeof(d->url), "%s", CLOUDFLARE_URL);
		url_read(cx, g, where, false, d);
		api_secret_read(cx, g, where, "api_token_file", d);
	} else {
		url_read(cx, g, where, true, d);
		snprintf(d->server_id, sizeof(d->server_id), "localhost");
		s = conf_member(cx, g, "server_id", where, false);
		if (s != NULL && conf_value_string(cx, s, where, d->server_id,
						   sizeof(d->server_id), false) &&
		    strspn(d->server_id, "abcdefghijklmnopqrstuvwxyz"
			   "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") != strlen(d->server_id))
			conf_diag_add(cx, s, where, "server_id \"%s\" may hold only letters, "
				      "digits, '.', '_' and '-'", d->server_id);
		api_secret_read(cx, g, where, "api_key_file", d);
	}

	conf_get_path(cx, g, "ca_file", where, false, d->ca_file, sizeof(d->ca_file));
}

static void dns_timeout_read(struct conf_ctx *cx, const config_setting_t *g, const char *where,
			     struct conf_dns *d)
{
	const config_setting_t *s = conf_member(cx, g, "timeout", where, false);
	int64_t v;

	d->timeout = TIMEOUT_DEFAULT;
	if (s == NULL || !conf_value_duration(cx, s, where, &v))
		return;
	if (v < 1 || v > TIMEOUT_MAX)
		conf_diag_add(cx, s, where, "timeout must be 1s to 1h");
	else
		d->timeout = v;
}

/* The exec backend runs the file itself, with no shell and no arguments. */
static void exec_read(struct conf_ctx *cx, const config_setting_t *g, const char *where,
		      struct conf_dns *d)
{
	const config_setting_t *s = conf_member(cx, g, "command", where, true);

	if (s == NULL || !conf_value_path(cx, s, where, d->command, sizeof(d->command)))
		return;
	if (strpbrk(config_setting_get_string(s), " \t") != NULL)
		conf_diag_add(cx, s, where, "command \"%s\" is run directly, without a shell or "
			      "arguments: give the path of one executable",
			      config_setting_get_string(s));
}

static void dns_type_read(struct conf_ctx *cx, const config_setting_t *g, const char *where,
			  enum conf_dns_type type, struct conf_dns *d)
{
	d->type = type;
	switch (type) {
	case DNS_RFC2136:
		rfc2136_read(cx, g, where, d);
		break;
	case DNS_POWERDNS:
	case DNS_CLOUDFLARE:
		http_read(cx, g, where, d);
		break;
	case DNS_EXEC:
		exec_read(cx, g, where, d);
		break;
	}
}

static void dns_entry_read(struct conf_ctx *cx, const config_setting_t *g, size_t idx,
			   struct conf *conf)
{
	struct conf_dns *d = &conf->dns[conf->n_dns];
	char where[CONF_WHERE_MAX];
	int type;

	snprintf(where, sizeof(where), "dns entry %zu", idx + 1);
	if (config_setting_type(g) != CONFIG_TYPE_GROUP) {
		conf_diag_add(cx, g, where, "must be a group { name = ...; type = ...; }");
		return;
	}
	if (entry_name_read(cx, g, where, d->name, sizeof(d->name)))
		snprintf(where, sizeof(where), "dns \"%s\"", d->name);
	d->line = (int)config_setting_source_line(g);

	type = entry_type_read(cx, g, where, dns_type_names, 4);
	dns_keys_check(cx, g, where, type);
	dns_timeout_read(cx, g, where, d);
	if (type >= 0)
		dns_type_read(cx, g, where, (enum conf_dns_type)type, d);

	/* Only a named entry can be referred to; keep it even when it has
	 * errors (a bad type too), so domains naming it get no second,
	 * misleading message. */
	if (d->name[0] == '\0')
		return;
	for (size_t i = 0; i < conf->n_dns; i++) {
		if (strcmp(conf->dns[i].name, d->name) == 0) {
			conf_diag_add(cx, g, where, "defined twice (first at line %d)",
				      conf->dns[i].line);
			return;
		}
	}
	conf->n_dns++;
}

void conf_dns_read(struct conf_ctx *cx, const config_setting_t *list, struct conf *conf)
{
	int n;

	if (list == NULL || !list_check(cx, list, "dns"))
		return;

	/* Sized once: domains keep pointers into this array. */
	n = config_setting_length(list);
	conf->dns = xcalloc((size_t)n, sizeof(conf->dns[0]));
	for (int i = 0; i < n; i++) {
		struct conf_dns *spare;

		dns_entry_read(cx, config_setting_get_elem(list, (unsigned)i), (size_t)i, conf);

		/* A rejected entry may hold a secret already: wipe it now. */
		if (conf->n_dns < (size_t)n) {
			spare = &conf->dns[conf->n_dns];
			secret_free(spare->tsig_secret);
			secret_free(spare->api_secret);
			memset(spare, 0, sizeof(*spare));
		}
	}
}

/* ------------------------------------------------------------------- mta */

static void mta_group_read(struct conf_ctx *cx, const config_setting_t *g, const char *where,
			   struct conf_mta *m)
{
	const config_setting_t *s = conf_member(cx, g, "group", where, true);
	struct dkr_error e;

	if (s == NULL || !conf_value_string(cx, s, where, m->group, sizeof(m->group), false))
		return;
	if (group_lookup(m->group, &m->gid, &e) != DKR_OK)
		conf_diag_add(cx, s, where, "%s", e.msg);
}

static void mta_entry_read(struct conf_ctx *cx, const config_setting_t *g, size_t idx,
			   struct conf *conf)
{
	struct conf_mta *m = &conf->mta[conf->n_mta];
	char where[CONF_WHERE_MAX];
	int type;

	snprintf(where, sizeof(where), "mta entry %zu", idx + 1);
	if (config_setting_type(g) != CONFIG_TYPE_GROUP) {
		conf_diag_add(cx, g, where, "must be a group { name = ...; type = ...; }");
		return;
	}
	if (entry_name_read(cx, g, where, m->name, sizeof(m->name)))
		snprintf(where, sizeof(where), "mta \"%s\"", m->name);
	m->line = (int)config_setting_source_line(g);

	type = entry_type_read(cx, g, where, mta_type_names, 2);
	conf_keys_check(cx, g, where, type >= 0 ? mta_type_keys[type] : mta_any_keys);
	if (type >= 0)
		m->type = (enum conf_mta_type)type;

	if (type == MTA_ZDKIMFILTER) {
		conf_get_path(cx, g, "keys_dir", where, true, m->keys_dir, sizeof(m->keys_dir));
	} else if (type == MTA_OPENDKIM) {
		conf_get_path(cx, g, "key_table", where, true, m->key_table,
			      sizeof(m->key_table));
		conf_get_path(cx, g, "signing_table", where, true, m->signing_table,
			      sizeof(m->signing_table));
		conf_get_path(cx, g, "key_dir", where, true, m->key_dir, sizeof(m->key_dir));
	}
	mta_group_read(cx, g, where, m);
	conf_get_string(cx, g, "reload", where, false, m->reload, sizeof(m->reload));

	if (m->name[0] == '\0')
		return;
	for (size_t i = 0; i < conf->n_mta; i++) {
		if (strcmp(conf->mta[i].name, m->name) == 0) {
			conf_diag_add(cx, g, where, "defined twice (first at line %d)",
				      conf->mta[i].line);
			return;
		}
	}
	conf->n_mta++;
}

void conf_mta_read(struct conf_ctx *cx, const config_setting_t *list, struct conf *conf)
{
	int n;

	if (list == NULL || !list_check(cx, list, "mta"))
		return;

	n = config_setting_length(list);
	conf->mta = xcalloc((size_t)n, sizeof(conf->mta[0]));
	for (int i = 0; i < n; i++) {
		mta_entry_read(cx, config_setting_get_elem(list, (unsigned)i), (size_t)i, conf);
		if (conf->n_mta < (size_t)n)
			memset(&conf->mta[conf->n_mta], 0, sizeof(conf->mta[0]));
	}
}
