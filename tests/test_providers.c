/*
 * test_providers.c - the DNS backends behind providers.h: Cloudflare against
 * tests/mock_cloudflare.py, PowerDNS against a real pdns_server (SQLite, on
 * loopback) and, for failures a real server will not produce, against the
 * mock; the command hook against small hook programs written per test.
 */
#include <criterion/criterion.h>
#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../dnsupdate/dnsupdate.h"
#include "../providers/http.h"	/* private helpers, tested directly */
#include "../providers/providers.h"
#include "helper.h"

#define TOKEN "cf-token-0123456789secret"
/* The mock makes a zone's id from md5 of its name. */
#define ZONE_ID "5ababd603b22780302dd8d83498e5172"
#define SEL "k20270301._domainkey.example.com"
#define PDNS_DNS_PORT 25520
#define PDNS_API_PORT 25521
#define PDNS_SEL "k20270301._domainkey.example.test"

static char *tmp;
static pid_t mock_pid;
static int mock_port;
static bool pdns_running;
static struct conf_dns conf;

/* A real 2048-bit RSA key's record: 410 bytes, longer than one string. */
static const char record[] =
	"v=DKIM1; k=rsa; p=MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAilBcVk6RPRjrjXSGGROC"
	"ejkEA3Sir+kbeVUtwB/p3pBO+U6ZETSv6NrtlrXle9KpysmP41LGcnYC8zpIodoYDgc7XjNjvsKCgkrqT"
	"RX7UB6HcR0egjYkpxTMPKCGfJtAX+srX7/XhGDe1/SgVw/+/x47QXGcW36ZjMQaEuL0+0MLAufF3S9top"
	"Y5HLpYoPH16PVlAvlRwrLaZhAW5kl7B5137f8VZ9VuCjKT6IOS4rzYjiVnt7mJctcudpSLcaeS0QbvfZP"
	"zKcSUiVnDQXAExFS0hLRsQQjgWcvWQcgeEO6EklqNR6e/EYt7Qopuf7I8HcFS6wcYZhafdy31vQLHUQID"
	"AQAB";

static double mono_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ------------------------------------------------------------ the mock */

static void mock_start(void)
{
	char *port_file, *script;
	FILE *f;
	int i;

	if (asprintf(&port_file, "%s/mock.port", tmp) < 0 ||
	    asprintf(&script, "%s/tests/mock_cloudflare.py", test_top_dir()) < 0)
		abort();
	mock_pid = fork();
	cr_assert(mock_pid >= 0);
	if (mock_pid == 0) {
		execl("/usr/bin/python3", "python3", script, "--port-file", port_file,
		      "--token", TOKEN, "--zone", "example.com", "--max-life", "120",
		      (char *)NULL);
		_exit(127);
	}
	for (i = 0; i < 100 && access(port_file, F_OK) != 0; i++)
		usleep(50000);
	f = fopen(port_file, "r");
	cr_assert(f != NULL, "the mock did not start");
	cr_assert(fscanf(f, "%d", &mock_port) == 1);
	fclose(f);
	free(port_file);
	free(script);
}

static size_t collect(char *ptr, size_t size, size_t n, void *arg)
{
	FILE *f = arg;

	return fwrite(ptr, size, n, f);
}

/* A request to the mock's control side; returns the parsed reply. */
static json_t *mock_call(const char *method, const char *path, const char *body)
{
	CURL *h = curl_easy_init();
	char *url, *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	json_t *j;

	if (asprintf(&url, "http://127.0.0.1:%d%s", mock_port, path) < 0)
		abort();
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
	if (body != NULL)
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, collect);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, f);
	cr_assert(curl_easy_perform(h) == CURLE_OK, "the mock did not answer %s", path);
	fclose(f);
	curl_easy_cleanup(h);
	j = json_loads(buf, 0, NULL);
	cr_assert(j != NULL, "the mock's reply is not JSON: %s", buf);
	free(buf);
	free(url);
	return j;
}

static void mock_control(const char *body)
{
	json_decref(mock_call("POST", "/__control", body));
}

/* The mock's records; the caller owns the reference. */
static json_t *mock_records(void)
{
	json_t *st = mock_call("GET", "/__state", NULL);
	json_t *r = json_incref(json_object_get(st, "records"));

	json_decref(st);
	return r;
}

/* How many requests the mock saw whose "METHOD path" starts with `prefix`. */
static size_t mock_count(const char *prefix)
{
	json_t *st = mock_call("GET", "/__state", NULL), *it;
	size_t i, n = 0;

	json_array_foreach(json_object_get(st, "requests"), i, it)
		if (strncmp(json_string_value(it), prefix, strlen(prefix)) == 0)
			n++;
	json_decref(st);
	return n;
}

static void mock_stop(void)
{
	if (mock_pid > 0) {
		kill(mock_pid, SIGTERM);
		waitpid(mock_pid, NULL, 0);
	}
	mock_pid = 0;
}

/* ------------------------------------------------------------ fixtures */

static void common_setup(const char *tag)
{
	tmp = test_tmpdir_make(tag);
	setenv("DKIMROT_HTTP_BACKOFF_MS", "10", 1);
	log_init("test", false, LOG_LVL_ERR);
	memset(&conf, 0, sizeof(conf));
	conf.timeout = 5;
	conf.line = 7;
}

static void cf_setup(void)
{
	char *token;

	common_setup("cf");
	mock_start();
	token = test_write_file(tmp, "cf.token", TOKEN "\n", 0600);
	snprintf(conf.name, sizeof(conf.name), "cf");
	conf.type = DNS_CLOUDFLARE;
	snprintf(conf.url, sizeof(conf.url), "http://127.0.0.1:%d/client/v4", mock_port);
	snprintf(conf.api_secret_file, sizeof(conf.api_secret_file), "%s", token);
	free(token);
}

static void teardown(void)
{
	mock_stop();
	if (pdns_running)
		test_sh("%s/scripts/pdns-test.sh stop %s/pdns", test_top_dir(), tmp);
	pdns_running = false;
	test_tmpdir_remove(tmp);
	tmp = NULL;
}

static struct provider *open_ok(void)
{
	struct dkr_error e = { 0 };
	struct provider *p = NULL;

	cr_assert_eq(provider_open(&conf, &p, &e), DKR_OK, "%s", e.msg);
	return p;
}

static struct provider_rr rr_of(const char *zone, const char *name, const char *rec)
{
	struct provider_rr rr = { .zone = zone, .name = name, .ttl = 300, .record = rec };

	return rr;
}

/* --------------------------------------------------------- Cloudflare */

TestSuite(cloudflare, .init = cf_setup, .fini = teardown);

Test(cloudflare, publishes_a_record_in_three_requests_and_reads_it_back)
{
	struct provider_rr rr = rr_of("example.com", SEL, record);
	struct dkr_error e = { 0 };
	struct provider *p = open_ok();
	json_t *recs;
	char *got = NULL;

	cr_assert_eq(p->ops->publish(p, &rr, &e), DKR_OK, "%s", e.msg);
	cr_assert_eq(p->requests, 3);	/* zone id, list, create */
	recs = mock_records();
	cr_assert_eq(json_array_size(recs), 1);
	cr_assert_str_eq(json_string_value(json_object_get(json_array_get(recs, 0), "name")),
			 SEL);
	cr_assert_str_eq(json_string_value(json_object_get(json_array_get(recs, 0),
							   "content")), record);
	cr_assert_eq(json_integer_value(json_object_get(json_array_get(recs, 0), "ttl")), 300);
	json_decref(recs);

	cr_assert_eq(p->ops->read(p, "example.com", SEL, &got, &e), DKR_OK, "%s", e.msg);
	cr_assert_str_eq(got, record);
	cr_assert_eq(p->requests, 4);	/* the zone id is cached */
	free(got);
	provider_close(p);
}

Test(cloudflare, republish_after_a_crash_lists_and_creates_nothing)
{
	struct provider_rr rr = rr_of("example.com", SEL, record);
	struct dkr_error e = { 0 };
	struct provider *p = open_ok(), *q;
	json_t *recs;

	cr_assert_eq(p->ops->publish(p, &rr, &e), DKR_OK, "%s", e.msg);
	provider_close(p);	/* the daemon dies here and starts again */

	q = open_ok();
	cr_assert_eq(q->ops->publish(q, &rr, &e), DKR_OK, "%s", e.msg);
	cr_assert_eq(q->requests, 2);	/* zone id and list, no create */
	cr_assert_eq(mock_count("POST"), 1);
	recs = mock_records();
	cr_assert_eq(json_array_size(recs), 1);
	json_decref(recs);
	provider_close(q);
}

Test(cloudflare, a_long_record_returned_in_quoted_pieces_counts_as_ours)
{
	struct provider_rr rr = rr_of("example.com", SEL, record);
	struct dkr_error e = { 0 };
	struct provider *p = open_ok();
	json_t *recs;
	char *got = NULL;

	mock_control("{\"presplit\": true}");
	cr_assert_eq(p->ops->publish(p, &rr, &e), DKR_OK, "%s", e.msg);
	recs = mock_records();
	cr_assert_eq(strncmp(json_string_value(json_object_get(json_array_get(recs, 0),
								"content")), "\"v=DKIM1", 8), 0);
	json_decref(recs);

	cr_assert_eq(p->ops->publish(p, &rr, &e), DKR_OK, "%s", e.msg);
	cr_assert_eq(mock_count("POST"), 1);
	cr_assert_eq(p->ops->read(p, "example.com", SEL, &got, &e), DKR_OK, "%s", e.msg);
	cr_assert_str_eq(got, record);
	free(got);

	cr_assert_eq(p->ops->withdraw(p, &rr, &e), DKR_OK, "%s", e.msg);
	recs = mock_records();
	cr_assert_eq(json_array_size(recs), 0);
	json_decref(recs);
	provider_close(p);
}

Test(cloudflare, withdraw_deletes_our_record_and_no_other_name)
{
	struct provider_rr rr = rr_of("example.com", SEL, record);
	struct dkr_error e = { 0 };
	struct provider *p = open_ok();
	json_t *recs;

	mock_control("{\"records\": [{\"name\": \"example.com\", \"content\": \"v=spf1 -all\"}]}");
	cr_assert_eq(p->ops->publish(p, &rr, &e), DKR_OK, "%s", e.msg);
	p->requests = 0;
	cr_assert_eq(p->ops->withdraw(p, &rr, &e), DKR_OK, "%s", e.msg);
	cr_assert_eq(p->requests, 2);	/* list, delete */
	recs = mock_records();
	cr_assert_eq(json_array_size(recs), 1);
	cr_assert_str_eq(json_string_value(json_object_get(json_array_get(recs, 0), "content")),
			 "v=spf1 -all");
	json_decref(recs);

	/* Withdrawing again finds nothing and succeeds without a change. */
	cr_assert_eq(p->ops->withdraw(p, &rr, &e), DKR_OK, "%s", e.msg);
	cr_assert_eq(mock_count("DELETE"), 1);
	provider_close(p);
}

Test(cloudflare, refuses_to_overwrite_or_delete_a_record_it_did_not_write)
{
	struct provider_rr rr = rr_of("example.com", SEL, record);
	struct dkr_error e = { 0 };
	struct provider *p = open_ok();
	json_t *recs;

	mock_control("{\"records\": [{\"name\": \"" SEL "\", \"content\": \"hello world\"}]}");
	cr_assert_eq(p->ops->publish(p, &rr, &e), DKR_EDNS);
	cr_assert_str_eq(e.msg, "cloudflare \"cf\": " SEL " holds 1 TXT record dkimrot did not "
			 "write (\"hello world\"); dkimrot does not overwrite it");
	cr_assert_eq(p->ops->withdraw(p, &rr, &e), DKR_EDNS);
	cr_assert_str_eq(e.msg, "cloudflare \"cf\": " SEL " holds 1 TXT record dkimrot did not "
			 "write (\"hello world\"); nothing at that name is deleted");
	cr_assert_eq(mock_count("POST"), 0);
	cr_assert_eq(mock_count("DELETE"), 0);
	recs = mock_records();
	cr_assert_eq(json_array_size(recs), 1);
	json_decref(recs);
	provider_close(p);
}

Test(cloudflare, follows_every_page_of_records)
{
	struct dkr_error e = { 0 };
	struct provider *p = open_ok();
	char *got = NULL;

	mock_control("{\"per_page\": 2, \"records\": ["
		     "{\"name\": \"" SEL "\", \"content\": \"a\"},"
		     "{\"name\": \"" SEL "\", \"content\": \"b\"},"
		     "{\"name\": \"" SEL "\", \"content\": \"c\"},"
		     "{\"name\": \"" SEL "\", \"content\": \"d\"},"
		     "{\"name\": \"" SEL "\", \"content\": \"e\"}]}");
	cr_assert_eq(p->ops->read(p, "example.com", SEL, &got, &e), DKR_EDNS);
	cr_assert_str_eq(e.msg, "cloudflare \"cf\": " SEL " holds 5 TXT records, the first "
			 "\"a\"; a DKIM selector needs exactly one");
	cr_assert_null(got);
	cr_assert_eq(p->requests, 4);	/* zone id and three pages */
	cr_assert_eq(mock_count("GET /zones/" ZONE_ID "/dns_records?type=TXT&name=" SEL
				"&per_page=100&page=3"), 1);
	provider_close(p);
}

Test(cloudflare, finds_the_zone_walking_up_the_name)
{
	struct dkr_error e = { 0 };
	struct provider *p = open_ok();
	char zone[DKR_NAME_MAX + 1];

	cr_assert_eq(p->ops->find_zone(p, SEL, zone, sizeof(zone), &e), DKR_OK, "%s", e.msg);
	cr_assert_str_eq(zone, "example.com");
	cr_assert_eq(p->requests, 3);
	cr_assert_eq(p->ops->find_zone(p, "k1._domainkey.example.org", zone, sizeof(zone), &e),
		     DKR_ENOTFOUND);
	cr_assert_str_eq(e.msg, "cloudflare \"cf\": no zone of the account holds "
			 "k1._domainkey.example.org");
	provider_close(p);
}

Test(cloudflare, retries_429_honouring_retry_after)
{
	struct provider_rr rr = rr_of("example.com", SEL, record);
	struct dkr_error e = { 0 };
	struct provider *p = open_ok();
	double t0;

	mock_control("{\"faults\": [{\"status\": 429, \"retry_after\": 1, \"times\": 2, "
		     "\"body\": \"error\", \"code\": 971, \"message\": \"Please wait\"}]}");
	t0 = mono_now();
	cr_assert_eq(p->ops->publish(p, &rr, &e), DKR_OK, "%s", e.msg);
	cr_assert_geq(mono_now() - t0, 2.0);	/* the backoff base is 10 ms */
	cr_assert_lt(mono_now() - t0, 5.0);
	cr_assert_eq(p->requests, 5);
	provider_close(p);
}

Test(cloudflare, gives_up_on_5xx_after_four_attempts_as_temporary)
{
	struct provider_rr rr = rr_of("example.com", SEL, record);
	struct dkr_error e = { 0 };
	struct provider *p = open_ok();

	mock_control("{\"faults\": [{\"status\": 500, \"times\": 10}]}");
	cr_assert_eq(p->ops->publish(p, &rr, &e), DKR_ETEMP);
	cr_assert_str_eq(e.msg, "cloudflare \"cf\": GET /zones?name=example.com: HTTP 500: "
			 "Internal error (code 1000) (after 4 attempts)");
	cr_assert_eq(p->requests, 4);
	provider_close(p);
}

Test(cloudflare, recovers_from_one_bad_gateway)
{
	struct provider_rr rr = rr_of("example.com", SEL, record);
	struct dkr_error e = { 0 };
	struct provider *p = open_ok();

	mock_control("{\"faults\": [{\"status\": 502, \"match\": \"GET /zones/\", "
		     "\"body\": \"<html>bad gateway</html>\"}]}");
	cr_assert_eq(p->ops->publish(p, &rr, &e), DKR_OK, "%s", e.msg);
	cr_assert_eq(p->requests, 4);
	provider_close(p);
}

Test(cloudflare, a_create_lost_in_a_5xx_is_found_not_repeated)
{
	struct provider_rr rr = rr_of("example.com", SEL, record);
	struct dkr_error e = { 0 };
	struct provider *p = open_ok();
	json_t *recs;

	mock_control("{\"faults\": [{\"status\": 500, \"match\": \"POST\", \"after\": true}]}");
	cr_assert_eq(p->ops->publish(p, &rr, &e), DKR_OK, "%s", e.msg);
	cr_assert_eq(mock_count("POST"), 1);
	recs = mock_records();
	cr_assert_eq(json_array_size(recs), 1);
	json_decref(recs);
	provider_close(p);
}

Test(cloudflare, a_4xx_is_reported_and_not_retried)
{
	struct provider_rr rr = rr_of("example.com", SEL, record);
	struct dkr_error e = { 0 };
	struct provider *p = open_ok();

	mock_control("{\"faults\": [{\"status\": 400, \"match\": \"POST\", \"code\": 9005, "
		     "\"message\": \"Content for TXT record is invalid\"}]}");
	cr_assert_eq(p->ops->publish(p, &rr, &e), DKR_EHTTP);
	cr_assert_str_eq(e.msg, "cloudflare \"cf\": POST /zones/" ZONE_ID "/dns_records: HTTP "
			 "400: Content for TXT record is invalid (code 9005)");
	cr_assert_eq(mock_count("POST"), 1);
	provider_close(p);
}

Test(cloudflare, a_wrong_token_is_refused_and_never_quoted)
{
	struct provider_rr rr = rr_of("example.com", SEL, record);
	struct dkr_error e = { 0 };
	struct provider *p;
	char *token = test_write_file(tmp, "cf.token", "wrong-token-abcdef\n", 0600);

	free(token);
	p = open_ok();
	mock_control("{\"faults\": [{\"status\": 403, \"body\": \"echo_auth\"}]}");
	cr_assert_eq(p->ops->publish(p, &rr, &e), DKR_EHTTP);
	cr_assert_str_eq(e.msg, "cloudflare \"cf\": GET /zones?name=example.com: HTTP 403: "
			 "Invalid access token: Bearer ****************** (code 9109)");
	cr_assert_eq(p->ops->publish(p, &rr, &e), DKR_EHTTP);
	cr_assert_str_eq(e.msg, "cloudflare \"cf\": GET /zones?name=example.com: HTTP 403: "
			 "Authentication error (code 10000)");
	cr_assert_null(strstr(e.msg, "wrong-token"));
	provider_close(p);
}

Test(cloudflare, a_malformed_body_is_an_error_and_changes_nothing)
{
	struct provider_rr rr = rr_of("example.com", SEL, record);
	struct dkr_error e = { 0 };
	struct provider *p = open_ok();
	const char *want = "cloudflare \"cf\": GET /zones/" ZONE_ID "/dns_records?type=TXT&name="
			   SEL "&per_page=100&page=1: HTTP 200: malformed JSON body";

	mock_control("{\"faults\": [{\"status\": 200, \"match\": \"dns_records\", "
		     "\"body\": \"malformed\"}]}");
	cr_assert_eq(p->ops->publish(p, &rr, &e), DKR_EHTTP);
	cr_assert_eq(strncmp(e.msg, want, strlen(want)), 0, "%s", e.msg);
	cr_assert_eq(mock_count("POST"), 0);
	provider_close(p);
}

Test(cloudflare, an_oversized_body_is_refused)
{
	struct provider_rr rr = rr_of("example.com", SEL, record);
	struct dkr_error e = { 0 };
	struct provider *p = open_ok();

	mock_control("{\"faults\": [{\"status\": 200, \"body\": \"oversized\"}]}");
	cr_assert_eq(p->ops->publish(p, &rr, &e), DKR_EHTTP);
	cr_assert_str_eq(e.msg, "cloudflare \"cf\": GET /zones?name=example.com: HTTP 200: "
			 "reply body larger than 4194304 bytes, refused");
	cr_assert_eq(p->requests, 1);
	provider_close(p);
}

Test(cloudflare, a_result_of_the_wrong_shape_is_an_error)
{
	struct provider_rr rr = rr_of("example.com", SEL, record);
	struct dkr_error e = { 0 };
	struct provider *p = open_ok();

	mock_control("{\"faults\": [{\"status\": 200, \"match\": \"dns_records\", \"body\": "
		     "\"{\\\"success\\\": true, \\\"result\\\": {}}\"}]}");
	cr_assert_eq(p->ops->publish(p, &rr, &e), DKR_EHTTP);
	cr_assert_str_eq(e.msg, "cloudflare \"cf\": GET /zones/" ZONE_ID "/dns_records?type=TXT"
			 "&name=" SEL "&per_page=100&page=1: HTTP 200: \"result\" is not an "
			 "array");
	provider_close(p);
}

Test(cloudflare, a_redirect_is_not_followed)
{
	struct provider_rr rr = rr_of("example.com", SEL, record);
	struct dkr_error e = { 0 };
	struct provider *p = open_ok();

	mock_control("{\"faults\": [{\"status\": 302, \"body\": \"\", "
		     "\"location\": \"http://127.0.0.2:9/elsewhere\"}]}");
	cr_assert_eq(p->ops->publish(p, &rr, &e), DKR_EHTTP);
	cr_assert_str_eq(e.msg, "cloudflare \"cf\": GET /zones?name=example.com: HTTP 302: "
			 "redirected to http://127.0.0.2:9/elsewhere, which dkimrot does not "
			 "follow; set url to the API's real address");
	cr_assert_eq(p->requests, 1);
	provider_close(p);
}

Test(cloudflare, a_ttl_cloudflare_refuses_is_caught_before_any_request)
{
	struct provider_rr rr = rr_of("example.com", SEL, record);
	struct dkr_error e = { 0 };
	struct provider *p = open_ok();

	rr.ttl = 30;
	cr_assert_eq(p->ops->publish(p, &rr, &e), DKR_EINVAL);
	cr_assert_str_eq(e.msg, "cloudflare \"cf\": TTL 30 for " SEL " is refused by "
			 "Cloudflare: use 1 (automatic) or 60 to 86400");
	cr_assert_eq(p->requests, 0);
	provider_close(p);
}

Test(cloudflare, mends_the_ttl_of_our_record_by_id)
{
	struct provider_rr rr = rr_of("example.com", SEL, record);
	struct dkr_error e = { 0 };
	struct provider *p = open_ok();
	json_t *recs;

	cr_assert_eq(p->ops->publish(p, &rr, &e), DKR_OK, "%s", e.msg);
	rr.ttl = 600;
	cr_assert_eq(p->ops->publish(p, &rr, &e), DKR_OK, "%s", e.msg);
	cr_assert_eq(mock_count("PUT /zones/" ZONE_ID "/dns_records/"), 1);
	recs = mock_records();
	cr_assert_eq(json_array_size(recs), 1);
	cr_assert_eq(json_integer_value(json_object_get(json_array_get(recs, 0), "ttl")), 600);
	json_decref(recs);
	provider_close(p);
}

Test(cloudflare, an_unreachable_api_is_temporary)
{
	struct provider_rr rr = rr_of("example.com", SEL, record);
	struct dkr_error e = { 0 };
	struct provider *p;

	mock_stop();
	p = open_ok();
	cr_assert_eq(p->ops->publish(p, &rr, &e), DKR_ETEMP);
	cr_assert(strstr(e.msg, "cloudflare \"cf\": GET /zones?name=example.com: ") == e.msg,
		  "%s", e.msg);
	cr_assert(strstr(e.msg, "(after 4 attempts)") != NULL, "%s", e.msg);
	cr_assert_eq(p->requests, 4);
	provider_close(p);
}

/* ----------------------------------------------------------- PowerDNS */

static void pdns_api(const char *method, const char *path, const char *body)
{
	cr_assert_eq(test_sh("curl -sf -o /dev/null -X %s -H \"X-API-Key: $(cat %s/pdns/api.key)\" "
			     "%s%s%s 'http://127.0.0.1:%d/api/v1/servers/localhost%s'",
			     method, tmp, body != NULL ? "-d '" : "", body != NULL ? body : "",
			     body != NULL ? "'" : "", PDNS_API_PORT, path), 0,
		     "PowerDNS API %s %s failed", method, path);
}

static void pdns_setup(void)
{
	common_setup("pdns");
	cr_assert_eq(test_sh("%s/scripts/pdns-test.sh start %s/pdns %d %d", test_top_dir(), tmp,
			     PDNS_DNS_PORT, PDNS_API_PORT), 0, "pdns_server did not start");
	pdns_running = true;
	pdns_api("POST", "/zones", "{\"name\": \"example.test.\", \"kind\": \"Master\", "
		 "\"nameservers\": [\"ns1.example.test.\"]}");
	pdns_api("POST", "/zones", "{\"name\": \"native.test.\", \"kind\": \"Native\", "
		 "\"nameservers\": [\"ns1.native.test.\"]}");

	snprintf(conf.name, sizeof(conf.name), "pdns");
	conf.type = DNS_POWERDNS;
	snprintf(conf.url, sizeof(conf.url), "http://127.0.0.1:%d", PDNS_API_PORT);
	snprintf(conf.server_id, sizeof(conf.server_id), "localhost");
	snprintf(conf.api_secret_file, sizeof(conf.api_secret_file), "%s/pdns/api.key", tmp);
}

/* Ask the server's DNS port, as the every-nameserver check does. */
static bool pdns_serves(const char *name, const char *rec, enum dnsu_want want)
{
	struct conf_server srv = { .host = "127.0.0.1", .port = PDNS_DNS_PORT };
	struct dnsu_query q = { .name = name, .record = rec, .want = want };
	struct dkr_error e = { 0 };
	struct dnsu_ns *ns = NULL;
	size_t n = 0;
	bool ok;

	cr_assert_eq(dnsu_servers_resolve(&srv, 1, &ns, &n, &e), DKR_OK, "%s", e.msg);
	cr_assert_eq(dnsu_check(ns, n, &q, 1, 2000, 2, &e), DKR_OK, "%s", e.msg);
	ok = q.all_ok;
	if (!ok)
		cr_log_info("%s: %s", name, q.answers[0].detail);
	dnsu_query_free(&q, 1);
	free(ns);
	return ok;
}

TestSuite(powerdns, .init = pdns_setup, .fini = teardown);

Test(powerdns, publishes_a_long_record_that_every_nameserver_serves)
{
	struct provider_rr rr = rr_of("example.test", PDNS_SEL, record);
	struct dkr_error e = { 0 };
	struct provider *p = open_ok();
	char *got = NULL;

	cr_assert_not(pdns_serves(PDNS_SEL, record, DNSU_WANT_RECORD));
	cr_assert_eq(p->ops->publish(p, &rr, &e), DKR_OK, "%s", e.msg);
	cr_assert_eq(p->requests, 3);	/* GET the RRset, PATCH, NOTIFY */
	cr_assert(pdns_serves(PDNS_SEL, record, DNSU_WANT_RECORD));
	cr_assert_eq(p->ops->read(p, "example.test", PDNS_SEL, &got, &e), DKR_OK, "%s", e.msg);
	cr_assert_str_eq(got, record);
	free(got);
	provider_close(p);
}

Test(powerdns, republish_after_a_crash_only_reads)
{
	struct provider_rr rr = rr_of("example.test", PDNS_SEL, record);
	struct dkr_error e = { 0 };
	struct provider *p = open_ok(), *q;

	cr_assert_eq(p->ops->publish(p, &rr, &e), DKR_OK, "%s", e.msg);
	provider_close(p);

	q = open_ok();
	cr_assert_eq(q->ops->publish(q, &rr, &e), DKR_OK, "%s", e.msg);
	cr_assert_eq(q->requests, 1);
	cr_assert(pdns_serves(PDNS_SEL, record, DNSU_WANT_RECORD));
	provider_close(q);
}

Test(powerdns, withdraw_removes_the_rrset_from_dns)
{
	struct provider_rr rr = rr_of("example.test", PDNS_SEL, record);
	struct dkr_error e = { 0 };
	struct provider *p = open_ok();
	char *got = NULL;

	cr_assert_eq(p->ops->publish(p, &rr, &e), DKR_OK, "%s", e.msg);
	p->requests = 0;
	cr_assert_eq(p->ops->withdraw(p, &rr, &e), DKR_OK, "%s", e.msg);
	cr_assert_eq(p->requests, 3);	/* GET, PATCH, NOTIFY */
	cr_assert(pdns_serves(PDNS_SEL, record, DNSU_WANT_GONE));
	cr_assert_eq(p->ops->read(p, "example.test", PDNS_SEL, &got, &e), DKR_OK, "%s", e.msg);
	cr_assert_null(got);

	p->requests = 0;
	cr_assert_eq(p->ops->withdraw(p, &rr, &e), DKR_OK, "%s", e.msg);
	cr_assert_eq(p->requests, 1);	/* nothing there: no change, no NOTIFY */
	provider_close(p);
}

Test(powerdns, refuses_to_replace_or_delete_a_record_it_did_not_write)
{
	struct provider_rr rr = rr_of("example.test", PDNS_SEL, record);
	struct dkr_error e = { 0 };
	struct provider *p = open_ok();
	char *got = NULL;

	pdns_api("PATCH", "/zones/example.test.", "{\"rrsets\": [{\"name\": \"" PDNS_SEL ".\", "
		 "\"type\": \"TXT\", \"ttl\": 60, \"changetype\": \"REPLACE\", \"records\": "
		 "[{\"content\": \"\\\"someone else\\\"\", \"disabled\": false}]}]}");
	cr_assert_eq(p->ops->publish(p, &rr, &e), DKR_EDNS);
	cr_assert_str_eq(e.msg, "powerdns \"pdns\": " PDNS_SEL " already holds 1 TXT record, "
			 "the first \"someone else\"; dkimrot does not overwrite a record it "
			 "did not write");
	cr_assert_eq(p->ops->withdraw(p, &rr, &e), DKR_EDNS);
	cr_assert_str_eq(e.msg, "powerdns \"pdns\": " PDNS_SEL " holds 1 TXT record, the first "
			 "\"someone else\", not the record dkimrot published; it is left in "
			 "place");
	cr_assert_eq(p->ops->read(p, "example.test", PDNS_SEL, &got, &e), DKR_OK, "%s", e.msg);
	cr_assert_str_eq(got, "someone else");
	free(got);
	provider_close(p);
}

Test(powerdns, finds_the_zone_walking_up_and_says_when_there_is_none)
{
	struct dkr_error e = { 0 };
	struct provider *p = open_ok();
	char zone[DKR_NAME_MAX + 1];

	cr_assert_eq(p->ops->find_zone(p, PDNS_SEL, zone, sizeof(zone), &e), DKR_OK, "%s",
		     e.msg);
	cr_assert_str_eq(zone, "example.test");
	cr_assert_eq(p->requests, 3);
	cr_assert_eq(p->ops->find_zone(p, "k1._domainkey.example.org", zone, sizeof(zone), &e),
		     DKR_ENOTFOUND);
	cr_assert_str_eq(e.msg, "powerdns \"pdns\": no zone on server \"localhost\" holds "
			 "k1._domainkey.example.org");
	provider_close(p);
}

Test(powerdns, a_native_zone_gets_no_notify)
{
	struct provider_rr rr = rr_of("native.test", "k1._domainkey.native.test", record);
	struct dkr_error e = { 0 };
	struct provider *p = open_ok();

	cr_assert_eq(p->ops->publish(p, &rr, &e), DKR_OK, "%s", e.msg);
	cr_assert_eq(p->requests, 2);	/* GET, PATCH */
	cr_assert(pdns_serves("k1._domainkey.native.test", record, DNSU_WANT_RECORD));
	provider_close(p);
}

Test(powerdns, a_zone_the_server_lacks_is_named)
{
	struct provider_rr rr = rr_of("missing.test", "k1._domainkey.missing.test", record);
	struct dkr_error e = { 0 };
	struct provider *p = open_ok();

	cr_assert_eq(p->ops->publish(p, &rr, &e), DKR_EDNS);
	cr_assert_str_eq(e.msg, "powerdns \"pdns\": zone missing.test is not on server "
			 "\"localhost\" (GET /api/v1/servers/localhost/zones/missing.test.?"
			 "rrset_name=k1._domainkey.missing.test.&rrset_type=TXT: HTTP 404)");
	provider_close(p);
}

Test(powerdns, a_wrong_api_key_is_refused_and_never_quoted)
{
	struct provider_rr rr = rr_of("example.test", PDNS_SEL, record);
	struct dkr_error e = { 0 };
	struct provider *p;
	char *key = test_write_file(tmp, "wrong.key", "not-the-key-42\n", 0600);

	snprintf(conf.api_secret_file, sizeof(conf.api_secret_file), "%s", key);
	free(key);
	p = open_ok();
	cr_assert_eq(p->ops->publish(p, &rr, &e), DKR_EHTTP);
	cr_assert_str_eq(e.msg, "powerdns \"pdns\": GET /api/v1/servers/localhost/zones/"
			 "example.test.?rrset_name=" PDNS_SEL ".&rrset_type=TXT: HTTP 401: "
			 "Unauthorized");
	provider_close(p);
}

Test(powerdns, a_key_file_others_can_read_is_refused)
{
	struct dkr_error e = { 0 };
	struct provider *p = NULL;
	char *key = test_write_file(tmp, "open.key", "k\n", 0644);

	snprintf(conf.api_secret_file, sizeof(conf.api_secret_file), "%s", key);
	cr_assert_eq(provider_open(&conf, &p, &e), DKR_EPERM);
	cr_assert_null(p);
	free(key);
}

/* Failures a real server does not produce on demand: the mock injects them. */
static void pdns_mock_setup(void)
{
	char *key;

	common_setup("pdnsmock");
	mock_start();
	key = test_write_file(tmp, "pdns.key", "pdns-key-secret\n", 0600);
	snprintf(conf.name, sizeof(conf.name), "pdns");
	conf.type = DNS_POWERDNS;
	snprintf(conf.url, sizeof(conf.url), "http://127.0.0.1:%d", mock_port);
	snprintf(conf.server_id, sizeof(conf.server_id), "localhost");
	snprintf(conf.api_secret_file, sizeof(conf.api_secret_file), "%s", key);
	free(key);
}

#define PDNS_GET "GET /api/v1/servers/localhost/zones/example.test.?rrset_name=" \
		 PDNS_SEL ".&rrset_type=TXT"

TestSuite(powerdns_faults, .init = pdns_mock_setup, .fini = teardown);

Test(powerdns_faults, a_503_outlasting_the_retries_is_temporary)
{
	struct provider_rr rr = rr_of("example.test", PDNS_SEL, record);
	struct dkr_error e = { 0 };
	struct provider *p = open_ok();

	mock_control("{\"faults\": [{\"status\": 503, \"times\": 9, "
		     "\"body\": \"{\\\"error\\\": \\\"backend busy\\\"}\"}]}");
	cr_assert_eq(p->ops->publish(p, &rr, &e), DKR_ETEMP);
	cr_assert_str_eq(e.msg, "powerdns \"pdns\": " PDNS_GET ": HTTP 503: backend busy "
			 "(after 4 attempts)");
	cr_assert_eq(p->requests, 4);
	cr_assert_eq(mock_count("PATCH"), 0);
	provider_close(p);
}

Test(powerdns_faults, a_422_carries_the_servers_words)
{
	struct provider_rr rr = rr_of("example.test", PDNS_SEL, record);
	struct dkr_error e = { 0 };
	struct provider *p = open_ok();

	mock_control("{\"faults\": [{\"status\": 422, \"body\": \"{\\\"error\\\": \\\"RRset "
		     "x: Name is out of zone\\\"}\"}]}");
	cr_assert_eq(p->ops->withdraw(p, &rr, &e), DKR_EDNS);
	cr_assert_str_eq(e.msg, "powerdns \"pdns\": zone example.test is not on server "
			 "\"localhost\" (" PDNS_GET ": HTTP 422)");
	cr_assert_eq(p->requests, 1);
	provider_close(p);
}

Test(powerdns_faults, a_malformed_body_is_an_error)
{
	struct provider_rr rr = rr_of("example.test", PDNS_SEL, record);
	struct dkr_error e = { 0 };
	struct provider *p = open_ok();
	const char *want = "powerdns \"pdns\": " PDNS_GET ": HTTP 200: malformed JSON body";

	mock_control("{\"faults\": [{\"status\": 200, \"body\": \"malformed\"}]}");
	cr_assert_eq(p->ops->publish(p, &rr, &e), DKR_EHTTP);
	cr_assert_eq(strncmp(e.msg, want, strlen(want)), 0, "%s", e.msg);
	cr_assert_eq(mock_count("PATCH"), 0);
	provider_close(p);
}

Test(powerdns_faults, a_zone_without_rrsets_is_the_wrong_shape)
{
	struct provider_rr rr = rr_of("example.test", PDNS_SEL, record);
	struct dkr_error e = { 0 };
	struct provider *p = open_ok();

	mock_control("{\"faults\": [{\"status\": 200, \"body\": \"{\\\"kind\\\": \\\"Master\\\", "
		     "\\\"rrsets\\\": 7}\"}]}");
	cr_assert_eq(p->ops->publish(p, &rr, &e), DKR_EHTTP);
	cr_assert_str_eq(e.msg, "powerdns \"pdns\": " PDNS_GET ": HTTP 200: the zone has no "
			 "\"kind\" or no \"rrsets\" array");
	provider_close(p);
}

Test(powerdns_faults, an_oversized_body_is_refused)
{
	struct provider_rr rr = rr_of("example.test", PDNS_SEL, record);
	struct dkr_error e = { 0 };
	struct provider *p = open_ok();

	mock_control("{\"faults\": [{\"status\": 200, \"body\": \"oversized\"}]}");
	cr_assert_eq(p->ops->publish(p, &rr, &e), DKR_EHTTP);
	cr_assert_str_eq(e.msg, "powerdns \"pdns\": " PDNS_GET ": HTTP 200: reply body larger "
			 "than 4194304 bytes, refused");
	provider_close(p);
}

Test(powerdns_faults, retries_a_429_after_its_retry_after)
{
	struct dkr_error e = { 0 };
	struct provider *p = open_ok();
	char zone[DKR_NAME_MAX + 1];
	double t0 = mono_now();

	mock_control("{\"faults\": [{\"status\": 429, \"retry_after\": 1}, "
		     "{\"status\": 200, \"body\": \"[{\\\"name\\\": \\\"example.test.\\\"}]\"}]}");
	cr_assert_eq(p->ops->find_zone(p, "example.test", zone, sizeof(zone), &e), DKR_OK, "%s",
		     e.msg);
	cr_assert_str_eq(zone, "example.test");
	cr_assert_geq(mono_now() - t0, 1.0);
	cr_assert_eq(p->requests, 2);
	provider_close(p);
}

/* -------------------------------------------------------- command hook */

static const char hook_src[] =
	"#!/usr/bin/python3\n"
	"import json, os, subprocess, sys, time\n"
	"d = os.path.dirname(os.path.abspath(__file__))\n"
	"raw = sys.stdin.read()\n"
	"open(os.path.join(d, 'calls'), 'a').write(raw + '\\n')\n"
	"req = json.loads(raw)\n"
	"mode = ''\n"
	"if os.path.exists(os.path.join(d, 'mode')):\n"
	"    mode = open(os.path.join(d, 'mode')).read().strip()\n"
	"act, _, how = mode.partition(':')\n"
	"if act == req['action']:\n"
	"    if how == 'tempfail':\n"
	"        sys.stderr.write('API busy, try later\\n'); sys.exit(75)\n"
	"    if how == 'fail':\n"
	"        sys.stderr.write('zone locked\\nby the admin\\n'); sys.exit(3)\n"
	"    if how == 'garbage':\n"
	"        print('not json'); sys.exit(0)\n"
	"    if how == 'hang':\n"
	"        c = subprocess.Popen(['sleep', '30'])\n"
	"        open(os.path.join(d, 'child.pid'), 'w').write(str(c.pid))\n"
	"        time.sleep(30)\n"
	"store = os.path.join(d, 'store')\n"
	"if req['action'] == 'read':\n"
	"    rec = open(store).read() if os.path.exists(store) else None\n"
	"    print(json.dumps({'record': rec}))\n"
	"elif req['action'] == 'publish':\n"
	"    open(store, 'w').write(req['record'])\n"
	"elif req['action'] == 'withdraw':\n"
	"    os.unlink(store)\n";

static void exec_setup(void)
{
	char *hook;

	common_setup("exec");
	hook = test_write_file(tmp, "hook", hook_src, 0700);
	snprintf(conf.name, sizeof(conf.name), "hook");
	conf.type = DNS_EXEC;
	snprintf(conf.command, sizeof(conf.command), "%s", hook);
	free(hook);
}

static char *tmp_read(const char *name)
{
	char *path, *buf = NULL;
	size_t len;

	if (asprintf(&path, "%s/%s", tmp, name) < 0)
		abort();
	if (file_read_all(path, 1 << 20, &buf, &len, NULL) != DKR_OK)
		buf = NULL;
	free(path);
	return buf;
}

TestSuite(exec, .init = exec_setup, .fini = teardown);

Test(exec, publish_reads_then_hands_the_record_as_json)
{
	struct provider_rr rr = rr_of("example.com", "k1._domainkey.example.com", "v=DKIM1; p=x");
	struct dkr_error e = { 0 };
	struct provider *p = open_ok();
	char *calls, *store, *got = NULL;

	cr_assert_eq(p->ops->publish(p, &rr, &e), DKR_OK, "%s", e.msg);
	cr_assert_eq(p->requests, 2);
	calls = tmp_read("calls");
	cr_assert_str_eq(calls,
		"{\"action\":\"read\",\"zone\":\"example.com\",\"name\":"
		"\"k1._domainkey.example.com\",\"ttl\":0,\"record\":null}\n"
		"{\"action\":\"publish\",\"zone\":\"example.com\",\"name\":"
		"\"k1._domainkey.example.com\",\"ttl\":300,\"record\":\"v=DKIM1; p=x\"}\n");
	store = tmp_read("store");
	cr_assert_str_eq(store, "v=DKIM1; p=x");
	cr_assert_eq(p->ops->read(p, "example.com", rr.name, &got, &e), DKR_OK, "%s", e.msg);
	cr_assert_str_eq(got, "v=DKIM1; p=x");
	free(got);
	free(calls);
	free(store);
	provider_close(p);
}

Test(exec, republish_after_a_crash_only_reads)
{
	struct provider_rr rr = rr_of("example.com", "k1._domainkey.example.com", record);
	struct dkr_error e = { 0 };
	struct provider *p = open_ok(), *q;

	cr_assert_eq(p->ops->publish(p, &rr, &e), DKR_OK, "%s", e.msg);
	provider_close(p);
	q = open_ok();
	cr_assert_eq(q->ops->publish(q, &rr, &e), DKR_OK, "%s", e.msg);
	cr_assert_eq(q->requests, 1);
	provider_close(q);
}

Test(exec, withdraw_runs_the_hook_only_when_our_record_is_there)
{
	struct provider_rr rr = rr_of("example.com", "k1._domainkey.example.com", record);
	struct dkr_error e = { 0 };
	struct provider *p = open_ok();
	char *store;

	cr_assert_eq(p->ops->publish(p, &rr, &e), DKR_OK, "%s", e.msg);
	p->requests = 0;
	cr_assert_eq(p->ops->withdraw(p, &rr, &e), DKR_OK, "%s", e.msg);
	cr_assert_eq(p->requests, 2);
	store = tmp_read("store");
	cr_assert_null(store);
	cr_assert_eq(p->ops->withdraw(p, &rr, &e), DKR_OK, "%s", e.msg);
	cr_assert_eq(p->requests, 3);
	provider_close(p);
}

Test(exec, refuses_a_record_it_did_not_write)
{
	struct provider_rr rr = rr_of("example.com", "k1._domainkey.example.com", record);
	struct dkr_error e = { 0 };
	struct provider *p = open_ok();
	char *store;

	free(test_write_file(tmp, "store", "v=spf1 -all", 0600));
	cr_assert_eq(p->ops->publish(p, &rr, &e), DKR_EDNS);
	cr_assert_str_eq(e.msg, "exec \"hook\": k1._domainkey.example.com holds a TXT record "
			 "dkimrot did not write (\"v=spf1 -all\"); dkimrot does not overwrite it");
	cr_assert_eq(p->ops->withdraw(p, &rr, &e), DKR_EDNS);
	store = tmp_read("store");
	cr_assert_str_eq(store, "v=spf1 -all");
	free(store);
	provider_close(p);
}

Test(exec, exit_75_means_retry_later)
{
	struct provider_rr rr = rr_of("example.com", "k1._domainkey.example.com", record);
	struct dkr_error e = { 0 };
	struct provider *p = open_ok();
	char *want;

	free(test_write_file(tmp, "mode", "publish:tempfail", 0600));
	cr_assert_eq(p->ops->publish(p, &rr, &e), DKR_ETEMP);
	if (asprintf(&want, "exec \"hook\": %s publish k1._domainkey.example.com: exit status "
		     "75: API busy, try later", conf.command) < 0)
		abort();
	cr_assert_str_eq(e.msg, want);
	free(want);
	provider_close(p);
}

Test(exec, another_exit_status_is_permanent_and_quotes_stderr)
{
	struct provider_rr rr = rr_of("example.com", "k1._domainkey.example.com", record);
	struct dkr_error e = { 0 };
	struct provider *p = open_ok();
	char *want;

	free(test_write_file(tmp, "mode", "publish:fail", 0600));
	cr_assert_eq(p->ops->publish(p, &rr, &e), DKR_EDNS);
	if (asprintf(&want, "exec \"hook\": %s publish k1._domainkey.example.com: exit status "
		     "3: zone locked by the admin", conf.command) < 0)
		abort();
	cr_assert_str_eq(e.msg, want);
	free(want);
	provider_close(p);
}

Test(exec, a_hook_that_hangs_is_killed_with_its_children)
{
	struct provider_rr rr = rr_of("example.com", "k1._domainkey.example.com", record);
	struct dkr_error e = { 0 };
	struct provider *p;
	char *want, *pid, stat_path[64], *st;
	double t0;

	conf.timeout = 1;
	p = open_ok();
	free(test_write_file(tmp, "mode", "publish:hang", 0600));
	t0 = mono_now();
	cr_assert_eq(p->ops->publish(p, &rr, &e), DKR_ETEMP);
	cr_assert_lt(mono_now() - t0, 3.0);
	if (asprintf(&want, "exec \"hook\": %s publish k1._domainkey.example.com: no answer "
		     "within 1 s, killed", conf.command) < 0)
		abort();
	cr_assert_str_eq(e.msg, want);

	/* The hook's own child went with it (gone, or a zombie awaiting its reaper). */
	pid = tmp_read("child.pid");
	cr_assert_not_null(pid);
	usleep(100000);
	snprintf(stat_path, sizeof(stat_path), "/proc/%d/stat", atoi(pid));
	st = NULL;
	if (file_read_all(stat_path, 4096, &st, &(size_t){ 0 }, NULL) == DKR_OK)
		cr_assert_not_null(strstr(st, ") Z "), "the hook's child still runs: %s", st);
	free(st);
	free(pid);
	free(want);
	provider_close(p);
}

Test(exec, a_read_answer_that_is_not_the_protocol_is_refused)
{
	struct dkr_error e = { 0 };
	struct provider *p = open_ok();
	char *got = NULL, *want;

	free(test_write_file(tmp, "mode", "read:garbage", 0600));
	cr_assert_eq(p->ops->read(p, "example.com", "k1._domainkey.example.com", &got, &e),
		     DKR_EDNS);
	if (asprintf(&want, "exec \"hook\": %s read k1._domainkey.example.com: the output is "
		     "not {\"record\": \"...\"} or {\"record\": null}: '[' or '{' expected near "
		     "'not'", conf.command) < 0)
		abort();
	cr_assert_str_eq(e.msg, want);
	cr_assert_null(got);
	free(want);
	provider_close(p);
}

Test(exec, a_relative_command_is_a_configuration_error)
{
	struct dkr_error e = { 0 };
	struct provider *p = NULL;

	snprintf(conf.command, sizeof(conf.command), "dns-hook");
	cr_assert_eq(provider_open(&conf, &p, &e), DKR_ECONFIG);
	cr_assert_str_eq(e.msg, "exec \"hook\" (line 7): command \"dns-hook\" must be an "
			 "absolute path (it is run without a shell)");
}

/* ------------------------------------------------------- shared helpers */

Test(providers, every_configured_type_has_a_table)
{
	cr_assert_str_eq(provider_ops_find(DNS_RFC2136)->type, "rfc2136");
	cr_assert_str_eq(provider_ops_find(DNS_POWERDNS)->type, "powerdns");
	cr_assert_str_eq(provider_ops_find(DNS_CLOUDFLARE)->type, "cloudflare");
	cr_assert_str_eq(provider_ops_find(DNS_EXEC)->type, "exec");
	cr_assert(provider_ops_find(DNS_POWERDNS)->caps & PROVIDER_NOTIFIES);
	cr_assert_not(provider_ops_find(DNS_EXEC)->caps & PROVIDER_FINDS_ZONE);
}

/* The presentation-format helpers every HTTP backend compares with. */
Test(providers, joins_quoted_strings_and_takes_unquoted_text_as_is)
{
	static const struct { const char *in, *out; } cases[] = {
		{ "\"v=DKIM1; \" \"p=abc\"", "v=DKIM1; p=abc" },
		{ "\"a\\\"b\" \"c\\\\d\"", "a\"bc\\d" },
		{ "\"\\065\\066\"", "AB" },
		{ "  \"x\"  ", "x" },
		{ "v=DKIM1; p=abc", "v=DKIM1; p=abc" },
		{ "\"\"", "" },
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *out = NULL;
		struct dkr_error e = { 0 };

		cr_assert_eq(txt_join(cases[i].in, &out, &e), DKR_OK, "%s: %s", cases[i].in,
			     e.msg);
		cr_assert_str_eq(out, cases[i].out);
		free(out);
	}
}

Test(providers, refuses_broken_presentation_format)
{
	static const struct { const char *in, *msg; } cases[] = {
		{ "\"abc", "TXT content has an unterminated quote" },
		{ "\"a\" b", "TXT content has text outside quotes" },
		{ "\"a\\", "TXT content ends in a backslash" },
		{ "\"\\300\"", "TXT content has a bad escape \\300" },
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *out = NULL;
		struct dkr_error e = { 0 };

		cr_assert_eq(txt_join(cases[i].in, &out, &e), DKR_EINVAL, "%s", cases[i].in);
		cr_assert_str_eq(e.msg, cases[i].msg);
		cr_assert_null(out);
	}
}

Test(providers, quotes_a_record_in_strings_of_at_most_255_bytes)
{
	struct dkr_error e = { 0 };
	char *q = NULL, *back = NULL;

	cr_assert_eq(txt_quote(record, &q, &e), DKR_OK, "%s", e.msg);
	cr_assert_eq(strlen(q), strlen(record) + 5);	/* two strings: 4 quotes, 1 space */
	cr_assert_eq(q[256], '"');
	cr_assert_eq(strncmp(q + 256, "\" \"", 3), 0);
	cr_assert_eq(txt_join(q, &back, &e), DKR_OK, "%s", e.msg);
	cr_assert_str_eq(back, record);
	free(q);
	free(back);

	cr_assert_eq(txt_quote("a\"b\\c", &q, &e), DKR_OK);
	cr_assert_str_eq(q, "\"a\\\"b\\\\c\"");
	free(q);
	cr_assert_eq(txt_quote("a\nb", &q, &e), DKR_EINVAL);
	cr_assert_str_eq(e.msg, "the TXT record holds a byte 0x0a that is not printable ASCII");
}

Test(providers, accepts_selector_names_and_refuses_what_is_not_a_name)
{
	static const char *const bad[] = { "example.com.", "a..b", ".a", "a/b.example.com",
					   "a b.example.com", "" };
	struct conf_dns d = { .name = "pdns", .type = DNS_POWERDNS };
	struct provider_rr rr = rr_of("example.com", "k20270301._domainkey.example.com", record);
	struct dkr_error e = { 0 };
	char want[512];

	cr_assert_eq(provider_rr_check(&d, &rr, true, &e), DKR_OK, "%s", e.msg);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		rr.name = bad[i];
		cr_assert_eq(provider_rr_check(&d, &rr, true, &e), DKR_EINVAL, "%s", bad[i]);
		snprintf(want, sizeof(want), "powerdns \"pdns\": \"%s\" is not a valid DNS name",
			 bad[i]);
		cr_assert_str_eq(e.msg, want);
	}
}
