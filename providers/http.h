/*
 * http.h - private to providers/: the libcurl and jansson plumbing the HTTP
 * backends share (timeouts, TLS, no redirects, bounded bodies, retries with
 * capped backoff that honours Retry-After, error messages that name the
 * provider, the request and the status but never a secret), and the TXT
 * presentation-format helpers every backend needs.
 */
#ifndef DKIMROT_PROVIDERS_HTTP_H
#define DKIMROT_PROVIDERS_HTTP_H

#include <stdbool.h>
#include <stddef.h>

#include <curl/curl.h>
#include <jansson.h>

#include "providers.h"

#define HTTP_BODY_MAX (4u * 1024 * 1024)	/* a larger reply is an error */
#define HTTP_ATTEMPTS 4				/* tries per request, first included */
#define HTTP_BACKOFF_ENV "DKIMROT_HTTP_BACKOFF_MS"	/* first wait, for tests */

struct http_client {
	CURL *curl;
	const struct conf_dns *conf;
	char base[1024];		/* conf->url without a final slash */
	struct curl_slist *headers;	/* holds the credential: wiped on close */
	unsigned long *requests;	/* the provider's counter */
	long backoff_ms;		/* wait before the first retry, doubled after */
	long cap_ms;			/* longest single wait, Retry-After included */
};

struct http_reply {
	long status;
	char *body;
	size_t len;
	json_t *json;			/* the parsed body; NULL when it was empty */
};

/* Flags for http_call(). */
enum http_flags {
	/*
	 * Repeating the request cannot do harm: retry it after a 5xx or a
	 * broken connection too.  Without it only a 429 (the server says it did
	 * nothing) or a refused connection is retried.
	 */
	HTTP_IDEMPOTENT = 1 << 0,
};

/*
 * Prepare a client for `url` (NULL or empty: conf->url).  `auth` is one
 * header line carrying the credential ("X-API-Key: ..."); it is copied and
 * the copy is wiped on close.
 */
int http_client_open(struct http_client *c, const struct conf_dns *conf, const char *url,
		     const char *auth, unsigned long *requests, struct dkr_error *e);
void http_client_close(struct http_client *c);

/*
 * One API request: `path` is appended to the base URL, `body` (may be NULL)
 * is sent as JSON.  Succeeds only for a 2xx reply whose body is empty or
 * valid JSON (then in r->json).  429 and 5xx are retried as HTTP_IDEMPOTENT
 * allows, then DKR_ETEMP; 3xx and 4xx are DKR_EHTTP, with the server's own
 * error text when it gave one.  r is filled on failure too (status, body)
 * so a caller can look at a 4xx; free it with http_reply_free().
 */
int http_call(struct http_client *c, const char *method, const char *path,
	      const json_t *body, unsigned flags, struct http_reply *r, struct dkr_error *e);
void http_reply_free(struct http_reply *r);

/*
 * Up to 200 bytes of `in`, non-printable bytes replaced, "..." when cut:
 * server text made safe to quote in a message or a log line.
 */
void http_excerpt(const char *in, size_t len, char *out, size_t out_len);

/*
 * The server's own words from an error body: PowerDNS's "error", the
 * messages and codes of Cloudflare's "errors", else a bounded excerpt.
 */
void http_error_text(const struct http_reply *r, char *out, size_t len);

/* A URL-encoded copy of `s` (malloc'd). */
char *http_escape(struct http_client *c, const char *s);

/*
 * The failure sentence for a reply of the right status but the wrong shape:
 * "powerdns \"pdns\": GET /path: HTTP 200: <why>".
 */
int http_bad_shape(struct http_client *c, const char *method, const char *path,
		   const struct http_reply *r, const char *why, struct dkr_error *e);

/* -------------------------------------------------------- TXT and names */

#define TXT_RECORD_MAX 65535	/* joined content we accept from a server */

/*
 * Presentation format to joined content: a sequence of quoted strings
 * ("a" "b" -> ab, with \" \\ and \DDD escapes) or, when `text` does not
 * start with a quote, the text itself (Cloudflare's unquoted form).
 */
int txt_join(const char *text, char **out, struct dkr_error *e);

/* Joined content to presentation format, in quoted strings of <= 255 bytes. */
int txt_quote(const char *record, char **out, struct dkr_error *e);

/*
 * The name and zone of `rr` are sane DNS names (letters, digits, '-', '_',
 * dots between non-empty labels, no final dot), the name lies in the zone,
 * and the record is printable ASCII of a sane length.  `need_record`
 * says whether rr->record may be NULL.
 */
int provider_rr_check(const struct conf_dns *conf, const struct provider_rr *rr,
		      bool need_record, struct dkr_error *e);

/* "powerdns \"pdns\"": how every message names the backend. */
#define PROVIDER_FMT "%s \"%s\""
#define PROVIDER_ARGS(conf) conf_dns_type_name((conf)->type), (conf)->name

/* The credential from conf->api_secret or, when empty, conf->api_secret_file. */
int provider_secret(const struct conf_dns *conf, char **out, struct dkr_error *e);

#endif
