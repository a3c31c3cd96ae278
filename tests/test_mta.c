/*
 * test_mta.c - the MTA adapters on real files and links in a temporary
 * directory: zdkimfilter's link swap and what it refuses, OpenDKIM's table
 * rewrite that keeps every foreign byte, permission checks as the MTA's
 * group sees them, and the reload command.
 */
#include <criterion/criterion.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../rotator/rotator.h"
#include "helper.h"

#define GID_DAEMON 1

static char *dir;
static struct conf_mta zdk, odk;

static char *path_in(const char *rel)
{
	char *p;

	cr_assert(asprintf(&p, "%s/%s", dir, rel) > 0);
	return p;
}

static void setup(void)
{
	char *p;

	dir = test_tmpdir_make("mta");

	/* mkdtemp makes it 0700: the MTA's group must get through. */
	cr_assert_eq(chmod(dir, 0755), 0);

	memset(&zdk, 0, sizeof(zdk));
	snprintf(zdk.name, sizeof(zdk.name), "courier");
	zdk.type = MTA_ZDKIMFILTER;
	snprintf(zdk.keys_dir, sizeof(zdk.keys_dir), "%s/keys", dir);
	snprintf(zdk.group, sizeof(zdk.group), "daemon");
	zdk.gid = GID_DAEMON;

	memset(&odk, 0, sizeof(odk));
	snprintf(odk.name, sizeof(odk.name), "opendkim");
	odk.type = MTA_OPENDKIM;
	snprintf(odk.key_table, sizeof(odk.key_table), "%s/KeyTable", dir);
	snprintf(odk.signing_table, sizeof(odk.signing_table), "%s/SigningTable", dir);
	snprintf(odk.key_dir, sizeof(odk.key_dir), "%s/odkeys", dir);
	snprintf(odk.group, sizeof(odk.group), "daemon");
	odk.gid = GID_DAEMON;

	p = path_in("keys");
	cr_assert_eq(mkdir(p, 0750), 0);
	cr_assert_eq(chown(p, (uid_t)-1, GID_DAEMON), 0);
	free(p);
}

static void teardown(void)
{
	test_tmpdir_remove(dir);
}

TestSuite(mta, .init = setup, .fini = teardown);

/* A stand-in key file as keygen would leave it: 0640, the MTA's group. */
static char *key_file(const struct mta_ops *ops, const struct conf_mta *m,
		      const char *domain, const char *selector)
{
	char *path = malloc(PATH_MAX);
	struct dkr_error e = { 0 };

	cr_assert_eq(ops->key_dir_prepare(m, domain, &e), DKR_OK, "%s", e.msg);
	cr_assert_eq(ops->key_path(m, domain, selector, path, PATH_MAX, &e), DKR_OK, "%s",
		     e.msg);
	cr_assert_eq(test_sh("printf 'key %s\\n' > '%s' && chmod 0640 '%s' && chgrp 1 '%s'",
			     selector, path, path, path), 0);
	return path;
}

static char *read_text(const char *path)
{
	char *text = NULL;

	cr_assert_eq(file_read_all(path, 1 << 20, &text, NULL, NULL), DKR_OK, "%s", path);
	return text;
}

static void current_is(const struct mta_ops *ops, const struct conf_mta *m,
		       const char *domain, const char *want)
{
	char sel[64] = "garbage";
	struct dkr_error e = { 0 };

	cr_assert_eq(ops->current(m, domain, sel, sizeof(sel), &e), DKR_OK, "%s", e.msg);
	cr_assert_str_eq(sel, want);
}

/* ----------------------------------------------------------- zdkimfilter */

Test(mta, finds_each_adapter_by_type)
{
	cr_assert_str_eq(mta_ops_find(MTA_ZDKIMFILTER)->type, "zdkimfilter");
	cr_assert_str_eq(mta_ops_find(MTA_OPENDKIM)->type, "opendkim");
}

Test(mta, zdkimfilter_keeps_keys_beside_the_link_named_for_the_selector)
{
	char path[PATH_MAX];
	char *want = path_in("keys/example.com.k2027.private");

	cr_assert_eq(mta_zdkimfilter_ops.key_path(&zdk, "example.com", "k2027", path,
						  sizeof(path), NULL), DKR_OK);
	cr_assert_str_eq(path, want);
	free(want);
}

Test(mta, zdkimfilter_swap_points_the_link_at_the_new_key)
{
	const struct mta_ops *ops = &mta_zdkimfilter_ops;
	char *k1 = key_file(ops, &zdk, "example.com", "k1");
	char *k2 = key_file(ops, &zdk, "example.com", "k2");
	char *link = path_in("keys/example.com");
	char target[PATH_MAX];
	struct dkr_error e = { 0 };
	struct stat st;
	ssize_t n;

	current_is(ops, &zdk, "example.com", "");

	cr_assert_eq(ops->activate(&zdk, "example.com", "k1", k1, &e), DKR_OK, "%s", e.msg);
	current_is(ops, &zdk, "example.com", "k1");

	cr_assert_eq(ops->activate(&zdk, "example.com", "k2", k2, &e), DKR_OK, "%s", e.msg);
	cr_assert_eq(lstat(link, &st), 0);
	cr_assert(S_ISLNK(st.st_mode));
	n = readlink(link, target, sizeof(target) - 1);
	cr_assert_gt(n, 0);
	target[n] = '\0';
	cr_assert_str_eq(target, "example.com.k2.private");
	current_is(ops, &zdk, "example.com", "k2");

	/* Idempotent, and the old key is still there for the grace period. */
	cr_assert_eq(ops->activate(&zdk, "example.com", "k2", k2, &e), DKR_OK, "%s", e.msg);
	current_is(ops, &zdk, "example.com", "k2");
	cr_assert_eq(access(k1, F_OK), 0);
	free(k1);
	free(k2);
	free(link);
}

Test(mta, zdkimfilter_derives_the_selector_as_zdkimfilter_does)
{
	const struct mta_ops *ops = &mta_zdkimfilter_ops;
	char *link = path_in("keys/example.com");

	cr_assert_eq(symlink("example.com.s1.pem", link), 0);
	current_is(ops, &zdk, "example.com", "s1");
	cr_assert_eq(unlink(link), 0);

	cr_assert_eq(symlink("plain.private", link), 0);
	current_is(ops, &zdk, "example.com", "plain");
	cr_assert_eq(unlink(link), 0);

	cr_assert_eq(symlink("/elsewhere/example.com.s3.private", link), 0);
	current_is(ops, &zdk, "example.com", "s3");
	cr_assert_eq(unlink(link), 0);

	cr_assert_eq(symlink("example.org.s4.private", link), 0);
	current_is(ops, &zdk, "example.com", "example.org.s4");
	free(link);
}

Test(mta, zdkimfilter_refuses_a_regular_file_at_the_link_path)
{
	const struct mta_ops *ops = &mta_zdkimfilter_ops;
	char *k1 = key_file(ops, &zdk, "example.com", "k1");
	char *keys = path_in("keys");
	char *hand = test_write_file(keys, "example.com", "operator's key\n", 0640);
	char msg[9000], sel[64];
	struct dkr_error e = { 0 };
	char *text;

	cr_assert_eq(ops->activate(&zdk, "example.com", "k1", k1, &e), DKR_EPERM);
	snprintf(msg, sizeof(msg), "%s is a regular file, not a link made by dkimrot: it looks "
		 "like a key installed by hand, which dkimrot will not replace; move it away "
		 "to let dkimrot manage this domain", hand);
	cr_assert_str_eq(e.msg, msg);
	text = read_text(hand);
	cr_assert_str_eq(text, "operator's key\n");

	e.msg[0] = '\0';
	cr_assert_eq(ops->current(&zdk, "example.com", sel, sizeof(sel), &e), DKR_EPERM);
	cr_assert_str_eq(e.msg, msg);
	free(text);
	free(hand);
	free(keys);
	free(k1);
}

Test(mta, zdkimfilter_refuses_a_keys_dir_the_group_cannot_search)
{
	const struct mta_ops *ops = &mta_zdkimfilter_ops;
	char *k1 = key_file(ops, &zdk, "example.com", "k1");
	char real[PATH_MAX], msg[9000];
	struct dkr_error e = { 0 };

	cr_assert_not_null(realpath(zdk.keys_dir, real));
	cr_assert_eq(chmod(zdk.keys_dir, 0700), 0);

	/* check names the directory and the missing bit. */
	cr_assert_eq(ops->check(&zdk, "example.com", &e), DKR_EPERM);
	snprintf(msg, sizeof(msg), "group 'daemon' lacks execute (search) permission on %s "
		 "(mode 0700)", real);
	cr_assert_str_eq(e.msg, msg);

	/* activate refuses before touching the link. */
	e.msg[0] = '\0';
	cr_assert_eq(ops->activate(&zdk, "example.com", "k1", k1, &e), DKR_EPERM);
	snprintf(msg, sizeof(msg), "example.com k1: group 'daemon' lacks execute (search) "
		 "permission on %s (mode 0700", real);
	cr_assert_eq(strncmp(e.msg, msg, strlen(msg)), 0, "%s", e.msg);
	current_is(ops, &zdk, "example.com", "");
	free(k1);
}

Test(mta, zdkimfilter_refuses_a_key_the_group_cannot_read)
{
	const struct mta_ops *ops = &mta_zdkimfilter_ops;
	char *k1 = key_file(ops, &zdk, "example.com", "k1");
	struct dkr_error e = { 0 };

	cr_assert_eq(chmod(k1, 0600), 0);
	cr_assert_eq(ops->activate(&zdk, "example.com", "k1", k1, &e), DKR_EPERM);
	cr_assert(strstr(e.msg, "group 'daemon' lacks read permission on ") != NULL, "%s",
		  e.msg);
	current_is(ops, &zdk, "example.com", "");
	free(k1);
}

Test(mta, check_passes_when_the_group_reaches_the_current_key)
{
	const struct mta_ops *ops = &mta_zdkimfilter_ops;
	char *k1 = key_file(ops, &zdk, "example.com", "k1");
	struct dkr_error e = { 0 };

	cr_assert_eq(ops->activate(&zdk, "example.com", "k1", k1, &e), DKR_OK, "%s", e.msg);
	cr_assert_eq(ops->check(&zdk, "example.com", &e), DKR_OK, "%s", e.msg);

	/* Then the key loses its group bit: check says so. */
	cr_assert_eq(chmod(k1, 0600), 0);
	cr_assert_eq(ops->check(&zdk, "example.com", &e), DKR_EPERM);
	cr_assert(strstr(e.msg, "lacks read permission") != NULL, "%s", e.msg);
	free(k1);
}

Test(mta, group_bits_alone_count_when_the_directory_is_the_mta_group_s)
{
	struct dkr_error e = { 0 };

	/* Others may search, but the group class applies and it may not. */
	cr_assert_eq(chmod(zdk.keys_dir, 0705), 0);
	cr_assert_eq(mta_dir_group_can_search(&zdk, zdk.keys_dir, &e), DKR_EPERM);
	cr_assert(strstr(e.msg, "(mode 0705)") != NULL, "%s", e.msg);
}

Test(mta, zdkimfilter_refuses_names_that_could_leave_the_directory)
{
	const struct mta_ops *ops = &mta_zdkimfilter_ops;
	char path[PATH_MAX];
	struct dkr_error e = { 0 };

	cr_assert_eq(ops->key_path(&zdk, "../etc", "k1", path, sizeof(path), &e), DKR_EINVAL);
	cr_assert_str_eq(e.msg, "\"../etc\" is not a valid domain name");
	cr_assert_eq(ops->key_path(&zdk, "example.com", "a/b", path, sizeof(path), &e),
		     DKR_EINVAL);
	cr_assert_str_eq(e.msg, "example.com: selector \"a/b\" is not one DNS label");
	cr_assert_eq(ops->activate(&zdk, "example.com", "x.y", "/etc/passwd", &e), DKR_EINVAL);
	cr_assert_str_eq(e.msg, "example.com: selector \"x.y\" is not one DNS label");
}

Test(mta, zdkimfilter_refuses_a_key_outside_the_keys_dir)
{
	const struct mta_ops *ops = &mta_zdkimfilter_ops;
	char *other = test_write_file(dir, "example.com.k1.private", "k\n", 0640);
	struct dkr_error e = { 0 };

	cr_assert_eq(ops->activate(&zdk, "example.com", "k1", other, &e), DKR_EINVAL);
	cr_assert(strstr(e.msg, "is not where zdkimfilter would take the right selector") !=
		  NULL, "%s", e.msg);
	free(other);
}

Test(mta, key_dir_prepare_creates_the_directory_for_the_group)
{
	struct dkr_error e = { 0 };
	struct stat st;

	snprintf(zdk.keys_dir, sizeof(zdk.keys_dir), "%s/newkeys", dir);
	cr_assert_eq(mta_zdkimfilter_ops.key_dir_prepare(&zdk, "example.com", &e), DKR_OK,
		     "%s", e.msg);
	cr_assert_eq(stat(zdk.keys_dir, &st), 0);
	cr_assert(S_ISDIR(st.st_mode));
	cr_assert_eq(st.st_mode & 07777, 0750);
	cr_assert_eq(st.st_gid, GID_DAEMON);
}

/* ---------------------------------------------------------------- reload */

Test(mta, reload_command_runs_after_the_swap)
{
	const struct mta_ops *ops = &mta_zdkimfilter_ops;
	char *k1 = key_file(ops, &zdk, "example.com", "k1");
	char *marker = path_in("reloaded");
	struct dkr_error e = { 0 };
	char *text;

	char *cmd;

	cr_assert(asprintf(&cmd, "readlink '%s/example.com' > '%s'", zdk.keys_dir, marker) > 0);
	cr_assert(str_copy(zdk.reload, sizeof(zdk.reload), cmd));
	free(cmd);
	cr_assert_eq(ops->activate(&zdk, "example.com", "k1", k1, &e), DKR_OK, "%s", e.msg);
	text = read_text(marker);
	cr_assert_str_eq(text, "example.com.k1.private\n");
	free(text);
	free(marker);
	free(k1);
}

Test(mta, reload_failure_is_reported_with_its_status_and_output)
{
	const struct mta_ops *ops = &mta_zdkimfilter_ops;
	char *k1 = key_file(ops, &zdk, "example.com", "k1");
	struct dkr_error e = { 0 };

	snprintf(zdk.reload, sizeof(zdk.reload), "echo 'no pid file' >&2; exit 3");
	cr_assert_eq(ops->activate(&zdk, "example.com", "k1", k1, &e), DKR_ETEMP);
	cr_assert_str_eq(e.msg, "example.com k1: reload command of MTA 'courier' (sh -c 'echo "
			 "'no pid file' >&2; exit 3') exited with status 3: no pid file");
	free(k1);
}

Test(mta, run_command_kills_a_command_that_hangs)
{
	struct dkr_error e = { 0 };
	struct timespec a, b;

	clock_gettime(CLOCK_MONOTONIC, &a);
	cr_assert_eq(mta_run_command("reload", "echo waiting; sleep 30", 300, &e), DKR_ETEMP);
	clock_gettime(CLOCK_MONOTONIC, &b);
	cr_assert_lt(b.tv_sec - a.tv_sec, 5);
	cr_assert_str_eq(e.msg, "reload (sh -c 'echo waiting; sleep 30') did not finish "
			 "within 0.3 s and was killed: waiting");
}

Test(mta, run_command_does_not_wait_for_a_daemon_it_started)
{
	struct dkr_error e = { 0 };
	struct timespec a, b;

	/* The background child keeps the output pipe open long after sh exits. */
	clock_gettime(CLOCK_MONOTONIC, &a);
	cr_assert_eq(mta_run_command("reload", "sleep 3 & exit 0", 10000, &e), DKR_OK, "%s",
		     e.msg);
	clock_gettime(CLOCK_MONOTONIC, &b);
	cr_assert_lt(b.tv_sec - a.tv_sec, 2);
}

Test(mta, run_command_reports_a_killing_signal)
{
	struct dkr_error e = { 0 };

	cr_assert_eq(mta_run_command("reload", "kill -TERM $$", 5000, &e), DKR_ETEMP);
	cr_assert_str_eq(e.msg, "reload (sh -c 'kill -TERM $$') was killed by signal 15");
}

/* -------------------------------------------------------------- opendkim */

static const char kt_before[] =
	"# KeyTable, kept by hand and by dkimrot\n"
	"\n"
	"mail._domainkey.example.org example.org:mail:/etc/opendkim/keys/example.org/mail\n"
	"mail._domainkey.example.com   example.com:mail:/etc/opendkim/hand/mail.private\n"
	"  # indented comment\twith a tab\n"
	"%OLD%\n"
	"last.example.net example.net:last:/k/last.private";	/* no final newline */

static const char st_before[] =
	"# SigningTable (refile)\n"
	"bob@example.com mail._domainkey.example.com\n"
	"*@example.org\tmail._domainkey.example.org\n"
	"%OLD%\n"
	"\n"
	"*@example.net last.example.net\n";

/* Replace %OLD% in `tmpl` with `line`. */
static char *fill(const char *tmpl, const char *line)
{
	const char *at = strstr(tmpl, "%OLD%");
	char *out;

	cr_assert(asprintf(&out, "%.*s%s%s", (int)(at - tmpl), tmpl, line, at + 5) > 0);
	return out;
}

static void opendkim_tables(const char *old_sel)
{
	char *kt_old, *st_old, *kt, *st;

	cr_assert(asprintf(&kt_old, "%s._domainkey.example.com example.com:%s:%s/example.com/"
			   "%s.private", old_sel, old_sel, odk.key_dir, old_sel) > 0);
	cr_assert(asprintf(&st_old, "*@example.com %s._domainkey.example.com", old_sel) > 0);
	kt = fill(kt_before, kt_old);
	st = fill(st_before, st_old);
	free(test_write_file(dir, "KeyTable", kt, 0644));
	free(test_write_file(dir, "SigningTable", st, 0604));
	cr_assert_eq(chown(odk.key_table, (uid_t)-1, GID_DAEMON), 0);
	free(kt_old);
	free(st_old);
	free(kt);
	free(st);
}

static char *our_kt_line(const char *sel, const char *key)
{
	char *l;

	cr_assert(asprintf(&l, "%s._domainkey.example.com example.com:%s:%s", sel, sel, key) > 0);
	return l;
}

static char *our_st_line(const char *sel)
{
	char *l;

	cr_assert(asprintf(&l, "*@example.com %s._domainkey.example.com", sel) > 0);
	return l;
}

Test(mta, opendkim_rewrite_keeps_foreign_lines_byte_for_byte)
{
	const struct mta_ops *ops = &mta_opendkim_ops;
	char *k2 = key_file(ops, &odk, "example.com", "k2027");
	char *kt_line = our_kt_line("k2027", k2), *st_line = our_st_line("k2027");
	char *kt_want = fill(kt_before, kt_line), *st_want = fill(st_before, st_line);
	char *kt, *st;
	struct dkr_error e = { 0 };
	struct stat sb;

	opendkim_tables("k2026");
	current_is(ops, &odk, "example.com", "k2026");

	cr_assert_eq(ops->activate(&odk, "example.com", "k2027", k2, &e), DKR_OK, "%s", e.msg);

	/* Our old lines replaced in place, every other byte as it was. */
	kt = read_text(odk.key_table);
	st = read_text(odk.signing_table);
	cr_assert_str_eq(kt, kt_want);
	cr_assert_str_eq(st, st_want);
	current_is(ops, &odk, "example.com", "k2027");

	/* Mode and group of each table as they were. */
	cr_assert_eq(stat(odk.key_table, &sb), 0);
	cr_assert_eq(sb.st_mode & 07777, 0644);
	cr_assert_eq(sb.st_gid, GID_DAEMON);
	cr_assert_eq(stat(odk.signing_table, &sb), 0);
	cr_assert_eq(sb.st_mode & 07777, 0604);
	cr_assert_eq(sb.st_gid, getegid());
	free(kt);
	free(st);
	free(kt_line);
	free(st_line);
	free(kt_want);
	free(st_want);
	free(k2);
}

Test(mta, opendkim_rewrite_is_idempotent)
{
	const struct mta_ops *ops = &mta_opendkim_ops;
	char *k2 = key_file(ops, &odk, "example.com", "k2027");
	char *kt1, *st1, *kt2, *st2;
	struct dkr_error e = { 0 };
	struct stat a, b;

	opendkim_tables("k2026");
	cr_assert_eq(ops->activate(&odk, "example.com", "k2027", k2, &e), DKR_OK, "%s", e.msg);
	kt1 = read_text(odk.key_table);
	st1 = read_text(odk.signing_table);
	cr_assert_eq(stat(odk.key_table, &a), 0);

	cr_assert_eq(ops->activate(&odk, "example.com", "k2027", k2, &e), DKR_OK, "%s", e.msg);
	kt2 = read_text(odk.key_table);
	st2 = read_text(odk.signing_table);
	cr_assert_str_eq(kt2, kt1);
	cr_assert_str_eq(st2, st1);

	/* Unchanged tables are not even rewritten. */
	cr_assert_eq(stat(odk.key_table, &b), 0);
	cr_assert_eq(a.st_ino, b.st_ino);
	free(kt1);
	free(st1);
	free(kt2);
	free(st2);
	free(k2);
}

Test(mta, opendkim_creates_missing_tables_with_one_line_each)
{
	const struct mta_ops *ops = &mta_opendkim_ops;
	char *k1 = key_file(ops, &odk, "example.com", "k1");
	char *kt_want, *st_want, *kt, *st;
	struct dkr_error e = { 0 };
	struct stat sb;

	current_is(ops, &odk, "example.com", "");
	cr_assert_eq(ops->activate(&odk, "example.com", "k1", k1, &e), DKR_OK, "%s", e.msg);
	cr_assert(asprintf(&kt_want, "k1._domainkey.example.com example.com:k1:%s\n", k1) > 0);
	st_want = "*@example.com k1._domainkey.example.com\n";
	kt = read_text(odk.key_table);
	st = read_text(odk.signing_table);
	cr_assert_str_eq(kt, kt_want);
	cr_assert_str_eq(st, st_want);
	cr_assert_eq(stat(odk.key_table, &sb), 0);
	cr_assert_eq(sb.st_mode & 07777, 0640);
	cr_assert_eq(sb.st_gid, GID_DAEMON);
	current_is(ops, &odk, "example.com", "k1");
	free(kt_want);
	free(kt);
	free(st);
	free(k1);
}

Test(mta, opendkim_appends_after_a_last_line_without_newline)
{
	const struct mta_ops *ops = &mta_opendkim_ops;
	char *k1 = key_file(ops, &odk, "example.com", "k1");
	char *st_want, *st;
	struct dkr_error e = { 0 };

	free(test_write_file(dir, "SigningTable", "*@example.org x._domainkey.example.org", 0644));
	cr_assert_eq(ops->activate(&odk, "example.com", "k1", k1, &e), DKR_OK, "%s", e.msg);
	st_want = "*@example.org x._domainkey.example.org\n"
		  "*@example.com k1._domainkey.example.com\n";
	st = read_text(odk.signing_table);
	cr_assert_str_eq(st, st_want);
	free(st);
	free(k1);
}

Test(mta, opendkim_refuses_when_an_earlier_foreign_line_would_still_sign)
{
	const struct mta_ops *ops = &mta_opendkim_ops;
	char *k1 = key_file(ops, &odk, "example.com", "k1");
	struct dkr_error e = { 0 };
	char msg[9000];

	free(test_write_file(dir, "KeyTable",
			     "mail._domainkey.example.com example.com:mail:/hand/mail.key\n",
			     0644));
	free(test_write_file(dir, "SigningTable",
			     "*@example.com mail._domainkey.example.com\n", 0644));
	cr_assert_eq(ops->activate(&odk, "example.com", "k1", k1, &e), DKR_ECONFLICT);
	snprintf(msg, sizeof(msg), "example.com k1: SigningTable %s has an earlier line for "
		 "*@example.com naming selector mail, which OpenDKIM would use instead: remove "
		 "that line", odk.signing_table);
	cr_assert_str_eq(e.msg, msg);
	free(k1);
}

Test(mta, opendkim_refuses_a_key_name_the_operator_already_uses)
{
	const struct mta_ops *ops = &mta_opendkim_ops;
	char *k1 = key_file(ops, &odk, "example.com", "k1");
	const char *kt = "k1._domainkey.example.com example.com:k1:/hand/k1.key\n";
	struct dkr_error e = { 0 };
	char *after;

	free(test_write_file(dir, "KeyTable", kt, 0644));
	cr_assert_eq(ops->activate(&odk, "example.com", "k1", k1, &e), DKR_EPERM);
	cr_assert(strstr(e.msg, "already defines k1._domainkey.example.com with another key "
			 "file") != NULL, "%s", e.msg);
	after = read_text(odk.key_table);
	cr_assert_str_eq(after, kt);
	cr_assert_eq(access(odk.signing_table, F_OK), -1);
	free(after);
	free(k1);
}

Test(mta, opendkim_current_follows_the_signing_table_to_the_key_table)
{
	const struct mta_ops *ops = &mta_opendkim_ops;
	char sel[64];
	struct dkr_error e = { 0 };
	char msg[9000];

	free(test_write_file(dir, "KeyTable", "# none\nk._domainkey.example.com "
			     "example.com:sel9:/k/sel9.key\n", 0644));
	free(test_write_file(dir, "SigningTable", "bob@example.com other\n"
			     "*@EXAMPLE.com k._domainkey.example.com # comment\n", 0644));
	current_is(ops, &odk, "example.com", "sel9");

	free(test_write_file(dir, "SigningTable", "*@example.com missing\n", 0644));
	cr_assert_eq(ops->current(&odk, "example.com", sel, sizeof(sel), &e), DKR_ENOTFOUND);
	snprintf(msg, sizeof(msg), "example.com: SigningTable %s names key missing, which "
		 "KeyTable %s does not define", odk.signing_table, odk.key_table);
	cr_assert_str_eq(e.msg, msg);
}

Test(mta, opendkim_check_names_the_key_dir_the_group_cannot_search)
{
	const struct mta_ops *ops = &mta_opendkim_ops;
	char real[PATH_MAX], msg[9000];
	struct dkr_error e = { 0 };

	cr_assert_eq(ops->key_dir_prepare(&odk, "example.com", &e), DKR_OK, "%s", e.msg);
	cr_assert_eq(ops->check(&odk, "example.com", &e), DKR_OK, "%s", e.msg);
	cr_assert_eq(chmod(odk.key_dir, 0750), 0);
	cr_assert_eq(chown(odk.key_dir, (uid_t)-1, 0), 0);
	cr_assert_not_null(realpath(odk.key_dir, real));
	cr_assert_eq(ops->check(&odk, "example.com", &e), DKR_EPERM);
	snprintf(msg, sizeof(msg), "group 'daemon' lacks execute (search) permission on %s "
		 "(mode 0750)", real);
	cr_assert_str_eq(e.msg, msg);
}
