/*
 * engine.c - the executor: runs the planner's due actions against the
 * world.  Each state change is stored before the outside action that
 * follows it, and every action can run again after a crash with the same
 * result, so a restart only has to plan again and carry on.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../dnsupdate/dnsupdate.h"
#include "../providers/providers.h"
#include "rotator.h"

#define RETRY_BASE 10		/* seconds before the first retry of a failed step */
#define RETRY_CAP 3600		/* never wait longer than this between retries */
#define MAX_ROUNDS 16		/* plan-execute rounds in one run */

/* The nameservers of one domain, resolved once per run. */
struct ns_set {
	struct dnsu_ns *ns;
	size_t n;
	bool done;
	struct dkr_error err;	/* why they could not be found */
};

/* One due action with what the run learned about it. */
struct job {
	struct plan_action act;
	struct state_key key;
	struct dnsu_query q;
	bool in_check;
	bool moved;		/* its key went one state further (or was created) */
};

int engine_init(struct engine *en, struct conf *conf, struct state *st, struct dkr_error *e)
{
	(void)e;
	memset(en, 0, sizeof(*en));
	en->conf = conf;
	en->st = st;
	/*
	 * Ask the nameservers again twenty times within the shortest
	 * propagation timeout, but not more than once a second nor less than
	 * twice a minute.
	 */
	en->poll_interval = 30;
	for (size_t i = 0; i < conf->n_domains; i++)
		if (conf->domains[i].policy.propagation_timeout / 20 < en->poll_interval)
			en->poll_interval = conf->domains[i].policy.propagation_timeout / 20;
	if (en->poll_interval < 1)
		en->poll_interval = 1;
	en->dns_timeout_ms = 2000;
	en->dns_retries = 2;

	const char *abort_env = getenv("DKIMROT_ABORT_AFTER");

	if (abort_env != NULL)
		en->abort_after = strtoul(abort_env, NULL, 10);
	en->providers = xcalloc(conf->n_dns + 1, sizeof(*en->providers));
	en->create_retry = xcalloc(conf->n_domains + 1, sizeof(*en->create_retry));
	return DKR_OK;
}

void engine_fini(struct engine *en)
{
	if (en->providers != NULL)
		for (size_t i = 0; i < en->conf->n_dns; i++)
			if (en->providers[i] != NULL)
				provider_close(en->providers[i]);
	free(en->providers);
	en->providers = NULL;
	free(en->create_retry);
	en->create_retry = NULL;
	free(en->sent);
	en->sent = NULL;
	en->n_sent = en->cap_sent = 0;
}

/*
 * Count an outside action that has just happened.  Tests set abort_after
 * to crash the process right after the Nth one, the worst moment there is:
 * the world has changed and the next state is not stored yet.
 */
static void outside_done(struct engine *en, const char *what)
{
	en->outside_actions++;
	log_msg(LOG_LVL_DEBUG, "outside action %lu: %s", en->outside_actions, what);
	if (en->abort_after != 0 && en->outside_actions >= en->abort_after) {
		log_msg(LOG_LVL_ERR, "injected crash after outside action %lu (%s)",
			en->outside_actions, what);
		abort();
	}
}

static int provider_for(struct engine *en, const struct conf_domain *d, struct provider **p,
			struct dkr_error *e)
{
	size_t i = (size_t)(d->dns - en->conf->dns);
	int rc;

	if (en->providers[i] == NULL) {
		rc = provider_open(d->dns, &en->providers[i], e);
		if (rc != DKR_OK)
			return dkr_wrap(e, "DNS backend \"%s\"", d->dns->name);
	}
	*p = en->providers[i];
	return DKR_OK;
}

static int domain_nameservers(struct engine *en, struct ns_set *sets,
			      const struct conf_domain *d, const char *zone, struct ns_set **out)
{
	struct ns_set *s = &sets[d - en->conf->domains];

	*out = s;
	if (s->done)
		return s->err.code;
	s->done = true;

	return domain_nameservers_find(d, zone, &s->ns, &s->n, &s->err);
}

static void key_name(const struct state_key *k, char *out, size_t len)
{
	snprintf(out, len, "%s._domainkey.%s", k->selector, k->domain);
}

/* A step failed: store why, and when to try again (capped backoff). */
static void step_failed(struct engine *en, const struct state_key *k,
			const struct dkr_error *err)
{
	int attempts = k->attempts + 1;
	int64_t wait = RETRY_BASE;
	struct dkr_error e2 = { 0 };

	for (int i = 1; i < attempts && wait < RETRY_CAP; i++)
		wait *= 2;
	if (wait > RETRY_CAP)
		wait = RETRY_CAP;

	log_key(dkr_err_retryable(err->code) ? LOG_LVL_WARNING : LOG_LVL_ERR, k->domain,
		k->selector, "%s (attempt %d; retrying in %" PRId64 "s)", err->msg, attempts,
		wait);
	if (state_key_set_retry(en->st, k->id, attempts, clock_now() + wait, err->msg, &e2) !=
	    DKR_OK)
		log_key(LOG_LVL_ERR, k->domain, k->selector, "%s", e2.msg);
}

/* Not a failure: the step waits for the world (nameservers, a clock). */
static void step_wait(struct engine *en, const struct state_key *k, int64_t until,
		      const char *why)
{
	struct dkr_error e2 = { 0 };

	if (state_key_set_retry(en->st, k->id, k->attempts, until, why, &e2) != DKR_OK)
		log_key(LOG_LVL_ERR, k->domain, k->selector, "%s", e2.msg);
}

static int transition(struct engine *en, const struct state_key *k, enum key_state to,
		      const char *reason, struct dkr_error *e)
{
	int rc = state_key_transition(en->st, k->id, k->state, to, clock_now(), reason, e);

	if (rc == DKR_OK)
		log_key(LOG_LVL_INFO, k->domain, k->selector, "%s -> %s: %s",
			key_state_name(k->state), key_state_name(to), reason);
	return rc;
}

static int step_create(struct engine *en, const struct plan_action *a, struct dkr_error *e)
{
	const struct conf_domain *d = a->domain;
	const struct mta_ops *mta = mta_ops_find(d->mta->type);
	struct state_key k;
	int rc;

	memset(&k, 0, sizeof(k));
	snprintf(k.domain, sizeof(k.domain), "%s", d->domain);
	snprintf(k.selector, sizeof(k.selector), "%s", a->selector);
	k.algorithm = d->policy.algorithm;
	k.state = KS_CREATED;
	k.at[KS_CREATED] = clock_now();
	k.ttl = d->policy.ttl;
	k.grace = d->policy.grace;
	k.activate_after = a->activate_after;

	rc = mta->key_path(d->mta, d->domain, k.selector, k.key_path, sizeof(k.key_path), e);
	if (rc != DKR_OK)
		return rc;

	/* Stored first: the key file written next is then never an orphan. */
	rc = state_key_insert(en->st, &k, e);
	if (rc != DKR_OK)
		return rc;
	log_key(LOG_LVL_INFO, d->domain, k.selector, "created (%s, %s): %s",
		key_alg_name(k.algorithm), k.key_path, a->reason);
	return DKR_OK;
}

/* The key file and its record, made now or found from before a crash. */
static int ensure_key_file(struct engine *en, const struct conf_domain *d,
			   struct state_key *k, struct dkr_error *e)
{
	const struct mta_ops *mta = mta_ops_find(d->mta->type);
	int rc;

	if (k->record[0] != '\0' && access(k->key_path, F_OK) == 0)
		return DKR_OK;

	if (access(k->key_path, F_OK) == 0) {
		rc = keygen_record_from_file(k->key_path, k->algorithm, k->record,
					     sizeof(k->record), e);
	} else {
		if (k->record[0] != '\0')
			return dkr_fail(e, DKR_EIO,
					"key file %s has vanished before its record was "
					"published; remove this key from the state database",
					k->key_path);
		rc = mta->key_dir_prepare(d->mta, d->domain, e);
		if (rc == DKR_OK)
			rc = keygen_generate(k->algorithm, k->key_path, d->mta->gid, k->record,
					     sizeof(k->record), e);
		if (rc == DKR_OK)
			outside_done(en, "key file written");
	}
	if (rc != DKR_OK)
		return rc;
	return state_key_set_record(en->st, k->id, k->record, e);
}

static int step_publish(struct engine *en, const struct conf_domain *d, struct state_key *k,
			struct dkr_error *e)
{
	struct provider *p;
	struct provider_rr rr;
	char name[DKR_NAME_MAX + 1];
	char zone[DKR_NAME_MAX + 1];
	struct conf_server q;
	int64_t neg_ttl = k->neg_ttl;
	int rc;

	rc = ensure_key_file(en, d, k, e);
	if (rc != DKR_OK)
		return rc;

	rc = provider_for(en, d, &p, e);
	if (rc != DKR_OK)
		return rc;

	key_name(k, name, sizeof(name));
	rc = domain_zone_find(p, d, name, zone, sizeof(zone), e);
	if (rc != DKR_OK)
		return rc;

	/* The negative-cache time is the zone's now, stored with the key. */
	rc = domain_query_server(d, &q, e);
	if (rc == DKR_OK)
		rc = dnsu_negative_ttl(&q, zone, &neg_ttl, e);
	if (rc != DKR_OK)
		return dkr_wrap(e, "reading the SOA of zone %s", zone);
	rc = state_key_update_dns(en->st, k->id, zone, neg_ttl, e);
	if (rc != DKR_OK)
		return rc;

	rr.zone = zone;
	rr.name = name;
	rr.ttl = k->ttl;
	rr.record = k->record;
	rc = p->ops->publish(p, &rr, e);
	if (rc != DKR_OK)
		return dkr_wrap(e, "publishing %s through \"%s\"", name, d->dns->name);
	outside_done(en, "record published");

	return transition(en, k, KS_PUBLISHED, "the DNS update was accepted", e);
}

/* Make the MTA sign with `k`; the state already says it is active. */
static int mta_switch(struct engine *en, const struct conf_domain *d,
		      const struct state_key *k, struct dkr_error *e)
{
	const struct mta_ops *mta = mta_ops_find(d->mta->type);
	int rc = mta->activate(d->mta, d->domain, k->selector, k->key_path, e);

	if (rc != DKR_OK)
		return dkr_wrap(e, "switching %s to %s", d->mta->name, k->selector);
	outside_done(en, "MTA switched");
	log_key(LOG_LVL_NOTICE, d->domain, k->selector, "now signs mail through %s",
		d->mta->name);
	return DKR_OK;
}

static int retire_others(struct engine *en, const struct conf_domain *d,
			 const struct state_key *signer, struct dkr_error *e)
{
	struct state_key *keys = NULL;
	size_t n = 0;
	char why[256];
	int rc;

	rc = state_keys_list(en->st, d->domain, &keys, &n, e);
	for (size_t i = 0; rc == DKR_OK && i < n; i++) {
		if (keys[i].state != KS_ACTIVE || keys[i].id == signer->id)
			continue;
		snprintf(why, sizeof(why), "%s signs now; stays published for grace + ttl",
			 signer->selector);
		rc = transition(en, &keys[i], KS_RETIRED, why, e);
	}
	free(keys);
	return rc;
}

static int step_activate(struct engine *en, const struct conf_domain *d, struct state_key *k,
			 struct dkr_error *e)
{
	int rc = DKR_OK;

	/* Already active: a failed switch is being tried again. */
	if (k->state != KS_ACTIVE) {
		rc = transition(en, k, KS_ACTIVE,
				"every nameserver serves it and negative caching has expired", e);
		if (rc != DKR_OK)
			return rc;
		k->state = KS_ACTIVE;
	}

	rc = mta_switch(en, d, k, e);
	if (rc == DKR_OK)
		rc = retire_others(en, d, k, e);
	if (rc == DKR_OK && k->next_try > 0)
		rc = state_key_set_retry(en->st, k->id, 0, 0, "", e);
	return rc;
}

/* An active key that is not the signer: make sure the MTA moved, then retire. */
static int step_retire(struct engine *en, const struct conf_domain *d, struct state_key *k,
		       struct dkr_error *e)
{
	const struct mta_ops *mta = mta_ops_find(d->mta->type);
	struct state_key *keys = NULL;
	const struct state_key *signer = NULL;
	char current[STATE_SELECTOR_MAX] = "";
	size_t n = 0;
	int rc;

	rc = state_keys_list(en->st, d->domain, &keys, &n, e);
	if (rc != DKR_OK)
		return rc;
	signer = plan_signer(d, keys, n);

	if (signer == NULL || signer->id == k->id) {
		rc = dkr_fail(e, DKR_EINVAL, "no newer active key to hand over to");
		goto out;
	}

	rc = mta->current(d->mta, d->domain, current, sizeof(current), e);
	if (rc == DKR_OK && strcmp(current, signer->selector) != 0)
		rc = mta_switch(en, d, signer, e);
	if (rc == DKR_OK)
		rc = retire_others(en, d, signer, e);

out:
	free(keys);
	return rc;
}

static int step_destroy(struct engine *en, struct state_key *k, struct dkr_error *e)
{
	char dir[4096];
	char *slash;

	if (unlink(k->key_path) != 0 && errno != ENOENT)
		return dkr_fail(e, DKR_EIO, "cannot remove key file %s: %s", k->key_path,
				strerror(errno));

	snprintf(dir, sizeof(dir), "%s", k->key_path);
	slash = strrchr(dir, '/');
	if (slash != NULL) {
		*slash = '\0';
		if (dir_fsync(dir, e) != DKR_OK)
			return e->code;
	}
	outside_done(en, "key file removed");
	return transition(en, k, KS_DESTROYED, "private key file removed", e);
}

/*
 * When the withdrawal of `id` was last sent (0: never), and note one sent
 * now.  Kept in memory only: after a restart it is sent once more, which
 * is harmless since deleting a record that is gone succeeds.
 */
static struct engine_sent *sent_slot(struct engine *en, int64_t id)
{
	for (size_t i = 0; i < en->n_sent; i++)
		if (en->sent[i].key_id == id)
			return &en->sent[i];

	if (en->n_sent == en->cap_sent) {
		size_t cap = en->cap_sent != 0 ? en->cap_sent * 2 : 16;
		struct engine_sent *v = realloc(en->sent, cap * sizeof(*v));

		if (v == NULL)
			abort();
		en->sent = v;
		en->cap_sent = cap;
	}
	en->sent[en->n_sent].key_id = id;
	en->sent[en->n_sent].at = 0;
	return &en->sent[en->n_sent++];
}

static int step_withdraw_send(struct engine *en, const struct conf_domain *d,
			      struct state_key *k, struct dkr_error *e)
{
	struct engine_sent *sent = sent_slot(en, k->id);
	struct provider *p;
	struct provider_rr rr;
	char name[DKR_NAME_MAX + 1];
	int rc;

	/*
	 * A server that lags is waited for, not sent the deletion again at
	 * every poll; only after ten polls without success is it resent (in
	 * case someone put the record back meanwhile).
	 */
	if (sent->at != 0 && clock_now() < sent->at + 10 * en->poll_interval)
		return DKR_OK;

	rc = provider_for(en, d, &p, e);
	if (rc != DKR_OK)
		return rc;

	key_name(k, name, sizeof(name));
	rr.zone = k->zone;
	rr.name = name;
	rr.ttl = k->ttl;
	rr.record = k->record;
	rc = p->ops->withdraw(p, &rr, e);
	if (rc != DKR_OK)
		return dkr_wrap(e, "withdrawing %s through \"%s\"", name, d->dns->name);
	sent->at = clock_now();
	outside_done(en, "record withdrawn");
	return DKR_OK;
}

/* Store each server's answer, for `status`. */
static void store_answers(struct engine *en, const struct job *j, const struct ns_set *s)
{
	struct dkr_error e2 = { 0 };

	for (size_t i = 0; i < s->n; i++) {
		struct state_ns_answer a;

		memset(&a, 0, sizeof(a));
		a.key_id = j->key.id;
		snprintf(a.server, sizeof(a.server), "%s", s->ns[i].label);
		a.at = clock_now();
		a.ok = j->q.answers[i].ok;
		snprintf(a.detail, sizeof(a.detail), "%s", j->q.answers[i].detail);
		if (state_ns_answer_put(en->st, &a, &e2) != DKR_OK)
			log_key(LOG_LVL_WARNING, j->key.domain, j->key.selector, "%s", e2.msg);
	}
}

/* The servers that do not answer what we want, for a log line. */
static void laggards(const struct job *j, const struct ns_set *s, char *out, size_t len)
{
	size_t used = 0;

	out[0] = '\0';
	for (size_t i = 0; i < s->n && used < len; i++) {
		int w;

		if (j->q.answers[i].ok)
			continue;
		w = snprintf(out + used, len - used, "%s%s: %s", used > 0 ? "; " : "",
			     s->ns[i].label, j->q.answers[i].detail);
		if (w < 0)
			break;
		used += (size_t)w;
	}
}

/* After the check: move the key on, or say whom it waits for. */
static void finish_checked(struct engine *en, struct job *j, const struct ns_set *s)
{
	const struct conf_domain *d = j->act.domain;
	struct state_key *k = &j->key;
	struct dkr_error e = { 0 };
	char lag[768];
	char why[1024];
	int rc = DKR_OK;

	store_answers(en, j, s);

	if (!j->q.all_ok) {
		int64_t since = k->state == KS_RETIRED ? k->at[KS_RETIRED] + k->grace + k->ttl
						       : k->at[k->state];
		bool late = clock_now() > since + d->policy.propagation_timeout;

		laggards(j, s, lag, sizeof(lag));
		snprintf(why, sizeof(why), "waiting for %s", lag);
		log_key(late ? LOG_LVL_NOTICE : LOG_LVL_INFO, k->domain, k->selector,
			"%s%s", why, late ? " (longer than propagation_timeout: check that "
			"server's zone transfers)" : "");
		step_wait(en, k, clock_now() + en->poll_interval, why);
		return;
	}

	switch (j->act.kind) {
	case ACT_CONFIRM:
		rc = transition(en, k, KS_VISIBLE, "every nameserver serves exactly this record",
				&e);
		break;
	case ACT_ACTIVATE:
		rc = step_activate(en, d, k, &e);
		break;
	case ACT_WITHDRAW:
		rc = transition(en, k, KS_WITHDRAWN, "record gone from every nameserver", &e);
		break;
	default:
		break;
	}
	if (rc != DKR_OK)
		step_failed(en, k, &e);
	else
		j->moved = true;
}

/* Do two domains have the very same nameserver addresses? */
static bool ns_set_same(const struct ns_set *a, const struct ns_set *b)
{
	if (a == b)
		return true;
	if (a->n != b->n)
		return false;
	for (size_t i = 0; i < a->n; i++)
		if (a->ns[i].addrlen != b->ns[i].addrlen ||
		    memcmp(&a->ns[i].addr, &b->ns[i].addr, a->ns[i].addrlen) != 0)
			return false;
	return true;
}

/* Ask every nameserver about every checking job of this round at once. */
static void run_checks(struct engine *en, struct job *jobs, size_t n_jobs,
		       struct ns_set *sets)
{
	/*
	 * Jobs whose domains have the same nameservers go out in one batch:
	 * a server that does not answer then costs one timeout per round, not
	 * one per domain.
	 */
	for (size_t i = 0; i < n_jobs; i++) {
		struct ns_set *s = &sets[jobs[i].act.domain - en->conf->domains];
		struct dnsu_query *qs;
		struct job **members;
		size_t m = 0;
		struct dkr_error e = { 0 };

		if (!jobs[i].in_check || jobs[i].q.answers != NULL || s->n == 0)
			continue;

		qs = xcalloc(n_jobs, sizeof(*qs));
		members = xcalloc(n_jobs, sizeof(*members));
		for (size_t j = i; j < n_jobs; j++) {
			struct ns_set *sj = &sets[jobs[j].act.domain - en->conf->domains];

			if (!jobs[j].in_check || jobs[j].q.answers != NULL ||
			    !ns_set_same(sj, s))
				continue;
			members[m] = &jobs[j];
			qs[m] = jobs[j].q;
			m++;
		}

		if (dnsu_check(s->ns, s->n, qs, m, en->dns_timeout_ms, en->dns_retries, &e) !=
		    DKR_OK) {
			for (size_t j = 0; j < m; j++)
				step_failed(en, &members[j]->key, &e);
			dnsu_query_free(qs, m);
			for (size_t j = 0; j < m; j++)
				members[j]->in_check = false;
		} else {
			for (size_t j = 0; j < m; j++) {
				members[j]->q = qs[j];
				finish_checked(en, members[j], s);
			}
			dnsu_query_free(qs, m);
			for (size_t j = 0; j < m; j++) {
				members[j]->q.answers = NULL;
				members[j]->in_check = false;
			}
		}
		free(qs);
		free(members);
	}
}

/* Start one job: run it, or prepare its nameserver check for the batch. */
static void run_job(struct engine *en, struct job *j, struct ns_set *sets, char *name,
		    size_t name_len)
{
	const struct conf_domain *d = j->act.domain;
	struct ns_set *s;
	struct dkr_error e = { 0 };
	int rc = DKR_OK;

	switch (j->act.kind) {
	case ACT_CREATE:
		/* No key row yet to hold the retry time: the engine keeps it. */
		rc = step_create(en, &j->act, &e);
		if (rc != DKR_OK) {
			en->create_retry[d - en->conf->domains] = clock_now() + RETRY_BASE * 6;
			log_key(LOG_LVL_ERR, d->domain, j->act.selector,
				"cannot create the next key: %s (retrying in %ds)", e.msg,
				RETRY_BASE * 6);
		}
		j->moved = rc == DKR_OK;
		return;
	case ACT_PUBLISH:
		rc = step_publish(en, d, &j->key, &e);
		break;
	case ACT_RETIRE:
		rc = step_retire(en, d, &j->key, &e);
		break;
	case ACT_DESTROY:
		rc = step_destroy(en, &j->key, &e);
		break;
	case ACT_WITHDRAW:
		rc = step_withdraw_send(en, d, &j->key, &e);
		if (rc != DKR_OK)
			break;
		/* Sent: now the same check as the others, that it is gone. */
		/* FALLTHROUGH */
	case ACT_CONFIRM:
	case ACT_ACTIVATE:
		rc = domain_nameservers(en, sets, d, j->key.zone, &s);
		if (rc != DKR_OK) {
			e = s->err;
			dkr_wrap(&e, "finding the nameservers of %s", d->domain);
			break;
		}
		if (s->n == 0) {
			rc = dkr_fail(&e, DKR_EDNS, "zone %s has no nameserver address",
				      j->key.zone);
			break;
		}
		key_name(&j->key, name, name_len);
		j->q.name = name;
		j->q.record = j->key.record;
		j->q.want = j->act.kind == ACT_WITHDRAW ? DNSU_WANT_GONE : DNSU_WANT_RECORD;
		j->in_check = true;
		return;
	default:
		return;
	}

	if (rc != DKR_OK)
		step_failed(en, &j->key, &e);
	else
		j->moved = true;
}

/*
 * One round: plan every domain, run what is due.  Returns how many keys
 * moved on (*ran: how many steps ran); a step that only waited or failed
 * does not count.
 */
static size_t run_round(struct engine *en, struct conf_domain **domains, size_t n_domains,
			bool force, int64_t *next, size_t *ran, struct dkr_error *e)
{
	struct plan p = { 0 };
	struct job *jobs = NULL;
	struct ns_set *sets = NULL;
	char (*names)[DKR_NAME_MAX + 1] = NULL;
	size_t n_jobs = 0, cap = 0, moved = 0;
	int64_t now = clock_now();

	/*
	 * Domain by domain, keeping only what is due: memory follows the work
	 * of this round, not the number of keys ever made.
	 */
	*next = 0;
	*ran = 0;
	for (size_t i = 0; i < n_domains; i++) {
		struct state_key *keys = NULL;
		size_t n_keys = 0;

		if (state_keys_list(en->st, domains[i]->domain, &keys, &n_keys, e) != DKR_OK)
			goto out;
		p.n = 0;
		plan_domain(domains[i], keys, n_keys, now, force, &p);

		for (size_t a = 0; a < p.n; a++) {
			int64_t held = en->create_retry[domains[i] - en->conf->domains];

			if (p.v[a].kind == ACT_CREATE && held > p.v[a].due)
				p.v[a].due = held;
			if (p.v[a].due > now) {
				if (*next == 0 || p.v[a].due < *next)
					*next = p.v[a].due;
				continue;
			}
			if (n_jobs == cap) {
				cap = cap != 0 ? cap * 2 : 64;
				jobs = realloc(jobs, cap * sizeof(*jobs));
				if (jobs == NULL)
					abort();
			}
			memset(&jobs[n_jobs], 0, sizeof(jobs[n_jobs]));
			jobs[n_jobs].act = p.v[a];
			for (size_t k = 0; k < n_keys; k++)
				if (keys[k].id == p.v[a].key_id)
					jobs[n_jobs].key = keys[k];
			n_jobs++;
		}
		free(keys);
	}

	sets = xcalloc(en->conf->n_domains + 1, sizeof(*sets));
	names = xcalloc(n_jobs + 1, sizeof(*names));
	for (size_t i = 0; i < n_jobs && !en->stop; i++)
		run_job(en, &jobs[i], sets, names[i], sizeof(names[i]));
	if (!en->stop)
		run_checks(en, jobs, n_jobs, sets);

	for (size_t i = 0; i < en->conf->n_domains; i++)
		free(sets[i].ns);
	for (size_t i = 0; i < n_jobs; i++)
		moved += jobs[i].moved;
	*ran = n_jobs;

out:
	free(sets);
	free(names);
	free(jobs);
	plan_free(&p);
	return moved;
}

int engine_run_due(struct engine *en, struct conf_domain **domains, size_t n_domains,
		   bool force, int64_t *next, struct dkr_error *e)
{
	struct dkr_error err = { 0 };

	/*
	 * A step often makes the next one due at once (created -> publish), so
	 * plan again while keys move on.  A round where every step only waited
	 * or failed ends the loop: a check that took longer than the poll
	 * interval (a server not answering) would otherwise be due again at
	 * once, and the caller (rotate's deadline, the daemon's SIGHUP) would
	 * not get control back for MAX_ROUNDS checks.
	 */
	for (int round = 0; round < MAX_ROUNDS && !en->stop; round++) {
		size_t ran = 0;
		size_t moved = run_round(en, domains, n_domains, force && round == 0, next, &ran,
					 &err);

		if (err.code != DKR_OK)
			return dkr_fail(e, err.code, "%s", err.msg);
		if (moved == 0) {
			/* A step that waited is due again within a poll interval. */
			int64_t soon = clock_now() + en->poll_interval;

			if (ran > 0 && (*next == 0 || soon < *next))
				*next = soon;
			break;
		}
		*next = clock_now();
	}
	return DKR_OK;
}

int engine_reconcile(struct engine *en, struct conf_domain **domains, size_t n_domains,
		     struct dkr_error *e)
{
	for (size_t i = 0; i < n_domains; i++) {
		const struct conf_domain *d = domains[i];
		const struct mta_ops *mta = mta_ops_find(d->mta->type);
		struct state_key *keys = NULL;
		const struct state_key *signer;
		char current[STATE_SELECTOR_MAX] = "";
		struct dkr_error err = { 0 };
		size_t n = 0;

		if (state_keys_list(en->st, d->domain, &keys, &n, e) != DKR_OK)
			return e->code;
		signer = plan_signer(d, keys, n);

		/* A crash between storing "active" and the swap: finish the swap. */
		if (signer != NULL &&
		    mta->current(d->mta, d->domain, current, sizeof(current), &err) == DKR_OK &&
		    strcmp(current, signer->selector) != 0) {
			log_key(LOG_LVL_NOTICE, d->domain, signer->selector,
				"the MTA signs with \"%s\", not the active key: switching it",
				current);
			if (mta_switch(en, d, signer, &err) != DKR_OK)
				step_failed(en, signer, &err);
		}
		free(keys);
	}
	return DKR_OK;
}
