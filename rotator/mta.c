/*
 * mta.c - what the MTA adapters share: the lookup by type, name checks
 * before a name becomes part of a path, directories the MTA's group must
 * be able to reach, and the reload command run after a swap.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <libgen.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "rotator.h"

#define OUTPUT_KEEP 400		/* bytes of a failed command's output we quote */

extern char **environ;

const struct mta_ops *mta_ops_find(enum conf_mta_type type)
{
	switch (type) {
	case MTA_ZDKIMFILTER:
		return &mta_zdkimfilter_ops;
	case MTA_OPENDKIM:
		return &mta_opendkim_ops;
	}
	return NULL;
}

int mta_names_check(const char *domain, const char *selector, struct dkr_error *e)
{
	if (!name_is_hostname(domain))
		return dkr_fail(e, DKR_EINVAL, "\"%.300s\" is not a valid domain name",
				domain != NULL ? domain : "");
	if (selector != NULL && !name_is_label(selector))
		return dkr_fail(e, DKR_EINVAL, "%s: selector \"%.100s\" is not one DNS label",
				domain, selector);
	return DKR_OK;
}

/* The group's name for messages: the configured one, else from the system. */
static void group_name(const struct conf_mta *m, char *buf, size_t len)
{
	struct group *g;

	if (m->group[0] != '\0') {
		snprintf(buf, len, "%s", m->group);
		return;
	}
	g = getgrgid(m->gid);
	if (g != NULL)
		snprintf(buf, len, "%s", g->gr_name);
	else
		snprintf(buf, len, "%u", (unsigned)m->gid);
}

int mta_dir_prepare(const struct conf_mta *m, const char *dir, struct dkr_error *e)
{
	char parent[PATH_MAX];
	struct stat st;
	int fd, rc = DKR_OK;

	if (mkdir(dir, 0750) != 0) {
		if (errno != EEXIST)
			return dkr_fail(e, DKR_EIO, "cannot create directory %s: %s", dir,
					strerror(errno));
		if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
			return dkr_fail(e, DKR_EIO, "%s exists but is not a directory", dir);
		return DKR_OK;
	}

	/* Ours: set group and mode on what we opened, not on a name. */
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return dkr_fail(e, DKR_EIO, "cannot open new directory %s: %s", dir,
				strerror(errno));
	if (fchown(fd, (uid_t)-1, m->gid) != 0 || fchmod(fd, 0750) != 0)
		rc = dkr_fail(e, DKR_EIO, "cannot set group %s and mode 0750 on %s: %s",
			      m->group, dir, strerror(errno));
	close(fd);
	if (rc != DKR_OK)
		return rc;

	if (!str_copy(parent, sizeof(parent), dir))
		return dkr_fail(e, DKR_EINVAL, "directory path too long: %s", dir);
	return dir_fsync(dirname(parent), e);
}

/*
 * POSIX picks one class: the group bits when the file's group is the MTA's,
 * else the others bits.  The owner class is not ours to know (the MTA runs
 * as its own user), so it is ignored; ACLs are not consulted.
 */
static bool group_may_search(const struct stat *st, gid_t gid)
{
	if (st->st_gid == gid)
		return (st->st_mode & S_IXGRP) != 0;
	return (st->st_mode & S_IXOTH) != 0;
}

static int search_check(const struct conf_mta *m, const char *path, const char *gname,
			struct dkr_error *e)
{
	struct stat st;

	if (stat(path, &st) != 0)
		return dkr_fail(e, DKR_EIO, "cannot stat %s: %s", path, strerror(errno));
	if (!group_may_search(&st, m->gid))
		return dkr_fail(e, DKR_EPERM, "group '%s' lacks execute (search) permission "
				"on %s (mode %04o)", gname, path, (unsigned)(st.st_mode & 07777));
	return DKR_OK;
}

int mta_dir_group_can_search(const struct conf_mta *m, const char *dir, struct dkr_error *e)
{
	char real[PATH_MAX], cur[PATH_MAX], gname[CONF_NAME_MAX];
	struct stat st;
	int rc;

	if (realpath(dir, real) == NULL)
		return dkr_fail(e, errno == ENOENT ? DKR_ENOTFOUND : DKR_EIO,
				"directory %s: %s", dir, strerror(errno));
	if (stat(real, &st) != 0 || !S_ISDIR(st.st_mode))
		return dkr_fail(e, DKR_EIO, "%s is not a directory", dir);
	group_name(m, gname, sizeof(gname));

	/* "/" first, then every longer prefix down to the directory itself. */
	rc = search_check(m, "/", gname, e);
	for (const char *p = real + 1; rc == DKR_OK && *p != '\0';) {
		const char *slash = strchr(p, '/');
		size_t n = slash != NULL ? (size_t)(slash - real) : strlen(real);

		memcpy(cur, real, n);
		cur[n] = '\0';
		rc = search_check(m, cur, gname, e);
		if (slash == NULL)
			break;
		p = slash + 1;
	}
	return rc;
}

/* Printable and on one line, so it can close a log line. */
static void output_clean(char *s, size_t n)
{
	while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == '\r' || s[n - 1] == ' '))
		n--;
	s[n] = '\0';
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] == 0x7f)
			s[i] = ' ';
}

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void output_keep(char *out, size_t out_len, size_t *used, const char *buf,
			size_t n)
{
	size_t room = out_len - 1 - *used;

	if (n > room)
		n = room;
	memcpy(out + *used, buf, n);
	*used += n;
}

/*
 * Read the child's output until it exits, not until EOF: a daemon it
 * starts may hold the pipe open for ever.  Returns 0, or -1 when the
 * deadline passed (the group is killed) or the child cannot be waited for.
 */
static int child_wait(pid_t pid, int fd, int timeout_ms, char *out, size_t out_len,
		      int *status)
{
	int64_t deadline = mono_ms() + timeout_ms;
	size_t used = 0, drained = 0;
	bool eof = false;
	char buf[512];
	ssize_t n;

	out[0] = '\0';
	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		pid_t r;

		if (!eof && poll(&p, 1, 100) > 0) {
			n = read(fd, buf, sizeof(buf));
			if (n > 0)
				output_keep(out, out_len, &used, buf, (size_t)n);
			else if (n == 0 || errno != EINTR)
				eof = true;
		} else if (eof) {
			poll(NULL, 0, 100);
		}

		r = waitpid(pid, status, WNOHANG);
		if (r == pid)
			break;
		if ((r < 0 && errno != EINTR) || mono_ms() > deadline) {
			kill(-pid, SIGKILL);
			waitpid(pid, status, 0);
			out[used] = '\0';
			return -1;
		}
	}

	/* What the child wrote before it exited; bounded, descendants may go on. */
	fcntl(fd, F_SETFL, O_NONBLOCK);
	while (!eof && drained < 64 * 1024 && (n = read(fd, buf, sizeof(buf))) > 0) {
		output_keep(out, out_len, &used, buf, (size_t)n);
		drained += (size_t)n;
	}
	out[used] = '\0';
	return 0;
}

static int spawn_shell(const char *command, int out_fd, pid_t *pid)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	sigset_t none, all;
	char *argv[] = { "/bin/sh", "-c", (char *)command, NULL };
	int rc;

	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, out_fd, 1);
	posix_spawn_file_actions_adddup2(&fa, out_fd, 2);

	/*
	 * Its own process group, so a timeout kills what it started too; and
	 * the default signal state, whatever the daemon blocks or ignores.
	 */
	sigemptyset(&none);
	sigfillset(&all);
	posix_spawnattr_init(&attr);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK |
				 POSIX_SPAWN_SETSIGDEF);
	posix_spawnattr_setpgroup(&attr, 0);
	posix_spawnattr_setsigmask(&attr, &none);
	posix_spawnattr_setsigdefault(&attr, &all);

	rc = posix_spawn(pid, "/bin/sh", &fa, &attr, argv, environ);
	posix_spawnattr_destroy(&attr);
	posix_spawn_file_actions_destroy(&fa);
	return rc;
}

int mta_run_command(const char *what, const char *command, int timeout_ms,
		    struct dkr_error *e)
{
	char out[OUTPUT_KEEP + 1];
	int pfd[2] = { -1, -1 };
	int status = 0, rc;
	pid_t pid;

	if (pipe2(pfd, O_CLOEXEC) != 0)
		return dkr_fail(e, DKR_EIO, "%s: cannot make a pipe: %s", what, strerror(errno));

	rc = spawn_shell(command, pfd[1], &pid);
	close(pfd[1]);
	if (rc != 0) {
		close(pfd[0]);
		return dkr_fail(e, DKR_EIO, "%s: cannot run /bin/sh: %s", what, strerror(rc));
	}

	rc = child_wait(pid, pfd[0], timeout_ms, out, sizeof(out), &status);
	close(pfd[0]);
	output_clean(out, strlen(out));

	if (rc != 0)
		return dkr_fail(e, DKR_ETEMP, "%s (sh -c '%.200s') did not finish within %.1f s "
				"and was killed%s%s", what, command, timeout_ms / 1000.0,
				out[0] != '\0' ? ": " : "", out);
	if (WIFSIGNALED(status))
		return dkr_fail(e, DKR_ETEMP, "%s (sh -c '%.200s') was killed by signal %d%s%s",
				what, command, WTERMSIG(status), out[0] != '\0' ? ": " : "",
				out);
	if (WEXITSTATUS(status) != 0)
		return dkr_fail(e, DKR_ETEMP, "%s (sh -c '%.200s') exited with status %d%s%s",
				what, command, WEXITSTATUS(status),
				out[0] != '\0' ? ": " : "", out);
	return DKR_OK;
}

int mta_reload(const struct conf_mta *m, struct dkr_error *e)
{
	char what[CONF_NAME_MAX + 64];

	if (m->reload[0] == '\0')
		return DKR_OK;
	snprintf(what, sizeof(what), "reload command of MTA '%s'", m->name);
	return mta_run_command(what, m->reload, MTA_RELOAD_TIMEOUT_MS, e);
}
