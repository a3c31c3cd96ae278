/*
 * discover.c - what dkimrot learns from the configured DNS server before it
 * publishes: the zone holding a selector name, the zone's nameservers, the
 * negative-cache time of a new name, and what a name holds now.  Every
 * question goes to one server without TSIG; only authoritative answers
 * count.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dnsu_priv.h"

/* The first answer RR of `type` owned by `owner`, or NULL. */
static const ldns_rr *answer_rr(const ldns_pkt *p, const char *owner, ldns_rr_type type)
{
	const ldns_rr_list *an = ldns_pkt_answer(p);

	for (size_t i = 0; an != NULL && i < ldns_rr_list_rr_count(an); i++) {
		const ldns_rr *rr = ldns_rr_list_rr(an, i);

		if (ldns_rr_get_type(rr) == type && dnsu_rr_owned_by(rr, owner))
			return rr;
	}
	return NULL;
}

int dnsu_find_zone(const struct conf_server *server, const char *name, char *zone,
		   size_t len, struct dkr_error *e)
{
	char norm[DKR_NAME_MAX + 1];
	const char *cur;
	struct dnsu_ns ns;
	ldns_pkt *p = NULL;
	int rc;

	rc = name_normalise(name, norm, sizeof(norm), e);
	if (rc != DKR_OK)
		return rc;
	rc = dnsu_server_first(server, &ns, e);
	if (rc != DKR_OK)
		return rc;

	/* Walk up one label at a time; the root is never a zone of ours. */
	for (cur = norm; cur != NULL && *cur != '\0';) {
		const char *dot;

		rc = dnsu_ask(&ns, cur, LDNS_RR_TYPE_SOA, false, DNSU_QUERY_TIMEOUT_MS, &p,
			      NULL, e);
		if (rc != DKR_OK) {
			dkr_wrap(e, "finding the zone of %s", norm);
			return rc;
		}
		if (ldns_pkt_get_rcode(p) == LDNS_RCODE_NOERROR && ldns_pkt_aa(p) &&
		    answer_rr(p, cur, LDNS_RR_TYPE_SOA) != NULL) {
			ldns_pkt_free(p);
			if (!str_copy(zone, len, cur))
				return dkr_fail(e, DKR_EINVAL, "zone name %s too long", cur);
			return DKR_OK;
		}
		ldns_pkt_free(p);
		p = NULL;
		dot = strchr(cur, '.');
		cur = dot ? dot + 1 : NULL;
	}
	return dkr_fail(e, DKR_ENOTFOUND, "%s is authoritative for no zone that holds %s: "
			"set zone = \"...\" for this domain, or point server at the zone's "
			"primary", ns.label, norm);
}

/* Ask for the zone's SOA and insist on an authoritative answer. */
static int zone_soa(const struct dnsu_ns *ns, const char *zone, ldns_pkt **p,
		    const ldns_rr **soa, struct dkr_error *e)
{
	char rb[16];
	int rc;

	rc = dnsu_ask(ns, zone, LDNS_RR_TYPE_SOA, false, DNSU_QUERY_TIMEOUT_MS, p, NULL, e);
	if (rc != DKR_OK)
		return rc;
	*soa = answer_rr(*p, zone, LDNS_RR_TYPE_SOA);
	if (ldns_pkt_get_rcode(*p) != LDNS_RCODE_NOERROR || !ldns_pkt_aa(*p) || *soa == NULL)
		return dkr_fail(e, DKR_EDNS, "%s gave no authoritative SOA for zone %s (%s%s): "
				"is that the zone, and is this server authoritative for it?",
				ns->label, zone,
				dnsu_rcode_name(ldns_pkt_get_rcode(*p), rb, sizeof(rb)),
				ldns_pkt_aa(*p) ? "" : ", no AA bit");
	return DKR_OK;
}

int dnsu_negative_ttl(const struct conf_server *server, const char *zone, int64_t *out,
		      struct dkr_error *e)
{
	struct dnsu_ns ns;
	ldns_pkt *p = NULL;
	const ldns_rr *soa;
	const ldns_rdf *min;
	int64_t ttl;
	int rc;

	rc = dnsu_server_first(server, &ns, e);
	if (rc != DKR_OK)
		return rc;
	rc = zone_soa(&ns, zone, &p, &soa, e);
	if (rc != DKR_OK)
		goto out;

	/* RFC 2308 section 5: the lesser of the SOA's own TTL and MINIMUM. */
	min = ldns_rr_rd_count(soa) == 7 ? ldns_rr_rdf(soa, 6) : NULL;
	if (min == NULL || ldns_rdf_size(min) != 4) {
		rc = dkr_fail(e, DKR_EDNS, "%s sent a malformed SOA for %s", ns.label, zone);
		goto out;
	}
	ttl = ldns_rr_ttl(soa);
	if ((int64_t)ldns_rdf2native_int32(min) < ttl)
		ttl = ldns_rdf2native_int32(min);
	*out = ttl;
out:
	ldns_pkt_free(p);
	return rc;
}

/*
 * Append the addresses of one NS name: the A and AAAA records `ns` serves
 * with authority (in-zone names), else what the system resolver knows.
 * Nameservers listen on port 53; only configured ones have other ports.
 */
static int ns_addresses(const struct dnsu_ns *ns, const char *target, struct dnsu_ns **list,
			size_t *n, struct dkr_error *e)
{
	static const ldns_rr_type types[] = { LDNS_RR_TYPE_A, LDNS_RR_TYPE_AAAA };
	struct conf_server srv;
	char host[DKR_NAME_MAX + 1];
	bool found = false;
	int rc;

	rc = name_normalise(target, host, sizeof(host), e);
	if (rc != DKR_OK)
		return rc;
	memset(&srv, 0, sizeof(srv));
	srv.port = 53;
	for (size_t t = 0; t < 2; t++) {
		ldns_pkt *p = NULL;
		const ldns_rr_list *an;

		if (dnsu_ask(ns, host, types[t], false, DNSU_QUERY_TIMEOUT_MS, &p, NULL,
			     NULL) != DKR_OK)
			continue;
		an = ldns_pkt_answer(p);
		for (size_t i = 0; ldns_pkt_aa(p) && i < ldns_rr_list_rr_count(an); i++) {
			const ldns_rr *rr = ldns_rr_list_rr(an, i);
			char *addr;

			if (ldns_rr_get_type(rr) != types[t] || ldns_rr_rd_count(rr) != 1 ||
			    !dnsu_rr_owned_by(rr, host))
				continue;
			addr = ldns_rdf2str(ldns_rr_rdf(rr, 0));
			if (addr != NULL && str_copy(srv.host, sizeof(srv.host), addr) &&
			    dnsu_ns_append(&srv, host, list, n, NULL) == DKR_OK)
				found = true;
			free(addr);
		}
		ldns_pkt_free(p);
	}
	if (found)
		return DKR_OK;

	str_copy(srv.host, sizeof(srv.host), host);
	return dnsu_ns_append(&srv, NULL, list, n, e);
}

int dnsu_zone_nameservers(const struct conf_server *server, const char *zone,
			  struct dnsu_ns **out, size_t *n_out, struct dkr_error *e)
{
	struct dnsu_ns ns, *list = NULL;
	size_t n = 0;
	ldns_pkt *p = NULL;
	const ldns_rr_list *an;
	char rb[16];
	int rc;

	*out = NULL;
	*n_out = 0;
	rc = dnsu_server_first(server, &ns, e);
	if (rc != DKR_OK)
		return rc;
	rc = dnsu_ask(&ns, zone, LDNS_RR_TYPE_NS, false, DNSU_QUERY_TIMEOUT_MS, &p, NULL, e);
	if (rc != DKR_OK)
		goto out;
	if (ldns_pkt_get_rcode(p) != LDNS_RCODE_NOERROR || !ldns_pkt_aa(p)) {
		rc = dkr_fail(e, DKR_EDNS, "%s gave no authoritative NS set for zone %s (%s%s)",
			      ns.label, zone,
			      dnsu_rcode_name(ldns_pkt_get_rcode(p), rb, sizeof(rb)),
			      ldns_pkt_aa(p) ? "" : ", no AA bit");
		goto out;
	}

	an = ldns_pkt_answer(p);
	for (size_t i = 0; i < ldns_rr_list_rr_count(an); i++) {
		const ldns_rr *rr = ldns_rr_list_rr(an, i);
		char *target, host[DKR_NAME_MAX + 2];

		if (ldns_rr_get_type(rr) != LDNS_RR_TYPE_NS || ldns_rr_rd_count(rr) != 1 ||
		    !dnsu_rr_owned_by(rr, zone))
			continue;
		target = ldns_rdf2str(ldns_rr_rdf(rr, 0));
		if (target == NULL || !str_copy(host, sizeof(host), target)) {
			free(target);
			continue;
		}
		free(target);
		rc = ns_addresses(&ns, host, &list, &n, e);
		if (rc != DKR_OK) {
			dkr_wrap(e, "zone %s: nameserver %s", zone, host);
			goto out;
		}
	}
	if (n == 0) {
		rc = dkr_fail(e, DKR_EDNS, "zone %s lists no nameserver with an address on %s: "
			      "set nameservers = [...] for this domain", zone, ns.label);
		goto out;
	}
	*out = list;
	*n_out = n;
	list = NULL;
out:
	free(list);
	ldns_pkt_free(p);
	return rc;
}

/* Every TXT RR owned by `name` in the answer, joined; " | " between RRs. */
static int txt_collect(const ldns_pkt *p, const char *name, const struct dnsu_ns *ns,
		       char **record, struct dkr_error *e)
{
	const ldns_rr_list *an = ldns_pkt_answer(p);
	char *all, one[DNSU_TXT_MAX];
	size_t used = 0;

	*record = NULL;
	all = calloc(1, DNSU_TXT_MAX);
	if (all == NULL)
		return dkr_fail(e, DKR_ENOMEM, "out of memory");
	for (size_t i = 0; i < ldns_rr_list_rr_count(an); i++) {
		const ldns_rr *rr = ldns_rr_list_rr(an, i);
		int w;

		if (ldns_rr_get_type(rr) != LDNS_RR_TYPE_TXT || !dnsu_rr_owned_by(rr, name))
			continue;
		if (!dnsu_txt_join(rr, one, sizeof(one))) {
			free(all);
			return dkr_fail(e, DKR_EDNS, "%s serves a malformed or oversized TXT "
					"record at %s", ns->label, name);
		}
		w = snprintf(all + used, DNSU_TXT_MAX - used, "%s%s", used ? " | " : "", one);
		if (w < 0 || (size_t)w >= DNSU_TXT_MAX - used) {
			free(all);
			return dkr_fail(e, DKR_EDNS, "%s serves more TXT data at %s than "
					"dkimrot accepts (%d bytes)", ns->label, name,
					DNSU_TXT_MAX);
		}
		used += (size_t)w;
	}
	if (used == 0) {
		free(all);
		return DKR_OK;
	}
	*record = all;
	return DKR_OK;
}

int dnsu_read_txt(const struct conf_server *server, const char *name, char **record,
		  struct dkr_error *e)
{
	struct dnsu_ns ns;
	ldns_pkt *p = NULL;
	int rcode, rc;
	char rb[16];

	*record = NULL;
	rc = dnsu_server_first(server, &ns, e);
	if (rc != DKR_OK)
		return rc;

	/* TCP: a TXT RRset of several long keys may not fit a datagram. */
	rc = dnsu_ask(&ns, name, LDNS_RR_TYPE_TXT, true, DNSU_QUERY_TIMEOUT_MS, &p, NULL, e);
	if (rc != DKR_OK) {
		dkr_wrap(e, "reading the TXT record at %s", name);
		return rc;
	}
	rcode = ldns_pkt_get_rcode(p);
	if ((rcode != LDNS_RCODE_NOERROR && rcode != LDNS_RCODE_NXDOMAIN) || !ldns_pkt_aa(p)) {
		rc = dkr_fail(e, rcode == LDNS_RCODE_SERVFAIL ? DKR_ETEMP : DKR_EDNS,
			      "%s gave no authoritative answer for TXT at %s (%s%s)", ns.label,
			      name, dnsu_rcode_name(rcode, rb, sizeof(rb)),
			      ldns_pkt_aa(p) ? "" : ", no AA bit");
		goto out;
	}
	rc = txt_collect(p, name, &ns, record, e);
out:
	ldns_pkt_free(p);
	return rc;
}
