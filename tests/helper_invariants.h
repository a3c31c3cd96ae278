/*
 * helper_invariants.h - the six invariants of SPEC.md ("Invariants"),
 * checked from outside dkimrot after any run or crash: the configuration
 * it ran with, its state database (opened read-only), both servers of a
 * BIND pair (asked without TSIG), the MTA's key files and links, and each
 * zone as it was before dkimrot first ran.
 *
 * A check returns NULL when everything holds, else one line per
 * violation, naming the invariant, the domain and selector, and what was
 * found ("invariant 2: alpha.test c120501: retired 1 s ago (grace 2 s +
 * ttl 1 s not over) but 127.0.0.1:25451 answers NXDOMAIN (not there yet)"),
 * so a failed assertion says exactly what broke.  The disk checks know the
 * zdkimfilter layout (keys_dir/<domain>.<selector>.private and the link
 * keys_dir/<domain>); OpenDKIM domains get every check but the scan of
 * their key directory.
 */
#ifndef DKIMROT_HELPER_INVARIANTS_H
#define DKIMROT_HELPER_INVARIANTS_H

#include "../conf/conf.h"
#include "helper_bind.h"

struct inv_world {
	const struct conf *conf;	/* the configuration dkimrot runs with */
	const struct bind_pair *bp;	/* its primary and secondary are asked */
	const char *const *zones;	/* NULL-terminated: the zones dkimrot may touch */
	const char *baseline_dir;	/* holds <zone>.axfr from inv_baseline_take() */
};

/*
 * Transfer every zone of `w` into baseline_dir/<zone>.axfr, before dkimrot
 * runs: invariant 5 compares the zones against it.  Returns 0 or -1.
 */
int inv_baseline_take(const struct inv_world *w);

/*
 * The six invariants, now (the real clock):
 *  1. the key the MTA signs with (the link's target) is served, alone and
 *     exactly, with the AA bit, by both servers, and the database holds it
 *     as active;
 *  2. a retired key still inside retired_at + grace + ttl is served by
 *     both; a withdrawn or destroyed key that signed was withdrawn no
 *     earlier than that;
 *  3. every active key is served by both and its private key file exists,
 *     and the MTA's link does not dangle;
 *  4. no selector twice for one domain, in the database or on disk, and
 *     every key file on disk is a live key of the database;
 *  5. every name added to or removed from each zone since the baseline is
 *     the TXT record of a selector dkimrot created (it is in the database);
 *  6. every private key file is owned by root, in the MTA's group, mode
 *     0640 or less (no bit for others), and every directory above it lets
 *     the MTA's group through; any other file in a key directory gives
 *     others nothing.
 * Returns NULL, or a malloc'd text of one line per violation.
 */
char *inv_check(const struct inv_world *w);

/*
 * After a rotation has finished (exit 0): every configured domain has
 * exactly one active key and the MTA signs with it (for zdkimfilter, the
 * link points at its file), no key waits in created, published or
 * visible, every active or retired key has its file, and every file in a
 * key directory is the file of a key that is not destroyed (no orphans,
 * no temporaries left by a crash).  NULL or one line per problem.
 */
char *inv_check_settled(const struct inv_world *w);

#endif
