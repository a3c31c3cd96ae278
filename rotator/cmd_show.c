/*
 * cmd_show.c - the read-only commands: `plan` (what would happen, to which
 * key, and when) and `status` (every key and its next event).  Both open
 * the state database read-only and change nothing.
 */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../dnsupdate/dnsupdate.h"
#include "cmd.h"

static json_t *json_time(int64_t t)
{
	char buf[32];

	if (t == 0)
		return json_null();
	return json_string(time_format(t, buf, sizeof(buf)));
}

/* One domain's keys at a time: a hundred thousand domains fit in memory. */
static struct state_key *domain_keys(const struct cmd_ctx *c, const char *domain,
				     size_t *n)
{
	struct state_key *keys = NULL;
	struct dkr_error e = { 0 };

	*n = 0;
	if (state_keys_list(c->st, domain, &keys, n, &e) != DKR_OK) {
		fprintf(stderr, "dkimrot: %s\n", e.msg);
		*n = 0;
	}
	return keys;
}

/* ------------------------------------------------------------------ plan */

/*
 * Output goes out domain by domain, each domain's actions in time order:
 * a hundred thousand domains' year of actions never sits in memory at once.
 */
static void plan_print_human(const struct plan *p, int64_t now, bool first)
{
	char due[32];

	if (first)
		printf("%-20s  %-28s  %-16s  %-9s  %s\n", "WHEN", "DOMAIN", "SELECTOR",
		       "ACTION", "WHY");
	for (size_t i = 0; i < p->n; i++) {
		const struct plan_action *a = &p->v[i];

		if (a->due <= now)
			snprintf(due, sizeof(due), "now");
		else
			time_format(a->due, due, sizeof(due));
		printf("%-20s  %-28s  %-16s  %-9s  %s\n", due, a->domain->domain, a->selector,
		       action_name(a->kind), a->reason);
	}
}

static void plan_print_json(const struct plan *p, int64_t now, bool *first)
{
	for (size_t i = 0; i < p->n; i++) {
		const struct plan_action *a = &p->v[i];
		json_t *o = json_object();
		char *text;

		json_object_set_new(o, "due", json_time(a->due < now ? now : a->due));
		json_object_set_new(o, "domain", json_string(a->domain->domain));
		json_object_set_new(o, "selector", json_string(a->selector));
		json_object_set_new(o, "action", json_string(action_name(a->kind)));
		json_object_set_new(o, "key_id", a->key_id > 0 ? json_integer(a->key_id)
							       : json_null());
		json_object_set_new(o, "reason", json_string(a->reason));
		text = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		if (text != NULL)
			printf("%s\n    %s", *first ? "" : ",", text);
		*first = false;
		free(text);
		json_decref(o);
	}
}

int cmd_plan(int argc, char **argv, const char *conf_path)
{
	static const struct option opts[] = {
		{ "at", required_argument, NULL, 'a' },
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 },
	};
	struct cmd_ctx c;
	struct plan p = { 0 };
	struct dkr_error e = { 0 };
	int64_t now = clock_now(), until = 0;
	bool json = false, first = true;
	size_t total = 0;
	char buf[32];
	int opt, rc;

	while ((opt = getopt_long(argc, argv, "+", opts, NULL)) != -1) {
		if (opt == 'j') {
			json = true;
		} else if (opt == 'a') {
			if (time_parse(optarg, now, &until, &e) != DKR_OK) {
				fprintf(stderr, "dkimrot: plan --at: %s\n", e.msg);
				return EXIT_USAGE;
			}
		} else {
			return EXIT_USAGE;
		}
	}

	rc = cmd_open(conf_path, argv + optind, argc - optind, false, &c);
	if (rc != EXIT_OK)
		goto out;

	if (json) {
		printf("{\n  \"now\": \"%s\",\n", time_format(now, buf, sizeof(buf)));
		if (until > 0)
			printf("  \"until\": \"%s\",\n", time_format(until, buf, sizeof(buf)));
		else
			printf("  \"until\": null,\n");
		printf("  \"actions\": [");
	}

	/* Without --at: each key's next step.  With it: the whole story until then. */
	for (size_t i = 0; i < c.n_domains; i++) {
		size_t cnt;
		struct state_key *ks = domain_keys(&c, c.domains[i]->domain, &cnt);

		p.n = 0;
		if (until > 0)
			plan_simulate(c.domains[i], ks, cnt, now, until, false, &p);
		else
			plan_domain(c.domains[i], ks, cnt, now, false, &p);
		free(ks);

		plan_sort(&p);
		if (json)
			plan_print_json(&p, now, &first);
		else
			plan_print_human(&p, now, total == 0 && p.n > 0);
		total += p.n;
	}

	if (json)
		printf("\n  ]\n}\n");
	else if (total == 0)
		printf("nothing to do\n");

out:
	plan_free(&p);
	cmd_close(&c);
	return rc;
}

/* ---------------------------------------------------------------- status */

/* The next planned event of one key, for its row. */
static const struct plan_action *next_of(const struct plan *p, const struct state_key *k)
{
	for (size_t i = 0; i < p->n; i++)
		if (p->v[i].key_id == k->id)
			return &p->v[i];

	/* The signing key's next event is the making of its successor. */
	for (size_t i = 0; k->state == KS_ACTIVE && i < p->n; i++)
		if (p->v[i].kind == ACT_CREATE)
			return &p->v[i];
	return NULL;
}

struct live_check {
	struct dnsu_ns *ns;
	size_t n_ns;
	struct dnsu_query q;
	char name[DKR_NAME_MAX + 1];
	char err[1024];
};

/* `status --dns`: ask every nameserver about this key now. */
static void live_ask(const struct conf_domain *d, const struct state_key *k,
		     struct live_check *lc)
{
	struct dkr_error e = { 0 };
	int rc;

	memset(lc, 0, sizeof(*lc));
	if (k->state < KS_PUBLISHED || k->state == KS_DESTROYED || k->zone[0] == '\0')
		return;

	if (snprintf(lc->name, sizeof(lc->name), "%s._domainkey.%s", k->selector,
		     k->domain) >= (int)sizeof(lc->name))
		return;
	rc = domain_nameservers_find(d, k->zone, &lc->ns, &lc->n_ns, &e);

	lc->q.name = lc->name;
	lc->q.record = k->record;
	lc->q.want = k->state == KS_WITHDRAWN ? DNSU_WANT_GONE : DNSU_WANT_RECORD;
	if (rc == DKR_OK)
		rc = dnsu_check(lc->ns, lc->n_ns, &lc->q, 1, 2000, 2, &e);
	if (rc != DKR_OK)
		memcpy(lc->err, e.msg, sizeof(lc->err));
}

static void live_free(struct live_check *lc)
{
	if (lc->q.answers != NULL)
		dnsu_query_free(&lc->q, 1);
	free(lc->ns);
}

static json_t *key_json(const struct cmd_ctx *c, const struct state_key *k,
			const struct plan *p, const struct live_check *lc)
{
	json_t *o = json_object(), *at = json_object(), *ns = json_array();
	const struct plan_action *next = next_of(p, k);
	struct state_ns_answer *ans = NULL;
	size_t n_ans = 0;

	json_object_set_new(o, "selector", json_string(k->selector));
	json_object_set_new(o, "state", json_string(key_state_name(k->state)));
	json_object_set_new(o, "algorithm", json_string(key_alg_name(k->algorithm)));
	json_object_set_new(o, "zone", json_string(k->zone));
	json_object_set_new(o, "key_file", json_string(k->key_path));
	json_object_set_new(o, "ttl", json_integer(k->ttl));
	json_object_set_new(o, "negative_ttl", json_integer(k->neg_ttl));
	json_object_set_new(o, "grace", json_integer(k->grace));
	for (int s = 0; s < KS_COUNT; s++)
		json_object_set_new(at, key_state_name((enum key_state)s), json_time(k->at[s]));
	json_object_set_new(o, "entered", at);
	json_object_set_new(o, "last_error", k->last_error[0] != '\0'
						     ? json_string(k->last_error) : json_null());
	if (next != NULL) {
		json_t *n = json_object();

		json_object_set_new(n, "action", json_string(action_name(next->kind)));
		json_object_set_new(n, "due", json_time(next->due));
		json_object_set_new(n, "reason", json_string(next->reason));
		json_object_set_new(o, "next", n);
	} else {
		json_object_set_new(o, "next", json_null());
	}

	if (lc != NULL && lc->q.answers != NULL) {
		for (size_t i = 0; i < lc->n_ns; i++) {
			json_t *a = json_object();

			json_object_set_new(a, "server", json_string(lc->ns[i].label));
			json_object_set_new(a, "ok", json_boolean(lc->q.answers[i].ok));
			json_object_set_new(a, "detail", json_string(lc->q.answers[i].detail));
			json_object_set_new(a, "at", json_time(clock_now()));
			json_array_append_new(ns, a);
		}
	} else if (state_ns_answers_list(c->st, k->id, &ans, &n_ans, NULL) == DKR_OK) {
		for (size_t i = 0; i < n_ans; i++) {
			json_t *a = json_object();

			json_object_set_new(a, "server", json_string(ans[i].server));
			json_object_set_new(a, "ok", json_boolean(ans[i].ok));
			json_object_set_new(a, "detail", json_string(ans[i].detail));
			json_object_set_new(a, "at", json_time(ans[i].at));
			json_array_append_new(ns, a);
		}
		free(ans);
	}
	json_object_set_new(o, "nameservers", ns);
	if (lc != NULL && lc->err[0] != '\0')
		json_object_set_new(o, "dns_error", json_string(lc->err));
	return o;
}

static void key_row(const struct state_key *k, const struct plan *p,
		    const struct live_check *lc, int64_t now)
{
	const struct plan_action *next = next_of(p, k);
	char age[32], due[32], nextbuf[80];

	duration_format(now - k->at[KS_CREATED], age, sizeof(age));
	if (next == NULL)
		snprintf(nextbuf, sizeof(nextbuf), "-");
	else if (next->due <= now)
		snprintf(nextbuf, sizeof(nextbuf), "%s now", action_name(next->kind));
	else
		snprintf(nextbuf, sizeof(nextbuf), "%s %s", action_name(next->kind),
			 time_format(next->due, due, sizeof(due)));

	printf("%-28s  %-16s  %-9s  %-8s  %-8s  %s\n", k->domain, k->selector,
	       key_state_name(k->state), key_alg_name(k->algorithm), age, nextbuf);
	if (k->last_error[0] != '\0')
		printf("%-28s  %-16s  last: %s\n", "", "", k->last_error);
	if (lc != NULL && lc->err[0] != '\0')
		printf("%-28s  %-16s  dns: %s\n", "", "", lc->err);
	for (size_t i = 0; lc != NULL && lc->q.answers != NULL && i < lc->n_ns; i++)
		printf("%-28s  %-16s  %s %s: %s\n", "", "", lc->q.answers[i].ok ? "ok " : "BAD",
		       lc->ns[i].label, lc->q.answers[i].detail);
}

struct status_opts {
	bool json;
	bool dns;
	int64_t now;
};

/* One domain's keys, as rows or as one JSON object of the "domains" array. */
static void status_domain(const struct cmd_ctx *c, const struct conf_domain *d,
			  const struct status_opts *o, bool first)
{
	struct plan p = { 0 };
	size_t cnt;
	struct state_key *ks = domain_keys(c, d->domain, &cnt);
	const struct state_key *signer = plan_signer(d, ks, cnt);
	json_t *dom = NULL, *karr = NULL;

	plan_domain(d, ks, cnt, o->now, false, &p);

	if (o->json) {
		dom = json_object();
		karr = json_array();
		json_object_set_new(dom, "domain", json_string(d->domain));
		json_object_set_new(dom, "active_selector",
				    signer != NULL ? json_string(signer->selector) : json_null());
	} else if (cnt == 0) {
		printf("%-28s  %-16s  %-9s  %-8s  %-8s  %s\n", d->domain, "-", "none",
		       key_alg_name(d->policy.algorithm), "-", p.n > 0 ? "create now" : "-");
	}

	for (size_t k = 0; k < cnt; k++) {
		struct live_check lc;

		if (o->dns)
			live_ask(d, &ks[k], &lc);
		if (o->json)
			json_array_append_new(karr, key_json(c, &ks[k], &p, o->dns ? &lc : NULL));
		else
			key_row(&ks[k], &p, o->dns ? &lc : NULL, o->now);
		if (o->dns)
			live_free(&lc);
	}

	if (o->json) {
		char *text;

		json_object_set_new(dom, "keys", karr);
		text = json_dumps(dom, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		if (text != NULL)
			printf("%s\n    %s", first ? "" : ",", text);
		free(text);
		json_decref(dom);
	}
	plan_free(&p);
	free(ks);
}

int cmd_status(int argc, char **argv, const char *conf_path)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "dns", no_argument, NULL, 'd' },
		{ NULL, 0, NULL, 0 },
	};
	struct status_opts o = { false, false, clock_now() };
	struct cmd_ctx c;
	char buf[32];
	int opt, rc;

	while ((opt = getopt_long(argc, argv, "+", opts, NULL)) != -1) {
		if (opt == 'j')
			o.json = true;
		else if (opt == 'd')
			o.dns = true;
		else
			return EXIT_USAGE;
	}

	rc = cmd_open(conf_path, argv + optind, argc - optind, false, &c);
	if (rc != EXIT_OK)
		goto out;

	/* One domain at a time, as for plan: memory does not grow with domains. */
	if (o.json)
		printf("{\n  \"now\": \"%s\",\n  \"domains\": [",
		       time_format(o.now, buf, sizeof(buf)));
	else
		printf("%-28s  %-16s  %-9s  %-8s  %-8s  %s\n", "DOMAIN", "SELECTOR", "STATE",
		       "ALG", "AGE", "NEXT");

	for (size_t i = 0; i < c.n_domains; i++)
		status_domain(&c, c.domains[i], &o, i == 0);
	if (o.json)
		printf("\n  ]\n}\n");

out:
	cmd_close(&c);
	return rc;
}
