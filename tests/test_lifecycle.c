/*
 * test_lifecycle.c - the whole lifecycle and every command end to end: the
 * real dkimrot binary against a real BIND primary and secondary, with the
 * MTA's files in a temporary directory.  What the binary did is judged from
 * outside: the nameservers asked directly (and by python3-dkim through
 * scripts/dkim-verify.py), the MTA's link and tables, the state database
 * opened read-only, the exit status and the messages.
 *
 * Ports: 25400 + 2k for the k-th BIND pair (k < 25).  Timings are short:
 * the zones' negative TTL is 2 s (BIND_PAIR_NEG_TTL) and the policy is
 * RUN_POLICY_FAST (tests/helper_run.h).
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../dnsupdate/dnsupdate.h"
#include "../rotator/rotator.h"
#include "../state/state.h"
#include "helper.h"
#include "helper_bind.h"
#include "helper_run.h"

#define PORT_BASE 25400
#define DOMAIN "example.test"
#define RUN_TIMEOUT 60		/* seconds any one command may take */
#define DIR_MAX 1024		/* the test's own paths: short enough to compose */

/* One test's world: its directory, nameservers, configuration. */
static struct {
	char *dir;
	struct bind_pair bp;
	char *conf;
	char keys[DIR_MAX];
	char state_db[DIR_MAX];
	char log[DIR_MAX];
} fx;

static void fx_fini(void)
{
	run_bg_kill_all();
	bind_pair_stop(&fx.bp);
	free(fx.conf);
	test_tmpdir_remove(fx.dir);
	memset(&fx, 0, sizeof(fx));
}

static void fx_paths(const char *tag)
{
	fx.dir = test_tmpdir_make(tag);
	snprintf(fx.keys, sizeof(fx.keys), "%s/keys", fx.dir);
	snprintf(fx.state_db, sizeof(fx.state_db), "%s/state.db", fx.dir);
	snprintf(fx.log, sizeof(fx.log), "%s/daemon.log", fx.dir);
}

static void pair_ports_check(int port)
{
	cr_assert(run_port_free(port) && run_port_free(port + 1),
		  "port %d or %d is in use already (another run of these tests at the same "
		  "time?)", port, port + 1);
}

/* The k-th BIND pair serving `zone2` too when not NULL, and a config for it. */
static void fx_start(const char *tag, int k, const struct run_conf *c, const char *zone2)
{
	char bind_dir[PATH_MAX];
	struct run_conf dflt = { 0 };

	fx_paths(tag);
	pair_ports_check(PORT_BASE + 2 * k);
	snprintf(bind_dir, sizeof(bind_dir), "%s/bind", fx.dir);
	cr_assert_eq(mkdir(bind_dir, 0700), 0);
	setenv("BIND_PAIR_NEG_TTL", "2", 1);
	cr_assert_eq(bind_pair_start(&fx.bp, bind_dir, PORT_BASE + 2 * k, DOMAIN, zone2, NULL),
		     0, "the BIND pair on port %d did not start", PORT_BASE + 2 * k);
	fx.conf = run_conf_write(fx.dir, &fx.bp, c != NULL ? c : &dflt);
}

/* A configuration without nameservers, for what fails before any DNS. */
static void fx_start_offline(const char *tag)
{
	struct run_conf c = { 0 };
	char *secret;

	fx_paths(tag);
	secret = test_write_file(fx.dir, "tsig.secret", "c2VjcmV0LXNlY3JldC1zZWNyZXQ=\n", 0600);
	snprintf(fx.bp.secret_path, sizeof(fx.bp.secret_path), "%s", secret);
	fx.bp.port = PORT_BASE + 48;	/* nothing listens: nothing may ask */
	fx.conf = run_conf_write(fx.dir, &fx.bp, &c);
	free(secret);
}

/* ---------------------------------------------------------------- helpers */

/* Run dkimrot -c <the test's config> with the arguments given (NULL-ended). */
#define DKIMROT(r, env, ...) run_dkimrot((r), (env), RUN_TIMEOUT, "-c", fx.conf, __VA_ARGS__, NULL)

static void rotate_ok(const char *const *env)
{
	struct run_result r;

	DKIMROT(&r, env, "rotate");
	cr_assert_eq(r.status, 0, "rotate exited %d:\n%s", r.status, r.err);
	run_result_free(&r);
}

/* The selector the zdkimfilter link names now ("" when none). */
static void link_selector(const char *domain, char *sel, size_t len)
{
	char target[PATH_MAX];

	if (run_link_read(fx.keys, domain, target, sizeof(target), sel, len) != 0)
		sel[0] = '\0';
}

static void key_file_of(const char *domain, const char *sel, char *out, size_t len)
{
	snprintf(out, len, "%s/%s.%s.private", fx.keys, domain, sel);
}

/* Both servers of the pair, as the every-nameserver check asks them. */
static void pair_servers(struct dnsu_ns **ns, size_t *n)
{
	struct conf_server s[2] = { fx.bp.primary, fx.bp.secondary };
	struct dkr_error e = { 0 };

	cr_assert_eq(dnsu_servers_resolve(s, 2, ns, n, &e), DKR_OK, "%s", e.msg);
	cr_assert_eq(*n, 2);
}

/* Ask both servers about `name`; every answer must be what `want` says. */
static void pair_check(const char *name, const char *record, enum dnsu_want want,
		       const char *ok_a, const char *ok_b)
{
	struct dnsu_query q = { name, record, want, NULL, false };
	struct dkr_error e = { 0 };
	struct dnsu_ns *ns;
	size_t n;

	pair_servers(&ns, &n);
	cr_assert_eq(dnsu_check(ns, n, &q, 1, 2000, 2, &e), DKR_OK, "%s", e.msg);
	for (size_t i = 0; i < n; i++) {
		const char *d = q.answers[i].detail;

		cr_assert(q.answers[i].ok, "%s at %s: %s", name, ns[i].label, d);
		cr_assert(strcmp(d, ok_a) == 0 || strcmp(d, ok_b) == 0, "%s at %s: %s", name,
			  ns[i].label, d);
	}
	dnsu_query_free(&q, 1);
	free(ns);
}

/*
 * Both servers serve, with the AA bit, exactly the record of the key in
 * `key_file`: byte for byte (read over TCP) and as the engine's check sees it.
 */
static void served_exactly(const char *domain, const char *sel, const char *key_file)
{
	const struct conf_server *servers[2] = { &fx.bp.primary, &fx.bp.secondary };
	char record[DKIM_RECORD_MAX], name[DKR_NAME_MAX + 1];
	struct dkr_error e = { 0 };

	cr_assert_eq(keygen_record_from_file(key_file, KEY_RSA2048, record, sizeof(record), &e),
		     DKR_OK, "%s", e.msg);
	snprintf(name, sizeof(name), "%s._domainkey.%s", sel, domain);
	for (size_t i = 0; i < 2; i++) {
		char *txt = NULL;

		cr_assert_eq(dnsu_read_txt(servers[i], name, &txt, &e), DKR_OK, "%s", e.msg);
		cr_assert_not_null(txt, "port %d has no TXT at %s", servers[i]->port, name);
		cr_assert_str_eq(txt, record, "port %d serves another record at %s",
				 servers[i]->port, name);
		free(txt);
	}
	pair_check(name, record, DNSU_WANT_RECORD, "serves the key", "serves the key");
}

static void gone_everywhere(const char *domain, const char *sel)
{
	char name[DKR_NAME_MAX + 1];

	snprintf(name, sizeof(name), "%s._domainkey.%s", sel, domain);
	pair_check(name, NULL, DNSU_WANT_GONE, "NXDOMAIN (gone)", "NODATA (gone)");
}

/* The stored keys of `domain`, read as any reader would while a daemon runs. */
static struct state_key *keys_read(const char *domain, size_t *n)
{
	struct state_key *keys = NULL;
	struct state *st;
	struct dkr_error e = { 0 };

	cr_assert_eq(state_open(fx.state_db, false, &st, &e), DKR_OK, "%s", e.msg);
	cr_assert_eq(state_keys_list(st, domain, &keys, n, &e), DKR_OK, "%s", e.msg);
	state_close(st);
	return keys;
}

static const struct state_key *key_by_selector(const struct state_key *keys, size_t n,
					       const char *sel)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(keys[i].selector, sel) == 0)
			return &keys[i];
	cr_assert_fail("no key %s in the state database", sel);
	return NULL;
}

/* Poll the database until key `sel` of `domain` reaches `want` (bounded). */
static bool wait_key_state(const char *domain, const char *sel, enum key_state want,
			   int timeout_ms)
{
	int64_t deadline = run_ms() + timeout_ms;

	for (;;) {
		size_t n = 0;
		struct state_key *keys = keys_read(domain, &n);
		bool there = false;

		for (size_t i = 0; i < n; i++)
			if ((sel == NULL || strcmp(keys[i].selector, sel) == 0) &&
			    keys[i].state >= want)
				there = true;
		free(keys);
		if (there)
			return true;
		if (run_ms() >= deadline)
			return false;
		usleep(200 * 1000);
	}
}

static size_t count_key_files(const char *dir)
{
	struct run_result r;
	char *const argv[] = { "/bin/sh", "-c", "ls \"$0\" | grep -c '\\.private$'",
			       (char *)dir, NULL };
	size_t n;

	run_program(&r, NULL, 10, argv);
	n = strtoul(r.out, NULL, 10);
	run_result_free(&r);
	return n;
}

static json_t *json_of(const struct run_result *r)
{
	json_error_t je;
	json_t *doc = json_loads(r->out, JSON_REJECT_DUPLICATES, &je);

	cr_assert_not_null(doc, "not one JSON document (%s, line %d):\n%s", je.text, je.line,
			   r->out);
	return doc;
}

/* Exactly these fields, no others: the names are a contract. */
static void fields_exactly(json_t *obj, const char *what, const char *const *names)
{
	size_t n = 0;

	cr_assert(json_is_object(obj), "%s is not an object", what);
	for (; names[n] != NULL; n++)
		cr_assert_not_null(json_object_get(obj, names[n]), "%s lacks \"%s\"", what,
				   names[n]);
	cr_assert_eq(json_object_size(obj), n, "%s has %zu fields, not %zu", what,
		     json_object_size(obj), n);
}

/* "2027-03-01T00:00:00Z": RFC 3339, UTC, whole seconds.  Returns the time. */
static int64_t rfc3339(json_t *v, const char *what)
{
	const char *s = json_string_value(v);
	char back[32];
	int64_t t = 0;

	cr_assert_not_null(s, "%s is not a string", what);
	cr_assert(strlen(s) == 20 && s[4] == '-' && s[7] == '-' && s[10] == 'T' &&
			  s[13] == ':' && s[16] == ':' && s[19] == 'Z',
		  "%s \"%s\" is not RFC 3339 UTC", what, s);
	cr_assert_eq(time_parse(s, 0, &t, NULL), DKR_OK, "%s \"%s\"", what, s);
	cr_assert_str_eq(time_format(t, back, sizeof(back)), s, "%s", what);
	return t;
}

static json_t *status_domain(json_t *doc, const char *domain)
{
	json_t *d;
	size_t i;

	json_array_foreach(json_object_get(doc, "domains"), i, d)
		if (strcmp(json_string_value(json_object_get(d, "domain")), domain) == 0)
			return d;
	cr_assert_fail("status has no domain %s", domain);
	return NULL;
}

static json_t *status_key(json_t *doc, const char *domain, const char *sel)
{
	json_t *k;
	size_t i;

	json_array_foreach(json_object_get(status_domain(doc, domain), "keys"), i, k)
		if (strcmp(json_string_value(json_object_get(k, "selector")), sel) == 0)
			return k;
	cr_assert_fail("status has no key %s for %s", sel, domain);
	return NULL;
}

static const char *jstr(json_t *obj, const char *field)
{
	const char *s = json_string_value(json_object_get(obj, field));

	cr_assert_not_null(s, "\"%s\" is not a string", field);
	return s;
}

static void daemon_start(struct run_bg *bg)
{
	cr_assert_eq(run_bg_start(bg, fx.log, NULL, "-c", fx.conf, "daemon", "--foreground",
				  NULL), 0);
	cr_assert(run_file_wait_for(fx.log, "daemon started", 1, 20000),
		  "the daemon did not start:\n%s", run_file_read(fx.log));
}

static void daemon_term(struct run_bg *bg)
{
	int st = run_bg_stop(bg, SIGTERM, 30000);

	cr_assert_eq(st, 0, "the daemon exited %d on SIGTERM; log:\n%s", st,
		     run_file_read(fx.log));
	cr_assert(run_file_wait_for(fx.log, "daemon stopping on signal", 1, 0));
}

/* ------------------------------------------------------------- rotation */

Test(lifecycle, after_rotate_both_servers_serve_the_linked_key_and_mail_signed_with_it_verifies,
     .fini = fx_fini, .timeout = 120)
{
	char sel[64], key_file[PATH_MAX], ns1[64], ns2[64], line[256];
	struct run_result r;

	fx_start("rotate", 0, NULL, NULL);
	rotate_ok(NULL);

	link_selector(DOMAIN, sel, sizeof(sel));
	cr_assert_neq(sel[0], '\0', "no link %s/%s after rotate", fx.keys, DOMAIN);
	key_file_of(DOMAIN, sel, key_file, sizeof(key_file));
	served_exactly(DOMAIN, sel, key_file);

	/* The key signs: python3-dkim verifies against each server alone. */
	snprintf(ns1, sizeof(ns1), "127.0.0.1:%d", fx.bp.port);
	snprintf(ns2, sizeof(ns2), "127.0.0.1:%d", fx.bp.port + 1);
	{
		char verify[PATH_MAX];
		char *const argv[] = { "/usr/bin/python3", verify, key_file, sel, DOMAIN, ns1,
				       ns2, NULL };

		snprintf(verify, sizeof(verify), "%s/scripts/dkim-verify.py", test_top_dir());
		run_program(&r, NULL, RUN_TIMEOUT, argv);
	}
	cr_assert_eq(r.status, 0, "dkim-verify.py exited %d:\n%s%s", r.status, r.out, r.err);
	snprintf(line, sizeof(line), "verified %s._domainkey.%s at %s\n", sel, DOMAIN, ns1);
	cr_assert_not_null(strstr(r.out, line), "%s", r.out);
	snprintf(line, sizeof(line), "verified %s._domainkey.%s at %s\n", sel, DOMAIN, ns2);
	cr_assert_not_null(strstr(r.out, line), "%s", r.out);
	run_result_free(&r);
}

Test(lifecycle, after_grace_and_ttl_the_daemon_withdraws_the_old_record_and_removes_its_key_file,
     .fini = fx_fini, .timeout = 150)
{
	char old_sel[64], new_sel[64], old_file[PATH_MAX];
	struct run_result r;
	struct run_bg bg;
	json_t *doc, *old, *cur;
	int64_t retired, withdrawn, destroyed;

	fx_start("grace", 1, NULL, NULL);
	rotate_ok(NULL);
	link_selector(DOMAIN, old_sel, sizeof(old_sel));
	key_file_of(DOMAIN, old_sel, old_file, sizeof(old_file));

	/* The second rotation retires the first key: it stays served for now. */
	rotate_ok(NULL);
	link_selector(DOMAIN, new_sel, sizeof(new_sel));
	cr_assert_str_neq(new_sel, old_sel);
	served_exactly(DOMAIN, old_sel, old_file);

	daemon_start(&bg);
	cr_assert(wait_key_state(DOMAIN, old_sel, KS_DESTROYED, 60000),
		  "key %s not destroyed within 60 s; log:\n%s", old_sel, run_file_read(fx.log));

	gone_everywhere(DOMAIN, old_sel);
	cr_assert_eq(access(old_file, F_OK), -1, "%s still exists", old_file);
	cr_assert_eq(errno, ENOENT);
	{
		char new_file[PATH_MAX];

		key_file_of(DOMAIN, new_sel, new_file, sizeof(new_file));
		served_exactly(DOMAIN, new_sel, new_file);
	}

	/* status --json tells the same story, while the daemon still runs. */
	DKIMROT(&r, NULL, "status", "--json");
	cr_assert_eq(r.status, 0, "%s", r.err);
	doc = json_of(&r);
	cr_assert_str_eq(jstr(status_domain(doc, DOMAIN), "active_selector"), new_sel);
	old = status_key(doc, DOMAIN, old_sel);
	cur = status_key(doc, DOMAIN, new_sel);
	cr_assert_str_eq(jstr(old, "state"), "destroyed");
	cr_assert_str_eq(jstr(cur, "state"), "active");
	retired = rfc3339(json_object_get(json_object_get(old, "entered"), "retired"), "retired");
	withdrawn = rfc3339(json_object_get(json_object_get(old, "entered"), "withdrawn"),
			    "withdrawn");
	destroyed = rfc3339(json_object_get(json_object_get(old, "entered"), "destroyed"),
			    "destroyed");
	cr_assert_geq(withdrawn, retired + 5 + 3, "withdrawn before grace 5 s + ttl 3 s");
	cr_assert_geq(destroyed, withdrawn);
	cr_assert(json_is_null(json_object_get(old, "next")));
	/* The signing key's next event is the making of its successor. */
	cr_assert_str_eq(jstr(json_object_get(cur, "next"), "action"), "create");
	json_decref(doc);
	run_result_free(&r);

	daemon_term(&bg);
}

Test(lifecycle, the_link_never_moves_before_the_secondary_serves_the_new_key,
     .fini = fx_fini, .timeout = 150)
{
	char old_sel[64], sel[64], lag[128], lead[128];
	struct state_key *keys;
	const struct state_key *pending;
	struct run_result r;
	size_t n;

	fx_start("lag", 2, NULL, NULL);
	rotate_ok(NULL);
	link_selector(DOMAIN, old_sel, sizeof(old_sel));

	bind_secondary_pause(&fx.bp);
	DKIMROT(&r, NULL, "rotate", "--timeout", "5s");
	cr_assert_eq(r.status, 3, "rotate --timeout 5s exited %d:\n%s", r.status, r.err);
	cr_assert_lt(r.seconds, 30.0, "rotate --timeout 5s took %.1f s", r.seconds);

	/* The message names the secondary as the one that lags, not the primary. */
	snprintf(lag, sizeof(lag), "waiting for 127.0.0.1:%d: timeout", fx.bp.port + 1);
	snprintf(lead, sizeof(lead), "127.0.0.1:%d:", fx.bp.port);
	cr_assert_not_null(strstr(r.err, "not served by every nameserver after 5s: "), "%s",
			   r.err);
	cr_assert_not_null(strstr(strstr(r.err, "not served by every"), lag), "%s", r.err);
	cr_assert_null(strstr(strstr(r.err, "not served by every"), lead), "%s", r.err);
	run_result_free(&r);

	link_selector(DOMAIN, sel, sizeof(sel));
	cr_assert_str_eq(sel, old_sel, "the link moved while the secondary lagged");
	keys = keys_read(DOMAIN, &n);
	cr_assert_eq(n, 2);
	pending = &keys[1];
	cr_assert_eq(pending->state, KS_PUBLISHED, "%s is %s", pending->selector,
		     key_state_name(pending->state));
	cr_assert_eq(key_by_selector(keys, n, old_sel)->state, KS_ACTIVE);

	/* Once the secondary answers, the same pending key is used. */
	bind_secondary_resume(&fx.bp);
	rotate_ok(NULL);
	link_selector(DOMAIN, sel, sizeof(sel));
	cr_assert_str_eq(sel, pending->selector, "the link does not name the pending key");
	free(keys);

	keys = keys_read(DOMAIN, &n);
	cr_assert_eq(n, 2, "a second new key was made");
	cr_assert_eq(key_by_selector(keys, n, sel)->state, KS_ACTIVE);
	cr_assert_eq(key_by_selector(keys, n, old_sel)->state, KS_RETIRED);
	cr_assert_eq(count_key_files(fx.keys), 2);
	free(keys);
}

/*
 * A retired key whose withdrawal is due waits for the same paused server:
 * two keys waiting in turn must not keep one run of the engine busy past
 * rotate's deadline (it once took 90 s, sixteen checks of 6 s each).
 */
Test(lifecycle, rotate_timeout_holds_while_an_old_key_also_waits_for_the_lagging_server,
     .fini = fx_fini, .timeout = 150)
{
	/* The shortest grace and TTL, so the old key's withdrawal is soon due. */
	const struct run_conf c = {
		.policy = "algorithm = \"rsa-2048\"; rotate_every = \"1m\"; grace = \"1s\"; "
			  "ttl = 1; selector = \"s%H%M%S\"; propagation_timeout = \"20s\";",
	};
	char first[64], signer[64], sel[64];
	struct state_key *keys;
	struct run_result r;
	int64_t due;
	size_t n;

	fx_start("lag2", 12, &c, NULL);
	rotate_ok(NULL);
	link_selector(DOMAIN, first, sizeof(first));
	rotate_ok(NULL);
	link_selector(DOMAIN, signer, sizeof(signer));

	/* Wait (bounded) until the first key's record is due to be withdrawn. */
	keys = keys_read(DOMAIN, &n);
	cr_assert_eq(n, 2);
	due = key_by_selector(keys, n, first)->at[KS_RETIRED] + 1 + 1;
	free(keys);
	cr_assert_leq(due - clock_now(), 2);
	while (clock_now() <= due)
		usleep(100 * 1000);

	bind_secondary_pause(&fx.bp);
	DKIMROT(&r, NULL, "rotate", "--timeout", "5s");
	cr_assert_eq(r.status, 3, "rotate --timeout 5s exited %d:\n%s", r.status, r.err);
	cr_assert_lt(r.seconds, 25.0, "rotate --timeout 5s took %.1f s:\n%s", r.seconds, r.err);
	run_result_free(&r);
	link_selector(DOMAIN, sel, sizeof(sel));
	cr_assert_str_eq(sel, signer, "the link moved while the secondary lagged");

	/* Resumed: the pending key signs, the first key goes on to be withdrawn. */
	bind_secondary_resume(&fx.bp);
	rotate_ok(NULL);
	keys = keys_read(DOMAIN, &n);
	cr_assert_eq(n, 3, "%zu keys", n);
	link_selector(DOMAIN, sel, sizeof(sel));
	cr_assert_str_eq(sel, keys[2].selector);
	cr_assert_eq(keys[2].state, KS_ACTIVE);
	cr_assert_eq(key_by_selector(keys, n, signer)->state, KS_RETIRED);
	cr_assert_geq(key_by_selector(keys, n, first)->state, KS_RETIRED);
	free(keys);
}

/* ------------------------------------------------------------------ plan */

/* An action as planned, or as the history says it happened. */
struct step {
	char action[16];
	char selector[64];
	int64_t at;
};

static int step_cmp(const void *pa, const void *pb)
{
	const struct step *a = pa, *b = pb;
	static const char *const order[] = { "create", "publish", "confirm", "activate",
					     "retire", "withdraw", "destroy" };
	int ka = 0, kb = 0;

	if (a->at != b->at)
		return a->at < b->at ? -1 : 1;
	for (int i = 0; i < 7; i++) {
		if (strcmp(a->action, order[i]) == 0)
			ka = i;
		if (strcmp(b->action, order[i]) == 0)
			kb = i;
	}
	return ka - kb;
}

/* What a transition to `to` means as a plan action. */
static const char *action_of(enum key_state to)
{
	static const char *const names[KS_COUNT] = {
		[KS_PUBLISHED] = "publish",   [KS_VISIBLE] = "confirm", [KS_ACTIVE] = "activate",
		[KS_RETIRED] = "retire",      [KS_WITHDRAWN] = "withdraw",
		[KS_DESTROYED] = "destroy",
	};

	return names[to];
}

/* Every history row of every key, and each key's creation, as steps. */
static size_t history_steps(struct state_key *keys, size_t n, struct step *out, size_t cap)
{
	struct state *st;
	struct dkr_error e = { 0 };
	size_t used = 0;

	cr_assert_eq(state_open(fx.state_db, false, &st, &e), DKR_OK, "%s", e.msg);
	for (size_t i = 0; i < n; i++) {
		struct state_history *h = NULL;
		size_t nh = 0;

		cr_assert_lt(used, cap);
		snprintf(out[used].action, sizeof(out[used].action), "create");
		snprintf(out[used].selector, sizeof(out[used].selector), "%s", keys[i].selector);
		out[used++].at = keys[i].at[KS_CREATED];
		cr_assert_eq(state_history_list(st, keys[i].id, &h, &nh, &e), DKR_OK, "%s", e.msg);
		for (size_t j = 0; j < nh; j++) {
			cr_assert_lt(used, cap);
			cr_assert_eq(h[j].to, h[j].from + 1);
			snprintf(out[used].action, sizeof(out[used].action), "%s",
				 action_of(h[j].to));
			snprintf(out[used].selector, sizeof(out[used].selector), "%s",
				 keys[i].selector);
			out[used++].at = h[j].at;
		}
		free(h);
	}
	state_close(st);
	return used;
}

/*
 * `plan --at` is a dry run of the very planner the daemon runs.  From one
 * active key, the next minute and a bit hold: the next key created
 * P + N before the switch (rotate_every after the first key's activation),
 * published and confirmed, activated at the switch (which retires the old
 * key, the same action), the old record withdrawn grace + ttl later and
 * its file destroyed.  The daemon, run on the real clock, must then store
 * exactly these steps, in this order, none before its planned time and
 * none much after (the plan assumes instant propagation).  Both run on the
 * real clock: a fixed one (DKIMROT_FAKE_NOW) would make every wait of the
 * daemon (a nameserver, negative caching, grace) last for ever.
 */
Test(lifecycle, what_plan_at_listed_is_what_the_daemon_then_did_action_by_action,
     .fini = fx_fini, .timeout = 200)
{
	const struct run_conf c = {
		.policy = "algorithm = \"rsa-2048\"; rotate_every = \"1m\"; grace = \"5s\"; "
			  "ttl = 3; selector = \"lc\"; propagation_timeout = \"20s\";",
	};
	const struct step expect[] = {
		{ "create", "lc-2", 38 },   { "publish", "lc-2", 38 }, { "confirm", "lc-2", 38 },
		{ "activate", "lc-2", 60 }, { "withdraw", "lc", 68 },  { "destroy", "lc", 68 },
	};
	const size_t n_expect = sizeof(expect) / sizeof(expect[0]);
	struct step before[64], after[64], done[64];
	size_t n_before, n_after, n_done = 0, n;
	struct state_key *keys;
	struct run_result r;
	struct run_bg bg;
	json_t *doc, *a;
	int64_t activated, now;
	size_t i;

	fx_start("plan", 3, &c, NULL);
	rotate_ok(NULL);
	keys = keys_read(DOMAIN, &n);
	cr_assert_eq(n, 1);
	cr_assert_str_eq(keys[0].selector, "lc");
	activated = keys[0].at[KS_ACTIVE];
	n_before = history_steps(keys, n, before, 64);
	free(keys);

	/* The plan, from the real now, eighty seconds ahead. */
	DKIMROT(&r, NULL, "plan", "--json", "--at", "+80s");
	cr_assert_eq(r.status, 0, "%s", r.err);
	doc = json_of(&r);
	now = rfc3339(json_object_get(doc, "now"), "now");
	cr_assert_lt(now, activated + 30, "the plan came too late to be compared");
	cr_assert_eq(json_array_size(json_object_get(doc, "actions")), n_expect, "%s", r.out);
	json_array_foreach(json_object_get(doc, "actions"), i, a) {
		cr_assert_str_eq(jstr(a, "action"), expect[i].action, "action %zu:\n%s", i, r.out);
		cr_assert_str_eq(jstr(a, "selector"), expect[i].selector, "action %zu", i);
		cr_assert_eq(rfc3339(json_object_get(a, "due"), "due"),
			     activated + expect[i].at, "action %zu (%s) due", i, expect[i].action);
	}
	json_decref(doc);
	run_result_free(&r);

	/* The daemon on the same (real) clock, until the old key is destroyed. */
	daemon_start(&bg);
	cr_assert(wait_key_state(DOMAIN, "lc", KS_DESTROYED, 150000),
		  "lc not destroyed within 150 s; log:\n%s", run_file_read(fx.log));
	daemon_term(&bg);

	/* What it stored since the plan: the history rows that are new. */
	keys = keys_read(DOMAIN, &n);
	cr_assert_eq(n, 2, "%zu keys, not lc and lc-2", n);
	n_after = history_steps(keys, n, after, 64);
	for (size_t j = 0; j < n_after; j++) {
		bool old = false;

		for (size_t k = 0; k < n_before && !old; k++)
			old = strcmp(after[j].action, before[k].action) == 0 &&
			      strcmp(after[j].selector, before[k].selector) == 0;
		if (!old)
			done[n_done++] = after[j];
	}
	free(keys);

	/* The activation retires the old signer in the same action, same second. */
	for (size_t j = 0; j < n_done; j++) {
		if (strcmp(done[j].action, "retire") != 0)
			continue;
		cr_assert_str_eq(done[j].selector, "lc");
		for (size_t k = 0; k < n_done; k++)
			if (strcmp(done[k].action, "activate") == 0)
				cr_assert_eq(done[j].at, done[k].at, "lc retired at another time "
					     "than lc-2 was activated");
		done[j] = done[--n_done];
		break;
	}

	qsort(done, n_done, sizeof(done[0]), step_cmp);
	cr_assert_eq(n_done, n_expect, "the daemon did %zu steps, the plan listed %zu",
		     n_done, n_expect);
	for (size_t j = 0; j < n_done; j++) {
		int64_t due = activated + expect[j].at;

		cr_assert_str_eq(done[j].action, expect[j].action, "step %zu", j);
		cr_assert_str_eq(done[j].selector, expect[j].selector, "step %zu", j);
		cr_assert_geq(done[j].at, due, "%s %s ran %llds before its time", done[j].action,
			      done[j].selector, (long long)(due - done[j].at));
		cr_assert_leq(done[j].at, due + 15, "%s %s ran %llds late", done[j].action,
			      done[j].selector, (long long)(done[j].at - due));
	}
}

/* ----------------------------------------------------------------- check */

Test(lifecycle, check_lists_every_problem_of_a_bad_config_with_file_and_line_and_exits_2,
     .fini = fx_fini, .timeout = 60)
{
	char *conf, want[PATH_MAX + 200];
	struct run_result r;

	fx_paths("checkbad");
	conf = test_write_file(fx.dir, "bad.conf",
			       "state_db = \"state.db\";\n"
			       "policy = {\n"
			       "  grase = \"5s\";\n"
			       "  ttl = \"3\";\n"
			       "  selector = \"a.b\";\n"
			       "};\n"
			       "mta = ( { name = \"m\"; type = \"zdkimfilter\"; keys_dir = \"k\"; "
			       "group = \"daemon\"; } );\n"
			       "domains = ( { domain = \"example.test\"; dns = \"nowhere\"; "
			       "mta = \"m\"; } );\n",
			       0644);
	run_dkimrot(&r, NULL, RUN_TIMEOUT, "-c", conf, "check", NULL);
	cr_assert_eq(r.status, 2, "check exited %d:\n%s", r.status, r.err);

	snprintf(want, sizeof(want), "dkimrot: %s:3: policy: unknown key \"grase\" (valid keys: "
		 "algorithm, rotate_every, grace, ttl, selector, propagation_timeout)\n", conf);
	cr_assert_not_null(strstr(r.err, want), "%s", r.err);
	snprintf(want, sizeof(want), "dkimrot: %s:4: policy: ttl must be an integer\n", conf);
	cr_assert_not_null(strstr(r.err, want), "%s", r.err);
	snprintf(want, sizeof(want), "dkimrot: %s:5: policy: selector \"a.b\" contains a dot: "
		 "a selector must be one DNS label\n", conf);
	cr_assert_not_null(strstr(r.err, want), "%s", r.err);
	snprintf(want, sizeof(want), "dkimrot: %s:8: domain \"example.test\": dns \"nowhere\" "
		 "is not defined in the dns list\n", conf);
	cr_assert_not_null(strstr(r.err, want), "%s", r.err);
	cr_assert_eq(run_count(r.err, "dkimrot: "), 4, "%s", r.err);
	cr_assert_str_eq(r.out, "");
	run_result_free(&r);
	free(conf);
}

Test(lifecycle, check_names_a_keys_directory_the_mta_group_cannot_search,
     .fini = fx_fini, .timeout = 60)
{
	char want[PATH_MAX + 200];
	struct run_result r;

	fx_start("checkdir", 4, NULL, NULL);
	cr_assert_eq(chmod(fx.keys, 0740), 0);
	DKIMROT(&r, NULL, "check");
	cr_assert_eq(r.status, 1, "check exited %d:\n%s%s", r.status, r.out, r.err);
	snprintf(want, sizeof(want), "error    %s (mta m): group 'daemon' lacks execute (search) "
		 "permission on %s (mode 0740)\n", DOMAIN, fx.keys);
	cr_assert_not_null(strstr(r.out, want), "%s", r.out);
	cr_assert_not_null(strstr(r.out, "\n1 errors, "), "%s", r.out);
	run_result_free(&r);
}

Test(lifecycle, check_reports_a_wrong_tsig_secret_as_badsig, .fini = fx_fini, .timeout = 60)
{
	struct run_conf c = { 0 };
	char want[PATH_MAX + 300];
	struct run_result r;
	char *wrong;

	fx_start("checksig", 5, NULL, NULL);
	wrong = test_write_file(fx.dir, "wrong.secret",
				"d3Jvbmctd3Jvbmctd3Jvbmctd3Jvbmctd3Jvbmctd3Jvbmc=\n", 0600);
	c.secret_file = wrong;
	free(fx.conf);
	fx.conf = run_conf_write(fx.dir, &fx.bp, &c);

	DKIMROT(&r, NULL, "check");
	cr_assert_eq(r.status, 1, "check exited %d:\n%s%s", r.status, r.out, r.err);
	snprintf(want, sizeof(want), "error    dns primary (rfc2136): probing zone %s with an "
		 "empty update: 127.0.0.1:%d rejected the signature of TSIG key dkimrot (BADSIG): "
		 "the secret in %s is not the one the server has for that key\n", DOMAIN,
		 fx.bp.port, wrong);
	cr_assert_not_null(strstr(r.out, want), "%s", r.out);
	cr_assert_not_null(strstr(r.out, "\n1 errors, "), "%s", r.out);
	run_result_free(&r);
	free(wrong);
}

Test(lifecycle, check_passes_a_good_setup_with_exit_0, .fini = fx_fini, .timeout = 60)
{
	char want[PATH_MAX + 300];
	struct run_result r;

	fx_start("checkok", 6, NULL, NULL);
	DKIMROT(&r, NULL, "check");
	cr_assert_eq(r.status, 0, "check exited %d:\n%s%s", r.status, r.out, r.err);
	snprintf(want, sizeof(want), "ok       %s (mta m): key directory usable by the MTA's "
		 "group\n", DOMAIN);
	cr_assert_not_null(strstr(r.out, want), "%s", r.out);
	snprintf(want, sizeof(want), "ok       dns primary (rfc2136): reachable; %s is in zone "
		 "%s; an empty update signed with the TSIG key is accepted\n", DOMAIN, DOMAIN);
	cr_assert_not_null(strstr(r.out, want), "%s", r.out);
	cr_assert_not_null(strstr(r.out, "\n0 errors, "), "%s", r.out);
	cr_assert_eq(run_count(r.out, "error "), 0, "%s", r.out);
	run_result_free(&r);
}

/* ---------------------------------------------------------------- daemon */

Test(lifecycle, a_second_daemon_on_the_same_state_is_refused_naming_the_lock_and_its_pid,
     .fini = fx_fini, .timeout = 90)
{
	char want[PATH_MAX + 200];
	struct run_result r;
	struct run_bg bg;

	fx_start("twodaemons", 7, NULL, NULL);
	daemon_start(&bg);

	DKIMROT(&r, NULL, "daemon", "--foreground");
	cr_assert_eq(r.status, 1, "the second daemon exited %d:\n%s", r.status, r.err);
	snprintf(want, sizeof(want), "dkimrot: state database %s is in use by another dkimrot "
		 "writer (pid %ld holds the lock %s.lock)\n", fx.state_db, (long)bg.pid,
		 fx.state_db);
	cr_assert_str_eq(r.err, want);
	run_result_free(&r);

	/* So is a rotate: one writer at a time. */
	DKIMROT(&r, NULL, "rotate");
	cr_assert_eq(r.status, 1, "rotate exited %d:\n%s", r.status, r.err);
	cr_assert_str_eq(r.err, want);
	run_result_free(&r);

	cr_assert(run_bg_alive(&bg), "the first daemon died");
	daemon_term(&bg);
}

Test(lifecycle, sighup_keeps_the_old_config_when_the_new_is_broken_and_adds_a_new_domain_when_good,
     .fini = fx_fini, .timeout = 120)
{
	const struct run_conf two = { .domains = { DOMAIN, "second.test", NULL } };
	char sel[64], want[PATH_MAX + 100], *broken;
	struct run_bg bg;

	fx_start("sighup", 8, NULL, "second.test");
	daemon_start(&bg);
	cr_assert(wait_key_state(DOMAIN, NULL, KS_ACTIVE, 30000), "no key for %s; log:\n%s",
		  DOMAIN, run_file_read(fx.log));

	/* A broken file: the daemon says so and keeps going with what it had. */
	broken = test_write_file(fx.dir, "dkimrot.conf", "policy = { ttl = 3;\n", 0644);
	free(broken);
	cr_assert_eq(kill(bg.pid, SIGHUP), 0);
	snprintf(want, sizeof(want), "configuration %s is invalid: keeping the one loaded "
		 "before", fx.conf);
	cr_assert(run_file_wait_for(fx.log, want, 1, 20000), "log:\n%s", run_file_read(fx.log));
	snprintf(want, sizeof(want), "dkimrot: %s:2: ", fx.conf);
	cr_assert(run_file_wait_for(fx.log, want, 1, 0), "no line named; log:\n%s",
		  run_file_read(fx.log));
	cr_assert(run_bg_alive(&bg), "the daemon died on a broken config");

	/* A good one with a second domain: it gets a key of its own. */
	free(fx.conf);
	fx.conf = run_conf_write(fx.dir, &fx.bp, &two);
	cr_assert_eq(kill(bg.pid, SIGHUP), 0);
	snprintf(want, sizeof(want), "configuration %s reloaded: 2 domains", fx.conf);
	cr_assert(run_file_wait_for(fx.log, want, 1, 20000), "log:\n%s", run_file_read(fx.log));
	cr_assert(wait_key_state("second.test", NULL, KS_ACTIVE, 30000),
		  "no key for second.test; log:\n%s", run_file_read(fx.log));
	link_selector("second.test", sel, sizeof(sel));
	cr_assert_neq(sel[0], '\0', "no link for second.test");
	{
		char key_file[PATH_MAX];

		key_file_of("second.test", sel, key_file, sizeof(key_file));
		served_exactly("second.test", sel, key_file);
	}
	daemon_term(&bg);
}

Test(lifecycle, status_and_plan_answer_while_the_daemon_waits_for_a_nameserver,
     .fini = fx_fini, .timeout = 120)
{
	char lag[128];
	struct run_result r;
	struct run_bg bg;
	json_t *doc, *k, *a;
	size_t i;

	fx_start("readers", 9, NULL, NULL);
	bind_secondary_pause(&fx.bp);
	daemon_start(&bg);
	snprintf(lag, sizeof(lag), "waiting for 127.0.0.1:%d: timeout", fx.bp.port + 1);
	cr_assert(run_file_wait_for(fx.log, lag, 1, 30000), "log:\n%s", run_file_read(fx.log));

	/* The daemon holds the writer lock and is busy asking: readers go on. */
	DKIMROT(&r, NULL, "status", "--json");
	cr_assert_eq(r.status, 0, "%s", r.err);
	cr_assert_lt(r.seconds, 5.0, "status took %.1f s", r.seconds);
	doc = json_of(&r);
	cr_assert_eq(json_array_size(json_object_get(status_domain(doc, DOMAIN), "keys")), 1);
	k = json_array_get(json_object_get(status_domain(doc, DOMAIN), "keys"), 0);
	cr_assert_str_eq(jstr(k, "state"), "published");
	cr_assert_not_null(strstr(jstr(k, "last_error"), lag), "%s", r.out);
	json_decref(doc);
	run_result_free(&r);

	DKIMROT(&r, NULL, "plan", "--json");
	cr_assert_eq(r.status, 0, "%s", r.err);
	cr_assert_lt(r.seconds, 5.0, "plan took %.1f s", r.seconds);
	doc = json_of(&r);
	cr_assert_eq(json_array_size(json_object_get(doc, "actions")), 1, "%s", r.out);
	json_array_foreach(json_object_get(doc, "actions"), i, a)
		cr_assert_str_eq(jstr(a, "action"), "confirm");
	json_decref(doc);
	run_result_free(&r);

	bind_secondary_resume(&fx.bp);
	cr_assert(wait_key_state(DOMAIN, NULL, KS_ACTIVE, 40000), "log:\n%s",
		  run_file_read(fx.log));
	daemon_term(&bg);
}

/* -------------------------------------------------------------- OpenDKIM */

#define KT_FOREIGN                                                                     \
	"# KeyTable, partly kept by hand\n"                                            \
	"other._domainkey.other.test other.test:other:/etc/opendkim/keys/other.private\n" \
	"\n"
#define ST_FOREIGN                                \
	"# SigningTable (refile)\n"               \
	"*@other.test other._domainkey.other.test\n"

Test(lifecycle, rotate_through_opendkim_rewrites_both_tables_keeps_foreign_lines_and_reloads,
     .fini = fx_fini, .timeout = 120)
{
	char mta[4 * DIR_MAX + 256], kt_path[DIR_MAX], st_path[DIR_MAX], marker[DIR_MAX];
	char okeys[DIR_MAX], want_kt[2 * PATH_MAX], want_st[1024], key_file[PATH_MAX];
	struct run_conf c = { 0 };
	struct state_key *keys;
	char *text, *p;
	size_t n;

	fx_paths("opendkim");
	cr_assert_eq(chmod(fx.dir, 0711), 0);
	snprintf(okeys, sizeof(okeys), "%s/okeys", fx.dir);
	cr_assert_eq(test_sh("mkdir -m 0750 '%s' && chgrp daemon '%s'", okeys, okeys), 0);
	free(test_write_file(fx.dir, "KeyTable", KT_FOREIGN, 0640));
	free(test_write_file(fx.dir, "SigningTable", ST_FOREIGN, 0640));
	snprintf(kt_path, sizeof(kt_path), "%s/KeyTable", fx.dir);
	snprintf(st_path, sizeof(st_path), "%s/SigningTable", fx.dir);
	snprintf(marker, sizeof(marker), "%s/reloaded", fx.dir);
	snprintf(mta, sizeof(mta), "{ name = \"m\"; type = \"opendkim\"; key_table = \"%s\"; "
		 "signing_table = \"%s\"; key_dir = \"%s\"; group = \"daemon\"; "
		 "reload = \"echo >> %s\"; }", kt_path, st_path, okeys, marker);
	c.mta = mta;
	{
		char bind_dir[PATH_MAX];

		pair_ports_check(PORT_BASE + 2 * 11);
		snprintf(bind_dir, sizeof(bind_dir), "%s/bind", fx.dir);
		cr_assert_eq(mkdir(bind_dir, 0700), 0);
		setenv("BIND_PAIR_NEG_TTL", "2", 1);
		cr_assert_eq(bind_pair_start(&fx.bp, bind_dir, PORT_BASE + 2 * 11, DOMAIN, NULL),
			     0);
	}
	fx.conf = run_conf_write(fx.dir, &fx.bp, &c);

	/* Twice: the second switch must also drop the first key's line. */
	rotate_ok(NULL);
	rotate_ok(NULL);

	keys = keys_read(DOMAIN, &n);
	cr_assert_eq(n, 2);
	cr_assert_eq(keys[1].state, KS_ACTIVE);
	snprintf(key_file, sizeof(key_file), "%s/%s/%s.private", okeys, DOMAIN,
		 keys[1].selector);
	cr_assert_str_eq(keys[1].key_path, key_file);
	served_exactly(DOMAIN, keys[1].selector, key_file);

	/* Foreign lines kept byte for byte, ours naming the new selector only. */
	snprintf(want_kt, sizeof(want_kt), "%s%s._domainkey.%s %s:%s:%s\n", KT_FOREIGN,
		 keys[1].selector, DOMAIN, DOMAIN, keys[1].selector, key_file);
	text = run_file_read(kt_path);
	cr_assert_str_eq(text, want_kt);
	free(text);
	snprintf(want_st, sizeof(want_st), "%s*@%s %s._domainkey.%s\n", ST_FOREIGN, DOMAIN,
		 keys[1].selector, DOMAIN);
	text = run_file_read(st_path);
	cr_assert_str_eq(text, want_st);
	free(text);

	/* The reload command ran once per switch. */
	text = run_file_read(marker);
	cr_assert_not_null(text, "the reload command never ran");
	for (n = 0, p = text; *p != '\0'; p++)
		n += *p == '\n';
	cr_assert_eq(n, 2, "the reload command ran %zu times, not 2", n);
	free(text);
	free(keys);
}

/* ----------------------------------------------------------------- usage */

Test(lifecycle, an_unknown_command_exits_2_with_the_usage, .fini = fx_fini, .timeout = 30)
{
	const char want[] = "dkimrot: unknown command \"frobnicate\"\nusage: dkimrot ";
	struct run_result r;

	fx_start_offline("usage1");
	DKIMROT(&r, NULL, "frobnicate");
	cr_assert_eq(r.status, 2, "exited %d:\n%s", r.status, r.err);
	cr_assert_eq(strncmp(r.err, want, strlen(want)), 0, "%s", r.err);
	cr_assert_str_eq(r.out, "");
	run_result_free(&r);
}

Test(lifecycle, an_unknown_domain_exits_2_naming_it_for_every_command, .fini = fx_fini,
     .timeout = 30)
{
	const char *cmds[] = { "status", "plan", "rotate" };
	char want[PATH_MAX + 100];

	fx_start_offline("usage2");
	snprintf(want, sizeof(want), "dkimrot: %s: domain \"nope.test\" is not configured\n",
		 fx.conf);
	for (size_t i = 0; i < 3; i++) {
		struct run_result r;

		DKIMROT(&r, NULL, cmds[i], "nope.test");
		cr_assert_eq(r.status, 2, "%s exited %d:\n%s", cmds[i], r.status, r.err);
		cr_assert_str_eq(r.err, want, "%s", cmds[i]);
		run_result_free(&r);
	}
	cr_assert_eq(access(fx.state_db, F_OK), -1, "a usage error created the state database");
}

Test(lifecycle, a_bad_timeout_exits_2_naming_the_option, .fini = fx_fini, .timeout = 30)
{
	struct run_result r;

	fx_start_offline("usage3");
	DKIMROT(&r, NULL, "rotate", "--timeout", "5x");
	cr_assert_eq(r.status, 2, "exited %d:\n%s", r.status, r.err);
	cr_assert_str_eq(r.err, "dkimrot: rotate --timeout: invalid duration \"5x\" (expected a "
				"number with a unit s, m, h, d or w, like \"90d\")\n");
	run_result_free(&r);
	cr_assert_eq(access(fx.state_db, F_OK), -1, "a usage error created the state database");
}

/* ------------------------------------------------------------------ JSON */

static const char *const plan_fields[] = { "now", "until", "actions", NULL };
static const char *const action_fields[] = { "due",    "domain", "selector", "action",
					     "key_id", "reason", NULL };

Test(lifecycle, plan_json_on_a_fixed_clock_is_exact_json_with_rfc3339_utc_times,
     .fini = fx_fini, .timeout = 30)
{
	const char *const env[] = { "DKIMROT_FAKE_NOW=2027-03-01T00:00:00Z", NULL };
	struct run_result r;
	json_t *doc, *a;

	fx_start_offline("planjson");
	DKIMROT(&r, env, "plan", "--json");
	cr_assert_eq(r.status, 0, "%s", r.err);
	doc = json_of(&r);
	fields_exactly(doc, "plan", plan_fields);
	cr_assert_eq(rfc3339(json_object_get(doc, "now"), "now"), 1803859200);
	cr_assert(json_is_null(json_object_get(doc, "until")));
	cr_assert_eq(json_array_size(json_object_get(doc, "actions")), 1, "%s", r.out);
	a = json_array_get(json_object_get(doc, "actions"), 0);
	fields_exactly(a, "action", action_fields);
	cr_assert_str_eq(jstr(a, "due"), "2027-03-01T00:00:00Z");
	cr_assert_str_eq(jstr(a, "domain"), DOMAIN);
	cr_assert_str_eq(jstr(a, "selector"), "s000000");
	cr_assert_str_eq(jstr(a, "action"), "create");
	cr_assert(json_is_null(json_object_get(a, "key_id")));
	cr_assert_str_eq(jstr(a, "reason"), "no key signs for this domain yet");
	json_decref(doc);
	run_result_free(&r);

	/*
	 * --at: the story until then.  The zone's negative TTL is not known
	 * before a first publication, so activation is an hour away (the
	 * planner's guess) and falls outside three minutes.
	 */
	DKIMROT(&r, env, "plan", "--json", "--at", "+3m");
	cr_assert_eq(r.status, 0, "%s", r.err);
	doc = json_of(&r);
	fields_exactly(doc, "plan --at", plan_fields);
	cr_assert_str_eq(jstr(doc, "now"), "2027-03-01T00:00:00Z");
	cr_assert_str_eq(jstr(doc, "until"), "2027-03-01T00:03:00Z");
	cr_assert_eq(json_array_size(json_object_get(doc, "actions")), 3, "%s", r.out);
	{
		static const char *const kinds[] = { "create", "publish", "confirm" };
		size_t i;

		json_array_foreach(json_object_get(doc, "actions"), i, a) {
			fields_exactly(a, "action", action_fields);
			cr_assert_str_eq(jstr(a, "action"), kinds[i]);
			cr_assert_str_eq(jstr(a, "due"), "2027-03-01T00:00:00Z");
			cr_assert_str_eq(jstr(a, "selector"), "s000000");
			cr_assert(json_is_null(json_object_get(a, "key_id")));
		}
	}
	json_decref(doc);
	run_result_free(&r);
	cr_assert_eq(access(fx.state_db, F_OK), -1, "plan created the state database");
}

Test(lifecycle, status_json_after_a_rotation_has_the_documented_fields_and_rfc3339_utc_times,
     .fini = fx_fini, .timeout = 90)
{
	static const char *const top[] = { "now", "domains", NULL };
	static const char *const dom[] = { "domain", "active_selector", "keys", NULL };
	static const char *const key[] = { "selector", "state",	       "algorithm",
					   "zone",     "key_file",     "ttl",
					   "negative_ttl", "grace",    "entered",
					   "last_error", "next",       "nameservers",
					   NULL };
	static const char *const ns[] = { "server", "ok", "detail", "at", NULL };
	char sel[64], key_file[PATH_MAX], server[64];
	struct run_result r;
	json_t *doc, *d, *k, *entered, *a;
	size_t i;

	fx_start("statusjson", 10, NULL, NULL);
	rotate_ok(NULL);
	link_selector(DOMAIN, sel, sizeof(sel));
	key_file_of(DOMAIN, sel, key_file, sizeof(key_file));

	DKIMROT(&r, NULL, "status", "--json");
	cr_assert_eq(r.status, 0, "%s", r.err);
	doc = json_of(&r);
	fields_exactly(doc, "status", top);
	rfc3339(json_object_get(doc, "now"), "now");
	cr_assert_eq(json_array_size(json_object_get(doc, "domains")), 1);
	d = status_domain(doc, DOMAIN);
	fields_exactly(d, "domain", dom);
	cr_assert_str_eq(jstr(d, "active_selector"), sel);
	cr_assert_eq(json_array_size(json_object_get(d, "keys")), 1);

	k = status_key(doc, DOMAIN, sel);
	fields_exactly(k, "key", key);
	cr_assert_str_eq(jstr(k, "state"), "active");
	cr_assert_str_eq(jstr(k, "algorithm"), "rsa-2048");
	cr_assert_str_eq(jstr(k, "zone"), DOMAIN);
	cr_assert_str_eq(jstr(k, "key_file"), key_file);
	cr_assert_eq(json_integer_value(json_object_get(k, "ttl")), 3);
	cr_assert_eq(json_integer_value(json_object_get(k, "negative_ttl")), 2);
	cr_assert_eq(json_integer_value(json_object_get(k, "grace")), 5);
	cr_assert(json_is_null(json_object_get(k, "last_error")));

	entered = json_object_get(k, "entered");
	{
		static const char *const states[] = { "created", "published", "visible",
						      "active", "retired", "withdrawn",
						      "destroyed", NULL };
		int64_t prev = 0;

		fields_exactly(entered, "entered", states);
		for (size_t s = 0; s < 4; s++) {
			int64_t t = rfc3339(json_object_get(entered, states[s]), states[s]);

			cr_assert_geq(t, prev, "%s before the state ahead of it", states[s]);
			prev = t;
		}
		for (size_t s = 4; s < 7; s++)
			cr_assert(json_is_null(json_object_get(entered, states[s])), "%s",
				  states[s]);
	}

	/* Each nameserver's last answer, as the engine stored it. */
	cr_assert_eq(json_array_size(json_object_get(k, "nameservers")), 2);
	json_array_foreach(json_object_get(k, "nameservers"), i, a) {
		fields_exactly(a, "nameserver answer", ns);
		snprintf(server, sizeof(server), "127.0.0.1:%d", fx.bp.port + (int)i);
		cr_assert_str_eq(jstr(a, "server"), server);
		cr_assert(json_is_true(json_object_get(a, "ok")));
		cr_assert_str_eq(jstr(a, "detail"), "serves the key");
		rfc3339(json_object_get(a, "at"), "at");
	}
	json_decref(doc);
	run_result_free(&r);
}
