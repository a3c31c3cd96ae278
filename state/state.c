/*
 * state.c - the state database in SQLite.
 *
 * One writer (the daemon, or a `rotate`) holds an flock on "<path>.lock"
 * and writes with synchronous=FULL, because every change is stored before
 * the outside action it allows and must survive a power cut.  Readers
 * (`status`, `plan`) open the file read-only and rely on WAL to never wait
 * for the writer.  The schema carries a version (PRAGMA user_version) and
 * is upgraded in place, in one transaction, by the migrations below.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "state.h"

#define STATE_SCHEMA_VERSION 2
#define STATE_BUSY_MS 5000
#define FIELD_SIZE(type, field) sizeof(((type *)0)->field)

static const char *const state_names[KS_COUNT] = {
	[KS_CREATED] = "created",
	[KS_PUBLISHED] = "published",
	[KS_VISIBLE] = "visible",
	[KS_ACTIVE] = "active",
	[KS_RETIRED] = "retired",
	[KS_WITHDRAWN] = "withdrawn",
	[KS_DESTROYED] = "destroyed",
};

/* The column that holds when each state was entered. */
static const char *const at_columns[KS_COUNT] = {
	[KS_CREATED] = "created_at",
	[KS_PUBLISHED] = "published_at",
	[KS_VISIBLE] = "visible_at",
	[KS_ACTIVE] = "active_at",
	[KS_RETIRED] = "retired_at",
	[KS_WITHDRAWN] = "withdrawn_at",
	[KS_DESTROYED] = "destroyed_at",
};

/*
 * migrations[v] upgrades a database of version v to v + 1; a new database
 * runs them all.  Version 1 had no ns_answers table and no last_error or
 * activate_after column.  Keys are never deleted (invariant 4: the row is
 * what keeps a selector from being used twice), and a trigger makes that
 * hold even against a hand-made DELETE.
 */
static const char *const migrations[STATE_SCHEMA_VERSION] = {
	"CREATE TABLE keys ("
	" id INTEGER PRIMARY KEY,"
	" domain TEXT NOT NULL,"
	" selector TEXT NOT NULL,"
	" zone TEXT NOT NULL DEFAULT '',"
	" algorithm TEXT NOT NULL,"
	" state TEXT NOT NULL CHECK (state IN ('created', 'published', 'visible',"
	"  'active', 'retired', 'withdrawn', 'destroyed')),"
	" created_at INTEGER NOT NULL,"
	" published_at INTEGER NOT NULL DEFAULT 0,"
	" visible_at INTEGER NOT NULL DEFAULT 0,"
	" active_at INTEGER NOT NULL DEFAULT 0,"
	" retired_at INTEGER NOT NULL DEFAULT 0,"
	" withdrawn_at INTEGER NOT NULL DEFAULT 0,"
	" destroyed_at INTEGER NOT NULL DEFAULT 0,"
	" ttl INTEGER NOT NULL,"
	" neg_ttl INTEGER NOT NULL DEFAULT 0,"
	" grace INTEGER NOT NULL,"
	" key_path TEXT NOT NULL,"
	" record TEXT NOT NULL DEFAULT '',"
	" attempts INTEGER NOT NULL DEFAULT 0,"
	" next_try INTEGER NOT NULL DEFAULT 0,"
	" UNIQUE (domain, selector));"
	"CREATE INDEX keys_by_domain ON keys (domain, created_at, id);"
	"CREATE INDEX keys_due ON keys (state, next_try);"
	"CREATE TRIGGER keys_never_deleted BEFORE DELETE ON keys BEGIN"
	" SELECT RAISE(ABORT, 'dkimrot never deletes a key row: it keeps the"
	" selector from being used again'); END;"
	"CREATE TABLE history ("
	" id INTEGER PRIMARY KEY,"
	" key_id INTEGER NOT NULL REFERENCES keys (id),"
	" from_state TEXT NOT NULL,"
	" to_state TEXT NOT NULL,"
	" at INTEGER NOT NULL,"
	" reason TEXT NOT NULL DEFAULT '');"
	"CREATE INDEX history_by_key ON history (key_id, id);",

	"ALTER TABLE keys ADD COLUMN last_error TEXT NOT NULL DEFAULT '';"
	"ALTER TABLE keys ADD COLUMN activate_after INTEGER NOT NULL DEFAULT 0;"
	"CREATE TABLE ns_answers ("
	" key_id INTEGER NOT NULL REFERENCES keys (id),"
	" server TEXT NOT NULL,"
	" at INTEGER NOT NULL,"
	" ok INTEGER NOT NULL CHECK (ok IN (0, 1)),"
	" detail TEXT NOT NULL DEFAULT '',"
	" PRIMARY KEY (key_id, server)) WITHOUT ROWID;",
};

/* The columns every key query returns, in the order of enum key_col. */
#define KEY_COLUMNS \
	"id, domain, selector, zone, algorithm, state, created_at, published_at," \
	" visible_at, active_at, retired_at, withdrawn_at, destroyed_at, ttl," \
	" neg_ttl, grace, key_path, record, attempts, next_try, last_error," \
	" activate_after"

enum key_col {
	KC_ID, KC_DOMAIN, KC_SELECTOR, KC_ZONE, KC_ALGORITHM, KC_STATE,
	KC_AT,			/* created_at; the other states' times follow */
	KC_TTL = KC_AT + KS_COUNT, KC_NEG_TTL, KC_GRACE, KC_KEY_PATH, KC_RECORD,
	KC_ATTEMPTS, KC_NEXT_TRY, KC_LAST_ERROR, KC_ACTIVATE_AFTER
};

/* Every statement the module runs, prepared once and kept. */
enum stmt_id {
	SQL_KEY_INSERT,
	SQL_KEY_GET,
	SQL_KEY_WHO,
	SQL_SELECTOR_USED,
	SQL_KEYS_ALL,
	SQL_KEYS_ALL_LIVE,
	SQL_KEYS_DOMAIN,
	SQL_KEYS_DOMAIN_LIVE,
	SQL_DOMAINS,
	SQL_HISTORY_ADD,
	SQL_HISTORY_LIST,
	SQL_RETRY_SET,
	SQL_DNS_SET,
	SQL_RECORD_SET,
	SQL_ACTIVATE_AFTER_SET,
	SQL_NS_PUT,
	SQL_NS_LIST,
	SQL_USER_VERSION,
	SQL_BEGIN,
	SQL_COMMIT,
	SQL_ROLLBACK,
	SQL_SAVEPOINT,
	SQL_RELEASE,
	SQL_ROLLBACK_TO,
	SQL_MOVE_FIRST,		/* one per target state, built from at_columns */
	SQL_COUNT = SQL_MOVE_FIRST + KS_COUNT
};

static const char *const sql_text[SQL_MOVE_FIRST] = {
	[SQL_KEY_INSERT] =
		"INSERT INTO keys (domain, selector, zone, algorithm, state, created_at,"
		" ttl, neg_ttl, grace, key_path, record, attempts, next_try, last_error,"
		" activate_after) VALUES (?1, ?2, ?3, ?4, 'created', ?5, ?6, ?7, ?8, ?9,"
		" ?10, ?11, ?12, ?13, ?14)",
	[SQL_KEY_GET] = "SELECT " KEY_COLUMNS " FROM keys WHERE id = ?1",
	[SQL_KEY_WHO] = "SELECT domain, selector, state FROM keys WHERE id = ?1",
	[SQL_SELECTOR_USED] = "SELECT 1 FROM keys WHERE domain = ?1 AND selector = ?2",
	[SQL_KEYS_ALL] = "SELECT " KEY_COLUMNS " FROM keys ORDER BY domain, created_at, id",
	[SQL_KEYS_ALL_LIVE] =
		"SELECT " KEY_COLUMNS " FROM keys WHERE state <> 'destroyed'"
		" ORDER BY domain, created_at, id",
	[SQL_KEYS_DOMAIN] =
		"SELECT " KEY_COLUMNS " FROM keys WHERE domain = ?1 ORDER BY created_at, id",
	[SQL_KEYS_DOMAIN_LIVE] =
		"SELECT " KEY_COLUMNS " FROM keys WHERE domain = ?1"
		" AND state <> 'destroyed' ORDER BY created_at, id",
	[SQL_DOMAINS] = "SELECT DISTINCT domain FROM keys ORDER BY domain",
	[SQL_HISTORY_ADD] =
		"INSERT INTO history (key_id, from_state, to_state, at, reason)"
		" VALUES (?1, ?2, ?3, ?4, ?5)",
	[SQL_HISTORY_LIST] =
		"SELECT key_id, from_state, to_state, at, reason FROM history"
		" WHERE key_id = ?1 ORDER BY id",
	[SQL_RETRY_SET] =
		"UPDATE keys SET attempts = ?2, next_try = ?3, last_error = ?4 WHERE id = ?1",
	[SQL_DNS_SET] = "UPDATE keys SET zone = ?2, neg_ttl = ?3 WHERE id = ?1",
	[SQL_RECORD_SET] = "UPDATE keys SET record = ?2 WHERE id = ?1",
	[SQL_ACTIVATE_AFTER_SET] = "UPDATE keys SET activate_after = ?2 WHERE id = ?1",
	[SQL_NS_PUT] =
		"INSERT INTO ns_answers (key_id, server, at, ok, detail)"
		" VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (key_id, server) DO UPDATE"
		" SET at = excluded.at, ok = excluded.ok, detail = excluded.detail",
	[SQL_NS_LIST] =
		"SELECT key_id, server, at, ok, detail FROM ns_answers WHERE key_id = ?1"
		" ORDER BY server",
	[SQL_USER_VERSION] = "PRAGMA user_version",
	/* One savepoint name serves every level: each refers to the innermost. */
	[SQL_BEGIN] = "BEGIN IMMEDIATE",
	[SQL_COMMIT] = "COMMIT",
	[SQL_ROLLBACK] = "ROLLBACK",
	[SQL_SAVEPOINT] = "SAVEPOINT dkr",
	[SQL_RELEASE] = "RELEASE dkr",
	[SQL_ROLLBACK_TO] = "ROLLBACK TO dkr",
};

struct state {
	sqlite3 *db;
	char *path;
	bool writer;
	int lock_fd;		/* -1 for readers */
	int depth;		/* 1: inside BEGIN, more: inside savepoints too */
	sqlite3_stmt *stmt[SQL_COUNT];
};

const char *key_state_name(enum key_state s)
{
	if ((int)s < 0 || s >= KS_COUNT)
		return "unknown";
	return state_names[s];
}

int key_state_parse(const char *name)
{
	if (name == NULL)
		return -1;
	for (int i = 0; i < KS_COUNT; i++)
		if (strcmp(name, state_names[i]) == 0)
			return i;
	return -1;
}

/* ------------------------------------------------------------ plumbing */

static int db_fail(struct state *st, struct dkr_error *e, const char *step)
{
	return dkr_fail(e, DKR_EDB, "state database %s: %s failed: %s", st->path, step,
			sqlite3_errmsg(st->db));
}

static int need_writer(struct state *st, const char *step, struct dkr_error *e)
{
	if (st->writer)
		return DKR_OK;
	return dkr_fail(e, DKR_EINVAL, "state database %s: cannot %s: it was opened read-only",
			st->path, step);
}

/* Statements run once, without parameters: pragmas and the schema. */
static int sql_exec(struct state *st, const char *sql, const char *step, struct dkr_error *e)
{
	if (sqlite3_exec(st->db, sql, NULL, NULL, NULL) != SQLITE_OK)
		return db_fail(st, e, step);
	return DKR_OK;
}

/*
 * The kept statement, or a fresh one when the kept one is being stepped
 * (a state_keys_each callback that reads again): stmt_put tells them apart.
 */
static int stmt_get(struct state *st, enum stmt_id id, sqlite3_stmt **out,
		    struct dkr_error *e)
{
	char buf[256];
	const char *sql = buf;
	unsigned flags = SQLITE_PREPARE_PERSISTENT;

	if (st->stmt[id] != NULL && !sqlite3_stmt_busy(st->stmt[id])) {
		*out = st->stmt[id];
		return DKR_OK;
	}

	/* Column names come from our own table, never from input. */
	if (id >= SQL_MOVE_FIRST)
		snprintf(buf, sizeof(buf),
			 "UPDATE keys SET state = ?1, %s = ?2, attempts = 0, next_try = 0,"
			 " last_error = '' WHERE id = ?3 AND state = ?4",
			 at_columns[id - SQL_MOVE_FIRST]);
	else
		sql = sql_text[id];

	if (st->stmt[id] != NULL)
		flags = 0;
	if (sqlite3_prepare_v3(st->db, sql, -1, flags, out, NULL) != SQLITE_OK)
		return db_fail(st, e, "preparing a statement");
	if (st->stmt[id] == NULL)
		st->stmt[id] = *out;
	return DKR_OK;
}

static void stmt_put(struct state *st, enum stmt_id id, sqlite3_stmt *s)
{
	if (s == NULL)
		return;
	if (s != st->stmt[id]) {
		sqlite3_finalize(s);
		return;
	}
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
}

/*
 * How many bytes of `s` fit in a field of `size` bytes (with its NUL),
 * cut on a UTF-8 character boundary.
 */
static int text_fit(const char *s, size_t size)
{
	size_t len = strlen(s);

	if (len < size)
		return (int)len;
	len = size - 1;
	while (len > 0 && ((unsigned char)s[len] & 0xC0) == 0x80)
		len--;
	return (int)len;
}

static int bind_text(sqlite3_stmt *s, int i, const char *text)
{
	return sqlite3_bind_text(s, i, text != NULL ? text : "", -1, SQLITE_STATIC);
}

/* Copy a text column into a fixed field, refusing what does not fit. */
static int column_copy(struct state *st, sqlite3_stmt *s, int col, char *dst, size_t size,
		       struct dkr_error *e)
{
	const unsigned char *t = sqlite3_column_text(s, col);
	int len = sqlite3_column_bytes(s, col);

	if (t == NULL) {
		dst[0] = '\0';
		return DKR_OK;
	}
	if (len < 0 || (size_t)len >= size)
		return dkr_fail(e, DKR_EDB, "state database %s: column %s holds %d bytes, "
				"more than the %zu this build accepts", st->path,
				sqlite3_column_name(s, col), len, size - 1);
	memcpy(dst, t, (size_t)len);
	dst[len] = '\0';
	return DKR_OK;
}

static int column_state(struct state *st, sqlite3_stmt *s, int col, enum key_state *out,
			struct dkr_error *e)
{
	const char *t = (const char *)sqlite3_column_text(s, col);
	int v = key_state_parse(t);

	if (v < 0)
		return dkr_fail(e, DKR_EDB, "state database %s: unknown key state '%s'",
				st->path, t != NULL ? t : "");
	*out = (enum key_state)v;
	return DKR_OK;
}

/* One row of KEY_COLUMNS into a key. */
static int row_to_key(struct state *st, sqlite3_stmt *s, struct state_key *k,
		      struct dkr_error *e)
{
	const char *alg;
	int a, ret;

	/* Every field is set below; no memset, as lists decode 200,000 of them. */
	k->id = sqlite3_column_int64(s, KC_ID);
	if ((ret = column_copy(st, s, KC_DOMAIN, k->domain, sizeof(k->domain), e)) ||
	    (ret = column_copy(st, s, KC_SELECTOR, k->selector, sizeof(k->selector), e)) ||
	    (ret = column_copy(st, s, KC_ZONE, k->zone, sizeof(k->zone), e)) ||
	    (ret = column_copy(st, s, KC_KEY_PATH, k->key_path, sizeof(k->key_path), e)) ||
	    (ret = column_copy(st, s, KC_RECORD, k->record, sizeof(k->record), e)) ||
	    (ret = column_copy(st, s, KC_LAST_ERROR, k->last_error, sizeof(k->last_error),
			       e)) ||
	    (ret = column_state(st, s, KC_STATE, &k->state, e)))
		return ret;

	alg = (const char *)sqlite3_column_text(s, KC_ALGORITHM);
	a = key_alg_parse(alg != NULL ? alg : "");
	if (a < 0)
		return dkr_fail(e, DKR_EDB, "state database %s: key %s %s has unknown algorithm "
				"'%s'", st->path, k->domain, k->selector, alg != NULL ? alg : "");
	k->algorithm = (enum key_alg)a;

	for (int i = 0; i < KS_COUNT; i++)
		k->at[i] = sqlite3_column_int64(s, KC_AT + i);
	k->ttl = sqlite3_column_int64(s, KC_TTL);
	k->neg_ttl = sqlite3_column_int64(s, KC_NEG_TTL);
	k->grace = sqlite3_column_int64(s, KC_GRACE);
	k->attempts = sqlite3_column_int(s, KC_ATTEMPTS);
	k->next_try = sqlite3_column_int64(s, KC_NEXT_TRY);
	k->activate_after = sqlite3_column_int64(s, KC_ACTIVATE_AFTER);
	return DKR_OK;
}

/* ---------------------------------------------------------- transactions */

/* A kept statement that returns no rows. */
static int stmt_run(struct state *st, enum stmt_id id, const char *step, struct dkr_error *e)
{
	sqlite3_stmt *s = NULL;
	int ret = stmt_get(st, id, &s, e);

	if (ret != DKR_OK)
		return ret;
	if (sqlite3_step(s) != SQLITE_DONE)
		ret = db_fail(st, e, step);
	stmt_put(st, id, s);
	return ret;
}

/*
 * The outermost level takes the write lock at once (BEGIN IMMEDIATE) so
 * that a compare-and-set never finds the database busy halfway through;
 * inner levels are savepoints, so a failed step inside a caller's
 * transaction undoes only itself.
 */
static int tx_begin(struct state *st, struct dkr_error *e)
{
	int ret;

	if (st->depth == 0)
		ret = stmt_run(st, SQL_BEGIN, "starting a transaction", e);
	else
		ret = stmt_run(st, SQL_SAVEPOINT, "starting a savepoint", e);
	if (ret == DKR_OK)
		st->depth++;
	return ret;
}

static int tx_commit(struct state *st, struct dkr_error *e)
{
	int ret;

	if (st->depth == 1)
		ret = stmt_run(st, SQL_COMMIT, "committing a transaction", e);
	else
		ret = stmt_run(st, SQL_RELEASE, "releasing a savepoint", e);
	if (ret == DKR_OK)
		st->depth--;
	return ret;
}

static int tx_rollback(struct state *st)
{
	int ret;

	if (st->depth == 0)
		return DKR_OK;
	if (st->depth == 1) {
		ret = stmt_run(st, SQL_ROLLBACK, "rolling back", NULL);
	} else {
		ret = stmt_run(st, SQL_ROLLBACK_TO, "rolling back a savepoint", NULL);
		if (ret == DKR_OK)
			ret = stmt_run(st, SQL_RELEASE, "releasing a savepoint", NULL);
	}
	st->depth--;
	return ret;
}

int state_begin(struct state *st, struct dkr_error *e)
{
	int ret = need_writer(st, "start a transaction", e);

	if (ret != DKR_OK)
		return ret;
	return tx_begin(st, e);
}

int state_commit(struct state *st, struct dkr_error *e)
{
	int ret;

	if (st->depth == 0)
		return dkr_fail(e, DKR_EINVAL, "state database %s: commit without a transaction",
				st->path);

	ret = tx_commit(st, e);
	if (ret != DKR_OK)
		tx_rollback(st);
	return ret;
}

int state_rollback(struct state *st)
{
	return tx_rollback(st);
}

/* --------------------------------------------------- opening and schema */

static int user_version_read(struct state *st, int *version, struct dkr_error *e)
{
	sqlite3_stmt *s = NULL;
	int ret = stmt_get(st, SQL_USER_VERSION, &s, e);

	if (ret != DKR_OK)
		return ret;
	if (sqlite3_step(s) != SQLITE_ROW)
		ret = db_fail(st, e, "reading the schema version");
	else
		*version = sqlite3_column_int(s, 0);
	stmt_put(st, SQL_USER_VERSION, s);
	return ret;
}

/* Version 0 is either a new, empty file or something that is not ours. */
static int schema_is_empty(struct state *st, bool *empty, struct dkr_error *e)
{
	sqlite3_stmt *s = NULL;
	int ret = DKR_OK;

	if (sqlite3_prepare_v2(st->db, "SELECT count(*) FROM sqlite_master", -1, &s,
			       NULL) != SQLITE_OK)
		return db_fail(st, e, "reading the schema");
	if (sqlite3_step(s) != SQLITE_ROW)
		ret = db_fail(st, e, "reading the schema");
	else
		*empty = sqlite3_column_int(s, 0) == 0;
	sqlite3_finalize(s);
	return ret;
}

static int schema_migrate(struct state *st, struct dkr_error *e)
{
	char sql[64];
	int version = 0, ret, v;
	bool empty = false;

	ret = user_version_read(st, &version, e);
	if (ret != DKR_OK)
		return ret;
	if (version > STATE_SCHEMA_VERSION)
		return dkr_fail(e, DKR_EDB, "state database %s has schema version %d, newer than "
				"the %d this build of dkimrot understands: run a newer dkimrot "
				"(refusing to read or change it)", st->path, version,
				STATE_SCHEMA_VERSION);
	if (version == STATE_SCHEMA_VERSION)
		return DKR_OK;

	if (version == 0) {
		ret = schema_is_empty(st, &empty, e);
		if (ret != DKR_OK)
			return ret;
		if (!empty)
			return dkr_fail(e, DKR_EDB, "state database %s holds tables but no "
					"dkimrot schema version: it is not a dkimrot state "
					"database (refusing to change it)", st->path);
	}

	ret = tx_begin(st, e);
	if (ret != DKR_OK)
		return ret;

	for (v = version; v < STATE_SCHEMA_VERSION && ret == DKR_OK; v++)
		if (sqlite3_exec(st->db, migrations[v], NULL, NULL, NULL) != SQLITE_OK)
			ret = dkr_fail(e, DKR_EDB, "state database %s: upgrading the schema "
				       "from version %d to %d failed: %s", st->path, v, v + 1,
				       sqlite3_errmsg(st->db));

	/* A pragma takes no parameters; the number is our own constant. */
	snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", STATE_SCHEMA_VERSION);
	if (ret == DKR_OK)
		ret = sql_exec(st, sql, "recording the schema version", e);
	if (ret == DKR_OK)
		ret = tx_commit(st, e);
	if (ret != DKR_OK) {
		tx_rollback(st);
		return ret;
	}

	if (version > 0 && st->writer)
		log_msg(LOG_LVL_NOTICE, "state database %s: schema upgraded from version %d "
			"to %d", st->path, version, STATE_SCHEMA_VERSION);
	return DKR_OK;
}

static int dir_of(const char *path, char *dir, size_t size)
{
	const char *slash = strrchr(path, '/');
	size_t len;

	if (slash == NULL)
		return snprintf(dir, size, ".") < (int)size ? 0 : -1;
	len = slash == path ? 1 : (size_t)(slash - path);
	if (len >= size)
		return -1;
	memcpy(dir, path, len);
	dir[len] = '\0';
	return 0;
}

static int dir_check(const char *path, struct dkr_error *e)
{
	char dir[4096];
	struct stat sb;

	if (dir_of(path, dir, sizeof(dir)) != 0)
		return dkr_fail(e, DKR_EINVAL, "state database path %s is too long", path);
	if (stat(dir, &sb) != 0)
		return dkr_fail(e, DKR_EIO, "state database %s: directory %s: %s (create it, "
				"owned by the daemon's user, mode 0700)", path, dir,
				strerror(errno));
	if (!S_ISDIR(sb.st_mode))
		return dkr_fail(e, DKR_EIO, "state database %s: %s is not a directory", path,
				dir);
	return DKR_OK;
}

/*
 * The writer lock.  flock is released by the kernel when the process dies,
 * so a crash never leaves a stale lock; the pid in the file is only there
 * to tell the operator who holds it.
 */
static int lock_take(struct state *st, struct dkr_error *e)
{
	char *lock = xasprintf("%s.lock", st->path);
	char buf[32];
	ssize_t n;
	long pid = 0;
	int fd, ret = DKR_OK, len;

	fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		ret = dkr_fail(e, DKR_EIO, "state database %s: opening the lock file %s failed: "
			       "%s", st->path, lock, strerror(errno));
		goto out;
	}

	if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
		if (errno != EWOULDBLOCK) {
			ret = dkr_fail(e, DKR_EIO, "state database %s: locking %s failed: %s",
				       st->path, lock, strerror(errno));
			goto out;
		}
		n = pread(fd, buf, sizeof(buf) - 1, 0);
		buf[n > 0 ? n : 0] = '\0';
		if (sscanf(buf, "%ld", &pid) == 1 && pid > 0)
			ret = dkr_fail(e, DKR_ELOCKED, "state database %s is in use by another "
				       "dkimrot writer (pid %ld holds the lock %s)", st->path,
				       pid, lock);
		else
			ret = dkr_fail(e, DKR_ELOCKED, "state database %s is in use by another "
				       "dkimrot writer (it holds the lock %s)", st->path, lock);
		goto out;
	}

	len = snprintf(buf, sizeof(buf), "%ld\n", (long)getpid());
	if (ftruncate(fd, 0) != 0 || pwrite(fd, buf, (size_t)len, 0) != len) {
		ret = dkr_fail(e, DKR_EIO, "state database %s: writing the pid into %s failed: "
			       "%s", st->path, lock, strerror(errno));
		goto out;
	}
	st->lock_fd = fd;
	fd = -1;

out:
	if (fd >= 0)
		close(fd);
	free(lock);
	return ret;
}

/* Create the file ourselves so its mode is 0600 whatever the umask. */
static int db_file_create(const char *path, struct dkr_error *e)
{
	int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);

	if (fd < 0 && errno == EEXIST)
		return DKR_OK;
	if (fd < 0)
		return dkr_fail(e, DKR_EIO, "state database %s: creating the file failed: %s",
				path, strerror(errno));
	if (fchmod(fd, 0600) != 0) {
		close(fd);
		return dkr_fail(e, DKR_EIO, "state database %s: setting mode 0600 failed: %s",
				path, strerror(errno));
	}
	close(fd);
	return DKR_OK;
}

static int db_connect(struct state *st, const char *file, int flags, struct dkr_error *e)
{
	if (sqlite3_open_v2(file, &st->db, flags, NULL) != SQLITE_OK) {
		if (st->db == NULL)
			return dkr_fail(e, DKR_ENOMEM, "state database %s: out of memory",
					st->path);
		return db_fail(st, e, "opening");
	}
	sqlite3_busy_timeout(st->db, STATE_BUSY_MS);
	return DKR_OK;
}

static int writer_open(struct state *st, struct dkr_error *e)
{
	sqlite3_stmt *s = NULL;
	int ret, persist = 1;
	const char *mode;

	if ((ret = dir_check(st->path, e)) != DKR_OK ||
	    (ret = lock_take(st, e)) != DKR_OK ||
	    (ret = db_file_create(st->path, e)) != DKR_OK ||
	    (ret = db_connect(st, st->path, SQLITE_OPEN_READWRITE, e)) != DKR_OK)
		return ret;

	/* WAL is what lets readers run beside the writer: insist on it. */
	if (sqlite3_prepare_v2(st->db, "PRAGMA journal_mode = WAL", -1, &s, NULL) != SQLITE_OK ||
	    sqlite3_step(s) != SQLITE_ROW) {
		ret = db_fail(st, e, "switching to WAL mode");
		goto out;
	}
	mode = (const char *)sqlite3_column_text(s, 0);
	if (mode == NULL || strcmp(mode, "wal") != 0) {
		ret = dkr_fail(e, DKR_EDB, "state database %s: the file system refused WAL mode "
			       "(journal mode is %s); put the database on a local disk",
			       st->path, mode != NULL ? mode : "unknown");
		goto out;
	}
	sqlite3_finalize(s);
	s = NULL;

	/*
	 * Keep the -wal and -shm files after closing, so that a reader never
	 * has to create them (`plan` must change nothing on disk).
	 */
	sqlite3_file_control(st->db, "main", SQLITE_FCNTL_PERSIST_WAL, &persist);

	/* The limit also empties the kept -wal file when the writer closes. */
	if ((ret = sql_exec(st, "PRAGMA synchronous = FULL", "setting synchronous=FULL",
			    e)) != DKR_OK ||
	    (ret = sql_exec(st, "PRAGMA journal_size_limit = 4194304",
			    "limiting the WAL size", e)) != DKR_OK ||
	    (ret = sql_exec(st, "PRAGMA foreign_keys = ON", "enabling foreign keys",
			    e)) != DKR_OK)
		goto out;

	ret = schema_migrate(st, e);

out:
	sqlite3_finalize(s);
	return ret;
}

/* A reader of an older schema upgrades a private copy in memory. */
static int reader_copy_to_memory(struct state *st, struct dkr_error *e)
{
	sqlite3 *file = st->db;
	sqlite3_backup *b;
	int ret;

	st->db = NULL;
	ret = db_connect(st, ":memory:", SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, e);
	if (ret != DKR_OK)
		goto out;

	b = sqlite3_backup_init(st->db, "main", file, "main");
	if (b == NULL) {
		ret = db_fail(st, e, "copying an older schema into memory");
		goto out;
	}
	sqlite3_backup_step(b, -1);
	if (sqlite3_backup_finish(b) != SQLITE_OK)
		ret = db_fail(st, e, "copying an older schema into memory");

out:
	sqlite3_close(file);
	return ret;
}

static int reader_open(struct state *st, struct dkr_error *e)
{
	struct stat sb;
	int ret, version = 0;

	/* Nothing stored yet: an empty schema in memory answers every query. */
	if (stat(st->path, &sb) != 0) {
		if (errno != ENOENT && errno != ENOTDIR)
			return dkr_fail(e, DKR_EIO, "state database %s: %s", st->path,
					strerror(errno));
		ret = db_connect(st, ":memory:", SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, e);
		if (ret == DKR_OK)
			ret = schema_migrate(st, e);
		goto out;
	}

	ret = db_connect(st, st->path, SQLITE_OPEN_READONLY, e);
	if (ret == DKR_OK)
		ret = user_version_read(st, &version, e);
	if (ret != DKR_OK)
		goto out;

	/* The refusal of a newer or foreign schema is schema_migrate's. */
	if (version < STATE_SCHEMA_VERSION) {
		bool empty = false;

		if (version == 0 && (ret = schema_is_empty(st, &empty, e)) != DKR_OK)
			goto out;
		if (version > 0 || empty) {
			sqlite3_finalize(st->stmt[SQL_USER_VERSION]);
			st->stmt[SQL_USER_VERSION] = NULL;
			ret = reader_copy_to_memory(st, e);
			if (ret != DKR_OK)
				goto out;
		}
	}
	ret = schema_migrate(st, e);

out:
	if (ret == DKR_OK)
		ret = sql_exec(st, "PRAGMA query_only = ON", "making the reader read-only", e);
	return ret;
}

int state_open(const char *path, bool writer, struct state **out, struct dkr_error *e)
{
	struct state *st;
	int ret;

	*out = NULL;
	if (path == NULL || path[0] == '\0' || strlen(path) >= 4000)
		return dkr_fail(e, DKR_EINVAL, "state database path is empty or too long");

	st = xcalloc(1, sizeof(*st));
	st->path = xstrdup(path);
	st->writer = writer;
	st->lock_fd = -1;

	ret = writer ? writer_open(st, e) : reader_open(st, e);
	if (ret != DKR_OK) {
		state_close(st);
		return ret;
	}
	*out = st;
	return DKR_OK;
}

/* Work not committed by now is dropped, as a crash would drop it. */
void state_close(struct state *st)
{
	if (st == NULL)
		return;
	while (st->depth > 0)
		tx_rollback(st);
	for (int i = 0; i < SQL_COUNT; i++)
		sqlite3_finalize(st->stmt[i]);
	sqlite3_close(st->db);
	if (st->lock_fd >= 0)
		close(st->lock_fd);
	free(st->path);
	free(st);
}

int state_schema_version(struct state *st)
{
	int version = -1;

	if (user_version_read(st, &version, NULL) != DKR_OK)
		return -1;
	return version;
}

/* ------------------------------------------------------------------ keys */

static int key_check(struct state *st, const struct state_key *k, struct dkr_error *e)
{
	if (!name_is_hostname(k->domain))
		return dkr_fail(e, DKR_EINVAL, "state database %s: '%.*s' is not a valid domain",
				st->path, DKR_NAME_MAX, k->domain);
	if (!name_is_label(k->selector))
		return dkr_fail(e, DKR_EINVAL, "%s: selector '%.*s' is not a valid DNS label",
				k->domain, STATE_SELECTOR_MAX, k->selector);
	if (k->zone[0] != '\0' && !name_is_hostname(k->zone))
		return dkr_fail(e, DKR_EINVAL, "%s %s: zone '%.*s' is not a valid name",
				k->domain, k->selector, DKR_NAME_MAX, k->zone);
	if ((int)k->algorithm < 0 || k->algorithm >= KEY_ALG_COUNT)
		return dkr_fail(e, DKR_EINVAL, "%s %s: unknown algorithm %d", k->domain,
				k->selector, (int)k->algorithm);
	if (k->state != KS_CREATED)
		return dkr_fail(e, DKR_EINVAL, "%s %s: a new key starts in state created, "
				"not %s", k->domain, k->selector, key_state_name(k->state));
	if (k->ttl < 0 || k->neg_ttl < 0 || k->grace < 0 || k->activate_after < 0)
		return dkr_fail(e, DKR_EINVAL, "%s %s: negative ttl, neg_ttl, grace or "
				"activation time",
				k->domain, k->selector);
	if (strnlen(k->key_path, sizeof(k->key_path)) == sizeof(k->key_path) ||
	    strnlen(k->record, sizeof(k->record)) == sizeof(k->record) ||
	    strnlen(k->last_error, sizeof(k->last_error)) == sizeof(k->last_error))
		return dkr_fail(e, DKR_EINVAL, "%s %s: key path, record or last error is not "
				"terminated", k->domain, k->selector);
	return DKR_OK;
}

int state_key_insert(struct state *st, struct state_key *key, struct dkr_error *e)
{
	sqlite3_stmt *s = NULL;
	int ret, rc;

	if ((ret = need_writer(st, "insert a key", e)) != DKR_OK ||
	    (ret = key_check(st, key, e)) != DKR_OK ||
	    (ret = stmt_get(st, SQL_KEY_INSERT, &s, e)) != DKR_OK)
		return ret;

	rc = bind_text(s, 1, key->domain);
	if (rc == SQLITE_OK)
		rc = bind_text(s, 2, key->selector);
	if (rc == SQLITE_OK)
		rc = bind_text(s, 3, key->zone);
	if (rc == SQLITE_OK)
		rc = bind_text(s, 4, key_alg_name(key->algorithm));
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(s, 5, key->at[KS_CREATED]);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(s, 6, key->ttl);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(s, 7, key->neg_ttl);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(s, 8, key->grace);
	if (rc == SQLITE_OK)
		rc = bind_text(s, 9, key->key_path);
	if (rc == SQLITE_OK)
		rc = bind_text(s, 10, key->record);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int(s, 11, key->attempts);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(s, 12, key->next_try);
	if (rc == SQLITE_OK)
		rc = bind_text(s, 13, key->last_error);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(s, 14, key->activate_after);
	if (rc != SQLITE_OK) {
		ret = db_fail(st, e, "binding a new key");
		goto out;
	}

	rc = sqlite3_step(s);
	if (rc == SQLITE_CONSTRAINT &&
	    sqlite3_extended_errcode(st->db) == SQLITE_CONSTRAINT_UNIQUE) {
		ret = dkr_fail(e, DKR_ECONFLICT, "%s %s: selector already used for this domain "
			       "(state database %s); a selector is never used twice",
			       key->domain, key->selector, st->path);
		goto out;
	}
	if (rc != SQLITE_DONE) {
		ret = db_fail(st, e, "inserting a key");
		goto out;
	}
	key->id = sqlite3_last_insert_rowid(st->db);

out:
	stmt_put(st, SQL_KEY_INSERT, s);
	return ret;
}

int state_key_get(struct state *st, int64_t id, struct state_key *out, struct dkr_error *e)
{
	sqlite3_stmt *s = NULL;
	int ret, rc;

	ret = stmt_get(st, SQL_KEY_GET, &s, e);
	if (ret != DKR_OK)
		return ret;

	if (sqlite3_bind_int64(s, 1, id) != SQLITE_OK) {
		ret = db_fail(st, e, "binding a key id");
		goto out;
	}
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		ret = row_to_key(st, s, out, e);
	else if (rc == SQLITE_DONE)
		ret = dkr_fail(e, DKR_ENOTFOUND, "state database %s has no key with id %" PRId64,
			       st->path, id);
	else
		ret = db_fail(st, e, "reading a key");

out:
	stmt_put(st, SQL_KEY_GET, s);
	return ret;
}

int state_selector_used(struct state *st, const char *domain, const char *selector,
			bool *used, struct dkr_error *e)
{
	sqlite3_stmt *s = NULL;
	int ret, rc;

	ret = stmt_get(st, SQL_SELECTOR_USED, &s, e);
	if (ret != DKR_OK)
		return ret;

	rc = bind_text(s, 1, domain);
	if (rc == SQLITE_OK)
		rc = bind_text(s, 2, selector);
	if (rc != SQLITE_OK) {
		ret = db_fail(st, e, "binding a selector");
		goto out;
	}
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW || rc == SQLITE_DONE)
		*used = rc == SQLITE_ROW;
	else
		ret = db_fail(st, e, "looking up a selector");

out:
	stmt_put(st, SQL_SELECTOR_USED, s);
	return ret;
}

/* Why a compare-and-set on key `id` found nothing to change. */
static int transition_refused(struct state *st, int64_t id, enum key_state from,
			      enum key_state to, struct dkr_error *e)
{
	sqlite3_stmt *s = NULL;
	int ret, rc;

	ret = stmt_get(st, SQL_KEY_WHO, &s, e);
	if (ret != DKR_OK)
		return ret;

	if (sqlite3_bind_int64(s, 1, id) != SQLITE_OK) {
		ret = db_fail(st, e, "binding a key id");
		goto out;
	}
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		ret = dkr_fail(e, DKR_ECONFLICT, "%s %s: cannot move from %s to %s: the state "
			       "database %s says the key is %s now (another process moved it)",
			       (const char *)sqlite3_column_text(s, 0),
			       (const char *)sqlite3_column_text(s, 1), key_state_name(from),
			       key_state_name(to), st->path,
			       (const char *)sqlite3_column_text(s, 2));
	else if (rc == SQLITE_DONE)
		ret = dkr_fail(e, DKR_ENOTFOUND, "state database %s has no key with id %" PRId64,
			       st->path, id);
	else
		ret = db_fail(st, e, "reading a key's state");

out:
	stmt_put(st, SQL_KEY_WHO, s);
	return ret;
}

static int history_add(struct state *st, int64_t id, enum key_state from, enum key_state to,
		       int64_t when, const char *reason, struct dkr_error *e)
{
	sqlite3_stmt *s = NULL;
	int ret, rc;

	ret = stmt_get(st, SQL_HISTORY_ADD, &s, e);
	if (ret != DKR_OK)
		return ret;

	if (reason == NULL)
		reason = "";
	rc = sqlite3_bind_int64(s, 1, id);
	if (rc == SQLITE_OK)
		rc = bind_text(s, 2, key_state_name(from));
	if (rc == SQLITE_OK)
		rc = bind_text(s, 3, key_state_name(to));
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(s, 4, when);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_text(s, 5, reason,
				       text_fit(reason, FIELD_SIZE(struct state_history, reason)),
				       SQLITE_STATIC);
	if (rc != SQLITE_OK)
		ret = db_fail(st, e, "binding a history row");
	else if (sqlite3_step(s) != SQLITE_DONE)
		ret = db_fail(st, e, "recording a transition in the history");

	stmt_put(st, SQL_HISTORY_ADD, s);
	return ret;
}

static int transition_cas(struct state *st, int64_t id, enum key_state from,
			  enum key_state to, int64_t when, struct dkr_error *e)
{
	enum stmt_id which = (enum stmt_id)(SQL_MOVE_FIRST + to);
	sqlite3_stmt *s = NULL;
	int ret, rc;

	ret = stmt_get(st, which, &s, e);
	if (ret != DKR_OK)
		return ret;

	rc = bind_text(s, 1, key_state_name(to));
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(s, 2, when);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(s, 3, id);
	if (rc == SQLITE_OK)
		rc = bind_text(s, 4, key_state_name(from));
	if (rc != SQLITE_OK)
		ret = db_fail(st, e, "binding a transition");
	else if (sqlite3_step(s) != SQLITE_DONE)
		ret = db_fail(st, e, "changing a key's state");
	else if (sqlite3_changes(st->db) != 1)
		ret = transition_refused(st, id, from, to, e);

	stmt_put(st, which, s);
	return ret;
}

int state_key_transition(struct state *st, int64_t id, enum key_state from,
			 enum key_state to, int64_t when, const char *reason,
			 struct dkr_error *e)
{
	int ret;

	if ((int)from < 0 || from >= KS_DESTROYED || to != from + 1)
		return dkr_fail(e, DKR_EINVAL, "state database %s: key %" PRId64 " cannot move "
				"from %s to %s: a key moves forward one state at a time",
				st->path, id, key_state_name(from), key_state_name(to));
	if ((ret = need_writer(st, "change a key's state", e)) != DKR_OK ||
	    (ret = tx_begin(st, e)) != DKR_OK)
		return ret;

	if ((ret = transition_cas(st, id, from, to, when, e)) != DKR_OK ||
	    (ret = history_add(st, id, from, to, when, reason, e)) != DKR_OK ||
	    (ret = tx_commit(st, e)) != DKR_OK)
		tx_rollback(st);
	return ret;
}

/* Run a one-row UPDATE of key `id` and tell a missing key apart. */
static int key_update_step(struct state *st, sqlite3_stmt *s, int64_t id, const char *step,
			   struct dkr_error *e)
{
	if (sqlite3_step(s) != SQLITE_DONE)
		return db_fail(st, e, step);
	if (sqlite3_changes(st->db) != 1)
		return dkr_fail(e, DKR_ENOTFOUND, "state database %s has no key with id %" PRId64,
				st->path, id);
	return DKR_OK;
}

int state_key_set_retry(struct state *st, int64_t id, int attempts, int64_t next_try,
			const char *error, struct dkr_error *e)
{
	sqlite3_stmt *s = NULL;
	int ret, rc;

	if ((ret = need_writer(st, "record a retry", e)) != DKR_OK ||
	    (ret = stmt_get(st, SQL_RETRY_SET, &s, e)) != DKR_OK)
		return ret;

	if (error == NULL)
		error = "";
	rc = sqlite3_bind_int64(s, 1, id);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int(s, 2, attempts);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(s, 3, next_try);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_text(s, 4, error,
				       text_fit(error, FIELD_SIZE(struct state_key, last_error)),
				       SQLITE_STATIC);
	if (rc != SQLITE_OK)
		ret = db_fail(st, e, "binding a retry");
	else
		ret = key_update_step(st, s, id, "recording a retry", e);

	stmt_put(st, SQL_RETRY_SET, s);
	return ret;
}

int state_key_update_dns(struct state *st, int64_t id, const char *zone, int64_t neg_ttl,
			 struct dkr_error *e)
{
	sqlite3_stmt *s = NULL;
	int ret, rc;

	if (zone == NULL || !name_is_hostname(zone))
		return dkr_fail(e, DKR_EINVAL, "state database %s: key %" PRId64 ": '%s' is not "
				"a valid zone name", st->path, id, zone != NULL ? zone : "");
	if (neg_ttl < 0)
		return dkr_fail(e, DKR_EINVAL, "state database %s: key %" PRId64 ": negative "
				"negative-caching TTL %" PRId64, st->path, id, neg_ttl);
	if ((ret = need_writer(st, "update a key's zone", e)) != DKR_OK ||
	    (ret = stmt_get(st, SQL_DNS_SET, &s, e)) != DKR_OK)
		return ret;

	rc = sqlite3_bind_int64(s, 1, id);
	if (rc == SQLITE_OK)
		rc = bind_text(s, 2, zone);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(s, 3, neg_ttl);
	if (rc != SQLITE_OK)
		ret = db_fail(st, e, "binding a zone");
	else
		ret = key_update_step(st, s, id, "updating a key's zone", e);

	stmt_put(st, SQL_DNS_SET, s);
	return ret;
}

int state_key_set_activate_after(struct state *st, int64_t id, int64_t when,
				 struct dkr_error *e)
{
	sqlite3_stmt *s = NULL;
	int ret;

	if ((ret = need_writer(st, "move a key's switch time", e)) != DKR_OK ||
	    (ret = stmt_get(st, SQL_ACTIVATE_AFTER_SET, &s, e)) != DKR_OK)
		return ret;

	if (sqlite3_bind_int64(s, 1, id) != SQLITE_OK ||
	    sqlite3_bind_int64(s, 2, when) != SQLITE_OK)
		ret = db_fail(st, e, "binding a switch time");
	else
		ret = key_update_step(st, s, id, "moving a key's switch time", e);

	stmt_put(st, SQL_ACTIVATE_AFTER_SET, s);
	return ret;
}

int state_key_set_record(struct state *st, int64_t id, const char *record,
			 struct dkr_error *e)
{
	sqlite3_stmt *s = NULL;
	size_t len = record != NULL ? strlen(record) : 0;
	int ret, rc;

	if (len == 0 || len >= FIELD_SIZE(struct state_key, record))
		return dkr_fail(e, DKR_EINVAL, "state database %s: key %" PRId64 ": a DKIM "
				"record of %zu bytes cannot be stored (1 to %zu)", st->path, id,
				len, FIELD_SIZE(struct state_key, record) - 1);
	if ((ret = need_writer(st, "store a key's record", e)) != DKR_OK ||
	    (ret = stmt_get(st, SQL_RECORD_SET, &s, e)) != DKR_OK)
		return ret;

	rc = sqlite3_bind_int64(s, 1, id);
	if (rc == SQLITE_OK)
		rc = bind_text(s, 2, record);
	if (rc != SQLITE_OK)
		ret = db_fail(st, e, "binding a record");
	else
		ret = key_update_step(st, s, id, "storing a key's record", e);

	stmt_put(st, SQL_RECORD_SET, s);
	return ret;
}

/* ---------------------------------------------------------------- lists */

/* Grow a malloc'd array of `size`-byte items to hold one more. */
static int vec_grow(void **v, size_t n, size_t *cap, size_t size, struct dkr_error *e)
{
	void *p;
	size_t c;

	if (n < *cap)
		return DKR_OK;
	c = *cap != 0 ? *cap * 2 : 8;
	p = reallocarray(*v, c, size);
	if (p == NULL)
		return dkr_fail(e, DKR_ENOMEM, "out of memory reading the state database");
	*v = p;
	*cap = c;
	return DKR_OK;
}


static int keys_query(struct state *st, const char *domain, bool live_only,
		      enum stmt_id *which, sqlite3_stmt **s, struct dkr_error *e)
{
	int ret;

	if (domain != NULL)
		*which = live_only ? SQL_KEYS_DOMAIN_LIVE : SQL_KEYS_DOMAIN;
	else
		*which = live_only ? SQL_KEYS_ALL_LIVE : SQL_KEYS_ALL;
	ret = stmt_get(st, *which, s, e);
	if (ret != DKR_OK)
		return ret;

	if (domain != NULL && bind_text(*s, 1, domain) != SQLITE_OK)
		return db_fail(st, e, "binding a domain");
	return DKR_OK;
}

int state_keys_each(struct state *st, const char *domain, bool live_only,
		    int (*fn)(const struct state_key *key, void *arg, struct dkr_error *e),
		    void *arg, struct dkr_error *e)
{
	enum stmt_id which = SQL_KEYS_ALL;
	sqlite3_stmt *s = NULL;
	struct state_key *k = xcalloc(1, sizeof(*k));
	int ret, rc;

	ret = keys_query(st, domain, live_only, &which, &s, e);
	if (ret != DKR_OK)
		goto out;

	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		if ((ret = row_to_key(st, s, k, e)) != DKR_OK ||
		    (ret = fn(k, arg, e)) != DKR_OK)
			goto out;
	}
	if (rc != SQLITE_DONE)
		ret = db_fail(st, e, "listing keys");

out:
	stmt_put(st, which, s);
	free(k);
	return ret;
}

/*
 * Rows are decoded straight into the array: at 7 KB a key, a copy per row
 * and a cleared struct per row cost more than the query.
 */
int state_keys_list(struct state *st, const char *domain, struct state_key **keys,
		    size_t *n, struct dkr_error *e)
{
	enum stmt_id which = SQL_KEYS_ALL;
	sqlite3_stmt *s = NULL;
	struct state_key *v = NULL;
	size_t cnt = 0, cap = 0;
	int ret, rc;

	ret = keys_query(st, domain, false, &which, &s, e);
	if (ret != DKR_OK)
		goto out;

	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		if ((ret = vec_grow((void **)&v, cnt, &cap, sizeof(*v), e)) != DKR_OK ||
		    (ret = row_to_key(st, s, &v[cnt], e)) != DKR_OK)
			goto out;
		cnt++;
	}
	if (rc != SQLITE_DONE)
		ret = db_fail(st, e, "listing keys");

out:
	stmt_put(st, which, s);
	if (ret != DKR_OK) {
		free(v);
		v = NULL;
		cnt = 0;
	}
	*keys = v;
	*n = cnt;
	return ret;
}

int state_domains_list(struct state *st, char ***domains, size_t *n, struct dkr_error *e)
{
	sqlite3_stmt *s = NULL;
	char **v = NULL;
	size_t cnt = 0, cap = 0;
	int ret, rc;

	ret = stmt_get(st, SQL_DOMAINS, &s, e);
	if (ret != DKR_OK)
		goto out;

	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		const char *d = (const char *)sqlite3_column_text(s, 0);

		ret = vec_grow((void **)&v, cnt, &cap, sizeof(*v), e);
		if (ret != DKR_OK)
			goto out;
		v[cnt++] = xstrdup(d != NULL ? d : "");
	}
	if (rc != SQLITE_DONE)
		ret = db_fail(st, e, "listing domains");

out:
	stmt_put(st, SQL_DOMAINS, s);
	if (ret != DKR_OK) {
		state_strings_free(v, cnt);
		v = NULL;
		cnt = 0;
	}
	*domains = v;
	*n = cnt;
	return ret;
}

void state_strings_free(char **v, size_t n)
{
	if (v == NULL)
		return;
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static int row_to_history(struct state *st, sqlite3_stmt *s, void *out, struct dkr_error *e)
{
	struct state_history *h = out;
	int ret;

	memset(h, 0, sizeof(*h));
	h->key_id = sqlite3_column_int64(s, 0);
	h->at = sqlite3_column_int64(s, 3);
	if ((ret = column_state(st, s, 1, &h->from, e)) != DKR_OK ||
	    (ret = column_state(st, s, 2, &h->to, e)) != DKR_OK)
		return ret;
	return column_copy(st, s, 4, h->reason, sizeof(h->reason), e);
}

/* Rows of one key from a prepared list statement, converted by `row`. */
static int list_by_key(struct state *st, int which, int64_t key_id, size_t size,
		       int (*row)(struct state *, sqlite3_stmt *, void *, struct dkr_error *),
		       const char *what, void **rows, size_t *n, struct dkr_error *e)
{
	sqlite3_stmt *s = NULL;
	char *v = NULL;
	size_t cnt = 0, cap = 0;
	int ret, rc;

	ret = stmt_get(st, which, &s, e);
	if (ret != DKR_OK)
		goto out;

	if (sqlite3_bind_int64(s, 1, key_id) != SQLITE_OK) {
		ret = db_fail(st, e, "binding a key id");
		goto out;
	}
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		if ((ret = vec_grow((void **)&v, cnt, &cap, size, e)) != DKR_OK ||
		    (ret = row(st, s, v + cnt * size, e)) != DKR_OK)
			goto out;
		cnt++;
	}
	if (rc != SQLITE_DONE)
		ret = db_fail(st, e, what);

out:
	stmt_put(st, which, s);
	if (ret != DKR_OK) {
		free(v);
		v = NULL;
		cnt = 0;
	}
	*rows = v;
	*n = cnt;
	return ret;
}

int state_history_list(struct state *st, int64_t key_id, struct state_history **rows,
		       size_t *n, struct dkr_error *e)
{
	return list_by_key(st, SQL_HISTORY_LIST, key_id, sizeof(**rows), row_to_history,
			   "listing a key's history", (void **)rows, n, e);
}

/* ---------------------------------------------------- nameserver answers */

int state_ns_answer_put(struct state *st, const struct state_ns_answer *a,
			struct dkr_error *e)
{
	sqlite3_stmt *s = NULL;
	int ret, rc;

	if (strnlen(a->server, sizeof(a->server)) == 0 ||
	    strnlen(a->server, sizeof(a->server)) == sizeof(a->server))
		return dkr_fail(e, DKR_EINVAL, "state database %s: key %" PRId64 ": nameserver "
				"name is empty or not terminated", st->path, a->key_id);
	if (strnlen(a->detail, sizeof(a->detail)) == sizeof(a->detail))
		return dkr_fail(e, DKR_EINVAL, "state database %s: key %" PRId64 ": answer of "
				"%s is not terminated", st->path, a->key_id, a->server);
	if ((ret = need_writer(st, "record a nameserver answer", e)) != DKR_OK ||
	    (ret = stmt_get(st, SQL_NS_PUT, &s, e)) != DKR_OK)
		return ret;

	rc = sqlite3_bind_int64(s, 1, a->key_id);
	if (rc == SQLITE_OK)
		rc = bind_text(s, 2, a->server);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(s, 3, a->at);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int(s, 4, a->ok ? 1 : 0);
	if (rc == SQLITE_OK)
		rc = bind_text(s, 5, a->detail);
	if (rc != SQLITE_OK) {
		ret = db_fail(st, e, "binding a nameserver answer");
		goto out;
	}

	rc = sqlite3_step(s);
	if (rc == SQLITE_CONSTRAINT &&
	    sqlite3_extended_errcode(st->db) == SQLITE_CONSTRAINT_FOREIGNKEY)
		ret = dkr_fail(e, DKR_ENOTFOUND, "state database %s has no key with id %" PRId64
			       " (answer of %s not recorded)", st->path, a->key_id, a->server);
	else if (rc != SQLITE_DONE)
		ret = db_fail(st, e, "recording a nameserver answer");

out:
	stmt_put(st, SQL_NS_PUT, s);
	return ret;
}

static int row_to_ns_answer(struct state *st, sqlite3_stmt *s, void *out, struct dkr_error *e)
{
	struct state_ns_answer *a = out;
	int ret;

	memset(a, 0, sizeof(*a));
	a->key_id = sqlite3_column_int64(s, 0);
	a->at = sqlite3_column_int64(s, 2);
	a->ok = sqlite3_column_int(s, 3) != 0;
	if ((ret = column_copy(st, s, 1, a->server, sizeof(a->server), e)) != DKR_OK)
		return ret;
	return column_copy(st, s, 4, a->detail, sizeof(a->detail), e);
}

int state_ns_answers_list(struct state *st, int64_t key_id, struct state_ns_answer **rows,
			  size_t *n, struct dkr_error *e)
{
	return list_by_key(st, SQL_NS_LIST, key_id, sizeof(**rows), row_to_ns_answer,
			   "listing nameserver answers", (void **)rows, n, e);
}
