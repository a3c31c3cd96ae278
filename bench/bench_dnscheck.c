/*
 * bench_dnscheck.c - how long the every-nameserver check takes for many
 * records, against the obvious alternative of one `dig` per record and
 * server.  Starts a BIND primary and secondary on 127.0.0.1:25390/25391
 * (scripts/bind-pair.sh) whose zone already holds N DKIM records (written
 * into the zone file before the start: faster than N updates), checks them
 * all with dnsu_check, then runs dig for a sample of them and extrapolates.
 *
 *   DKIMROT_BENCH_N           records (default 10000)
 *   DKIMROT_BENCH_DIG_SAMPLE  dig runs to time (default 1000; 0: all 2N)
 *   DKIMROT_TOP               the source tree (default: the current directory)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../dnsupdate/dnsupdate.h"
#include "../rotator/rotator.h"

#define ZONE "bench.test"
#define PORT 25390
#define KEYS 8		/* distinct RSA-2048 keys, used in turn */

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static long env_long(const char *name, long def)
{
	const char *v = getenv(name);

	return v != NULL && *v != '\0' ? strtol(v, NULL, 10) : def;
}

/* KEYS records, and the zone lines for n names that use them in turn. */
static int zone_write(const char *dir, long n, char recs[KEYS][DKIM_RECORD_MAX])
{
	struct dkr_error e = { 0 };
	char path[4200];
	FILE *f;

	for (int k = 0; k < KEYS; k++) {
		snprintf(path, sizeof(path), "%s/key%d.pem", dir, k);
		if (keygen_generate(KEY_RSA2048, path, (gid_t)-1, recs[k], DKIM_RECORD_MAX,
				    &e) != DKR_OK) {
			fprintf(stderr, "bench: %s\n", e.msg);
			return -1;
		}
	}
	snprintf(path, sizeof(path), "%s/%s.extra", dir, ZONE);
	f = fopen(path, "w");
	if (f == NULL)
		return -1;
	for (long i = 0; i < n; i++) {
		char **chunks;
		size_t nc;

		if (dkim_record_split(recs[i % KEYS], &chunks, &nc, &e) != DKR_OK)
			return -1;
		fprintf(f, "b%ld._domainkey 3600 IN TXT", i);
		for (size_t c = 0; c < nc; c++)
			fprintf(f, " \"%s\"", chunks[c]);
		fputc('\n', f);
		free(chunks);
	}
	return fclose(f) == 0 ? 0 : -1;
}

/* Time dnsu_check over every record on both servers. */
static int run_check(long n, char recs[KEYS][DKIM_RECORD_MAX], double *secs, long *served)
{
	struct conf_server s[2] = { { "127.0.0.1", PORT }, { "127.0.0.1", PORT + 1 } };
	struct dnsu_query *q = calloc((size_t)n, sizeof(*q));
	char (*names)[64] = calloc((size_t)n, sizeof(*names));
	struct dnsu_ns *ns = NULL;
	size_t n_ns = 0;
	struct dkr_error e = { 0 };
	double t0;
	int rc = -1;

	if (q == NULL || names == NULL ||
	    dnsu_servers_resolve(s, 2, &ns, &n_ns, &e) != DKR_OK)
		goto out;
	for (long i = 0; i < n; i++) {
		snprintf(names[i], sizeof(names[i]), "b%ld._domainkey.%s", i, ZONE);
		q[i] = (struct dnsu_query){ .name = names[i], .record = recs[i % KEYS],
					    .want = DNSU_WANT_RECORD };
	}
	t0 = now_s();
	if (dnsu_check(ns, n_ns, q, (size_t)n, 2000, 2, &e) != DKR_OK) {
		fprintf(stderr, "bench: %s\n", e.msg);
		goto out;
	}
	*secs = now_s() - t0;
	*served = 0;
	for (long i = 0; i < n; i++)
		*served += q[i].all_ok;
	dnsu_query_free(q, (size_t)n);
	rc = 0;
out:
	free(ns);
	free(q);
	free(names);
	return rc;
}

/* One dig process per record and server, for `sample` of them. */
static int run_dig(const char *dir, long n, long sample, double *secs)
{
	char path[4200], cmd[4300];
	FILE *f;
	double t0;
	int st;

	snprintf(path, sizeof(path), "%s/dig.sh", dir);
	f = fopen(path, "w");
	if (f == NULL)
		return -1;
	for (long k = 0; k < sample; k++) {
		long i = (k / 2) * (n / (sample / 2 > 0 ? sample / 2 : 1)) % n;

		fprintf(f, "dig +norec +short +time=2 +tries=3 -p %d @127.0.0.1 "
			"b%ld._domainkey.%s TXT >/dev/null\n", PORT + (int)(k % 2), i, ZONE);
	}
	fclose(f);
	snprintf(cmd, sizeof(cmd), "sh '%s'", path);
	t0 = now_s();
	st = system(cmd);
	*secs = now_s() - t0;
	return st == 0 ? 0 : -1;
}

int main(void)
{
	long n = env_long("DKIMROT_BENCH_N", 10000);
	long sample = env_long("DKIMROT_BENCH_DIG_SAMPLE", 1000);
	const char *top = getenv("DKIMROT_TOP");
	static char recs[KEYS][DKIM_RECORD_MAX];
	char dir[] = "/tmp/dkimrot-bench-XXXXXX", cmd[8400];
	double t_check = 0, t_dig = 0, t_dig_all;
	long served = 0;
	int rc = 1;

	if (n < 1 || mkdtemp(dir) == NULL)
		return 1;
	if (top == NULL)
		top = ".";
	if (sample <= 0 || sample > 2 * n)
		sample = 2 * n;

	printf("bench_dnscheck: %ld records in zone %s, primary and secondary on "
	       "127.0.0.1:%d and :%d\n", n, ZONE, PORT, PORT + 1);
	if (zone_write(dir, n, recs) != 0)
		goto out;
	snprintf(cmd, sizeof(cmd), "sh '%s/scripts/bind-pair.sh' start '%s' %d %s >/dev/null",
		 top, dir, PORT, ZONE);
	if (system(cmd) != 0) {
		fprintf(stderr, "bench: the BIND pair did not start (logs in %s)\n", dir);
		goto stop;
	}

	if (run_check(n, recs, &t_check, &served) != 0)
		goto stop;
	printf("dnsu_check: %ld queries (%ld records x 2 servers) in %.3f s, %.0f queries/s; "
	       "%ld of %ld records served by both\n", 2 * n, n, t_check, 2 * n / t_check,
	       served, n);

	if (run_dig(dir, n, sample, &t_dig) != 0)
		fprintf(stderr, "bench: some dig runs failed\n");
	t_dig_all = t_dig * (double)(2 * n) / (double)sample;
	printf("dig: %ld runs in %.3f s (%.2f ms each)%s; %ld runs: %.1f s%s\n", sample,
	       t_dig, 1000 * t_dig / sample, sample < 2 * n ? ", a sample" : "", 2 * n,
	       t_dig_all, sample < 2 * n ? " (extrapolated)" : "");
	printf("ratio: one dig per record and server takes %.0f times as long as "
	       "dnsu_check\n", t_dig_all / t_check);
	rc = served == n ? 0 : 1;
stop:
	snprintf(cmd, sizeof(cmd), "sh '%s/scripts/bind-pair.sh' stop '%s'", top, dir);
	if (system(cmd) != 0)
		fprintf(stderr, "bench: stopping the BIND pair in %s failed\n", dir);
out:
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (getenv("DKIMROT_KEEP_TMP") == NULL && system(cmd) != 0)
		fprintf(stderr, "bench: could not remove %s\n", dir);
	return rc;
}
