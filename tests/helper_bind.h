/*
 * helper_bind.h - a real BIND 9 primary and secondary for the tests, started
 * and stopped by scripts/bind-pair.sh (read its header for what the zones
 * hold).  In short, for each zone Z given to bind_pair_start():
 *
 *   - the primary listens on 127.0.0.1 and ::1 port `port`, the secondary
 *     on port + 1; the secondary transfers from the primary after a NOTIFY
 *     (about 0.1 s after an update on loopback);
 *   - TSIG key "dkimrot" (hmac-sha256) may change TXT records at or below
 *     _domainkey.Z and nothing else: an update elsewhere is REFUSED;
 *     keys "dkimrot-sha512", "dkimrot-sha1" and "dkimrot-md5" likewise,
 *     their secrets in DIR/tsig-sha512.secret etc.;
 *   - the zone has SOA TTL 600 and minimum 300 (negative TTL 300), NS
 *     ns1.Z and ns2.Z (both A 127.0.0.1), www.Z A, an SPF TXT at the apex,
 *     "o=-" at _domainkey.Z and a foreign DKIM record at
 *     legacy._domainkey.Z;
 *   - DIR/Z.extra, when it exists before the start, is appended to Z's
 *     zone file.
 *
 * Ports: give each test its own (test_dnsupdate uses 25300-25349, the
 * lifecycle tests 25400+, the providers 25500+), four apart.  Call
 * bind_pair_stop() in the test's .fini so no named outlives a test, even
 * a failed one.
 */
#ifndef DKIMROT_HELPER_BIND_H
#define DKIMROT_HELPER_BIND_H

#include <stdbool.h>
#include <sys/types.h>

#include "../conf/conf.h"

struct bind_pair {
	char dir[3800];			/* where configs, zones, logs and secrets are */
	int port;			/* the primary's; the secondary's is port + 1 */
	pid_t primary_pid, secondary_pid;
	char secret_path[4096];		/* DIR/tsig.secret: key "dkimrot", 0600 */
	char zone[DKR_NAME_MAX + 1];	/* the first zone */

	/*
	 * An rfc2136 backend for the primary (127.0.0.1:port) with TSIG key
	 * "dkimrot" hmac-sha256, secret read, timeout 10 s.  Tests may change
	 * any field (e.g. point tsig_secret at a wrong one).
	 */
	struct conf_dns dns;

	/* Each server over IPv4 and IPv6. */
	struct conf_server primary, secondary, primary6, secondary6;
	bool running;
};

/*
 * Start a pair in `dir` (created if missing) serving the zones given, a
 * NULL-terminated list (none: "example.test").  Waits until both answer
 * every zone's SOA with authority.  Returns 0, or -1 after printing why.
 */
int bind_pair_start(struct bind_pair *bp, const char *dir, int port, ...);

/* Stop both servers (resuming a paused secondary first) and wait for them. */
void bind_pair_stop(struct bind_pair *bp);

/* SIGSTOP / SIGCONT the secondary: it then drops every query on the floor. */
void bind_secondary_pause(struct bind_pair *bp);
void bind_secondary_resume(struct bind_pair *bp);

/*
 * Transfer `zone` from the primary (AXFR with dig) and write its records to
 * `out_file`, one per line in presentation form, sorted, without the SOA
 * (whose serial every update changes).  Returns 0, or -1 when the transfer
 * failed.  Compare two such files to see which names an update touched.
 */
int bind_axfr(const struct bind_pair *bp, const char *zone, const char *out_file);

/* Read the named secret file of the pair (e.g. "tsig-sha512.secret"). */
char *bind_secret(const struct bind_pair *bp, const char *file);

#endif
