/*
 * test_plan.c - the planner (rotator/plan.c) as the pure function it is:
 * hand-made domains and keys, an injected `now`, and the actions it
 * answers with.  No clock, no database, no files: the planner touches none,
 * so these tests need no temporary directory either.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../rotator/rotator.h"

#define MIN 60
#define HOUR 3600
#define DAY 86400
/* 2027-03-01T00:00:00Z */
#define NOW 1803859200

static struct conf_dns dns = { .name = "primary", .type = DNS_RFC2136 };
static struct conf_mta mta = { .name = "courier", .type = MTA_ZDKIMFILTER };

static void domain_init(struct conf_domain *d)
{
	memset(d, 0, sizeof(*d));
	snprintf(d->domain, sizeof(d->domain), "example.com");
	d->dns = &dns;
	d->mta = &mta;
	d->policy.algorithm = KEY_RSA2048;
	d->policy.rotate_every = 90 * DAY;
	d->policy.grace = 7 * DAY;
	d->policy.ttl = HOUR;
	snprintf(d->policy.selector, sizeof(d->policy.selector), "k%%Y%%m%%d");
	d->policy.propagation_timeout = 2 * HOUR;
}

/*
 * A key in `state`, having entered every state up to it `step` seconds
 * apart, the last one at `last`.  TTLs are the policy's unless changed.
 */
static struct state_key key_make(int64_t id, const char *selector, enum key_state state,
				 int64_t last, int64_t step)
{
	struct state_key k;

	memset(&k, 0, sizeof(k));
	k.id = id;
	snprintf(k.domain, sizeof(k.domain), "example.com");
	snprintf(k.selector, sizeof(k.selector), "%s", selector);
	snprintf(k.zone, sizeof(k.zone), "example.com");
	k.algorithm = KEY_RSA2048;
	k.state = state;
	for (int s = 0; s <= (int)state; s++)
		k.at[s] = last - ((int64_t)state - s) * step;
	k.ttl = HOUR;
	k.grace = 7 * DAY;
	k.neg_ttl = 300;
	k.activate_after = k.at[KS_CREATED];
	return k;
}

/* The only action of `kind` in the plan; fails when there is none or two. */
static const struct plan_action *only(const struct plan *p, enum action_kind kind)
{
	const struct plan_action *found = NULL;

	for (size_t i = 0; i < p->n; i++) {
		if (p->v[i].kind != kind)
			continue;
		cr_assert_null(found, "two %s actions in the plan", action_name(kind));
		found = &p->v[i];
	}
	cr_assert_not_null(found, "no %s action in the plan", action_name(kind));
	return found;
}

static size_t count(const struct plan *p, enum action_kind kind)
{
	size_t n = 0;

	for (size_t i = 0; i < p->n; i++)
		n += p->v[i].kind == kind;
	return n;
}

/* ------------------------------------------------------------ lead time */

Test(plan_lead, is_the_propagation_timeout_plus_negative_caching)
{
	static const struct {
		int64_t propagation, neg_ttl, want;
	} rows[] = {
		{ 2 * HOUR, 300, 2 * HOUR + 300 },
		{ 2 * HOUR, 86400, 2 * HOUR + 86400 },
		{ 20, 2, 22 },
		/* Not known yet (no key was published): an hour is assumed. */
		{ 2 * HOUR, 0, 3 * HOUR },
		{ 2 * HOUR, -1, 3 * HOUR },
		{ 0, 0, HOUR },
	};

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct conf_policy p = { .propagation_timeout = rows[i].propagation };

		cr_assert_eq(plan_lead_time(&p, rows[i].neg_ttl), rows[i].want,
			     "row %zu: lead %lld, want %lld", i,
			     (long long)plan_lead_time(&p, rows[i].neg_ttl),
			     (long long)rows[i].want);
	}
}

/* -------------------------------------------------------------- creation */

Test(plan_create, a_domain_without_keys_gets_one_created_now)
{
	struct conf_domain d;
	struct plan p = { 0 };

	domain_init(&d);
	plan_domain(&d, NULL, 0, NOW, false, &p);

	cr_assert_eq(p.n, 1);
	cr_assert_eq(p.v[0].kind, ACT_CREATE);
	cr_assert_eq(p.v[0].due, NOW);
	cr_assert_eq(p.v[0].activate_after, NOW);
	cr_assert_eq(p.v[0].key_id, 0);
	cr_assert_eq(p.v[0].domain, &d);
	cr_assert_str_eq(p.v[0].selector, "k20270301");
	cr_assert_str_eq(p.v[0].reason, "no key signs for this domain yet");
	plan_free(&p);
}

Test(plan_create, the_next_key_is_made_ahead_of_the_switch_by_the_lead_time)
{
	struct conf_domain d;
	struct state_key k = key_make(1, "k20270101", KS_ACTIVE, NOW - 10 * DAY, HOUR);
	int64_t switch_at = NOW - 10 * DAY + 90 * DAY;
	const struct plan_action *a;
	struct plan p = { 0 };

	domain_init(&d);
	plan_domain(&d, &k, 1, NOW, false, &p);

	cr_assert_eq(p.n, 1, "the signer itself has nothing to do");
	a = only(&p, ACT_CREATE);
	cr_assert_eq(a->due, switch_at - (2 * HOUR + 300));
	cr_assert_eq(a->activate_after, switch_at);
	/* The selector is rendered at the creation time, not now. */
	cr_assert_str_eq(a->selector, "k20270519");
	cr_assert_str_eq(a->reason, "k20270101 is due to be replaced at 2027-05-20T00:00:00Z "
			 "(rotate_every); created ahead to become visible in time");
	plan_free(&p);
}

Test(plan_create, guesses_an_hour_of_negative_caching_when_none_is_known)
{
	struct conf_domain d;
	struct state_key k = key_make(1, "k20270101", KS_ACTIVE, NOW, HOUR);
	struct plan p = { 0 };

	domain_init(&d);
	k.neg_ttl = 0;
	plan_domain(&d, &k, 1, NOW, false, &p);

	cr_assert_eq(only(&p, ACT_CREATE)->due, NOW + 90 * DAY - 2 * HOUR - HOUR);
	cr_assert_eq(only(&p, ACT_CREATE)->activate_after, NOW + 90 * DAY);
	plan_free(&p);
}

Test(plan_create, takes_the_negative_ttl_of_the_newest_key_that_knows_it)
{
	struct conf_domain d;
	struct state_key k[2] = {
		key_make(1, "k20261101", KS_RETIRED, NOW - DAY, HOUR),
		key_make(2, "k20270101", KS_ACTIVE, NOW - DAY, HOUR),
	};
	struct plan p = { 0 };

	domain_init(&d);
	k[0].neg_ttl = 900;
	k[1].neg_ttl = 60;
	plan_domain(&d, k, 2, NOW, false, &p);
	cr_assert_eq(only(&p, ACT_CREATE)->due, NOW - DAY + 90 * DAY - 2 * HOUR - 60);
	plan_free(&p);
}

Test(plan_create, an_overdue_creation_is_due_now_and_still_waits_for_the_switch_time)
{
	struct conf_domain d;
	struct state_key k = key_make(1, "k20261101", KS_ACTIVE, NOW - 90 * DAY + MIN, HOUR);
	struct plan p = { 0 };

	domain_init(&d);
	plan_domain(&d, &k, 1, NOW, false, &p);
	cr_assert_eq(only(&p, ACT_CREATE)->due, NOW);
	cr_assert_eq(only(&p, ACT_CREATE)->activate_after, NOW + MIN);
	plan_free(&p);
}

Test(plan_create, a_pending_key_stops_a_second_creation)
{
	static const enum key_state pending[] = { KS_CREATED, KS_PUBLISHED, KS_VISIBLE };

	for (size_t i = 0; i < 3; i++) {
		struct conf_domain d;
		struct state_key k[2] = {
			key_make(1, "k20261201", KS_ACTIVE, NOW - 100 * DAY, HOUR),
			key_make(2, "k20270228", pending[i], NOW - MIN, MIN),
		};
		struct plan p = { 0 };

		domain_init(&d);
		plan_domain(&d, k, 2, NOW, false, &p);
		cr_assert_eq(count(&p, ACT_CREATE), 0, "%s key: a second creation",
			     key_state_name(pending[i]));
		cr_assert_eq(p.n, 1, "%s key: %zu actions", key_state_name(pending[i]), p.n);
		cr_assert_eq(p.v[0].key_id, 2);

		/* Forcing does not start another one either: this one is the rotation. */
		p.n = 0;
		plan_domain(&d, k, 2, NOW, true, &p);
		cr_assert_eq(count(&p, ACT_CREATE), 0, "%s key, forced: a second creation",
			     key_state_name(pending[i]));
		plan_free(&p);
	}
}

Test(plan_create, force_creates_now_even_when_the_schedule_is_months_away)
{
	struct conf_domain d;
	struct state_key k = key_make(1, "k20270201", KS_ACTIVE, NOW - DAY, HOUR);
	const struct plan_action *a;
	struct plan p = { 0 };

	domain_init(&d);
	plan_domain(&d, &k, 1, NOW, true, &p);

	a = only(&p, ACT_CREATE);
	cr_assert_eq(a->due, NOW);
	cr_assert_eq(a->activate_after, NOW);
	cr_assert_str_eq(a->selector, "k20270301");
	cr_assert_str_eq(a->reason, "rotation requested now");
	plan_free(&p);
}

Test(plan_create, ignores_keys_of_other_domains)
{
	struct conf_domain d;
	struct state_key k[2] = {
		key_make(1, "k20270101", KS_CREATED, NOW - DAY, HOUR),
		key_make(2, "k20270201", KS_ACTIVE, NOW - DAY, HOUR),
	};
	struct plan p = { 0 };

	domain_init(&d);
	snprintf(k[0].domain, sizeof(k[0].domain), "other.example");
	snprintf(k[1].domain, sizeof(k[1].domain), "other.example");
	plan_domain(&d, k, 2, NOW, false, &p);

	cr_assert_eq(p.n, 1);
	cr_assert_eq(p.v[0].kind, ACT_CREATE);
	cr_assert_eq(p.v[0].due, NOW);
	cr_assert_str_eq(p.v[0].reason, "no key signs for this domain yet");
	plan_free(&p);
}

/* ------------------------------------------------------- each state's step */

Test(plan_state, each_state_has_its_next_action_and_due_time)
{
	static const struct {
		const char *what;
		enum key_state state;
		int64_t last;		/* when the key entered `state` */
		int64_t activate_after;
		int64_t next_try;
		enum action_kind want;
		int64_t due;
	} rows[] = {
		{ "created", KS_CREATED, NOW - 5, 0, 0, ACT_PUBLISH, NOW - 5 },
		{ "created, retry", KS_CREATED, NOW - 5, 0, NOW + 40, ACT_PUBLISH, NOW + 40 },
		{ "published", KS_PUBLISHED, NOW - 5, 0, 0, ACT_CONFIRM, NOW - 5 },
		{ "published, polling", KS_PUBLISHED, NOW - 5, 0, NOW + 6, ACT_CONFIRM, NOW + 6 },
		/* max(visible + neg_ttl 300, activate_after) */
		{ "visible, cache", KS_VISIBLE, NOW, NOW - DAY, 0, ACT_ACTIVATE, NOW + 300 },
		{ "visible, switch", KS_VISIBLE, NOW, NOW + DAY, 0, ACT_ACTIVATE, NOW + DAY },
		{ "visible, retry", KS_VISIBLE, NOW, NOW + DAY, NOW + 2 * DAY, ACT_ACTIVATE,
		  NOW + 2 * DAY },
		{ "visible, old retry", KS_VISIBLE, NOW, NOW + DAY, NOW - DAY, ACT_ACTIVATE,
		  NOW + DAY },
		/* The key's own grace 600 + ttl 60, not the policy's 7d + 1h. */
		{ "retired", KS_RETIRED, NOW, 0, 0, ACT_WITHDRAW, NOW + 660 },
		{ "retired, retry", KS_RETIRED, NOW, 0, NOW + 900, ACT_WITHDRAW, NOW + 900 },
		{ "retired, early retry", KS_RETIRED, NOW, 0, NOW + 10, ACT_WITHDRAW, NOW + 660 },
		{ "withdrawn", KS_WITHDRAWN, NOW - 5, 0, 0, ACT_DESTROY, NOW - 5 },
		{ "withdrawn, retry", KS_WITHDRAWN, NOW - 5, 0, NOW + 20, ACT_DESTROY, NOW + 20 },
	};

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct conf_domain d;
		struct state_key k[2] = {
			key_make(1, "k20270101", KS_ACTIVE, NOW - DAY, HOUR),
			key_make(2, "k20270301", rows[i].state, rows[i].last, MIN),
		};
		struct plan p = { 0 };
		size_t hits = 0;

		domain_init(&d);
		k[1].activate_after = rows[i].activate_after;
		k[1].next_try = rows[i].next_try;
		k[1].grace = 600;
		k[1].ttl = 60;
		plan_domain(&d, k, 2, NOW, false, &p);

		for (size_t a = 0; a < p.n; a++) {
			if (p.v[a].key_id != 2)
				continue;
			hits++;
			cr_assert_eq(p.v[a].kind, rows[i].want, "%s: %s, want %s", rows[i].what,
				     action_name(p.v[a].kind), action_name(rows[i].want));
			cr_assert_eq(p.v[a].due, rows[i].due, "%s: due %+lld, want %+lld",
				     rows[i].what, (long long)(p.v[a].due - NOW),
				     (long long)(rows[i].due - NOW));
			cr_assert_str_eq(p.v[a].selector, "k20270301");
		}
		cr_assert_eq(hits, 1, "%s: %zu actions for the key", rows[i].what, hits);
		plan_free(&p);
	}
}

Test(plan_state, an_active_key_is_retired_once_a_newer_one_signs)
{
	struct conf_domain d;
	struct state_key k[2] = {
		key_make(1, "k20261201", KS_ACTIVE, NOW - 90 * DAY, HOUR),
		key_make(2, "k20270301", KS_ACTIVE, NOW - 10, HOUR),
	};
	const struct plan_action *a;
	struct plan p = { 0 };

	domain_init(&d);
	plan_domain(&d, k, 2, NOW, false, &p);

	a = only(&p, ACT_RETIRE);
	cr_assert_eq(a->key_id, 1);
	cr_assert_eq(a->due, NOW - 90 * DAY);
	cr_assert_str_eq(a->reason, "a newer key (k20270301) signs now");
	/* The next creation follows the newer signer. */
	cr_assert_eq(only(&p, ACT_CREATE)->activate_after, NOW - 10 + 90 * DAY);
	plan_free(&p);
}

Test(plan_state, a_signer_whose_mta_switch_failed_is_switched_again_when_its_retry_is_due)
{
	struct conf_domain d;
	struct state_key k = key_make(1, "k20270301", KS_ACTIVE, NOW - 60, HOUR);
	const struct plan_action *a;
	struct plan p = { 0 };

	domain_init(&d);
	plan_domain(&d, &k, 1, NOW, false, &p);
	cr_assert_eq(count(&p, ACT_ACTIVATE), 0, "a signer without a failure needs nothing");
	plan_free(&p);

	k.next_try = NOW + 40;
	plan_domain(&d, &k, 1, NOW, false, &p);
	a = only(&p, ACT_ACTIVATE);
	cr_assert_eq(a->key_id, 1);
	cr_assert_eq(a->due, NOW + 40);
	cr_assert_str_eq(a->reason, "stored as active, but the MTA switch to it failed: trying "
				    "again");
	plan_free(&p);
}

Test(plan_selector, a_pattern_with_capitals_gives_a_lower_case_selector)
{
	struct conf_domain d;
	char sel[STATE_SELECTOR_MAX];
	struct dkr_error e = { 0 };

	domain_init(&d);
	snprintf(d.policy.selector, sizeof(d.policy.selector), "Mail%%Y");
	cr_assert_eq(plan_selector_pick(&d, NULL, 0, NOW, sel, sizeof(sel), &e), DKR_OK, "%s",
		     e.msg);
	cr_assert_str_eq(sel, "mail2027");
}

Test(plan_state, the_signer_is_the_newest_active_key_whatever_the_order)
{
	struct conf_domain d;
	struct state_key k[2] = {
		key_make(7, "k20270301", KS_ACTIVE, NOW - 10, HOUR),
		key_make(8, "k20261201", KS_ACTIVE, NOW - 90 * DAY, HOUR),
	};
	struct plan p = { 0 };

	domain_init(&d);
	plan_domain(&d, k, 2, NOW, false, &p);
	cr_assert_eq(only(&p, ACT_RETIRE)->key_id, 8);
	plan_free(&p);
}

Test(plan_state, a_destroyed_key_has_nothing_left_to_do)
{
	struct conf_domain d;
	struct state_key k[2] = {
		key_make(1, "k20261201", KS_DESTROYED, NOW - DAY, HOUR),
		key_make(2, "k20270301", KS_ACTIVE, NOW - DAY, HOUR),
	};
	struct plan p = { 0 };

	domain_init(&d);
	plan_domain(&d, k, 2, NOW, false, &p);
	cr_assert_eq(p.n, 1);
	cr_assert_eq(p.v[0].kind, ACT_CREATE);
	plan_free(&p);
}

Test(plan_state, the_withdrawal_wait_is_the_keys_own_and_not_the_current_policy)
{
	struct conf_domain d;
	struct state_key k[2] = {
		key_make(1, "k20261201", KS_RETIRED, NOW, HOUR),
		key_make(2, "k20270301", KS_ACTIVE, NOW, HOUR),
	};
	struct plan p = { 0 };

	domain_init(&d);
	/* Published under a policy of 14d grace and a day's TTL, since shortened. */
	k[0].grace = 14 * DAY;
	k[0].ttl = DAY;
	d.policy.grace = 10 * MIN;
	d.policy.ttl = MIN;
	plan_domain(&d, k, 2, NOW, false, &p);
	cr_assert_eq(only(&p, ACT_WITHDRAW)->due, NOW + 15 * DAY);
	cr_assert_str_eq(only(&p, ACT_WITHDRAW)->reason, "retired 2027-03-01T00:00:00Z; stays "
			 "published for grace 1209600s + ttl 86400s");
	plan_free(&p);
}

/* -------------------------------------------------------------- selectors */

Test(plan_selector, an_unused_selector_is_the_pattern_itself)
{
	struct conf_domain d;
	char sel[STATE_SELECTOR_MAX];
	struct dkr_error e = { 0 };

	domain_init(&d);
	cr_assert_eq(plan_selector_pick(&d, NULL, 0, NOW, sel, sizeof(sel), &e), DKR_OK, "%s",
		     e.msg);
	cr_assert_str_eq(sel, "k20270301");
}

Test(plan_selector, a_used_selector_gets_a_number)
{
	static const struct {
		const char *used[3];
		const char *want;
	} rows[] = {
		{ { "k20270301" }, "k20270301-2" },
		{ { "k20270301", "k20270301-2" }, "k20270301-3" },
		{ { "k20270301-2", "k20270301" }, "k20270301-3" },
		{ { "k20270301", "k20270301-3" }, "k20270301-2" },
		{ { "k20270301", "k20270301-2", "k20270301-3" }, "k20270301-4" },
		{ { "k20270228", "k20270301-2" }, "k20270301" },
		/* DNS names ignore case: "K20270301" is the same name. */
		{ { "K20270301" }, "k20270301-2" },
	};

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct conf_domain d;
		struct state_key k[3];
		char sel[STATE_SELECTOR_MAX];
		struct dkr_error e = { 0 };
		size_t n = 0;

		domain_init(&d);
		while (n < 3 && rows[i].used[n] != NULL) {
			k[n] = key_make((int64_t)n + 1, rows[i].used[n], KS_DESTROYED, NOW - DAY,
					HOUR);
			n++;
		}
		cr_assert_eq(plan_selector_pick(&d, k, n, NOW, sel, sizeof(sel), &e), DKR_OK,
			     "row %zu: %s", i, e.msg);
		cr_assert_str_eq(sel, rows[i].want, "row %zu: %s, want %s", i, sel, rows[i].want);
	}
}

Test(plan_selector, the_creation_action_carries_the_unique_selector)
{
	struct conf_domain d;
	struct state_key k = key_make(1, "k20270301", KS_ACTIVE, NOW - HOUR, MIN);
	struct plan p = { 0 };

	domain_init(&d);
	plan_domain(&d, &k, 1, NOW, true, &p);
	cr_assert_str_eq(only(&p, ACT_CREATE)->selector, "k20270301-2");
	plan_free(&p);
}

Test(plan_selector, a_63_character_base_still_gives_a_valid_label)
{
	static const char *const bases[] = {
		"abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz0",
		/* Cut after 58 characters the base ends in a hyphen. */
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-bbbb",
	};

	for (size_t b = 0; b < 2; b++) {
		struct conf_domain d;
		struct state_key k[2];
		char sel[STATE_SELECTOR_MAX];
		struct dkr_error e = { 0 };

		domain_init(&d);
		snprintf(d.policy.selector, sizeof(d.policy.selector), "%s", bases[b]);
		cr_assert_eq(plan_selector_pick(&d, NULL, 0, NOW, sel, sizeof(sel), &e), DKR_OK,
			     "%s", e.msg);
		cr_assert_str_eq(sel, bases[b]);

		k[0] = key_make(1, bases[b], KS_DESTROYED, NOW, MIN);
		cr_assert_eq(plan_selector_pick(&d, k, 1, NOW, sel, sizeof(sel), &e), DKR_OK,
			     "%s", e.msg);
		cr_assert(name_is_label(sel), "\"%s\" is not a label", sel);
		cr_assert_eq(strlen(sel), 60);
		cr_assert_eq(strncmp(sel, bases[b], 58), 0);
		cr_assert_str_eq(sel + 58, "-2");

		k[1] = key_make(2, sel, KS_DESTROYED, NOW, MIN);
		cr_assert_eq(plan_selector_pick(&d, k, 2, NOW, sel, sizeof(sel), &e), DKR_OK,
			     "%s", e.msg);
		cr_assert(name_is_label(sel), "\"%s\" is not a label", sel);
		cr_assert_str_eq(sel + 58, "-3");
	}
}

Test(plan_selector, says_when_every_numbered_selector_is_taken)
{
	struct conf_domain d;
	struct state_key *k = calloc(999, sizeof(*k));
	char sel[STATE_SELECTOR_MAX];
	struct dkr_error e = { 0 };

	cr_assert_not_null(k);
	domain_init(&d);
	snprintf(d.policy.selector, sizeof(d.policy.selector), "fixed");
	for (int i = 0; i < 999; i++) {
		k[i].id = i + 1;
		snprintf(k[i].domain, sizeof(k[i].domain), "example.com");
		if (i == 0)
			snprintf(k[i].selector, sizeof(k[i].selector), "fixed");
		else
			snprintf(k[i].selector, sizeof(k[i].selector), "fixed-%d", i + 1);
		k[i].state = KS_DESTROYED;
	}
	cr_assert_eq(plan_selector_pick(&d, k, 999, NOW, sel, sizeof(sel), &e), DKR_EINVAL);
	cr_assert_str_eq(e.msg, "example.com: no unused selector left for pattern \"fixed\"");

	/* One freed number is found. */
	snprintf(k[500].selector, sizeof(k[500].selector), "other");
	cr_assert_eq(plan_selector_pick(&d, k, 999, NOW, sel, sizeof(sel), &e), DKR_OK, "%s",
		     e.msg);
	cr_assert_str_eq(sel, "fixed-501");
	free(k);
}

Test(plan_selector, a_pattern_that_gives_no_label_is_an_error)
{
	struct conf_domain d;
	char sel[STATE_SELECTOR_MAX];
	struct dkr_error e = { 0 };
	struct plan p = { 0 };

	domain_init(&d);
	snprintf(d.policy.selector, sizeof(d.policy.selector), "k_%%Y");
	cr_assert_eq(plan_selector_pick(&d, NULL, 0, NOW, sel, sizeof(sel), &e), DKR_EINVAL);
	cr_assert_str_eq(e.msg, "selector \"k_%Y\" gives \"k_2027\" at 2027-03-01T00:00:00Z, "
			 "which is not a DNS label (1 to 63 letters, digits or hyphens)");

	/* The plan still shows the creation, with no selector to offer. */
	plan_domain(&d, NULL, 0, NOW, false, &p);
	cr_assert_str_eq(only(&p, ACT_CREATE)->selector, "?");
	plan_free(&p);
}

/* ------------------------------------------------------------- dry runs */

/* What the dry run says happened to one selector. */
struct sim_key {
	char selector[STATE_SELECTOR_MAX];
	int64_t at[ACT_COUNT];		/* 0: not in the run */
	int64_t activate_after;
	bool seen;
};

#define SIM_KEYS_MAX 64

static struct sim_key *sim_find(struct sim_key *v, size_t *n, const char *selector)
{
	for (size_t i = 0; i < *n; i++)
		if (strcmp(v[i].selector, selector) == 0)
			return &v[i];
	cr_assert_lt(*n, SIM_KEYS_MAX);
	memset(&v[*n], 0, sizeof(v[*n]));
	snprintf(v[*n].selector, sizeof(v[*n].selector), "%s", selector);
	return &v[(*n)++];
}

/* The step before `kind` in a dry run (which retires inside the switch). */
static enum action_kind sim_before(enum action_kind kind)
{
	return kind == ACT_WITHDRAW ? ACT_ACTIVATE : kind - 1;
}

/*
 * Check the invariants of a dry run and gather it by selector, in order of
 * first appearance: actions in time order, each key's steps in lifecycle
 * order, no key signing before its predecessor's switch time (the first
 * predecessor signed at `first_active`; 0: none or a forced rotation).
 */
static size_t sim_check(const struct conf_domain *d, const struct plan *p,
			struct sim_key *keys, int64_t first_active)
{
	size_t n = 0;
	int64_t prev_active = first_active;

	for (size_t i = 0; i < p->n; i++) {
		const struct plan_action *a = &p->v[i];
		struct sim_key *k;

		if (i > 0)
			cr_assert_geq(a->due, p->v[i - 1].due,
				      "action %zu (%s %s) goes back in time", i,
				      action_name(a->kind), a->selector);
		k = sim_find(keys, &n, a->selector);
		cr_assert_eq(k->at[a->kind], 0, "%s: %s twice", a->selector,
			     action_name(a->kind));
		/* A key's first step in the run may follow its stored state. */
		if (k->seen && a->kind != ACT_CREATE)
			cr_assert_neq(k->at[sim_before(a->kind)], 0, "%s: %s without %s",
				      a->selector, action_name(a->kind),
				      action_name(sim_before(a->kind)));
		cr_assert(a->kind != ACT_CREATE || !k->seen, "%s: created late", a->selector);
		k->seen = true;
		k->at[a->kind] = a->due;
		if (a->kind == ACT_CREATE)
			k->activate_after = a->activate_after;

		if (a->kind == ACT_ACTIVATE) {
			if (prev_active != 0)
				cr_assert_geq(a->due, prev_active + d->policy.rotate_every,
					      "%s signs %llds before the switch time", a->selector,
					      (long long)(prev_active + d->policy.rotate_every -
							  a->due));
			cr_assert_geq(a->due, k->activate_after);
			prev_active = a->due;
		}
	}
	return n;
}

/* The j-th key the dry run created. */
static const struct sim_key *sim_created(const struct sim_key *keys, size_t n, size_t j)
{
	for (size_t i = 0; i < n; i++)
		if (keys[i].at[ACT_CREATE] != 0 && j-- == 0)
			return &keys[i];
	cr_assert_fail("fewer than %zu keys created", j + 1);
	return NULL;
}

static const struct sim_key *sim_get(struct sim_key *keys, size_t n, const char *selector)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(keys[i].selector, selector) == 0)
			return &keys[i];
	cr_assert_fail("%s is not in the dry run", selector);
	return NULL;
}

Test(plan_sim, a_year_of_ninety_day_rotations_from_nothing)
{
	struct conf_domain d;
	struct plan p = { 0 };
	struct sim_key keys[SIM_KEYS_MAX];
	size_t n;

	domain_init(&d);
	plan_simulate(&d, NULL, 0, NOW, NOW + 365 * DAY, false, &p);
	n = sim_check(&d, &p, keys, 0);

	/*
	 * The first key signs after an hour of guessed negative caching; its
	 * successors 90, 180, 270 and 360 days after that, each created three
	 * hours (propagation_timeout + the guess) ahead.  Only the first three
	 * old keys reach grace + ttl within the year.
	 */
	cr_assert_eq(n, 5);
	cr_assert_eq(count(&p, ACT_CREATE), 5);
	cr_assert_eq(count(&p, ACT_ACTIVATE), 5);
	cr_assert_eq(count(&p, ACT_RETIRE), 0, "the switch itself retires the old key");
	cr_assert_eq(count(&p, ACT_WITHDRAW), 3);
	cr_assert_eq(count(&p, ACT_DESTROY), 3);
	cr_assert_eq(p.n, 5 * 4 + 3 + 3);

	cr_assert_eq(keys[0].at[ACT_CREATE], NOW);
	cr_assert_eq(keys[0].at[ACT_ACTIVATE], NOW + HOUR);
	for (size_t i = 1; i < n; i++) {
		int64_t switch_at = NOW + HOUR + (int64_t)i * 90 * DAY;

		cr_assert_eq(keys[i].at[ACT_ACTIVATE], switch_at, "key %zu", i);
		cr_assert_eq(keys[i].at[ACT_CREATE], switch_at - 3 * HOUR, "key %zu", i);
		cr_assert_eq(keys[i].activate_after, switch_at, "key %zu", i);
		if (i < 4) {
			cr_assert_eq(keys[i - 1].at[ACT_WITHDRAW], switch_at + 7 * DAY + HOUR,
				     "key %zu", i - 1);
			cr_assert_eq(keys[i - 1].at[ACT_DESTROY], switch_at + 7 * DAY + HOUR);
		}
	}

	/* Every selector is its creation day's, and so unique. */
	cr_assert_str_eq(keys[0].selector, "k20270301");
	cr_assert_str_eq(keys[1].selector, "k20270529");
	cr_assert_str_eq(keys[4].selector, "k20280223");
	plan_free(&p);
}

Test(plan_sim, a_year_from_an_existing_key_with_old_keys_still_waiting)
{
	struct conf_domain d;
	struct state_key k[3] = {
		key_make(1, "k20260801", KS_WITHDRAWN, NOW - 2 * DAY, HOUR),
		key_make(2, "k20261101", KS_RETIRED, NOW - 20 * DAY, HOUR),
		key_make(3, "k20261201", KS_ACTIVE, NOW - 20 * DAY, HOUR),
	};
	struct plan p = { 0 };
	struct sim_key keys[SIM_KEYS_MAX];
	size_t n;

	domain_init(&d);
	/* The retired key was published with a longer grace than today's. */
	k[1].grace = 30 * DAY;
	k[1].ttl = DAY;
	plan_simulate(&d, k, 3, NOW, NOW + 365 * DAY, false, &p);
	n = sim_check(&d, &p, keys, NOW - 20 * DAY);

	/* The leftovers first: destroy now, withdraw after the stored 31 days. */
	cr_assert_eq(p.v[0].kind, ACT_DESTROY);
	cr_assert_str_eq(p.v[0].selector, "k20260801");
	cr_assert_eq(p.v[0].due, NOW);
	cr_assert_eq(sim_get(keys, n, "k20261101")->at[ACT_WITHDRAW], NOW + 11 * DAY);
	cr_assert_eq(sim_get(keys, n, "k20261101")->at[ACT_DESTROY], NOW + 11 * DAY);

	/* Switches 70, 160, 250 and 340 days from now; a neg_ttl of 300 is known. */
	cr_assert_eq(count(&p, ACT_ACTIVATE), 4);
	cr_assert_eq(count(&p, ACT_CREATE), 4);
	for (size_t j = 0; j < 4; j++) {
		const struct sim_key *s = sim_created(keys, n, j);
		int64_t switch_at = NOW - 20 * DAY + (int64_t)(j + 1) * 90 * DAY;

		cr_assert_eq(s->at[ACT_CREATE], switch_at - 2 * HOUR - 300, "new key %zu", j);
		cr_assert_eq(s->at[ACT_ACTIVATE], switch_at, "new key %zu", j);
	}

	/* Withdrawn in the year: the old retired key, the signer, three new keys. */
	cr_assert_eq(count(&p, ACT_WITHDRAW), 5);
	cr_assert_eq(sim_get(keys, n, "k20261201")->at[ACT_WITHDRAW],
		     NOW + 70 * DAY + 7 * DAY + HOUR);
	plan_free(&p);
}

Test(plan_sim, every_withdrawal_waits_grace_and_ttl_after_its_retirement)
{
	struct conf_domain d;
	struct plan p = { 0 };
	struct sim_key keys[SIM_KEYS_MAX];
	size_t n, withdrawn = 0;

	domain_init(&d);
	d.policy.rotate_every = 10 * DAY;
	d.policy.grace = 3 * DAY;
	d.policy.ttl = 6 * HOUR;
	plan_simulate(&d, NULL, 0, NOW, NOW + 365 * DAY, false, &p);
	n = sim_check(&d, &p, keys, 0);
	cr_assert_eq(n, 37, "%zu keys", n);

	/* A key retires when its successor signs: that is the switch. */
	for (size_t i = 0; i + 1 < n; i++) {
		int64_t retired = keys[i + 1].at[ACT_ACTIVATE];

		if (keys[i].at[ACT_WITHDRAW] == 0)
			continue;
		withdrawn++;
		cr_assert_geq(keys[i].at[ACT_WITHDRAW], retired + 3 * DAY + 6 * HOUR, "%s",
			      keys[i].selector);
		cr_assert_geq(keys[i].at[ACT_DESTROY], keys[i].at[ACT_WITHDRAW]);
	}
	cr_assert_eq(withdrawn, 36);
	plan_free(&p);
}

Test(plan_sim, a_forced_rotation_starts_now_even_behind_overdue_steps)
{
	struct conf_domain d;
	struct state_key k[2] = {
		key_make(1, "k20260101", KS_RETIRED, NOW - 30 * DAY, HOUR),
		key_make(2, "k20270201", KS_ACTIVE, NOW - 30 * DAY, HOUR),
	};
	struct plan p = { 0 };
	struct sim_key keys[SIM_KEYS_MAX];

	domain_init(&d);
	plan_simulate(&d, k, 2, NOW, NOW + DAY, true, &p);
	sim_check(&d, &p, keys, 0);

	/* The overdue withdrawal and the forced creation both happen now. */
	cr_assert_eq(count(&p, ACT_CREATE), 1);
	cr_assert_eq(only(&p, ACT_CREATE)->due, NOW);
	cr_assert_str_eq(only(&p, ACT_CREATE)->selector, "k20270301");
	cr_assert_eq(only(&p, ACT_ACTIVATE)->due, NOW + 300);
	cr_assert_eq(only(&p, ACT_WITHDRAW)->due, NOW);
	plan_free(&p);
}

Test(plan_sim, a_forced_rotation_with_a_key_on_its_way_creates_no_other)
{
	struct conf_domain d;
	struct state_key k[2] = {
		key_make(1, "k20270201", KS_ACTIVE, NOW - 30 * DAY, HOUR),
		key_make(2, "k20270228", KS_PUBLISHED, NOW - MIN, MIN),
	};
	struct plan p = { 0 };
	struct sim_key keys[SIM_KEYS_MAX];

	domain_init(&d);
	k[1].activate_after = NOW - MIN;
	plan_simulate(&d, k, 2, NOW, NOW + 30 * DAY, true, &p);
	sim_check(&d, &p, keys, 0);

	/* The pending key is the rotation; the next one follows the schedule. */
	cr_assert_eq(only(&p, ACT_ACTIVATE)->due, NOW + 300);
	cr_assert_str_eq(only(&p, ACT_ACTIVATE)->selector, "k20270228");
	cr_assert_eq(count(&p, ACT_CREATE), 0);
	plan_free(&p);
}

Test(plan_sim, stops_at_the_horizon_and_changes_no_key)
{
	struct conf_domain d;
	struct state_key k = key_make(1, "k20270101", KS_VISIBLE, NOW, HOUR);
	struct state_key copy;
	struct plan p = { 0 };

	domain_init(&d);
	k.activate_after = NOW + DAY;
	copy = k;
	plan_simulate(&d, &k, 1, NOW, NOW + DAY - 1, false, &p);
	cr_assert_eq(p.n, 0);

	plan_simulate(&d, &k, 1, NOW, NOW + DAY, false, &p);
	cr_assert_eq(p.n, 1);
	cr_assert_eq(p.v[0].kind, ACT_ACTIVATE);
	cr_assert_eq(p.v[0].due, NOW + DAY);
	cr_assert_eq(p.v[0].key_id, 1);
	cr_assert_eq(memcmp(&k, &copy, sizeof(k)), 0, "the caller's key was changed");
	plan_free(&p);
}

/* ------------------------------------------------------------- ordering */

Test(plan_order, sorts_by_due_time_then_domain_then_step)
{
	struct conf_domain a, b;
	struct plan p = { 0 };
	struct state_key ka = key_make(1, "k1", KS_PUBLISHED, NOW, MIN);
	struct state_key kb = key_make(2, "k2", KS_CREATED, NOW, MIN);

	domain_init(&a);
	domain_init(&b);
	snprintf(b.domain, sizeof(b.domain), "a.example");
	snprintf(kb.domain, sizeof(kb.domain), "a.example");
	plan_domain(&a, &ka, 1, NOW, false, &p);
	plan_domain(&b, NULL, 0, NOW + 5, false, &p);
	plan_domain(&b, &kb, 1, NOW, false, &p);
	plan_sort(&p);

	cr_assert_eq(p.n, 3);
	cr_assert_eq(p.v[0].kind, ACT_PUBLISH);
	cr_assert_eq(p.v[0].domain, &b);
	cr_assert_eq(p.v[1].kind, ACT_CONFIRM);
	cr_assert_eq(p.v[1].domain, &a);
	cr_assert_eq(p.v[2].kind, ACT_CREATE);
	cr_assert_eq(p.v[2].due, NOW + 5);
	cr_assert_str_eq(action_name(ACT_WITHDRAW), "withdraw");
	cr_assert_str_eq(action_name(ACT_COUNT), "unknown");
	plan_free(&p);
}
