/*
 * conf.h - dkimrot's configuration, read from a libconfig file (SPEC.md,
 * "Configuration") into typed, validated structures.  Everything here is
 * checked once, at load time, so the rest of the daemon can trust it.
 */
#ifndef DKIMROT_CONF_H
#define DKIMROT_CONF_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "../common/common.h"

#define CONF_DEFAULT_PATH "/etc/dkimrot/dkimrot.conf"
#define CONF_NAME_MAX 64
#define CONF_SELECTOR_PATTERN_MAX 64

/* The policy keys; each domain may override any of them. */
struct conf_policy {
	enum key_alg algorithm;		/* default rsa-2048 */
	int64_t rotate_every;		/* seconds, default 90d */
	int64_t grace;			/* seconds, default 7d; >= ttl */
	int64_t ttl;			/* TXT record TTL, default 3600 */
	char selector[CONF_SELECTOR_PATTERN_MAX];	/* strftime, default "k%Y%m%d" */
	int64_t propagation_timeout;	/* seconds, default 2h */
};

enum conf_dns_type { DNS_RFC2136, DNS_POWERDNS, DNS_CLOUDFLARE, DNS_EXEC };

/* Where one nameserver or DNS server is: host or address and a port. */
struct conf_server {
	char host[DKR_NAME_MAX + 1];	/* name, IPv4 or IPv6 (no brackets) */
	uint16_t port;			/* default 53 */
};

struct conf_dns {
	char name[CONF_NAME_MAX];
	enum conf_dns_type type;
	int line;			/* where it was defined, for messages */

	/* rfc2136 */
	struct conf_server server;
	char tsig_name[DKR_NAME_MAX + 1];	/* empty: updates are not signed */
	char tsig_algorithm[32];		/* "hmac-sha256" ... */
	char *tsig_secret;			/* base64, read from secret_file */
	char tsig_secret_file[4096];

	/* powerdns, cloudflare */
	char url[1024];
	char server_id[CONF_NAME_MAX];		/* powerdns, default "localhost" */
	char *api_secret;			/* X-API-Key or bearer token */
	char api_secret_file[4096];
	char ca_file[4096];			/* optional CA bundle for TLS */

	/* exec */
	char command[4096];

	int64_t timeout;			/* per request, seconds, default 30 */
};

enum conf_mta_type { MTA_ZDKIMFILTER, MTA_OPENDKIM };

struct conf_mta {
	char name[CONF_NAME_MAX];
	enum conf_mta_type type;
	int line;

	char keys_dir[4096];		/* zdkimfilter: where <domain> links live */
	char key_table[4096];		/* opendkim */
	char signing_table[4096];	/* opendkim */
	char key_dir[4096];		/* opendkim: where private keys live */

	char group[CONF_NAME_MAX];	/* the MTA's group, may read keys */
	gid_t gid;
	char reload[4096];		/* command run after a swap; empty: none */
};

struct conf_domain {
	char domain[DKR_NAME_MAX + 1];	/* normalised: lower case, no final dot */
	int line;
	struct conf_dns *dns;		/* points into conf->dns */
	struct conf_mta *mta;		/* points into conf->mta */
	char zone[DKR_NAME_MAX + 1];	/* empty: found by SOA */
	struct conf_server *nameservers;	/* NULL/0: found by NS */
	size_t n_nameservers;
	struct conf_policy policy;	/* defaults merged with overrides */
};

struct conf {
	char path[4096];
	char state_db[4096];		/* default /var/lib/dkimrot/state.db */
	struct conf_policy policy;	/* the defaults, as configured */

	struct conf_dns *dns;
	size_t n_dns;
	struct conf_mta *mta;
	size_t n_mta;
	struct conf_domain *domains;
	size_t n_domains;
};

/* Every problem found while loading, each with file and line. */
struct conf_diag {
	char file[4096];
	int line;			/* 0 when there is no line */
	char msg[512];
};

struct conf_diags {
	struct conf_diag *items;
	size_t n, cap;
};

/*
 * Read and validate `path`.  On success *out holds the configuration.  On
 * failure every problem found is appended to `diags` (the loader goes on
 * after the first so `check` can report them all) and DKR_ECONFIG is
 * returned; `e` carries the first, formatted as "file:line: message".
 */
int conf_load(const char *path, struct conf **out, struct conf_diags *diags,
	      struct dkr_error *e);
void conf_free(struct conf *conf);
void conf_diags_free(struct conf_diags *diags);

/* The config path per SPEC: -c FILE, else $DKIMROT_CONFIG, else default. */
const char *conf_path_choose(const char *from_cli);

/* Look a domain up by (normalised) name; NULL when not configured. */
struct conf_domain *conf_domain_find(const struct conf *conf, const char *domain);

/*
 * Render the selector pattern of `policy` at time `t` (UTC) into `out`.
 * Fails when the result is not a valid DNS label.
 */
int conf_selector_render(const char *pattern, int64_t t, char *out, size_t len,
			 struct dkr_error *e);

const char *conf_dns_type_name(enum conf_dns_type t);
const char *conf_mta_type_name(enum conf_mta_type t);

#endif
