/*
 * cmd_run.c - the commands that change things: `rotate` (one rotation now,
 * driven until the new key signs) and `daemon` (the schedule, until
 * SIGTERM).  Both take the state database's writer lock, reconcile the
 * world with the stored state, then run the planner's due actions.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cmd.h"

struct run_ctx {
	struct cmd_ctx cmd;
	struct engine en;
	bool engine_ready;
};

static int run_open(const char *conf_path, char **names, int n_names, struct run_ctx *c)
{
	struct dkr_error e = { 0 };
	int rc;

	memset(c, 0, sizeof(*c));
	rc = cmd_open(conf_path, names, n_names, true, &c->cmd);
	if (rc != EXIT_OK)
		return rc;
	engine_init(&c->en, c->cmd.conf, c->cmd.st, &e);
	c->engine_ready = true;

	if (engine_reconcile(&c->en, c->cmd.domains, c->cmd.n_domains, &e) != DKR_OK) {
		fprintf(stderr, "dkimrot: %s\n", e.msg);
		return EXIT_FAIL;
	}
	return EXIT_OK;
}

static void run_close(struct run_ctx *c)
{
	if (c->engine_ready)
		engine_fini(&c->en);
	cmd_close(&c->cmd);
}

/* The key a rotation started at `since` is driving: the newest of the domain. */
static int newest_key(struct state *st, const char *domain, struct state_key *out)
{
	struct state_key *keys = NULL;
	size_t n = 0;
	int found = 0;

	if (state_keys_list(st, domain, &keys, &n, NULL) != DKR_OK)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!found || keys[i].id > out->id) {
			*out = keys[i];
			found = 1;
		}
	free(keys);
	return found;
}

/* Sleep until `until` (bounded), waking early for SIGTERM or SIGINT. */
static volatile sig_atomic_t got_term, got_hup;
static struct engine *signal_engine;

static void on_signal(int sig)
{
	if (sig == SIGHUP) {
		got_hup = 1;
		return;
	}
	got_term = 1;
	if (signal_engine != NULL)
		signal_engine->stop = 1;
}

static void sleep_until(int64_t until, int64_t max)
{
	int64_t now = clock_now();
	int64_t wait = until > now ? until - now : 0;
	struct timespec ts;

	if (wait > max)
		wait = max;
	if (wait < 1)
		wait = 1;
	ts.tv_sec = (time_t)wait;
	ts.tv_nsec = 0;
	while (!got_term && !got_hup && nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

static void install_signals(struct engine *en)
{
	struct sigaction sa;

	signal_engine = en;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
}

/* ---------------------------------------------------------------- rotate */

struct rotate_opts {
	bool no_wait;
	int64_t timeout;	/* 0: each domain's propagation_timeout */
};

/* Does the MTA sign `d` with `k` now? */
static bool mta_signs(const struct conf_domain *d, const struct state_key *k)
{
	const struct mta_ops *mta = mta_ops_find(d->mta->type);
	char current[STATE_SELECTOR_MAX] = "";

	if (mta->current(d->mta, d->domain, current, sizeof(current), NULL) != DKR_OK)
		return false;
	return strcmp(current, k->selector) == 0;
}

/* Is every domain's new key where the rotation wants it?  Sets *late on timeout. */
static bool rotate_done(struct run_ctx *c, const int64_t *first_ids, int64_t start,
			const struct rotate_opts *o, bool *late, bool *failed)
{
	bool done = true;

	*late = false;
	*failed = false;
	for (size_t i = 0; i < c->cmd.n_domains; i++) {
		const struct conf_domain *d = c->cmd.domains[i];
		struct state_key k;
		enum key_state want = o->no_wait ? KS_PUBLISHED : KS_ACTIVE;
		int64_t limit = o->timeout > 0 ? o->timeout : d->policy.propagation_timeout;

		if (!newest_key(c->cmd.st, d->domain, &k) || k.id < first_ids[i]) {
			log_key(LOG_LVL_ERR, d->domain, NULL, "no new key was created");
			*failed = true;
			continue;
		}
		if (k.state >= want) {
			/*
			 * "active" is stored before the MTA is switched; a switch
			 * that failed is retried only by the next run's reconcile.
			 */
			if (k.state == KS_ACTIVE && want == KS_ACTIVE && !mta_signs(d, &k)) {
				log_key(LOG_LVL_ERR, d->domain, k.selector,
					"stored as active, but %s does not sign with it: %s",
					d->mta->name, k.last_error);
				*failed = true;
			}
			continue;
		}
		done = false;

		/* Only the wait for nameservers can time out; errors keep retrying. */
		if (k.state == KS_PUBLISHED && clock_now() > k.at[KS_PUBLISHED] + limit) {
			log_key(LOG_LVL_ERR, d->domain, k.selector,
				"not served by every nameserver after %llds: %s",
				(long long)limit, k.last_error);
			*late = true;
		} else if (k.state < KS_PUBLISHED && k.attempts > 0 &&
			   (k.attempts >= 3 || clock_now() > start + limit)) {
			log_key(LOG_LVL_ERR, d->domain, k.selector, "gave up: %s", k.last_error);
			*failed = true;
		}
	}
	return done;
}

/*
 * Each domain's first key id that counts as this rotation's: a key already
 * on its way is the one driven (and made to switch now), else the next made.
 */
static int rotate_prepare(struct run_ctx *c, int64_t start, int64_t *first_ids)
{
	struct dkr_error e = { 0 };

	for (size_t i = 0; i < c->cmd.n_domains; i++) {
		struct state_key k;

		if (!newest_key(c->cmd.st, c->cmd.domains[i]->domain, &k)) {
			first_ids[i] = 1;
		} else if (k.state <= KS_VISIBLE) {
			first_ids[i] = k.id;
			if (k.activate_after > start &&
			    state_key_set_activate_after(c->cmd.st, k.id, start, &e) != DKR_OK) {
				fprintf(stderr, "dkimrot: %s\n", e.msg);
				return EXIT_FAIL;
			}
		} else {
			first_ids[i] = k.id + 1;
		}
	}
	return EXIT_OK;
}

static int run_due(struct run_ctx *c, bool force, int64_t *next)
{
	struct dkr_error e = { 0 };

	if (engine_run_due(&c->en, c->cmd.domains, c->cmd.n_domains, force, next, &e) ==
	    DKR_OK)
		return EXIT_OK;
	fprintf(stderr, "dkimrot: %s\n", e.msg);
	return EXIT_FAIL;
}

int cmd_rotate(int argc, char **argv, const char *conf_path)
{
	static const struct option opts[] = {
		{ "no-wait", no_argument, NULL, 'n' },
		{ "timeout", required_argument, NULL, 't' },
		{ NULL, 0, NULL, 0 },
	};
	struct rotate_opts o = { false, 0 };
	struct run_ctx c;
	int64_t *first_ids = NULL;
	int64_t start = clock_now(), next = 0;
	int opt, rc;

	while ((opt = getopt_long(argc, argv, "+", opts, NULL)) != -1) {
		if (opt == 'n')
			o.no_wait = true;
		else if (opt == 't') {
			if (cmd_parse_duration_opt("rotate --timeout", optarg, &o.timeout) != 0)
				return EXIT_USAGE;
		} else
			return EXIT_USAGE;
	}

	rc = run_open(conf_path, argv + optind, argc - optind, &c);
	if (rc != EXIT_OK)
		goto out;
	install_signals(&c.en);

	first_ids = xcalloc(c.cmd.n_domains + 1, sizeof(*first_ids));
	rc = rotate_prepare(&c, start, first_ids);
	if (rc == EXIT_OK)
		rc = run_due(&c, true, &next);

	while (rc == EXIT_OK) {
		bool late, failed;
		bool done = rotate_done(&c, first_ids, start, &o, &late, &failed);

		/* A domain that failed fails the run, even when the others are done. */
		if (late)
			rc = EXIT_TIMEOUT;
		else if (failed || (!done && got_term))
			rc = EXIT_FAIL;
		if (rc != EXIT_OK || done)
			break;

		sleep_until(next != 0 ? next : clock_now() + c.en.poll_interval,
			    c.en.poll_interval);
		rc = run_due(&c, false, &next);
	}

out:
	free(first_ids);
	run_close(&c);
	return rc;
}

/* ---------------------------------------------------------------- daemon */

/* SIGHUP: read the configuration again; keep the old one if the new is bad. */
static void daemon_reload(struct run_ctx *c, const char *conf_path)
{
	struct conf *fresh = NULL;
	struct conf_domain **domains = NULL;
	size_t n = 0;
	struct dkr_error e = { 0 };

	if (cmd_load_conf(conf_path, &fresh) != EXIT_OK) {
		log_msg(LOG_LVL_ERR, "configuration %s is invalid: keeping the one loaded "
			"before (run 'dkimrot check' to see every problem)", conf_path);
		return;
	}
	if (strcmp(fresh->state_db, c->cmd.conf->state_db) != 0) {
		log_msg(LOG_LVL_ERR, "state_db cannot change while the daemon runs: keeping "
			"the configuration loaded before; restart the daemon instead");
		conf_free(fresh);
		return;
	}
	cmd_pick_domains(fresh, NULL, 0, &domains, &n);

	engine_fini(&c->en);
	conf_free(c->cmd.conf);
	free(c->cmd.domains);
	c->cmd.conf = fresh;
	c->cmd.domains = domains;
	c->cmd.n_domains = n;
	engine_init(&c->en, c->cmd.conf, c->cmd.st, &e);
	log_msg(LOG_LVL_NOTICE, "configuration %s reloaded: %zu domains", conf_path, n);
}

int cmd_daemon(int argc, char **argv, const char *conf_path)
{
	static const struct option opts[] = {
		{ "foreground", no_argument, NULL, 'f' },
		{ NULL, 0, NULL, 0 },
	};
	struct run_ctx c;
	struct dkr_error e = { 0 };
	bool foreground = false;
	int opt, rc;

	while ((opt = getopt_long(argc, argv, "+", opts, NULL)) != -1) {
		if (opt == 'f')
			foreground = true;
		else
			return EXIT_USAGE;
	}
	if (optind < argc) {
		fprintf(stderr, "dkimrot: daemon takes no domain: it runs every configured one\n");
		return EXIT_USAGE;
	}

	rc = run_open(conf_path, NULL, 0, &c);
	if (rc != EXIT_OK)
		goto out;

	/* Detach after the lock is held, so a second daemon is told on its terminal. */
	if (!foreground) {
		if (daemon(0, 0) != 0) {
			fprintf(stderr, "dkimrot: cannot detach: %s\n", strerror(errno));
			rc = EXIT_FAIL;
			goto out;
		}
		log_init("dkimrot", true, LOG_LVL_INFO);
	}
	install_signals(&c.en);
	log_msg(LOG_LVL_NOTICE, "daemon started: %zu domains, state %s", c.cmd.n_domains,
		c.cmd.conf->state_db);

	while (!got_term) {
		int64_t next = 0;

		if (got_hup) {
			got_hup = 0;
			daemon_reload(&c, conf_path);
		}

		if (engine_run_due(&c.en, c.cmd.domains, c.cmd.n_domains, false, &next, &e) !=
		    DKR_OK)
			log_msg(LOG_LVL_WARNING, "%s (will try again)", e.msg);

		/* Sleep until the next due event; no fixed polling. */
		sleep_until(next != 0 ? next : clock_now() + 3600, 3600);
	}
	log_msg(LOG_LVL_NOTICE, "daemon stopping on signal");

out:
	run_close(&c);
	return rc;
}
