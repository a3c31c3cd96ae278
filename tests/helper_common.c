/*
 * helper_common.c - temporary directories, files and shell commands for
 * the tests.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "helper.h"

char *test_tmpdir_make(const char *tag)
{
	const char *base = getenv("TMPDIR");
	char *dir;

	if (base == NULL || *base == '\0')
		base = "/tmp";
	if (asprintf(&dir, "%s/dkimrot-test-%s-XXXXXX", base, tag) < 0)
		abort();
	if (mkdtemp(dir) == NULL) {
		perror("mkdtemp");
		abort();
	}
	return dir;
}

void test_tmpdir_remove(char *dir)
{
	if (dir == NULL)
		return;
	if (getenv("DKIMROT_KEEP_TMP") == NULL)
		test_sh("rm -rf '%s'", dir);
	free(dir);
}

char *test_write_file(const char *dir, const char *name, const char *content, mode_t mode)
{
	char *path;
	int fd;
	size_t len = strlen(content);

	if (asprintf(&path, "%s/%s", dir, name) < 0)
		abort();
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
	if (fd < 0 || write(fd, content, len) != (ssize_t)len) {
		perror(path);
		abort();
	}
	fchmod(fd, mode);
	close(fd);
	return path;
}

int test_sh(const char *fmt, ...)
{
	va_list ap;
	char *cmd;
	int st;

	va_start(ap, fmt);
	if (vasprintf(&cmd, fmt, ap) < 0)
		abort();
	va_end(ap);
	st = system(cmd);
	free(cmd);
	if (st == -1 || !WIFEXITED(st))
		return -1;
	return WEXITSTATUS(st);
}

const char *test_top_dir(void)
{
	static char top[4096];
	const char *env = getenv("DKIMROT_TOP");

	if (env != NULL)
		return env;
	if (top[0] == '\0' && getcwd(top, sizeof(top)) == NULL)
		abort();
	return top;
}
