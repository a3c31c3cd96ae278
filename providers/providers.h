/*
 * providers.h - one interface for every way dkimrot can publish a TXT record:
 * RFC 2136 dynamic update, the PowerDNS and Cloudflare HTTP APIs, and a
 * command hook.  The lifecycle code talks only to this table and does not
 * know which backend is behind it.
 */
#ifndef DKIMROT_PROVIDERS_H
#define DKIMROT_PROVIDERS_H

#include <stdbool.h>
#include <stdint.h>

#include "../common/common.h"
#include "../conf/conf.h"

/* What a backend can do beyond publish and withdraw. */
enum provider_caps {
	PROVIDER_CAN_READ = 1 << 0,	 /* read() tells what is published now */
	PROVIDER_FINDS_ZONE = 1 << 1,	 /* find_zone() works without NS lookups */
	PROVIDER_NOTIFIES = 1 << 2,	 /* secondaries are told after a change */
};

/* One TXT RRset at one selector name. */
struct provider_rr {
	const char *zone;	/* the zone the name lives in, no final dot */
	const char *name;	/* "k20270301._domainkey.example.com", no final dot */
	int64_t ttl;
	const char *record;	/* the DKIM record, strings joined (any length) */
};

struct provider;

struct provider_ops {
	const char *type;	/* as in the config: "rfc2136", "powerdns", ... */
	unsigned caps;

	int (*open)(const struct conf_dns *conf, struct provider **out, struct dkr_error *e);
	void (*close)(struct provider *p);

	/* The zone that holds `name` (the closest enclosing one). */
	int (*find_zone)(struct provider *p, const char *name, char *zone, size_t len,
			 struct dkr_error *e);

	/*
	 * Make `rr` the TXT RRset at rr->name.  Idempotent: when exactly this
	 * record is already there, succeed without a change.  When a different
	 * TXT record is there, fail with DKR_EDNS and change nothing: dkimrot
	 * never overwrites a record it did not write.
	 */
	int (*publish)(struct provider *p, const struct provider_rr *rr, struct dkr_error *e);

	/*
	 * Delete the TXT RRset at rr->name (rr->record says which content we
	 * expect; a name that holds nothing already counts as success).
	 * Touches no other name or type.
	 */
	int (*withdraw)(struct provider *p, const struct provider_rr *rr, struct dkr_error *e);

	/*
	 * What the backend holds at `name` now: *record is the joined TXT
	 * content (malloc'd) or NULL when there is none.
	 */
	int (*read)(struct provider *p, const char *zone, const char *name, char **record,
		    struct dkr_error *e);
};

/* The common head of every backend's handle. */
struct provider {
	const struct provider_ops *ops;
	const struct conf_dns *conf;
	unsigned long requests;	/* API requests or DNS messages sent, for reports */
};

/* The backends: providers/rfc2136.c, powerdns.c, cloudflare.c, exec.c. */
extern const struct provider_ops provider_rfc2136_ops;
extern const struct provider_ops provider_powerdns_ops;
extern const struct provider_ops provider_cloudflare_ops;
extern const struct provider_ops provider_exec_ops;

/* The table for a configured type; never NULL for a valid conf_dns_type. */
const struct provider_ops *provider_ops_find(enum conf_dns_type type);

/* Open the backend a conf_dns entry names. */
int provider_open(const struct conf_dns *conf, struct provider **out, struct dkr_error *e);
void provider_close(struct provider *p);

#endif
