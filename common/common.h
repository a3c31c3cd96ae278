/*
 * common.h - what every dkimrot subsystem shares: the one error type, the
 * logger, the injectable clock, durations and times, DNS name checks, and
 * the careful file operations that key material and state depend on.
 */
#ifndef DKIMROT_COMMON_H
#define DKIMROT_COMMON_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define DKR_PRINTF(f, a) __attribute__((format(printf, f, a)))

/* ---------------------------------------------------------------- errors */

enum dkr_err {
	DKR_OK = 0,
	DKR_EINVAL,	/* bad input: a name, a value, an answer that makes no sense */
	DKR_ECONFIG,	/* the configuration is wrong; the message names file:line */
	DKR_ENOMEM,
	DKR_EIO,	/* a file or directory operation failed */
	DKR_EDB,	/* the state database failed */
	DKR_ECONFLICT,	/* a compare-and-set lost: someone else moved the key */
	DKR_ELOCKED,	/* another daemon holds the writer lock */
	DKR_ECRYPTO,	/* OpenSSL failed */
	DKR_EDNS,	/* a DNS server refused or failed, not worth retrying */
	DKR_ETEMP,	/* a transient failure: retry later */
	DKR_EHTTP,	/* an HTTP API refused, not worth retrying */
	DKR_ETIMEOUT,	/* waited too long for nameservers */
	DKR_ENOTFOUND,
	DKR_EPERM,	/* a permission or mode is wrong */
	DKR_ERR_COUNT
};

/*
 * A failure is a code and a sentence for the operator.  Every function that
 * can fail takes a `struct dkr_error *` (may be NULL) and returns the code.
 */
struct dkr_error {
	enum dkr_err code;
	char msg[1024];
};

const char *dkr_strerror(enum dkr_err code);

/* Record a failure and return its code; a NULL `e` only returns the code. */
enum dkr_err dkr_fail(struct dkr_error *e, enum dkr_err code, const char *fmt, ...)
	DKR_PRINTF(3, 4);

/* Prefix an existing message with context ("publishing x: <old message>"). */
enum dkr_err dkr_wrap(struct dkr_error *e, const char *fmt, ...) DKR_PRINTF(2, 3);

/* True for failures a later attempt may cure. */
bool dkr_err_retryable(enum dkr_err code);

/* --------------------------------------------------------------- logging */

enum log_level { LOG_LVL_ERR = 3, LOG_LVL_WARNING = 4, LOG_LVL_NOTICE = 5,
		 LOG_LVL_INFO = 6, LOG_LVL_DEBUG = 7 };

/* Where lines go: stderr (default) or syslog; and the lowest level shown. */
void log_init(const char *ident, bool use_syslog, enum log_level min);
void log_set_level(enum log_level min);

/*
 * One line about one key: "example.com k20270301: published (error)".
 * `domain` and `selector` may be NULL when the line is about neither.
 */
void log_key(enum log_level lvl, const char *domain, const char *selector,
	     const char *fmt, ...) DKR_PRINTF(4, 5);
void log_msg(enum log_level lvl, const char *fmt, ...) DKR_PRINTF(2, 3);

/* ----------------------------------------------------------------- clock */

/*
 * Wall-clock seconds since the epoch.  Tests replace the clock with
 * clock_set_fake(); the environment variable DKIMROT_FAKE_NOW (seconds, or
 * an ISO 8601 time) does the same for whole processes.
 */
int64_t clock_now(void);
void clock_set_fake(int64_t now);	/* 0 restores the real clock */

/* --------------------------------------------------- durations and times */

/* "90d", "2h", "30s", "1w", "15m"; a bare number is seconds. */
int duration_parse(const char *text, int64_t *out, struct dkr_error *e);

/* "7d 2h" style, for humans; writes into buf and returns it. */
const char *duration_format(int64_t secs, char *buf, size_t len);

/* ISO 8601 UTC ("2027-03-01T00:00:00Z", "2027-03-01") or relative ("+30d"). */
int time_parse(const char *text, int64_t now, int64_t *out, struct dkr_error *e);

/* RFC 3339 UTC: "2027-03-01T00:00:00Z". */
const char *time_format(int64_t t, char *buf, size_t len);

/* ------------------------------------------------------------- DNS names */

#define DKR_NAME_MAX 253	/* presentation form, without the final dot */
#define DKR_LABEL_MAX 63

/*
 * A hostname as dkimrot accepts it for a domain or zone: LDH labels,
 * no leading or trailing hyphen, no empty label, at most 253 characters, no
 * "..", "/" or anything else that could escape a directory.  A final dot is
 * tolerated by name_normalise(), which also lower-cases.
 */
bool name_is_hostname(const char *name);
bool name_is_label(const char *label);	/* one LDH label, 1..63 */
int name_normalise(const char *in, char *out, size_t len, struct dkr_error *e);

/* True when `name` equals `zone` or lies below it (both normalised). */
bool name_in_zone(const char *name, const char *zone);

/* ----------------------------------------------------------------- files */

/*
 * Write `len` bytes to `path` safely: create "<path>.tmp.<pid>" with
 * O_EXCL|O_NOFOLLOW and `mode`, chown to (-1, gid) when gid != (gid_t)-1,
 * write, fsync, rename over `path`, fsync the directory.
 */
int file_write_atomic(const char *path, const void *data, size_t len, mode_t mode,
		      gid_t gid, struct dkr_error *e);

/* write() until all of `len` is written (or -1 with errno); EINTR retried. */
int fd_write_full(int fd, const void *data, size_t len);

/* Read a whole file (bounded by `max`); the result is NUL-terminated. */
int file_read_all(const char *path, size_t max, char **out, size_t *len,
		  struct dkr_error *e);

/*
 * Read a secret from a file: refused when the file is readable by group or
 * others (the message names the file and its mode).  Trailing whitespace is
 * stripped.  The caller frees with secret_free(), which wipes it first.
 */
int secret_read(const char *path, char **out, struct dkr_error *e);
void secret_free(char *secret);

/* fsync a directory, so a rename or unlink inside it survives a crash. */
int dir_fsync(const char *dir, struct dkr_error *e);

/* Point `link` at `target` atomically: symlink to a temp name, rename over. */
int symlink_replace(const char *target, const char *link, struct dkr_error *e);

/*
 * Can members of `gid` read `path` and search every directory above it?
 * On failure the message names the file or directory and the missing bit.
 */
int path_group_can_read(const char *path, gid_t gid, struct dkr_error *e);

/* Resolve a group name (or number) to a gid. */
int group_lookup(const char *name, gid_t *gid, struct dkr_error *e);

/* ------------------------------------------------------------ algorithms */

enum key_alg { KEY_RSA2048, KEY_RSA3072, KEY_RSA4096, KEY_ED25519, KEY_ALG_COUNT };

/* "rsa-2048" ... "ed25519"; parse returns -1 for an unknown name. */
const char *key_alg_name(enum key_alg alg);
int key_alg_parse(const char *name);

/* ---------------------------------------------------------------- memory */

void *xcalloc(size_t n, size_t size);	/* aborts on failure: we cannot go on */
char *xstrdup(const char *s);
char *xasprintf(const char *fmt, ...) DKR_PRINTF(1, 2);

/* Copy with truncation check: false when `src` does not fit. */
bool str_copy(char *dst, size_t len, const char *src);

#endif
