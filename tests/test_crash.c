/*
 * test_crash.c - crash safety of the whole program, run as the real binary
 * against a real BIND primary and secondary: a crash injected after every
 * outside action of a rotation of three domains in two zones (rsa-2048 and
 * ed25519), then of the daemon's withdraw and destroy steps; SIGKILLs at
 * random moments (seeded); crashes while the secondary is stopped; and the
 * leftover of a kill inside key generation.  After every crash the six
 * invariants of SPEC.md are checked (helper_invariants.h), and after every
 * finished run the settled state.  The checker itself is shown to catch
 * what it looks for.
 *
 * Ports 25450-25477, four per test.  DKIMROT_CRASH_SEED repeats a random
 * run; DKIMROT_KEEP_TMP keeps each test's directory and logs.
 */
#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../dnsupdate/dnsupdate.h"
#include "../rotator/rotator.h"
#include "../state/state.h"
#include "helper.h"
#include "helper_bind.h"
#include "helper_invariants.h"

#define N_DOMAINS 3
#define ABORT_MAX 40		/* a rotation with its withdrawals has far fewer actions */

static const char *const zones[] = { "alpha.test", "beta.test", NULL };

/* Sorted as the configuration sorts them. */
static const char *const domains[N_DOMAINS] = { "alpha.test", "beta.test",
						"shop.alpha.test" };

static char *tmp;
static struct bind_pair bp;
static struct conf *conf;
static struct inv_world world;
static char conf_path[4200];
static int run_no;
static pid_t child = -1;	/* a dkimrot still running, killed by the .fini */
static int conf_port;
static const char *conf_grace = "2s";	/* stored with each key when it is made */

/* ------------------------------------------------------------- the world */

static void conf_write(void)
{
	int port = conf_port;
	FILE *f;

	snprintf(conf_path, sizeof(conf_path), "%s/dkimrot.conf", tmp);
	f = fopen(conf_path, "w");
	cr_assert_not_null(f, "cannot write %s", conf_path);
	fprintf(f,
		"state_db = \"%s/state.db\";\n"
		"policy = { algorithm = \"rsa-2048\"; rotate_every = \"1h\"; grace = \"%s\";\n"
		"  ttl = 1; selector = \"c%%H%%M%%S\"; propagation_timeout = \"20s\"; };\n"
		"dns = ( { name = \"primary\"; type = \"rfc2136\"; server = \"127.0.0.1\";\n"
		"  port = %d; tsig = { name = \"dkimrot\"; algorithm = \"hmac-sha256\";\n"
		"  secret_file = \"%s\"; }; } );\n"
		"mta = ( { name = \"courier\"; type = \"zdkimfilter\"; keys_dir = \"%s/keys\";\n"
		"  group = \"daemon\"; } );\n"
		"domains = (\n"
		"  { domain = \"alpha.test\"; dns = \"primary\"; mta = \"courier\";\n"
		"    nameservers = [ \"127.0.0.1:%d\", \"127.0.0.1:%d\" ]; },\n"
		"  { domain = \"shop.alpha.test\"; dns = \"primary\"; mta = \"courier\";\n"
		"    zone = \"alpha.test\"; algorithm = \"ed25519\";\n"
		"    nameservers = [ \"127.0.0.1:%d\", \"127.0.0.1:%d\" ]; },\n"
		"  { domain = \"beta.test\"; dns = \"primary\"; mta = \"courier\";\n"
		"    algorithm = \"ed25519\";\n"
		"    nameservers = [ \"127.0.0.1:%d\", \"127.0.0.1:%d\" ]; }\n"
		");\n",
		tmp, conf_grace, port, bp.secret_path, tmp, port, port + 1, port, port + 1, port,
		port + 1);
	cr_assert_eq(fclose(f), 0, "cannot write %s", conf_path);
}

/*
 * Is a UDP port on 127.0.0.1 free?  named binds with SO_REUSEPORT, so a
 * second pair on the same ports (another run of this file) would start
 * and share the queries, and the invariants would seem to break.
 */
static bool port_free(int port)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
				   .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	bool ok = fd >= 0 && bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0;

	if (fd >= 0)
		close(fd);
	return ok;
}

/*
 * A BIND pair for alpha.test and beta.test, shop.alpha.test's selectors
 * granted in alpha.test, the configuration, and each zone's baseline.
 */
static void world_up(int port)
{
	struct conf_diags diags = { 0 };
	struct dkr_error e = { 0 };
	char dir[4200];

	tmp = test_tmpdir_make("crash");
	/* mkdtemp makes it 0700: the MTA's group must get through. */
	cr_assert_eq(chmod(tmp, 0711), 0);
	snprintf(dir, sizeof(dir), "%s/bind", tmp);
	cr_assert_eq(mkdir(dir, 0700), 0);
	free(test_write_file(dir, "alpha.test.policy",
			     "grant dkimrot subdomain _domainkey.shop.alpha.test TXT;\n", 0600));

	cr_assert(port_free(port) && port_free(port + 1), "port %d or %d is taken: is "
		  "another test_crash running?", port, port + 1);

	/* Negative caching of 1 s: each activation waits one second, not five minutes. */
	setenv("BIND_PAIR_NEG_TTL", "1", 1);
	cr_assert_eq(bind_pair_start(&bp, dir, port, zones[0], zones[1], NULL), 0,
		     "the BIND pair did not start");

	conf_port = port;
	conf_grace = "2s";
	conf_write();
	cr_assert_eq(conf_load(conf_path, &conf, &diags, &e), DKR_OK, "%s", e.msg);
	conf_diags_free(&diags);
	cr_assert_eq(conf->n_domains, N_DOMAINS);
	for (size_t i = 0; i < N_DOMAINS; i++)
		cr_assert_str_eq(conf->domains[i].domain, domains[i]);

	world = (struct inv_world){ .conf = conf, .bp = &bp, .zones = zones,
				    .baseline_dir = tmp };
	cr_assert_eq(inv_baseline_take(&world), 0, "no baseline transfer of the zones");
	run_no = 0;
}

static void world_down(void)
{
	if (child > 0) {
		kill(child, SIGKILL);
		waitpid(child, NULL, 0);
		child = -1;
	}
	bind_pair_stop(&bp);
	conf_free(conf);
	conf = NULL;
	test_tmpdir_remove(tmp);
	tmp = NULL;
}

/* ------------------------------------------------------- running dkimrot */

static const char *dkimrot_bin(void)
{
	static char path[4200];
	const char *env = getenv("DKIMROT_BIN");

	if (env != NULL && *env != '\0')
		return env;
	snprintf(path, sizeof(path), "%s/build/dkimrot", test_top_dir());
	return path;
}

/*
 * Start `dkimrot -v -c CONF args...` with its output in tmp/run-N.log
 * (`log` gets the path), crashing after `abort_after` outside actions
 * when not 0.  No core files: the crashes are wanted.
 */
static pid_t dkimrot_start(unsigned long abort_after, char *log, size_t log_len,
			   const char *const *args)
{
	const char *argv[16] = { dkimrot_bin(), "-v", "-c", conf_path };
	size_t n = 4;
	pid_t pid;

	for (size_t i = 0; args[i] != NULL && n + 1 < 16; i++)
		argv[n++] = args[i];
	argv[n] = NULL;
	snprintf(log, log_len, "%s/run-%02d.log", tmp, ++run_no);

	pid = fork();
	cr_assert_neq(pid, -1, "fork: %s", strerror(errno));
	if (pid == 0) {
		struct rlimit none = { 0, 0 };
		int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		char num[32];

		if (fd < 0)
			_exit(126);
		dup2(fd, 1);
		dup2(fd, 2);
		setrlimit(RLIMIT_CORE, &none);
		unsetenv("DKIMROT_ABORT_AFTER");
		if (abort_after > 0) {
			snprintf(num, sizeof(num), "%lu", abort_after);
			setenv("DKIMROT_ABORT_AFTER", num, 1);
		}
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	child = pid;
	return pid;
}

static int dkimrot_wait(pid_t pid)
{
	int st = 0;

	cr_assert_eq(waitpid(pid, &st, 0), pid);
	child = -1;
	return st;
}

static int dkimrot_run(unsigned long abort_after, char *log, size_t log_len,
		       const char *const *args)
{
	return dkimrot_wait(dkimrot_start(abort_after, log, log_len, args));
}

/* The end of a log, for a failure message (static: one at a time). */
static const char *log_tail(const char *log)
{
	static char buf[2048];
	char *text = NULL;
	size_t len = 0;

	buf[0] = '\0';
	if (file_read_all(log, 1 << 20, &text, &len, NULL) == DKR_OK)
		snprintf(buf, sizeof(buf), "%s", len > 1500 ? text + len - 1500 : text);
	free(text);
	return buf;
}

static bool log_has(const char *log, const char *what)
{
	char *text = NULL;
	bool found;

	if (file_read_all(log, 1 << 20, &text, NULL, NULL) != DKR_OK)
		return false;
	found = strstr(text, what) != NULL;
	free(text);
	return found;
}

static void assert_exit(int st, int code, const char *log)
{
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == code,
		  "dkimrot ended with status 0x%x, not exit %d; %s ends:\n%s", (unsigned)st, code,
		  log, log_tail(log));
}

/* It died of the injected crash, right after outside action `n`: which one? */
static void assert_injected(int st, unsigned long n, const char *log, char *what,
			    size_t len)
{
	char needle[64], *text = NULL, *at;

	cr_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT,
		  "with DKIMROT_ABORT_AFTER=%lu dkimrot ended with status 0x%x, not SIGABRT; "
		  "%s ends:\n%s", n, (unsigned)st, log, log_tail(log));
	snprintf(needle, sizeof(needle), "injected crash after outside action %lu (", n);
	cr_assert_eq(file_read_all(log, 1 << 20, &text, NULL, NULL), DKR_OK);
	at = strstr(text, needle);
	cr_assert_not_null(at, "%s does not say \"%s\":\n%s", log, needle, log_tail(log));
	at += strlen(needle);
	snprintf(what, len, "%.*s", (int)strcspn(at, ")"), at);
	free(text);
}

/* ------------------------------------------------------------ the checks */

static void assert_invariants(const char *when)
{
	char *v = inv_check(&world);

	cr_assert_null(v, "after %s, invariants broken:\n%s", when, v);
}

static void assert_settled(const char *when)
{
	char *v = inv_check_settled(&world);

	cr_assert_null(v, "after %s, not settled:\n%s", when, v);
}

/* The keys of the database, read-only (the caller frees). */
static struct state_key *keys_read(size_t *n)
{
	struct state *st = NULL;
	struct state_key *keys = NULL;
	struct dkr_error e = { 0 };

	cr_assert_eq(state_open(conf->state_db, false, &st, &e), DKR_OK, "%s", e.msg);
	cr_assert_eq(state_keys_list(st, NULL, &keys, n, &e), DKR_OK, "%s", e.msg);
	state_close(st);
	return keys;
}

/* Each domain's active selector ("" when none) and whether a key is on its way. */
static void domains_read(char active[N_DOMAINS][STATE_SELECTOR_MAX], bool pending[N_DOMAINS])
{
	size_t n = 0;
	struct state_key *keys = keys_read(&n);

	for (size_t d = 0; d < N_DOMAINS; d++) {
		active[d][0] = '\0';
		pending[d] = false;
		for (size_t i = 0; i < n; i++) {
			if (strcmp(keys[i].domain, domains[d]) != 0)
				continue;
			if (keys[i].state == KS_ACTIVE)
				snprintf(active[d], STATE_SELECTOR_MAX, "%s", keys[i].selector);
			if (keys[i].state <= KS_VISIBLE)
				pending[d] = true;
		}
	}
	free(keys);
}

/* The selector the MTA signs each domain with, read from its link. */
static void links_read(char sel[N_DOMAINS][STATE_SELECTOR_MAX])
{
	for (size_t d = 0; d < N_DOMAINS; d++) {
		const struct conf_domain *cd = conf_domain_find(conf, domains[d]);
		struct dkr_error e = { 0 };

		cr_assert_eq(mta_zdkimfilter_ops.current(cd->mta, cd->domain, sel[d],
							 STATE_SELECTOR_MAX, &e), DKR_OK, "%s",
			     e.msg);
	}
}

/* Every key with a short grace that no longer signs is destroyed. */
static bool old_keys_destroyed(void)
{
	size_t n = 0;
	struct state_key *keys = keys_read(&n);
	bool done = true;

	for (size_t i = 0; i < n; i++)
		if (keys[i].grace < 60 && keys[i].state != KS_ACTIVE &&
		    keys[i].state != KS_DESTROYED)
			done = false;
	free(keys);
	return done;
}

static size_t keys_in(enum key_state s)
{
	size_t n = 0, count = 0;
	struct state_key *keys = keys_read(&n);

	for (size_t i = 0; i < n; i++)
		count += keys[i].state == s;
	free(keys);
	return count;
}

static void nap_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* A first, uncrashed rotation: every domain gets a key that signs. */
static void first_rotation(char initial[N_DOMAINS][STATE_SELECTOR_MAX])
{
	static const char *const rotate[] = { "rotate", NULL };
	char log[4300];
	bool pending[N_DOMAINS];

	assert_exit(dkimrot_run(0, log, sizeof(log), rotate), 0, log);
	assert_invariants("the first rotation");
	assert_settled("the first rotation");
	domains_read(initial, pending);
	for (size_t d = 0; d < N_DOMAINS; d++)
		cr_assert_neq(initial[d][0], '\0', "%s has no active key", domains[d]);
}

/* Every domain signs with a key other than its first, and nothing is pending. */
static void assert_all_rotated(char initial[N_DOMAINS][STATE_SELECTOR_MAX])
{
	char active[N_DOMAINS][STATE_SELECTOR_MAX];
	bool pending[N_DOMAINS];

	domains_read(active, pending);
	for (size_t d = 0; d < N_DOMAINS; d++) {
		cr_assert(active[d][0] != '\0' && strcmp(active[d], initial[d]) != 0,
			  "%s still signs with its first key %s", domains[d], initial[d]);
		cr_assert(!pending[d], "%s still has a key on its way", domains[d]);
	}
}

/* ------------------------------------------------------ injected crashes */

/* Which kinds of outside action a crash was injected after. */
struct crash_kinds {
	unsigned key_written, published, switched, withdrawn, removed;
};

static void kind_count(struct crash_kinds *c, const char *what)
{
	if (strcmp(what, "key file written") == 0)
		c->key_written++;
	else if (strcmp(what, "record published") == 0)
		c->published++;
	else if (strcmp(what, "MTA switched") == 0)
		c->switched++;
	else if (strcmp(what, "record withdrawn") == 0)
		c->withdrawn++;
	else if (strcmp(what, "key file removed") == 0)
		c->removed++;
	else
		cr_assert_fail("unknown outside action \"%s\"", what);
}

/*
 * rotate with a crash after action 1, 2, ... until one runs to its end;
 * what_at[i] is the action the crash at i + 1 came after.
 */
static unsigned long rotate_with_aborts(struct crash_kinds *kinds, char what_at[][64])
{
	static const char *const rotate[] = { "rotate", NULL };
	char log[4300], when[128], what[64];
	unsigned long n;
	int st;

	for (n = 1;; n++) {
		cr_assert_leq(n, ABORT_MAX, "rotate kept crashing: more than %d outside "
			      "actions in one rotation", ABORT_MAX);
		st = dkimrot_run(n, log, sizeof(log), rotate);
		if (WIFEXITED(st)) {
			assert_exit(st, 0, log);
			cr_assert(!log_has(log, "injected crash"));
			break;
		}
		assert_injected(st, n, log, what, sizeof(what));
		kind_count(kinds, what);
		snprintf(what_at[n - 1], 64, "%s", what);
		snprintf(when, sizeof(when), "rotate crashed after outside action %lu (%s)", n,
			 what);
		assert_invariants(when);

		assert_exit(dkimrot_run(0, log, sizeof(log), rotate), 0, log);
		snprintf(when, sizeof(when), "the rotate resumed after a crash at action %lu", n);
		assert_invariants(when);
		assert_settled(when);
	}
	return n;
}

/*
 * The daemon with a crash after action 1, then 2, ... until the old keys
 * are gone.  A restart does again the withdrawal or removal it crashed
 * after (the state still says it is to be done), so each run gets one
 * step further than the last.
 */
static void daemon_with_aborts(struct crash_kinds *kinds)
{
	static const char *const daemon_fg[] = { "daemon", "--foreground", NULL };
	char log[4300], when[128], what[64];
	bool done = false;

	for (unsigned long n = 1; !done; n++) {
		pid_t pid;
		int st = 0;

		cr_assert_leq(n, ABORT_MAX, "the daemon never finished withdrawing");
		pid = dkimrot_start(n, log, sizeof(log), daemon_fg);

		/* It crashes, or it has done everything and waits for the next rotation. */
		for (int waited = 0;; waited += 100) {
			cr_assert_lt(waited, 30000, "the daemon neither crashed nor finished in "
				     "30 s; %s ends:\n%s", log, log_tail(log));
			if (waitpid(pid, &st, WNOHANG) == pid) {
				child = -1;
				break;
			}
			if (old_keys_destroyed()) {
				kill(pid, SIGTERM);
				assert_exit(dkimrot_wait(pid), 0, log);
				done = true;
				break;
			}
			nap_ms(100);
		}
		if (done)
			break;

		assert_injected(st, n, log, what, sizeof(what));
		kind_count(kinds, what);
		snprintf(when, sizeof(when), "the daemon crashed after outside action %lu (%s)",
			 n, what);
		assert_invariants(when);
	}
}

TestSuite(crash, .fini = world_down, .timeout = 200);

static void up_abort(void)
{
	world_up(25450);
}

/*
 * The rotation's keys get a grace of half an hour, so no withdrawal falls due
 * among its steps: each run makes exactly the same nine outside actions,
 * and the crashes land on each of them in turn.  The withdrawals come
 * after, with keys made under a grace of two seconds.
 */
Test(crash, every_injected_crash_of_a_rotation_and_its_withdrawals_keeps_the_invariants,
     .init = up_abort)
{
	static const char *const rotate[] = { "rotate", NULL };
	static const char *const sequence[9] = {
		"key file written", "record published", "key file written",
		"record published", "key file written", "record published",
		"MTA switched",	    "MTA switched",	"MTA switched",
	};
	char initial[N_DOMAINS][STATE_SELECTOR_MAX], what_at[ABORT_MAX][64], log[4300];
	struct crash_kinds kinds = { 0 };
	unsigned long n;

	conf_grace = "30m";
	conf_write();
	first_rotation(initial);
	n = rotate_with_aborts(&kinds, what_at);

	cr_assert_eq(n, 10, "a rotation of three domains ran to its end with "
		     "DKIMROT_ABORT_AFTER=%lu, not 10", n);
	for (size_t i = 0; i < 9; i++)
		cr_assert_str_eq(what_at[i], sequence[i], "crash %zu", i + 1);
	assert_all_rotated(initial);
	cr_assert_eq(keys_in(KS_ACTIVE), N_DOMAINS);
	cr_assert_eq(keys_in(KS_WITHDRAWN) + keys_in(KS_DESTROYED), 0);

	/* Two more rotations: the first keys of two seconds' grace are retired. */
	conf_grace = "2s";
	conf_write();
	assert_exit(dkimrot_run(0, log, sizeof(log), rotate), 0, log);
	assert_exit(dkimrot_run(0, log, sizeof(log), rotate), 0, log);
	assert_invariants("two rotations with a grace of two seconds");
	cr_assert(!old_keys_destroyed());

	/* Their withdrawal and destruction by the daemon, crashed step by step. */
	memset(&kinds, 0, sizeof(kinds));
	daemon_with_aborts(&kinds);
	cr_assert_gt(kinds.withdrawn, 0, "no crash came right after a withdrawal");
	cr_assert_gt(kinds.removed, 0, "no crash came right after a key file removal");
	cr_assert_eq(kinds.key_written + kinds.published + kinds.switched, 0);

	assert_invariants("the daemon finished the withdrawals");
	assert_settled("the daemon finished the withdrawals");
	cr_assert(old_keys_destroyed());
	cr_assert_eq(keys_in(KS_ACTIVE), N_DOMAINS);
	cr_assert_eq(keys_in(KS_DESTROYED), N_DOMAINS);
	cr_log_info("daemon crashes after %u withdrawals and %u key file removals",
		    kinds.withdrawn, kinds.removed);
}

/* -------------------------------------------------------- random SIGKILLs */

#define KILL_ROUNDS 12
#define KILL_WINDOW_MS 2000	/* a rotation of the three domains takes about 2.5 s */

static void up_kill(void)
{
	world_up(25454);
}

Test(crash, sigkill_at_random_moments_keeps_the_invariants_until_every_domain_rotated,
     .init = up_kill)
{
	static const char *const rotate[] = { "rotate", NULL };
	static const char *const daemon_fg[] = { "daemon", "--foreground", NULL };
	char initial[N_DOMAINS][STATE_SELECTOR_MAX], active[N_DOMAINS][STATE_SELECTOR_MAX];
	bool pending[N_DOMAINS];
	const char *seed_env = getenv("DKIMROT_CRASH_SEED");
	unsigned seed = seed_env != NULL ? (unsigned)strtoul(seed_env, NULL, 10)
					 : (unsigned)time(NULL) ^ (unsigned)getpid();
	const unsigned first_seed = seed;
	const char *args[N_DOMAINS + 2] = { "rotate" };
	char log[4300], when[160];
	int kills = 0;
	size_t n_args = 1;

	cr_log_info("random SIGKILL seed %u (DKIMROT_CRASH_SEED=%u repeats it)", seed, seed);
	fprintf(stderr, "test_crash: random SIGKILL seed %u\n", seed);
	first_rotation(initial);

	for (int round = 0; round < KILL_ROUNDS; round++) {
		bool daemon = round % 3 == 2;
		long at = (long)(rand_r(&seed) % KILL_WINDOW_MS);
		bool child_killed;
		pid_t pid;
		int st = 0;

		/* A rotate that finishes before its moment must have succeeded. */
		pid = dkimrot_start(0, log, sizeof(log), daemon ? daemon_fg : rotate);
		for (long waited = 0; waited < at; waited += 10) {
			if (waitpid(pid, &st, WNOHANG) == pid) {
				child = -1;
				break;
			}
			nap_ms(10);
		}
		child_killed = child > 0;
		if (child_killed) {
			kill(pid, SIGKILL);
			st = dkimrot_wait(pid);
			cr_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL,
				  "status 0x%x", (unsigned)st);
			kills++;
		} else {
			cr_assert(!daemon, "the daemon exited by itself; %s ends:\n%s", log,
				  log_tail(log));
			assert_exit(st, 0, log);
		}
		snprintf(when, sizeof(when), "round %d (seed %u): %s %s %ld ms", round, first_seed,
			 daemon ? "daemon" : "rotate", child_killed ? "SIGKILLed after" :
			 "finished within", at);
		assert_invariants(when);
	}

	/* Whatever the kills left on its way (or never started) is finished now. */
	domains_read(active, pending);
	for (size_t d = 0; d < N_DOMAINS; d++)
		if (pending[d] || strcmp(active[d], initial[d]) == 0)
			args[n_args++] = domains[d];
	args[n_args] = NULL;
	if (n_args > 1) {
		assert_exit(dkimrot_run(0, log, sizeof(log), args), 0, log);
		assert_invariants("the last rotate after the SIGKILLs");
	}
	assert_settled("the SIGKILL rounds");
	assert_all_rotated(initial);
	cr_assert_gt(kills, 0, "no run was killed in %d rounds", KILL_ROUNDS);
	cr_log_info("%d SIGKILLs in %d rounds", kills, KILL_ROUNDS);
}

/* ------------------------------------------------ a stopped secondary */

static void up_stopped(void)
{
	world_up(25458);
}

/* The MTA still signs every domain with its first key, and no new key went further. */
static void assert_link_unmoved(char initial[N_DOMAINS][STATE_SELECTOR_MAX], const char *when)
{
	char sel[N_DOMAINS][STATE_SELECTOR_MAX];
	size_t n = 0;
	struct state_key *keys;

	links_read(sel);
	for (size_t d = 0; d < N_DOMAINS; d++)
		cr_assert_str_eq(sel[d], initial[d], "after %s the MTA signs %s with %s, not %s",
				 when, domains[d], sel[d], initial[d]);

	keys = keys_read(&n);
	for (size_t i = 0; i < n; i++) {
		size_t d = 0;

		while (d < N_DOMAINS && strcmp(domains[d], keys[i].domain) != 0)
			d++;
		cr_assert_lt(d, N_DOMAINS);
		if (strcmp(keys[i].selector, initial[d]) != 0)
			cr_assert_leq(keys[i].state, KS_PUBLISHED, "after %s %s %s is %s while the "
				      "secondary is stopped", when, keys[i].domain,
				      keys[i].selector, key_state_name(keys[i].state));
	}
	free(keys);
}

/* Let the secondary answer just long enough for the checker to ask it. */
static void assert_invariants_resumed(const char *when)
{
	bind_secondary_resume(&bp);
	assert_invariants(when);
	bind_secondary_pause(&bp);
}

Test(crash, a_stopped_secondary_keeps_the_link_through_crashes_and_restarts,
     .init = up_stopped)
{
	static const char *const rotate_short[] = { "rotate", "--timeout", "1s", NULL };
	static const char *const rotate[] = { "rotate", NULL };
	char initial[N_DOMAINS][STATE_SELECTOR_MAX];
	char log[4300], when[128], what[64];
	unsigned long n;
	pid_t pid;
	int st;

	first_rotation(initial);
	bind_secondary_pause(&bp);

	/*
	 * Crashes after 1, 2, 3 ... actions, each run resuming the last (and
	 * doing again the action it crashed after), among the three key files
	 * and three publications; then the wait that cannot end.  The stopped
	 * server costs one timeout for all three domains, not one each.
	 */
	for (n = 1;; n++) {
		time_t start = time(NULL);

		cr_assert_leq(n, 7, "more than six outside actions with the secondary stopped");
		st = dkimrot_run(n, log, sizeof(log), rotate_short);
		if (WIFEXITED(st)) {
			cr_assert_leq(time(NULL) - start, 15, "rotate --timeout 1s took %lld s",
				      (long long)(time(NULL) - start));
			break;
		}
		assert_injected(st, n, log, what, sizeof(what));
		cr_assert(strcmp(what, "key file written") == 0 ||
			  strcmp(what, "record published") == 0, "crashed after \"%s\"", what);
		snprintf(when, sizeof(when), "a crash after action %lu (%s)", n, what);
		assert_link_unmoved(initial, when);
		assert_invariants_resumed(when);
	}
	cr_assert_geq(n, 4, "the wait for the secondary began after %lu crashes", n - 1);
	assert_exit(st, 3, log);
	cr_assert(log_has(log, "not served by every nameserver after 1s"), "%s", log_tail(log));
	assert_link_unmoved(initial, "rotate timed out");
	cr_assert_eq(keys_in(KS_PUBLISHED), N_DOMAINS);

	/* Killed while asking the stopped secondary: any moment is one. */
	pid = dkimrot_start(0, log, sizeof(log), rotate);
	nap_ms(1500);
	kill(pid, SIGKILL);
	st = dkimrot_wait(pid);
	cr_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL, "status 0x%x", (unsigned)st);
	assert_link_unmoved(initial, "a SIGKILL while waiting for the secondary");
	assert_invariants_resumed("a SIGKILL while waiting for the secondary");

	/* Back: the same keys finish, and only now does the link move. */
	bind_secondary_resume(&bp);
	assert_exit(dkimrot_run(0, log, sizeof(log), rotate), 0, log);
	assert_invariants("the secondary came back");
	assert_settled("the secondary came back");
	assert_all_rotated(initial);
	cr_assert_eq(keys_in(KS_ACTIVE), N_DOMAINS);
	cr_assert_eq(keys_in(KS_RETIRED), N_DOMAINS);
}

/* ------------------------------------------------ the checker catches it */

static void up_checker_mode(void)
{
	world_up(25462);
}

static void up_checker_zone(void)
{
	world_up(25466);
}

static void up_checker_served(void)
{
	world_up(25470);
}

static char *path_of(const char *domain, const char *selector)
{
	char *p;

	cr_assert(asprintf(&p, "%s/keys/%s.%s.private", tmp, domain, selector) > 0);
	return p;
}

Test(crash, checker_names_a_key_file_others_may_read, .init = up_checker_mode)
{
	char initial[N_DOMAINS][STATE_SELECTOR_MAX];
	char *path, *want, *v;

	first_rotation(initial);
	path = path_of("beta.test", initial[1]);
	cr_assert_eq(chmod(path, 0644), 0);

	v = inv_check(&world);
	cr_assert(asprintf(&want, "invariant 6: beta.test: key file %s has mode 0644, more "
			   "than 0640\n", path) > 0);
	cr_assert_str_eq(v != NULL ? v : "(nothing)", want);
	free(v);
	free(want);
	free(path);
}

Test(crash, checker_names_a_record_that_is_no_selector_of_ours, .init = up_checker_zone)
{
	static const char want[] = "invariant 5: zone alpha.test: stray._domainkey.alpha.test "
				   "was added, which is no selector record dkimrot created: "
				   "stray._domainkey.alpha.test.";
	char initial[N_DOMAINS][STATE_SELECTOR_MAX];
	struct dkr_error e = { 0 };
	char *v;

	first_rotation(initial);
	cr_assert_eq(dnsu_publish(&bp.dns, "alpha.test", "stray._domainkey.alpha.test", 60,
				  "v=DKIM1; k=rsa; p=", NULL, &e), DKR_OK, "%s", e.msg);

	v = inv_check(&world);
	cr_assert_not_null(v);
	cr_assert(strncmp(v, want, strlen(want)) == 0, "%s", v);
	cr_assert_eq(strchr(v, '\n') - v + 1, (long)strlen(v), "more than one line:\n%s", v);
	free(v);
}

Test(crash, checker_names_a_signing_key_the_nameservers_no_longer_serve,
     .init = up_checker_served)
{
	char initial[N_DOMAINS][STATE_SELECTOR_MAX];
	char name[128], line1[512], line3[512];
	struct dkr_error e = { 0 };
	char *v = NULL;

	first_rotation(initial);
	snprintf(name, sizeof(name), "%s._domainkey.shop.alpha.test", initial[2]);
	cr_assert_eq(dnsu_withdraw(&bp.dns, "alpha.test", name, NULL, &e), DKR_OK, "%s", e.msg);

	/* Both servers answer NXDOMAIN once the secondary has transferred. */
	snprintf(line1, sizeof(line1), "invariant 1: shop.alpha.test %s: the MTA signs with "
		 "this key but 127.0.0.1:%d answers NXDOMAIN (not there yet); 127.0.0.1:%d "
		 "answers NXDOMAIN (not there yet)\n", initial[2], bp.port, bp.port + 1);
	snprintf(line3, sizeof(line3), "invariant 3: shop.alpha.test %s: the key is active but "
		 "127.0.0.1:%d answers NXDOMAIN (not there yet); 127.0.0.1:%d answers NXDOMAIN "
		 "(not there yet)\n", initial[2], bp.port, bp.port + 1);
	for (int waited = 0;; waited += 100) {
		free(v);
		v = inv_check(&world);
		cr_assert_not_null(v);
		if (strstr(v, line1) != NULL || waited >= 10000)
			break;
		nap_ms(100);
	}
	cr_assert_not_null(strstr(v, line1), "%s", v);
	cr_assert_not_null(strstr(v, line3), "%s", v);
	free(v);
}

/* ------------------------------------------- a kill inside key generation */

static void up_keygen(void)
{
	world_up(25474);
}

/*
 * A SIGKILL while the key file is being written leaves the key stored as
 * created, no key file, and the writer's temporary under its pid: what
 * this test sets up by hand, since no kill can be aimed that precisely.
 */
Test(crash, a_temporary_key_file_left_by_a_kill_is_gone_once_the_key_is_made,
     .init = up_keygen)
{
	static const char *const rotate[] = { "rotate", NULL };
	struct state *st = NULL;
	struct state_key k;
	struct dkr_error e = { 0 };
	char keys[4200], stale[4400], log[4300];

	snprintf(keys, sizeof(keys), "%s/keys", tmp);
	cr_assert_eq(mkdir(keys, 0750), 0);
	cr_assert_eq(chown(keys, (uid_t)-1, conf->mta[0].gid), 0);

	memset(&k, 0, sizeof(k));
	snprintf(k.domain, sizeof(k.domain), "beta.test");
	snprintf(k.selector, sizeof(k.selector), "killed");
	cr_assert_lt(snprintf(k.key_path, sizeof(k.key_path), "%s/beta.test.killed.private",
			      keys), (int)sizeof(k.key_path));
	k.algorithm = KEY_ED25519;
	k.state = KS_CREATED;
	k.at[KS_CREATED] = clock_now();
	k.activate_after = k.at[KS_CREATED];
	k.ttl = 1;
	k.grace = 2;
	cr_assert_eq(state_open(conf->state_db, true, &st, &e), DKR_OK, "%s", e.msg);
	cr_assert_eq(state_key_insert(st, &k, &e), DKR_OK, "%s", e.msg);
	state_close(st);
	snprintf(stale, sizeof(stale), "%s.tmp.999999", k.key_path);
	free(test_write_file(keys, "beta.test.killed.private.tmp.999999", "-----BEGIN", 0600));

	assert_exit(dkimrot_run(0, log, sizeof(log), rotate), 0, log);
	assert_invariants("the rotation after a kill inside key generation");
	assert_settled("the rotation after a kill inside key generation");
	cr_assert_eq(access(stale, F_OK), -1, "%s is still there", stale);
	cr_assert_eq(access(k.key_path, F_OK), 0, "no key file %s", k.key_path);
	cr_assert(log_has(log, "left by an interrupted key write"), "%s", log_tail(log));
}
