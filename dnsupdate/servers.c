/*
 * servers.c - where the DNS servers dkimrot talks to are: "host", "addr:port"
 * and "[v6]:port" as the config writes them, and the addresses behind them.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dnsu_priv.h"

int64_t dnsu_mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static bool host_is_address(const char *host)
{
	unsigned char buf[sizeof(struct in6_addr)];

	return inet_pton(AF_INET, host, buf) == 1 || inet_pton(AF_INET6, host, buf) == 1;
}

static void ns_label(struct dnsu_ns *ns, const char *host)
{
	char addr[INET6_ADDRSTRLEN];
	uint16_t port;
	const void *a;
	char where[INET6_ADDRSTRLEN + 10];

	if (ns->addr.ss_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)&ns->addr;

		a = &s6->sin6_addr;
		port = ntohs(s6->sin6_port);
	} else {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)&ns->addr;

		a = &s4->sin_addr;
		port = ntohs(s4->sin_port);
	}
	inet_ntop(ns->addr.ss_family, a, addr, sizeof(addr));
	if (ns->addr.ss_family == AF_INET6)
		snprintf(where, sizeof(where), "[%s]:%u", addr, port);
	else
		snprintf(where, sizeof(where), "%s:%u", addr, port);
	if (host == NULL || host_is_address(host))
		snprintf(ns->label, sizeof(ns->label), "%s", where);
	else
		snprintf(ns->label, sizeof(ns->label), "%.240s (%s)", host, where);
}

static bool ns_seen(const struct dnsu_ns *list, size_t n, const struct dnsu_ns *ns)
{
	for (size_t i = 0; i < n; i++)
		if (list[i].addrlen == ns->addrlen &&
		    memcmp(&list[i].addr, &ns->addr, ns->addrlen) == 0)
			return true;
	return false;
}

int dnsu_ns_append(const struct conf_server *srv, const char *label_host,
		   struct dnsu_ns **list, size_t *n, struct dkr_error *e)
{
	struct addrinfo hints, *res = NULL, *ai;
	char port[8];
	int rc = DKR_OK, gai;
	size_t usable = 0;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_DGRAM;
	hints.ai_flags = host_is_address(srv->host) ? AI_NUMERICHOST : 0;
	snprintf(port, sizeof(port), "%u", srv->port ? srv->port : 53);
	gai = getaddrinfo(srv->host, port, &hints, &res);
	if (gai != 0) {
		rc = dkr_fail(e, gai == EAI_AGAIN ? DKR_ETEMP : DKR_EDNS,
			      "cannot find the address of nameserver %s (%s)", srv->host,
			      gai_strerror(gai));
		goto out;
	}

	for (ai = res; ai != NULL; ai = ai->ai_next) {
		struct dnsu_ns ns;
		struct dnsu_ns *grown;

		if ((ai->ai_family != AF_INET && ai->ai_family != AF_INET6) ||
		    ai->ai_addrlen > sizeof(ns.addr))
			continue;
		memset(&ns, 0, sizeof(ns));
		memcpy(&ns.addr, ai->ai_addr, ai->ai_addrlen);
		ns.addrlen = ai->ai_addrlen;
		usable++;
		if (ns_seen(*list, *n, &ns))
			continue;
		ns_label(&ns, label_host ? label_host : srv->host);
		grown = realloc(*list, (*n + 1) * sizeof(**list));
		if (grown == NULL) {
			rc = dkr_fail(e, DKR_ENOMEM, "out of memory resolving %s", srv->host);
			goto out;
		}
		*list = grown;
		(*list)[(*n)++] = ns;
	}
	if (usable == 0)
		rc = dkr_fail(e, DKR_EDNS, "nameserver %s has no IPv4 or IPv6 address",
			      srv->host);
out:
	if (res != NULL)
		freeaddrinfo(res);
	return rc;
}

int dnsu_servers_resolve(const struct conf_server *servers, size_t n, struct dnsu_ns **out,
			 size_t *n_out, struct dkr_error *e)
{
	struct dnsu_ns *list = NULL;
	size_t count = 0;
	int rc = DKR_OK;

	for (size_t i = 0; i < n; i++) {
		rc = dnsu_ns_append(&servers[i], NULL, &list, &count, e);
		if (rc != DKR_OK)
			goto out;
	}
	if (count == 0)
		rc = dkr_fail(e, DKR_EINVAL, "no nameserver to ask");
out:
	if (rc != DKR_OK) {
		free(list);
		list = NULL;
		count = 0;
	}
	*out = list;
	*n_out = count;
	return rc;
}

int dnsu_server_first(const struct conf_server *srv, struct dnsu_ns *out,
		      struct dkr_error *e)
{
	struct dnsu_ns *list = NULL;
	size_t n = 0;
	int rc;

	rc = dnsu_servers_resolve(srv, 1, &list, &n, e);
	if (rc == DKR_OK)
		*out = list[0];
	free(list);
	return rc;
}
