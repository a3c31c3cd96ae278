/*
 * state.h - the state database: every key's lifecycle, the history of each
 * transition, and each nameserver's latest answer, kept in SQLite so that a
 * crash at any moment resumes where it stopped.
 */
#ifndef DKIMROT_STATE_H
#define DKIMROT_STATE_H

#include <stdbool.h>
#include <stdint.h>

#include "../common/common.h"

/* A key moves forward only, one step at a time (SPEC.md, Key lifecycle). */
enum key_state {
	KS_CREATED = 0,	/* keypair written to disk, nothing in DNS yet */
	KS_PUBLISHED,	/* the DNS update was accepted */
	KS_VISIBLE,	/* every authoritative nameserver serves exactly it */
	KS_ACTIVE,	/* the MTA signs with it */
	KS_RETIRED,	/* another key signs; this one stays in DNS */
	KS_WITHDRAWN,	/* its record is gone from every nameserver */
	KS_DESTROYED,	/* its private key file is removed */
	KS_COUNT
};

const char *key_state_name(enum key_state s);
int key_state_parse(const char *name);	/* -1 when unknown */

#define STATE_SELECTOR_MAX 64

struct state_key {
	int64_t id;
	char domain[DKR_NAME_MAX + 1];
	char selector[STATE_SELECTOR_MAX];
	char zone[DKR_NAME_MAX + 1];	/* zone the record was published in */
	enum key_alg algorithm;
	enum key_state state;

	/* When each state was entered; 0 for states not reached. */
	int64_t at[KS_COUNT];

	/* Published with, and used for every later wait (not the config). */
	int64_t ttl;
	int64_t neg_ttl;	/* min(SOA TTL, SOA minimum) at publication */
	int64_t grace;

	/*
	 * The key may not sign before this time (the scheduled switch; "now"
	 * for a forced rotation).  Stored so a resumed rotation keeps its plan.
	 */
	int64_t activate_after;

	char key_path[1024];	/* the private key file */
	char record[1024];	/* the DKIM TXT record, strings joined (rsa-4096: ~750) */

	/* Retry bookkeeping for the step that follows the current state. */
	int attempts;
	int64_t next_try;	/* 0: not waiting for a retry */
	char last_error[512];
};

struct state;	/* an open database */

/*
 * Open (and create or migrate) the database.  A writer also takes an
 * exclusive lock (flock on "<path>.lock", released when the process dies);
 * a second writer gets DKR_ELOCKED.  Readers never block the writer: WAL.
 * A reader opened on a path that does not exist yet sees no keys and
 * creates nothing.
 */
int state_open(const char *path, bool writer, struct state **out, struct dkr_error *e);
void state_close(struct state *st);

/* The schema version this build writes; older databases are migrated. */
int state_schema_version(struct state *st);

/*
 * Insert a new key in KS_CREATED, with at[KS_CREATED] = key->at[KS_CREATED].
 * Fails with DKR_ECONFLICT when the selector was ever used for this domain
 * (invariant 4).  Sets key->id.
 */
int state_key_insert(struct state *st, struct state_key *key, struct dkr_error *e);

/*
 * The one way a key changes state: a compare-and-set in one transaction.
 * Moves key `id` from `from` to `to` (which must be `from + 1`), stamps
 * at[to] = `when`, resets the retry bookkeeping, and appends a history row
 * with `reason`.  DKR_ECONFLICT when the key is no longer in `from`.
 */
int state_key_transition(struct state *st, int64_t id, enum key_state from,
			 enum key_state to, int64_t when, const char *reason,
			 struct dkr_error *e);

/* Record a failed attempt at the key's next step (and when to try again). */
int state_key_set_retry(struct state *st, int64_t id, int attempts, int64_t next_try,
			const char *error, struct dkr_error *e);

/* Update fields that are filled in after creation (zone, neg_ttl). */
int state_key_update_dns(struct state *st, int64_t id, const char *zone, int64_t neg_ttl,
			 struct dkr_error *e);

/* Move the earliest switch time of a pending key (`rotate`: now). */
int state_key_set_activate_after(struct state *st, int64_t id, int64_t when,
				 struct dkr_error *e);

/* Store the DKIM record once the key file exists (it is empty at insert). */
int state_key_set_record(struct state *st, int64_t id, const char *record,
			 struct dkr_error *e);

int state_key_get(struct state *st, int64_t id, struct state_key *out, struct dkr_error *e);

/* True (and 0 returned) when `selector` was ever used for `domain`. */
int state_selector_used(struct state *st, const char *domain, const char *selector,
			bool *used, struct dkr_error *e);

/*
 * Every key of one domain (NULL: of every domain), ordered by domain then
 * creation.  The caller frees *keys with free().
 */
int state_keys_list(struct state *st, const char *domain, struct state_key **keys,
		    size_t *n, struct dkr_error *e);

/*
 * The same keys, in the same order, handed to `fn` one at a time: a struct
 * state_key is about 7 KB, so state_keys_list(NULL) over 200,000 keys
 * holds 1.4 GB, where this holds one.  With `live_only`, destroyed keys
 * (which are kept forever, invariant 4) are skipped.  `fn` may read the
 * database but must not change keys; a non-zero return from it stops the
 * walk and is returned (fn fills `e`).
 */
int state_keys_each(struct state *st, const char *domain, bool live_only,
		    int (*fn)(const struct state_key *key, void *arg, struct dkr_error *e),
		    void *arg, struct dkr_error *e);

/* Every distinct domain that has keys. */
int state_domains_list(struct state *st, char ***domains, size_t *n, struct dkr_error *e);
void state_strings_free(char **v, size_t n);

struct state_history {
	int64_t key_id;
	enum key_state from, to;
	int64_t at;
	char reason[512];
};

int state_history_list(struct state *st, int64_t key_id, struct state_history **rows,
		       size_t *n, struct dkr_error *e);

/* Each nameserver's latest answer about a key, for `status`. */
struct state_ns_answer {
	int64_t key_id;
	char server[300];	/* "host:port" */
	int64_t at;
	bool ok;		/* answered what we wanted (served, or gone) */
	char detail[512];	/* "serves the key", "NXDOMAIN", "timeout", ... */
};

int state_ns_answer_put(struct state *st, const struct state_ns_answer *a,
			struct dkr_error *e);
int state_ns_answers_list(struct state *st, int64_t key_id, struct state_ns_answer **rows,
			  size_t *n, struct dkr_error *e);

/* Group many writes in one transaction (for many domains at once). */
int state_begin(struct state *st, struct dkr_error *e);
int state_commit(struct state *st, struct dkr_error *e);
int state_rollback(struct state *st);

#endif
