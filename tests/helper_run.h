/*
 * helper_run.h - running the real dkimrot binary from a test: once, with its
 * output captured, or in the background (a daemon) with its output in a log
 * file; a configuration file for a BIND pair (tests/helper_bind.h); and the
 * MTA's view of the result (the zdkimfilter link).
 *
 * The binary is $DKIMROT_BIN (set by `make check`, build/san/dkimrot under
 * SANITIZE=1), else <top>/build/dkimrot.  Every process started here gets
 * stdin from /dev/null and the test's environment plus the changes given.
 *
 * Typical use:
 *
 *	struct run_result r;
 *	const char *env[] = { "DKIMROT_FAKE_NOW=2027-03-01T00:00:00Z", NULL };
 *
 *	run_dkimrot(&r, env, 60, "-c", conf, "plan", "--json", NULL);
 *	cr_assert_eq(r.status, 0, "%s", r.err);
 *	...
 *	run_result_free(&r);
 *
 * Background processes are remembered: run_bg_kill_all() (call it in the
 * test's .fini) stops every one still running, so no daemon outlives a
 * failed test.
 */
#ifndef DKIMROT_HELPER_RUN_H
#define DKIMROT_HELPER_RUN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "helper_bind.h"

/* The dkimrot binary the tests run. */
const char *run_bin(void);

struct run_result {
	/*
	 * The exit status (0..255); 128 + N when killed by signal N; -1 when
	 * the program could not be started; -2 when it was still running
	 * after the timeout (it is then killed with SIGKILL).
	 */
	int status;
	char *out;		/* all of stdout, NUL-terminated, never NULL */
	char *err;		/* all of stderr, likewise */
	double seconds;		/* wall time it ran */
};

/*
 * Run argv[0] (a path) with the arguments argv[1..] (NULL-terminated),
 * capturing stdout and stderr, waiting at most `timeout_s` seconds.
 * `env` is NULL or a NULL-terminated list of changes: "NAME=value" sets,
 * "NAME" alone unsets.  Returns r->status.
 */
int run_program(struct run_result *r, const char *const *env, int timeout_s,
		char *const argv[]);

/* run_program() on the dkimrot binary; the arguments end with NULL. */
int run_dkimrot(struct run_result *r, const char *const *env, int timeout_s, ...)
	__attribute__((sentinel));

void run_result_free(struct run_result *r);

/* A process running in the background. */
struct run_bg {
	pid_t pid;		/* 0 once it has been waited for */
	int status;		/* as in struct run_result, once waited for */
};

/*
 * Start dkimrot in the background with the arguments given (ending with
 * NULL), stdout and stderr appended to `log_path`.  Returns 0, or -1 when
 * it could not be started.
 */
int run_bg_start(struct run_bg *bg, const char *log_path, const char *const *env, ...)
	__attribute__((sentinel));

/* Is it still running (not exited, not yet waited for)? */
bool run_bg_alive(struct run_bg *bg);

/*
 * Send `sig` (0: none) and wait at most `timeout_ms` for it to exit.
 * Returns its status as in struct run_result (-2: still running).
 */
int run_bg_stop(struct run_bg *bg, int sig, int timeout_ms);

/* SIGKILL and reap every background process started and not yet reaped. */
void run_bg_kill_all(void);

/* The whole file (malloc'd, NUL-terminated), or NULL when it cannot be read. */
char *run_file_read(const char *path);

/*
 * Poll `path` every 50 ms until it contains `needle` `count` times (1:
 * once), at most `timeout_ms`.  True when it did.
 */
bool run_file_wait_for(const char *path, const char *needle, int count, int timeout_ms);

/* How many times `needle` occurs in `hay`. */
int run_count(const char *hay, const char *needle);

/* Monotonic milliseconds, for bounded waits. */
int64_t run_ms(void);

/*
 * Is nothing bound to 127.0.0.1 `port`, UDP or TCP?  named binds with
 * SO_REUSEPORT, so a second pair started on ports another test run still
 * uses would come up and share its queries at random: check first.
 */
bool run_port_free(int port);

/* --------------------------------------------------------- configuration */

/*
 * A policy with timings short enough for a test: a rotation every minute,
 * grace 5 s, TTL 3 s, a selector per second, 20 s to propagate (so the
 * engine asks the nameservers every second).
 */
#define RUN_POLICY_FAST                                                              \
	"algorithm = \"rsa-2048\"; rotate_every = \"1m\"; grace = \"5s\"; ttl = 3; " \
	"selector = \"s%H%M%S\"; propagation_timeout = \"20s\";"

struct run_conf {
	/* The body of the policy group; NULL: RUN_POLICY_FAST. */
	const char *policy;

	/*
	 * The one mta entry (a libconfig group, named "m"); NULL: zdkimfilter
	 * with keys_dir DIR/keys (created, group "daemon", mode 0750), and DIR
	 * itself made 0711 so that the group may pass through it.
	 */
	const char *mta;

	/*
	 * The domains, NULL-terminated; none: the pair's first zone.  Each is
	 * published through the pair's primary (TSIG key "dkimrot") and must
	 * be served by both servers over IPv4.
	 */
	const char *domains[8];

	/* Written inside every domain's group (overrides), or NULL. */
	const char *domain_extra;

	/* The TSIG secret file; NULL: the pair's DIR/tsig.secret. */
	const char *secret_file;
};

/*
 * Write DIR/dkimrot.conf for the BIND pair `bp` (its port and secret; `bp`
 * may be a struct filled by hand with only `port` and `secret_path` set)
 * with state_db DIR/state.db.  Returns the malloc'd path of the file.
 */
char *run_conf_write(const char *dir, const struct bind_pair *bp, const struct run_conf *c);

/* ------------------------------------------------------------ MTA link */

/*
 * The target of the zdkimfilter link keys_dir/<domain> (its basename,
 * "<domain>.<selector>.private"), and the selector it names, as
 * zdkimfilter derives it.  Returns 0, or -1 when there is no such link.
 */
int run_link_read(const char *keys_dir, const char *domain, char *target, size_t target_len,
		  char *selector, size_t selector_len);

#endif
