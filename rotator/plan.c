/*
 * plan.c - the planner: from the configuration, the stored keys and the
 * time, the next action of every key and when it is due.  It changes
 * nothing, so `plan` shows exactly what `rotate` and the daemon will do:
 * they run the very same list.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "rotator.h"

/* When the negative-cache time of a zone is not known yet, assume an hour. */
#define NEG_TTL_GUESS 3600

static const char *const action_names[ACT_COUNT] = {
	[ACT_CREATE] = "create",     [ACT_PUBLISH] = "publish", [ACT_CONFIRM] = "confirm",
	[ACT_ACTIVATE] = "activate", [ACT_RETIRE] = "retire",	[ACT_WITHDRAW] = "withdraw",
	[ACT_DESTROY] = "destroy",
};

const char *action_name(enum action_kind kind)
{
	if ((int)kind < 0 || kind >= ACT_COUNT)
		return "unknown";
	return action_names[kind];
}

int64_t plan_lead_time(const struct conf_policy *p, int64_t neg_ttl)
{
	if (neg_ttl <= 0)
		neg_ttl = NEG_TTL_GUESS;
	return p->propagation_timeout + neg_ttl;
}

static struct plan_action *plan_push(struct plan *out, enum action_kind kind, int64_t due,
				     const struct conf_domain *d, const struct state_key *k)
{
	struct plan_action *a;

	if (out->n == out->cap) {
		size_t cap = out->cap != 0 ? out->cap * 2 : 16;
		struct plan_action *v = realloc(out->v, cap * sizeof(*v));

		if (v == NULL)
			abort();
		out->v = v;
		out->cap = cap;
	}

	a = &out->v[out->n++];
	memset(a, 0, sizeof(*a));
	a->kind = kind;
	a->due = due;
	a->domain = d;
	if (k != NULL) {
		a->key_id = k->id;
		snprintf(a->selector, sizeof(a->selector), "%s", k->selector);
	}
	return a;
}

int plan_selector_pick(const struct conf_domain *d, const struct state_key *keys, size_t n,
		       int64_t t, char *out, size_t len, struct dkr_error *e)
{
	char base[STATE_SELECTOR_MAX];
	int rc;

	rc = conf_selector_render(d->policy.selector, t, base, sizeof(base), e);
	if (rc != DKR_OK)
		return rc;

	/* Lower case, like every name dkimrot stores: the database compares exactly. */
	for (char *c = base; *c != '\0'; c++)
		*c = (char)tolower((unsigned char)*c);

	/*
	 * A selector is never reused (invariant 4): add "-2", "-3", ...  DNS
	 * names ignore case, so "K1" would reuse the name of an old "k1".
	 */
	for (int i = 1; i < 1000; i++) {
		bool used = false;
		int w;

		if (i == 1)
			w = snprintf(out, len, "%s", base);
		else
			w = snprintf(out, len, "%.*s-%d", DKR_LABEL_MAX - 5, base, i);
		if (w < 0 || (size_t)w >= len || !name_is_label(out))
			break;

		for (size_t j = 0; j < n && !used; j++)
			used = strcasecmp(keys[j].selector, out) == 0;
		if (!used)
			return DKR_OK;
	}
	return dkr_fail(e, DKR_EINVAL, "%s: no unused selector left for pattern \"%s\"",
			d->domain, d->policy.selector);
}

/* Is `k` one of `d`'s keys?  A key without a domain is taken as the domain's. */
static bool key_of(const struct conf_domain *d, const struct state_key *k)
{
	return k->domain[0] == '\0' || strcmp(k->domain, d->domain) == 0;
}

/* The key that signs now for `d`: its newest active one. */
const struct state_key *plan_signer(const struct conf_domain *d, const struct state_key *keys,
				    size_t n)
{
	const struct state_key *best = NULL;

	for (size_t i = 0; i < n; i++) {
		if (keys[i].state != KS_ACTIVE || !key_of(d, &keys[i]))
			continue;
		if (best == NULL || keys[i].at[KS_ACTIVE] > best->at[KS_ACTIVE] ||
		    (keys[i].at[KS_ACTIVE] == best->at[KS_ACTIVE] && keys[i].id > best->id))
			best = &keys[i];
	}
	return best;
}

static int64_t max64(int64_t a, int64_t b)
{
	return a > b ? a : b;
}

/* A failed step waits for its retry time. */
static int64_t retry_due(const struct state_key *k, int64_t due)
{
	return k->next_try > 0 ? max64(due, k->next_try) : due;
}

static void plan_key(const struct conf_domain *d, const struct state_key *k,
		     const struct state_key *signer, struct plan *out)
{
	struct plan_action *a;
	char buf[32];

	switch (k->state) {
	case KS_CREATED:
		a = plan_push(out, ACT_PUBLISH, retry_due(k, k->at[KS_CREATED]), d, k);
		snprintf(a->reason, sizeof(a->reason), "new key waits to be published");
		break;
	case KS_PUBLISHED:
		a = plan_push(out, ACT_CONFIRM, retry_due(k, k->at[KS_PUBLISHED]), d, k);
		snprintf(a->reason, sizeof(a->reason),
			 "waiting until every nameserver serves it (published %s)",
			 time_format(k->at[KS_PUBLISHED], buf, sizeof(buf)));
		break;
	case KS_VISIBLE:
		a = plan_push(out, ACT_ACTIVATE,
			      retry_due(k, max64(k->at[KS_VISIBLE] + k->neg_ttl,
						 k->activate_after)), d, k);
		snprintf(a->reason, sizeof(a->reason),
			 "visible since %s; signs after negative caching (%llds) and not "
			 "before its switch time", time_format(k->at[KS_VISIBLE], buf, sizeof(buf)),
			 (long long)k->neg_ttl);
		break;
	case KS_ACTIVE:
		/* A signer with a retry pending: the MTA switch to it failed. */
		if (k == signer && k->next_try > 0) {
			a = plan_push(out, ACT_ACTIVATE, retry_due(k, k->at[KS_ACTIVE]), d, k);
			snprintf(a->reason, sizeof(a->reason),
				 "stored as active, but the MTA switch to it failed: trying again");
			break;
		}
		if (k == signer)
			break;
		a = plan_push(out, ACT_RETIRE, retry_due(k, k->at[KS_ACTIVE]), d, k);
		snprintf(a->reason, sizeof(a->reason), "a newer key (%s) signs now",
			 signer->selector);
		break;
	case KS_RETIRED:
		a = plan_push(out, ACT_WITHDRAW,
			      retry_due(k, k->at[KS_RETIRED] + k->grace + k->ttl), d, k);
		snprintf(a->reason, sizeof(a->reason),
			 "retired %s; stays published for grace %llds + ttl %llds",
			 time_format(k->at[KS_RETIRED], buf, sizeof(buf)), (long long)k->grace,
			 (long long)k->ttl);
		break;
	case KS_WITHDRAWN:
		a = plan_push(out, ACT_DESTROY, retry_due(k, k->at[KS_WITHDRAWN]), d, k);
		snprintf(a->reason, sizeof(a->reason), "record gone from every nameserver");
		break;
	default:
		break;
	}
}

void plan_domain(const struct conf_domain *d, const struct state_key *keys, size_t n,
		 int64_t now, bool force, struct plan *out)
{
	const struct state_key *signer = plan_signer(d, keys, n);
	bool pending = false;
	int64_t neg_ttl = 0;
	struct plan_action *a;
	char buf[32];

	for (size_t i = 0; i < n; i++) {
		if (!key_of(d, &keys[i]))
			continue;
		if (keys[i].state <= KS_VISIBLE)
			pending = true;
		if (keys[i].neg_ttl > 0)
			neg_ttl = keys[i].neg_ttl;
		plan_key(d, &keys[i], signer, out);
	}

	/* One new key at a time: a pending one is already the next. */
	if (pending)
		return;

	if (signer == NULL || force) {
		a = plan_push(out, ACT_CREATE, now, d, NULL);
		a->activate_after = now;
		snprintf(a->reason, sizeof(a->reason), "%s",
			 force ? "rotation requested now" : "no key signs for this domain yet");
	} else {
		int64_t switch_at = signer->at[KS_ACTIVE] + d->policy.rotate_every;
		int64_t due = switch_at - plan_lead_time(&d->policy, neg_ttl);

		a = plan_push(out, ACT_CREATE, due < now ? now : due, d, NULL);
		a->activate_after = switch_at;
		snprintf(a->reason, sizeof(a->reason),
			 "%s is due to be replaced at %s (rotate_every); created ahead to "
			 "become visible in time", signer->selector,
			 time_format(switch_at, buf, sizeof(buf)));
	}

	if (plan_selector_pick(d, keys, n, a->due, a->selector, sizeof(a->selector), NULL) !=
	    DKR_OK)
		snprintf(a->selector, sizeof(a->selector), "?");
}

static int action_cmp(const void *pa, const void *pb)
{
	const struct plan_action *a = pa, *b = pb;
	int c;

	if (a->due != b->due)
		return a->due < b->due ? -1 : 1;
	c = strcmp(a->domain->domain, b->domain->domain);
	if (c != 0)
		return c;
	return (int)a->kind - (int)b->kind;
}

void plan_sort(struct plan *p)
{
	if (p->n > 1)
		qsort(p->v, p->n, sizeof(p->v[0]), action_cmp);
}

void plan_free(struct plan *p)
{
	free(p->v);
	memset(p, 0, sizeof(*p));
}

/* What a successful action does to a key, for the dry run. */
static void simulate_apply(const struct conf_domain *d, const struct plan_action *a,
			   struct state_key **keys, size_t *n, int64_t t)
{
	struct state_key *k = NULL;

	if (a->kind == ACT_CREATE) {
		struct state_key *v = realloc(*keys, (*n + 1) * sizeof(**keys));

		if (v == NULL)
			abort();
		*keys = v;
		k = &v[(*n)++];
		memset(k, 0, sizeof(*k));
		k->id = -(int64_t)*n;	/* not a stored key */
		snprintf(k->domain, sizeof(k->domain), "%s", d->domain);
		snprintf(k->selector, sizeof(k->selector), "%s", a->selector);
		k->algorithm = d->policy.algorithm;
		k->state = KS_CREATED;
		k->at[KS_CREATED] = t;
		k->ttl = d->policy.ttl;
		k->grace = d->policy.grace;
		k->activate_after = a->activate_after;
		for (size_t i = 0; i + 1 < *n; i++)
			if (v[i].neg_ttl > 0)
				k->neg_ttl = v[i].neg_ttl;
		if (k->neg_ttl == 0)
			k->neg_ttl = NEG_TTL_GUESS;
		return;
	}

	for (size_t i = 0; i < *n; i++)
		if ((*keys)[i].id == a->key_id)
			k = &(*keys)[i];
	if (k == NULL || k->state + 1 >= KS_COUNT)
		return;
	k->next_try = 0;

	/* Another try at an MTA switch moves no state. */
	if (a->kind == ACT_ACTIVATE && k->state == KS_ACTIVE)
		return;

	k->state++;
	k->at[k->state] = t;
	k->next_try = 0;

	/* The switch retires the old signer at the same moment. */
	if (a->kind == ACT_ACTIVATE)
		for (size_t i = 0; i < *n; i++)
			if (&(*keys)[i] != k && (*keys)[i].state == KS_ACTIVE) {
				(*keys)[i].state = KS_RETIRED;
				(*keys)[i].at[KS_RETIRED] = t;
			}
}

static bool plan_has_create(const struct plan *p)
{
	for (size_t i = 0; i < p->n; i++)
		if (p->v[i].kind == ACT_CREATE)
			return true;
	return false;
}

void plan_simulate(const struct conf_domain *d, const struct state_key *keys, size_t n,
		   int64_t now, int64_t until, bool force, struct plan *out)
{
	struct state_key *sim = NULL;
	size_t sim_n = n;
	int64_t t = now;

	if (n > 0) {
		sim = xcalloc(n, sizeof(*sim));
		memcpy(sim, keys, n * sizeof(*sim));
	}

	/* Bounded: a year of daily rotations is far less than this. */
	for (int step = 0; step < 10000; step++) {
		struct plan p = { 0 };
		struct plan_action *first = NULL;

		plan_domain(d, sim, sim_n, t, force, &p);
		for (size_t i = 0; i < p.n; i++)
			if (first == NULL || p.v[i].due < first->due)
				first = &p.v[i];

		/*
		 * A forced rotation stands until its key exists, even behind
		 * overdue steps of older keys; a key already on its way (no
		 * creation planned) is that rotation's key.
		 */
		if (force && !plan_has_create(&p))
			force = false;

		if (first == NULL || first->due > until) {
			plan_free(&p);
			break;
		}

		if (first->due > t)
			t = first->due;
		simulate_apply(d, first, &sim, &sim_n, t);
		if (first->kind == ACT_CREATE)
			force = false;
		plan_push(out, first->kind, t, d, NULL);
		out->v[out->n - 1] = *first;
		out->v[out->n - 1].due = t;
		plan_free(&p);
	}
	free(sim);
}
