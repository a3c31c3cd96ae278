/*
 * bench_keygen.c - what generating keys in-process saves over one
 * `openssl genpkey` process per key.  For RSA-2048 and Ed25519 it makes N
 * keys each way (alternating, so both see the same load on a shared
 * machine), each written to a file, and prints the median time per key and
 * the ratio.  In-process means keygen_generate(): key, PEM file (fsynced,
 * moved into place, directory fsynced) and DKIM record; the tool does no
 * fsync, so the key alone (EVP_PKEY_Q_keygen, no file) is timed as well.
 *
 *   bench_keygen [N]      N keys per algorithm and method (default 20)
 */
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "../rotator/rotator.h"

extern char **environ;

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static double in_process(enum key_alg alg, const char *path)
{
	char rec[DKIM_RECORD_MAX];
	struct dkr_error e = { 0 };
	double t0 = now_ms();

	if (keygen_generate(alg, path, (gid_t)-1, rec, sizeof(rec), &e) != DKR_OK) {
		fprintf(stderr, "bench_keygen: %s\n", e.msg);
		exit(1);
	}
	return now_ms() - t0;
}

static double key_only(enum key_alg alg)
{
	double t0 = now_ms();
	EVP_PKEY *k = alg == KEY_ED25519 ? EVP_PKEY_Q_keygen(NULL, NULL, "ED25519")
					 : EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	double t = now_ms() - t0;

	if (k == NULL) {
		fprintf(stderr, "bench_keygen: EVP_PKEY_Q_keygen failed\n");
		exit(1);
	}
	EVP_PKEY_free(k);
	return t;
}

static double one_process(enum key_alg alg, const char *path)
{
	char *rsa[] = { "openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt",
			"rsa_keygen_bits:2048", "-out", (char *)path, NULL };
	char *ed[] = { "openssl", "genpkey", "-algorithm", "ED25519", "-out", (char *)path,
		       NULL };
	posix_spawn_file_actions_t fa;
	double t0 = now_ms();
	pid_t pid;
	int st;

	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
	if (posix_spawnp(&pid, "openssl", &fa, NULL, alg == KEY_ED25519 ? ed : rsa,
			 environ) != 0 || waitpid(pid, &st, 0) != pid || !WIFEXITED(st) ||
	    WEXITSTATUS(st) != 0) {
		fprintf(stderr, "bench_keygen: openssl genpkey failed\n");
		exit(1);
	}
	posix_spawn_file_actions_destroy(&fa);
	return now_ms() - t0;
}

static void run(enum key_alg alg, int n, const char *dir)
{
	double *a = calloc((size_t)n, sizeof(double));
	double *b = calloc((size_t)n, sizeof(double));
	double *c = calloc((size_t)n, sizeof(double));
	char path[4096];
	double ma, mb, mc;

	for (int i = 0; i < n; i++) {
		snprintf(path, sizeof(path), "%s/in-%s-%d.private", dir, key_alg_name(alg), i);
		a[i] = in_process(alg, path);
		unlink(path);
		snprintf(path, sizeof(path), "%s/tool-%s-%d.pem", dir, key_alg_name(alg), i);
		b[i] = one_process(alg, path);
		unlink(path);
		c[i] = key_only(alg);
	}
	ma = median(a, n);
	mb = median(b, n);
	mc = median(c, n);
	printf("%-9s %4d  %10.3f ms  %10.3f ms  %6.2fx  %10.3f ms\n", key_alg_name(alg), n,
	       ma, mb, mb / ma, mc);
	free(a);
	free(b);
	free(c);
}

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 20;
	char dir[] = "/tmp/dkimrot-bench-keygen-XXXXXX";

	if (n < 1 || mkdtemp(dir) == NULL) {
		fprintf(stderr, "usage: bench_keygen [N >= 1]\n");
		return 2;
	}
	printf("median time per key (file written both ways)\n");
	printf("%-9s %4s  %13s  %13s  %7s  %13s\n", "algorithm", "N", "in-process",
	       "openssl tool", "ratio", "key alone");
	run(KEY_RSA2048, n, dir);
	run(KEY_ED25519, n, dir);
	rmdir(dir);
	return 0;
}
