/*
 * exec.c - a DNS backend that hands each change to an operator's command,
 * for providers dkimrot does not speak to itself.
 *
 * The command is run directly (fork and execve of the configured path with
 * no arguments and no shell, so no quoting can go wrong), gets one JSON
 * object on standard input, and answers with its exit status: 0 done, 75
 * (EX_TEMPFAIL) try again later, anything else a permanent failure.  For
 * "read" it prints {"record": "..."} or {"record": null}.  Its standard
 * error, bounded, goes into the failure message.  docs/providers.md is the
 * protocol's reference.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "http.h"

#define EXEC_TEMPFAIL 75	/* EX_TEMPFAIL from sysexits.h */
#define OUT_MAX (64 * 1024)	/* a read answer larger than this is refused */
#define ERR_MAX 4096		/* stderr kept for the message */

extern char **environ;

struct hook_io {
	const char *in;		/* the JSON request */
	size_t in_len, in_off;
	char out[OUT_MAX + 1];
	size_t out_len;
	bool out_overflow;
	char err[ERR_MAX + 1];
	size_t err_len;
};

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* --------------------------------------------------------------- running */

static void child_exec(const char *command, int in, int out, int err)
{
	static const int sigs[] = { SIGPIPE, SIGCHLD, SIGHUP, SIGINT, SIGTERM };
	char *argv[] = { (char *)command, NULL };
	sigset_t none;
	size_t i;

	/* Its own process group, so a timeout kills whatever it started too. */
	setpgid(0, 0);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	/* Whatever the daemon ignores, the hook starts with the defaults. */
	for (i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		signal(sigs[i], SIG_DFL);
	if (dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(err, 2) < 0)
		_exit(126);
	/* Nothing of the daemon's (database, sockets) leaks into the hook. */
	close_range(3, ~0U, 0);
	execve(command, argv, environ);
	dprintf(2, "cannot execute %s: %s\n", command, strerror(errno));
	_exit(126);
}

/* Append what is readable on fd to buf; false at end of file. */
static bool drain(int fd, char *buf, size_t *len, size_t max, bool *overflow)
{
	char tmp[4096];
	ssize_t n;

	for (;;) {
		n = read(fd, tmp, sizeof(tmp));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return errno == EAGAIN;
		if (n == 0)
			return false;
		if ((size_t)n > max - *len) {
			if (overflow != NULL)
				*overflow = true;
			n = (ssize_t)(max - *len);
		}
		memcpy(buf + *len, tmp, (size_t)n);
		*len += (size_t)n;
		buf[*len] = '\0';
	}
}

/*
 * Feed the request, collect both outputs, wait for the exit; kill the
 * process group at the deadline.  Returns the wait status, or -1 on timeout.
 */
static int hook_talk(pid_t pid, int in, int out, int err, struct hook_io *io,
		     int64_t timeout_ms)
{
	int64_t deadline = mono_ms() + timeout_ms;
	struct pollfd fds[3];
	bool out_open = true, err_open = true, exited = false;
	int status = 0;

	for (;;) {
		int64_t left = deadline - mono_ms();
		nfds_t n = 0;

		if (!exited && waitpid(pid, &status, WNOHANG) == pid)
			exited = true;
		if ((exited && !out_open && !err_open) || left <= 0)
			break;
		if (in >= 0)
			fds[n++] = (struct pollfd){ .fd = in, .events = POLLOUT };
		if (out_open)
			fds[n++] = (struct pollfd){ .fd = out, .events = POLLIN };
		if (err_open)
			fds[n++] = (struct pollfd){ .fd = err, .events = POLLIN };
		/* Once it has exited, take what is buffered and stop waiting. */
		if (poll(fds, n, exited ? 0 : (int)(left < 50 ? left : 50)) == 0 && exited)
			break;

		if (in >= 0) {
			ssize_t w = send(in, io->in + io->in_off, io->in_len - io->in_off,
					 MSG_NOSIGNAL | MSG_DONTWAIT);

			if (w > 0)
				io->in_off += (size_t)w;
			/* A hook that does not read its input is its own business. */
			if (io->in_off == io->in_len || (w < 0 && errno != EAGAIN &&
							   errno != EINTR)) {
				close(in);
				in = -1;
			}
		}
		if (out_open)
			out_open = drain(out, io->out, &io->out_len, OUT_MAX, &io->out_overflow);
		if (err_open)
			err_open = drain(err, io->err, &io->err_len, ERR_MAX, NULL);
	}

	if (in >= 0)
		close(in);
	if (!exited) {
		kill(-pid, SIGKILL);
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
		return -1;
	}
	return status;
}

/* The "exit status 3: <stderr>" part of a message. */
static void hook_outcome(int status, const struct hook_io *io, int64_t timeout,
			 char *out, size_t len)
{
	size_t n = io->err_len;
	char ex[256];

	while (n > 0 && (io->err[n - 1] == '\n' || io->err[n - 1] == ' ' ||
			 io->err[n - 1] == '\r' || io->err[n - 1] == '\t'))
		n--;
	http_excerpt(io->err, n, ex, sizeof(ex));
	if (status == -1)
		snprintf(out, len, "no answer within %lld s, killed", (long long)timeout);
	else if (WIFSIGNALED(status))
		snprintf(out, len, "killed by signal %d%s%s", WTERMSIG(status),
			 ex[0] != '\0' ? ": " : "", ex);
	else
		snprintf(out, len, "exit status %d%s%s", WEXITSTATUS(status),
			 ex[0] != '\0' ? ": " : "", ex);
}

static int hook_run(struct provider *p, const char *action, const char *zone,
		    const char *name, int64_t ttl, const char *record, struct hook_io *io,
		    struct dkr_error *e)
{
	const struct conf_dns *conf = p->conf;
	int64_t timeout = conf->timeout > 0 ? conf->timeout : 30;
	int sv[2] = { -1, -1 }, po[2] = { -1, -1 }, pe[2] = { -1, -1 };
	char *req = NULL, why[512];
	json_t *j;
	pid_t pid;
	int rc, status;

	j = json_pack("{s:s, s:s, s:s, s:I, s:s?}", "action", action, "zone", zone,
		      "name", name, "ttl", (json_int_t)ttl, "record", record);
	req = j != NULL ? json_dumps(j, JSON_COMPACT) : NULL;
	json_decref(j);
	if (req == NULL)
		return dkr_fail(e, DKR_ENOMEM, "out of memory building the hook's input");
	io->in = req;
	io->in_len = strlen(req);

	/* A socket for stdin: send() with MSG_NOSIGNAL cannot raise SIGPIPE in us. */
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0 ||
	    pipe2(po, O_CLOEXEC) != 0 || pipe2(pe, O_CLOEXEC) != 0) {
		rc = dkr_fail(e, DKR_EIO, "cannot create pipes for %s: %s", conf->command,
			      strerror(errno));
		goto out;
	}
	p->requests++;
	pid = fork();
	if (pid < 0) {
		rc = dkr_fail(e, DKR_ETEMP, "cannot fork to run %s: %s", conf->command,
			      strerror(errno));
		goto out;
	}
	if (pid == 0)
		child_exec(conf->command, sv[1], po[1], pe[1]);

	close(sv[1]);
	close(po[1]);
	close(pe[1]);
	sv[1] = po[1] = pe[1] = -1;
	fcntl(po[0], F_SETFL, O_NONBLOCK);
	fcntl(pe[0], F_SETFL, O_NONBLOCK);
	status = hook_talk(pid, sv[0], po[0], pe[0], io, timeout * 1000);
	sv[0] = -1;	/* hook_talk closed it */

	if (status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0) {
		rc = DKR_OK;
		goto out;
	}

	/* A timeout or EX_TEMPFAIL may pass; any other failure will not. */
	hook_outcome(status, io, timeout, why, sizeof(why));
	rc = dkr_fail(e, status == -1 || (WIFEXITED(status) &&
					  WEXITSTATUS(status) == EXEC_TEMPFAIL) ?
		      DKR_ETEMP : DKR_EDNS, PROVIDER_FMT ": %s %s %s: %s", PROVIDER_ARGS(conf),
		      conf->command, action, name, why);
out:
	for (int i = 0; i < 2; i++) {
		if (sv[i] >= 0)
			close(sv[i]);
		if (po[i] >= 0)
			close(po[i]);
		if (pe[i] >= 0)
			close(pe[i]);
	}
	free(req);
	return rc;
}

/* ---------------------------------------------------------------- actions */

static int hook_read(struct provider *p, const char *zone, const char *name, char **record,
		     struct dkr_error *e)
{
	struct hook_io *io = xcalloc(1, sizeof(*io));
	struct provider_rr rr = { .zone = zone, .name = name };
	json_error_t jerr;
	json_t *j = NULL, *rec;
	const char *s;
	int rc;

	*record = NULL;
	rc = provider_rr_check(p->conf, &rr, false, e);
	if (rc == DKR_OK)
		rc = hook_run(p, "read", zone, name, 0, NULL, io, e);
	if (rc != DKR_OK)
		goto out;

	if (io->out_overflow) {
		rc = dkr_fail(e, DKR_EDNS, PROVIDER_FMT ": %s read %s: printed more than %d bytes",
			      PROVIDER_ARGS(p->conf), p->conf->command, name, OUT_MAX);
		goto out;
	}
	j = json_loadb(io->out, io->out_len, 0, &jerr);
	rec = json_object_get(j, "record");
	if (j == NULL || !json_is_object(j) || rec == NULL ||
	    (!json_is_null(rec) && !json_is_string(rec))) {
		rc = dkr_fail(e, DKR_EDNS, PROVIDER_FMT ": %s read %s: the output is not "
			      "{\"record\": \"...\"} or {\"record\": null}%s%s",
			      PROVIDER_ARGS(p->conf), p->conf->command, name,
			      j == NULL ? ": " : "", j == NULL ? jerr.text : "");
		goto out;
	}
	s = json_string_value(rec);
	if (s != NULL) {
		rr.record = s;
		rc = provider_rr_check(p->conf, &rr, false, e);
		if (rc == DKR_OK)
			*record = xstrdup(s);
	}
out:
	json_decref(j);
	free(io);
	return rc;
}

/* Run `action` after reading what is there now, under the same rules as the other backends. */
static int hook_change(struct provider *p, const char *action, const struct provider_rr *rr,
		       struct dkr_error *e)
{
	bool publish = strcmp(action, "publish") == 0;
	struct hook_io *io = NULL;
	char *now = NULL, ex[256];
	int rc;

	rc = provider_rr_check(p->conf, rr, publish, e);
	if (rc == DKR_OK)
		rc = hook_read(p, rr->zone, rr->name, &now, e);
	if (rc != DKR_OK)
		goto out;

	if (publish ? now != NULL && strcmp(now, rr->record) == 0 : now == NULL) {
		log_msg(LOG_LVL_DEBUG, PROVIDER_FMT ": %s %s: nothing to do",
			PROVIDER_ARGS(p->conf), action, rr->name);
		goto out;
	}
	if (now != NULL && rr->record != NULL && strcmp(now, rr->record) != 0) {
		http_excerpt(now, strlen(now), ex, sizeof(ex));
		rc = dkr_fail(e, DKR_EDNS, PROVIDER_FMT ": %s holds a TXT record dkimrot did "
			      "not write (\"%s\"); %s", PROVIDER_ARGS(p->conf), rr->name, ex,
			      publish ? "dkimrot does not overwrite it" : "it is left in place");
		goto out;
	}

	io = xcalloc(1, sizeof(*io));
	rc = hook_run(p, action, rr->zone, rr->name, rr->ttl, rr->record, io, e);
out:
	free(io);
	free(now);
	return rc;
}

static int hook_publish(struct provider *p, const struct provider_rr *rr, struct dkr_error *e)
{
	return hook_change(p, "publish", rr, e);
}

static int hook_withdraw(struct provider *p, const struct provider_rr *rr,
			 struct dkr_error *e)
{
	return hook_change(p, "withdraw", rr, e);
}

static int hook_find_zone(struct provider *p, const char *name, char *zone, size_t len,
			  struct dkr_error *e)
{
	(void)zone;
	(void)len;
	return dkr_fail(e, DKR_ENOTFOUND, PROVIDER_FMT ": a command hook cannot look up the "
			"zone of %s; set zone in the domain's entry or let DNS find it",
			PROVIDER_ARGS(p->conf), name);
}

/* ---------------------------------------------------------- open, close */

static int hook_open(const struct conf_dns *conf, struct provider **out, struct dkr_error *e)
{
	struct provider *p;
	struct stat st;

	*out = NULL;
	if (conf->command[0] != '/')
		return dkr_fail(e, DKR_ECONFIG, PROVIDER_FMT " (line %d): command \"%.200s\" must "
				"be an absolute path (it is run without a shell)",
				PROVIDER_ARGS(conf), conf->line, conf->command);
	if (stat(conf->command, &st) != 0 || !S_ISREG(st.st_mode) ||
	    access(conf->command, X_OK) != 0)
		return dkr_fail(e, DKR_ECONFIG, PROVIDER_FMT " (line %d): command %s is not an "
				"executable file", PROVIDER_ARGS(conf), conf->line, conf->command);

	p = xcalloc(1, sizeof(*p));
	p->ops = &provider_exec_ops;
	p->conf = conf;
	*out = p;
	return DKR_OK;
}

static void hook_close(struct provider *p)
{
	free(p);
}

const struct provider_ops provider_exec_ops = {
	.type = "exec",
	.caps = PROVIDER_CAN_READ,
	.open = hook_open,
	.close = hook_close,
	.find_zone = hook_find_zone,
	.publish = hook_publish,
	.withdraw = hook_withdraw,
	.read = hook_read,
};
