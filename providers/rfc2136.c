/*
 * rfc2136.c - the RFC 2136 backend of the provider table: a thin adapter
 * over dnsupdate/, which does the signed updates and the reads.  The handle
 * keeps its own copy of the configuration (secret included), so a config
 * reload cannot pull it away from an update in progress.
 */
#include <stdlib.h>
#include <string.h>

#include "providers.h"
#include "../dnsupdate/dnsupdate.h"

struct rfc2136 {
	struct provider head;	/* first: a struct provider * points here */
	struct conf_dns conf;
};

static int rfc_open(const struct conf_dns *conf, struct provider **out, struct dkr_error *e)
{
	struct rfc2136 *r;

	*out = NULL;
	if (conf->type != DNS_RFC2136)
		return dkr_fail(e, DKR_ECONFIG, "dns \"%s\" (line %d) is not of type rfc2136",
				conf->name, conf->line);
	if (conf->tsig_name[0] != '\0' && !dnsu_tsig_algorithm_ok(conf->tsig_algorithm))
		return dkr_fail(e, DKR_ECONFIG, "dns \"%s\" (line %d): TSIG algorithm %s cannot "
				"be used (ldns signs it wrongly or not at all); use hmac-sha256 "
				"or hmac-sha512", conf->name, conf->line, conf->tsig_algorithm);

	r = xcalloc(1, sizeof(*r));
	r->conf = *conf;
	if (conf->tsig_secret != NULL)
		r->conf.tsig_secret = xstrdup(conf->tsig_secret);
	r->conf.api_secret = NULL;	/* not ours to carry */
	r->head.ops = &provider_rfc2136_ops;
	r->head.conf = &r->conf;
	*out = &r->head;
	return DKR_OK;
}

static void rfc_close(struct provider *p)
{
	struct rfc2136 *r = (struct rfc2136 *)p;

	if (r == NULL)
		return;
	if (r->conf.tsig_secret != NULL)
		secret_free(r->conf.tsig_secret);
	free(r);
}

static int rfc_find_zone(struct provider *p, const char *name, char *zone, size_t len,
			 struct dkr_error *e)
{
	struct rfc2136 *r = (struct rfc2136 *)p;

	p->requests++;	/* at least one SOA query; the walk may take more */
	return dnsu_find_zone(&r->conf.server, name, zone, len, e);
}

static int rfc_publish(struct provider *p, const struct provider_rr *rr,
		       struct dkr_error *e)
{
	struct rfc2136 *r = (struct rfc2136 *)p;

	return dnsu_publish(&r->conf, rr->zone, rr->name, rr->ttl, rr->record, &p->requests,
			    e);
}

static int rfc_withdraw(struct provider *p, const struct provider_rr *rr,
			struct dkr_error *e)
{
	struct rfc2136 *r = (struct rfc2136 *)p;

	return dnsu_withdraw(&r->conf, rr->zone, rr->name, &p->requests, e);
}

static int rfc_read(struct provider *p, const char *zone, const char *name, char **record,
		    struct dkr_error *e)
{
	struct rfc2136 *r = (struct rfc2136 *)p;

	(void)zone;
	p->requests++;
	return dnsu_read_txt(&r->conf.server, name, record, e);
}

const struct provider_ops provider_rfc2136_ops = {
	.type = "rfc2136",
	/* BIND and its kin send NOTIFY to the secondaries themselves. */
	.caps = PROVIDER_CAN_READ | PROVIDER_FINDS_ZONE | PROVIDER_NOTIFIES,
	.open = rfc_open,
	.close = rfc_close,
	.find_zone = rfc_find_zone,
	.publish = rfc_publish,
	.withdraw = rfc_withdraw,
	.read = rfc_read,
};
