/*
 * domain.c - where a domain's DNS questions go: the zone that holds a
 * selector name, the server to ask about that zone, and the authoritative
 * nameservers to check.  The executor, `status --dns` and `check` all ask
 * here, so they agree.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../dnsupdate/dnsupdate.h"
#include "../providers/providers.h"
#include "rotator.h"

/* The first nameserver in /etc/resolv.conf, for backends without a server. */
static int system_resolver(struct conf_server *out, struct dkr_error *e)
{
	char *text = NULL;
	int rc;

	rc = file_read_all("/etc/resolv.conf", 64 * 1024, &text, NULL, e);
	if (rc != DKR_OK)
		return rc;

	rc = dkr_fail(e, DKR_ENOTFOUND, "no nameserver in /etc/resolv.conf");
	for (char *line = strtok(text, "\n"); line != NULL; line = strtok(NULL, "\n")) {
		char addr[DKR_NAME_MAX + 1];

		if (sscanf(line, " nameserver %253s", addr) == 1) {
			out->port = 53;
			rc = str_copy(out->host, sizeof(out->host), addr) ? DKR_OK : rc;
			break;
		}
	}
	free(text);
	return rc;
}

/* Whom to ask about the zone: its own nameserver, the primary, or the system. */
int domain_query_server(const struct conf_domain *d, struct conf_server *out,
			struct dkr_error *e)
{
	if (d->n_nameservers > 0) {
		*out = d->nameservers[0];
		return DKR_OK;
	}
	if (d->dns->type == DNS_RFC2136) {
		*out = d->dns->server;
		return DKR_OK;
	}
	return system_resolver(out, e);
}

int domain_zone_find(struct provider *p, const struct conf_domain *d, const char *name,
		     char *zone, size_t len, struct dkr_error *e)
{
	struct conf_server q;
	int rc;

	if (d->zone[0] != '\0') {
		snprintf(zone, len, "%s", d->zone);
		return DKR_OK;
	}

	/* A backend that cannot find zones itself leaves it to DNS. */
	if (p->ops->caps & PROVIDER_FINDS_ZONE) {
		rc = p->ops->find_zone(p, name, zone, len, e);
	} else {
		rc = domain_query_server(d, &q, e);
		if (rc == DKR_OK)
			rc = dnsu_find_zone(&q, name, zone, len, e);
	}
	if (rc != DKR_OK)
		return dkr_wrap(e, "finding the zone of %s", name);
	return DKR_OK;
}

int domain_nameservers_find(const struct conf_domain *d, const char *zone,
			    struct dnsu_ns **ns, size_t *n, struct dkr_error *e)
{
	struct conf_server q;
	int rc;

	if (d->n_nameservers > 0)
		return dnsu_servers_resolve(d->nameservers, d->n_nameservers, ns, n, e);
	rc = domain_query_server(d, &q, e);
	if (rc != DKR_OK)
		return rc;
	return dnsu_zone_nameservers(&q, zone, ns, n, e);
}
