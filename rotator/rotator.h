/*
 * rotator.h - the rotation itself: key generation and DKIM records, the MTA
 * adapters that switch the signing key, and the planner and executor that
 * move every key through its lifecycle.
 */
#ifndef DKIMROT_ROTATOR_H
#define DKIMROT_ROTATOR_H

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

#endif
