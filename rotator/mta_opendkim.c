/*
 * mta_opendkim.c - the adapter for OpenDKIM.  Keys live in
 * key_dir/<domain>/<selector>.private; OpenDKIM finds them through two
 * tables we edit in place:
 *
 *   KeyTable      <selector>._domainkey.<domain> <domain>:<selector>:<path>
 *   SigningTable  *@<domain> <selector>._domainkey.<domain>
 *
 * The SigningTable line is a wildcard, so opendkim.conf must declare it
 * "SigningTable refile:/path".  A line is ours only in exactly these shapes
 * (the KeyTable line pointing into key_dir, the SigningTable line naming a
 * key no foreign KeyTable line defines); all other bytes of both files are
 * kept as they were.  OpenDKIM rereads both tables on SIGUSR1 (the reload
 * command).
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rotator.h"

#define TABLE_MAX (8 * 1024 * 1024)
#define TABLE_MODE 0640		/* for a table we create; an existing one keeps its own */
#define LINE_MAX_OURS (PATH_MAX + 2 * DKR_NAME_MAX + 2 * STATE_SELECTOR_MAX + 32)

/* One whitespace-separated field of a table line. */
struct tok {
	const char *p;
	size_t n;
};

/* A table file as read, with what we need to write it back alike. */
struct table {
	const char *path;
	char *text;
	size_t len;
	bool existed;
	struct stat st;
};

struct od_ctx {
	const struct conf_mta *m;
	const char *domain;
	const struct table *kt;	/* the KeyTable as found, to tell foreign keys */
};

typedef bool (*line_pred)(const struct od_ctx *c, const char *line, size_t len);

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

/*
 * Split one line (without its newline) into fields, stopping at a '#'
 * comment.  Returns how many fields there are; at most `max` are stored.
 */
static size_t line_tokens(const char *s, size_t len, struct tok *t, size_t max)
{
	const char *end = s + len;
	size_t n = 0;

	while (s < end && *s != '#') {
		const char *start;

		while (s < end && is_space(*s))
			s++;
		if (s == end || *s == '#')
			break;
		start = s;
		while (s < end && !is_space(*s) && *s != '#')
			s++;
		if (n < max)
			t[n] = (struct tok){ start, (size_t)(s - start) };
		n++;
	}
	return n;
}

static bool tok_eq(const struct tok *t, const char *s)
{
	return strlen(s) == t->n && memcmp(t->p, s, t->n) == 0;
}

static bool tok_caseeq(const struct tok *t, const char *s)
{
	return strlen(s) == t->n && strncasecmp(t->p, s, t->n) == 0;
}

/* "<label>._domainkey.<domain>": the label, when it could be a selector of ours. */
static bool keyname_selector(const struct tok *t, const char *domain, char *sel, size_t len)
{
	char suffix[DKR_NAME_MAX + 16];
	size_t sl, n;

	sl = (size_t)snprintf(suffix, sizeof(suffix), "._domainkey.%s", domain);
	if (sl >= sizeof(suffix) || t->n <= sl)
		return false;
	if (strncasecmp(t->p + t->n - sl, suffix, sl) != 0)
		return false;
	n = t->n - sl;
	if (n >= len)
		return false;
	memcpy(sel, t->p, n);
	sel[n] = '\0';
	return name_is_label(sel);
}

static int od_key_path(const struct conf_mta *m, const char *domain, const char *selector,
		       char *out, size_t len, struct dkr_error *e)
{
	int rc = mta_names_check(domain, selector, e);
	int n;

	if (rc != DKR_OK)
		return rc;
	n = snprintf(out, len, "%s/%s/%s.private", m->key_dir, domain, selector);
	if (n < 0 || (size_t)n >= len)
		return dkr_fail(e, DKR_EINVAL, "%s %s: key path under %s is too long", domain,
				selector, m->key_dir);
	return DKR_OK;
}

static int od_domain_dir(const struct conf_mta *m, const char *domain, char *out, size_t len,
			 struct dkr_error *e)
{
	int n = snprintf(out, len, "%s/%s", m->key_dir, domain);

	if (n < 0 || (size_t)n >= len)
		return dkr_fail(e, DKR_EINVAL, "%s: key directory under %s is too long", domain,
				m->key_dir);
	return DKR_OK;
}

static int od_key_dir_prepare(const struct conf_mta *m, const char *domain,
			      struct dkr_error *e)
{
	char dir[PATH_MAX];
	int rc = mta_names_check(domain, NULL, e);

	if (rc == DKR_OK)
		rc = od_domain_dir(m, domain, dir, sizeof(dir), e);
	if (rc == DKR_OK)
		rc = mta_dir_prepare(m, m->key_dir, e);
	if (rc == DKR_OK)
		rc = mta_dir_prepare(m, dir, e);
	return rc;
}

/* ------------------------------------------------------ telling lines apart */

/* A KeyTable line exactly as we write it, for a key under key_dir. */
static bool kt_line_ours(const struct od_ctx *c, const char *line, size_t len)
{
	char sel[STATE_SELECTOR_MAX], path[PATH_MAX], want[LINE_MAX_OURS];
	struct tok t[3];

	if (line_tokens(line, len, t, 3) != 2)
		return false;
	if (!keyname_selector(&t[0], c->domain, sel, sizeof(sel)))
		return false;
	if (od_key_path(c->m, c->domain, sel, path, sizeof(path), NULL) != DKR_OK)
		return false;
	if ((size_t)snprintf(want, sizeof(want), "%s:%s:%s", c->domain, sel, path) >=
	    sizeof(want))
		return false;
	return tok_eq(&t[1], want);
}

/* Does a KeyTable line that is not ours define the key name `name`? */
static bool kt_defines_foreign(const struct od_ctx *c, const struct tok *name)
{
	const char *s = c->kt->text, *end = s + c->kt->len;

	while (s < end) {
		const char *eol = memchr(s, '\n', (size_t)(end - s));
		size_t ll = eol != NULL ? (size_t)(eol - s) : (size_t)(end - s);
		struct tok t[1];

		if (line_tokens(s, ll, t, 1) >= 1 && t[0].n == name->n &&
		    strncasecmp(t[0].p, name->p, name->n) == 0 && !kt_line_ours(c, s, ll))
			return true;
		s += ll + (eol != NULL);
	}
	return false;
}

/* "*@<domain> <selector>._domainkey.<domain>", unless the key is someone else's. */
static bool st_line_ours(const struct od_ctx *c, const char *line, size_t len)
{
	char pattern[DKR_NAME_MAX + 3], sel[STATE_SELECTOR_MAX];
	struct tok t[3];

	if (line_tokens(line, len, t, 3) != 2)
		return false;
	snprintf(pattern, sizeof(pattern), "*@%s", c->domain);
	if (!tok_caseeq(&t[0], pattern) || !keyname_selector(&t[1], c->domain, sel, sizeof(sel)))
		return false;
	return !kt_defines_foreign(c, &t[1]);
}

/* ------------------------------------------------------- reading, writing */

static int table_load(struct table *t, const char *path, struct dkr_error *e)
{
	memset(t, 0, sizeof(*t));
	t->path = path;
	if (lstat(path, &t->st) != 0) {
		if (errno != ENOENT)
			return dkr_fail(e, DKR_EIO, "cannot stat %s: %s", path, strerror(errno));
		t->text = xstrdup("");
		return DKR_OK;
	}

	/* Writing through a link would replace the link with a file. */
	if (S_ISLNK(t->st.st_mode))
		return dkr_fail(e, DKR_EINVAL, "%s is a symbolic link: configure the path of the "
				"file itself", path);
	if (!S_ISREG(t->st.st_mode))
		return dkr_fail(e, DKR_EINVAL, "%s is not a regular file", path);
	t->existed = true;
	return file_read_all(path, TABLE_MAX, &t->text, &t->len, e);
}

/* Write `data` over the table unless it is unchanged; keep mode, group, owner. */
static int table_store(const struct table *t, const char *data, size_t len,
		       const struct conf_mta *m, struct dkr_error *e)
{
	mode_t mode = t->existed ? (t->st.st_mode & 07777) : TABLE_MODE;
	gid_t gid = t->existed ? t->st.st_gid : m->gid;
	int rc;

	if (t->existed && len == t->len && memcmp(data, t->text, len) == 0)
		return DKR_OK;
	rc = file_write_atomic(t->path, data, len, mode, gid, e);
	if (rc != DKR_OK)
		return rc;
	if (t->existed && t->st.st_uid != geteuid() &&
	    lchown(t->path, t->st.st_uid, (gid_t)-1) != 0)
		return dkr_fail(e, DKR_EIO, "cannot give %s back to its owner (uid %u): %s",
				t->path, (unsigned)t->st.st_uid, strerror(errno));
	return DKR_OK;
}

static bool text_has_line(const char *text, size_t len, const char *line)
{
	size_t ll = strlen(line);

	for (const char *s = text, *end = text + len; s < end;) {
		const char *eol = memchr(s, '\n', (size_t)(end - s));
		size_t n = eol != NULL ? (size_t)(eol - s) : (size_t)(end - s);

		if (n == ll && memcmp(s, line, ll) == 0)
			return true;
		s += n + (eol != NULL);
	}
	return false;
}

enum edit_mode {
	EDIT_ADD,	/* `line` before the first of ours (unless present), keep ours */
	EDIT_REPLACE,	/* `line` where the first of ours was, drop the others */
};

/*
 * The table's text with our lines edited; every other byte as it was.
 * With no line of ours, `line` goes at the end.  The result is malloc'd.
 */
static char *table_edit(const struct od_ctx *c, line_pred ours, const char *text,
			size_t len, const char *line, enum edit_mode mode, size_t *out_len)
{
	char *buf = NULL;
	size_t blen = 0;
	bool placed = mode == EDIT_ADD && text_has_line(text, len, line);
	FILE *f = open_memstream(&buf, &blen);

	if (f == NULL)
		abort();	/* only when out of memory: we cannot go on */

	for (const char *s = text, *end = text + len; s < end;) {
		const char *eol = memchr(s, '\n', (size_t)(end - s));
		size_t n = eol != NULL ? (size_t)(eol - s) : (size_t)(end - s);
		size_t full = n + (eol != NULL);

		if (ours(c, s, n)) {
			if (!placed)
				fprintf(f, "%s\n", line);
			placed = true;
			if (mode == EDIT_ADD)
				fwrite(s, 1, full, f);
		} else {
			fwrite(s, 1, full, f);
		}
		s += full;
	}
	if (!placed) {
		if (len > 0 && text[len - 1] != '\n')
			fputc('\n', f);
		fprintf(f, "%s\n", line);
	}
	if (fclose(f) != 0)
		abort();
	*out_len = blen;
	return buf;
}

/* ------------------------------------------------------------ the signer */

/*
 * The key OpenDKIM signs `domain` with: the first SigningTable line for
 * "*@<domain>" (or "<domain>" in a table that is not refile:), then that
 * key name's KeyTable entry "<domain>:<selector>:<path>".
 */
static int od_lookup(const struct conf_mta *m, const char *domain, char *sel, size_t sel_len,
		     char *path, size_t path_len, struct dkr_error *e)
{
	struct table st = { 0 }, kt = { 0 };
	char pattern[DKR_NAME_MAX + 3];
	struct tok name = { NULL, 0 }, t[2];
	const char *colon1, *colon2;
	bool found = false;
	int rc;

	sel[0] = '\0';
	path[0] = '\0';
	snprintf(pattern, sizeof(pattern), "*@%s", domain);
	rc = table_load(&st, m->signing_table, e);
	if (rc != DKR_OK || !st.existed)
		goto out;
	for (const char *s = st.text, *end = s + st.len; s < end && name.p == NULL;) {
		const char *eol = memchr(s, '\n', (size_t)(end - s));
		size_t n = eol != NULL ? (size_t)(eol - s) : (size_t)(end - s);

		if (line_tokens(s, n, t, 2) >= 2 &&
		    (tok_caseeq(&t[0], pattern) || tok_caseeq(&t[0], domain)))
			name = t[1];
		s += n + (eol != NULL);
	}
	if (name.p == NULL)
		goto out;

	rc = table_load(&kt, m->key_table, e);
	if (rc != DKR_OK)
		goto out;
	for (const char *s = kt.text, *end = s + kt.len; s < end && !found;) {
		const char *eol = memchr(s, '\n', (size_t)(end - s));
		size_t n = eol != NULL ? (size_t)(eol - s) : (size_t)(end - s);

		if (line_tokens(s, n, t, 2) >= 2 && t[0].n == name.n &&
		    strncasecmp(t[0].p, name.p, name.n) == 0)
			found = true;
		s += n + (eol != NULL);
	}
	if (!found) {
		rc = dkr_fail(e, DKR_ENOTFOUND, "%s: SigningTable %s names key %.*s, which "
			      "KeyTable %s does not define", domain, m->signing_table,
			      (int)name.n, name.p, m->key_table);
		goto out;
	}

	/* t[1] is "<domain>:<selector>:<path>". */
	colon1 = memchr(t[1].p, ':', t[1].n);
	colon2 = colon1 != NULL ? memchr(colon1 + 1, ':', t[1].n - (size_t)(colon1 + 1 - t[1].p))
				: NULL;
	if (colon2 == NULL || colon2 == colon1 + 1 ||
	    (size_t)(colon2 - colon1 - 1) >= sel_len ||
	    t[1].n - (size_t)(colon2 + 1 - t[1].p) >= path_len) {
		rc = dkr_fail(e, DKR_EINVAL, "%s: KeyTable %s entry for %.*s is not "
			      "\"domain:selector:keyfile\" (or is too long)", domain,
			      m->key_table, (int)name.n, name.p);
		goto out;
	}
	memcpy(sel, colon1 + 1, (size_t)(colon2 - colon1 - 1));
	sel[colon2 - colon1 - 1] = '\0';
	memcpy(path, colon2 + 1, t[1].n - (size_t)(colon2 + 1 - t[1].p));
	path[t[1].n - (size_t)(colon2 + 1 - t[1].p)] = '\0';

out:
	free(st.text);
	free(kt.text);
	return rc;
}

static int od_current(const struct conf_mta *m, const char *domain, char *selector,
		      size_t len, struct dkr_error *e)
{
	char path[PATH_MAX];
	int rc = mta_names_check(domain, NULL, e);

	if (len > 0)
		selector[0] = '\0';
	if (rc != DKR_OK)
		return rc;
	return od_lookup(m, domain, selector, len, path, sizeof(path), e);
}

/* ------------------------------------------------------------- switching */

/*
 * Three writes, each leaving OpenDKIM a consistent pair of tables if we
 * stop after it: add the new key to the KeyTable, point the SigningTable
 * at it, then drop our old KeyTable lines.
 */
static int od_tables_write(const struct od_ctx *c, const struct table *kt,
			   const struct table *st, const char *kt_line, const char *st_line,
			   struct dkr_error *e)
{
	struct table kt_mid = *kt;
	char *kt1 = NULL, *st1 = NULL, *kt2 = NULL;
	size_t kt1_len, st1_len, kt2_len;
	int rc;

	kt1 = table_edit(c, kt_line_ours, kt->text, kt->len, kt_line, EDIT_ADD, &kt1_len);
	rc = table_store(kt, kt1, kt1_len, c->m, e);
	if (rc != DKR_OK)
		goto out;

	st1 = table_edit(c, st_line_ours, st->text, st->len, st_line, EDIT_REPLACE, &st1_len);
	rc = table_store(st, st1, st1_len, c->m, e);
	if (rc != DKR_OK)
		goto out;

	/* The file now holds kt1, with the mode and group kept from before. */
	kt_mid.text = kt1;
	kt_mid.len = kt1_len;
	kt_mid.existed = true;
	if (!kt->existed) {
		kt_mid.st.st_mode = TABLE_MODE;
		kt_mid.st.st_gid = c->m->gid;
		kt_mid.st.st_uid = geteuid();
	}
	kt2 = table_edit(c, kt_line_ours, kt1, kt1_len, kt_line, EDIT_REPLACE, &kt2_len);
	rc = table_store(&kt_mid, kt2, kt2_len, c->m, e);

out:
	free(kt1);
	free(st1);
	free(kt2);
	return rc;
}

static int od_activate(const struct conf_mta *m, const char *domain, const char *selector,
		       const char *key_path, struct dkr_error *e)
{
	char want[PATH_MAX], kt_line[LINE_MAX_OURS], st_line[LINE_MAX_OURS];
	char keyname[DKR_NAME_MAX + STATE_SELECTOR_MAX + 16], now[STATE_SELECTOR_MAX];
	struct table kt = { 0 }, st = { 0 };
	struct od_ctx c = { m, domain, &kt };
	struct stat kst;
	struct tok name;
	int rc;

	/* Only a key under key_dir makes a KeyTable line we will recognise later. */
	rc = od_key_path(m, domain, selector, want, sizeof(want), e);
	if (rc != DKR_OK)
		return rc;
	if (strcmp(key_path, want) != 0)
		return dkr_fail(e, DKR_EINVAL, "%s %s: key file %s is not where the OpenDKIM "
				"adapter keeps keys (%s)", domain, selector, key_path, want);
	if (lstat(key_path, &kst) != 0 || !S_ISREG(kst.st_mode))
		return dkr_fail(e, DKR_ENOTFOUND, "%s %s: key file %s is missing or not a "
				"regular file", domain, selector, key_path);
	rc = path_group_can_read(key_path, m->gid, e);
	if (rc != DKR_OK)
		return dkr_wrap(e, "%s %s", domain, selector);

	snprintf(keyname, sizeof(keyname), "%s._domainkey.%s", selector, domain);
	snprintf(kt_line, sizeof(kt_line), "%s %s:%s:%s", keyname, domain, selector, key_path);
	snprintf(st_line, sizeof(st_line), "*@%s %s", domain, keyname);

	rc = table_load(&kt, m->key_table, e);
	if (rc == DKR_OK)
		rc = table_load(&st, m->signing_table, e);
	if (rc != DKR_OK)
		goto out;

	name = (struct tok){ keyname, strlen(keyname) };
	if (kt_defines_foreign(&c, &name)) {
		rc = dkr_fail(e, DKR_EPERM, "%s %s: KeyTable %s already defines %s with another "
			      "key file; dkimrot will not override it", domain, selector,
			      m->key_table, keyname);
		goto out;
	}

	rc = od_tables_write(&c, &kt, &st, kt_line, st_line, e);
	if (rc != DKR_OK) {
		dkr_wrap(e, "%s %s: switching OpenDKIM's key", domain, selector);
		goto out;
	}

	/* A foreign "*@domain" line above ours would still win: say so, no reload. */
	rc = od_lookup(m, domain, now, sizeof(now), want, sizeof(want), e);
	if (rc == DKR_OK && strcmp(now, selector) != 0)
		rc = dkr_fail(e, DKR_ECONFLICT, "%s %s: SigningTable %s has an earlier line for "
			      "*@%s naming selector %s, which OpenDKIM would use instead: "
			      "remove that line", domain, selector, m->signing_table, domain,
			      now);
	if (rc != DKR_OK)
		goto out;
	log_key(LOG_LVL_INFO, domain, selector, "OpenDKIM tables %s and %s now name %s",
		m->key_table, m->signing_table, keyname);

	rc = mta_reload(m, e);
	if (rc != DKR_OK)
		dkr_wrap(e, "%s %s", domain, selector);

out:
	free(kt.text);
	free(st.text);
	return rc;
}

/* --------------------------------------------------------------- checking */

static int table_check(const struct conf_mta *m, const char *path, struct dkr_error *e)
{
	struct stat st;

	/* Not there yet is fine: the first activation creates it. */
	if (lstat(path, &st) != 0 && errno == ENOENT)
		return DKR_OK;
	return path_group_can_read(path, m->gid, e);
}

static int od_check(const struct conf_mta *m, const char *domain, struct dkr_error *e)
{
	char dir[PATH_MAX], sel[STATE_SELECTOR_MAX], path[PATH_MAX];
	struct stat st;
	int rc;

	rc = mta_dir_group_can_search(m, m->key_dir, e);
	if (rc == DKR_OK)
		rc = table_check(m, m->key_table, e);
	if (rc == DKR_OK)
		rc = table_check(m, m->signing_table, e);
	if (rc != DKR_OK || domain == NULL)
		return rc;

	rc = mta_names_check(domain, NULL, e);
	if (rc == DKR_OK)
		rc = od_domain_dir(m, domain, dir, sizeof(dir), e);
	if (rc == DKR_OK && stat(dir, &st) == 0)
		rc = mta_dir_group_can_search(m, dir, e);
	if (rc == DKR_OK)
		rc = od_lookup(m, domain, sel, sizeof(sel), path, sizeof(path), e);
	if (rc == DKR_OK && sel[0] != '\0') {
		rc = path_group_can_read(path, m->gid, e);
		if (rc != DKR_OK)
			dkr_wrap(e, "%s: current key %s", domain, sel);
	}
	return rc;
}

const struct mta_ops mta_opendkim_ops = {
	.type = "opendkim",
	.key_path = od_key_path,
	.key_dir_prepare = od_key_dir_prepare,
	.activate = od_activate,
	.current = od_current,
	.check = od_check,
};
