/*
 * rotator.h - the rotation itself: key generation and DKIM records, the MTA
 * adapters that switch the signing key, and the planner and executor that
 * move every key through its lifecycle.
 */
#ifndef DKIMROT_ROTATOR_H
#define DKIMROT_ROTATOR_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "../common/common.h"
#include "../conf/conf.h"
#include "../state/state.h"

/* ------------------------------------------------------- keys and records */

#define DKIM_RECORD_MAX 2048	/* a 4096-bit RSA record is about 750 bytes */

/*
 * Generate a keypair of `alg` with OpenSSL's EVP API and write the private
 * key as PEM (PKCS#8) to `path`: created under a temporary name with
 * O_EXCL|O_NOFOLLOW, mode 0640, group `gid` (or unchanged when
 * (gid_t)-1), fsynced, renamed into place, directory fsynced.  Fails with
 * DKR_EIO when `path` already exists.  `record` receives the DKIM TXT
 * record for the public key, strings joined.
 */
int keygen_generate(enum key_alg alg, const char *path, gid_t gid, char *record,
		    size_t record_len, struct dkr_error *e);

/*
 * Read an existing private key file and rebuild its DKIM record (after a
 * crash between writing the key and storing its record).  Fails with
 * DKR_EINVAL when the key is not of `alg`.
 */
int keygen_record_from_file(const char *path, enum key_alg alg, char *record,
			    size_t record_len, struct dkr_error *e);

/* "v=DKIM1; k=rsa; p=<base64 DER SubjectPublicKeyInfo>" or k=ed25519 (RFC 8463). */
int dkim_record_build(enum key_alg alg, const unsigned char *pub, size_t pub_len,
		      char *record, size_t record_len, struct dkr_error *e);

/*
 * Split a record into character-strings of at most 255 bytes, for a TXT
 * RDATA.  *chunks is one malloc'd array of `*n` pointers into one buffer:
 * free(*chunks) releases everything.
 */
int dkim_record_split(const char *record, char ***chunks, size_t *n, struct dkr_error *e);

#define DKIM_TAGS_MAX 16

/* A DKIM key record as served (RFC 6376 section 3.6.1). */
struct dkim_record {
	char v[16];		/* "DKIM1" or empty when absent */
	char k[16];		/* "rsa" (the default when absent) or "ed25519" */
	char h[64];
	char s[64];
	char t[64];
	char p[1024];		/* base64 with whitespace removed; empty: revoked */
	bool revoked;
	/* Every tag as found, in order, unknown ones included. */
	size_t n_tags;
	struct {
		char name[32];
		char value[1024];
	} tags[DKIM_TAGS_MAX];
};

/*
 * Parse the joined strings of a TXT record.  Whitespace around tags and
 * values is tolerated, unknown tags are kept, a missing or malformed p=
 * or a v= other than DKIM1 (when present, it must be first) is DKR_EINVAL.
 */
int dkim_record_parse(const char *text, struct dkim_record *out, struct dkr_error *e);

/* True when `served` carries the same key (k= and p=) as `ours`. */
bool dkim_record_same_key(const char *served, const char *ours);

/* ---------------------------------------------------------- MTA adapters */

/*
 * An adapter knows where the MTA expects key files, how to make it sign with
 * one (atomically), and which key it signs with now.
 */
struct mta_ops {
	const char *type;	/* "zdkimfilter", "opendkim" */

	/* Where the private key for (domain, selector) is to be written. */
	int (*key_path)(const struct conf_mta *m, const char *domain, const char *selector,
			char *out, size_t len, struct dkr_error *e);

	/* The directory key_path() writes into, created if missing (mode 0750). */
	int (*key_dir_prepare)(const struct conf_mta *m, const char *domain,
			       struct dkr_error *e);

	/*
	 * Make the MTA sign `domain` with `selector` whose key is at `key_path`:
	 * first check that the MTA's group can read it and search every
	 * directory above it, then swap atomically, then run the reload
	 * command.  Idempotent.
	 */
	int (*activate)(const struct conf_mta *m, const char *domain, const char *selector,
			const char *key_path, struct dkr_error *e);

	/*
	 * The selector the MTA signs `domain` with now ("" when none), read
	 * from the link or the KeyTable.
	 */
	int (*current)(const struct conf_mta *m, const char *domain, char *selector,
		       size_t len, struct dkr_error *e);

	/* Check directories and permissions as the MTA sees them (for `check`). */
	int (*check)(const struct conf_mta *m, const char *domain, struct dkr_error *e);
};

const struct mta_ops *mta_ops_find(enum conf_mta_type type);

/*
 * zdkimfilter (Courier): keys_dir/<domain>.<selector>.private, and the
 * link keys_dir/<domain> -> "<domain>.<selector>.private" (relative).
 * zdkimfilter takes the selector from the link target's basename, minus a
 * leading "<domain>." and a ".private" or ".pem" extension; it rereads the
 * link for each message, so `reload` may stay empty.  A regular file at
 * keys_dir/<domain> is an operator's own key and is never replaced.
 */
extern const struct mta_ops mta_zdkimfilter_ops;

/*
 * OpenDKIM: key_dir/<domain>/<selector>.private, one KeyTable line
 * "<selector>._domainkey.<domain> <domain>:<selector>:<path>" and one
 * SigningTable line "*@<domain> <selector>._domainkey.<domain>", so the
 * SigningTable must be declared "refile:" in opendkim.conf.  Lines are
 * dkimrot's only in exactly that shape (the key under key_dir); every other
 * line, comment and blank line is kept byte for byte.
 */
extern const struct mta_ops mta_opendkim_ops;

/* Shared by the adapters (mta.c). */

#define MTA_RELOAD_TIMEOUT_MS 60000

/* Is `domain` a hostname and `selector` (unless NULL) one label? */
int mta_names_check(const char *domain, const char *selector, struct dkr_error *e);

/* Create `dir` (one level) with mode 0750 and the MTA's group if missing. */
int mta_dir_prepare(const struct conf_mta *m, const char *dir, struct dkr_error *e);

/*
 * Can the MTA's group search `dir` and every directory above it?  The
 * message names the first directory that blocks it and its mode.
 */
int mta_dir_group_can_search(const struct conf_mta *m, const char *dir,
			     struct dkr_error *e);

/*
 * Run `command` with /bin/sh -c, stdin from /dev/null, stdout and stderr
 * captured.  A non-zero exit or a run longer than `timeout_ms` (the
 * command's process group is then killed) is DKR_ETEMP, with the start of
 * the output in the message.
 */
int mta_run_command(const char *what, const char *command, int timeout_ms,
		    struct dkr_error *e);

/* Run the MTA's reload command, if it has one. */
int mta_reload(const struct conf_mta *m, struct dkr_error *e);

/* ------------------------------------------------------------- planning */

enum action_kind {
	ACT_CREATE,	/* choose a selector and store the new key: -> created */
	ACT_PUBLISH,	/* write the key file, send the record: created -> published */
	ACT_CONFIRM,	/* every nameserver serves it: published -> visible */
	ACT_ACTIVATE,	/* the MTA signs with it: visible -> active */
	ACT_RETIRE,	/* a newer key signs: active -> retired */
	ACT_WITHDRAW,	/* delete the record, see it gone: retired -> withdrawn */
	ACT_DESTROY,	/* remove the private key file: withdrawn -> destroyed */
	ACT_COUNT
};

const char *action_name(enum action_kind kind);

struct plan_action {
	enum action_kind kind;
	int64_t due;			/* when it may run (<= now: runs now) */
	const struct conf_domain *domain;
	char selector[STATE_SELECTOR_MAX];	/* for ACT_CREATE: the one it would get */
	int64_t key_id;			/* 0 for ACT_CREATE */
	int64_t activate_after;		/* ACT_CREATE: when the new key may sign */
	char reason[256];
};

struct plan {
	struct plan_action *v;
	size_t n, cap;
};

/*
 * The planner: a pure function of (configuration, stored keys, now).  For
 * one domain and its keys (as state_keys_list gives them) it appends the
 * next action of every live key, and the creation of the next key when one
 * is due or will be.  `force` asks for a rotation now.  Nothing is changed.
 */
void plan_domain(const struct conf_domain *d, const struct state_key *keys, size_t n,
		 int64_t now, bool force, struct plan *out);

/*
 * The key that signs for `d` now: its newest active key (the later
 * activation, then the higher id).  The planner, the executor and the
 * crash recovery all ask this one function, so they never disagree.
 */
const struct state_key *plan_signer(const struct conf_domain *d, const struct state_key *keys,
				    size_t n);

/*
 * How far ahead of its switch time a key is created: long enough to be
 * published, seen by every nameserver, and outlast negative caching.
 */
int64_t plan_lead_time(const struct conf_policy *p, int64_t neg_ttl);

/* The selector a key created at `t` gets: the pattern, made unique. */
int plan_selector_pick(const struct conf_domain *d, const struct state_key *keys, size_t n,
		       int64_t t, char *out, size_t len, struct dkr_error *e);

void plan_sort(struct plan *p);	/* by due time, then domain */
void plan_free(struct plan *p);

/*
 * The dry run behind `plan --at`: apply the plan to a copy of the keys,
 * assuming every step succeeds at once, until `until`.  Returns every
 * action with its expected time.
 */
void plan_simulate(const struct conf_domain *d, const struct state_key *keys, size_t n,
		   int64_t now, int64_t until, bool force, struct plan *out);

/* ---------------------------------------------------- a domain's DNS */

struct provider;
struct dnsu_ns;
struct conf_server;

/*
 * Whom to ask about a domain's zone: its first configured nameserver, else
 * the RFC 2136 primary, else the first nameserver in /etc/resolv.conf.
 */
int domain_query_server(const struct conf_domain *d, struct conf_server *out,
			struct dkr_error *e);

/* The zone holding `name`: configured, found by the backend, or by SOA walk. */
int domain_zone_find(struct provider *p, const struct conf_domain *d, const char *name,
		     char *zone, size_t len, struct dkr_error *e);

/* The addresses to check: the configured nameservers, else the zone's NS set. */
int domain_nameservers_find(const struct conf_domain *d, const char *zone,
			    struct dnsu_ns **ns, size_t *n, struct dkr_error *e);

/* ------------------------------------------------------------ executing */

/* What the executor needs, open for the whole run. */
struct engine {
	struct conf *conf;
	struct state *st;
	int64_t poll_interval;		/* between nameserver checks, seconds */
	int dns_timeout_ms;		/* per nameserver query */
	int dns_retries;
	volatile sig_atomic_t stop;	/* set by SIGTERM: finish the step, then stop */
	unsigned long abort_after;	/* tests: abort() after this many outside actions */
	unsigned long outside_actions;
	struct provider **providers;	/* one per conf->dns entry, opened lazily */
	int64_t *create_retry;		/* per conf->domains entry: a failed create waits */

	/* Withdrawals sent and when, so a lagging server is not sent one per poll. */
	struct engine_sent {
		int64_t key_id;
		int64_t at;
	} *sent;
	size_t n_sent, cap_sent;
};

int engine_init(struct engine *en, struct conf *conf, struct state *st, struct dkr_error *e);
void engine_fini(struct engine *en);

/*
 * Run every action of `domains` (NULL: all) that is due at clock_now(),
 * with `force` for a rotation now.  Failures are stored with the key and
 * retried later; one domain's failure never stops the others.  *next gets
 * the time the earliest remaining action is due (0: none).
 */
int engine_run_due(struct engine *en, struct conf_domain **domains, size_t n_domains,
		   bool force, int64_t *next, struct dkr_error *e);

/* Make stored state and the world agree after a crash (MTA link, DNS). */
int engine_reconcile(struct engine *en, struct conf_domain **domains, size_t n_domains,
		     struct dkr_error *e);

/* ------------------------------------------------------------- commands */

enum { EXIT_OK = 0, EXIT_FAIL = 1, EXIT_USAGE = 2, EXIT_TIMEOUT = 3 };

int cmd_plan(int argc, char **argv, const char *conf_path);
int cmd_status(int argc, char **argv, const char *conf_path);
int cmd_rotate(int argc, char **argv, const char *conf_path);
int cmd_daemon(int argc, char **argv, const char *conf_path);
int cmd_check(int argc, char **argv, const char *conf_path);

#endif
