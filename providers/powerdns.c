/*
 * powerdns.c - the PowerDNS Authoritative HTTP API as a DNS backend.
 *
 * Every change is one PATCH of one RRset (REPLACE or DELETE), made only
 * after a GET of that RRset shows that no record dkimrot did not write is
 * in the way; a NOTIFY request follows each change for primary zones, so
 * secondaries fetch the new serial at once.  TXT content travels in
 * presentation format: quoted strings of at most 255 bytes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "http.h"

#define API "/api/v1/servers/"

struct pdns {
	struct provider base;
	struct http_client http;
	char *server;		/* server_id, URL-encoded */
};

/* What the server holds at one name now (the TXT RRset only). */
struct pdns_now {
	char kind[32];		/* the zone's kind: Native, Master, Slave ... */
	size_t n;		/* how many TXT records */
	char *joined;		/* the first record's strings joined, when n > 0 */
	bool disabled;
	int64_t ttl;
};

static void now_free(struct pdns_now *now)
{
	free(now->joined);
	memset(now, 0, sizeof(*now));
}

static struct pdns *pdns_of(struct provider *p)
{
	return (struct pdns *)p;
}

/* "/api/v1/servers/localhost/zones/example.com.<suffix>" */
static char *zone_path(struct pdns *d, const char *zone, const char *suffix)
{
	char *dotted = xasprintf("%s.", zone);
	char *esc = http_escape(&d->http, dotted);
	char *path = xasprintf(API "%s/zones/%s%s", d->server, esc, suffix);

	free(dotted);
	free(esc);
	return path;
}

/* ---------------------------------------------------------- open, close */

static void pdns_close(struct provider *p)
{
	struct pdns *d = pdns_of(p);

	if (d == NULL)
		return;
	http_client_close(&d->http);
	free(d->server);
	free(d);
}

static int pdns_open(const struct conf_dns *conf, struct provider **out, struct dkr_error *e)
{
	struct pdns *d = xcalloc(1, sizeof(*d));
	char *secret = NULL, *auth = NULL;
	int rc;

	*out = NULL;
	d->base.ops = &provider_powerdns_ops;
	d->base.conf = conf;

	rc = provider_secret(conf, &secret, e);
	if (rc != DKR_OK)
		goto out;

	auth = xasprintf("X-API-Key: %s", secret);
	rc = http_client_open(&d->http, conf, NULL, auth, &d->base.requests, e);
	if (rc != DKR_OK)
		goto out;

	d->server = http_escape(&d->http, conf->server_id[0] != '\0' ? conf->server_id :
				"localhost");
	*out = &d->base;
	d = NULL;
out:
	if (auth != NULL)
		explicit_bzero(auth, strlen(auth));
	free(auth);
	secret_free(secret);
	pdns_close(d != NULL ? &d->base : NULL);
	return rc;
}

/* ------------------------------------------------------------- reading */

static bool name_equal_dotted(const char *dotted, const char *name)
{
	size_t n = strlen(name);

	return dotted != NULL && strncasecmp(dotted, name, n) == 0 && dotted[n] == '.' &&
	       dotted[n + 1] == '\0';
}

/* Pick the TXT RRset at `name` out of a zone object. */
static int now_from_zone(struct pdns *d, const char *path, const struct http_reply *r,
			 const char *name, struct pdns_now *now, struct dkr_error *e)
{
	json_t *rrsets = json_object_get(r->json, "rrsets"), *set, *recs, *rec;
	const char *kind = json_string_value(json_object_get(r->json, "kind"));
	const char *content;
	size_t i;

	if (!json_is_object(r->json) || !json_is_array(rrsets) || kind == NULL)
		return http_bad_shape(&d->http, "GET", path, r,
				      "the zone has no \"kind\" or no \"rrsets\" array", e);
	str_copy(now->kind, sizeof(now->kind), kind);

	/* Servers older than 4.7 ignore rrset_name= and send every RRset: scan. */
	json_array_foreach(rrsets, i, set) {
		const char *sname = json_string_value(json_object_get(set, "name"));
		const char *stype = json_string_value(json_object_get(set, "type"));
		json_t *ttl = json_object_get(set, "ttl");

		if (!name_equal_dotted(sname, name) || stype == NULL || strcmp(stype, "TXT") != 0)
			continue;
		recs = json_object_get(set, "records");
		if (!json_is_array(recs) || !json_is_integer(ttl))
			return http_bad_shape(&d->http, "GET", path, r,
					      "a TXT RRset without \"records\" or \"ttl\"", e);
		now->n = json_array_size(recs);
		now->ttl = json_integer_value(ttl);
		if (now->n == 0)
			return DKR_OK;
		rec = json_array_get(recs, 0);
		content = json_string_value(json_object_get(rec, "content"));
		if (content == NULL)
			return http_bad_shape(&d->http, "GET", path, r,
					      "a TXT record without \"content\"", e);
		now->disabled = json_is_true(json_object_get(rec, "disabled"));
		if (txt_join(content, &now->joined, e) != DKR_OK)
			return dkr_wrap(e, PROVIDER_FMT ": GET %s: HTTP %ld",
					PROVIDER_ARGS(d->base.conf), path, r->status);
		return DKR_OK;
	}
	return DKR_OK;
}

static int pdns_get(struct pdns *d, const char *zone, const char *name, struct pdns_now *now,
		    struct dkr_error *e)
{
	struct http_reply r;
	char *esc = NULL, *dotted = xasprintf("%s.", name), *query, *path;
	int rc;

	memset(now, 0, sizeof(*now));
	esc = http_escape(&d->http, dotted);
	query = xasprintf("?rrset_name=%s&rrset_type=TXT", esc);
	path = zone_path(d, zone, query);

	rc = http_call(&d->http, "GET", path, NULL, HTTP_IDEMPOTENT, &r, e);
	if (rc != DKR_OK && (r.status == 404 || r.status == 422))
		rc = dkr_fail(e, DKR_EDNS, PROVIDER_FMT ": zone %s is not on server \"%s\" "
			      "(GET %s: HTTP %ld)", PROVIDER_ARGS(d->base.conf), zone,
			      d->base.conf->server_id, path, r.status);
	if (rc == DKR_OK)
		rc = now_from_zone(d, path, &r, name, now, e);

	http_reply_free(&r);
	free(path);
	free(query);
	free(esc);
	free(dotted);
	return rc;
}

/* "holds 2 TXT records, the first "v=spf1 ..."" for a refusal. */
static void now_describe(const struct pdns_now *now, char *out, size_t len)
{
	char ex[256];

	http_excerpt(now->joined != NULL ? now->joined : "", now->joined != NULL ?
		     strlen(now->joined) : 0, ex, sizeof(ex));
	snprintf(out, len, "%zu TXT record%s, the first \"%s\"", now->n,
		 now->n == 1 ? "" : "s", ex);
}

/* ------------------------------------------------------------ changing */

/*
 * Tell the secondaries.  A Native zone replicates through its database and
 * has nobody to notify.  The change is made whatever happens here: a failed
 * NOTIFY only means secondaries wait for their refresh timer, which the
 * every-nameserver check will notice.
 */
static void pdns_notify(struct pdns *d, const char *zone, const char *kind)
{
	struct dkr_error err = { 0 };
	struct http_reply r;
	char *path;

	if (strcasecmp(kind, "Master") != 0 && strcasecmp(kind, "Primary") != 0) {
		log_msg(LOG_LVL_DEBUG, PROVIDER_FMT ": zone %s is %s, no NOTIFY sent",
			PROVIDER_ARGS(d->base.conf), zone, kind);
		return;
	}
	path = zone_path(d, zone, "/notify");
	if (http_call(&d->http, "PUT", path, NULL, HTTP_IDEMPOTENT, &r, &err) != DKR_OK)
		log_msg(LOG_LVL_WARNING, "%s; secondaries will follow at their next refresh",
			err.msg);
	http_reply_free(&r);
	free(path);
}

static int pdns_patch(struct pdns *d, const struct provider_rr *rr, const char *changetype,
		      struct dkr_error *e)
{
	json_t *body = NULL, *set;
	struct http_reply r;
	char *path = zone_path(d, rr->zone, ""), *quoted = NULL;
	char *dotted = xasprintf("%s.", rr->name);
	int rc;

	set = json_pack("{s:s, s:s, s:s}", "name", dotted, "type", "TXT",
			"changetype", changetype);
	if (strcmp(changetype, "REPLACE") == 0) {
		rc = txt_quote(rr->record, &quoted, e);
		if (rc != DKR_OK)
			goto out;
		json_object_set_new(set, "ttl", json_integer(rr->ttl));
		json_object_set_new(set, "records", json_pack("[{s:s, s:b}]", "content", quoted,
							      "disabled", 0));
	}
	body = json_pack("{s:[o]}", "rrsets", set);
	set = NULL;
	if (body == NULL) {
		rc = dkr_fail(e, DKR_ENOMEM, "out of memory building a PowerDNS request");
		goto out;
	}

	rc = http_call(&d->http, "PATCH", path, body, HTTP_IDEMPOTENT, &r, e);
	http_reply_free(&r);
out:
	json_decref(set);
	json_decref(body);
	free(quoted);
	free(dotted);
	free(path);
	return rc;
}

static int pdns_publish(struct provider *p, const struct provider_rr *rr, struct dkr_error *e)
{
	struct pdns *d = pdns_of(p);
	struct pdns_now now = { 0 };
	char what[400];
	int rc;

	rc = provider_rr_check(p->conf, rr, true, e);
	if (rc != DKR_OK)
		return rc;
	rc = pdns_get(d, rr->zone, rr->name, &now, e);
	if (rc != DKR_OK)
		goto out;

	/* Exactly ours already (a re-run after a crash): nothing to do. */
	if (now.n == 1 && strcmp(now.joined, rr->record) == 0 && !now.disabled &&
	    now.ttl == rr->ttl) {
		log_msg(LOG_LVL_DEBUG, PROVIDER_FMT ": %s already holds the record",
			PROVIDER_ARGS(p->conf), rr->name);
		goto out;
	}
	/* Ours but disabled or with another TTL may be mended; anything else is not ours. */
	if (now.n > 1 || (now.n == 1 && strcmp(now.joined, rr->record) != 0)) {
		now_describe(&now, what, sizeof(what));
		rc = dkr_fail(e, DKR_EDNS, PROVIDER_FMT ": %s already holds %s; dkimrot does "
			      "not overwrite a record it did not write", PROVIDER_ARGS(p->conf),
			      rr->name, what);
		goto out;
	}

	rc = pdns_patch(d, rr, "REPLACE", e);
	if (rc == DKR_OK)
		pdns_notify(d, rr->zone, now.kind);
out:
	now_free(&now);
	return rc;
}

static int pdns_withdraw(struct provider *p, const struct provider_rr *rr,
			 struct dkr_error *e)
{
	struct pdns *d = pdns_of(p);
	struct pdns_now now = { 0 };
	char what[400];
	int rc;

	rc = provider_rr_check(p->conf, rr, false, e);
	if (rc != DKR_OK)
		return rc;
	rc = pdns_get(d, rr->zone, rr->name, &now, e);
	if (rc != DKR_OK)
		goto out;

	if (now.n == 0) {
		log_msg(LOG_LVL_DEBUG, PROVIDER_FMT ": %s holds no TXT record, nothing to delete",
			PROVIDER_ARGS(p->conf), rr->name);
		goto out;
	}
	if (rr->record != NULL && (now.n > 1 || strcmp(now.joined, rr->record) != 0)) {
		now_describe(&now, what, sizeof(what));
		rc = dkr_fail(e, DKR_EDNS, PROVIDER_FMT ": %s holds %s, not the record dkimrot "
			      "published; it is left in place", PROVIDER_ARGS(p->conf), rr->name,
			      what);
		goto out;
	}

	rc = pdns_patch(d, rr, "DELETE", e);
	if (rc == DKR_OK)
		pdns_notify(d, rr->zone, now.kind);
out:
	now_free(&now);
	return rc;
}

static int pdns_read(struct provider *p, const char *zone, const char *name, char **record,
		     struct dkr_error *e)
{
	struct provider_rr rr = { .zone = zone, .name = name };
	struct pdns_now now = { 0 };
	char what[400];
	int rc;

	*record = NULL;
	rc = provider_rr_check(p->conf, &rr, false, e);
	if (rc != DKR_OK)
		return rc;
	rc = pdns_get(pdns_of(p), zone, name, &now, e);
	if (rc == DKR_OK && now.n > 1) {
		now_describe(&now, what, sizeof(what));
		rc = dkr_fail(e, DKR_EDNS, PROVIDER_FMT ": %s holds %s; a DKIM selector needs "
			      "exactly one", PROVIDER_ARGS(p->conf), name, what);
	}
	if (rc == DKR_OK && now.n == 1) {
		*record = now.joined;
		now.joined = NULL;
	}
	now_free(&now);
	return rc;
}

/* ---------------------------------------------------------- zone lookup */

/* Does the server have a zone called exactly `cand`? */
static int zone_exists(struct pdns *d, const char *cand, bool *found, struct dkr_error *e)
{
	char *dotted = xasprintf("%s.", cand), *esc = http_escape(&d->http, dotted);
	char *path = xasprintf(API "%s/zones?zone=%s", d->server, esc);
	struct http_reply r;
	json_t *z;
	size_t i;
	int rc;

	*found = false;
	rc = http_call(&d->http, "GET", path, NULL, HTTP_IDEMPOTENT, &r, e);
	if (rc == DKR_OK && !json_is_array(r.json))
		rc = http_bad_shape(&d->http, "GET", path, &r, "the zone list is not an array",
				    e);
	if (rc == DKR_OK) {
		json_array_foreach(r.json, i, z) {
			if (name_equal_dotted(json_string_value(json_object_get(z, "name")),
					      cand))
				*found = true;
		}
	}
	http_reply_free(&r);
	free(path);
	free(esc);
	free(dotted);
	return rc;
}

static int pdns_find_zone(struct provider *p, const char *name, char *zone, size_t len,
			  struct dkr_error *e)
{
	const char *cand = name;
	bool found;
	int rc;

	if (!name_is_hostname(name))
		return dkr_fail(e, DKR_EINVAL, PROVIDER_FMT ": \"%.300s\" is not a valid DNS name",
				PROVIDER_ARGS(p->conf), name);

	/* Walk up one label at a time: the first zone found is the closest. */
	for (;;) {
		rc = zone_exists(pdns_of(p), cand, &found, e);
		if (rc != DKR_OK)
			return rc;
		if (found) {
			if (!str_copy(zone, len, cand))
				return dkr_fail(e, DKR_EINVAL, "zone name %s is too long", cand);
			return DKR_OK;
		}
		cand = strchr(cand, '.');
		if (cand == NULL)
			break;
		cand++;
	}
	return dkr_fail(e, DKR_ENOTFOUND, PROVIDER_FMT ": no zone on server \"%s\" holds %s",
			PROVIDER_ARGS(p->conf), p->conf->server_id, name);
}

const struct provider_ops provider_powerdns_ops = {
	.type = "powerdns",
	.caps = PROVIDER_CAN_READ | PROVIDER_FINDS_ZONE | PROVIDER_NOTIFIES,
	.open = pdns_open,
	.close = pdns_close,
	.find_zone = pdns_find_zone,
	.publish = pdns_publish,
	.withdraw = pdns_withdraw,
	.read = pdns_read,
};
