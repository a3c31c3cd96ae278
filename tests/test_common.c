/*
 * test_common.c - durations, times, names and the careful file operations.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../common/common.h"
#include "helper.h"

static const struct {
	const char *text;
	int64_t secs;
} good_durations[] = {
	{ "90d", 90 * 86400 }, { "2h", 7200 }, { "30s", 30 }, { "1w", 604800 },
	{ "15m", 900 }, { "3600", 3600 }, { "1d 12h", 129600 }, { "0s", 0 },
};

Test(duration, parses_every_unit_and_bare_seconds)
{
	for (size_t i = 0; i < sizeof(good_durations) / sizeof(good_durations[0]); i++) {
		int64_t v = -1;

		cr_assert_eq(duration_parse(good_durations[i].text, &v, NULL), DKR_OK, "%s",
			     good_durations[i].text);
		cr_assert_eq(v, good_durations[i].secs, "%s", good_durations[i].text);
	}
}

Test(duration, refuses_unknown_units_and_garbage_with_a_message)
{
	const char *bad[] = { "", "d", "90x", "-5d", "5 d", "1.5h", "10d10", "99999999999d" };
	struct dkr_error e = { 0 };
	int64_t v;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_assert_neq(duration_parse(bad[i], &v, &e), DKR_OK, "\"%s\"", bad[i]);
	duration_parse("90x", &v, &e);
	cr_assert_str_eq(e.msg, "invalid duration \"90x\" (expected a number with a unit s, m, "
				"h, d or w, like \"90d\")");
}

Test(duration, formats_two_units_for_humans)
{
	char buf[32];

	cr_assert_str_eq(duration_format(7 * 86400 + 7200 + 5, buf, sizeof(buf)), "7d 2h");
	cr_assert_str_eq(duration_format(45, buf, sizeof(buf)), "45s");
	cr_assert_str_eq(duration_format(0, buf, sizeof(buf)), "0s");
	cr_assert_str_eq(duration_format(-3600, buf, sizeof(buf)), "-1h");
}

Test(time, parses_iso8601_utc_and_relative_times)
{
	int64_t t;

	cr_assert_eq(time_parse("2027-03-01T00:00:00Z", 0, &t, NULL), DKR_OK);
	cr_assert_eq(t, 1803859200);
	cr_assert_eq(time_parse("2027-03-01", 0, &t, NULL), DKR_OK);
	cr_assert_eq(t, 1803859200);
	cr_assert_eq(time_parse("+30d", 1000, &t, NULL), DKR_OK);
	cr_assert_eq(t, 1000 + 30 * 86400);
	cr_assert_neq(time_parse("2027-03-01T00:00:00+02:00", 0, &t, NULL), DKR_OK);
	cr_assert_neq(time_parse("yesterday", 0, &t, NULL), DKR_OK);
}

Test(time, formats_rfc3339_utc)
{
	char buf[32];

	cr_assert_str_eq(time_format(1803859200, buf, sizeof(buf)), "2027-03-01T00:00:00Z");
}

Test(clock, fake_clock_replaces_the_real_one_until_reset)
{
	clock_set_fake(1234567890);
	cr_assert_eq(clock_now(), 1234567890);
	clock_set_fake(0);
	cr_assert_gt(clock_now(), 1700000000);
}

Test(names, accepts_hostnames_and_refuses_what_could_escape_a_directory)
{
	const char *good[] = { "example.com", "a-b.example.co.uk", "xn--bcher-kva.de", "x" };
	const char *bad[] = { "..", "../etc", "a/b", "a..b", "-a.com", "a-.com", ".com",
			      "a b.com", "", "exa$mple.com" };

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		cr_assert(name_is_hostname(good[i]), "%s", good[i]);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_assert_not(name_is_hostname(bad[i]), "%s", bad[i]);
}

Test(names, normalise_lowercases_and_drops_the_final_dot)
{
	char out[DKR_NAME_MAX + 1];

	cr_assert_eq(name_normalise("Example.COM.", out, sizeof(out), NULL), DKR_OK);
	cr_assert_str_eq(out, "example.com");
}

Test(names, a_label_is_one_ldh_label_of_at_most_63)
{
	char long_label[65];

	memset(long_label, 'a', 64);
	long_label[64] = '\0';
	cr_assert(name_is_label("k20270301"));
	cr_assert_not(name_is_label("k2027.0301"));
	cr_assert_not(name_is_label(long_label));
	cr_assert_not(name_is_label("_k"));
}

Test(names, name_in_zone_needs_a_label_boundary)
{
	cr_assert(name_in_zone("s._domainkey.example.com", "example.com"));
	cr_assert(name_in_zone("example.com", "example.com"));
	cr_assert_not(name_in_zone("badexample.com", "example.com"));
	cr_assert_not(name_in_zone("com", "example.com"));
}

Test(files, atomic_write_replaces_whole_file_with_the_mode_asked)
{
	char *dir = test_tmpdir_make("common");
	char *path = test_write_file(dir, "table", "old\n", 0644);
	struct stat st;
	char *data = NULL;

	cr_assert_eq(file_write_atomic(path, "new\n", 4, 0640, (gid_t)-1, NULL), DKR_OK);
	cr_assert_eq(file_read_all(path, 1024, &data, NULL, NULL), DKR_OK);
	cr_assert_str_eq(data, "new\n");
	cr_assert_eq(stat(path, &st), 0);
	cr_assert_eq(st.st_mode & 07777, 0640);

	free(data);
	free(path);
	test_tmpdir_remove(dir);
}

Test(files, secret_readable_by_group_is_refused_naming_file_and_mode)
{
	char *dir = test_tmpdir_make("common");
	char *path = test_write_file(dir, "s", "c2VjcmV0\n", 0640);
	struct dkr_error e = { 0 };
	char *secret = NULL;
	char want[1024];

	cr_assert_eq(secret_read(path, &secret, &e), DKR_EPERM);
	snprintf(want, sizeof(want), "secret file %s has mode 0640: it must not be readable "
		 "by group or others (chmod 600 %s)", path, path);
	cr_assert_str_eq(e.msg, want);

	chmod(path, 0600);
	cr_assert_eq(secret_read(path, &secret, &e), DKR_OK);
	cr_assert_str_eq(secret, "c2VjcmV0");
	secret_free(secret);
	free(path);
	test_tmpdir_remove(dir);
}

Test(files, symlink_replace_moves_the_link_in_one_step)
{
	char *dir = test_tmpdir_make("common");
	char link[4096], target[4096];
	ssize_t n;

	snprintf(link, sizeof(link), "%s/example.com", dir);
	cr_assert_eq(symlink_replace("a.private", link, NULL), DKR_OK);
	cr_assert_eq(symlink_replace("b.private", link, NULL), DKR_OK);
	n = readlink(link, target, sizeof(target) - 1);
	cr_assert_gt(n, 0);
	target[n] = '\0';
	cr_assert_str_eq(target, "b.private");
	test_tmpdir_remove(dir);
}

Test(files, symlink_replace_removes_links_a_killed_swap_left_behind)
{
	char *dir = test_tmpdir_make("common");
	char link[4096], stale[4200], other[4200];
	char *file;

	snprintf(link, sizeof(link), "%s/example.com", dir);
	snprintf(stale, sizeof(stale), "%s.new.99999", link);
	snprintf(other, sizeof(other), "%s/example.org.new.99999", dir);
	cr_assert_eq(symlink("old.private", stale), 0);
	cr_assert_eq(symlink("old.private", other), 0);
	file = test_write_file(dir, "example.com.new.12345", "not a link", 0600);

	cr_assert_eq(symlink_replace("a.private", link, NULL), DKR_OK);
	cr_assert_eq(faccessat(AT_FDCWD, stale, F_OK, AT_SYMLINK_NOFOLLOW), -1,
		     "the leftover link is still there");
	cr_assert_eq(faccessat(AT_FDCWD, other, F_OK, AT_SYMLINK_NOFOLLOW), 0,
		     "another link's leftover was removed");
	cr_assert_eq(access(file, F_OK), 0, "a regular file was removed");
	free(file);
	test_tmpdir_remove(dir);
}

Test(files, group_without_search_bit_on_a_directory_is_named)
{
	char *dir = test_tmpdir_make("common");
	char sub[4096], key[4096], want[4200];
	struct dkr_error e = { 0 };
	char *path;

	snprintf(sub, sizeof(sub), "%s/keys", dir);
	cr_assert_eq(mkdir(sub, 0700), 0);
	cr_assert_eq(chown(sub, 0, 1), 0);
	snprintf(key, sizeof(key), "keys/k.private");
	path = test_write_file(dir, key, "x", 0640);
	cr_assert_eq(chown(path, 0, 1), 0);
	chmod(dir, 0755);

	cr_assert_eq(path_group_can_read(path, 1, &e), DKR_EPERM);
	cr_assert(strstr(e.msg, "lacks execute (search) permission on") != NULL, "%s", e.msg);
	snprintf(want, sizeof(want), "%s (mode 0700", sub);
	cr_assert(strstr(e.msg, want) != NULL, "%s", e.msg);

	chmod(sub, 0750);
	cr_assert_eq(path_group_can_read(path, 1, &e), DKR_OK, "%s", e.msg);
	free(path);
	test_tmpdir_remove(dir);
}
