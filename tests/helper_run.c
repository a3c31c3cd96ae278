/*
 * helper_run.c - run the dkimrot binary (or any program) from a test,
 * capture what it says, keep daemons on a leash, and write configurations
 * for a BIND pair.  See helper_run.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "helper.h"
#include "helper_run.h"

extern char **environ;

#define RUN_ARGS_MAX 64
#define BG_MAX 32

const char *run_bin(void)
{
	static char path[PATH_MAX];
	const char *env = getenv("DKIMROT_BIN");

	if (env != NULL && *env != '\0')
		return env;
	if (path[0] == '\0')
		snprintf(path, sizeof(path), "%s/build/dkimrot", test_top_dir());
	return path;
}

int64_t run_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/*
 * The environment of a child: ours with `changes` applied.  Built before
 * fork(), since setenv() in a child of a threaded process is not safe.
 */
static char **env_build(const char *const *changes)
{
	size_t n = 0, m = 0, k;
	char **v;

	while (environ[n] != NULL)
		n++;
	while (changes != NULL && changes[m] != NULL)
		m++;
	v = calloc(n + m + 1, sizeof(*v));
	if (v == NULL)
		abort();

	k = 0;
	for (size_t i = 0; i < n; i++) {
		size_t len = strcspn(environ[i], "=");
		bool replaced = false;

		for (size_t j = 0; j < m && !replaced; j++)
			replaced = strncmp(changes[j], environ[i], len) == 0 &&
				   (changes[j][len] == '=' || changes[j][len] == '\0');
		if (!replaced)
			v[k++] = environ[i];
	}
	for (size_t j = 0; j < m; j++)
		if (strchr(changes[j], '=') != NULL)
			v[k++] = (char *)changes[j];
	v[k] = NULL;
	return v;
}

/* Turn a wait status into the numbers struct run_result promises. */
static int status_decode(int ws)
{
	if (WIFEXITED(ws))
		return WEXITSTATUS(ws);
	if (WIFSIGNALED(ws))
		return 128 + WTERMSIG(ws);
	return -1;
}

/* Start argv with stdin /dev/null and stdout/stderr on out_fd/err_fd. */
static pid_t spawn(char *const argv[], char **envp, int out_fd, int err_fd)
{
	pid_t pid = fork();

	if (pid != 0)
		return pid;

	int devnull = open("/dev/null", O_RDONLY);

	if (devnull < 0 || dup2(devnull, 0) < 0 || dup2(out_fd, 1) < 0 || dup2(err_fd, 2) < 0)
		_exit(126);
	/* Its own process group, so a stop kills what it starts as well. */
	setpgid(0, 0);
	signal(SIGPIPE, SIG_DFL);
	execve(argv[0], argv, envp);
	dprintf(2, "cannot run %s: %s\n", argv[0], strerror(errno));
	_exit(127);
}

/* Wait for `pid` at most `timeout_ms` (negative: forever); -2 when it still runs. */
static int wait_bounded(pid_t pid, int timeout_ms)
{
	int64_t deadline = run_ms() + timeout_ms;
	int ws;

	for (;;) {
		pid_t r = waitpid(pid, &ws, WNOHANG);

		if (r == pid)
			return status_decode(ws);
		if (r < 0 && errno != EINTR)
			return -1;
		if (timeout_ms >= 0 && run_ms() >= deadline)
			return -2;
		sleep_ms(10);
	}
}

static char *fd_slurp(int fd)
{
	off_t size = lseek(fd, 0, SEEK_END);
	char *buf;
	ssize_t got;
	size_t used = 0;

	if (size < 0)
		size = 0;
	buf = malloc((size_t)size + 1);
	if (buf == NULL)
		abort();
	lseek(fd, 0, SEEK_SET);
	while (used < (size_t)size && (got = read(fd, buf + used, (size_t)size - used)) > 0)
		used += (size_t)got;
	buf[used] = '\0';
	return buf;
}

int run_program(struct run_result *r, const char *const *env, int timeout_s,
		char *const argv[])
{
	int out_fd = memfd_create("dkimrot-out", MFD_CLOEXEC);
	int err_fd = memfd_create("dkimrot-err", MFD_CLOEXEC);
	char **envp = env_build(env);
	int64_t start = run_ms();
	pid_t pid;

	memset(r, 0, sizeof(*r));
	r->status = -1;
	if (out_fd < 0 || err_fd < 0)
		abort();

	pid = spawn(argv, envp, out_fd, err_fd);
	if (pid > 0) {
		r->status = wait_bounded(pid, timeout_s * 1000);
		if (r->status == -2) {
			kill(-pid, SIGKILL);
			kill(pid, SIGKILL);
			waitpid(pid, NULL, 0);
		}
	}
	r->seconds = (double)(run_ms() - start) / 1000.0;
	r->out = fd_slurp(out_fd);
	r->err = fd_slurp(err_fd);
	close(out_fd);
	close(err_fd);
	free(envp);
	return r->status;
}

/* Collect the variadic arguments after the binary into an argv. */
static void args_collect(char **argv, va_list ap)
{
	const char *a;
	size_t n = 0;

	argv[n++] = (char *)run_bin();
	while ((a = va_arg(ap, const char *)) != NULL) {
		if (n + 1 >= RUN_ARGS_MAX)
			abort();
		argv[n++] = (char *)a;
	}
	argv[n] = NULL;
}

int run_dkimrot(struct run_result *r, const char *const *env, int timeout_s, ...)
{
	char *argv[RUN_ARGS_MAX];
	va_list ap;

	va_start(ap, timeout_s);
	args_collect(argv, ap);
	va_end(ap);
	return run_program(r, env, timeout_s, argv);
}

void run_result_free(struct run_result *r)
{
	free(r->out);
	free(r->err);
	r->out = NULL;
	r->err = NULL;
}

/* ------------------------------------------------------------ background */

static pid_t bg_pids[BG_MAX];

static void bg_forget(pid_t pid)
{
	for (size_t i = 0; i < BG_MAX; i++)
		if (bg_pids[i] == pid)
			bg_pids[i] = 0;
}

int run_bg_start(struct run_bg *bg, const char *log_path, const char *const *env, ...)
{
	char *argv[RUN_ARGS_MAX];
	char **envp;
	va_list ap;
	int fd;
	size_t slot = BG_MAX;

	memset(bg, 0, sizeof(*bg));
	for (size_t i = 0; i < BG_MAX && slot == BG_MAX; i++)
		if (bg_pids[i] == 0)
			slot = i;
	if (slot == BG_MAX)
		return -1;

	va_start(ap, env);
	args_collect(argv, ap);
	va_end(ap);

	fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (fd < 0)
		return -1;
	envp = env_build(env);
	bg->pid = spawn(argv, envp, fd, fd);
	free(envp);
	close(fd);
	if (bg->pid < 0) {
		bg->pid = 0;
		return -1;
	}
	bg_pids[slot] = bg->pid;
	return 0;
}

bool run_bg_alive(struct run_bg *bg)
{
	int ws;

	if (bg->pid <= 0)
		return false;
	if (waitpid(bg->pid, &ws, WNOHANG) == bg->pid) {
		bg->status = status_decode(ws);
		bg_forget(bg->pid);
		bg->pid = 0;
		return false;
	}
	return true;
}

int run_bg_stop(struct run_bg *bg, int sig, int timeout_ms)
{
	int st;

	if (bg->pid <= 0)
		return bg->status;
	if (sig != 0)
		kill(bg->pid, sig);
	st = wait_bounded(bg->pid, timeout_ms);
	if (st == -2)
		return -2;
	bg_forget(bg->pid);
	bg->pid = 0;
	bg->status = st;
	return st;
}

void run_bg_kill_all(void)
{
	for (size_t i = 0; i < BG_MAX; i++) {
		if (bg_pids[i] <= 0)
			continue;
		kill(-bg_pids[i], SIGKILL);
		kill(bg_pids[i], SIGKILL);
		waitpid(bg_pids[i], NULL, 0);
		bg_pids[i] = 0;
	}
}

bool run_port_free(int port)
{
	static const int types[] = { SOCK_DGRAM, SOCK_STREAM };
	struct sockaddr_in sa;
	bool free_all = true;

	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	for (size_t i = 0; i < 2 && free_all; i++) {
		int fd = socket(AF_INET, types[i] | SOCK_CLOEXEC, 0);

		if (fd < 0)
			abort();
		free_all = bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
		close(fd);
	}
	return free_all;
}

/* ----------------------------------------------------------------- files */

char *run_file_read(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	char *text;

	if (fd < 0)
		return NULL;
	text = fd_slurp(fd);
	close(fd);
	return text;
}

int run_count(const char *hay, const char *needle)
{
	int n = 0;
	size_t len = strlen(needle);

	if (hay == NULL || len == 0)
		return 0;
	for (const char *p = strstr(hay, needle); p != NULL; p = strstr(p + len, needle))
		n++;
	return n;
}

bool run_file_wait_for(const char *path, const char *needle, int count, int timeout_ms)
{
	int64_t deadline = run_ms() + timeout_ms;

	for (;;) {
		char *text = run_file_read(path);
		bool found = run_count(text, needle) >= count;

		free(text);
		if (found)
			return true;
		if (run_ms() >= deadline)
			return false;
		sleep_ms(50);
	}
}

/* --------------------------------------------------------- configuration */

char *run_conf_write(const char *dir, const struct bind_pair *bp, const struct run_conf *c)
{
	char *path, *mta = NULL;
	const char *zone = bp->zone[0] != '\0' ? bp->zone : "example.test";
	FILE *f;

	if (asprintf(&path, "%s/dkimrot.conf", dir) < 0)
		abort();

	if (c->mta == NULL) {
		struct group *g = getgrnam("daemon");
		char keys[PATH_MAX];

		/* The MTA's group must be able to search the directories above. */
		snprintf(keys, sizeof(keys), "%s/keys", dir);
		if (g == NULL || chmod(dir, 0711) != 0 ||
		    (mkdir(keys, 0750) != 0 && errno != EEXIST) ||
		    chown(keys, (uid_t)-1, g->gr_gid) != 0 || chmod(keys, 0750) != 0)
			abort();
		if (asprintf(&mta, "{ name = \"m\"; type = \"zdkimfilter\"; keys_dir = "
			     "\"%s/keys\"; group = \"daemon\"; }", dir) < 0)
			abort();
	}

	f = fopen(path, "w");
	if (f == NULL)
		abort();
	fprintf(f, "# written by tests/helper_run.c\n"
		   "state_db = \"%s/state.db\";\n"
		   "policy = { %s };\n"
		   "dns = ( { name = \"primary\"; type = \"rfc2136\"; server = \"127.0.0.1\";\n"
		   "          port = %d; timeout = \"10s\";\n"
		   "          tsig = { name = \"dkimrot\"; algorithm = \"hmac-sha256\";\n"
		   "                   secret_file = \"%s\"; }; } );\n"
		   "mta = ( %s );\n"
		   "domains = (\n",
		dir, c->policy != NULL ? c->policy : RUN_POLICY_FAST, bp->port,
		c->secret_file != NULL ? c->secret_file : bp->secret_path,
		c->mta != NULL ? c->mta : mta);
	for (size_t i = 0; i == 0 || (i < 8 && c->domains[i] != NULL); i++) {
		const char *d = c->domains[0] != NULL ? c->domains[i] : zone;

		fprintf(f, "  %s{ domain = \"%s\"; dns = \"primary\"; mta = \"m\";\n"
			   "    nameservers = [ \"127.0.0.1:%d\", \"127.0.0.1:%d\" ]; %s }\n",
			i > 0 ? ", " : "", d, bp->port, bp->port + 1,
			c->domain_extra != NULL ? c->domain_extra : "");
	}
	fprintf(f, ");\n");
	if (fclose(f) != 0)
		abort();
	free(mta);
	return path;
}

/* --------------------------------------------------------------- MTA link */

int run_link_read(const char *keys_dir, const char *domain, char *target, size_t target_len,
		  char *selector, size_t selector_len)
{
	char path[PATH_MAX], buf[PATH_MAX];
	const char *base, *sel;
	size_t dlen = strlen(domain), slen;
	ssize_t n;

	snprintf(path, sizeof(path), "%s/%s", keys_dir, domain);
	n = readlink(path, buf, sizeof(buf) - 1);
	if (n < 0)
		return -1;
	buf[n] = '\0';
	base = strrchr(buf, '/') != NULL ? strrchr(buf, '/') + 1 : buf;
	snprintf(target, target_len, "%s", base);

	/* zdkimfilter's rule: minus "<domain>." in front and ".private" behind. */
	sel = base;
	if (strncmp(sel, domain, dlen) == 0 && sel[dlen] == '.')
		sel += dlen + 1;
	slen = strlen(sel);
	if (slen > 8 && strcmp(sel + slen - 8, ".private") == 0)
		slen -= 8;
	snprintf(selector, selector_len, "%.*s", (int)slen, sel);
	return 0;
}
