/*
 * update.c - RFC 2136 dynamic updates of one TXT RRset, signed with TSIG
 * (RFC 8945), over TCP to the configured primary.  Publishing asks the
 * server to add the record only where no TXT RRset exists yet, so a record
 * dkimrot did not write is never overwritten; withdrawing deletes the TXT
 * RRset at the selector name and nothing else.  Every refusal is turned into
 * a sentence that tells the operator what to fix, and classified as worth
 * retrying (DKR_ETEMP) or not (DKR_EDNS).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "dnsu_priv.h"
#include "../rotator/rotator.h"

#define TSIG_FUDGE 300

/* RFC 8945 TSIG error codes, as BIND sets them in a reply's TSIG RR. */
enum { TSIG_BADSIG = 16, TSIG_BADKEY = 17, TSIG_BADTIME = 18, TSIG_BADTRUNC = 22 };

/* The names ldns's tsig.c recognises; hmac-sha384 and -sha224 are absent
 * on purpose: ldns 1.8 misspells the first and lacks the second. */
static const struct {
	const char *conf;
	const char *ldns;
} tsig_algs[] = {
	{ "hmac-sha256", "hmac-sha256." },
	{ "hmac-sha512", "hmac-sha512." },
	{ "hmac-sha1", "hmac-sha1." },
	{ "hmac-md5", "hmac-md5.sig-alg.reg.int." },
	{ "hmac-md5.sig-alg.reg.int", "hmac-md5.sig-alg.reg.int." },
};

static const char *tsig_ldns_name(const char *conf)
{
	size_t len;

	if (conf == NULL || *conf == '\0')
		return "hmac-sha256.";
	len = strlen(conf);
	if (conf[len - 1] == '.')
		len--;
	for (size_t i = 0; i < sizeof(tsig_algs) / sizeof(tsig_algs[0]); i++)
		if (strlen(tsig_algs[i].conf) == len &&
		    strncasecmp(tsig_algs[i].conf, conf, len) == 0)
			return tsig_algs[i].ldns;
	return NULL;
}

bool dnsu_tsig_algorithm_ok(const char *name)
{
	return tsig_ldns_name(name) != NULL;
}

/* Everything one update needs to say where it went and with which key. */
struct upd_ctx {
	const struct conf_dns *dns;
	const char *zone;
	const char *name;
	struct dnsu_ns ns;
	const char *alg;	/* ldns name, NULL when unsigned */
	int timeout_ms;
	unsigned long *msgs;
};

static int tsig_error_fail(const struct upd_ctx *c, int err, struct dkr_error *e)
{
	const struct conf_dns *d = c->dns;

	switch (err) {
	case TSIG_BADSIG:
		return dkr_fail(e, DKR_EDNS, "%s rejected the signature of TSIG key %s (BADSIG): "
				"the secret in %s is not the one the server has for that key",
				c->ns.label, d->tsig_name, d->tsig_secret_file);
	case TSIG_BADKEY:
		return dkr_fail(e, DKR_EDNS, "%s does not know TSIG key %s with algorithm %s "
				"(BADKEY): check tsig name and algorithm against the server's "
				"key statement", c->ns.label, d->tsig_name,
				d->tsig_algorithm[0] ? d->tsig_algorithm : "hmac-sha256");
	case TSIG_BADTIME:
		return dkr_fail(e, DKR_ETEMP, "%s says this host's clock is more than %d s off "
				"(BADTIME): synchronise the clock (NTP) on both hosts",
				c->ns.label, TSIG_FUDGE);
	default:
		return dkr_fail(e, DKR_EDNS, "%s refused TSIG key %s with TSIG error %d",
				c->ns.label, d->tsig_name, err);
	}
}

/* Turn a reply's rcode into DKR_OK or a sentence; YXRRSET is the caller's. */
static int rcode_fail(const struct upd_ctx *c, int rcode, struct dkr_error *e)
{
	const char *key = c->alg ? c->dns->tsig_name : NULL;
	char rb[16];

	switch (rcode) {
	case LDNS_RCODE_NOERROR:
		return DKR_OK;
	case LDNS_RCODE_NOTAUTH:
		return dkr_fail(e, DKR_EDNS, "%s is not authoritative for zone %s, or did not "
				"accept the update's signature (NOTAUTH): check zone and server%s",
				c->ns.label, c->zone, key ? " and the TSIG key" : "");
	case LDNS_RCODE_REFUSED:
		if (key == NULL)
			return dkr_fail(e, DKR_EDNS, "%s refused the unsigned update of %s "
					"(REFUSED): configure a TSIG key the server accepts",
					c->ns.label, c->name);
		return dkr_fail(e, DKR_EDNS, "%s refused the update of %s (REFUSED): its "
				"update-policy must let key %s change TXT records there, e.g. "
				"grant %s subdomain _domainkey.<domain> TXT;", c->ns.label,
				c->name, key, key);
	case LDNS_RCODE_NOTZONE:
		return dkr_fail(e, DKR_EDNS, "%s says %s is not inside zone %s (NOTZONE): "
				"check the zone setting of this domain", c->ns.label, c->name,
				c->zone);
	case LDNS_RCODE_SERVFAIL:
		return dkr_fail(e, DKR_ETEMP, "%s failed to apply the update of %s (SERVFAIL); "
				"its log says why", c->ns.label, c->name);
	case LDNS_RCODE_NOTIMPL:
		return dkr_fail(e, DKR_EDNS, "%s does not accept dynamic updates (NOTIMP): "
				"point server at the zone's primary", c->ns.label);
	case LDNS_RCODE_FORMERR:
		return dkr_fail(e, DKR_EDNS, "%s could not parse the update of %s (FORMERR)",
				c->ns.label, c->name);
	default:
		return dkr_fail(e, DKR_EDNS, "%s refused the update of %s (%s)", c->ns.label,
				c->name, dnsu_rcode_name(rcode, rb, sizeof(rb)));
	}
}

/*
 * Check the TSIG of a signed update's reply.  ldns does not expose the
 * TSIG error field, so the RR is read here; a reply carrying an error has
 * an empty MAC and cannot verify anyway.
 */
static int reply_tsig_check(const struct upd_ctx *c, ldns_pkt *reply, const uint8_t *wire,
			    size_t len, const ldns_rdf *req_mac, struct dkr_error *e)
{
	const ldns_rr *t = ldns_pkt_tsig(reply);
	const ldns_rdf *err;
	char rb[16];

	if (t == NULL) {
		if (ldns_pkt_get_rcode(reply) != LDNS_RCODE_NOERROR)
			return rcode_fail(c, ldns_pkt_get_rcode(reply), e);
		return dkr_fail(e, DKR_EDNS, "%s answered the signed update of %s without a "
				"TSIG signature: the reply cannot be trusted", c->ns.label,
				c->name);
	}
	err = ldns_rr_rd_count(t) >= 6 ? ldns_rr_rdf(t, 5) : NULL;
	if (err == NULL || ldns_rdf_size(err) != 2)
		return dkr_fail(e, DKR_EDNS, "%s sent a malformed TSIG record (%s)", c->ns.label,
				dnsu_rcode_name(ldns_pkt_get_rcode(reply), rb, sizeof(rb)));
	if (ldns_rdf2native_int16(err) != 0)
		return tsig_error_fail(c, ldns_rdf2native_int16(err), e);

	if (!ldns_pkt_tsig_verify(reply, wire, len, c->dns->tsig_name, c->dns->tsig_secret,
				  req_mac))
		return dkr_fail(e, DKR_EDNS, "the TSIG signature of %s's reply does not verify "
				"with key %s: is the secret in %s the server's?", c->ns.label,
				c->dns->tsig_name, c->dns->tsig_secret_file);
	return DKR_OK;
}

/* Sign, send over TCP, read and check the reply.  *rcode is its rcode. */
static int update_send(const struct upd_ctx *c, ldns_pkt *upd, int *rcode,
		       struct dkr_error *e)
{
	uint8_t *wire = NULL, *rwire = NULL;
	size_t len = 0, rlen = 0;
	ldns_pkt *reply = NULL;
	ldns_status st;
	int rc;

	ldns_pkt_set_rd(upd, false);
	ldns_pkt_set_random_id(upd);
	if (c->alg != NULL) {
		st = ldns_pkt_tsig_sign(upd, c->dns->tsig_name, c->dns->tsig_secret, TSIG_FUDGE,
					c->alg, NULL);
		if (st != LDNS_STATUS_OK) {
			rc = dkr_fail(e, DKR_ECONFIG, "cannot sign with TSIG key %s (%s): is the "
				      "secret in %s base64?", c->dns->tsig_name,
				      ldns_get_errorstr_by_id(st), c->dns->tsig_secret_file);
			goto out;
		}
	}
	if (ldns_pkt2wire(&wire, upd, &len) != LDNS_STATUS_OK) {
		rc = dkr_fail(e, DKR_ENOMEM, "cannot encode the update of %s", c->name);
		goto out;
	}

	if (c->msgs != NULL)
		(*c->msgs)++;
	rc = dnsu_tcp_exchange(&c->ns, wire, len, c->timeout_ms, &rwire, &rlen, e);
	if (rc != DKR_OK)
		goto out;
	if (ldns_wire2pkt(&reply, rwire, rlen) != LDNS_STATUS_OK ||
	    ldns_pkt_id(reply) != ldns_pkt_id(upd) || !ldns_pkt_qr(reply)) {
		rc = dkr_fail(e, DKR_EDNS, "%s sent a malformed or unrelated reply to the "
			      "update of %s", c->ns.label, c->name);
		goto out;
	}

	if (c->alg != NULL) {
		rc = reply_tsig_check(c, reply, rwire, rlen,
				      ldns_rr_rdf(ldns_pkt_tsig(upd), 3), e);
		if (rc != DKR_OK)
			goto out;
	}
	*rcode = ldns_pkt_get_rcode(reply);
out:
	ldns_pkt_free(reply);
	free(wire);
	free(rwire);
	return rc;
}

/* An RR with no RDATA: a prerequisite or a delete (RFC 2136 2.4, 2.5). */
static ldns_rr *rr_empty(const char *name, ldns_rr_class cls)
{
	ldns_rr *rr = ldns_rr_new();
	ldns_rdf *owner = NULL;

	if (rr == NULL || ldns_str2rdf_dname(&owner, name) != LDNS_STATUS_OK) {
		ldns_rr_free(rr);
		return NULL;
	}
	ldns_rr_set_owner(rr, owner);
	ldns_rr_set_type(rr, LDNS_RR_TYPE_TXT);
	ldns_rr_set_class(rr, cls);
	ldns_rr_set_ttl(rr, 0);
	return rr;
}

/* The TXT RR of a record: one character-string per 255-byte chunk. */
static int rr_txt(const char *name, int64_t ttl, const char *record, ldns_rr **out,
		  struct dkr_error *e)
{
	ldns_rr *rr = rr_empty(name, LDNS_RR_CLASS_IN);
	char **chunks = NULL;
	size_t n = 0;
	int rc;

	*out = NULL;
	if (rr == NULL)
		return dkr_fail(e, DKR_EINVAL, "\"%s\" is not a valid DNS name", name);
	ldns_rr_set_ttl(rr, (uint32_t)ttl);
	rc = dkim_record_split(record, &chunks, &n, e);
	if (rc != DKR_OK)
		goto out;
	for (size_t i = 0; i < n; i++) {
		size_t len = strlen(chunks[i]);
		uint8_t buf[256];
		ldns_rdf *rdf;

		if (len > 255) {
			rc = dkr_fail(e, DKR_EINVAL, "a TXT string of %zu bytes is too long", len);
			goto out;
		}
		buf[0] = (uint8_t)len;
		memcpy(buf + 1, chunks[i], len);
		rdf = ldns_rdf_new_frm_data(LDNS_RDF_TYPE_STR, len + 1, buf);
		if (rdf == NULL || !ldns_rr_push_rdf(rr, rdf)) {
			ldns_rdf_deep_free(rdf);
			rc = dkr_fail(e, DKR_ENOMEM, "out of memory building the TXT record");
			goto out;
		}
	}
	*out = rr;
	rr = NULL;
out:
	free(chunks);
	ldns_rr_free(rr);
	return rc;
}

/* Check the arguments and fill the context both operations share. */
static int ctx_init(struct upd_ctx *c, const struct conf_dns *dns, const char *zone,
		    const char *name, unsigned long *msgs, struct dkr_error *e)
{
	const char *dot;
	int rc;

	memset(c, 0, sizeof(*c));
	c->dns = dns;
	c->zone = zone;
	c->name = name;
	c->msgs = msgs;
	c->timeout_ms = (int)((dns->timeout > 0 && dns->timeout < 600 ? dns->timeout : 30) *
			      1000);

	/* Invariant 5: only selector names, only inside the zone. */
	dot = strchr(name, '.');
	if (!name_in_zone(name, zone) || dot == NULL ||
	    strncasecmp(dot, "._domainkey.", 12) != 0)
		return dkr_fail(e, DKR_EINVAL, "%s is not a selector name (SELECTOR._domainkey."
				"DOMAIN) inside zone %s; dkimrot changes no other name", name,
				zone);

	if (dns->tsig_name[0] != '\0') {
		c->alg = tsig_ldns_name(dns->tsig_algorithm);
		if (c->alg == NULL)
			return dkr_fail(e, DKR_ECONFIG, "TSIG algorithm %s cannot be used: ldns "
					"signs it wrongly or not at all; use hmac-sha256 or "
					"hmac-sha512", dns->tsig_algorithm);
		if (dns->tsig_secret == NULL || dns->tsig_secret[0] == '\0')
			return dkr_fail(e, DKR_ECONFIG, "TSIG key %s has no secret (read from "
					"%s)", dns->tsig_name, dns->tsig_secret_file);
	}
	rc = dnsu_server_first(&dns->server, &c->ns, e);
	return rc;
}

/* Build the update message: zone section, prerequisites, updates. */
static int update_pkt(const char *zone, ldns_rr_list *pre, ldns_rr_list *up, ldns_pkt **out,
		      struct dkr_error *e)
{
	ldns_rdf *zrdf = NULL;

	*out = NULL;
	if (ldns_str2rdf_dname(&zrdf, zone) != LDNS_STATUS_OK)
		return dkr_fail(e, DKR_EINVAL, "\"%s\" is not a valid zone name", zone);
	*out = ldns_update_pkt_new(zrdf, LDNS_RR_CLASS_IN, pre, up, NULL);
	if (*out == NULL) {
		ldns_rdf_deep_free(zrdf);
		return dkr_fail(e, DKR_ENOMEM, "out of memory building an update");
	}
	return DKR_OK;
}

/* Build, sign and send one update; *rcode is the server's answer. */
static int update_run(const struct upd_ctx *c, ldns_rr_list *pre, ldns_rr_list *up,
		      int *rcode, struct dkr_error *e)
{
	ldns_pkt *pkt = NULL;
	int rc;

	rc = update_pkt(c->zone, pre, up, &pkt, e);
	if (rc == DKR_OK)
		rc = update_send(c, pkt, rcode, e);
	ldns_pkt_free(pkt);
	return rc;
}

/* After YXRRSET: the name holds TXT already.  Ours (a retry) or not? */
static int publish_existing(const struct upd_ctx *c, const char *record,
			    struct dkr_error *e)
{
	char *cur = NULL;
	int rc;

	if (c->msgs != NULL)
		(*c->msgs)++;
	rc = dnsu_read_txt(&c->dns->server, c->name, &cur, e);
	if (rc != DKR_OK)
		return rc;
	if (cur != NULL && strcmp(cur, record) == 0)
		rc = DKR_OK;
	else
		rc = dkr_fail(e, DKR_EDNS, "refusing to overwrite a TXT record dkimrot did not "
			      "write at %s (it holds \"%.300s\")", c->name,
			      cur ? cur : "nothing now; it changed meanwhile");
	free(cur);
	return rc;
}

int dnsu_publish(const struct conf_dns *dns, const char *zone, const char *name,
		 int64_t ttl, const char *record, unsigned long *msgs, struct dkr_error *e)
{
	struct upd_ctx c;
	ldns_rr_list *pre = ldns_rr_list_new(), *up = ldns_rr_list_new();
	ldns_rr *rr = NULL;
	int rc, rcode = 0;

	rc = ctx_init(&c, dns, zone, name, msgs, e);
	if (rc != DKR_OK)
		goto out;
	if (ttl < 0 || ttl > 2147483647 || record == NULL || *record == '\0' ||
	    strlen(record) >= DNSU_TXT_MAX) {
		rc = dkr_fail(e, DKR_EINVAL, "cannot publish at %s: TTL %lld or a record of "
			      "%zu bytes is out of range", name, (long long)ttl,
			      record ? strlen(record) : 0);
		goto out;
	}
	if (pre == NULL || up == NULL) {
		rc = dkr_fail(e, DKR_ENOMEM, "out of memory");
		goto out;
	}

	/* Prerequisite "RRset does not exist": class NONE, type TXT. */
	rr = rr_empty(name, LDNS_RR_CLASS_NONE);
	if (rr == NULL || !ldns_rr_list_push_rr(pre, rr)) {
		ldns_rr_free(rr);
		rc = dkr_fail(e, DKR_EINVAL, "\"%s\" is not a valid DNS name", name);
		goto out;
	}
	rc = rr_txt(name, ttl, record, &rr, e);
	if (rc != DKR_OK)
		goto out;
	ldns_rr_list_push_rr(up, rr);

	rc = update_run(&c, pre, up, &rcode, e);
	if (rc != DKR_OK)
		goto out;
	if (rcode == LDNS_RCODE_YXRRSET)
		rc = publish_existing(&c, record, e);
	else
		rc = rcode_fail(&c, rcode, e);
out:
	if (rc != DKR_OK)
		dkr_wrap(e, "publishing %s in zone %s", name, zone);
	ldns_rr_list_deep_free(pre);
	ldns_rr_list_deep_free(up);
	return rc;
}

int dnsu_withdraw(const struct conf_dns *dns, const char *zone, const char *name,
		  unsigned long *msgs, struct dkr_error *e)
{
	struct upd_ctx c;
	ldns_rr_list *up = ldns_rr_list_new();
	ldns_rr *rr;
	int rc, rcode = 0;

	rc = ctx_init(&c, dns, zone, name, msgs, e);
	if (rc != DKR_OK)
		goto out;

	/* Delete an RRset: class ANY, type TXT, no RDATA (RFC 2136 2.5.2). */
	rr = rr_empty(name, LDNS_RR_CLASS_ANY);
	if (up == NULL || rr == NULL || !ldns_rr_list_push_rr(up, rr)) {
		ldns_rr_free(rr);
		rc = dkr_fail(e, DKR_EINVAL, "\"%s\" is not a valid DNS name", name);
		goto out;
	}
	rc = update_run(&c, NULL, up, &rcode, e);
	if (rc == DKR_OK)
		rc = rcode_fail(&c, rcode, e);
out:
	if (rc != DKR_OK)
		dkr_wrap(e, "withdrawing %s from zone %s", name, zone);
	ldns_rr_list_deep_free(up);
	return rc;
}

int dnsu_probe(const struct conf_dns *dns, const char *zone, unsigned long *msgs,
	       struct dkr_error *e)
{
	char name[DKR_NAME_MAX + 1];
	struct upd_ctx c;
	ldns_rr_list *pre = ldns_rr_list_new(), *up = ldns_rr_list_new();
	ldns_rr *rr = NULL;
	int rc, rcode = 0;

	/* ctx_init insists on a selector name; the probe names one it never changes. */
	if (snprintf(name, sizeof(name), "probe._domainkey.%s", zone) >= (int)sizeof(name))
		return dkr_fail(e, DKR_EINVAL, "zone name %s is too long", zone);
	rc = ctx_init(&c, dns, zone, name, msgs, e);
	if (rc != DKR_OK)
		goto out;

	/*
	 * An update with one prerequisite, "the apex is in use", and nothing to
	 * change: the server checks the TSIG signature and its authority for
	 * the zone, and the zone stays exactly as it was.
	 */
	rr = rr_empty(zone, LDNS_RR_CLASS_ANY);
	if (pre == NULL || up == NULL || rr == NULL) {
		ldns_rr_free(rr);
		rc = dkr_fail(e, DKR_ENOMEM, "out of memory");
		goto out;
	}
	ldns_rr_set_type(rr, LDNS_RR_TYPE_ANY);
	ldns_rr_list_push_rr(pre, rr);
	rc = update_run(&c, pre, up, &rcode, e);
	if (rc == DKR_OK)
		rc = rcode_fail(&c, rcode, e);
out:
	if (rc != DKR_OK)
		dkr_wrap(e, "probing zone %s with an empty update", zone);
	ldns_rr_list_deep_free(pre);
	ldns_rr_list_deep_free(up);
	return rc;
}
