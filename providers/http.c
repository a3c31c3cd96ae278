/*
 * http.c - the HTTP plumbing the PowerDNS and Cloudflare backends share, and
 * the TXT helpers every backend uses.  One place decides timeouts, TLS,
 * redirects, body limits, which failures are retried and how long to wait,
 * and how a failure is told to the operator without leaking the credential.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "http.h"

#define BACKOFF_DEFAULT_MS 500
#define WAIT_CAP_MS 60000	/* no single wait longer than this, whatever the server says */
#define CONNECT_TIMEOUT_MAX 10	/* seconds; the total timeout comes from the config */
#define EXCERPT_MAX 200		/* bytes of a server's error text quoted in a message */

struct body_buf {
	char *data;
	size_t len;
	bool overflow;
};

/* ---------------------------------------------------------------- client */

static size_t body_write(char *ptr, size_t size, size_t n, void *arg)
{
	struct body_buf *b = arg;
	size_t add = size * n;
	char *grown;

	/* Refuse the body as soon as it passes the limit, not once it is read. */
	if (add > HTTP_BODY_MAX - b->len) {
		b->overflow = true;
		return 0;
	}
	grown = realloc(b->data, b->len + add + 1);
	if (grown == NULL)
		return 0;
	memcpy(grown + b->len, ptr, add);
	b->len += add;
	grown[b->len] = '\0';
	b->data = grown;
	return add;
}

static long backoff_from_env(void)
{
	const char *v = getenv(HTTP_BACKOFF_ENV);
	char *end;
	long ms;

	if (v == NULL || *v == '\0')
		return BACKOFF_DEFAULT_MS;
	errno = 0;
	ms = strtol(v, &end, 10);
	if (errno != 0 || *end != '\0' || ms < 0 || ms > WAIT_CAP_MS)
		return BACKOFF_DEFAULT_MS;
	return ms;
}

static bool header_ok(const char *h)
{
	/* A CR or LF in a credential would smuggle a header into the request. */
	for (; *h != '\0'; h++)
		if (!isprint((unsigned char)*h))
			return false;
	return true;
}

int http_client_open(struct http_client *c, const struct conf_dns *conf, const char *url,
		     const char *auth, unsigned long *requests, struct dkr_error *e)
{
	static bool global_done;
	size_t len;

	memset(c, 0, sizeof(*c));
	c->conf = conf;
	c->requests = requests;

	if (url == NULL || url[0] == '\0')
		url = conf->url;
	if (strncasecmp(url, "https://", 8) != 0 && strncasecmp(url, "http://", 7) != 0)
		return dkr_fail(e, DKR_ECONFIG, PROVIDER_FMT " (line %d): url \"%.200s\" must "
				"start with https:// or http://", PROVIDER_ARGS(conf), conf->line,
				url);
	if (!str_copy(c->base, sizeof(c->base), url))
		return dkr_fail(e, DKR_ECONFIG, PROVIDER_FMT ": url is too long",
				PROVIDER_ARGS(conf));
	len = strlen(c->base);
	while (len > 0 && c->base[len - 1] == '/')
		c->base[--len] = '\0';

	if (!header_ok(auth))
		return dkr_fail(e, DKR_ECONFIG, PROVIDER_FMT ": the credential in %s holds "
				"a control character", PROVIDER_ARGS(conf),
				conf->api_secret_file[0] != '\0' ? conf->api_secret_file :
				"the configuration");

	if (!global_done) {
		if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
			return dkr_fail(e, DKR_ENOMEM, "libcurl failed to initialise");
		global_done = true;
	}
	c->curl = curl_easy_init();
	if (c->curl == NULL)
		return dkr_fail(e, DKR_ENOMEM, "libcurl failed to create a handle");

	c->headers = curl_slist_append(NULL, auth);
	if (c->headers != NULL)
		c->headers = curl_slist_append(c->headers, "Accept: application/json");
	if (c->headers != NULL)
		c->headers = curl_slist_append(c->headers, "Content-Type: application/json");
	if (c->headers == NULL) {
		http_client_close(c);
		return dkr_fail(e, DKR_ENOMEM, "out of memory building HTTP headers");
	}

	c->backoff_ms = backoff_from_env();
	c->cap_ms = conf->timeout > 0 && conf->timeout * 1000 < WAIT_CAP_MS ?
		    (long)conf->timeout * 1000 : WAIT_CAP_MS;
	return DKR_OK;
}

void http_client_close(struct http_client *c)
{
	struct curl_slist *h;

	/* libcurl frees the strings without wiping them: wipe the credential first. */
	for (h = c->headers; h != NULL; h = h->next)
		explicit_bzero(h->data, strlen(h->data));
	curl_slist_free_all(c->headers);
	c->headers = NULL;
	if (c->curl != NULL)
		curl_easy_cleanup(c->curl);
	c->curl = NULL;
}

void http_reply_free(struct http_reply *r)
{
	free(r->body);
	json_decref(r->json);
	memset(r, 0, sizeof(*r));
}

char *http_escape(struct http_client *c, const char *s)
{
	char *esc = curl_easy_escape(c->curl, s, 0);
	char *copy;

	if (esc == NULL)
		abort();
	copy = xstrdup(esc);
	curl_free(esc);
	return copy;
}

/* ------------------------------------------------------------- messages */

/* Printable ASCII only, bounded, so a hostile body cannot forge log lines. */
void http_excerpt(const char *in, size_t len, char *out, size_t out_len)
{
	size_t i, o = 0;

	for (i = 0; i < len && o + 4 < out_len && i < EXCERPT_MAX; i++)
		out[o++] = isprint((unsigned char)in[i]) ? in[i] : ' ';
	if (i < len && o + 4 < out_len) {
		memcpy(out + o, "...", 3);
		o += 3;
	}
	out[o] = '\0';
}

/* The error text of a JSON error body: PowerDNS's "error", Cloudflare's "errors". */
void http_error_text(const struct http_reply *r, char *out, size_t len)
{
	json_t *j = r->json, *errs, *it;
	const char *s;
	size_t i, o = 0;

	out[0] = '\0';
	if (j == NULL && r->body != NULL && r->len > 0)
		j = json_loadb(r->body, r->len, 0, NULL);
	else if (j != NULL)
		json_incref(j);

	if (j != NULL && (s = json_string_value(json_object_get(j, "error"))) != NULL) {
		http_excerpt(s, strlen(s), out, len);
	} else if (j != NULL && json_is_array(errs = json_object_get(j, "errors"))) {
		json_array_foreach(errs, i, it) {
			char one[EXCERPT_MAX + 8];
			json_t *code = json_object_get(it, "code");

			s = json_string_value(json_object_get(it, "message"));
			if (s == NULL || i >= 3)
				break;
			http_excerpt(s, strlen(s), one, sizeof(one));
			o += (size_t)snprintf(out + o, len - o, "%s%s", i > 0 ? "; " : "", one);
			if (json_is_integer(code) && o < len)
				o += (size_t)snprintf(out + o, len - o, " (code %lld)",
						      (long long)json_integer_value(code));
			if (o >= len)
				break;
		}
	}
	if (out[0] == '\0' && r->body != NULL)
		http_excerpt(r->body, r->len, out, len);
	json_decref(j);
}

/* Never let the credential reach a message, even when a server echoes it. */
static void redact(struct http_client *c, struct dkr_error *e)
{
	const char *auth, *secret;
	char *at;
	size_t n;

	if (e == NULL || c->headers == NULL)
		return;
	auth = c->headers->data;
	secret = strchr(auth, ':');
	if (secret == NULL)
		return;
	secret++;
	while (*secret == ' ')
		secret++;
	if (strncmp(secret, "Bearer ", 7) == 0)
		secret += 7;
	n = strlen(secret);
	if (n < 4)
		return;
	while ((at = strstr(e->msg, secret)) != NULL) {
		memset(at, '*', n);
	}
}

int http_bad_shape(struct http_client *c, const char *method, const char *path,
		   const struct http_reply *r, const char *why, struct dkr_error *e)
{
	dkr_fail(e, DKR_EHTTP, PROVIDER_FMT ": %s %s: HTTP %ld: %s", PROVIDER_ARGS(c->conf),
		 method, path, r->status, why);
	redact(c, e);
	return DKR_EHTTP;
}

/* ---------------------------------------------------------------- calls */

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

static bool curl_err_transient(CURLcode cc, bool idempotent)
{
	/* Not connected at all: the server cannot have acted on the request. */
	if (cc == CURLE_COULDNT_CONNECT || cc == CURLE_COULDNT_RESOLVE_HOST)
		return true;
	if (!idempotent)
		return false;
	return cc == CURLE_OPERATION_TIMEDOUT || cc == CURLE_GOT_NOTHING ||
	       cc == CURLE_SEND_ERROR || cc == CURLE_RECV_ERROR || cc == CURLE_PARTIAL_FILE;
}

static void set_options(struct http_client *c, const char *method, const char *url,
			const char *payload, struct body_buf *buf, char *errbuf)
{
	CURL *h = c->curl;
	long total = c->conf->timeout > 0 ? (long)c->conf->timeout : 30;

	/* Reset keeps the connection cache, so a backend reuses one connection. */
	curl_easy_reset(h);
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
	if (payload != NULL) {
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, payload);
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)strlen(payload));
	}
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, c->headers);
	curl_easy_setopt(h, CURLOPT_USERAGENT, "dkimrot");
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, total < CONNECT_TIMEOUT_MAX ?
			 total : (long)CONNECT_TIMEOUT_MAX);
	curl_easy_setopt(h, CURLOPT_TIMEOUT, total);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
	if (c->conf->ca_file[0] != '\0')
		curl_easy_setopt(h, CURLOPT_CAINFO, c->conf->ca_file);
	/* Verbose output would print the credential header: keep it off. */
	curl_easy_setopt(h, CURLOPT_VERBOSE, 0L);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, body_write);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, buf);
}

/* How long to wait before attempt `n` (1-based retry number). */
static long retry_wait(struct http_client *c, int n)
{
	curl_off_t after = -1;
	long ms = c->backoff_ms;
	int i;

	for (i = 1; i < n && ms < c->cap_ms; i++)
		ms *= 2;
	if (curl_easy_getinfo(c->curl, CURLINFO_RETRY_AFTER, &after) == CURLE_OK &&
	    after > 0 && after * 1000 > ms)
		ms = after > c->cap_ms / 1000 ? c->cap_ms : (long)after * 1000;
	return ms < c->cap_ms ? ms : c->cap_ms;
}

/* One round trip; *cc and r->status say how it went. */
static void call_once(struct http_client *c, const char *method, const char *url,
		      const char *payload, struct http_reply *r, CURLcode *cc,
		      bool *overflow, char *errbuf)
{
	struct body_buf buf = { NULL, 0, false };

	errbuf[0] = '\0';
	set_options(c, method, url, payload, &buf, errbuf);
	(*c->requests)++;
	*cc = curl_easy_perform(c->curl);
	*overflow = buf.overflow;

	http_reply_free(r);
	r->body = buf.data;
	r->len = buf.len;
	if (*cc == CURLE_OK)
		curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &r->status);
}

static int reply_check(struct http_client *c, const char *method, const char *path,
		       struct http_reply *r, int attempts, struct dkr_error *e)
{
	bool temp = r->status == 429 || r->status >= 500;
	char tries[32] = "";
	char text[EXCERPT_MAX * 3 + 64];
	json_error_t jerr;
	char *loc = NULL;

	if (r->status >= 300 && r->status < 400) {
		curl_easy_getinfo(c->curl, CURLINFO_REDIRECT_URL, &loc);
		return dkr_fail(e, DKR_EHTTP, PROVIDER_FMT ": %s %s: HTTP %ld: redirected "
				"to %s, which dkimrot does not follow; set url to the API's "
				"real address", PROVIDER_ARGS(c->conf), method, path, r->status,
				loc != NULL ? loc : "(no Location)");
	}

	if (r->len > 0) {
		r->json = json_loadb(r->body, r->len, 0, &jerr);
		if (r->json == NULL && r->status >= 200 && r->status < 300) {
			snprintf(text, sizeof(text), "malformed JSON body (line %d column %d: %s)",
				 jerr.line, jerr.column, jerr.text);
			return http_bad_shape(c, method, path, r, text, e);
		}
	}
	if (r->status >= 200 && r->status < 300)
		return DKR_OK;

	/* A 429 or 5xx that outlived the retries is still worth a later try. */
	http_error_text(r, text, sizeof(text));
	if (temp)
		snprintf(tries, sizeof(tries), " (after %d attempt%s)", attempts,
			 attempts == 1 ? "" : "s");
	return dkr_fail(e, temp ? DKR_ETEMP : DKR_EHTTP, PROVIDER_FMT ": %s %s: HTTP %ld%s%s%s",
			PROVIDER_ARGS(c->conf), method, path, r->status,
			text[0] != '\0' ? ": " : "", text, tries);
}

int http_call(struct http_client *c, const char *method, const char *path,
	      const json_t *body, unsigned flags, struct http_reply *r, struct dkr_error *e)
{
	bool idem = (flags & HTTP_IDEMPOTENT) != 0, overflow = false;
	char errbuf[CURL_ERROR_SIZE], text[EXCERPT_MAX * 3 + 64];
	char *url = NULL, *payload = NULL;
	CURLcode cc = CURLE_OK;
	int attempt, rc;

	memset(r, 0, sizeof(*r));
	url = xasprintf("%s%s", c->base, path);
	if (body != NULL) {
		payload = json_dumps(body, JSON_COMPACT);
		if (payload == NULL) {
			rc = dkr_fail(e, DKR_ENOMEM, "out of memory encoding a request");
			goto out;
		}
	}

	for (attempt = 1;; attempt++) {
		bool again;
		long ms;

		call_once(c, method, url, payload, r, &cc, &overflow, errbuf);
		if (cc == CURLE_OK)
			again = r->status == 429 || (idem && r->status >= 500);
		else
			again = !overflow && curl_err_transient(cc, idem);
		if (!again || attempt >= HTTP_ATTEMPTS)
			break;

		ms = retry_wait(c, attempt);

		if (cc == CURLE_OK)
			log_msg(LOG_LVL_WARNING, PROVIDER_FMT ": %s %s: HTTP %ld, retrying in "
				"%ld ms", PROVIDER_ARGS(c->conf), method, path, r->status, ms);
		else
			log_msg(LOG_LVL_WARNING, PROVIDER_FMT ": %s %s: %s, retrying in %ld ms",
				PROVIDER_ARGS(c->conf), method, path,
				errbuf[0] != '\0' ? errbuf : curl_easy_strerror(cc), ms);
		sleep_ms(ms);
	}

	if (overflow) {
		curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &r->status);
		snprintf(text, sizeof(text), "reply body larger than %u bytes, refused",
			 HTTP_BODY_MAX);
		rc = http_bad_shape(c, method, path, r, text, e);
	} else if (cc != CURLE_OK) {
		rc = dkr_fail(e, curl_err_transient(cc, true) ? DKR_ETEMP : DKR_EHTTP,
			      PROVIDER_FMT ": %s %s: %s (after %d attempt%s)",
			      PROVIDER_ARGS(c->conf), method, path,
			      errbuf[0] != '\0' ? errbuf : curl_easy_strerror(cc), attempt,
			      attempt == 1 ? "" : "s");
	} else {
		rc = reply_check(c, method, path, r, attempt, e);
	}

out:
	redact(c, e);
	free(url);
	free(payload);
	return rc;
}

/* ---------------------------------------------------------- TXT helpers */

/* One quoted string at *pp; appends its bytes to out at *o. */
static int join_one(const char **pp, char *out, size_t *o, struct dkr_error *e)
{
	const char *p = *pp + 1;

	for (; *p != '"'; p++) {
		unsigned char ch = (unsigned char)*p;

		if (ch == '\0')
			return dkr_fail(e, DKR_EINVAL, "TXT content has an unterminated quote");
		if (ch == '\\') {
			p++;
			if (isdigit((unsigned char)p[0]) && isdigit((unsigned char)p[1]) &&
			    isdigit((unsigned char)p[2])) {
				int v = (p[0] - '0') * 100 + (p[1] - '0') * 10 + (p[2] - '0');

				if (v > 255)
					return dkr_fail(e, DKR_EINVAL, "TXT content has a bad "
							"escape \\%.3s", p);
				ch = (unsigned char)v;
				p += 2;
			} else if (*p == '\0') {
				return dkr_fail(e, DKR_EINVAL, "TXT content ends in a backslash");
			} else {
				ch = (unsigned char)*p;
			}
		}
		if (*o >= TXT_RECORD_MAX)
			return dkr_fail(e, DKR_EINVAL, "TXT content is longer than %d bytes",
					TXT_RECORD_MAX);
		out[(*o)++] = (char)ch;
	}
	*pp = p + 1;
	return DKR_OK;
}

int txt_join(const char *text, char **out, struct dkr_error *e)
{
	const char *p = text;
	char *buf;
	size_t o = 0;
	int rc;

	*out = NULL;
	if (strlen(text) > TXT_RECORD_MAX * 2)
		return dkr_fail(e, DKR_EINVAL, "TXT content is longer than %d bytes",
				TXT_RECORD_MAX);
	while (*p == ' ' || *p == '\t')
		p++;
	if (*p != '"') {
		*out = xstrdup(text);
		return DKR_OK;
	}

	buf = xcalloc(1, TXT_RECORD_MAX + 1);
	while (*p != '\0') {
		if (*p != '"') {
			rc = dkr_fail(e, DKR_EINVAL, "TXT content has text outside quotes");
			goto out;
		}
		rc = join_one(&p, buf, &o, e);
		if (rc != DKR_OK)
			goto out;
		while (*p == ' ' || *p == '\t')
			p++;
	}
	buf[o] = '\0';
	*out = buf;
	buf = NULL;
	rc = DKR_OK;
out:
	free(buf);
	return rc;
}

int txt_quote(const char *record, char **out, struct dkr_error *e)
{
	size_t len = strlen(record), i, o = 0;
	char *buf;

	*out = NULL;
	if (len == 0 || len > TXT_RECORD_MAX)
		return dkr_fail(e, DKR_EINVAL, "a TXT record of %zu bytes cannot be published",
				len);
	/* Worst case: every byte escaped, plus quotes and a space per 255. */
	buf = xcalloc(1, len * 2 + (len / 255 + 1) * 3 + 1);
	for (i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)record[i];

		if (ch < 0x20 || ch > 0x7e) {
			free(buf);
			return dkr_fail(e, DKR_EINVAL, "the TXT record holds a byte 0x%02x "
					"that is not printable ASCII", ch);
		}
		if (i % 255 == 0) {
			if (i > 0) {
				buf[o++] = '"';
				buf[o++] = ' ';
			}
			buf[o++] = '"';
		}
		if (ch == '"' || ch == '\\')
			buf[o++] = '\\';
		buf[o++] = (char)ch;
	}
	buf[o++] = '"';
	buf[o] = '\0';
	*out = buf;
	return DKR_OK;
}

int provider_rr_check(const struct conf_dns *conf, const struct provider_rr *rr,
		      bool need_record, struct dkr_error *e)
{
	size_t i, len;

	if (!name_is_hostname(rr->zone))
		return dkr_fail(e, DKR_EINVAL, PROVIDER_FMT ": \"%.300s\" is not a valid zone name",
				PROVIDER_ARGS(conf), rr->zone != NULL ? rr->zone : "");
	if (!name_is_hostname(rr->name))
		return dkr_fail(e, DKR_EINVAL, PROVIDER_FMT ": \"%.300s\" is not a valid DNS name",
				PROVIDER_ARGS(conf), rr->name != NULL ? rr->name : "");
	if (!name_in_zone(rr->name, rr->zone))
		return dkr_fail(e, DKR_EINVAL, PROVIDER_FMT ": %s is not in zone %s",
				PROVIDER_ARGS(conf), rr->name, rr->zone);
	if (rr->record == NULL) {
		if (need_record)
			return dkr_fail(e, DKR_EINVAL, PROVIDER_FMT ": no record given for %s",
					PROVIDER_ARGS(conf), rr->name);
		return DKR_OK;
	}
	len = strlen(rr->record);
	if (len == 0 || len > TXT_RECORD_MAX)
		return dkr_fail(e, DKR_EINVAL, PROVIDER_FMT ": a record of %zu bytes for %s "
				"cannot be published", PROVIDER_ARGS(conf), len, rr->name);
	for (i = 0; i < len; i++)
		if (rr->record[i] < 0x20 || rr->record[i] > 0x7e)
			return dkr_fail(e, DKR_EINVAL, PROVIDER_FMT ": the record for %s holds "
					"a byte that is not printable ASCII", PROVIDER_ARGS(conf),
					rr->name);
	return DKR_OK;
}

int provider_secret(const struct conf_dns *conf, char **out, struct dkr_error *e)
{
	*out = NULL;
	if (conf->api_secret != NULL && conf->api_secret[0] != '\0') {
		*out = xstrdup(conf->api_secret);
		return DKR_OK;
	}
	if (conf->api_secret_file[0] == '\0')
		return dkr_fail(e, DKR_ECONFIG, PROVIDER_FMT " (line %d): no credential "
				"file configured", PROVIDER_ARGS(conf), conf->line);
	return secret_read(conf->api_secret_file, out, e);
}
