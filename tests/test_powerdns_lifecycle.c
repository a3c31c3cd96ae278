/*
 * test_powerdns_lifecycle.c - whole rotations through the real binary with
 * the backends other than RFC 2136: a real PowerDNS server (its HTTP API to
 * publish, its DNS port to check), and a command hook of our own that
 * applies each action to a BIND primary with nsupdate.  Each test runs
 * `rotate` twice, then the daemon until the first key is destroyed, and
 * checks DNS, the MTA link and the key files at every step.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../dnsupdate/dnsupdate.h"
#include "../rotator/rotator.h"
#include "helper.h"
#include "helper_bind.h"

#define PDNS_DNS_PORT 25600
#define PDNS_API_PORT 25601
#define BIND_PORT 25650
#define DOMAIN "example.test"

/* Bounds on waits, generous for a loaded two-core machine. */
#define ROTATE_LIMIT 90
#define DAEMON_LIMIT 90

static char *tmp;
static char conf_path[4096];
static char db_path[4096];
static bool pdns_running;
static struct bind_pair bp;
static pid_t daemon_pid;

static double mono_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void nap(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

static const char *dkimrot_bin(void)
{
	static char path[4096];
	const char *env = getenv("DKIMROT_BIN");

	if (env != NULL && *env != '\0')
		return env;
	snprintf(path, sizeof(path), "%s/build/dkimrot", test_top_dir());
	return path;
}

/* The end of a log file, for a failure message. */
static const char *log_tail(const char *name)
{
	static char buf[2048];
	char path[4096];
	char *text = NULL;
	size_t len = 0;

	snprintf(path, sizeof(path), "%s/%s", tmp, name);
	buf[0] = '\0';
	if (file_read_all(path, 16 * 1024 * 1024, &text, &len, NULL) == DKR_OK) {
		snprintf(buf, sizeof(buf), "%s", len > 1500 ? text + len - 1500 : text);
		free(text);
	}
	return buf;
}

/* Start `dkimrot -v -c CONF ARGS...` with its output appended to tmp/LOG. */
static pid_t dkimrot_spawn(const char *log, const char *const *args)
{
	char path[4096];
	const char *argv[16] = { dkimrot_bin(), "-v", "-c", conf_path };
	size_t n = 4;
	pid_t pid;

	while (*args != NULL && n < 15)
		argv[n++] = *args++;
	argv[n] = NULL;
	snprintf(path, sizeof(path), "%s/%s", tmp, log);

	pid = fork();
	cr_assert_geq(pid, 0, "fork: %s", strerror(errno));
	if (pid == 0) {
		int out = open(path, O_WRONLY | O_CREAT | O_APPEND, 0644);
		int in = open("/dev/null", O_RDONLY);

		if (out < 0 || in < 0)
			_exit(127);
		dup2(in, 0);
		dup2(out, 1);
		dup2(out, 2);
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	return pid;
}

/* Wait for `pid` at most `limit` seconds; its exit status (-1: a signal). */
static int dkimrot_wait(pid_t pid, int limit, const char *log)
{
	double end = mono_now() + limit;
	int st;

	for (;;) {
		pid_t r = waitpid(pid, &st, WNOHANG);

		if (r == pid)
			break;
		cr_assert_eq(r, 0, "waitpid: %s", strerror(errno));
		if (mono_now() > end) {
			kill(pid, SIGKILL);
			waitpid(pid, &st, 0);
			cr_assert_fail("dkimrot still runs after %d s; its log ends:\n%s", limit,
				       log_tail(log));
		}
		nap(50);
	}
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int rotate_run(void)
{
	static const char *const args[] = { "rotate", NULL };

	return dkimrot_wait(dkimrot_spawn("rotate.log", args), ROTATE_LIMIT, "rotate.log");
}

static void rotate_ok(void)
{
	int rc = rotate_run();

	cr_assert_eq(rc, EXIT_OK, "rotate exited %d; its log ends:\n%s", rc,
		     log_tail("rotate.log"));
}

/* The domain's keys as stored, oldest first; read-only, beside a daemon. */
static size_t keys_read(struct state_key **keys)
{
	struct state *st = NULL;
	struct dkr_error e = { 0 };
	size_t n = 0;

	cr_assert_eq(state_open(db_path, false, &st, &e), DKR_OK, "%s", e.msg);
	cr_assert_eq(state_keys_list(st, DOMAIN, keys, &n, &e), DKR_OK, "%s", e.msg);
	state_close(st);
	return n;
}

/* Ask each server for the key's record (or its absence), as the engine does. */
static bool served(const struct conf_server *srv, size_t n_srv, const char *selector,
		   const char *record, enum dnsu_want want)
{
	struct dnsu_query q = { .record = record, .want = want };
	struct dkr_error e = { 0 };
	struct dnsu_ns *ns = NULL;
	char name[DKR_NAME_MAX + 1];
	size_t n = 0;
	bool ok;

	snprintf(name, sizeof(name), "%s._domainkey." DOMAIN, selector);
	q.name = name;
	cr_assert_eq(dnsu_servers_resolve(srv, n_srv, &ns, &n, &e), DKR_OK, "%s", e.msg);
	cr_assert_eq(dnsu_check(ns, n, &q, 1, 2000, 2, &e), DKR_OK, "%s", e.msg);
	ok = q.all_ok;
	for (size_t i = 0; i < n && !ok; i++)
		cr_log_info("%s at %s: %s", name, ns[i].label, q.answers[i].detail);
	dnsu_query_free(&q, 1);
	free(ns);
	return ok;
}

/* The selector the MTA's link names: keys/DOMAIN -> DOMAIN.SEL.private. */
static void link_selector(char *out, size_t len)
{
	char path[4096], target[4096];
	ssize_t n;
	size_t pre = strlen(DOMAIN "."), suf = strlen(".private");

	snprintf(path, sizeof(path), "%s/keys/" DOMAIN, tmp);
	n = readlink(path, target, sizeof(target) - 1);
	cr_assert_gt(n, 0, "%s is not a link: %s", path, strerror(errno));
	target[n] = '\0';
	cr_assert_gt(strlen(target), pre + suf, "link target %s", target);
	cr_assert_eq(strncmp(target, DOMAIN ".", pre), 0, "link target %s", target);
	cr_assert_str_eq(target + strlen(target) - suf, ".private", "link target %s", target);
	target[strlen(target) - suf] = '\0';
	cr_assert(str_copy(out, len, target + pre), "link target %s", target);
}

/* A key signs no earlier than visible + negative caching, nor before its switch. */
static void assert_activated_in_time(const struct state_key *k, int64_t neg_ttl)
{
	cr_assert_eq(k->neg_ttl, neg_ttl, "%s: neg_ttl %lld", k->selector,
		     (long long)k->neg_ttl);
	cr_assert_geq(k->at[KS_ACTIVE], k->at[KS_VISIBLE] + k->neg_ttl, "%s", k->selector);
	cr_assert_geq(k->at[KS_ACTIVE], k->activate_after, "%s", k->selector);
	cr_assert_geq(k->at[KS_VISIBLE], k->at[KS_PUBLISHED], "%s", k->selector);
}

/*
 * The whole lifecycle against nameservers `ns`: two rotations, then the
 * daemon until the first key is destroyed.  `grace` + `ttl` are the config's.
 */
static void lifecycle_run(const struct conf_server *ns, size_t n_ns, int64_t neg_ttl,
			  int64_t grace_ttl)
{
	static const char *const daemon_args[] = { "daemon", "--foreground", NULL };
	struct state_key *keys = NULL;
	char first[STATE_SELECTOR_MAX], sel[STATE_SELECTOR_MAX];
	char first_path[1024];
	double end;
	size_t n;
	int rc;

	/* The first rotation: one key, signing, served by every nameserver. */
	rotate_ok();
	n = keys_read(&keys);
	cr_assert_eq(n, 1);
	cr_assert_eq(keys[0].state, KS_ACTIVE, "state %s", key_state_name(keys[0].state));
	assert_activated_in_time(&keys[0], neg_ttl);
	cr_assert(served(ns, n_ns, keys[0].selector, keys[0].record, DNSU_WANT_RECORD));
	link_selector(sel, sizeof(sel));
	cr_assert_str_eq(sel, keys[0].selector);
	snprintf(first, sizeof(first), "%s", keys[0].selector);
	snprintf(first_path, sizeof(first_path), "%s", keys[0].key_path);
	cr_assert_eq(access(first_path, R_OK), 0, "%s: %s", first_path, strerror(errno));
	free(keys);

	/* The second: the link moves, the old key stays published. */
	rotate_ok();
	n = keys_read(&keys);
	cr_assert_eq(n, 2);
	cr_assert_str_eq(keys[0].selector, first);
	cr_assert_eq(keys[0].state, KS_RETIRED, "state %s", key_state_name(keys[0].state));
	cr_assert_eq(keys[1].state, KS_ACTIVE, "state %s", key_state_name(keys[1].state));
	cr_assert_str_neq(keys[1].selector, first);
	assert_activated_in_time(&keys[1], neg_ttl);
	cr_assert_eq(keys[0].at[KS_RETIRED], keys[1].at[KS_ACTIVE]);
	link_selector(sel, sizeof(sel));
	cr_assert_str_eq(sel, keys[1].selector);
	cr_assert(served(ns, n_ns, keys[1].selector, keys[1].record, DNSU_WANT_RECORD));
	cr_assert(served(ns, n_ns, first, keys[0].record, DNSU_WANT_RECORD),
		  "the retired key must stay published for grace + ttl");
	free(keys);

	/* The daemon withdraws and destroys the old key after grace + ttl. */
	daemon_pid = dkimrot_spawn("daemon.log", daemon_args);
	end = mono_now() + DAEMON_LIMIT;
	for (;;) {
		n = keys_read(&keys);
		cr_assert_eq(n, 2);
		if (keys[0].state == KS_DESTROYED)
			break;
		cr_assert_eq(waitpid(daemon_pid, &rc, WNOHANG), 0, "the daemon died:\n%s",
			     log_tail("daemon.log"));
		cr_assert_lt(mono_now(), end, "%s still %s after %d s; the daemon log ends:\n%s",
			     first, key_state_name(keys[0].state), DAEMON_LIMIT,
			     log_tail("daemon.log"));
		free(keys);
		nap(200);
	}

	cr_assert_geq(keys[0].at[KS_WITHDRAWN], keys[0].at[KS_RETIRED] + grace_ttl);
	cr_assert_eq(keys[0].grace + keys[0].ttl, grace_ttl);
	cr_assert(served(ns, n_ns, first, keys[0].record, DNSU_WANT_GONE),
		  "the old record is still served");
	cr_assert_eq(access(first_path, F_OK), -1, "%s still exists", first_path);
	cr_assert_eq(keys[1].state, KS_ACTIVE);
	cr_assert(served(ns, n_ns, keys[1].selector, keys[1].record, DNSU_WANT_RECORD));
	link_selector(sel, sizeof(sel));
	cr_assert_str_eq(sel, keys[1].selector);
	cr_assert_eq(access(keys[1].key_path, R_OK), 0, "%s: %s", keys[1].key_path,
		     strerror(errno));
	free(keys);

	kill(daemon_pid, SIGTERM);
	rc = dkimrot_wait(daemon_pid, 20, "daemon.log");
	daemon_pid = 0;
	cr_assert_eq(rc, EXIT_OK, "the daemon exited %d on SIGTERM:\n%s", rc,
		     log_tail("daemon.log"));
}

/* A temporary directory the MTA's group ("daemon" here) may search. */
static void common_setup(const char *tag)
{
	tmp = test_tmpdir_make(tag);
	snprintf(conf_path, sizeof(conf_path), "%s/dkimrot.conf", tmp);
	snprintf(db_path, sizeof(db_path), "%s/state.db", tmp);
	cr_assert_eq(test_sh("chmod 0755 %s && mkdir -m 0750 %s/keys && chgrp daemon %s/keys",
			     tmp, tmp, tmp), 0);
}

static void conf_write(const char *dns_entry, const char *nameservers)
{
	char *text;

	if (asprintf(&text,
		     "state_db = \"%s\";\n"
		     "policy = { algorithm = \"rsa-2048\"; rotate_every = \"1h\"; grace = \"3s\";\n"
		     "  ttl = 2; selector = \"k%%Y%%m%%d\"; propagation_timeout = \"20s\"; };\n"
		     "dns = ( %s );\n"
		     "mta = ( { name = \"courier\"; type = \"zdkimfilter\";\n"
		     "  keys_dir = \"%s/keys\"; group = \"daemon\"; } );\n"
		     "domains = ( { domain = \"" DOMAIN "\"; dns = \"dns\"; mta = \"courier\";\n"
		     "  nameservers = [ %s ]; } );\n",
		     db_path, dns_entry, tmp, nameservers) < 0)
		abort();
	free(test_write_file(tmp, "dkimrot.conf", text, 0600));
	free(text);
}

static void teardown(void)
{
	if (daemon_pid > 0) {
		kill(daemon_pid, SIGKILL);
		waitpid(daemon_pid, NULL, 0);
		daemon_pid = 0;
	}
	if (pdns_running)
		test_sh("%s/scripts/pdns-test.sh stop %s/pdns", test_top_dir(), tmp);
	pdns_running = false;
	bind_pair_stop(&bp);
	test_tmpdir_remove(tmp);
	tmp = NULL;
}

/* ------------------------------------------------------------- PowerDNS */

static void pdns_setup(void)
{
	char *dns, *ns;

	common_setup("pdnslife");
	cr_assert_eq(test_sh("%s/scripts/pdns-test.sh start %s/pdns %d %d", test_top_dir(), tmp,
			     PDNS_DNS_PORT, PDNS_API_PORT), 0, "pdns_server did not start");
	pdns_running = true;

	/* SOA minimum 1: negative caching does not hold the switch up for long. */
	cr_assert_eq(test_sh("curl -sf -o /dev/null -X POST "
			     "-H \"X-API-Key: $(cat %s/pdns/api.key)\" "
			     "-d '{\"name\": \"" DOMAIN ".\", \"kind\": \"Native\", "
			     "\"nameservers\": [\"ns1." DOMAIN ".\"], \"rrsets\": [{\"name\": \""
			     DOMAIN ".\", \"type\": \"SOA\", \"ttl\": 60, \"changetype\": "
			     "\"REPLACE\", \"records\": [{\"content\": \"ns1." DOMAIN
			     ". hostmaster." DOMAIN ". 1 60 60 600 1\", \"disabled\": false}]}]}' "
			     "http://127.0.0.1:%d/api/v1/servers/localhost/zones", tmp,
			     PDNS_API_PORT), 0, "the zone could not be created");

	if (asprintf(&dns, "{ name = \"dns\"; type = \"powerdns\"; url = \"http://127.0.0.1:%d\";"
		     " server_id = \"localhost\"; api_key_file = \"%s/pdns/api.key\"; }",
		     PDNS_API_PORT, tmp) < 0 ||
	    asprintf(&ns, "\"127.0.0.1:%d\"", PDNS_DNS_PORT) < 0)
		abort();
	conf_write(dns, ns);
	free(dns);
	free(ns);
}

TestSuite(powerdns_lifecycle, .init = pdns_setup, .fini = teardown, .timeout = 240);

Test(powerdns_lifecycle, two_rotations_and_the_daemon_move_the_link_and_clear_the_old_record)
{
	struct conf_server ns = { .host = "127.0.0.1", .port = PDNS_DNS_PORT };
	struct state_key *keys = NULL;
	char verify[8192];

	lifecycle_run(&ns, 1, 1, 3 + 2);

	/* Mail signed with the key the MTA uses verifies against PowerDNS. */
	cr_assert_eq(keys_read(&keys), 2);
	snprintf(verify, sizeof(verify), "/usr/bin/python3 %s/scripts/dkim-verify.py %s %s "
		 DOMAIN " 127.0.0.1:%d >%s/verify.log 2>&1", test_top_dir(), keys[1].key_path,
		 keys[1].selector, PDNS_DNS_PORT, tmp);
	cr_assert_eq(test_sh("%s", verify), 0, "dkim-verify failed:\n%s", log_tail("verify.log"));
	free(keys);
}

/* `check` as the operator runs it: its output, read back from its log. */
static int check_run(char **out)
{
	static const char *const args[] = { "check", NULL };
	char path[4096];
	int rc = dkimrot_wait(dkimrot_spawn("check.log", args), ROTATE_LIMIT, "check.log");

	snprintf(path, sizeof(path), "%s/check.log", tmp);
	cr_assert_eq(file_read_all(path, 65536, out, NULL, NULL), DKR_OK);
	return rc;
}

Test(powerdns_lifecycle, check_asks_the_powerdns_api_for_the_zone)
{
	char *out = NULL;

	cr_assert_eq(check_run(&out), EXIT_OK, "%s", out);
	cr_assert(strstr(out, "ok       dns dns (powerdns): reachable; " DOMAIN " is in zone "
			      DOMAIN "\n") != NULL, "%s", out);
	free(out);
}

Test(powerdns_lifecycle, a_switch_the_mta_cannot_make_fails_the_rotation)
{
	struct conf_server ns = { .host = "127.0.0.1", .port = PDNS_DNS_PORT };
	struct state_key *keys = NULL;
	char want[4200], sel[STATE_SELECTOR_MAX];
	int rc;

	/* The MTA's group cannot reach its keys: the switch fails after "active". */
	cr_assert_eq(chmod(tmp, 0700), 0);
	rc = rotate_run();
	cr_assert_eq(rc, EXIT_FAIL, "rotate exited %d; its log ends:\n%s", rc,
		     log_tail("rotate.log"));
	snprintf(want, sizeof(want), "group 'daemon' lacks execute (search) permission on %s "
		 "(mode 0700", tmp);
	cr_assert_not_null(strstr(log_tail("rotate.log"), want), "log ends:\n%s",
			   log_tail("rotate.log"));
	cr_assert_eq(keys_read(&keys), 1);
	cr_assert_eq(keys[0].state, KS_ACTIVE);
	free(keys);

	/* Once the operator mends it, the next run finishes the switch and rotates. */
	cr_assert_eq(chmod(tmp, 0755), 0);
	rotate_ok();
	cr_assert_eq(keys_read(&keys), 2);
	cr_assert_eq(keys[0].state, KS_RETIRED);
	cr_assert_eq(keys[1].state, KS_ACTIVE);
	link_selector(sel, sizeof(sel));
	cr_assert_str_eq(sel, keys[1].selector);
	cr_assert(served(&ns, 1, keys[1].selector, keys[1].record, DNSU_WANT_RECORD));
	free(keys);
}

/* ------------------------------------------------------------ exec hook */

/*
 * The hook: JSON in on stdin (parsed with jq), publish and withdraw sent
 * to the BIND primary with nsupdate and TSIG, read answered from the
 * primary with dig.  Each run appends its action to hook.log.
 */
static const char hook_fmt[] =
	"#!/bin/sh\n"
	"# dkimrot DNS hook for the tests: the BIND primary through nsupdate.\n"
	"set -eu\n"
	"dir=%s\n"
	"port=%d\n"
	"in=$(cat)\n"
	"field() { printf '%%s' \"$in\" | jq -r \"$1\"; }\n"
	"action=$(field .action)\n"
	"name=$(field .name)\n"
	"zone=$(field .zone)\n"
	"echo \"$action\" >>\"$dir/hook.log\"\n"
	"tsig=\"hmac-sha256:dkimrot:$(cat \"$dir/bind/tsig.secret\")\"\n"
	"case \"$action\" in\n"
	"read)\n"
	"\t# One TXT record, its strings joined (DKIM records hold no quotes).\n"
	"\trec=$(dig @127.0.0.1 -p \"$port\" +short +norecurse TXT \"$name\" |\n"
	"\t\tsed 's/\" \"//g; s/^\"//; s/\"$//')\n"
	"\tif [ -z \"$rec\" ]; then echo '{\"record\": null}'\n"
	"\telse jq -cn --arg r \"$rec\" '{record: $r}'; fi ;;\n"
	"publish)\n"
	"\t# Strings of at most 255 bytes, each quoted.\n"
	"\tstrings=$(field '.record | [range(0; length; 255) as $i |\n"
	"\t\t\"\\\"\" + .[$i:$i + 255] + \"\\\"\"] | join(\" \")')\n"
	"\tprintf 'server 127.0.0.1 %%s\\nzone %%s\\nupdate delete %%s TXT\\n"
	"update add %%s %%s TXT %%s\\nsend\\n' \\\n"
	"\t\t\"$port\" \"$zone\" \"$name\" \"$name\" \"$(field .ttl)\" \"$strings\" |\n"
	"\t\tnsupdate -y \"$tsig\" ;;\n"
	"withdraw)\n"
	"\tprintf 'server 127.0.0.1 %%s\\nzone %%s\\nupdate delete %%s TXT\\nsend\\n' \\\n"
	"\t\t\"$port\" \"$zone\" \"$name\" | nsupdate -y \"$tsig\" ;;\n"
	"*)\n"
	"\techo \"unknown action $action\" >&2\n"
	"\texit 2 ;;\n"
	"esac\n";

static void exec_setup(void)
{
	char dir[4096];
	char *hook, *dns, *ns;

	common_setup("execlife");
	snprintf(dir, sizeof(dir), "%s/bind", tmp);
	cr_assert_eq(mkdir(dir, 0700), 0, "%s: %s", dir, strerror(errno));
	setenv("BIND_PAIR_NEG_TTL", "2", 1);
	cr_assert_eq(bind_pair_start(&bp, dir, BIND_PORT, DOMAIN, NULL), 0,
		     "the BIND pair did not start");

	if (asprintf(&hook, hook_fmt, tmp, BIND_PORT) < 0)
		abort();
	free(test_write_file(tmp, "hook.sh", hook, 0755));
	free(hook);

	if (asprintf(&dns, "{ name = \"dns\"; type = \"exec\"; command = \"%s/hook.sh\"; }",
		     tmp) < 0 ||
	    asprintf(&ns, "\"127.0.0.1:%d\", \"127.0.0.1:%d\"", BIND_PORT, BIND_PORT + 1) < 0)
		abort();
	conf_write(dns, ns);
	free(dns);
	free(ns);
}

TestSuite(exec_lifecycle, .init = exec_setup, .fini = teardown, .timeout = 240);

Test(exec_lifecycle, check_says_when_the_hook_cannot_be_run)
{
	char path[4096], want[4400];
	char *out = NULL;

	cr_assert_eq(check_run(&out), EXIT_OK, "%s", out);
	free(out);

	snprintf(path, sizeof(path), "%s/hook.sh", tmp);
	cr_assert_eq(chmod(path, 0600), 0);
	cr_assert_eq(check_run(&out), EXIT_FAIL, "%s", out);
	snprintf(want, sizeof(want), "error    dns dns (exec): exec \"dns\" (line 4): command "
		 "%s is not an executable file\n", path);
	cr_assert(strstr(out, want) != NULL, "%s", out);
	free(out);
}

Test(exec_lifecycle, a_hook_applying_nsupdate_drives_two_rotations_and_a_withdrawal)
{
	struct conf_server ns[2] = {
		{ .host = "127.0.0.1", .port = BIND_PORT },
		{ .host = "127.0.0.1", .port = BIND_PORT + 1 },
	};
	char path[4096];
	char *runs = NULL;

	lifecycle_run(ns, 2, 2, 3 + 2);

	/* Each change is a read, then the change itself: two runs each. */
	snprintf(path, sizeof(path), "%s/hook.log", tmp);
	cr_assert_eq(file_read_all(path, 65536, &runs, NULL, NULL), DKR_OK);
	cr_assert_str_eq(runs, "read\npublish\nread\npublish\nread\nwithdraw\n");
	free(runs);
}
