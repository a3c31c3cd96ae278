/*
 * test_dnsupdate.c - dnsupdate/ against real BIND servers (a primary and a
 * secondary per test, scripts/bind-pair.sh) and against a scripted fake
 * server for the replies BIND cannot be made to give on demand.  Ports
 * 25300-25347, two per test (25348: the fake server; 25349: a port where
 * nothing listens).
 */
#include <criterion/criterion.h>
#include <ldns/ldns.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "../dnsupdate/dnsupdate.h"
#include "../providers/providers.h"
#include "../rotator/rotator.h"
#include "helper.h"
#include "helper_bind.h"

#define ZONE "example.test"
#define SEL1 "k1._domainkey." ZONE

static char *tmp;
static struct bind_pair bp;

static void pair_up(int k)
{
	tmp = test_tmpdir_make("dnsu");
	cr_assert_eq(bind_pair_start(&bp, tmp, 25300 + 2 * k, ZONE, NULL), 0,
		     "the BIND pair did not start");
}

static void pair_down(void)
{
	bind_pair_stop(&bp);
	test_tmpdir_remove(tmp);
	tmp = NULL;
}

static void tmp_only(void)
{
	tmp = test_tmpdir_make("dnsu");
	memset(&bp, 0, sizeof(bp));
}

static void tmp_down(void)
{
	test_tmpdir_remove(tmp);
	tmp = NULL;
}

/* A fresh DKIM record of `alg`, its key file in the test's directory. */
static void record_new(enum key_alg alg, const char *tag, char *rec, size_t len)
{
	struct dkr_error e = { 0 };
	char path[4200];

	snprintf(path, sizeof(path), "%s/%s.pem", tmp, tag);
	cr_assert_eq(keygen_generate(alg, path, (gid_t)-1, rec, len, &e), DKR_OK, "%s", e.msg);
}

/* Both servers of the pair over IPv4 (or IPv6), resolved. */
static void pair_ns(struct dnsu_ns **ns, size_t *n, bool v6)
{
	struct conf_server s[2] = { v6 ? bp.primary6 : bp.primary,
				    v6 ? bp.secondary6 : bp.secondary };
	struct dkr_error e = { 0 };

	cr_assert_eq(dnsu_servers_resolve(s, 2, ns, n, &e), DKR_OK, "%s", e.msg);
	cr_assert_eq(*n, 2);
}

/* Check until every server answers what we want, for at most `ms`. */
static bool wait_for(const struct dnsu_ns *ns, size_t n, const char *name, const char *rec,
		     enum dnsu_want want, int ms, struct dnsu_query *last)
{
	struct dkr_error e = { 0 };
	struct timespec nap = { 0, 50 * 1000 * 1000 };

	for (int waited = 0;; waited += 50) {
		*last = (struct dnsu_query){ .name = name, .record = rec, .want = want };
		cr_assert_eq(dnsu_check(ns, n, last, 1, 500, 1, &e), DKR_OK, "%s", e.msg);
		if (last->all_ok || waited >= ms)
			return last->all_ok;
		dnsu_query_free(last, 1);
		nanosleep(&nap, NULL);
	}
}

static int publish(const char *name, const char *rec, struct dkr_error *e)
{
	unsigned long msgs = 0;

	return dnsu_publish(&bp.dns, ZONE, name, 300, rec, &msgs, e);
}

/* ------------------------------------------------------------ parsing */

TestSuite(dnsu_parse);

Test(dnsu_parse, labels_an_ipv6_address_with_brackets)
{
	struct conf_server s = { .host = "::1", .port = 5353 };
	struct dnsu_ns *ns = NULL;
	size_t n = 0;
	struct dkr_error e = { 0 };

	cr_assert_eq(dnsu_servers_resolve(&s, 1, &ns, &n, &e), DKR_OK, "%s", e.msg);
	cr_assert_eq(n, 1);
	cr_assert_str_eq(ns[0].label, "[::1]:5353");
	free(ns);
}

Test(dnsu_parse, accepts_the_tsig_algorithms_ldns_signs_correctly)
{
	cr_assert(dnsu_tsig_algorithm_ok("hmac-sha256"));
	cr_assert(dnsu_tsig_algorithm_ok("hmac-sha512"));
	cr_assert(dnsu_tsig_algorithm_ok("hmac-sha1"));
	cr_assert(dnsu_tsig_algorithm_ok("hmac-md5"));
	cr_assert(dnsu_tsig_algorithm_ok("HMAC-MD5.SIG-ALG.REG.INT."));
	cr_assert_not(dnsu_tsig_algorithm_ok("hmac-sha384"));
	cr_assert_not(dnsu_tsig_algorithm_ok("hmac-sha224"));
	cr_assert_not(dnsu_tsig_algorithm_ok("gss-tsig"));
}

/* ------------------------------------------------- refusals before sending */

TestSuite(dnsu_guard, .init = tmp_only, .fini = tmp_down);

Test(dnsu_guard, refuses_to_touch_a_name_that_is_not_a_selector)
{
	struct conf_dns d = { .type = DNS_RFC2136, .server = { "127.0.0.1", 25349 } };
	struct dkr_error e = { 0 };

	cr_assert_eq(dnsu_publish(&d, ZONE, "www." ZONE, 300, "v=DKIM1; p=x", NULL, &e),
		     DKR_EINVAL);
	cr_assert_str_eq(e.msg, "publishing www.example.test in zone example.test: "
			 "www.example.test is not a selector name (SELECTOR._domainkey.DOMAIN) "
			 "inside zone example.test; dkimrot changes no other name");
}

Test(dnsu_guard, refuses_a_name_outside_the_zone)
{
	struct conf_dns d = { .type = DNS_RFC2136, .server = { "127.0.0.1", 25349 } };
	struct dkr_error e = { 0 };

	cr_assert_eq(dnsu_withdraw(&d, ZONE, "k1._domainkey.example.org", NULL, &e),
		     DKR_EINVAL);
	cr_assert(strstr(e.msg, "is not a selector name (SELECTOR._domainkey.DOMAIN) inside "
			 "zone example.test") != NULL, "%s", e.msg);
}

Test(dnsu_guard, refuses_hmac_sha384_with_a_reason)
{
	struct conf_dns d = { .type = DNS_RFC2136, .server = { "127.0.0.1", 25349 },
			      .tsig_name = "dkimrot", .tsig_algorithm = "hmac-sha384" };
	struct dkr_error e = { 0 };

	cr_assert_eq(dnsu_publish(&d, ZONE, SEL1, 300, "v=DKIM1; p=x", NULL, &e),
		     DKR_ECONFIG);
	cr_assert_str_eq(e.msg, "publishing k1._domainkey.example.test in zone example.test: "
			 "TSIG algorithm hmac-sha384 cannot be used: ldns signs it wrongly "
			 "or not at all; use hmac-sha256 or hmac-sha512");
}

Test(dnsu_guard, names_a_refused_connection_and_calls_it_retryable)
{
	struct conf_dns d = { .type = DNS_RFC2136, .server = { "127.0.0.1", 25349 },
			      .timeout = 2 };
	struct dkr_error e = { 0 };
	int rc = dnsu_publish(&d, ZONE, SEL1, 300, "v=DKIM1; p=x", NULL, &e);

	cr_assert_eq(rc, DKR_ETEMP);
	cr_assert(dkr_err_retryable(rc));
	cr_assert_str_eq(e.msg, "publishing k1._domainkey.example.test in zone example.test: "
			 "cannot connect to 127.0.0.1:25349 over TCP: Connection refused "
			 "(is the server running, and is the address and port right?)");
}

Test(dnsu_guard, check_reports_a_closed_port_as_connection_refused)
{
	struct conf_server s = { "127.0.0.1", 25349 };
	struct dnsu_ns *ns = NULL;
	size_t n = 0;
	struct dnsu_query q = { .name = SEL1, .want = DNSU_WANT_GONE };
	struct dkr_error e = { 0 };

	cr_assert_eq(dnsu_servers_resolve(&s, 1, &ns, &n, &e), DKR_OK, "%s", e.msg);
	cr_assert_eq(dnsu_check(ns, n, &q, 1, 1000, 2, &e), DKR_OK, "%s", e.msg);
	cr_assert_not(q.all_ok);
	cr_assert_str_eq(q.answers[0].detail, "connection refused (3 tries of 1000 ms)");
	dnsu_query_free(&q, 1);
	free(ns);
}

/* -------------------------------------------------------- discovery */

TestSuite(dnsu_discover, .fini = pair_down);

Test(dnsu_discover, finds_the_zone_by_walking_up_with_soa_queries)
{
	char zone[256];
	struct dkr_error e = { 0 };

	pair_up(0);
	cr_assert_eq(dnsu_find_zone(&bp.primary, "K2._domainkey.mail.example.test", zone,
				    sizeof(zone), &e), DKR_OK, "%s", e.msg);
	cr_assert_str_eq(zone, "example.test");
}

Test(dnsu_discover, says_when_the_server_holds_no_enclosing_zone)
{
	char zone[256];
	struct dkr_error e = { 0 };

	pair_up(1);
	cr_assert_eq(dnsu_find_zone(&bp.primary, "k1._domainkey.example.org", zone,
				    sizeof(zone), &e), DKR_ENOTFOUND);
	cr_assert_str_eq(e.msg, "127.0.0.1:25302 is authoritative for no zone that holds "
			 "k1._domainkey.example.org: set zone = \"...\" for this domain, or "
			 "point server at the zone's primary");
}

Test(dnsu_discover, reads_the_negative_ttl_as_the_smaller_of_soa_ttl_and_minimum)
{
	int64_t ttl = 0;
	struct dkr_error e = { 0 };

	pair_up(2);
	cr_assert_eq(dnsu_negative_ttl(&bp.primary, ZONE, &ttl, &e), DKR_OK, "%s", e.msg);
	cr_assert_eq(ttl, 300);
}

Test(dnsu_discover, resolves_the_ns_set_to_addresses_on_port_53)
{
	struct dnsu_ns *ns = NULL;
	size_t n = 0;
	struct dkr_error e = { 0 };

	pair_up(3);
	cr_assert_eq(dnsu_zone_nameservers(&bp.primary, ZONE, &ns, &n, &e), DKR_OK, "%s",
		     e.msg);
	/* ns1 and ns2 share 127.0.0.1: one address to ask. */
	cr_assert_eq(n, 1);
	cr_assert(strcmp(ns[0].label, "ns1.example.test (127.0.0.1:53)") == 0 ||
		  strcmp(ns[0].label, "ns2.example.test (127.0.0.1:53)") == 0, "%s",
		  ns[0].label);
	free(ns);
}

/* ---------------------------------------------------- publishing */

TestSuite(dnsu_publish, .fini = pair_down);

Test(dnsu_publish, key_becomes_visible_only_once_the_secondary_has_it)
{
	char rec[DKIM_RECORD_MAX];
	struct dnsu_ns *ns = NULL;
	size_t n = 0;
	struct dnsu_query q = { .name = SEL1, .want = DNSU_WANT_RECORD };
	struct dkr_error e = { 0 };

	pair_up(4);
	record_new(KEY_ED25519, "k1", rec, sizeof(rec));
	q.record = rec;
	pair_ns(&ns, &n, false);

	/* The secondary is stopped: it cannot transfer, and is the laggard. */
	bind_secondary_pause(&bp);
	cr_assert_eq(publish(SEL1, rec, &e), DKR_OK, "%s", e.msg);
	cr_assert_eq(dnsu_check(ns, n, &q, 1, 300, 1, &e), DKR_OK, "%s", e.msg);
	cr_assert_not(q.all_ok);
	cr_assert(q.answers[0].ok);
	cr_assert_str_eq(q.answers[0].detail, "serves the key");
	cr_assert_not(q.answers[1].ok);
	cr_assert_str_eq(ns[1].label, "127.0.0.1:25309");
	cr_assert_str_eq(q.answers[1].detail, "timeout (2 tries of 300 ms)");
	dnsu_query_free(&q, 1);

	/* Resumed, it takes the NOTIFY, transfers, and then serves the key. */
	bind_secondary_resume(&bp);
	cr_assert(wait_for(ns, n, SEL1, rec, DNSU_WANT_RECORD, 10000, &q), "%s",
		  q.answers[1].detail);
	cr_assert_str_eq(q.answers[1].detail, "serves the key");
	dnsu_query_free(&q, 1);
	cr_assert_eq(test_sh("grep -q 'transfer of .example.test/IN. from 127.0.0.1#25308: "
			     "Transfer completed' '%s/secondary.log'", tmp), 0);
	free(ns);
}

Test(dnsu_publish, same_record_again_succeeds_after_a_crash)
{
	char rec[DKIM_RECORD_MAX];
	unsigned long msgs = 0;
	struct dkr_error e = { 0 };

	pair_up(5);
	record_new(KEY_ED25519, "k1", rec, sizeof(rec));
	cr_assert_eq(dnsu_publish(&bp.dns, ZONE, SEL1, 300, rec, &msgs, &e), DKR_OK, "%s",
		     e.msg);
	cr_assert_eq(msgs, 1);
	cr_assert_eq(dnsu_publish(&bp.dns, ZONE, SEL1, 300, rec, &msgs, &e), DKR_OK, "%s",
		     e.msg);
	/* The second: an update met YXRRSET, then one read. */
	cr_assert_eq(msgs, 3);
}

Test(dnsu_publish, never_overwrites_a_record_it_did_not_write)
{
	char rec[DKIM_RECORD_MAX], *now = NULL;
	struct dkr_error e = { 0 };
	const char *name = "legacy._domainkey." ZONE;

	pair_up(6);
	record_new(KEY_ED25519, "k1", rec, sizeof(rec));
	cr_assert_eq(publish(name, rec, &e), DKR_EDNS);
	cr_assert_not(dkr_err_retryable(DKR_EDNS));
	cr_assert_str_eq(e.msg, "publishing legacy._domainkey.example.test in zone "
			 "example.test: refusing to overwrite a TXT record dkimrot did not "
			 "write at legacy._domainkey.example.test (it holds \"v=DKIM1; k=rsa; "
			 "p=MFwwDQYJKoZIhvcNAQEBBQADSwAwSAJBAKHjRMrpT07zPAdPQ8wZ2rMOs9pQBB9Sd8Z3"
			 "CbDGOmyaMiVz5aNwqYL3vMhzK1ZC4YcnEVnNc0k2ZfLHrCrTJRkCAwEAAQ==\")");
	cr_assert_eq(dnsu_read_txt(&bp.primary, name, &now, &e), DKR_OK, "%s", e.msg);
	cr_assert_str_eq(now, "v=DKIM1; k=rsa; p=MFwwDQYJKoZIhvcNAQEBBQADSwAwSAJBAKHjRMrpT07z"
			 "PAdPQ8wZ2rMOs9pQBB9Sd8Z3CbDGOmyaMiVz5aNwqYL3vMhzK1ZC4YcnEVnNc0k2ZfLHr"
			 "CrTJRkCAwEAAQ==");
	free(now);
}

Test(dnsu_publish, names_a_wrong_tsig_secret_as_badsig)
{
	char rec[DKIM_RECORD_MAX];
	struct dkr_error e = { 0 };
	char want[6000];

	pair_up(7);
	record_new(KEY_ED25519, "k1", rec, sizeof(rec));
	free(bp.dns.tsig_secret);
	bp.dns.tsig_secret = strdup("c2VjcmV0IHRoYXQgdGhlIHNlcnZlciBkb2VzIG5vdCBrbm93");
	cr_assert_eq(publish(SEL1, rec, &e), DKR_EDNS);
	snprintf(want, sizeof(want), "publishing k1._domainkey.example.test in zone "
		 "example.test: 127.0.0.1:25314 rejected the signature of TSIG key dkimrot "
		 "(BADSIG): the secret in %s is not the one the server has for that key",
		 bp.secret_path);
	cr_assert_str_eq(e.msg, want);
}

Test(dnsu_publish, names_an_unknown_tsig_key_as_badkey)
{
	char rec[DKIM_RECORD_MAX];
	struct dkr_error e = { 0 };

	pair_up(8);
	record_new(KEY_ED25519, "k1", rec, sizeof(rec));
	snprintf(bp.dns.tsig_name, sizeof(bp.dns.tsig_name), "nobody");
	cr_assert_eq(publish(SEL1, rec, &e), DKR_EDNS);
	cr_assert_str_eq(e.msg, "publishing k1._domainkey.example.test in zone example.test: "
			 "127.0.0.1:25316 does not know TSIG key nobody with algorithm "
			 "hmac-sha256 (BADKEY): check tsig name and algorithm against the "
			 "server's key statement");
}

Test(dnsu_publish, names_an_update_the_policy_refuses)
{
	char rec[DKIM_RECORD_MAX];
	struct dkr_error e = { 0 };

	pair_up(9);
	record_new(KEY_ED25519, "k1", rec, sizeof(rec));
	/* The policy grants _domainkey.example.test, not this deeper one. */
	cr_assert_eq(publish("k1._domainkey.sub." ZONE, rec, &e), DKR_EDNS);
	cr_assert_str_eq(e.msg, "publishing k1._domainkey.sub.example.test in zone "
			 "example.test: 127.0.0.1:25318 refused the update of "
			 "k1._domainkey.sub.example.test (REFUSED): its update-policy must let "
			 "key dkimrot change TXT records there, e.g. grant dkimrot subdomain "
			 "_domainkey.<domain> TXT;");
}

Test(dnsu_publish, names_a_zone_the_server_does_not_serve_as_notauth)
{
	char rec[DKIM_RECORD_MAX];
	struct dkr_error e = { 0 };

	pair_up(10);
	record_new(KEY_ED25519, "k1", rec, sizeof(rec));
	cr_assert_eq(dnsu_publish(&bp.dns, "nothere.test", "k1._domainkey.nothere.test", 300,
				  rec, NULL, &e), DKR_EDNS);
	cr_assert_str_eq(e.msg, "publishing k1._domainkey.nothere.test in zone nothere.test: "
			 "127.0.0.1:25320 is not authoritative for zone nothere.test, or did "
			 "not accept the update's signature (NOTAUTH): check zone and server "
			 "and the TSIG key");
}

Test(dnsu_publish, a_silent_server_is_a_timeout_worth_retrying)
{
	char rec[DKIM_RECORD_MAX];
	struct dkr_error e = { 0 };
	int rc;

	pair_up(11);
	record_new(KEY_ED25519, "k1", rec, sizeof(rec));
	bind_secondary_pause(&bp);
	bp.dns.server = bp.secondary;
	bp.dns.timeout = 1;
	rc = publish(SEL1, rec, &e);
	cr_assert_eq(rc, DKR_ETEMP, "%s", e.msg);
	cr_assert(dkr_err_retryable(rc));
	cr_assert_str_eq(e.msg, "publishing k1._domainkey.example.test in zone example.test: "
			 "timeout: 127.0.0.1:25323 did not answer over TCP in time");
}

Test(dnsu_publish, publishes_and_verifies_a_4096_bit_record_in_several_strings)
{
	char rec[DKIM_RECORD_MAX], *now = NULL;
	struct dnsu_ns *ns = NULL;
	size_t n = 0;
	struct dnsu_query q;
	struct dkr_error e = { 0 };

	pair_up(12);
	record_new(KEY_RSA4096, "big", rec, sizeof(rec));
	cr_assert_gt(strlen(rec), 700);
	cr_assert_eq(publish(SEL1, rec, &e), DKR_OK, "%s", e.msg);
	pair_ns(&ns, &n, false);
	cr_assert(wait_for(ns, n, SEL1, rec, DNSU_WANT_RECORD, 10000, &q), "%s / %s",
		  q.answers[0].detail, q.answers[1].detail);
	dnsu_query_free(&q, 1);

	/* Served as character-strings of at most 255 bytes, joined exactly. */
	cr_assert_eq(dnsu_read_txt(&bp.secondary, SEL1, &now, &e), DKR_OK, "%s", e.msg);
	cr_assert_str_eq(now, rec);
	cr_assert_eq(test_sh("test $(dig +short +tcp -p %d @127.0.0.1 %s TXT | "
			     "grep -o '\" \"' | wc -l) -eq %zu", bp.port + 1, SEL1,
			     (strlen(rec) + 254) / 255 - 1), 0);
	free(now);
	free(ns);
}

Test(dnsu_publish, withdrawal_is_verified_gone_from_every_server)
{
	char rec[DKIM_RECORD_MAX];
	struct dnsu_ns *ns = NULL;
	size_t n = 0;
	struct dnsu_query q;
	unsigned long msgs = 0;
	struct dkr_error e = { 0 };

	pair_up(13);
	record_new(KEY_RSA2048, "k1", rec, sizeof(rec));
	pair_ns(&ns, &n, false);
	cr_assert_eq(publish(SEL1, rec, &e), DKR_OK, "%s", e.msg);
	cr_assert(wait_for(ns, n, SEL1, rec, DNSU_WANT_RECORD, 10000, &q));
	dnsu_query_free(&q, 1);

	/* Not gone yet: every server still serves it. */
	q = (struct dnsu_query){ .name = SEL1, .record = rec, .want = DNSU_WANT_GONE };
	cr_assert_eq(dnsu_check(ns, n, &q, 1, 500, 1, &e), DKR_OK, "%s", e.msg);
	cr_assert_not(q.all_ok);
	cr_assert_str_eq(q.answers[1].detail, "still serves the key");
	dnsu_query_free(&q, 1);

	cr_assert_eq(dnsu_withdraw(&bp.dns, ZONE, SEL1, &msgs, &e), DKR_OK, "%s", e.msg);
	cr_assert_eq(msgs, 1);
	cr_assert(wait_for(ns, n, SEL1, NULL, DNSU_WANT_GONE, 10000, &q), "%s",
		  q.answers[1].detail);
	cr_assert_str_eq(q.answers[0].detail, "NXDOMAIN (gone)");
	cr_assert_str_eq(q.answers[1].detail, "NXDOMAIN (gone)");
	dnsu_query_free(&q, 1);

	/* Withdrawing what is gone already is no error. */
	cr_assert_eq(dnsu_withdraw(&bp.dns, ZONE, SEL1, &msgs, &e), DKR_OK, "%s", e.msg);
	free(ns);
}

Test(dnsu_publish, a_zone_transfer_shows_no_other_name_changed)
{
	char rec[DKIM_RECORD_MAX], before[4200], during[4200], after[4200];
	struct dkr_error e = { 0 };

	pair_up(14);
	record_new(KEY_ED25519, "k1", rec, sizeof(rec));
	snprintf(before, sizeof(before), "%s/before.axfr", tmp);
	snprintf(during, sizeof(during), "%s/during.axfr", tmp);
	snprintf(after, sizeof(after), "%s/after.axfr", tmp);

	cr_assert_eq(bind_axfr(&bp, ZONE, before), 0);
	cr_assert_eq(publish(SEL1, rec, &e), DKR_OK, "%s", e.msg);
	cr_assert_eq(bind_axfr(&bp, ZONE, during), 0);
	/* Exactly one line more, and it is the selector's TXT. */
	cr_assert_eq(test_sh("diff '%s' '%s' | grep '^[<>]' > '%s/diff' ; "
			     "test $(wc -l < '%s/diff') -eq 1 && "
			     "grep -q '^> " SEL1 ".[[:space:]]*300[[:space:]]*IN[[:space:]]*TXT' "
			     "'%s/diff'", before, during, tmp, tmp, tmp), 0);

	cr_assert_eq(dnsu_withdraw(&bp.dns, ZONE, SEL1, NULL, &e), DKR_OK, "%s", e.msg);
	cr_assert_eq(bind_axfr(&bp, ZONE, after), 0);
	cr_assert_eq(test_sh("cmp -s '%s' '%s'", before, after), 0);
}

Test(dnsu_publish, the_check_probe_is_accepted_and_changes_nothing)
{
	char before[4200], after[4200], want[6000];
	struct dkr_error e = { 0 };

	pair_up(19);
	snprintf(before, sizeof(before), "%s/before.axfr", tmp);
	snprintf(after, sizeof(after), "%s/after.axfr", tmp);

	cr_assert_eq(bind_axfr(&bp, ZONE, before), 0);
	cr_assert_eq(dnsu_probe(&bp.dns, ZONE, NULL, &e), DKR_OK, "%s", e.msg);
	cr_assert_eq(bind_axfr(&bp, ZONE, after), 0);
	cr_assert_eq(test_sh("cmp -s '%s' '%s'", before, after), 0);
	cr_assert_eq(test_sh("dig +short -p %d @127.0.0.1 " ZONE " SOA | grep -q ' 1 60 30 '",
			     bp.port), 0, "the probe changed the SOA serial");

	free(bp.dns.tsig_secret);
	bp.dns.tsig_secret = strdup("c2VjcmV0IHRoYXQgdGhlIHNlcnZlciBkb2VzIG5vdCBrbm93");
	cr_assert_eq(dnsu_probe(&bp.dns, ZONE, NULL, &e), DKR_EDNS);
	snprintf(want, sizeof(want), "probing zone example.test with an empty update: "
		 "127.0.0.1:25338 rejected the signature of TSIG key dkimrot (BADSIG): the "
		 "secret in %s is not the one the server has for that key", bp.secret_path);
	cr_assert_str_eq(e.msg, want);
}

Test(dnsu_publish, works_with_servers_on_ipv6_loopback)
{
	char rec[DKIM_RECORD_MAX], zone[256];
	struct dnsu_ns *ns = NULL;
	size_t n = 0;
	struct dnsu_query q;
	struct dkr_error e = { 0 };

	pair_up(15);
	record_new(KEY_ED25519, "k1", rec, sizeof(rec));
	bp.dns.server = bp.primary6;
	cr_assert_eq(dnsu_find_zone(&bp.primary6, SEL1, zone, sizeof(zone), &e), DKR_OK,
		     "%s", e.msg);
	cr_assert_str_eq(zone, ZONE);
	cr_assert_eq(publish(SEL1, rec, &e), DKR_OK, "%s", e.msg);
	pair_ns(&ns, &n, true);
	cr_assert_str_eq(ns[0].label, "[::1]:25330");
	cr_assert(wait_for(ns, n, SEL1, rec, DNSU_WANT_RECORD, 10000, &q));
	dnsu_query_free(&q, 1);
	cr_assert_eq(dnsu_withdraw(&bp.dns, ZONE, SEL1, NULL, &e), DKR_OK, "%s", e.msg);
	free(ns);
}

Test(dnsu_publish, signs_with_hmac_sha512_sha1_and_md5_too)
{
	static const char *const algs[][3] = {
		{ "dkimrot-sha512", "hmac-sha512", "tsig-sha512.secret" },
		{ "dkimrot-sha1", "hmac-sha1", "tsig-sha1.secret" },
		{ "dkimrot-md5", "hmac-md5", "tsig-md5.secret" },
	};
	char rec[DKIM_RECORD_MAX], name[256];
	struct dkr_error e = { 0 };

	pair_up(16);
	record_new(KEY_ED25519, "k1", rec, sizeof(rec));
	for (size_t i = 0; i < 3; i++) {
		snprintf(bp.dns.tsig_name, sizeof(bp.dns.tsig_name), "%s", algs[i][0]);
		snprintf(bp.dns.tsig_algorithm, sizeof(bp.dns.tsig_algorithm), "%s", algs[i][1]);
		free(bp.dns.tsig_secret);
		bp.dns.tsig_secret = bind_secret(&bp, algs[i][2]);
		snprintf(name, sizeof(name), "a%zu._domainkey." ZONE, i);
		cr_assert_eq(publish(name, rec, &e), DKR_OK, "%s: %s", algs[i][1], e.msg);
		cr_assert_eq(dnsu_withdraw(&bp.dns, ZONE, name, NULL, &e), DKR_OK, "%s: %s",
			     algs[i][1], e.msg);
	}
}

Test(dnsu_publish, checks_hundreds_of_names_at_once_and_truncated_ones_over_tcp)
{
	char rec[DKIM_RECORD_MAX], path[4200], names[302][64];
	struct dnsu_query q[302];
	struct dnsu_ns *ns = NULL;
	size_t n = 0, ok = 0;
	struct dkr_error e = { 0 };
	FILE *f;

	tmp = test_tmpdir_make("dnsu");
	record_new(KEY_RSA2048, "many", rec, sizeof(rec));
	snprintf(path, sizeof(path), "%s/" ZONE ".extra", tmp);
	f = fopen(path, "w");
	cr_assert_not_null(f);
	for (int i = 0; i < 300; i++) {
		char **chunks;
		size_t nc;

		cr_assert_eq(dkim_record_split(rec, &chunks, &nc, &e), DKR_OK);
		fprintf(f, "m%d._domainkey 600 IN TXT", i);
		for (size_t c = 0; c < nc; c++)
			fprintf(f, " \"%s\"", chunks[c]);
		fprintf(f, "\n");
		free(chunks);
	}
	/* Our key beside two other long records: too big for UDP, so TCP. */
	for (int i = 0; i < 3; i++) {
		char **chunks;
		size_t nc;

		cr_assert_eq(dkim_record_split(rec, &chunks, &nc, &e), DKR_OK);
		fprintf(f, "tc._domainkey 600 IN TXT");
		for (size_t c = 0; c < nc; c++)
			fprintf(f, " \"%s%s\"", chunks[c],
				i > 0 && c + 1 == nc ? (i == 1 ? "x" : "y") : "");
		fprintf(f, "\n");
		free(chunks);
	}
	fclose(f);
	cr_assert_eq(bind_pair_start(&bp, tmp, 25300 + 2 * 17, ZONE, NULL), 0);
	pair_ns(&ns, &n, false);

	for (int i = 0; i < 302; i++) {
		snprintf(names[i], sizeof(names[i]), i < 301 ? "m%d._domainkey." ZONE :
			 "tc._domainkey." ZONE, i);
		q[i] = (struct dnsu_query){ .name = names[i], .record = rec,
					    .want = DNSU_WANT_RECORD };
	}
	cr_assert_eq(dnsu_check(ns, n, q, 302, 2000, 2, &e), DKR_OK, "%s", e.msg);
	for (int i = 0; i < 300; i++)
		ok += q[i].all_ok;
	cr_assert_eq(ok, 300);
	cr_assert_not(q[300].all_ok);
	cr_assert_str_eq(q[300].answers[0].detail, "NXDOMAIN (not there yet)");
	cr_assert_str_eq(q[300].answers[1].detail, "NXDOMAIN (not there yet)");
	cr_assert(q[301].all_ok, "%s", q[301].answers[0].detail);
	dnsu_query_free(q, 302);
	free(ns);
}

Test(dnsu_publish, the_provider_adapter_publishes_reads_and_withdraws)
{
	char rec[DKIM_RECORD_MAX], zone[256], *now = NULL;
	const struct provider_ops *ops = &provider_rfc2136_ops;
	struct provider *p = NULL;
	struct provider_rr rr;
	struct dkr_error e = { 0 };

	pair_up(18);
	record_new(KEY_ED25519, "k1", rec, sizeof(rec));
	cr_assert_str_eq(ops->type, "rfc2136");
	cr_assert_eq(ops->caps, PROVIDER_CAN_READ | PROVIDER_FINDS_ZONE | PROVIDER_NOTIFIES);
	cr_assert_eq(ops->open(&bp.dns, &p, &e), DKR_OK, "%s", e.msg);

	cr_assert_eq(ops->find_zone(p, SEL1, zone, sizeof(zone), &e), DKR_OK, "%s", e.msg);
	cr_assert_str_eq(zone, ZONE);
	rr = (struct provider_rr){ .zone = zone, .name = SEL1, .ttl = 300, .record = rec };
	cr_assert_eq(ops->publish(p, &rr, &e), DKR_OK, "%s", e.msg);
	cr_assert_eq(ops->read(p, zone, SEL1, &now, &e), DKR_OK, "%s", e.msg);
	cr_assert_str_eq(now, rec);
	free(now);
	cr_assert_eq(ops->withdraw(p, &rr, &e), DKR_OK, "%s", e.msg);
	cr_assert_eq(ops->read(p, zone, SEL1, &now, &e), DKR_OK, "%s", e.msg);
	cr_assert_null(now);
	/* find_zone, publish, read, withdraw, read: one message each. */
	cr_assert_eq(p->requests, 5);
	ops->close(p);
}

/* ---------------------------------- replies BIND will not give on demand */

struct fake {
	int lfd;
	int rcode;
	int tsig_error;		/* -1: no TSIG in the reply */
};

/* Build the reply the fake server sends: our rcode, maybe a TSIG error. */
static void fake_reply(const struct fake *f, const ldns_pkt *q, uint8_t **wire, size_t *len)
{
	ldns_pkt *r = ldns_pkt_new();
	ldns_rr *t;
	uint8_t zero6[6] = { 0 }, zero2[2] = { 0 };

	ldns_pkt_set_id(r, ldns_pkt_id(q));
	ldns_pkt_set_qr(r, true);
	ldns_pkt_set_opcode(r, ldns_pkt_get_opcode(q));
	ldns_pkt_set_rcode(r, (uint8_t)f->rcode);
	if (f->tsig_error >= 0) {
		t = ldns_rr_new();
		ldns_rr_set_owner(t, ldns_dname_new_frm_str("dkimrot."));
		ldns_rr_set_type(t, LDNS_RR_TYPE_TSIG);
		ldns_rr_set_class(t, LDNS_RR_CLASS_ANY);
		ldns_rr_push_rdf(t, ldns_dname_new_frm_str("hmac-sha256."));
		ldns_rr_push_rdf(t, ldns_rdf_new_frm_data(LDNS_RDF_TYPE_TSIGTIME, 6, zero6));
		ldns_rr_push_rdf(t, ldns_native2rdf_int16(LDNS_RDF_TYPE_INT16, 300));
		ldns_rr_push_rdf(t, ldns_rdf_new_frm_data(LDNS_RDF_TYPE_INT16_DATA, 2, zero2));
		ldns_rr_push_rdf(t, ldns_native2rdf_int16(LDNS_RDF_TYPE_INT16, ldns_pkt_id(q)));
		ldns_rr_push_rdf(t, ldns_native2rdf_int16(LDNS_RDF_TYPE_INT16,
							  (uint16_t)f->tsig_error));
		ldns_rr_push_rdf(t, ldns_rdf_new_frm_data(LDNS_RDF_TYPE_INT16_DATA, 2, zero2));
		ldns_pkt_set_tsig(r, t);
	}
	cr_assert_eq(ldns_pkt2wire(wire, r, len), LDNS_STATUS_OK);
	ldns_pkt_free(r);
}

/* Accept one TCP connection, read one query, send the scripted reply. */
static void *fake_serve(void *arg)
{
	struct fake *f = arg;
	uint8_t hdr[2], buf[65535], *wire = NULL;
	size_t len = 0, qlen;
	ldns_pkt *q = NULL;
	int fd = accept(f->lfd, NULL, NULL);

	if (fd < 0 || recv(fd, hdr, 2, MSG_WAITALL) != 2)
		return NULL;
	qlen = ((size_t)hdr[0] << 8) | hdr[1];
	if (recv(fd, buf, qlen, MSG_WAITALL) != (ssize_t)qlen ||
	    ldns_wire2pkt(&q, buf, qlen) != LDNS_STATUS_OK)
		goto out;
	fake_reply(f, q, &wire, &len);
	hdr[0] = (uint8_t)(len >> 8);
	hdr[1] = (uint8_t)len;
	send(fd, hdr, 2, MSG_NOSIGNAL);
	send(fd, wire, len, MSG_NOSIGNAL);
out:
	free(wire);
	ldns_pkt_free(q);
	close(fd);
	return NULL;
}

/* Publish against a fake server on 127.0.0.1:25348 scripted with `f`. */
static int fake_publish(struct fake *f, struct dkr_error *e)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(25348),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct conf_dns d = { .type = DNS_RFC2136, .server = { "127.0.0.1", 25348 },
			      .tsig_name = "dkimrot", .tsig_algorithm = "hmac-sha256",
			      .tsig_secret_file = "/etc/dkimrot/tsig.secret", .timeout = 5 };
	pthread_t th;
	int one = 1, rc;

	d.tsig_secret = "c2VjcmV0IHRoYXQgdGhlIHNlcnZlciBkb2VzIG5vdCBrbm93";
	f->lfd = socket(AF_INET, SOCK_STREAM, 0);
	setsockopt(f->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	cr_assert_eq(bind(f->lfd, (struct sockaddr *)&a, sizeof(a)), 0);
	cr_assert_eq(listen(f->lfd, 1), 0);
	pthread_create(&th, NULL, fake_serve, f);
	rc = dnsu_publish(&d, ZONE, SEL1, 300, "v=DKIM1; k=ed25519; p=x", NULL, e);
	pthread_join(th, NULL);
	close(f->lfd);
	return rc;
}

TestSuite(dnsu_fake);

Test(dnsu_fake, servfail_is_worth_retrying)
{
	struct fake f = { .rcode = LDNS_RCODE_SERVFAIL, .tsig_error = -1 };
	struct dkr_error e = { 0 };

	cr_assert_eq(fake_publish(&f, &e), DKR_ETEMP);
	cr_assert_str_eq(e.msg, "publishing k1._domainkey.example.test in zone example.test: "
			 "127.0.0.1:25348 failed to apply the update of "
			 "k1._domainkey.example.test (SERVFAIL); its log says why");
}

Test(dnsu_fake, badtime_asks_for_a_synchronised_clock)
{
	struct fake f = { .rcode = LDNS_RCODE_NOTAUTH, .tsig_error = 18 };
	struct dkr_error e = { 0 };

	cr_assert_eq(fake_publish(&f, &e), DKR_ETEMP);
	cr_assert_str_eq(e.msg, "publishing k1._domainkey.example.test in zone example.test: "
			 "127.0.0.1:25348 says this host's clock is more than 300 s off "
			 "(BADTIME): synchronise the clock (NTP) on both hosts");
}

Test(dnsu_fake, notzone_names_the_zone_setting)
{
	struct fake f = { .rcode = LDNS_RCODE_NOTZONE, .tsig_error = -1 };
	struct dkr_error e = { 0 };

	cr_assert_eq(fake_publish(&f, &e), DKR_EDNS);
	cr_assert_str_eq(e.msg, "publishing k1._domainkey.example.test in zone example.test: "
			 "127.0.0.1:25348 says k1._domainkey.example.test is not inside zone "
			 "example.test (NOTZONE): check the zone setting of this domain");
}

Test(dnsu_fake, an_unsigned_success_is_not_trusted)
{
	struct fake f = { .rcode = LDNS_RCODE_NOERROR, .tsig_error = -1 };
	struct dkr_error e = { 0 };

	cr_assert_eq(fake_publish(&f, &e), DKR_EDNS);
	cr_assert_str_eq(e.msg, "publishing k1._domainkey.example.test in zone example.test: "
			 "127.0.0.1:25348 answered the signed update of "
			 "k1._domainkey.example.test without a TSIG signature: the reply "
			 "cannot be trusted");
}

Test(dnsu_fake, a_forged_signature_on_success_is_refused)
{
	struct fake f = { .rcode = LDNS_RCODE_NOERROR, .tsig_error = 0 };
	struct dkr_error e = { 0 };

	cr_assert_eq(fake_publish(&f, &e), DKR_EDNS);
	cr_assert_str_eq(e.msg, "publishing k1._domainkey.example.test in zone example.test: "
			 "the TSIG signature of 127.0.0.1:25348's reply does not verify with "
			 "key dkimrot: is the secret in /etc/dkimrot/tsig.secret the server's?");
}
