/*
 * dnsu_priv.h - what the files of dnsupdate/ share among themselves and
 * nobody else: one question to one server (UDP with TCP fallback, or TCP),
 * a framed TCP exchange, and reading TXT and SOA data out of replies.
 */
#ifndef DKIMROT_DNSU_PRIV_H
#define DKIMROT_DNSU_PRIV_H

#include <ldns/ldns.h>

#include "dnsupdate.h"

/* Default per-message wait for discovery and reads, in milliseconds. */
#define DNSU_QUERY_TIMEOUT_MS 3000
#define DNSU_EDNS_SIZE 1232
/* Longest joined TXT content we accept from a server. */
#define DNSU_TXT_MAX 8192

/* Monotonic milliseconds, for deadlines (never the injectable clock). */
int64_t dnsu_mono_ms(void);

/* The first address of one configured server, as a dnsu_ns. */
int dnsu_server_first(const struct conf_server *srv, struct dnsu_ns *out,
		      struct dkr_error *e);

/*
 * Append every address of `srv` to *list (which grows), skipping ones
 * already there; labels name `label_host` (NULL: srv->host).
 */
int dnsu_ns_append(const struct conf_server *srv, const char *label_host,
		   struct dnsu_ns **list, size_t *n, struct dkr_error *e);

/* A query for (name, type): no RD, EDNS, a random id.  Consumes nothing. */
int dnsu_query_build(const char *name, ldns_rr_type type, ldns_pkt **out,
		     struct dkr_error *e);

/*
 * Send `wire` over TCP to `ns` and read one framed reply within
 * `timeout_ms`.  Failures: DKR_ETEMP for refused connections, resets and
 * timeouts, each named in the message.
 */
int dnsu_tcp_exchange(const struct dnsu_ns *ns, const uint8_t *wire, size_t len,
		      int timeout_ms, uint8_t **reply, size_t *reply_len, struct dkr_error *e);

/*
 * Ask `ns` one question without TSIG: over UDP (two tries) and again over
 * TCP when the answer is truncated, or over TCP only when `tcp`.  The
 * reply's id and question are checked.  *msgs (may be NULL) counts messages.
 */
int dnsu_ask(const struct dnsu_ns *ns, const char *name, ldns_rr_type type, bool tcp,
	     int timeout_ms, ldns_pkt **reply, unsigned long *msgs, struct dkr_error *e);

/*
 * The character-strings of one TXT RR joined with nothing between them.
 * False when the RR is malformed, holds a NUL byte or does not fit.
 */
bool dnsu_txt_join(const ldns_rr *rr, char *out, size_t len);

/* True when `rr` is owned by `name` (presentation form, case-insensitive). */
bool dnsu_rr_owned_by(const ldns_rr *rr, const char *name);

/* "NOERROR", "NXDOMAIN", ... or "RCODE 12". */
const char *dnsu_rcode_name(int rcode, char *buf, size_t len);

#endif
