/*
 * bench_plan.c - what planning costs for 100,000 domains: a state database
 * where every domain has an active key and a retired one, then (a) what
 * the daemon does each tick, listing each domain's keys and planning it,
 * and (b) `plan`, `plan --at +365d` and `status --json` through the real
 * binary on a generated 100,000-domain configuration, with each run's
 * wall time and peak resident memory (from wait4, the child's ru_maxrss).
 *
 *   build/bench/bench_plan [DOMAINS]      (DKIMROT_BIN: the binary to run)
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../rotator/rotator.h"

#define DOMAINS_DEFAULT 100000
#define DAY 86400
/* 2027-03-01T00:00:00Z: every key's times are fixed, so every run plans alike. */
#define NOW 1803859200

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *step, const struct dkr_error *e)
{
	fprintf(stderr, "bench_plan: %s: %s\n", step, e != NULL ? e->msg : strerror(errno));
	exit(1);
}

static void domain_name(char *buf, size_t len, int i)
{
	snprintf(buf, len, "d%06d.example", i);
}

static void row(const char *what, size_t n, double secs, long rss_kb)
{
	char rss[32] = "";

	if (rss_kb > 0)
		snprintf(rss, sizeof(rss), "%8.1f MB", (double)rss_kb / 1024.0);
	printf("%-44s %8zu  %8.3f s  %8.2f us each  %11s\n", what, n, secs,
	       secs * 1e6 / (double)n, rss);
}

/* Insert one key and move it through each state, entered at at[state]. */
static void key_add(struct state *st, const char *domain, const char *selector,
		    enum key_state state, const int64_t *at)
{
	int64_t created = at[KS_CREATED];
	struct state_key k;
	struct dkr_error e = { 0 };

	memset(&k, 0, sizeof(k));
	snprintf(k.domain, sizeof(k.domain), "%s", domain);
	snprintf(k.selector, sizeof(k.selector), "%s", selector);
	snprintf(k.zone, sizeof(k.zone), "%s", domain);
	k.algorithm = KEY_RSA2048;
	k.at[KS_CREATED] = created;
	k.ttl = 3600;
	k.grace = 7 * DAY;
	k.neg_ttl = 300;
	k.activate_after = created;
	snprintf(k.key_path, sizeof(k.key_path), "/var/lib/dkimrot/keys/%s.%s.private", domain,
		 selector);
	if (state_key_insert(st, &k, &e) != DKR_OK)
		die("insert", &e);
	if (state_key_set_record(st, k.id, "v=DKIM1; k=rsa; p=MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8A"
				 "MIIBCgKCAQEAilBcVk6RPRjrjXSGGROCejkEA3Sir+kbeVUtwB/p3pBO+U6ZE",
				 &e) != DKR_OK)
		die("record", &e);
	for (int s = KS_CREATED; s < (int)state; s++)
		if (state_key_transition(st, k.id, (enum key_state)s, (enum key_state)(s + 1),
					 at[s + 1], "bench", &e) != DKR_OK)
			die("transition", &e);
}

/* Every domain: a key retired 10 days ago, and its successor signing since. */
static void db_fill(const char *path, int n)
{
	/* k1 signed from -100d until k2 took over 5 days ago: nothing is due now. */
	static const int64_t k1_at[] = { NOW - 101 * DAY, NOW - 101 * DAY + 60,
					 NOW - 101 * DAY + 120, NOW - 100 * DAY, NOW - 5 * DAY };
	static const int64_t k2_at[] = { NOW - 6 * DAY, NOW - 6 * DAY + 60,
					 NOW - 6 * DAY + 120, NOW - 5 * DAY };
	struct state *st = NULL;
	struct dkr_error e = { 0 };
	char domain[64];
	double t0 = now_s();

	if (state_open(path, true, &st, &e) != DKR_OK)
		die("open", &e);
	if (state_begin(st, &e) != DKR_OK)
		die("begin", &e);
	for (int i = 0; i < n; i++) {
		domain_name(domain, sizeof(domain), i);
		key_add(st, domain, "k1", KS_RETIRED, k1_at);
		key_add(st, domain, "k2", KS_ACTIVE, k2_at);
	}
	if (state_commit(st, &e) != DKR_OK)
		die("commit", &e);
	state_close(st);
	row("fill: 2 keys per domain, 7 transitions", (size_t)n, now_s() - t0, 0);
}

/* The daemon's tick: each domain's keys from the database, then its plan. */
static void bench_tick(const char *db, struct conf_domain *domains, int n)
{
	struct state *st = NULL;
	struct dkr_error e = { 0 };
	struct plan p = { 0 };
	size_t due = 0, keys_seen = 0;
	double t0;
	struct rusage ru;

	if (state_open(db, false, &st, &e) != DKR_OK)
		die("open", &e);

	t0 = now_s();
	for (int i = 0; i < n; i++) {
		struct state_key *keys = NULL;
		size_t nk = 0;

		if (state_keys_list(st, domains[i].domain, &keys, &nk, &e) != DKR_OK)
			die("list", &e);
		p.n = 0;
		plan_domain(&domains[i], keys, nk, NOW, false, &p);
		for (size_t a = 0; a < p.n; a++)
			due += p.v[a].due <= NOW;
		keys_seen += nk;
		free(keys);
	}
	getrusage(RUSAGE_SELF, &ru);
	row("(a) list + plan each domain, in process", (size_t)n, now_s() - t0, ru.ru_maxrss);

	/* Every domain waits: k1's withdrawal in two days, k2's successor in 85. */
	if (keys_seen != 2 * (size_t)n || due != 0)
		fprintf(stderr, "bench_plan: %zu keys, %zu actions due now; expected %d and 0\n",
			keys_seen, due, 2 * n);

	t0 = now_s();
	for (int i = 0; i < n; i++) {
		p.n = 0;
		plan_domain(&domains[i], NULL, 0, NOW, false, &p);
	}
	row("    plan_domain alone (no keys, no database)", (size_t)n, now_s() - t0, 0);

	plan_free(&p);
	state_close(st);
}

/* A configuration naming every domain of the database. */
static void conf_fill(const char *dir, const char *db, int n)
{
	char path[4200], secret[4200], domain[64];
	FILE *f;
	int fd;

	snprintf(secret, sizeof(secret), "%s/tsig.secret", dir);
	fd = open(secret, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || write(fd, "c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0MTI=\n", 45) != 45)
		die(secret, NULL);
	close(fd);

	snprintf(path, sizeof(path), "%s/dkimrot.conf", dir);
	f = fopen(path, "w");
	if (f == NULL)
		die(path, NULL);
	fprintf(f, "state_db = \"%s\";\n"
		"policy = { rotate_every = \"90d\"; grace = \"7d\"; ttl = 3600; };\n"
		"dns = ( { name = \"primary\"; type = \"rfc2136\"; server = \"127.0.0.1\";\n"
		"  tsig = { name = \"dkimrot\"; algorithm = \"hmac-sha256\";\n"
		"           secret_file = \"%s\"; }; } );\n"
		"mta = ( { name = \"courier\"; type = \"zdkimfilter\"; keys_dir = \"%s/keys\";\n"
		"  group = \"daemon\"; } );\n"
		"domains = (\n", db, secret, dir);
	for (int i = 0; i < n; i++) {
		domain_name(domain, sizeof(domain), i);
		fprintf(f, "  { domain = \"%s\"; dns = \"primary\"; mta = \"courier\"; }%s\n",
			domain, i + 1 < n ? "," : "");
	}
	fprintf(f, ");\n");
	if (fclose(f) != 0)
		die(path, NULL);
}

/* Run the binary with its output to `out`; wall time and the child's peak RSS. */
static void bench_cmd(const char *what, const char *bin, const char *conf,
		      const char *const *args, const char *out, size_t n)
{
	const char *argv[12] = { bin, "-q", "-c", conf };
	struct rusage ru;
	size_t k = 4;
	double t0;
	pid_t pid;
	int st;

	while (*args != NULL && k < 11)
		argv[k++] = *args++;
	argv[k] = NULL;

	t0 = now_s();
	pid = fork();
	if (pid < 0)
		die("fork", NULL);
	if (pid == 0) {
		int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);

		if (fd < 0)
			_exit(127);
		dup2(fd, 1);
		setenv("DKIMROT_FAKE_NOW", "1803859200", 1);
		execv(bin, (char *const *)argv);
		_exit(127);
	}
	if (wait4(pid, &st, 0, &ru) != pid)
		die("wait4", NULL);
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		fprintf(stderr, "bench_plan: %s exited with status %d\n", what,
			WIFEXITED(st) ? WEXITSTATUS(st) : -1);
	row(what, n, now_s() - t0, ru.ru_maxrss);
}

static long file_size(const char *path)
{
	struct stat sb;

	return stat(path, &sb) == 0 ? (long)sb.st_size : -1;
}

int main(int argc, char **argv)
{
	const char *base = getenv("TMPDIR");
	const char *bin = getenv("DKIMROT_BIN");
	static const char *const plan_args[] = { "plan", NULL };
	static const char *const sim_args[] = { "plan", "--at", "+365d", NULL };
	static const char *const status_args[] = { "status", "--json", NULL };
	struct conf_dns dns = { .name = "primary", .type = DNS_RFC2136 };
	struct conf_mta mta = { .name = "courier", .type = MTA_ZDKIMFILTER };
	struct conf_domain *domains;
	char dir[4096], db[4200], conf[4200], out[4200];
	int n = argc > 1 ? atoi(argv[1]) : DOMAINS_DEFAULT;

	if (n <= 0 || n > 1000000) {
		fprintf(stderr, "usage: bench_plan [DOMAINS]  (1 to 1000000)\n");
		return 2;
	}
	if (bin == NULL || *bin == '\0')
		bin = "build/dkimrot";
	snprintf(dir, sizeof(dir), "%s/dkimrot-bench-plan-XXXXXX",
		 base != NULL && *base != '\0' ? base : "/tmp");
	if (mkdtemp(dir) == NULL)
		die("mkdtemp", NULL);
	snprintf(db, sizeof(db), "%s/state.db", dir);
	snprintf(conf, sizeof(conf), "%s/dkimrot.conf", dir);
	snprintf(out, sizeof(out), "%s/out", dir);

	printf("bench_plan: %d domains, 2 keys each (state %s)\n", n, dir);
	printf("%-44s %8s  %10s  %15s  %11s\n", "step", "domains", "time", "per domain",
	       "peak RSS");
	db_fill(db, n);

	domains = xcalloc((size_t)n, sizeof(*domains));
	for (int i = 0; i < n; i++) {
		domain_name(domains[i].domain, sizeof(domains[i].domain), i);
		domains[i].dns = &dns;
		domains[i].mta = &mta;
		domains[i].policy.algorithm = KEY_RSA2048;
		domains[i].policy.rotate_every = 90 * DAY;
		domains[i].policy.grace = 7 * DAY;
		domains[i].policy.ttl = 3600;
		snprintf(domains[i].policy.selector, sizeof(domains[i].policy.selector),
			 "k%%Y%%m%%d");
		domains[i].policy.propagation_timeout = 2 * 3600;
	}
	bench_tick(db, domains, n);
	free(domains);

	conf_fill(dir, db, n);
	printf("config: %ld bytes\n", file_size(conf));
	bench_cmd("(b) dkimrot plan", bin, conf, plan_args, out, (size_t)n);
	printf("    output: %ld bytes\n", file_size(out));
	bench_cmd("    dkimrot plan --at +365d", bin, conf, sim_args, out, (size_t)n);
	printf("    output: %ld bytes\n", file_size(out));
	bench_cmd("    dkimrot status --json", bin, conf, status_args, out, (size_t)n);
	printf("    output: %ld bytes\n", file_size(out));

	if (getenv("DKIMROT_KEEP_TMP") == NULL) {
		char cmd[4300];

		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
		if (system(cmd) != 0)
			fprintf(stderr, "bench_plan: could not remove %s\n", dir);
	}
	return 0;
}
