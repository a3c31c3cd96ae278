/*
 * bench_state.c - how the state database copes with 100,000 domains:
 * inserting their keys in one transaction, moving them all one step,
 * listing 200,000 keys at once, key by key and domain by domain, and the
 * cost of one transition committed on its own (one fsync each).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../state/state.h"

#define DOMAINS 100000
#define SINGLE_COMMITS 200

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *step, const struct dkr_error *e)
{
	fprintf(stderr, "bench_state: %s: %s\n", step, e->msg);
	exit(1);
}

static void report(const char *what, size_t n, double secs)
{
	printf("%-46s %8zu  %8.3f s  %8.2f us each\n", what, n, secs, secs * 1e6 / (double)n);
}

static void domain_name(char *buf, size_t len, int i)
{
	snprintf(buf, len, "d%06d.example", i);
}

static void insert_all(struct state *st, const char *selector, int64_t created)
{
	struct state_key k;
	struct dkr_error e = { 0 };
	double t0 = now_s();
	char what[64];

	if (state_begin(st, &e) != DKR_OK)
		die("begin", &e);
	for (int i = 0; i < DOMAINS; i++) {
		memset(&k, 0, sizeof(k));
		domain_name(k.domain, sizeof(k.domain), i);
		snprintf(k.selector, sizeof(k.selector), "%s", selector);
		snprintf(k.zone, sizeof(k.zone), "%s", k.domain);
		k.at[KS_CREATED] = created;
		k.ttl = 3600;
		k.grace = 604800;
		snprintf(k.key_path, sizeof(k.key_path), "/var/lib/dkimrot/keys/%s/%s.pem",
			 k.domain, selector);
		snprintf(k.record, sizeof(k.record), "v=DKIM1; k=rsa; p=%0392d", i);
		if (state_key_insert(st, &k, &e) != DKR_OK)
			die("insert", &e);
	}
	if (state_commit(st, &e) != DKR_OK)
		die("commit", &e);
	snprintf(what, sizeof(what), "insert %d keys (selector %s), one commit", DOMAINS,
		 selector);
	report(what, DOMAINS, now_s() - t0);
}

static void transition_all(struct state *st)
{
	struct dkr_error e = { 0 };
	double t0 = now_s();

	if (state_begin(st, &e) != DKR_OK)
		die("begin", &e);
	for (int64_t id = 1; id <= DOMAINS; id++)
		if (state_key_transition(st, id, KS_CREATED, KS_PUBLISHED, 2000, "bench",
					 &e) != DKR_OK)
			die("transition", &e);
	if (state_commit(st, &e) != DKR_OK)
		die("commit", &e);
	report("transition 100000 keys, one commit", DOMAINS, now_s() - t0);
}

static void transition_single(struct state *st)
{
	struct dkr_error e = { 0 };
	double t0 = now_s();

	for (int64_t id = 1; id <= SINGLE_COMMITS; id++)
		if (state_key_transition(st, id, KS_PUBLISHED, KS_VISIBLE, 3000, "bench",
					 &e) != DKR_OK)
			die("transition", &e);
	report("transition, one commit (fsync) each", SINGLE_COMMITS, now_s() - t0);
}

static int count_key(const struct state_key *k, void *arg, struct dkr_error *e)
{
	(void)k;
	(void)e;
	(*(size_t *)arg)++;
	return DKR_OK;
}

static void list_all(struct state *st, const char *who)
{
	struct state_key *keys = NULL;
	struct dkr_error e = { 0 };
	size_t n = 0;
	double t0 = now_s();
	char what[64];

	if (state_keys_list(st, NULL, &keys, &n, &e) != DKR_OK)
		die("list", &e);
	snprintf(what, sizeof(what), "%s: state_keys_list(NULL) (%zu MB)", who,
		 n * sizeof(*keys) >> 20);
	report(what, n, now_s() - t0);
	free(keys);

	n = 0;
	t0 = now_s();
	if (state_keys_each(st, NULL, false, count_key, &n, &e) != DKR_OK)
		die("each", &e);
	snprintf(what, sizeof(what), "%s: state_keys_each(NULL)", who);
	report(what, n, now_s() - t0);
}

static void list_by_domain(struct state *st)
{
	struct state_key *keys = NULL;
	struct dkr_error e = { 0 };
	char **domains = NULL;
	size_t n = 0, nd = 0, total = 0;
	double t0 = now_s();

	if (state_domains_list(st, &domains, &nd, &e) != DKR_OK)
		die("domains", &e);
	report("state_domains_list", nd, now_s() - t0);

	t0 = now_s();
	for (size_t i = 0; i < nd; i++) {
		if (state_keys_list(st, domains[i], &keys, &n, &e) != DKR_OK)
			die("list domain", &e);
		total += n;
		free(keys);
	}
	report("state_keys_list(domain) for every domain", nd, now_s() - t0);
	if (total != 2 * DOMAINS)
		fprintf(stderr, "bench_state: listed %zu keys, expected %d\n", total,
			2 * DOMAINS);
	state_strings_free(domains, nd);
}

static void remove_all(const char *dir)
{
	static const char *const files[] = { "state.db", "state.db-wal", "state.db-shm",
					     "state.db.lock" };
	char path[4200];

	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, files[i]);
		unlink(path);
	}
	rmdir(dir);
}

int main(void)
{
	const char *base = getenv("TMPDIR");
	char dir[4096], path[4200];
	struct state *st = NULL, *rd = NULL;
	struct dkr_error e = { 0 };
	double t0;

	snprintf(dir, sizeof(dir), "%s/dkimrot-bench-state-XXXXXX",
		 base != NULL && *base != '\0' ? base : "/tmp");
	if (mkdtemp(dir) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	snprintf(path, sizeof(path), "%s/state.db", dir);

	t0 = now_s();
	if (state_open(path, true, &st, &e) != DKR_OK)
		die("open", &e);
	report("create and open a new database", 1, now_s() - t0);

	insert_all(st, "k1", 1000);
	insert_all(st, "k2", 1500);
	transition_all(st);
	transition_single(st);
	list_all(st, "writer");
	list_by_domain(st);
	state_close(st);

	t0 = now_s();
	if (state_open(path, false, &rd, &e) != DKR_OK)
		die("open reader", &e);
	report("open a reader", 1, now_s() - t0);
	list_all(rd, "reader");
	state_close(rd);

	remove_all(dir);
	return 0;
}
