/*
 * test_state.c - the state database: round trips of every field, the
 * compare-and-set transitions, selector reuse, the writer lock, readers
 * beside a writer, and the schema migrations.
 */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../state/state.h"
#include "helper.h"

static char *tmp;
static char *db;

static void setup(void)
{
	tmp = test_tmpdir_make("state");
	if (asprintf(&db, "%s/state.db", tmp) < 0)
		abort();
}

static void teardown(void)
{
	free(db);
	test_tmpdir_remove(tmp);
}

TestSuite(state, .init = setup, .fini = teardown);

static struct state *writer_open(void)
{
	struct state *st = NULL;
	struct dkr_error e = { 0 };

	cr_assert_eq(state_open(db, true, &st, &e), DKR_OK, "%s", e.msg);
	return st;
}

static struct state *reader_open(void)
{
	struct state *st = NULL;
	struct dkr_error e = { 0 };

	cr_assert_eq(state_open(db, false, &st, &e), DKR_OK, "%s", e.msg);
	return st;
}

static void key_fill(struct state_key *k, const char *domain, const char *selector,
		     int64_t created)
{
	memset(k, 0, sizeof(*k));
	strcpy(k->domain, domain);
	strcpy(k->selector, selector);
	k->algorithm = KEY_RSA2048;
	k->state = KS_CREATED;
	k->at[KS_CREATED] = created;
	k->ttl = 3600;
	k->grace = 7 * 86400;
	snprintf(k->key_path, sizeof(k->key_path), "/keys/%s/%s.pem", domain, selector);
}

static int64_t key_add(struct state *st, const char *domain, const char *selector,
		       int64_t created)
{
	struct state_key k;
	struct dkr_error e = { 0 };

	key_fill(&k, domain, selector, created);
	cr_assert_eq(state_key_insert(st, &k, &e), DKR_OK, "%s", e.msg);
	cr_assert_gt(k.id, 0);
	return k.id;
}

/* Move a key from its state to `to`, one step at a time, at times 1000 + step. */
static void key_advance(struct state *st, int64_t id, enum key_state to)
{
	struct state_key k;
	struct dkr_error e = { 0 };

	cr_assert_eq(state_key_get(st, id, &k, &e), DKR_OK, "%s", e.msg);
	for (int s = (int)k.state; s < (int)to; s++)
		cr_assert_eq(state_key_transition(st, id, (enum key_state)s,
						  (enum key_state)(s + 1), 1000 + s + 1,
						  "test", &e), DKR_OK, "%s", e.msg);
}

/* A statement run beside the module, as an operator or another program would. */
static void raw_exec(const char *sql)
{
	sqlite3 *h = NULL;
	char *err = NULL;

	cr_assert_eq(sqlite3_open(db, &h), SQLITE_OK);
	cr_assert_eq(sqlite3_exec(h, sql, NULL, NULL, &err), SQLITE_OK, "%s: %s", sql,
		     err != NULL ? err : "");
	sqlite3_close(h);
}

static int raw_int(const char *sql)
{
	sqlite3 *h = NULL;
	sqlite3_stmt *s = NULL;
	int v;

	cr_assert_eq(sqlite3_open_v2(db, &h, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	cr_assert_eq(sqlite3_prepare_v2(h, sql, -1, &s, NULL), SQLITE_OK, "%s", sql);
	cr_assert_eq(sqlite3_step(s), SQLITE_ROW, "%s", sql);
	v = sqlite3_column_int(s, 0);
	sqlite3_finalize(s);
	sqlite3_close(h);
	return v;
}

/*
 * What a directory holds: names, sizes, modification times and modes.  The
 * -shm file is left out: it is SQLite's shared index, where every WAL
 * reader, read-only or not, registers what it reads.
 */
static char *dir_listing(void)
{
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);
	char cmd[4200];
	FILE *p;
	int c;

	snprintf(cmd, sizeof(cmd), "cd '%s' && stat -c '%%n %%s %%Y %%a' * 2>/dev/null"
		 " | grep -v '^state.db-shm ' | sort", tmp);
	p = popen(cmd, "r");
	cr_assert_not_null(p);
	while ((c = fgetc(p)) != EOF)
		fputc(c, f);
	pclose(p);
	fclose(f);
	return out;
}

/* Run `fn` in a child process; its result code and message come back by pipe. */
static int in_child(int (*fn)(struct dkr_error *e), struct dkr_error *e)
{
	int fds[2], status;
	pid_t pid;

	cr_assert_eq(pipe(fds), 0);
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		struct dkr_error ce = { 0 };

		ce.code = (enum dkr_err)fn(&ce);
		if (write(fds[1], &ce, sizeof(ce)) != (ssize_t)sizeof(ce))
			_exit(2);
		_exit(0);
	}
	close(fds[1]);
	cr_assert_eq(read(fds[0], e, sizeof(*e)), (ssize_t)sizeof(*e));
	close(fds[0]);
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	return (int)e->code;
}

static int child_open_writer(struct dkr_error *e)
{
	struct state *st = NULL;
	int ret = state_open(db, true, &st, e);

	state_close(st);
	return ret;
}

/* ------------------------------------------------------------- opening */

Test(state, creates_a_private_database_in_wal_mode)
{
	struct state *st = writer_open();
	struct stat sb;
	char *lock, *pid;

	cr_assert_eq(stat(db, &sb), 0);
	cr_assert_eq(sb.st_mode & 07777, 0600);
	cr_assert_eq(state_schema_version(st), 2);

	if (asprintf(&lock, "%s.lock", db) < 0)
		abort();
	cr_assert_eq(stat(lock, &sb), 0);
	cr_assert_eq(sb.st_mode & 07777, 0600);
	size_t len = 0;

	cr_assert_eq(file_read_all(lock, 64, &pid, &len, NULL), DKR_OK);
	cr_assert_eq(strtol(pid, NULL, 10), (long)getpid());
	state_close(st);

	cr_assert_eq(raw_int("PRAGMA user_version"), 2);
	cr_assert_eq(raw_int("SELECT count(*) FROM pragma_journal_mode WHERE journal_mode = 'wal'"),
		     1);
	free(pid);
	free(lock);
}

Test(state, refuses_a_directory_that_does_not_exist)
{
	struct state *st = NULL;
	struct dkr_error e = { 0 };
	char *path, *want;

	if (asprintf(&path, "%s/missing/state.db", tmp) < 0 ||
	    asprintf(&want, "state database %s: directory %s/missing: No such file or "
		     "directory (create it, owned by the daemon's user, mode 0700)", path,
		     tmp) < 0)
		abort();
	cr_assert_eq(state_open(path, true, &st, &e), DKR_EIO);
	cr_assert_null(st);
	cr_assert_str_eq(e.msg, want);
	cr_assert_eq(test_sh("test -e '%s/missing'", tmp), 1);
	free(want);
	free(path);
}

/* ---------------------------------------------------------------- keys */

Test(state, insert_and_get_round_trip_every_field)
{
	struct state *st = writer_open();
	struct state_key k, got;
	struct dkr_error e = { 0 };

	key_fill(&k, "example.com", "k20270301", 1800000000);
	strcpy(k.zone, "example.com");
	k.algorithm = KEY_ED25519;
	k.ttl = 300;
	k.neg_ttl = 900;
	k.grace = 86400;
	k.activate_after = 1800086400;
	strcpy(k.key_path, "/etc/courier/filters/keys/example.com.k20270301.private");
	strcpy(k.record, "v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=");
	k.attempts = 2;
	k.next_try = 1800000600;
	strcpy(k.last_error, "ns1.example.com:53: timeout");
	cr_assert_eq(state_key_insert(st, &k, &e), DKR_OK, "%s", e.msg);
	cr_assert_eq(k.id, 1);

	cr_assert_eq(state_key_get(st, k.id, &got, &e), DKR_OK, "%s", e.msg);
	cr_assert_eq(got.id, k.id);
	cr_assert_str_eq(got.domain, "example.com");
	cr_assert_str_eq(got.selector, "k20270301");
	cr_assert_str_eq(got.zone, "example.com");
	cr_assert_eq(got.algorithm, KEY_ED25519);
	cr_assert_eq(got.state, KS_CREATED);
	cr_assert_eq(got.at[KS_CREATED], 1800000000);
	for (int s = KS_PUBLISHED; s < KS_COUNT; s++)
		cr_assert_eq(got.at[s], 0, "at[%s]", key_state_name((enum key_state)s));
	cr_assert_eq(got.ttl, 300);
	cr_assert_eq(got.neg_ttl, 900);
	cr_assert_eq(got.grace, 86400);
	cr_assert_eq(got.activate_after, 1800086400);
	cr_assert_str_eq(got.key_path, k.key_path);
	cr_assert_str_eq(got.record, k.record);
	cr_assert_eq(got.attempts, 2);
	cr_assert_eq(got.next_try, 1800000600);
	cr_assert_str_eq(got.last_error, "ns1.example.com:53: timeout");
	state_close(st);
}

Test(state, get_of_an_unknown_id_is_not_found)
{
	struct state *st = writer_open();
	struct state_key got;
	struct dkr_error e = { 0 };
	char want[4200];

	cr_assert_eq(state_key_get(st, 42, &got, &e), DKR_ENOTFOUND);
	snprintf(want, sizeof(want), "state database %s has no key with id 42", db);
	cr_assert_str_eq(e.msg, want);
	state_close(st);
}

Test(state, refuses_a_selector_used_before_for_the_same_domain)
{
	struct state *st = writer_open();
	struct state_key k;
	struct dkr_error e = { 0 };
	char want[4200];
	bool used = false;

	key_add(st, "example.com", "k1", 100);
	key_fill(&k, "example.com", "k1", 200);
	cr_assert_eq(state_key_insert(st, &k, &e), DKR_ECONFLICT);
	snprintf(want, sizeof(want), "example.com k1: selector already used for this domain "
		 "(state database %s); a selector is never used twice", db);
	cr_assert_str_eq(e.msg, want);

	cr_assert_eq(state_selector_used(st, "example.com", "k1", &used, &e), DKR_OK);
	cr_assert(used);
	cr_assert_eq(state_selector_used(st, "example.com", "k2", &used, &e), DKR_OK);
	cr_assert_not(used);

	/* The same selector under another domain is another name. */
	key_add(st, "example.org", "k1", 100);
	state_close(st);
}

Test(state, refuses_the_selector_of_a_destroyed_key)
{
	struct state *st = writer_open();
	struct state_key k;
	struct dkr_error e = { 0 };
	bool used = false;
	int64_t id = key_add(st, "example.com", "old", 100);

	key_advance(st, id, KS_DESTROYED);
	key_fill(&k, "example.com", "old", 5000);
	cr_assert_eq(state_key_insert(st, &k, &e), DKR_ECONFLICT);
	cr_assert_eq(state_selector_used(st, "example.com", "old", &used, &e), DKR_OK);
	cr_assert(used);
	state_close(st);

	/* Not even a hand-made DELETE frees the selector. */
	{
		sqlite3 *h = NULL;
		char *err = NULL;

		cr_assert_eq(sqlite3_open(db, &h), SQLITE_OK);
		cr_assert_neq(sqlite3_exec(h, "DELETE FROM keys", NULL, NULL, &err), SQLITE_OK);
		cr_assert_str_eq(err, "dkimrot never deletes a key row: it keeps the selector "
				 "from being used again");
		sqlite3_free(err);
		sqlite3_close(h);
	}
	cr_assert_eq(raw_int("SELECT count(*) FROM keys"), 1);
}

Test(state, refuses_a_key_that_does_not_start_created)
{
	struct state *st = writer_open();
	struct state_key k;
	struct dkr_error e = { 0 };

	key_fill(&k, "example.com", "k1", 100);
	k.state = KS_ACTIVE;
	cr_assert_eq(state_key_insert(st, &k, &e), DKR_EINVAL);
	cr_assert_str_eq(e.msg, "example.com k1: a new key starts in state created, not active");

	key_fill(&k, "example.com", "k.1", 100);
	cr_assert_eq(state_key_insert(st, &k, &e), DKR_EINVAL);
	cr_assert_str_eq(e.msg, "example.com: selector 'k.1' is not a valid DNS label");
	cr_assert_eq(raw_int("SELECT count(*) FROM keys"), 0);
	state_close(st);
}

/* --------------------------------------------------------- transitions */

Test(state, transitions_go_forward_one_step_and_stamp_the_time)
{
	struct state *st = writer_open();
	struct state_key k;
	struct dkr_error e = { 0 };
	char want[4200];
	int64_t id = key_add(st, "example.com", "k1", 100);

	cr_assert_eq(state_key_transition(st, id, KS_CREATED, KS_VISIBLE, 200, "skip", &e),
		     DKR_EINVAL);
	snprintf(want, sizeof(want), "state database %s: key %" PRId64 " cannot move from "
		 "created to visible: a key moves forward one state at a time", db, id);
	cr_assert_str_eq(e.msg, want);
	cr_assert_eq(state_key_transition(st, id, KS_PUBLISHED, KS_CREATED, 200, "back", &e),
		     DKR_EINVAL);
	cr_assert_eq(state_key_transition(st, id, KS_CREATED, KS_CREATED, 200, "stay", &e),
		     DKR_EINVAL);
	cr_assert_eq(state_key_transition(st, id, KS_DESTROYED, KS_COUNT, 200, "past", &e),
		     DKR_EINVAL);

	cr_assert_eq(state_key_transition(st, id, KS_CREATED, KS_PUBLISHED, 250, "update ok",
					  &e), DKR_OK, "%s", e.msg);
	cr_assert_eq(state_key_get(st, id, &k, &e), DKR_OK);
	cr_assert_eq(k.state, KS_PUBLISHED);
	cr_assert_eq(k.at[KS_CREATED], 100);
	cr_assert_eq(k.at[KS_PUBLISHED], 250);
	cr_assert_eq(k.at[KS_VISIBLE], 0);

	key_advance(st, id, KS_DESTROYED);
	cr_assert_eq(state_key_get(st, id, &k, &e), DKR_OK);
	cr_assert_eq(k.state, KS_DESTROYED);
	cr_assert_eq(k.at[KS_DESTROYED], 1000 + KS_DESTROYED);
	state_close(st);
}

Test(state, second_transition_from_the_same_state_conflicts)
{
	struct state *st = writer_open();
	struct dkr_error e = { 0 };
	char want[4200];
	size_t n = 0;
	struct state_history *h = NULL;
	int64_t id = key_add(st, "example.com", "k1", 100);

	cr_assert_eq(state_key_transition(st, id, KS_CREATED, KS_PUBLISHED, 200, "first", &e),
		     DKR_OK);
	cr_assert_eq(state_key_transition(st, id, KS_CREATED, KS_PUBLISHED, 300, "second",
					  &e), DKR_ECONFLICT);
	snprintf(want, sizeof(want), "example.com k1: cannot move from created to published: "
		 "the state database %s says the key is published now (another process moved "
		 "it)", db);
	cr_assert_str_eq(e.msg, want);

	/* The loser left no trace. */
	cr_assert_eq(state_history_list(st, id, &h, &n, &e), DKR_OK);
	cr_assert_eq(n, 1);
	cr_assert_str_eq(h[0].reason, "first");
	cr_assert_eq(raw_int("SELECT published_at FROM keys"), 200);
	free(h);
	state_close(st);
}

Test(state, transition_conflicts_when_the_state_changed_underneath)
{
	struct state *st = writer_open();
	struct dkr_error e = { 0 };
	int64_t id = key_add(st, "example.com", "k1", 100);

	raw_exec("UPDATE keys SET state = 'published', published_at = 150");
	cr_assert_eq(state_key_transition(st, id, KS_CREATED, KS_PUBLISHED, 200, "late", &e),
		     DKR_ECONFLICT);
	cr_assert_eq(raw_int("SELECT published_at FROM keys"), 150);
	cr_assert_eq(raw_int("SELECT count(*) FROM history"), 0);
	state_close(st);
}

Test(state, transition_of_an_unknown_key_is_not_found)
{
	struct state *st = writer_open();
	struct dkr_error e = { 0 };

	cr_assert_eq(state_key_transition(st, 7, KS_CREATED, KS_PUBLISHED, 200, "x", &e),
		     DKR_ENOTFOUND);
	cr_assert_eq(raw_int("SELECT count(*) FROM history"), 0);
	state_close(st);
}

Test(state, transition_inside_a_caller_transaction_fails_alone)
{
	struct state *st = writer_open();
	struct dkr_error e = { 0 };
	int64_t a = key_add(st, "a.example", "k1", 100);
	int64_t b = key_add(st, "b.example", "k1", 100);

	cr_assert_eq(state_begin(st, &e), DKR_OK, "%s", e.msg);
	cr_assert_eq(state_key_transition(st, a, KS_CREATED, KS_PUBLISHED, 200, "a", &e),
		     DKR_OK, "%s", e.msg);
	cr_assert_eq(state_key_transition(st, b, KS_PUBLISHED, KS_VISIBLE, 200, "b", &e),
		     DKR_ECONFLICT);
	cr_assert_eq(state_key_transition(st, b, KS_CREATED, KS_PUBLISHED, 210, "b", &e),
		     DKR_OK, "%s", e.msg);
	cr_assert_eq(state_commit(st, &e), DKR_OK, "%s", e.msg);

	cr_assert_eq(raw_int("SELECT count(*) FROM keys WHERE state = 'published'"), 2);
	cr_assert_eq(raw_int("SELECT count(*) FROM history"), 2);

	/* A rollback of the caller's transaction takes the transitions with it. */
	cr_assert_eq(state_begin(st, &e), DKR_OK);
	cr_assert_eq(state_key_transition(st, a, KS_PUBLISHED, KS_VISIBLE, 300, "a", &e),
		     DKR_OK);
	cr_assert_eq(state_rollback(st), DKR_OK);
	cr_assert_eq(raw_int("SELECT count(*) FROM keys WHERE state = 'visible'"), 0);
	cr_assert_eq(raw_int("SELECT count(*) FROM history"), 2);
	state_close(st);
}

Test(state, work_left_uncommitted_at_close_is_dropped)
{
	struct state *st = writer_open();
	struct dkr_error e = { 0 };

	cr_assert_eq(state_begin(st, &e), DKR_OK);
	key_add(st, "example.com", "k1", 100);
	state_close(st);
	cr_assert_eq(raw_int("SELECT count(*) FROM keys"), 0);
}

Test(state, history_keeps_every_reason_in_order)
{
	struct state *st = writer_open();
	struct dkr_error e = { 0 };
	struct state_history *h = NULL;
	size_t n = 0;
	char long_reason[700];
	int64_t id = key_add(st, "example.com", "k1", 100);
	static const char *const reasons[] = { "update accepted by 127.0.0.1:5300",
					       "all 2 nameservers serve it",
					       "negative cache expired" };

	memset(long_reason, 'x', sizeof(long_reason) - 1);
	long_reason[sizeof(long_reason) - 1] = '\0';
	for (int i = 0; i < 3; i++)
		cr_assert_eq(state_key_transition(st, id, (enum key_state)i,
						  (enum key_state)(i + 1), 200 + i, reasons[i],
						  &e), DKR_OK, "%s", e.msg);
	cr_assert_eq(state_key_transition(st, id, KS_ACTIVE, KS_RETIRED, 300, long_reason, &e),
		     DKR_OK, "%s", e.msg);

	cr_assert_eq(state_history_list(st, id, &h, &n, &e), DKR_OK, "%s", e.msg);
	cr_assert_eq(n, 4);
	for (int i = 0; i < 3; i++) {
		cr_assert_eq(h[i].key_id, id);
		cr_assert_eq(h[i].from, (enum key_state)i);
		cr_assert_eq(h[i].to, (enum key_state)(i + 1));
		cr_assert_eq(h[i].at, 200 + i);
		cr_assert_str_eq(h[i].reason, reasons[i]);
	}
	cr_assert_eq(strlen(h[3].reason), sizeof(h[3].reason) - 1);
	free(h);

	cr_assert_eq(state_history_list(st, id + 1, &h, &n, &e), DKR_OK);
	cr_assert_eq(n, 0);
	free(h);
	state_close(st);
}

Test(state, retry_bookkeeping_is_stored_and_reset_by_a_transition)
{
	struct state *st = writer_open();
	struct state_key k;
	struct dkr_error e = { 0 };
	int64_t id = key_add(st, "example.com", "k1", 100);

	cr_assert_eq(state_key_set_retry(st, id, 3, 1900, "127.0.0.1:5300: REFUSED", &e),
		     DKR_OK, "%s", e.msg);
	cr_assert_eq(state_key_get(st, id, &k, &e), DKR_OK);
	cr_assert_eq(k.attempts, 3);
	cr_assert_eq(k.next_try, 1900);
	cr_assert_str_eq(k.last_error, "127.0.0.1:5300: REFUSED");

	cr_assert_eq(state_key_transition(st, id, KS_CREATED, KS_PUBLISHED, 2000, "ok", &e),
		     DKR_OK);
	cr_assert_eq(state_key_get(st, id, &k, &e), DKR_OK);
	cr_assert_eq(k.attempts, 0);
	cr_assert_eq(k.next_try, 0);
	cr_assert_str_eq(k.last_error, "");

	cr_assert_eq(state_key_set_retry(st, id + 1, 1, 1, "x", &e), DKR_ENOTFOUND);
	state_close(st);
}

Test(state, zone_and_record_are_filled_in_after_creation)
{
	struct state *st = writer_open();
	struct state_key k;
	struct dkr_error e = { 0 };
	int64_t id = key_add(st, "mail.example.com", "k1", 100);

	cr_assert_eq(state_key_update_dns(st, id, "example.com", 600, &e), DKR_OK, "%s", e.msg);
	cr_assert_eq(state_key_set_record(st, id, "v=DKIM1; k=rsa; p=MIIB", &e), DKR_OK,
		     "%s", e.msg);
	cr_assert_eq(state_key_get(st, id, &k, &e), DKR_OK);
	cr_assert_str_eq(k.zone, "example.com");
	cr_assert_eq(k.neg_ttl, 600);
	cr_assert_str_eq(k.record, "v=DKIM1; k=rsa; p=MIIB");

	cr_assert_eq(state_key_update_dns(st, id, "../etc", 600, &e), DKR_EINVAL);
	cr_assert_eq(state_key_set_record(st, id, "", &e), DKR_EINVAL);
	cr_assert_eq(state_key_update_dns(st, id + 1, "example.com", 1, &e), DKR_ENOTFOUND);
	state_close(st);
}

Test(state, a_pending_key_switch_time_can_be_moved_for_a_rotation_now)
{
	struct state *st = writer_open();
	struct state_key k;
	struct dkr_error e = { 0 };
	int64_t id = key_add(st, "example.com", "k1", 100);

	cr_assert_eq(state_key_set_activate_after(st, id, 5000, &e), DKR_OK, "%s", e.msg);
	cr_assert_eq(state_key_get(st, id, &k, &e), DKR_OK);
	cr_assert_eq(k.activate_after, 5000);
	cr_assert_eq(state_key_set_activate_after(st, id + 1, 1, &e), DKR_ENOTFOUND);
	state_close(st);
}

/* ------------------------------------------------------------- listing */

struct visit {
	char seen[8][600];
	int n;
	int stop_after;
};

static int visit_key(const struct state_key *k, void *arg, struct dkr_error *e)
{
	struct visit *v = arg;

	snprintf(v->seen[v->n++], sizeof(v->seen[0]), "%s %s %s", k->domain, k->selector,
		 key_state_name(k->state));
	if (v->n == v->stop_after)
		return dkr_fail(e, DKR_EINVAL, "stopped");
	return DKR_OK;
}

Test(state, lists_keys_by_domain_then_creation)
{
	struct state *st = writer_open();
	struct state_key *keys = NULL;
	struct dkr_error e = { 0 };
	char **domains = NULL;
	size_t n = 0;
	struct visit v = { .n = 0 };

	key_add(st, "b.example", "k2", 300);
	key_add(st, "a.example", "k9", 200);
	key_advance(st, key_add(st, "b.example", "k1", 100), KS_DESTROYED);
	key_add(st, "a.example", "k3", 250);

	cr_assert_eq(state_keys_list(st, NULL, &keys, &n, &e), DKR_OK, "%s", e.msg);
	cr_assert_eq(n, 4);
	cr_assert_str_eq(keys[0].selector, "k9");
	cr_assert_str_eq(keys[1].selector, "k3");
	cr_assert_str_eq(keys[2].selector, "k1");
	cr_assert_str_eq(keys[3].selector, "k2");
	free(keys);

	cr_assert_eq(state_keys_list(st, "b.example", &keys, &n, &e), DKR_OK);
	cr_assert_eq(n, 2);
	cr_assert_str_eq(keys[0].selector, "k1");
	cr_assert_str_eq(keys[1].selector, "k2");
	free(keys);

	cr_assert_eq(state_keys_each(st, NULL, true, visit_key, &v, &e), DKR_OK);
	cr_assert_eq(v.n, 3);
	cr_assert_str_eq(v.seen[0], "a.example k9 created");
	cr_assert_str_eq(v.seen[1], "a.example k3 created");
	cr_assert_str_eq(v.seen[2], "b.example k2 created");

	cr_assert_eq(state_domains_list(st, &domains, &n, &e), DKR_OK);
	cr_assert_eq(n, 2);
	cr_assert_str_eq(domains[0], "a.example");
	cr_assert_str_eq(domains[1], "b.example");
	state_strings_free(domains, n);
	state_close(st);
}

Test(state, a_visitor_may_stop_the_walk_and_read_meanwhile)
{
	struct state *st = writer_open();
	struct state_key *keys = NULL;
	struct dkr_error e = { 0 };
	size_t n = 0;
	struct visit v = { .n = 0, .stop_after = 2 };

	key_add(st, "a.example", "k1", 1);
	key_add(st, "a.example", "k2", 2);
	key_add(st, "a.example", "k3", 3);
	cr_assert_eq(state_keys_each(st, "a.example", false, visit_key, &v, &e), DKR_EINVAL);
	cr_assert_str_eq(e.msg, "stopped");
	cr_assert_eq(v.n, 2);

	/* The walk's statement was handed back: the same query works again. */
	cr_assert_eq(state_keys_list(st, "a.example", &keys, &n, &e), DKR_OK, "%s", e.msg);
	cr_assert_eq(n, 3);
	free(keys);
	state_close(st);
}

static int visit_and_list(const struct state_key *k, void *arg, struct dkr_error *e)
{
	struct state_key *keys = NULL;
	size_t n = 0;
	int ret = state_keys_list(arg, k->domain, &keys, &n, e);

	if (ret == DKR_OK && n != 2)
		ret = dkr_fail(e, DKR_EINVAL, "nested list saw %zu keys", n);
	free(keys);
	return ret;
}

Test(state, a_visitor_may_list_the_same_domain_again)
{
	struct state *st = writer_open();
	struct dkr_error e = { 0 };

	key_add(st, "a.example", "k1", 1);
	key_add(st, "a.example", "k2", 2);
	cr_assert_eq(state_keys_each(st, "a.example", false, visit_and_list, st, &e), DKR_OK,
		     "%s", e.msg);
	state_close(st);
}

/* --------------------------------------------------- nameserver answers */

Test(state, nameserver_answers_keep_the_latest_per_server)
{
	struct state *st = writer_open();
	struct state_ns_answer a = { 0 }, *rows = NULL;
	struct dkr_error e = { 0 };
	char want[4200];
	size_t n = 0;
	int64_t id = key_add(st, "example.com", "k1", 100);

	a.key_id = id;
	strcpy(a.server, "127.0.0.2:53");
	a.at = 10;
	a.ok = false;
	strcpy(a.detail, "NXDOMAIN");
	cr_assert_eq(state_ns_answer_put(st, &a, &e), DKR_OK, "%s", e.msg);
	strcpy(a.server, "127.0.0.1:5300");
	cr_assert_eq(state_ns_answer_put(st, &a, &e), DKR_OK, "%s", e.msg);
	a.at = 20;
	a.ok = true;
	strcpy(a.detail, "serves the key");
	cr_assert_eq(state_ns_answer_put(st, &a, &e), DKR_OK, "%s", e.msg);

	cr_assert_eq(state_ns_answers_list(st, id, &rows, &n, &e), DKR_OK, "%s", e.msg);
	cr_assert_eq(n, 2);
	cr_assert_str_eq(rows[0].server, "127.0.0.1:5300");
	cr_assert_eq(rows[0].at, 20);
	cr_assert(rows[0].ok);
	cr_assert_str_eq(rows[0].detail, "serves the key");
	cr_assert_str_eq(rows[1].server, "127.0.0.2:53");
	cr_assert_eq(rows[1].at, 10);
	cr_assert_not(rows[1].ok);
	cr_assert_str_eq(rows[1].detail, "NXDOMAIN");
	cr_assert_eq(rows[1].key_id, id);
	free(rows);

	a.key_id = id + 5;
	cr_assert_eq(state_ns_answer_put(st, &a, &e), DKR_ENOTFOUND);
	snprintf(want, sizeof(want), "state database %s has no key with id %" PRId64
		 " (answer of 127.0.0.1:5300 not recorded)", db, id + 5);
	cr_assert_str_eq(e.msg, want);
	state_close(st);
}

/* --------------------------------------------------- writers and readers */

Test(state, a_second_writer_is_refused_while_the_first_is_open)
{
	struct state *st = writer_open(), *two = NULL;
	struct dkr_error e = { 0 };
	char want[4200];

	snprintf(want, sizeof(want), "state database %s is in use by another dkimrot writer "
		 "(pid %ld holds the lock %s.lock)", db, (long)getpid(), db);
	cr_assert_eq(in_child(child_open_writer, &e), DKR_ELOCKED);
	cr_assert_str_eq(e.msg, want);

	/* Within one process too: the lock belongs to the open handle. */
	memset(&e, 0, sizeof(e));
	cr_assert_eq(state_open(db, true, &two, &e), DKR_ELOCKED);
	cr_assert_null(two);
	cr_assert_str_eq(e.msg, want);

	state_close(st);
	cr_assert_eq(in_child(child_open_writer, &e), DKR_OK, "%s", e.msg);
}

Test(state, a_reader_is_not_blocked_by_an_open_write_transaction)
{
	struct state *st = writer_open(), *rd;
	struct state_key *keys = NULL;
	struct dkr_error e = { 0 };
	size_t n = 0;

	key_add(st, "example.com", "k1", 100);
	cr_assert_eq(state_begin(st, &e), DKR_OK);
	key_add(st, "example.com", "k2", 200);

	rd = reader_open();
	cr_assert_eq(state_keys_list(rd, NULL, &keys, &n, &e), DKR_OK, "%s", e.msg);
	cr_assert_eq(n, 1);
	cr_assert_str_eq(keys[0].selector, "k1");
	free(keys);

	cr_assert_eq(state_commit(st, &e), DKR_OK, "%s", e.msg);
	cr_assert_eq(state_keys_list(rd, NULL, &keys, &n, &e), DKR_OK, "%s", e.msg);
	cr_assert_eq(n, 2);
	free(keys);
	state_close(rd);
	state_close(st);
}

Test(state, a_reader_cannot_write)
{
	struct state *st = writer_open(), *rd;
	struct state_key k;
	struct dkr_error e = { 0 };
	char want[4200];
	int64_t id = key_add(st, "example.com", "k1", 100);

	state_close(st);
	rd = reader_open();
	cr_assert_eq(state_key_transition(rd, id, KS_CREATED, KS_PUBLISHED, 5, "x", &e),
		     DKR_EINVAL);
	snprintf(want, sizeof(want), "state database %s: cannot change a key's state: it was "
		 "opened read-only", db);
	cr_assert_str_eq(e.msg, want);
	key_fill(&k, "example.com", "k2", 100);
	cr_assert_eq(state_key_insert(rd, &k, &e), DKR_EINVAL);
	cr_assert_eq(state_begin(rd, &e), DKR_EINVAL);
	state_close(rd);
	cr_assert_eq(raw_int("SELECT count(*) FROM keys WHERE state = 'created'"), 1);
}

Test(state, a_reader_of_a_missing_file_sees_nothing_and_creates_nothing)
{
	struct state *rd = reader_open();
	struct state_key *keys = NULL;
	struct state_key k;
	struct dkr_error e = { 0 };
	char **domains = NULL;
	size_t n = 7;

	cr_assert_eq(state_keys_list(rd, NULL, &keys, &n, &e), DKR_OK, "%s", e.msg);
	cr_assert_eq(n, 0);
	free(keys);
	cr_assert_eq(state_domains_list(rd, &domains, &n, &e), DKR_OK, "%s", e.msg);
	cr_assert_eq(n, 0);
	state_strings_free(domains, n);
	cr_assert_eq(state_key_get(rd, 1, &k, &e), DKR_ENOTFOUND);
	cr_assert_eq(state_schema_version(rd), 2);
	state_close(rd);

	cr_assert_eq(test_sh("test -z \"$(ls -A '%s')\"", tmp), 0);
}

Test(state, a_reader_leaves_every_file_as_it_was)
{
	struct state *st = writer_open(), *rd;
	struct state_key *keys = NULL;
	struct dkr_error e = { 0 };
	size_t n = 0;
	char *before, *after;

	key_add(st, "example.com", "k1", 100);
	state_close(st);
	before = dir_listing();
	sleep(1);	/* a touched file would show a new mtime */

	rd = reader_open();
	cr_assert_eq(state_keys_list(rd, NULL, &keys, &n, &e), DKR_OK, "%s", e.msg);
	cr_assert_eq(n, 1);
	free(keys);
	state_close(rd);

	after = dir_listing();
	cr_assert_str_eq(after, before);
	cr_assert_not_null(strstr(before, "state.db-wal 0 "));
	free(before);
	free(after);
}

/* ------------------------------------------------------------- schemas */

/* Version 1, as it was: no ns_answers, no last_error, no activate_after. */
static const char schema_v1[] =
	"CREATE TABLE keys ("
	" id INTEGER PRIMARY KEY, domain TEXT NOT NULL, selector TEXT NOT NULL,"
	" zone TEXT NOT NULL DEFAULT '', algorithm TEXT NOT NULL,"
	" state TEXT NOT NULL CHECK (state IN ('created', 'published', 'visible',"
	"  'active', 'retired', 'withdrawn', 'destroyed')),"
	" created_at INTEGER NOT NULL, published_at INTEGER NOT NULL DEFAULT 0,"
	" visible_at INTEGER NOT NULL DEFAULT 0, active_at INTEGER NOT NULL DEFAULT 0,"
	" retired_at INTEGER NOT NULL DEFAULT 0, withdrawn_at INTEGER NOT NULL DEFAULT 0,"
	" destroyed_at INTEGER NOT NULL DEFAULT 0, ttl INTEGER NOT NULL,"
	" neg_ttl INTEGER NOT NULL DEFAULT 0, grace INTEGER NOT NULL,"
	" key_path TEXT NOT NULL, record TEXT NOT NULL DEFAULT '',"
	" attempts INTEGER NOT NULL DEFAULT 0, next_try INTEGER NOT NULL DEFAULT 0,"
	" UNIQUE (domain, selector));"
	"CREATE INDEX keys_by_domain ON keys (domain, created_at, id);"
	"CREATE INDEX keys_due ON keys (state, next_try);"
	"CREATE TRIGGER keys_never_deleted BEFORE DELETE ON keys BEGIN"
	" SELECT RAISE(ABORT, 'dkimrot never deletes a key row: it keeps the"
	" selector from being used again'); END;"
	"CREATE TABLE history (id INTEGER PRIMARY KEY,"
	" key_id INTEGER NOT NULL REFERENCES keys (id), from_state TEXT NOT NULL,"
	" to_state TEXT NOT NULL, at INTEGER NOT NULL, reason TEXT NOT NULL DEFAULT '');"
	"CREATE INDEX history_by_key ON history (key_id, id);"
	"INSERT INTO keys (domain, selector, zone, algorithm, state, created_at,"
	" published_at, ttl, neg_ttl, grace, key_path, record, attempts, next_try)"
	" VALUES ('example.com', 'k2026', 'example.com', 'rsa-3072', 'published', 100,"
	" 150, 3600, 900, 604800, '/keys/example.com/k2026.pem', 'v=DKIM1; p=AAAA', 1, 170);"
	"INSERT INTO history (key_id, from_state, to_state, at, reason)"
	" VALUES (1, 'created', 'published', 150, 'update accepted');"
	"PRAGMA user_version = 1;";

Test(state, migrates_a_version_1_database_in_place)
{
	struct state *st, *rd;
	struct state_key k;
	struct state_ns_answer a = { 0 };
	struct state_history *h = NULL;
	struct dkr_error e = { 0 };
	size_t n = 0;

	raw_exec(schema_v1);

	/* A reader upgrades a private copy and leaves the file at version 1. */
	rd = reader_open();
	cr_assert_eq(state_key_get(rd, 1, &k, &e), DKR_OK, "%s", e.msg);
	cr_assert_str_eq(k.last_error, "");
	state_close(rd);
	cr_assert_eq(raw_int("PRAGMA user_version"), 1);

	st = writer_open();
	cr_assert_eq(state_schema_version(st), 2);
	cr_assert_eq(state_key_get(st, 1, &k, &e), DKR_OK, "%s", e.msg);
	cr_assert_str_eq(k.domain, "example.com");
	cr_assert_str_eq(k.selector, "k2026");
	cr_assert_eq(k.algorithm, KEY_RSA3072);
	cr_assert_eq(k.state, KS_PUBLISHED);
	cr_assert_eq(k.at[KS_PUBLISHED], 150);
	cr_assert_eq(k.neg_ttl, 900);
	cr_assert_eq(k.attempts, 1);
	cr_assert_eq(k.next_try, 170);
	cr_assert_str_eq(k.record, "v=DKIM1; p=AAAA");
	cr_assert_str_eq(k.last_error, "");
	cr_assert_eq(k.activate_after, 0);
	cr_assert_eq(state_history_list(st, 1, &h, &n, &e), DKR_OK);
	cr_assert_eq(n, 1);
	cr_assert_str_eq(h[0].reason, "update accepted");
	free(h);

	/* The new parts work. */
	cr_assert_eq(state_key_set_retry(st, 1, 2, 300, "timeout", &e), DKR_OK, "%s", e.msg);
	a.key_id = 1;
	strcpy(a.server, "127.0.0.1:53");
	strcpy(a.detail, "serves the key");
	a.ok = true;
	cr_assert_eq(state_ns_answer_put(st, &a, &e), DKR_OK, "%s", e.msg);
	cr_assert_eq(state_key_transition(st, 1, KS_PUBLISHED, KS_VISIBLE, 400, "seen", &e),
		     DKR_OK, "%s", e.msg);
	state_close(st);
	cr_assert_eq(raw_int("PRAGMA user_version"), 2);
	cr_assert_eq(raw_int("SELECT count(*) FROM ns_answers"), 1);
}

Test(state, refuses_a_database_newer_than_this_build)
{
	struct state *st = NULL;
	struct dkr_error e = { 0 };
	char want[4200];

	raw_exec("CREATE TABLE keys (id INTEGER PRIMARY KEY, future TEXT);"
		 "PRAGMA user_version = 3;");
	snprintf(want, sizeof(want), "state database %s has schema version 3, newer than the "
		 "2 this build of dkimrot understands: run a newer dkimrot (refusing to read or "
		 "change it)", db);
	cr_assert_eq(state_open(db, true, &st, &e), DKR_EDB);
	cr_assert_null(st);
	cr_assert_str_eq(e.msg, want);

	memset(&e, 0, sizeof(e));
	cr_assert_eq(state_open(db, false, &st, &e), DKR_EDB);
	cr_assert_str_eq(e.msg, want);
	cr_assert_eq(raw_int("PRAGMA user_version"), 3);
}

Test(state, refuses_a_database_that_is_not_ours)
{
	struct state *st = NULL;
	struct dkr_error e = { 0 };
	char want[4200];

	raw_exec("CREATE TABLE mail (id INTEGER PRIMARY KEY);");
	snprintf(want, sizeof(want), "state database %s holds tables but no dkimrot schema "
		 "version: it is not a dkimrot state database (refusing to change it)", db);
	cr_assert_eq(state_open(db, true, &st, &e), DKR_EDB);
	cr_assert_str_eq(e.msg, want);
	cr_assert_eq(raw_int("SELECT count(*) FROM sqlite_master"), 1);
}

Test(state, an_empty_file_left_by_a_crash_reads_as_no_keys_and_gets_a_schema)
{
	struct state *st;
	struct state_key *keys = NULL;
	struct dkr_error e = { 0 };
	size_t n = 7;

	free(test_write_file(tmp, "state.db", "", 0600));
	st = reader_open();
	cr_assert_eq(state_keys_list(st, NULL, &keys, &n, &e), DKR_OK, "%s", e.msg);
	cr_assert_eq(n, 0);
	free(keys);
	state_close(st);

	st = writer_open();
	cr_assert_eq(state_schema_version(st), 2);
	key_add(st, "example.com", "k1", 100);
	state_close(st);
	cr_assert_eq(raw_int("SELECT count(*) FROM keys"), 1);
}
