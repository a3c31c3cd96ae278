/*
 * cloudflare.c - the Cloudflare API v4 as a DNS backend.
 *
 * Cloudflare keeps TXT records one by one, each with an id, rather than as
 * RRsets: the backend lists the TXT records at a name (every page), compares
 * their content after joining quoted strings (Cloudflare may hand a long
 * record back split into 255-byte strings), and creates, updates or deletes
 * by id only what is ours.  The zone id is looked up by name once per handle.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "http.h"

#define CF_DEFAULT_URL "https://api.cloudflare.com/client/v4"
#define CF_ID_MAX 64
#define CF_PER_PAGE 100
#define CF_PAGES_MAX 50		/* 5000 TXT records at one name is not a DKIM selector */

struct cf {
	struct provider base;
	struct http_client http;
	char zone[DKR_NAME_MAX + 1];	/* the zone whose id is cached */
	char zone_id[CF_ID_MAX];
};

struct cf_rec {
	char id[CF_ID_MAX];
	char *joined;
	int64_t ttl;
};

struct cf_list {
	struct cf_rec *v;
	size_t n;
};

static struct cf *cf_of(struct provider *p)
{
	return (struct cf *)p;
}

static void list_free(struct cf_list *l)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		free(l->v[i].joined);
	free(l->v);
	memset(l, 0, sizeof(*l));
}

/* Ids go into URL paths: hexadecimal as Cloudflare issues them, nothing else. */
static bool id_ok(const char *id)
{
	size_t i;

	if (id == NULL || id[0] == '\0' || strlen(id) >= CF_ID_MAX)
		return false;
	for (i = 0; id[i] != '\0'; i++)
		if (!((id[i] >= '0' && id[i] <= '9') || (id[i] >= 'a' && id[i] <= 'z') ||
		      (id[i] >= 'A' && id[i] <= 'Z')))
			return false;
	return true;
}

/*
 * A 2xx reply must still say "success": true; its "result" must be of the
 * expected JSON type.
 */
static int cf_result(struct cf *c, const char *method, const char *path,
		     const struct http_reply *r, json_type want, json_t **result,
		     struct dkr_error *e)
{
	char text[700], why[800];

	*result = json_object_get(r->json, "result");
	if (!json_is_object(r->json) || !json_is_boolean(json_object_get(r->json, "success")))
		return http_bad_shape(&c->http, method, path, r,
				      "the reply has no \"success\" field", e);
	if (!json_is_true(json_object_get(r->json, "success"))) {
		http_error_text(r, text, sizeof(text));
		snprintf(why, sizeof(why), "the API reports failure: %s", text);
		return http_bad_shape(&c->http, method, path, r, why, e);
	}
	if (*result == NULL || json_typeof(*result) != want) {
		snprintf(why, sizeof(why), "\"result\" is not %s",
			 want == JSON_ARRAY ? "an array" : "an object");
		return http_bad_shape(&c->http, method, path, r, why, e);
	}
	return DKR_OK;
}

/* ---------------------------------------------------------- open, close */

static void cf_close(struct provider *p)
{
	struct cf *c = cf_of(p);

	if (c == NULL)
		return;
	http_client_close(&c->http);
	free(c);
}

static int cf_open(const struct conf_dns *conf, struct provider **out, struct dkr_error *e)
{
	struct cf *c = xcalloc(1, sizeof(*c));
	char *secret = NULL, *auth = NULL;
	int rc;

	*out = NULL;
	c->base.ops = &provider_cloudflare_ops;
	c->base.conf = conf;

	rc = provider_secret(conf, &secret, e);
	if (rc != DKR_OK)
		goto out;

	auth = xasprintf("Authorization: Bearer %s", secret);
	rc = http_client_open(&c->http, conf, conf->url[0] != '\0' ? conf->url : CF_DEFAULT_URL,
			      auth, &c->base.requests, e);
	if (rc != DKR_OK)
		goto out;
	*out = &c->base;
	c = NULL;
out:
	if (auth != NULL)
		explicit_bzero(auth, strlen(auth));
	free(auth);
	secret_free(secret);
	cf_close(c != NULL ? &c->base : NULL);
	return rc;
}

/* ------------------------------------------------------------------ zones */

/* The id of the zone named exactly `name`, or "" when the account has none. */
static int zone_lookup(struct cf *c, const char *name, char *id, struct dkr_error *e)
{
	char *esc = http_escape(&c->http, name);
	char *path = xasprintf("/zones?name=%s", esc);
	struct http_reply r;
	json_t *result, *z;
	size_t i;
	int rc;

	id[0] = '\0';
	rc = http_call(&c->http, "GET", path, NULL, HTTP_IDEMPOTENT, &r, e);
	if (rc == DKR_OK)
		rc = cf_result(c, "GET", path, &r, JSON_ARRAY, &result, e);
	if (rc != DKR_OK)
		goto out;

	json_array_foreach(result, i, z) {
		const char *zname = json_string_value(json_object_get(z, "name"));
		const char *zid = json_string_value(json_object_get(z, "id"));

		if (zname == NULL || strcasecmp(zname, name) != 0)
			continue;
		if (!id_ok(zid)) {
			rc = http_bad_shape(&c->http, "GET", path, &r,
					    "the zone's \"id\" is missing or malformed", e);
			goto out;
		}
		str_copy(id, CF_ID_MAX, zid);
		break;
	}
out:
	http_reply_free(&r);
	free(path);
	free(esc);
	return rc;
}

static int cf_zone_id(struct cf *c, const char *zone, struct dkr_error *e)
{
	char id[CF_ID_MAX];
	int rc;

	if (c->zone_id[0] != '\0' && strcasecmp(c->zone, zone) == 0)
		return DKR_OK;
	c->zone_id[0] = '\0';
	rc = zone_lookup(c, zone, id, e);
	if (rc != DKR_OK)
		return rc;
	if (id[0] == '\0')
		return dkr_fail(e, DKR_EDNS, PROVIDER_FMT ": the account behind the token has "
				"no zone %s", PROVIDER_ARGS(c->base.conf), zone);
	str_copy(c->zone, sizeof(c->zone), zone);
	str_copy(c->zone_id, sizeof(c->zone_id), id);
	return DKR_OK;
}

static int cf_find_zone(struct provider *p, const char *name, char *zone, size_t len,
			struct dkr_error *e)
{
	struct cf *c = cf_of(p);
	const char *cand = name;
	char id[CF_ID_MAX];
	int rc;

	if (!name_is_hostname(name))
		return dkr_fail(e, DKR_EINVAL, PROVIDER_FMT ": \"%.300s\" is not a valid DNS name",
				PROVIDER_ARGS(p->conf), name);

	/* The closest enclosing zone is the first found walking up. */
	for (; cand != NULL; cand = strchr(cand, '.') != NULL ? strchr(cand, '.') + 1 : NULL) {
		rc = zone_lookup(c, cand, id, e);
		if (rc != DKR_OK)
			return rc;
		if (id[0] == '\0')
			continue;
		if (!str_copy(zone, len, cand))
			return dkr_fail(e, DKR_EINVAL, "zone name %s is too long", cand);
		str_copy(c->zone, sizeof(c->zone), cand);
		str_copy(c->zone_id, sizeof(c->zone_id), id);
		return DKR_OK;
	}
	return dkr_fail(e, DKR_ENOTFOUND, PROVIDER_FMT ": no zone of the account holds %s",
			PROVIDER_ARGS(p->conf), name);
}

/* ---------------------------------------------------------------- records */

static int list_add(struct cf *c, const char *path, const struct http_reply *r, json_t *rec,
		    struct cf_list *l, struct dkr_error *e)
{
	const char *id = json_string_value(json_object_get(rec, "id"));
	const char *content = json_string_value(json_object_get(rec, "content"));
	json_t *ttl = json_object_get(rec, "ttl");
	struct cf_rec *v;

	if (!id_ok(id) || content == NULL || !json_is_integer(ttl))
		return http_bad_shape(&c->http, "GET", path, r, "a record lacks a valid \"id\", "
				      "\"content\" or \"ttl\"", e);
	v = realloc(l->v, (l->n + 1) * sizeof(*v));
	if (v == NULL)
		return dkr_fail(e, DKR_ENOMEM, "out of memory listing records");
	l->v = v;
	v = &l->v[l->n];
	memset(v, 0, sizeof(*v));
	str_copy(v->id, sizeof(v->id), id);
	v->ttl = json_integer_value(ttl);
	if (txt_join(content, &v->joined, e) != DKR_OK)
		return dkr_wrap(e, PROVIDER_FMT ": GET %s: HTTP %ld", PROVIDER_ARGS(c->base.conf),
				path, r->status);
	l->n++;
	return DKR_OK;
}

/* One page of the TXT records at `name`; *pages is the total the API reports. */
static int list_page(struct cf *c, const char *name, int page, int *pages, struct cf_list *l,
		     struct dkr_error *e)
{
	char *esc = http_escape(&c->http, name);
	char *path = xasprintf("/zones/%s/dns_records?type=TXT&name=%s&per_page=%d&page=%d",
			       c->zone_id, esc, CF_PER_PAGE, page);
	struct http_reply r;
	json_t *result, *rec, *total;
	size_t i;
	int rc;

	rc = http_call(&c->http, "GET", path, NULL, HTTP_IDEMPOTENT, &r, e);
	if (rc == DKR_OK)
		rc = cf_result(c, "GET", path, &r, JSON_ARRAY, &result, e);
	if (rc != DKR_OK)
		goto out;

	total = json_object_get(json_object_get(r.json, "result_info"), "total_pages");
	*pages = json_is_integer(total) ? (int)json_integer_value(total) : 1;
	json_array_foreach(result, i, rec) {
		const char *type = json_string_value(json_object_get(rec, "type"));
		const char *rname = json_string_value(json_object_get(rec, "name"));

		/* The filter is the server's; trust only what we check. */
		if (type == NULL || strcmp(type, "TXT") != 0 || rname == NULL ||
		    strcasecmp(rname, name) != 0)
			continue;
		rc = list_add(c, path, &r, rec, l, e);
		if (rc != DKR_OK)
			goto out;
	}
out:
	http_reply_free(&r);
	free(path);
	free(esc);
	return rc;
}

static int cf_list(struct cf *c, const char *name, struct cf_list *l, struct dkr_error *e)
{
	int page = 1, pages = 1, rc;

	memset(l, 0, sizeof(*l));
	do {
		rc = list_page(c, name, page, &pages, l, e);
		if (rc != DKR_OK) {
			list_free(l);
			return rc;
		}
	} while (++page <= pages && page <= CF_PAGES_MAX);
	if (pages > CF_PAGES_MAX) {
		list_free(l);
		return dkr_fail(e, DKR_EDNS, PROVIDER_FMT ": %s has more than %d pages of TXT "
				"records", PROVIDER_ARGS(c->base.conf), name, CF_PAGES_MAX);
	}
	return DKR_OK;
}

/* How many listed records are ours, and the first that is not. */
static size_t list_count(const struct cf_list *l, const char *record, const char **foreign)
{
	size_t i, ours = 0;

	*foreign = NULL;
	for (i = 0; i < l->n; i++) {
		if (record != NULL && strcmp(l->v[i].joined, record) == 0)
			ours++;
		else if (*foreign == NULL)
			*foreign = l->v[i].joined;
	}
	return ours;
}

static int refuse_foreign(struct cf *c, const char *name, size_t n, const char *foreign,
			  const char *verb, struct dkr_error *e)
{
	char ex[256];

	http_excerpt(foreign, strlen(foreign), ex, sizeof(ex));
	return dkr_fail(e, DKR_EDNS, PROVIDER_FMT ": %s holds %zu TXT record%s dkimrot did not "
			"write (\"%s\"); %s", PROVIDER_ARGS(c->base.conf), name, n,
			n == 1 ? "" : "s", ex, verb);
}

/* POST a new record, or PUT over record `id` (to mend its TTL). */
static int cf_write(struct cf *c, const struct provider_rr *rr, const char *id,
		    struct dkr_error *e)
{
	const char *method = id != NULL ? "PUT" : "POST";
	struct http_reply r;
	json_t *body, *result;
	char *quoted = NULL, *path;
	int rc;

	path = id != NULL ? xasprintf("/zones/%s/dns_records/%s", c->zone_id, id) :
			    xasprintf("/zones/%s/dns_records", c->zone_id);
	rc = txt_quote(rr->record, &quoted, e);
	if (rc != DKR_OK) {
		free(path);
		return rc;
	}
	body = json_pack("{s:s, s:s, s:s, s:I}", "type", "TXT", "name", rr->name,
			 "content", quoted, "ttl", (json_int_t)rr->ttl);

	/* A POST repeated after a lost reply could create a twin: no blind retry. */
	rc = http_call(&c->http, method, path, body, id != NULL ? HTTP_IDEMPOTENT : 0, &r, e);
	if (rc == DKR_OK)
		rc = cf_result(c, method, path, &r, JSON_OBJECT, &result, e);
	http_reply_free(&r);
	json_decref(body);
	free(quoted);
	free(path);
	return rc;
}

static int cf_delete(struct cf *c, const char *id, struct dkr_error *e)
{
	char *path = xasprintf("/zones/%s/dns_records/%s", c->zone_id, id);
	struct http_reply r;
	int rc;

	rc = http_call(&c->http, "DELETE", path, NULL, HTTP_IDEMPOTENT, &r, e);
	/* Gone already (a retried DELETE whose first reply was lost): the goal. */
	if (rc == DKR_EHTTP && r.status == 404)
		rc = DKR_OK;
	http_reply_free(&r);
	free(path);
	return rc;
}

static int cf_publish(struct provider *p, const struct provider_rr *rr, struct dkr_error *e)
{
	struct cf *c = cf_of(p);
	struct cf_list l = { 0 };
	const char *foreign;
	size_t ours;
	int rc, round;

	rc = provider_rr_check(p->conf, rr, true, e);
	if (rc != DKR_OK)
		return rc;
	if (rr->ttl != 1 && (rr->ttl < 60 || rr->ttl > 86400))
		return dkr_fail(e, DKR_EINVAL, PROVIDER_FMT ": TTL %lld for %s is refused by "
				"Cloudflare: use 1 (automatic) or 60 to 86400",
				PROVIDER_ARGS(p->conf), (long long)rr->ttl, rr->name);
	rc = cf_zone_id(c, rr->zone, e);
	if (rc != DKR_OK)
		return rc;

	/*
	 * List, then create.  A create that failed in transit may have been
	 * made: the second round lists again before deciding.
	 */
	for (round = 0; round < 2; round++) {
		rc = cf_list(c, rr->name, &l, e);
		if (rc != DKR_OK)
			break;
		ours = list_count(&l, rr->record, &foreign);
		if (foreign != NULL) {
			rc = refuse_foreign(c, rr->name, l.n - ours, foreign,
					    "dkimrot does not overwrite it", e);
			break;
		}
		if (ours > 0) {
			if (l.v[0].ttl != rr->ttl)
				rc = cf_write(c, rr, l.v[0].id, e);
			else
				log_msg(LOG_LVL_DEBUG, PROVIDER_FMT ": %s already holds the "
					"record", PROVIDER_ARGS(p->conf), rr->name);
			break;
		}
		rc = cf_write(c, rr, NULL, e);
		if (rc != DKR_ETEMP || round > 0)
			break;
		log_msg(LOG_LVL_WARNING, "%s; checking whether the record was made",
			e != NULL ? e->msg : "creating the record failed");
		list_free(&l);
	}
	list_free(&l);
	return rc;
}

static int cf_withdraw(struct provider *p, const struct provider_rr *rr, struct dkr_error *e)
{
	struct cf *c = cf_of(p);
	struct cf_list l = { 0 };
	const char *foreign;
	size_t i, ours;
	int rc;

	rc = provider_rr_check(p->conf, rr, false, e);
	if (rc == DKR_OK)
		rc = cf_zone_id(c, rr->zone, e);
	if (rc == DKR_OK)
		rc = cf_list(c, rr->name, &l, e);
	if (rc != DKR_OK)
		goto out;

	ours = list_count(&l, rr->record, &foreign);
	if (rr->record != NULL && foreign != NULL) {
		rc = refuse_foreign(c, rr->name, l.n - ours, foreign,
				    "nothing at that name is deleted", e);
		goto out;
	}
	if (l.n == 0)
		log_msg(LOG_LVL_DEBUG, PROVIDER_FMT ": %s holds no TXT record, nothing to delete",
			PROVIDER_ARGS(p->conf), rr->name);
	for (i = 0; i < l.n && rc == DKR_OK; i++)
		rc = cf_delete(c, l.v[i].id, e);
out:
	list_free(&l);
	return rc;
}

static int cf_read(struct provider *p, const char *zone, const char *name, char **record,
		   struct dkr_error *e)
{
	struct provider_rr rr = { .zone = zone, .name = name };
	struct cf *c = cf_of(p);
	struct cf_list l = { 0 };
	int rc;

	*record = NULL;
	rc = provider_rr_check(p->conf, &rr, false, e);
	if (rc == DKR_OK)
		rc = cf_zone_id(c, zone, e);
	if (rc == DKR_OK)
		rc = cf_list(c, name, &l, e);
	if (rc != DKR_OK)
		goto out;

	if (l.n > 1) {
		char ex[256];

		http_excerpt(l.v[0].joined, strlen(l.v[0].joined), ex, sizeof(ex));
		rc = dkr_fail(e, DKR_EDNS, PROVIDER_FMT ": %s holds %zu TXT records, the first "
			      "\"%s\"; a DKIM selector needs exactly one", PROVIDER_ARGS(p->conf),
			      name, l.n, ex);
		goto out;
	}
	if (l.n == 1) {
		*record = l.v[0].joined;
		l.v[0].joined = NULL;
	}
out:
	list_free(&l);
	return rc;
}

const struct provider_ops provider_cloudflare_ops = {
	.type = "cloudflare",
	.caps = PROVIDER_CAN_READ | PROVIDER_FINDS_ZONE,
	.open = cf_open,
	.close = cf_close,
	.find_zone = cf_find_zone,
	.publish = cf_publish,
	.withdraw = cf_withdraw,
	.read = cf_read,
};
