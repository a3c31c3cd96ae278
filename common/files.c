/*
 * files.c - careful file operations.  Key files and tables are replaced
 * only by rename of a fully written and fsynced temporary, and the rename is
 * made durable by fsyncing the directory, so a crash leaves either the old
 * file or the new one, never a torn one.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common.h"

static void dir_of(const char *path, char *dir, size_t len)
{
	char tmp[PATH_MAX];

	snprintf(tmp, sizeof(tmp), "%s", path);
	snprintf(dir, len, "%s", dirname(tmp));
}

int dir_fsync(const char *dir, struct dkr_error *e)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int rc = DKR_OK;

	if (fd < 0)
		return dkr_fail(e, DKR_EIO, "cannot open directory %s: %s", dir, strerror(errno));
	if (fsync(fd) != 0)
		rc = dkr_fail(e, DKR_EIO, "cannot fsync directory %s: %s", dir, strerror(errno));
	close(fd);
	return rc;
}

int fd_write_full(int fd, const void *data, size_t len)
{
	const char *p = data;

	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int file_write_atomic(const char *path, const void *data, size_t len, mode_t mode,
		      gid_t gid, struct dkr_error *e)
{
	char tmp[PATH_MAX];
	char dir[PATH_MAX];
	int fd = -1;
	int rc = DKR_OK;

	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid()) >=
	    sizeof(tmp))
		return dkr_fail(e, DKR_EIO, "path too long: %s", path);

	/* A stale temp of ours from a crash may exist: it is ours to remove. */
	unlink(tmp);
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
	if (fd < 0) {
		rc = dkr_fail(e, DKR_EIO, "cannot create %s: %s", tmp, strerror(errno));
		goto out;
	}

	/* The umask may have narrowed the mode; say exactly what we mean. */
	if (fchmod(fd, mode) != 0 || (gid != (gid_t)-1 && fchown(fd, (uid_t)-1, gid) != 0)) {
		rc = dkr_fail(e, DKR_EIO, "cannot set mode or group of %s: %s", tmp,
			      strerror(errno));
		goto out;
	}

	if (fd_write_full(fd, data, len) != 0 || fsync(fd) != 0) {
		rc = dkr_fail(e, DKR_EIO, "cannot write %s: %s", tmp, strerror(errno));
		goto out;
	}

	if (close(fd) != 0) {
		fd = -1;
		rc = dkr_fail(e, DKR_EIO, "cannot close %s: %s", tmp, strerror(errno));
		goto out;
	}
	fd = -1;

	if (rename(tmp, path) != 0) {
		rc = dkr_fail(e, DKR_EIO, "cannot rename %s to %s: %s", tmp, path,
			      strerror(errno));
		goto out;
	}

	dir_of(path, dir, sizeof(dir));
	rc = dir_fsync(dir, e);
	return rc;

out:
	if (fd >= 0)
		close(fd);
	unlink(tmp);
	return rc;
}

int file_read_all(const char *path, size_t max, char **out, size_t *len, struct dkr_error *e)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	char *buf = NULL;
	size_t used = 0, cap = 4096;
	int rc = DKR_OK;

	*out = NULL;
	if (fd < 0)
		return dkr_fail(e, errno == ENOENT ? DKR_ENOTFOUND : DKR_EIO,
				"cannot open %s: %s", path, strerror(errno));

	buf = xcalloc(1, cap + 1);
	for (;;) {
		ssize_t n;

		if (used == cap) {
			if (cap >= max) {
				rc = dkr_fail(e, DKR_EIO, "%s is larger than %zu bytes", path, max);
				goto out;
			}
			cap *= 2;
			if (cap > max)
				cap = max;
			char *nb = realloc(buf, cap + 1);

			if (nb == NULL) {
				rc = dkr_fail(e, DKR_ENOMEM, "out of memory reading %s", path);
				goto out;
			}
			buf = nb;
		}
		n = read(fd, buf + used, cap - used);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = dkr_fail(e, DKR_EIO, "cannot read %s: %s", path, strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		used += (size_t)n;
	}

	buf[used] = '\0';
	*out = buf;
	buf = NULL;
	if (len != NULL)
		*len = used;

out:
	free(buf);
	close(fd);
	return rc;
}

int secret_read(const char *path, char **out, struct dkr_error *e)
{
	struct stat st;
	char *buf = NULL;
	size_t len;
	int fd, rc;

	*out = NULL;

	/* Check the mode on the very file we read, not on a name. */
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return dkr_fail(e, DKR_EIO, "cannot open secret file %s: %s", path,
				strerror(errno));
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return dkr_fail(e, DKR_EIO, "secret file %s is not a regular file", path);
	}
	close(fd);
	if ((st.st_mode & (S_IRWXG | S_IRWXO)) != 0)
		return dkr_fail(e, DKR_EPERM,
				"secret file %s has mode %04o: it must not be readable by group "
				"or others (chmod 600 %s)", path, (unsigned)(st.st_mode & 07777),
				path);

	rc = file_read_all(path, 64 * 1024, &buf, &len, e);
	if (rc != DKR_OK)
		return rc;

	while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r' ||
			   buf[len - 1] == ' ' || buf[len - 1] == '\t'))
		buf[--len] = '\0';
	if (len == 0) {
		secret_free(buf);
		return dkr_fail(e, DKR_EINVAL, "secret file %s is empty", path);
	}
	*out = buf;
	return DKR_OK;
}

void secret_free(char *secret)
{
	if (secret == NULL)
		return;
	explicit_bzero(secret, strlen(secret));
	free(secret);
}

/*
 * A process killed between symlink() and rename() leaves "<link>.new.<pid>"
 * behind; the next swap of the same link removes such leftovers (links
 * only, never a file).
 */
static void symlink_leftovers_remove(const char *dir, const char *link)
{
	const char *base = strrchr(link, '/');
	char prefix[NAME_MAX + 1];
	struct dirent *de;
	DIR *dh;
	int n;

	base = base != NULL ? base + 1 : link;
	n = snprintf(prefix, sizeof(prefix), "%s.new.", base);
	if (n < 0 || (size_t)n >= sizeof(prefix) || (dh = opendir(dir)) == NULL)
		return;

	while ((de = readdir(dh)) != NULL) {
		struct stat st;

		if (strncmp(de->d_name, prefix, (size_t)n) != 0)
			continue;
		if (fstatat(dirfd(dh), de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
		    S_ISLNK(st.st_mode))
			unlinkat(dirfd(dh), de->d_name, 0);
	}
	closedir(dh);
}

int symlink_replace(const char *target, const char *link, struct dkr_error *e)
{
	char tmp[PATH_MAX];
	char dir[PATH_MAX];

	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.new.%ld", link, (long)getpid()) >=
	    sizeof(tmp))
		return dkr_fail(e, DKR_EIO, "path too long: %s", link);

	unlink(tmp);
	if (symlink(target, tmp) != 0)
		return dkr_fail(e, DKR_EIO, "cannot create link %s -> %s: %s", tmp, target,
				strerror(errno));

	/* rename() replaces the old link in one step: no moment without a key. */
	if (rename(tmp, link) != 0) {
		int err = errno;

		unlink(tmp);
		return dkr_fail(e, DKR_EIO, "cannot rename link %s over %s: %s", tmp, link,
				strerror(err));
	}

	dir_of(link, dir, sizeof(dir));
	symlink_leftovers_remove(dir, link);
	return dir_fsync(dir, e);
}

int group_lookup(const char *name, gid_t *gid, struct dkr_error *e)
{
	struct group grp, *res = NULL;
	char buf[16384];
	char *end;
	long n;

	if (name == NULL || *name == '\0')
		return dkr_fail(e, DKR_EINVAL, "empty group name");

	if (getgrnam_r(name, &grp, buf, sizeof(buf), &res) == 0 && res != NULL) {
		*gid = res->gr_gid;
		return DKR_OK;
	}

	n = strtol(name, &end, 10);
	if (*end == '\0' && n >= 0) {
		*gid = (gid_t)n;
		return DKR_OK;
	}
	return dkr_fail(e, DKR_ENOTFOUND, "group \"%s\" does not exist on this system", name);
}

/*
 * Can a member of `gid` (not the owner, since the MTA runs as another user)
 * use this mode for `bit` (4 read, 1 search)?
 */
static bool group_has(const struct stat *st, gid_t gid, int bit)
{
	/* POSIX: a member of the file's group gets the group bits, never others'. */
	if (st->st_gid == gid)
		return (st->st_mode & (mode_t)(bit << 3)) != 0;
	return (st->st_mode & (mode_t)bit) != 0;
}

int path_group_can_read(const char *path, gid_t gid, struct dkr_error *e)
{
	char real[PATH_MAX];
	char cur[PATH_MAX];
	struct stat st;
	char gname[64];
	struct group *g = getgrgid(gid);

	snprintf(gname, sizeof(gname), "%s", g != NULL ? g->gr_name : "?");
	if (realpath(path, real) == NULL)
		return dkr_fail(e, DKR_EIO, "cannot resolve %s: %s", path, strerror(errno));

	/* Every directory from / down to the file must be searchable. */
	for (char *p = real; p != NULL; p = strchr(p + 1, '/')) {
		size_t n = (size_t)(p - real);

		if (n == 0)
			n = 1;
		memcpy(cur, real, n);
		cur[n] = '\0';
		if (stat(cur, &st) != 0)
			return dkr_fail(e, DKR_EIO, "cannot stat %s: %s", cur, strerror(errno));
		if (!group_has(&st, gid, 1))
			return dkr_fail(e, DKR_EPERM,
					"group '%s' lacks execute (search) permission on %s "
					"(mode %04o, group %u): the MTA cannot reach its keys",
					gname, cur, (unsigned)(st.st_mode & 07777),
					(unsigned)st.st_gid);
	}

	if (stat(real, &st) != 0)
		return dkr_fail(e, DKR_EIO, "cannot stat %s: %s", real, strerror(errno));
	if (!group_has(&st, gid, 4))
		return dkr_fail(e, DKR_EPERM,
				"group '%s' lacks read permission on %s (mode %04o, group %u): "
				"the MTA cannot read the key", gname, real,
				(unsigned)(st.st_mode & 07777), (unsigned)st.st_gid);
	return DKR_OK;
}
