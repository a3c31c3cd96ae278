/*
 * helper_invariants.c - the invariant checker of helper_invariants.h.  It
 * trusts nothing dkimrot says about the world: the key the MTA signs with
 * is read from the link and its record rebuilt from the key file, every
 * record is asked of both servers, file modes come from stat, and zone
 * changes from two zone transfers.  Only which keys exist, and when they
 * changed state, comes from the database.
 */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../dnsupdate/dnsupdate.h"
#include "../rotator/rotator.h"
#include "../state/state.h"
#include "helper.h"
#include "helper_invariants.h"

#define ASK_TIMEOUT_MS 1000
#define ASK_RETRIES 2
#define AXFR_MAX (4 * 1024 * 1024)

/* One run of the checks: what was read once, and the violations found. */
struct inv_run {
	const struct inv_world *w;
	struct state_key *keys;
	size_t n_keys;
	struct dnsu_ns *ns;
	size_t n_ns;
	int64_t now;
	char *text;
	size_t len;
};

static void inv_add(struct inv_run *r, const char *fmt, ...) DKR_PRINTF(2, 3);

static void inv_add(struct inv_run *r, const char *fmt, ...)
{
	va_list ap;
	char *line;
	size_t n;

	va_start(ap, fmt);
	if (vasprintf(&line, fmt, ap) < 0)
		abort();
	va_end(ap);

	n = strlen(line);
	r->text = realloc(r->text, r->len + n + 2);
	if (r->text == NULL)
		abort();
	memcpy(r->text + r->len, line, n);
	r->len += n;
	r->text[r->len++] = '\n';
	r->text[r->len] = '\0';
	free(line);
}

/* The keys from the database (read-only) and both servers' addresses. */
static bool run_open(struct inv_run *r, const struct inv_world *w)
{
	struct conf_server both[2] = { w->bp->primary, w->bp->secondary };
	struct state *st = NULL;
	struct dkr_error e = { 0 };

	memset(r, 0, sizeof(*r));
	r->w = w;
	r->now = clock_now();

	if (state_open(w->conf->state_db, false, &st, &e) != DKR_OK ||
	    state_keys_list(st, NULL, &r->keys, &r->n_keys, &e) != DKR_OK) {
		inv_add(r, "cannot read the state database %s: %s", w->conf->state_db, e.msg);
		state_close(st);
		return false;
	}
	state_close(st);

	if (dnsu_servers_resolve(both, 2, &r->ns, &r->n_ns, &e) != DKR_OK) {
		inv_add(r, "cannot resolve the BIND pair's addresses: %s", e.msg);
		return false;
	}
	return true;
}

static char *run_close(struct inv_run *r)
{
	free(r->keys);
	free(r->ns);
	return r->text;
}

static const struct state_key *key_find(const struct inv_run *r, const char *domain,
					const char *selector)
{
	for (size_t i = 0; i < r->n_keys; i++)
		if (strcmp(r->keys[i].domain, domain) == 0 &&
		    strcmp(r->keys[i].selector, selector) == 0)
			return &r->keys[i];
	return NULL;
}

/* "a/b" into `out`; false (and `out` cut short) when it does not fit. */
static bool path_join(char *out, size_t len, const char *a, const char *b)
{
	int n = snprintf(out, len, "%s/%s", a, b);

	return n >= 0 && (size_t)n < len;
}

/* Big enough for any selector, "._domainkey." and any domain: never cut. */
#define NAME_BUF (STATE_SELECTOR_MAX + 16 + DKR_NAME_MAX + 1)

static void key_name(const char *domain, const char *selector, char *out, size_t len)
{
	snprintf(out, len, "%s._domainkey.%s", selector, domain);
}

/*
 * Does every server serve `record` at `name` with the AA bit?  When not,
 * `why` says which server answered what.
 */
static bool served_by_all(struct inv_run *r, const char *name, const char *record,
			  char *why, size_t len)
{
	struct dnsu_query q = { .name = name, .record = record, .want = DNSU_WANT_RECORD };
	struct dkr_error e = { 0 };
	size_t used = 0;
	bool ok;

	why[0] = '\0';
	if (dnsu_check(r->ns, r->n_ns, &q, 1, ASK_TIMEOUT_MS, ASK_RETRIES, &e) != DKR_OK) {
		if (snprintf(why, len, "the servers could not be asked: %s", e.msg) < 0)
			why[0] = '\0';
		return false;
	}

	ok = q.all_ok;
	for (size_t i = 0; i < r->n_ns && used < len; i++) {
		int n;

		if (q.answers[i].ok)
			continue;
		n = snprintf(why + used, len - used, "%s%s answers %s", used > 0 ? "; " : "",
			     r->ns[i].label, q.answers[i].detail);
		if (n < 0)
			break;
		used += (size_t)n;
	}
	dnsu_query_free(&q, 1);
	return ok;
}

/* Is the record at `name` the only TXT record there, on both servers? */
static void served_alone(struct inv_run *r, const char *domain, const char *selector,
			 const char *name)
{
	const struct conf_server *servers[2] = { &r->w->bp->primary, &r->w->bp->secondary };

	for (size_t i = 0; i < 2; i++) {
		struct dkr_error e = { 0 };
		char *txt = NULL;

		if (dnsu_read_txt(servers[i], name, &txt, &e) != DKR_OK)
			inv_add(r, "invariant 1: %s %s: cannot read %s from %s:%u: %s", domain,
				selector, name, servers[i]->host, servers[i]->port, e.msg);
		else if (txt != NULL && strstr(txt, " | ") != NULL)
			inv_add(r, "invariant 1: %s %s: the MTA signs with this key but %s:%u "
				"serves several TXT records at %s: %s", domain, selector,
				servers[i]->host, servers[i]->port, name, txt);
		free(txt);
	}
}

/* The DKIM record of a key file, whatever its algorithm. */
static int record_of_file(const char *path, const struct state_key *k, char *rec,
			  size_t len, struct dkr_error *e)
{
	if (k != NULL)
		return keygen_record_from_file(path, k->algorithm, rec, len, e);
	for (int alg = 0; alg < KEY_ALG_COUNT; alg++)
		if (keygen_record_from_file(path, (enum key_alg)alg, rec, len, e) == DKR_OK)
			return DKR_OK;
	return e->code;
}

/* ------------------------------------------------------------ 1 and 3 */

/* Invariant 1 for one domain: what the MTA signs with is served exactly. */
static void check_signer(struct inv_run *r, const struct conf_domain *d)
{
	const struct mta_ops *mta = mta_ops_find(d->mta->type);
	const struct state_key *k;
	char sel[STATE_SELECTOR_MAX], path[PATH_MAX], rec[DKIM_RECORD_MAX];
	char name[NAME_BUF], why[1024];
	struct dkr_error e = { 0 };

	if (mta->current(d->mta, d->domain, sel, sizeof(sel), &e) != DKR_OK) {
		inv_add(r, "invariant 1: %s: cannot tell which key %s signs with: %s", d->domain,
			d->mta->name, e.msg);
		return;
	}
	if (sel[0] == '\0')
		return;

	k = key_find(r, d->domain, sel);
	if (k == NULL)
		inv_add(r, "invariant 1: %s %s: the MTA signs with a key the state database "
			"does not know", d->domain, sel);
	else if (k->state != KS_ACTIVE)
		inv_add(r, "invariant 1: %s %s: the MTA signs with a key the state database "
			"holds as %s", d->domain, sel, key_state_name(k->state));

	if (mta->key_path(d->mta, d->domain, sel, path, sizeof(path), &e) != DKR_OK ||
	    record_of_file(path, k, rec, sizeof(rec), &e) != DKR_OK) {
		inv_add(r, "invariant 1: %s %s: the MTA signs with a key file that cannot be "
			"read: %s", d->domain, sel, e.msg);
		return;
	}
	if (k != NULL && k->record[0] != '\0' && !dkim_record_same_key(k->record, rec))
		inv_add(r, "invariant 1: %s %s: key file %s is not the key whose record was "
			"stored", d->domain, sel, path);

	key_name(d->domain, sel, name, sizeof(name));
	if (!served_by_all(r, name, rec, why, sizeof(why)))
		inv_add(r, "invariant 1: %s %s: the MTA signs with this key but %s", d->domain,
			sel, why);
	served_alone(r, d->domain, sel, name);
}

/* Invariant 3: an active key is served, its file exists, the link leads somewhere. */
static void check_active(struct inv_run *r, const struct state_key *k)
{
	char name[NAME_BUF], why[1024];
	struct stat st;

	if (lstat(k->key_path, &st) != 0)
		inv_add(r, "invariant 3: %s %s: the key is active but its private key file %s "
			"is gone (%s)", k->domain, k->selector, k->key_path, strerror(errno));
	else if (!S_ISREG(st.st_mode))
		inv_add(r, "invariant 3: %s %s: the key is active but %s is not a regular file",
			k->domain, k->selector, k->key_path);

	key_name(k->domain, k->selector, name, sizeof(name));
	if (!served_by_all(r, name, k->record, why, sizeof(why)))
		inv_add(r, "invariant 3: %s %s: the key is active but %s", k->domain,
			k->selector, why);
}

static void check_link(struct inv_run *r, const struct conf_domain *d)
{
	char link[PATH_MAX], target[PATH_MAX];
	struct stat st;
	ssize_t n;

	if (d->mta->type != MTA_ZDKIMFILTER)
		return;
	if (!path_join(link, sizeof(link), d->mta->keys_dir, d->domain) ||
	    lstat(link, &st) != 0 || !S_ISLNK(st.st_mode))
		return;
	if (stat(link, &st) == 0)
		return;
	n = readlink(link, target, sizeof(target) - 1);
	target[n > 0 ? n : 0] = '\0';
	inv_add(r, "invariant 3: %s: the MTA's link %s points at %s, which does not exist",
		d->domain, link, target);
}

/* ------------------------------------------------------------------ 2 */

static void check_signed_stayed(struct inv_run *r, const struct state_key *k)
{
	int64_t until = k->at[KS_RETIRED] + k->grace + k->ttl;
	char name[NAME_BUF], why[1024];

	if (k->state == KS_RETIRED && r->now < until) {
		key_name(k->domain, k->selector, name, sizeof(name));
		if (!served_by_all(r, name, k->record, why, sizeof(why)))
			inv_add(r, "invariant 2: %s %s: retired %" PRId64 " s ago (grace %" PRId64
				" s + ttl %" PRId64 " s not over) but %s", k->domain, k->selector,
				r->now - k->at[KS_RETIRED], k->grace, k->ttl, why);
	}

	if (k->state < KS_WITHDRAWN || k->at[KS_ACTIVE] == 0)
		return;
	if (k->at[KS_RETIRED] == 0)
		inv_add(r, "invariant 2: %s %s: signed, then %s without ever being retired",
			k->domain, k->selector, key_state_name(k->state));
	else if (k->at[KS_WITHDRAWN] < until)
		inv_add(r, "invariant 2: %s %s: withdrawn %" PRId64 " s after it was retired, "
			"before grace %" PRId64 " s + ttl %" PRId64 " s", k->domain, k->selector,
			k->at[KS_WITHDRAWN] - k->at[KS_RETIRED], k->grace, k->ttl);
}

/* ------------------------------------------------------------------ 4 */

static void check_selectors_unique(struct inv_run *r)
{
	for (size_t i = 0; i < r->n_keys; i++)
		for (size_t j = i + 1; j < r->n_keys; j++)
			if (strcmp(r->keys[i].domain, r->keys[j].domain) == 0 &&
			    strcmp(r->keys[i].selector, r->keys[j].selector) == 0)
				inv_add(r, "invariant 4: %s %s: selector used by keys %" PRId64
					" and %" PRId64, r->keys[i].domain, r->keys[i].selector,
					r->keys[i].id, r->keys[j].id);
}

/*
 * The domain and selector of "<domain>.<selector>.private" in the keys
 * directory of `m`: the longest configured domain that fits, and a
 * selector that is one label.
 */
static const struct conf_domain *file_owner(const struct conf *conf, const struct conf_mta *m,
					    const char *file, char *sel, size_t len)
{
	const struct conf_domain *best = NULL;
	size_t flen = strlen(file), ext = strlen(".private");

	if (flen <= ext || strcmp(file + flen - ext, ".private") != 0)
		return NULL;
	for (size_t i = 0; i < conf->n_domains; i++) {
		const struct conf_domain *d = &conf->domains[i];
		size_t dl = strlen(d->domain);

		if (d->mta != m || flen <= dl + 1 + ext || strncmp(file, d->domain, dl) != 0 ||
		    file[dl] != '.')
			continue;
		if (best != NULL && strlen(best->domain) >= dl)
			continue;
		if (flen - ext - dl - 1 >= len)
			continue;
		memcpy(sel, file + dl + 1, flen - ext - dl - 1);
		sel[flen - ext - dl - 1] = '\0';
		if (name_is_label(sel))
			best = d;
	}
	if (best != NULL) {
		size_t dl = strlen(best->domain);

		memcpy(sel, file + dl + 1, flen - ext - dl - 1);
		sel[flen - ext - dl - 1] = '\0';
	}
	return best;
}

static bool same_file(const char *a, const char *b)
{
	struct stat sa, sb;

	return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev &&
	       sa.st_ino == sb.st_ino;
}

/* A key file on disk is the file of one live key of the database. */
static void check_disk_key(struct inv_run *r, const struct conf_mta *m, const char *file,
			   const char *path)
{
	char sel[STATE_SELECTOR_MAX];
	const struct conf_domain *d = file_owner(r->w->conf, m, file, sel, sizeof(sel));
	const struct state_key *k;

	if (d == NULL) {
		inv_add(r, "invariant 4: key file %s belongs to no configured domain", path);
		return;
	}
	k = key_find(r, d->domain, sel);
	if (k == NULL)
		inv_add(r, "invariant 4: %s %s: key file %s is on disk but the state database "
			"has no such key", d->domain, sel, path);
	else if (k->state == KS_DESTROYED)
		inv_add(r, "invariant 4: %s %s: key file %s exists but the key was destroyed: "
			"its selector was used again", d->domain, sel, path);
	else if (!same_file(k->key_path, path))
		inv_add(r, "invariant 4: %s %s: key file %s is not the file the database keeps "
			"for this selector (%s)", d->domain, sel, path, k->key_path);
}

/* ------------------------------------------------------------------ 6 */

/* Can members of `gid` (not the owner) search every directory above `path`? */
static void check_dirs(struct inv_run *r, const char *domain, const char *path, gid_t gid)
{
	char *real = realpath(path, NULL);
	char *slash;

	if (real == NULL)
		return;
	while ((slash = strrchr(real, '/')) != NULL) {
		struct stat st;
		bool through;

		if (slash == real)
			slash[1] = '\0';
		else
			*slash = '\0';
		if (stat(real, &st) != 0) {
			inv_add(r, "invariant 6: %s: cannot stat directory %s above %s: %s", domain,
				real, path, strerror(errno));
			break;
		}
		through = st.st_gid == gid ? (st.st_mode & S_IXGRP) : (st.st_mode & S_IXOTH);
		if (!through)
			inv_add(r, "invariant 6: %s: directory %s (mode %04o, group %u) blocks the "
				"MTA's group %u from %s", domain, real,
				(unsigned)(st.st_mode & 07777), (unsigned)st.st_gid, (unsigned)gid,
				path);
		if (strcmp(real, "/") == 0)
			break;
	}
	free(real);
}

/* A private key file: root's, the MTA's group, 0640 at most, readable by it. */
static void check_key_mode(struct inv_run *r, const char *domain, const char *path, gid_t gid)
{
	struct stat st;
	unsigned mode;

	if (lstat(path, &st) != 0)
		return;
	mode = (unsigned)(st.st_mode & 07777);
	if (!S_ISREG(st.st_mode))
		inv_add(r, "invariant 6: %s: key file %s is not a regular file", domain, path);
	if (st.st_uid != 0)
		inv_add(r, "invariant 6: %s: key file %s is owned by uid %u, not root", domain,
			path, (unsigned)st.st_uid);
	if (st.st_gid != gid)
		inv_add(r, "invariant 6: %s: key file %s has group %u, not the MTA's %u", domain,
			path, (unsigned)st.st_gid, (unsigned)gid);
	if ((mode & ~0640u) != 0)
		inv_add(r, "invariant 6: %s: key file %s has mode %04o, more than 0640", domain,
			path, mode);
	if ((mode & 0040u) == 0)
		inv_add(r, "invariant 6: %s: key file %s has mode %04o: the MTA's group cannot "
			"read it", domain, path, mode);
	check_dirs(r, domain, path, gid);
}

/* Any other file in a key directory (a temporary): nothing for others. */
static void check_other_mode(struct inv_run *r, const char *path, gid_t gid)
{
	struct stat st;
	unsigned mode;

	if (lstat(path, &st) != 0 || S_ISLNK(st.st_mode))
		return;
	mode = (unsigned)(st.st_mode & 07777);
	if ((mode & 0007u) != 0)
		inv_add(r, "invariant 6: %s has mode %04o: others may use it", path, mode);
	if ((mode & 0070u) != 0 && st.st_gid != gid)
		inv_add(r, "invariant 6: %s has mode %04o and group %u, not the MTA's %u", path,
			mode, (unsigned)st.st_gid, (unsigned)gid);
}

/* Invariants 4 and 6 over every file of one zdkimfilter keys directory. */
static void check_keys_dir(struct inv_run *r, const struct conf_mta *m)
{
	DIR *dir = opendir(m->keys_dir);
	struct dirent *de;

	if (dir == NULL) {
		if (errno != ENOENT)
			inv_add(r, "cannot read keys directory %s: %s", m->keys_dir,
				strerror(errno));
		return;
	}
	while ((de = readdir(dir)) != NULL) {
		char path[PATH_MAX];
		char sel[STATE_SELECTOR_MAX];
		const struct conf_domain *d;
		size_t n = strlen(de->d_name);
		struct stat st;

		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (!path_join(path, sizeof(path), m->keys_dir, de->d_name) ||
		    lstat(path, &st) != 0 || S_ISLNK(st.st_mode))
			continue;

		if (n > 8 && strcmp(de->d_name + n - 8, ".private") == 0) {
			d = file_owner(r->w->conf, m, de->d_name, sel, sizeof(sel));
			check_disk_key(r, m, de->d_name, path);
			check_key_mode(r, d != NULL ? d->domain : "?", path, m->gid);
		} else {
			check_other_mode(r, path, m->gid);
		}
	}
	closedir(dir);
}

/* Key files the directory scan does not see (OpenDKIM's per-domain directories). */
static void check_other_key_files(struct inv_run *r)
{
	for (size_t i = 0; i < r->n_keys; i++) {
		const struct state_key *k = &r->keys[i];
		const struct conf_domain *d = conf_domain_find(r->w->conf, k->domain);

		if (d == NULL || d->mta->type == MTA_ZDKIMFILTER || k->state == KS_DESTROYED)
			continue;
		check_key_mode(r, k->domain, k->key_path, d->mta->gid);
	}
}

/* ------------------------------------------------------------------ 5 */

struct lines {
	char **v;
	size_t n;
	char *buf;
};

static int line_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool lines_read(const char *path, struct lines *l)
{
	struct dkr_error e = { 0 };
	size_t cap = 0;

	memset(l, 0, sizeof(*l));
	if (file_read_all(path, AXFR_MAX, &l->buf, NULL, &e) != DKR_OK)
		return false;
	for (char *s = strtok(l->buf, "\n"); s != NULL; s = strtok(NULL, "\n")) {
		if (l->n == cap) {
			cap = cap != 0 ? cap * 2 : 64;
			l->v = realloc(l->v, cap * sizeof(*l->v));
			if (l->v == NULL)
				abort();
		}
		l->v[l->n++] = s;
	}
	if (l->n > 1)
		qsort(l->v, l->n, sizeof(*l->v), line_cmp);
	return true;
}

static void lines_free(struct lines *l)
{
	free(l->v);
	free(l->buf);
}

/* Is a changed zone line the TXT record of a selector dkimrot created? */
static void check_changed_line(struct inv_run *r, const char *zone, const char *line,
			       const char *how)
{
	char name[DKR_NAME_MAX + 2], type[16];
	size_t n;

	if (sscanf(line, "%254s %*s %*s %15s", name, type) != 2) {
		inv_add(r, "invariant 5: zone %s: unreadable line %s: %s", zone, how, line);
		return;
	}
	n = strlen(name);
	if (n > 0 && name[n - 1] == '.')
		name[n - 1] = '\0';

	for (size_t i = 0; i < r->n_keys; i++) {
		char ours[NAME_BUF];

		key_name(r->keys[i].domain, r->keys[i].selector, ours, sizeof(ours));
		if (strcasecmp(ours, name) == 0 && strcasecmp(type, "TXT") == 0)
			return;
	}
	inv_add(r, "invariant 5: zone %s: %s %s, which is no selector record dkimrot created: %s",
		zone, name, how, line);
}

static void check_zone(struct inv_run *r, const char *zone)
{
	char before[PATH_MAX], now[PATH_MAX];
	struct lines a, b;
	size_t i = 0, j = 0;

	snprintf(before, sizeof(before), "%s/%s.axfr", r->w->baseline_dir, zone);
	snprintf(now, sizeof(now), "%s/%s.now", r->w->baseline_dir, zone);
	if (bind_axfr(r->w->bp, zone, now) != 0) {
		inv_add(r, "invariant 5: zone %s: cannot transfer it from the primary", zone);
		return;
	}
	if (!lines_read(before, &a)) {
		inv_add(r, "invariant 5: zone %s: no baseline %s", zone, before);
		return;
	}
	if (!lines_read(now, &b)) {
		inv_add(r, "invariant 5: zone %s: cannot read %s", zone, now);
		lines_free(&a);
		return;
	}

	/* Both sorted: walk them side by side. */
	while (i < a.n || j < b.n) {
		int c = i == a.n ? 1 : j == b.n ? -1 : strcmp(a.v[i], b.v[j]);

		if (c == 0) {
			i++;
			j++;
		} else if (c < 0) {
			check_changed_line(r, zone, a.v[i++], "was removed");
		} else {
			check_changed_line(r, zone, b.v[j++], "was added");
		}
	}
	lines_free(&a);
	lines_free(&b);
}

/* --------------------------------------------------------------- public */

int inv_baseline_take(const struct inv_world *w)
{
	for (size_t i = 0; w->zones[i] != NULL; i++) {
		char path[PATH_MAX];

		snprintf(path, sizeof(path), "%s/%s.axfr", w->baseline_dir, w->zones[i]);
		if (bind_axfr(w->bp, w->zones[i], path) != 0)
			return -1;
	}
	return 0;
}

char *inv_check(const struct inv_world *w)
{
	const struct conf *conf = w->conf;
	struct inv_run r;

	if (!run_open(&r, w))
		return run_close(&r);

	for (size_t i = 0; i < conf->n_domains; i++) {
		check_signer(&r, &conf->domains[i]);
		check_link(&r, &conf->domains[i]);
	}
	for (size_t i = 0; i < r.n_keys; i++) {
		if (r.keys[i].state == KS_ACTIVE)
			check_active(&r, &r.keys[i]);
		check_signed_stayed(&r, &r.keys[i]);
	}
	check_selectors_unique(&r);
	for (size_t i = 0; w->zones[i] != NULL; i++)
		check_zone(&r, w->zones[i]);
	for (size_t i = 0; i < conf->n_mta; i++)
		if (conf->mta[i].type == MTA_ZDKIMFILTER)
			check_keys_dir(&r, &conf->mta[i]);
	check_other_key_files(&r);
	return run_close(&r);
}

/* ------------------------------------------------------------- settled */

static void settled_domain(struct inv_run *r, const struct conf_domain *d)
{
	const struct mta_ops *mta = mta_ops_find(d->mta->type);
	const struct state_key *active = NULL;
	char sel[STATE_SELECTOR_MAX] = "";
	struct dkr_error e = { 0 };
	size_t n_active = 0;

	for (size_t i = 0; i < r->n_keys; i++) {
		const struct state_key *k = &r->keys[i];

		if (strcmp(k->domain, d->domain) != 0)
			continue;
		if (k->state <= KS_VISIBLE)
			inv_add(r, "settled: %s %s: left behind in %s", k->domain, k->selector,
				key_state_name(k->state));
		if (k->state == KS_ACTIVE) {
			active = k;
			n_active++;
		}
		if ((k->state == KS_ACTIVE || k->state == KS_RETIRED) &&
		    access(k->key_path, F_OK) != 0)
			inv_add(r, "settled: %s %s: %s but its key file %s is gone", k->domain,
				k->selector, key_state_name(k->state), k->key_path);
	}
	if (n_active != 1) {
		inv_add(r, "settled: %s has %zu active keys, not one", d->domain, n_active);
		return;
	}

	if (mta->current(d->mta, d->domain, sel, sizeof(sel), &e) != DKR_OK)
		inv_add(r, "settled: %s: cannot read the MTA's key: %s", d->domain, e.msg);
	else if (strcmp(sel, active->selector) != 0)
		inv_add(r, "settled: %s: the MTA signs with \"%s\", not the active key %s",
			d->domain, sel, active->selector);

	if (d->mta->type == MTA_ZDKIMFILTER) {
		char link[PATH_MAX], target[PATH_MAX];
		const char *base = strrchr(active->key_path, '/');
		ssize_t n;

		n = path_join(link, sizeof(link), d->mta->keys_dir, d->domain)
			    ? readlink(link, target, sizeof(target) - 1) : -1;
		target[n > 0 ? n : 0] = '\0';
		base = base != NULL ? base + 1 : active->key_path;
		if (strcmp(target, base) != 0)
			inv_add(r, "settled: %s: link %s points at \"%s\", not %s", d->domain, link,
				target, base);
	}
}

/* Every file in a keys directory is the file of a key not destroyed. */
static void settled_orphans(struct inv_run *r, const struct conf_mta *m)
{
	DIR *dir = opendir(m->keys_dir);
	struct dirent *de;

	if (dir == NULL)
		return;
	while ((de = readdir(dir)) != NULL) {
		char path[PATH_MAX];
		struct stat st;
		bool owned = false;

		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (!path_join(path, sizeof(path), m->keys_dir, de->d_name) ||
		    lstat(path, &st) != 0 || S_ISLNK(st.st_mode))
			continue;
		for (size_t i = 0; i < r->n_keys && !owned; i++)
			owned = r->keys[i].state != KS_DESTROYED &&
				same_file(r->keys[i].key_path, path);
		if (!owned)
			inv_add(r, "settled: orphan file %s: no key of the database that is not "
				"destroyed owns it", path);
	}
	closedir(dir);
}

char *inv_check_settled(const struct inv_world *w)
{
	struct inv_run r;

	if (!run_open(&r, w))
		return run_close(&r);
	for (size_t i = 0; i < w->conf->n_domains; i++)
		settled_domain(&r, &w->conf->domains[i]);
	for (size_t i = 0; i < w->conf->n_mta; i++)
		if (w->conf->mta[i].type == MTA_ZDKIMFILTER)
			settled_orphans(&r, &w->conf->mta[i]);
	return run_close(&r);
}
