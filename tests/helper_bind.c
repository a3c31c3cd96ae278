/*
 * helper_bind.c - start and stop a BIND primary and secondary for a test
 * through scripts/bind-pair.sh, and fill the conf structures that point at
 * them.  See helper_bind.h.
 */
#include <dirent.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "helper.h"
#include "helper_bind.h"

static void server_set(struct conf_server *s, const char *host, int port)
{
	memset(s, 0, sizeof(*s));
	snprintf(s->host, sizeof(s->host), "%s", host);
	s->port = (uint16_t)port;
}

/* Read "primary PID" and "secondary PID" from the script's output. */
static void pids_read(struct bind_pair *bp, const char *path)
{
	FILE *f = fopen(path, "r");
	char role[32];
	long pid;

	if (f == NULL)
		return;
	while (fscanf(f, "%31s %ld", role, &pid) == 2) {
		if (strcmp(role, "primary") == 0)
			bp->primary_pid = (pid_t)pid;
		else if (strcmp(role, "secondary") == 0)
			bp->secondary_pid = (pid_t)pid;
	}
	fclose(f);
}

char *bind_secret(const struct bind_pair *bp, const char *file)
{
	char *path, *secret = NULL;
	size_t len = 0;
	FILE *f;

	if (asprintf(&path, "%s/%s", bp->dir, file) < 0)
		abort();
	f = fopen(path, "r");
	free(path);
	if (f == NULL)
		return NULL;
	if (getline(&secret, &len, f) < 0) {
		free(secret);
		secret = NULL;
	} else {
		secret[strcspn(secret, "\r\n")] = '\0';
	}
	fclose(f);
	return secret;
}

int bind_pair_start(struct bind_pair *bp, const char *dir, int port, ...)
{
	char zones[2048] = "", out[4200];
	const char *z;
	va_list ap;
	size_t used = 0;
	int st;

	memset(bp, 0, sizeof(*bp));
	snprintf(bp->dir, sizeof(bp->dir), "%s", dir);
	bp->port = port;

	va_start(ap, port);
	while ((z = va_arg(ap, const char *)) != NULL) {
		if (bp->zone[0] == '\0')
			snprintf(bp->zone, sizeof(bp->zone), "%s", z);
		used += (size_t)snprintf(zones + used, sizeof(zones) - used, " '%s'", z);
		if (used >= sizeof(zones))
			abort();
	}
	va_end(ap);
	if (bp->zone[0] == '\0')
		snprintf(bp->zone, sizeof(bp->zone), "example.test");

	snprintf(out, sizeof(out), "%s/start.out", dir);
	st = test_sh("sh '%s/scripts/bind-pair.sh' start '%s' %d%s >'%s' 2>&1",
		     test_top_dir(), dir, port, zones, out);
	if (st != 0) {
		test_sh("cat '%s' >&2", out);
		return -1;
	}
	bp->running = true;
	pids_read(bp, out);

	snprintf(bp->secret_path, sizeof(bp->secret_path), "%s/tsig.secret", dir);
	server_set(&bp->primary, "127.0.0.1", port);
	server_set(&bp->secondary, "127.0.0.1", port + 1);
	server_set(&bp->primary6, "::1", port);
	server_set(&bp->secondary6, "::1", port + 1);

	snprintf(bp->dns.name, sizeof(bp->dns.name), "primary");
	bp->dns.type = DNS_RFC2136;
	bp->dns.line = 1;
	bp->dns.server = bp->primary;
	snprintf(bp->dns.tsig_name, sizeof(bp->dns.tsig_name), "dkimrot");
	snprintf(bp->dns.tsig_algorithm, sizeof(bp->dns.tsig_algorithm), "hmac-sha256");
	snprintf(bp->dns.tsig_secret_file, sizeof(bp->dns.tsig_secret_file), "%s",
		 bp->secret_path);
	bp->dns.tsig_secret = bind_secret(bp, "tsig.secret");
	bp->dns.timeout = 10;
	return bp->dns.tsig_secret != NULL ? 0 : -1;
}

void bind_pair_stop(struct bind_pair *bp)
{
	if (bp == NULL || bp->dir[0] == '\0')
		return;
	test_sh("sh '%s/scripts/bind-pair.sh' stop '%s' >/dev/null 2>&1", test_top_dir(),
		bp->dir);
	bp->running = false;
	free(bp->dns.tsig_secret);
	bp->dns.tsig_secret = NULL;
}

/* True once every thread of `pid` is stopped ('T' in /proc/PID/task/T/stat). */
static bool all_threads_stopped(pid_t pid)
{
	char dir[64], path[128], buf[256];
	struct dirent *de;
	bool stopped = true;
	DIR *dh;

	snprintf(dir, sizeof(dir), "/proc/%ld/task", (long)pid);
	dh = opendir(dir);
	if (dh == NULL)
		return false;
	while (stopped && (de = readdir(dh)) != NULL) {
		FILE *f;
		char *paren;

		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%.32s/stat", dir, de->d_name);
		f = fopen(path, "r");
		if (f == NULL)
			continue;
		if (fgets(buf, sizeof(buf), f) != NULL && (paren = strrchr(buf, ')')) != NULL)
			stopped = paren[1] == ' ' && paren[2] == 'T';
		fclose(f);
	}
	closedir(dh);
	return stopped;
}

void bind_secondary_pause(struct bind_pair *bp)
{
	struct timespec nap = { 0, 10 * 1000 * 1000 };

	if (bp->secondary_pid <= 0)
		return;
	kill(bp->secondary_pid, SIGSTOP);

	/*
	 * kill() returns before every thread has stopped: one already running
	 * on the other core could still answer a query sent at once.  Wait
	 * (at most 2 s) until all of them have.
	 */
	for (int i = 0; i < 200 && !all_threads_stopped(bp->secondary_pid); i++)
		nanosleep(&nap, NULL);
}

void bind_secondary_resume(struct bind_pair *bp)
{
	if (bp->secondary_pid > 0)
		kill(bp->secondary_pid, SIGCONT);
}

int bind_axfr(const struct bind_pair *bp, const char *zone, const char *out_file)
{
	int st;

	st = test_sh("dig +noall +answer +tcp -p %d @127.0.0.1 "
		     "'%s' AXFR > '%s.raw' && grep -q SOA '%s.raw' && "
		     "awk '$4 != \"SOA\"' '%s.raw' | sort > '%s'",
		     bp->port, zone, out_file, out_file, out_file, out_file);
	return st == 0 ? 0 : -1;
}
