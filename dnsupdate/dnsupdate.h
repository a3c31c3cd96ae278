/*
 * dnsupdate.h - DNS with ldns: RFC 2136 updates signed with TSIG, zone and
 * nameserver discovery, and the every-nameserver check that decides when a
 * key may sign and when a withdrawn key is really gone.
 */
#ifndef DKIMROT_DNSUPDATE_H
#define DKIMROT_DNSUPDATE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "../common/common.h"
#include "../conf/conf.h"

/* One authoritative nameserver address to ask. */
struct dnsu_ns {
	char label[300];		/* "ns1.example.com (192.0.2.1:53)" or "[::1]:5353" */
	struct sockaddr_storage addr;
	socklen_t addrlen;
};

/*
 * Resolve conf_servers (names through the system resolver, or literal
 * addresses) to every A and AAAA address.  *out is malloc'd.
 */
int dnsu_servers_resolve(const struct conf_server *servers, size_t n, struct dnsu_ns **out,
			 size_t *n_out, struct dkr_error *e);

/*
 * Find the zone holding `name` by walking up with SOA queries to `server`,
 * accepting only authoritative answers.  Discovery and reads ask over UDP
 * without TSIG (TCP when truncated), 3 s per question.
 */
int dnsu_find_zone(const struct conf_server *server, const char *name, char *zone,
		   size_t len, struct dkr_error *e);

/*
 * The zone's NS set, each resolved to every A and AAAA address on port 53:
 * the addresses `server` serves for in-zone names, else the system
 * resolver's.  Labels read "ns1.example.com (192.0.2.1:53)".
 */
int dnsu_zone_nameservers(const struct conf_server *server, const char *zone,
			  struct dnsu_ns **out, size_t *n_out, struct dkr_error *e);

/* RFC 2308 negative-cache time for names in `zone`: min(SOA TTL, SOA minimum). */
int dnsu_negative_ttl(const struct conf_server *server, const char *zone, int64_t *out,
		      struct dkr_error *e);

/*
 * RFC 2136 publish and withdraw, over TCP, signed with the TSIG key of
 * `dns` when it has one.  Publish carries a prerequisite that the name has
 * no TXT RRset; when that fails (YXRRSET) the current content is read, and
 * when it is exactly `record` the call succeeds, else it fails with
 * DKR_EDNS.  Withdraw deletes the TXT RRset at `name` and nothing else.
 * Failures are classified: DKR_ETEMP (timeout, SERVFAIL, connection
 * refused, BADTIME) or DKR_EDNS (REFUSED, NOTAUTH, NOTZONE, BADKEY, BADSIG,
 * an unsigned or badly signed reply).  Only names SELECTOR._domainkey.*
 * inside `zone` are accepted (DKR_EINVAL otherwise), and an unusable TSIG
 * algorithm is DKR_ECONFIG.  *msgs (may be NULL) counts messages sent.
 */
int dnsu_publish(const struct conf_dns *dns, const char *zone, const char *name,
		 int64_t ttl, const char *record, unsigned long *msgs, struct dkr_error *e);
int dnsu_withdraw(const struct conf_dns *dns, const char *zone, const char *name,
		  unsigned long *msgs, struct dkr_error *e);

/*
 * Send a TSIG-signed update that changes nothing (its only prerequisite is
 * that the zone apex exists) to learn whether the server accepts our key
 * and is authoritative for `zone`: the probe behind `dkimrot check`.
 */
int dnsu_probe(const struct conf_dns *dns, const char *zone, unsigned long *msgs,
	       struct dkr_error *e);

/*
 * Read the TXT RRset at `name` from `server` over TCP, authoritative
 * answers only: the joined strings of its record (malloc'd), NULL when
 * there is none; several records come back separated by " | ".
 */
int dnsu_read_txt(const struct conf_server *server, const char *name, char **record,
		  struct dkr_error *e);

/* TSIG algorithms ldns handles correctly; others are refused at `check`. */
bool dnsu_tsig_algorithm_ok(const char *name);

/* ----------------------------------------------- the every-nameserver check */

enum dnsu_want {
	DNSU_WANT_RECORD,	/* NOERROR, AA, a TXT whose joined strings are our key */
	DNSU_WANT_GONE,		/* NXDOMAIN or NODATA, with AA */
};

/* One server's answer about one query. */
struct dnsu_answer {
	bool ok;		/* the server answered what we want */
	/*
	 * "serves the key", "NODATA (no TXT record yet)", "NXDOMAIN (not there
	 * yet)", "serves a different record: \"...\"", "NXDOMAIN (gone)",
	 * "NODATA (gone)", "still serves the key", "no AA bit: ...", an rcode
	 * ("REFUSED"), or "timeout (3 tries of 2000 ms)", "connection refused
	 * (...)".
	 */
	char detail[256];
};

struct dnsu_query {
	const char *name;	/* the selector name */
	const char *record;	/* our record (for DNSU_WANT_RECORD) */
	enum dnsu_want want;

	/* Filled by dnsu_check: answers[i] is from ns[i]; all_ok when every ok. */
	struct dnsu_answer *answers;	/* malloc'd by dnsu_check, n_ns entries */
	bool all_ok;
};

/*
 * Ask every address in `ns` about every query, concurrently (non-blocking
 * sockets and poll, no TSIG, RD off, EDNS, TCP when truncated), with a
 * per-query timeout and bounded retries.  A record counts as our key when
 * its joined strings parse as a DKIM record with the same k= and p= as
 * `record`.  Returns DKR_OK when every query was asked (whatever the
 * answers); the answers say who lags.  At most 64 queries are outstanding
 * per address; `retries` more tries follow a try unanswered in
 * `timeout_ms`.  10,000 records on two servers take well under a second.
 */
int dnsu_check(const struct dnsu_ns *ns, size_t n_ns, struct dnsu_query *q, size_t n_q,
	       int timeout_ms, int retries, struct dkr_error *e);
void dnsu_query_free(struct dnsu_query *q, size_t n_q);

#endif
