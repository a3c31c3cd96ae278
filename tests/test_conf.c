/*
 * test_conf.c - the configuration loader: a full file read field by field,
 * a table of broken files each with its exact first message, several
 * problems reported at once, secret file modes, relative paths, selector
 * patterns, lookups, and the shipped example.
 */
#include <criterion/criterion.h>
#include <grp.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../conf/conf.h"
#include "helper.h"

#define TSIG_SECRET "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0IQ=="

/* A group that surely exists: the one the tests run as. */
static const char *group_name(void)
{
	static char name[64];
	struct group *g = getgrgid(getgid());

	cr_assert_not_null(g);
	snprintf(name, sizeof(name), "%s", g->gr_name);
	return name;
}

/* `text` with every @DIR@ and @GROUP@ replaced; the caller frees. */
static char *expand(const char *text, const char *dir)
{
	size_t cap = strlen(text) * 4 + 8192, used = 0;
	char *out = calloc(1, cap);

	cr_assert_not_null(out);
	for (const char *p = text; *p != '\0';) {
		const char *with = NULL;
		size_t skip = 0;

		if (strncmp(p, "@DIR@", 5) == 0) {
			with = dir;
			skip = 5;
		} else if (strncmp(p, "@GROUP@", 7) == 0) {
			with = group_name();
			skip = 7;
		}
		if (with != NULL) {
			used += (size_t)snprintf(out + used, cap - used, "%s", with);
			p += skip;
		} else {
			out[used++] = *p++;
		}
		cr_assert_lt(used, cap - 1);
	}
	return out;
}

/* Write dir/dkimrot.conf from `body` (tokens expanded); returns its path. */
static char *conf_write(const char *dir, const char *body)
{
	char *text = expand(body, dir);
	char *path = test_write_file(dir, "dkimrot.conf", text, 0644);

	free(text);
	return path;
}

static void secrets_write(const char *dir)
{
	free(test_write_file(dir, "tsig.secret", TSIG_SECRET "\n", 0600));
	free(test_write_file(dir, "pdns.key", "pdns-api-key\n", 0600));
	free(test_write_file(dir, "cf.token", "cf-token-123\n", 0600));
	free(test_write_file(dir, "bad.secret", "not base64!\n", 0600));
	free(test_write_file(dir, "spaced.key", "two words\n", 0600));
}

/* ------------------------------------------------------------ a good file */

static const char good_conf[] =
	"state_db = \"state/dkimrot.db\";\n"
	"policy = {\n"
	"  algorithm = \"rsa-3072\";\n"
	"  rotate_every = \"60d\";\n"
	"  grace = \"5d\";\n"
	"  ttl = 1800;\n"
	"  selector = \"s%Y%m\";\n"
	"  propagation_timeout = \"90m\";\n"
	"};\n"
	"dns = (\n"
	"  { name = \"primary\"; type = \"rfc2136\"; server = \"127.0.0.1\"; port = 5353;\n"
	"    tsig = { name = \"DKIMrot.Key.\"; algorithm = \"HMAC-SHA512\";\n"
	"             secret_file = \"tsig.secret\"; }; },\n"
	"  { name = \"plain\"; type = \"rfc2136\"; server = \"NS1.example.net\"; },\n"
	"  { name = \"pdns\"; type = \"powerdns\"; url = \"http://127.0.0.1:8081/\";\n"
	"    api_key_file = \"pdns.key\"; timeout = \"10s\"; },\n"
	"  { name = \"cf\"; type = \"cloudflare\"; api_token_file = \"@DIR@/cf.token\";\n"
	"    ca_file = \"ca.pem\"; },\n"
	"  { name = \"hook\"; type = \"exec\"; command = \"hooks/dns-hook\"; }\n"
	");\n"
	"mta = (\n"
	"  { name = \"courier\"; type = \"zdkimfilter\"; keys_dir = \"keys\";\n"
	"    group = \"@GROUP@\"; },\n"
	"  { name = \"odkim\"; type = \"opendkim\"; key_table = \"/etc/opendkim/KeyTable\";\n"
	"    signing_table = \"/etc/opendkim/SigningTable\";\n"
	"    key_dir = \"/etc/opendkim/keys\"; group = \"@GROUP@\";\n"
	"    reload = \"pkill -USR1 opendkim\"; }\n"
	");\n"
	"domains = (\n"
	"  { domain = \"Example.COM.\"; dns = \"primary\"; mta = \"courier\";\n"
	"    zone = \"example.com\";\n"
	"    nameservers = [ \"127.0.0.1\", \"127.0.0.2:5353\", \"[::1]:5300\", \"::1\",\n"
	"                    \"NS1.example.net\" ]; },\n"
	"  { domain = \"b.example.org\"; dns = \"pdns\"; mta = \"odkim\"; zone = \"example.org\";\n"
	"    algorithm = \"ed25519\"; rotate_every = \"30d\"; grace = \"2d\"; ttl = 600;\n"
	"    selector = \"ed%Y%m%d%H\"; propagation_timeout = 3600; },\n"
	"  { domain = \"a.example.net\"; dns = \"cf\"; mta = \"courier\"; },\n"
	"  { domain = \"hooked.example\"; dns = \"hook\"; mta = \"courier\"; }\n"
	");\n";

static struct conf *good_load(const char *dir)
{
	struct conf_diags diags = { 0 };
	struct dkr_error e = { 0 };
	struct conf *conf = NULL;
	char *path;

	secrets_write(dir);
	path = conf_write(dir, good_conf);
	cr_assert_eq(conf_load(path, &conf, &diags, &e), DKR_OK, "%s", e.msg);
	cr_assert_eq(diags.n, 0);
	cr_assert_not_null(conf);
	free(path);
	return conf;
}

Test(conf, loads_a_full_file_with_every_field_right)
{
	char *dir = test_tmpdir_make("conf");
	char *real = realpath(dir, NULL);
	char buf[4200];
	struct conf *c = good_load(dir);
	const struct conf_dns *d;
	const struct conf_mta *m;

	snprintf(buf, sizeof(buf), "%s/state/dkimrot.db", real);
	cr_assert_str_eq(c->state_db, buf);
	cr_assert_eq(c->policy.algorithm, KEY_RSA3072);
	cr_assert_eq(c->policy.rotate_every, 60 * 86400);
	cr_assert_eq(c->policy.grace, 5 * 86400);
	cr_assert_eq(c->policy.ttl, 1800);
	cr_assert_str_eq(c->policy.selector, "s%Y%m");
	cr_assert_eq(c->policy.propagation_timeout, 5400);

	cr_assert_eq(c->n_dns, 5);
	d = &c->dns[0];
	cr_assert_str_eq(d->name, "primary");
	cr_assert_eq(d->type, DNS_RFC2136);
	cr_assert_eq(d->line, 11);
	cr_assert_str_eq(d->server.host, "127.0.0.1");
	cr_assert_eq(d->server.port, 5353);
	cr_assert_str_eq(d->tsig_name, "dkimrot.key");
	cr_assert_str_eq(d->tsig_algorithm, "hmac-sha512");
	cr_assert_str_eq(d->tsig_secret, TSIG_SECRET);
	snprintf(buf, sizeof(buf), "%s/tsig.secret", real);
	cr_assert_str_eq(d->tsig_secret_file, buf);
	cr_assert_eq(d->timeout, 30);

	d = &c->dns[1];
	cr_assert_str_eq(d->server.host, "ns1.example.net");
	cr_assert_eq(d->server.port, 53);
	cr_assert_str_eq(d->tsig_name, "");
	cr_assert_null(d->tsig_secret);

	d = &c->dns[2];
	cr_assert_eq(d->type, DNS_POWERDNS);
	cr_assert_str_eq(d->url, "http://127.0.0.1:8081");
	cr_assert_str_eq(d->server_id, "localhost");
	cr_assert_str_eq(d->api_secret, "pdns-api-key");
	cr_assert_eq(d->timeout, 10);
	cr_assert_str_eq(d->ca_file, "");

	d = &c->dns[3];
	cr_assert_eq(d->type, DNS_CLOUDFLARE);
	cr_assert_str_eq(d->url, "https://api.cloudflare.com/client/v4");
	cr_assert_str_eq(d->api_secret, "cf-token-123");
	snprintf(buf, sizeof(buf), "%s/ca.pem", real);
	cr_assert_str_eq(d->ca_file, buf);

	d = &c->dns[4];
	cr_assert_eq(d->type, DNS_EXEC);
	snprintf(buf, sizeof(buf), "%s/hooks/dns-hook", real);
	cr_assert_str_eq(d->command, buf);

	cr_assert_eq(c->n_mta, 2);
	m = &c->mta[0];
	cr_assert_eq(m->type, MTA_ZDKIMFILTER);
	snprintf(buf, sizeof(buf), "%s/keys", real);
	cr_assert_str_eq(m->keys_dir, buf);
	cr_assert_str_eq(m->group, group_name());
	cr_assert_eq(m->gid, getgid());
	cr_assert_str_eq(m->reload, "");
	m = &c->mta[1];
	cr_assert_eq(m->type, MTA_OPENDKIM);
	cr_assert_str_eq(m->key_table, "/etc/opendkim/KeyTable");
	cr_assert_str_eq(m->signing_table, "/etc/opendkim/SigningTable");
	cr_assert_str_eq(m->key_dir, "/etc/opendkim/keys");
	cr_assert_str_eq(m->reload, "pkill -USR1 opendkim");

	conf_free(c);
	free(real);
	test_tmpdir_remove(dir);
}

Test(conf, merges_domain_overrides_over_the_defaults_and_sorts_domains)
{
	char *dir = test_tmpdir_make("conf");
	struct conf *c = good_load(dir);
	const struct conf_domain *d;

	cr_assert_eq(c->n_domains, 4);
	cr_assert_str_eq(c->domains[0].domain, "a.example.net");
	cr_assert_str_eq(c->domains[1].domain, "b.example.org");
	cr_assert_str_eq(c->domains[2].domain, "example.com");
	cr_assert_str_eq(c->domains[3].domain, "hooked.example");

	/* Only defaults. */
	d = &c->domains[0];
	cr_assert_eq(d->line, 37);
	cr_assert_eq(d->dns, &c->dns[3]);
	cr_assert_eq(d->mta, &c->mta[0]);
	cr_assert_str_eq(d->zone, "");
	cr_assert_null(d->nameservers);
	cr_assert_eq(d->policy.algorithm, KEY_RSA3072);
	cr_assert_eq(d->policy.ttl, 1800);
	cr_assert_str_eq(d->policy.selector, "s%Y%m");

	/* Every key overridden. */
	d = &c->domains[1];
	cr_assert_eq(d->mta, &c->mta[1]);
	cr_assert_str_eq(d->zone, "example.org");
	cr_assert_eq(d->policy.algorithm, KEY_ED25519);
	cr_assert_eq(d->policy.rotate_every, 30 * 86400);
	cr_assert_eq(d->policy.grace, 2 * 86400);
	cr_assert_eq(d->policy.ttl, 600);
	cr_assert_str_eq(d->policy.selector, "ed%Y%m%d%H");
	cr_assert_eq(d->policy.propagation_timeout, 3600);

	/* Normalised name; every nameserver form. */
	d = &c->domains[2];
	cr_assert_eq(d->dns, &c->dns[0]);
	cr_assert_eq(d->n_nameservers, 5);
	cr_assert_str_eq(d->nameservers[0].host, "127.0.0.1");
	cr_assert_eq(d->nameservers[0].port, 53);
	cr_assert_str_eq(d->nameservers[1].host, "127.0.0.2");
	cr_assert_eq(d->nameservers[1].port, 5353);
	cr_assert_str_eq(d->nameservers[2].host, "::1");
	cr_assert_eq(d->nameservers[2].port, 5300);
	cr_assert_str_eq(d->nameservers[3].host, "::1");
	cr_assert_eq(d->nameservers[3].port, 53);
	cr_assert_str_eq(d->nameservers[4].host, "ns1.example.net");

	conf_free(c);
	test_tmpdir_remove(dir);
}

Test(conf, uses_the_documented_defaults_when_policy_is_left_out)
{
	char *dir = test_tmpdir_make("conf");
	char *path = conf_write(dir, "domains = ();\n");
	struct dkr_error e = { 0 };
	struct conf *c = NULL;

	cr_assert_eq(conf_load(path, &c, NULL, &e), DKR_OK, "%s", e.msg);
	cr_assert_str_eq(c->state_db, "/var/lib/dkimrot/state.db");
	cr_assert_eq(c->policy.algorithm, KEY_RSA2048);
	cr_assert_eq(c->policy.rotate_every, 90 * 86400);
	cr_assert_eq(c->policy.grace, 7 * 86400);
	cr_assert_eq(c->policy.ttl, 3600);
	cr_assert_str_eq(c->policy.selector, "k%Y%m%d");
	cr_assert_eq(c->policy.propagation_timeout, 7200);
	cr_assert_eq(c->n_domains, 0);
	cr_assert_eq(c->n_dns, 0);

	conf_free(c);
	free(path);
	test_tmpdir_remove(dir);
}

/* ------------------------------------------------------- the bad table */

/* Lines 1 and 2 of most rows: one good dns and one good mta entry. */
#define PRE "dns = ( { name = \"primary\"; type = \"rfc2136\"; server = \"127.0.0.1\"; } );\n" \
	"mta = ( { name = \"courier\"; type = \"zdkimfilter\"; keys_dir = \"keys\"; " \
	"group = \"@GROUP@\"; } );\n"
#define DOM_OPEN "domains = ( { domain = \"example.com\"; dns = \"primary\"; mta = \"courier\";"
#define SEL(p) PRE "policy = { selector = \"" p "\"; };\n"
#define TSIG(k) "dns = ( { name = \"primary\"; type = \"rfc2136\"; server = \"127.0.0.1\";\n" \
	"  tsig = { name = \"k\"; " k " }; } );\n"
#define SELMSG "policy: selector "

static const struct bad_row {
	const char *body;
	int line;
	const char *msg;
} bad_rows[] = {
	{ PRE "policy = { ttl = 3600\n", 4, "syntax error" },
	{ "a = 1;\na = 2;\n", 2, "duplicate setting name" },
	{ PRE "polcy = { ttl = 60; };\n", 3,
	  "unknown key \"polcy\" (valid keys: state_db, policy, dns, mta, domains)" },
	{ PRE "policy = {\n  algoritm = \"ed25519\";\n};\n", 4,
	  "policy: unknown key \"algoritm\" (valid keys: algorithm, rotate_every, grace, ttl, "
	  "selector, propagation_timeout)" },
	{ PRE DOM_OPEN "\n  grase = \"1d\"; } );\n", 4,
	  "domain \"example.com\": unknown key \"grase\" (valid keys: domain, dns, mta, zone, "
	  "nameservers, algorithm, rotate_every, grace, ttl, selector, propagation_timeout)" },
	{ PRE "policy = { ttl = \"1h\"; };\n", 3, "policy: ttl must be an integer" },
	{ PRE "state_db = 5;\n", 3, "state_db must be a string (in double quotes)" },
	{ "dns = ( { name = \"primary\"; type = \"rfc2136\"; } );\n", 1,
	  "dns \"primary\": missing required key \"server\"" },
	{ "dns = (\n  { name = \"a\"; type = \"exec\"; command = \"/bin/true\"; },\n"
	  "  { name = \"a\"; type = \"exec\"; command = \"/bin/false\"; }\n);\n", 3,
	  "dns \"a\": defined twice (first at line 2)" },
	{ PRE "domains = (\n"
	  "  { domain = \"example.com\"; dns = \"primary\"; mta = \"courier\"; },\n"
	  "  { domain = \"EXAMPLE.com.\"; dns = \"primary\"; mta = \"courier\"; }\n);\n", 5,
	  "domain \"example.com\" is defined twice (first at line 4)" },
	{ PRE "domains = ( { domain = \"example.com\"; dns = \"secondary\";\n"
	  "  mta = \"courier\"; } );\n", 3,
	  "domain \"example.com\": dns \"secondary\" is not defined in the dns list" },
	{ PRE "domains = ( { domain = \"example.com\"; dns = \"primary\";\n"
	  "  mta = \"postfix\"; } );\n", 4,
	  "domain \"example.com\": mta \"postfix\" is not defined in the mta list" },
	{ PRE "policy = {\n  ttl = 7200;\n  grace = \"1h\";\n};\n", 5,
	  "policy: grace (1h) is shorter than ttl (7200s): a resolver could still serve the "
	  "old record when it is withdrawn" },
	{ PRE DOM_OPEN "\n  grace = \"30m\"; } );\n", 4,
	  "domain \"example.com\": grace (30m) is shorter than ttl (3600s): a resolver could "
	  "still serve the old record when it is withdrawn" },
	{ PRE "policy = { algorithm = \"rsa-1024\"; };\n", 3,
	  "policy: algorithm \"rsa-1024\": RSA keys shorter than 2048 bits are refused; use one "
	  "of rsa-2048, rsa-3072, rsa-4096, ed25519" },
	{ PRE "policy = { algorithm = \"dsa\"; };\n", 3,
	  "policy: unknown algorithm \"dsa\"; use one of rsa-2048, rsa-3072, rsa-4096, ed25519" },
	{ SEL("k.%Y"), 3, SELMSG "\"k.%Y\" contains a dot: a selector must be one DNS label" },
	{ SEL("k%%%Y"), 3, SELMSG "\"k%%%Y\": \"%%\" is not allowed: use only %Y %y %C %G %g "
	  "%m %d %j %H %M %S %s %V %U %W %u %w (a %% would put a '%' in the label)" },
	{ SEL("k%e"), 3, SELMSG "\"k%e\": \"%e\" is not allowed: use only %Y %y %C %G %g %m %d "
	  "%j %H %M %S %s %V %U %W %u %w (a %% would put a '%' in the label)" },
	{ SEL("%s%s%s%s%s%s"), 3, SELMSG "\"%s%s%s%s%s%s\" can give 66 characters, more than "
	  "the 63 a DNS label holds" },
	{ SEL(""), 3, "policy: selector pattern is empty" },
	{ SEL("k_%Y"), 3, SELMSG "\"k_%Y\": character '_' cannot appear in a DNS label "
	  "(letters, digits and hyphens only)" },
	{ SEL("-k%Y"), 3, SELMSG "\"-k%Y\" starts or ends with a hyphen, which a DNS label "
	  "cannot" },
	{ PRE "domains = ( { domain = \"../etc\"; dns = \"primary\"; mta = \"courier\"; } );\n",
	  3, "domain \"../etc\" is not a valid hostname (labels of 1 to 63 letters, digits or "
	  "hyphens, at most 253 characters)" },
	{ PRE DOM_OPEN "\n  zone = \"mail.example.com\"; } );\n", 4,
	  "domain \"example.com\": zone \"mail.example.com\" is neither the domain nor a parent "
	  "of it" },
	{ PRE "policy = { ttl = 0; };\n", 3,
	  "policy: ttl 0 is out of range: use 1 to 86400 seconds (a day at most)" },
	{ PRE "policy = { ttl = 100000; grace = \"30d\"; };\n", 3,
	  "policy: ttl 100000 is out of range: use 1 to 86400 seconds (a day at most)" },
	{ PRE "policy = { rotate_every = \"7d\"; };\n", 3,
	  "policy: rotate_every (7d) must be longer than grace + ttl (7d 1h), or retired keys "
	  "would pile up in DNS" },
	{ PRE "policy = { rotate_every = \"30s\"; };\n", 3,
	  "policy: rotate_every (30s) must be at least 1m" },
	{ PRE "policy = { propagation_timeout = \"0s\"; };\n", 3,
	  "policy: propagation_timeout must be longer than 0s" },
	{ PRE "policy = { grace = \"7 days\"; };\n", 3,
	  "policy: grace: invalid duration \"7 days\" (expected a number with a unit s, m, h, d "
	  "or w, like \"90d\")" },
	{ TSIG("algorithm = \"hmac-sha384\"; secret_file = \"tsig.secret\";"), 2,
	  "dns \"primary\": tsig algorithm hmac-sha384 cannot be used: ldns 1.8 does not sign "
	  "with it correctly; use hmac-sha256 or hmac-sha512" },
	{ TSIG("algorithm = \"hmac-sha224\"; secret_file = \"tsig.secret\";"), 2,
	  "dns \"primary\": tsig algorithm hmac-sha224 cannot be used: ldns 1.8 does not sign "
	  "with it correctly; use hmac-sha256 or hmac-sha512" },
	{ TSIG("secret_file = \"missing.secret\";"), 2,
	  "dns \"primary\": cannot open secret file @DIR@/missing.secret: No such file or "
	  "directory" },
	{ TSIG("secret_file = \"bad.secret\";"), 2,
	  "dns \"primary\": secret file @DIR@/bad.secret does not hold a base64 TSIG secret "
	  "(only the secret, as in the \"secret\" of a BIND key)" },
	{ "mta = ( { name = \"courier\"; type = \"zdkimfilter\"; keys_dir = \"keys\";\n"
	  "  group = \"no-such-group-dkimrot\"; } );\n", 2,
	  "mta \"courier\": group \"no-such-group-dkimrot\" does not exist on this system" },
	{ PRE DOM_OPEN "\n  nameservers = [ \"127.0.0.1:70000\" ]; } );\n", 4,
	  "domain \"example.com\": nameserver \"127.0.0.1:70000\" has port \"70000\", not a "
	  "number in 1..65535" },
	{ PRE DOM_OPEN "\n  nameservers = [ \"192.0.2.1:0\" ]; } );\n", 4,
	  "domain \"example.com\": nameserver \"192.0.2.1:0\" has port \"0\", not a "
	  "number in 1..65535" },
	{ PRE DOM_OPEN "\n  nameservers = [ \"[ns1.example.com]:53\" ]; } );\n", 4,
	  "domain \"example.com\": nameserver \"[ns1.example.com]:53\" puts something other "
	  "than an IPv6 address in brackets" },
	{ PRE DOM_OPEN "\n  nameservers = [ \"[::1:53\" ]; } );\n", 4,
	  "domain \"example.com\": nameserver \"[::1:53\" has no closing ']' before the port" },
	{ PRE DOM_OPEN "\n  nameservers = [ \"999.1.2.3\" ]; } );\n", 4,
	  "domain \"example.com\": nameserver \"999.1.2.3\" is neither a hostname nor an IP "
	  "address (IPv6 with a port: \"[::1]:5353\")" },
	{ "dns = ( { name = \"primary\"; type = \"rfc2136\"; server = \"127.0.0.1\";\n"
	  "  api_key_file = \"pdns.key\"; } );\n", 2,
	  "dns \"primary\": key \"api_key_file\" does not apply to type rfc2136 (it belongs to "
	  "powerdns)" },
	{ "dns = ( { name = \"primary\"; type = \"bind\"; server = \"127.0.0.1\"; } );\n", 1,
	  "dns \"primary\": unknown type \"bind\"; use one of rfc2136, powerdns, cloudflare, "
	  "exec" },
	{ "dns = ( { name = \"p\"; type = \"powerdns\"; url = \"ftp://127.0.0.1\";\n"
	  "  api_key_file = \"pdns.key\"; } );\n", 1,
	  "dns \"p\": url \"ftp://127.0.0.1\" is not an http:// or https:// URL" },
	{ "dns = ( { name = \"cf\"; type = \"cloudflare\"; api_token_file = \"cf.token\"; } );\n"
	  "mta = ( { name = \"courier\"; type = \"zdkimfilter\"; keys_dir = \"keys\"; "
	  "group = \"@GROUP@\"; } );\n"
	  "domains = ( { domain = \"example.com\"; dns = \"cf\"; mta = \"courier\";\n"
	  "  ttl = 30; grace = \"1h\"; } );\n", 3,
	  "domain \"example.com\": ttl 30 cannot be used with Cloudflare (dns \"cf\"): it "
	  "accepts 60 to 86400 seconds" },
	{ PRE "policy = { grace = 9223372036854775807L; };\n", 3,
	  "policy: grace is longer than 100 years" },
	{ "dns = ( { name = \"primary\"; type = \"rfc2136\"; server = \"127.0.0.1\";\n"
	  "  port = \"53\"; } );\n", 2, "dns \"primary\": port must be an integer" },
	{ TSIG("secret_file = \"tsig.secret\"; sekret = \"x\";"), 2,
	  "dns \"primary\": unknown key \"sekret\" (valid keys: name, algorithm, secret_file)" },
	{ "dns = ( { name = \"p\"; type = \"powerdns\"; url = \"http://127.0.0.1:8081\";\n"
	  "  api_key_file = \"spaced.key\"; } );\n", 2,
	  "dns \"p\": secret file @DIR@/spaced.key holds a space or a character that cannot "
	  "go into an HTTP header" },
	{ PRE DOM_OPEN "\n  nameservers = [ ]; } );\n", 4,
	  "domain \"example.com\": nameservers must hold 1 to 32 entries (leave it out to use "
	  "the zone's NS records)" },
	{ "dns = ( { name = \"hook\"; type = \"exec\";\n"
	  "  command = \"/usr/bin/hook --zone x\"; } );\n", 2,
	  "dns \"hook\": command \"/usr/bin/hook --zone x\" is run directly, without a shell "
	  "or arguments: give the path of one executable" },
	{ PRE "domains = { domain = \"example.com\"; };\n", 3,
	  "domains must be a list of groups: domains = ( { domain = ...; dns = ...; "
	  "mta = ...; } );" },
};

Test(conf, reports_each_bad_file_of_the_table_with_its_file_line_and_message)
{
	cr_assert_geq(sizeof(bad_rows) / sizeof(bad_rows[0]), 20);

	for (size_t i = 0; i < sizeof(bad_rows) / sizeof(bad_rows[0]); i++) {
		const struct bad_row *r = &bad_rows[i];
		char *dir = test_tmpdir_make("conf");
		char *real = realpath(dir, NULL);
		char *path, *msg, *want;
		struct conf_diags diags = { 0 };
		struct dkr_error e = { 0 };
		struct conf *c = (struct conf *)1;

		secrets_write(dir);
		path = conf_write(dir, r->body);
		msg = expand(r->msg, real);
		cr_assert_neq(asprintf(&want, "%s:%d: %s", path, r->line, msg), -1);

		cr_assert_eq(conf_load(path, &c, &diags, &e), DKR_ECONFIG, "row %zu", i);
		cr_assert_null(c);
		cr_assert_eq(e.code, DKR_ECONFIG);
		cr_assert_str_eq(e.msg, want, "row %zu", i);
		cr_assert_geq(diags.n, 1);
		cr_assert_str_eq(diags.items[0].file, path);
		cr_assert_eq(diags.items[0].line, r->line, "row %zu", i);
		cr_assert_str_eq(diags.items[0].msg, msg, "row %zu", i);

		conf_diags_free(&diags);
		free(want);
		free(msg);
		free(path);
		free(real);
		test_tmpdir_remove(dir);
	}
}

Test(conf, reports_every_problem_of_one_file_in_line_order)
{
	char *dir = test_tmpdir_make("conf");
	char *path = conf_write(dir,
		PRE
		"policy = { ttl = 0; };\n"					/* 3 */
		"domains = (\n"
		"  { domain = \"b.example\"; dns = \"nope\"; mta = \"courier\"; },\n"	/* 5 */
		"  { domain = \"a.example\"; dns = \"primary\"; mta = \"courier\";\n"
		"    selector = \"k.%Y\"; },\n"					/* 7 */
		"  { domain = \"b.example\"; dns = \"primary\"; mta = \"courier\"; }\n"	/* 8 */
		");\n"
		"typo = 1;\n");							/* 10 */
	struct conf_diags diags = { 0 };
	struct dkr_error e = { 0 };
	struct conf *c = NULL;
	static const struct {
		int line;
		const char *msg;
	} want[] = {
		{ 3, "policy: ttl 0 is out of range: use 1 to 86400 seconds (a day at most)" },
		{ 5, "domain \"b.example\": dns \"nope\" is not defined in the dns list" },
		{ 7, "domain \"a.example\": selector \"k.%Y\" contains a dot: a selector must be "
		     "one DNS label" },
		{ 8, "domain \"b.example\" is defined twice (first at line 5)" },
		{ 10, "unknown key \"typo\" (valid keys: state_db, policy, dns, mta, domains)" },
	};

	cr_assert_eq(conf_load(path, &c, &diags, &e), DKR_ECONFIG);
	cr_assert_eq(diags.n, sizeof(want) / sizeof(want[0]));
	for (size_t i = 0; i < diags.n; i++) {
		cr_assert_eq(diags.items[i].line, want[i].line, "diag %zu", i);
		cr_assert_str_eq(diags.items[i].msg, want[i].msg, "diag %zu", i);
	}

	conf_diags_free(&diags);
	free(path);
	test_tmpdir_remove(dir);
}

Test(conf, reports_a_bad_backend_type_once_not_again_at_each_domain)
{
	char *dir = test_tmpdir_make("conf");
	char *path = conf_write(dir,
		"dns = ( { name = \"primary\"; type = \"nsupdate\"; } );\n"
		"mta = ( { name = \"courier\"; type = \"postfix\"; group = \"@GROUP@\"; } );\n"
		DOM_OPEN " } );\n");
	struct conf_diags diags = { 0 };
	struct dkr_error e = { 0 };
	struct conf *c = NULL;

	cr_assert_eq(conf_load(path, &c, &diags, &e), DKR_ECONFIG);
	cr_assert_eq(diags.n, 2);
	cr_assert_str_eq(diags.items[0].msg, "dns \"primary\": unknown type \"nsupdate\"; use "
			 "one of rfc2136, powerdns, cloudflare, exec");
	cr_assert_str_eq(diags.items[1].msg, "mta \"courier\": unknown type \"postfix\"; use "
			 "one of zdkimfilter, opendkim");

	conf_diags_free(&diags);
	free(path);
	test_tmpdir_remove(dir);
}

Test(conf, reads_includes_from_its_own_directory_and_names_them_in_messages)
{
	char *dir = test_tmpdir_make("conf");
	char *real = realpath(dir, NULL);
	char *inc = test_write_file(dir, "policy.inc", "ttl = 600;\nrotate_every = 30;\n", 0644);
	char *path = conf_write(dir, "policy = {\n  @include \"policy.inc\"\n};\n");
	struct dkr_error e = { 0 };
	struct conf *c = NULL;
	char *want;

	/* Loaded from elsewhere: the include is still found next to the file. */
	cr_assert_eq(chdir("/"), 0);
	cr_assert_neq(asprintf(&want, "%s/policy.inc:2: policy: rotate_every (30s) must be at "
			       "least 1m", real), -1);
	cr_assert_eq(conf_load(path, &c, NULL, &e), DKR_ECONFIG);
	cr_assert_str_eq(e.msg, want);

	free(want);
	free(path);
	free(inc);
	free(real);
	test_tmpdir_remove(dir);
}

Test(conf, refuses_a_secret_file_readable_by_others_naming_its_mode)
{
	char *dir = test_tmpdir_make("conf");
	char *real = realpath(dir, NULL);
	char *secret = test_write_file(dir, "tsig.secret", TSIG_SECRET "\n", 0644);
	char *path = conf_write(dir, TSIG("secret_file = \"tsig.secret\";"));
	struct dkr_error e = { 0 };
	struct conf *c = NULL;
	char *want;

	cr_assert_neq(asprintf(&want, "%s:2: dns \"primary\": secret file %s/tsig.secret has "
			       "mode 0644: it must not be readable by group or others "
			       "(chmod 600 %s/tsig.secret)", path, real, real), -1);
	cr_assert_eq(conf_load(path, &c, NULL, &e), DKR_ECONFIG);
	cr_assert_str_eq(e.msg, want);

	free(want);
	free(path);
	free(secret);
	free(real);
	test_tmpdir_remove(dir);
}

Test(conf, resolves_relative_paths_from_the_directory_of_the_file)
{
	char *dir = test_tmpdir_make("conf");
	char *real = realpath(dir, NULL);
	char *sub, *path, *secret, want[4200];
	struct dkr_error e = { 0 };
	struct conf *c = NULL;

	cr_assert_neq(asprintf(&sub, "%s/etc", dir), -1);
	cr_assert_eq(mkdir(sub, 0700), 0);
	secret = test_write_file(sub, "tsig.secret", TSIG_SECRET, 0600);
	free(test_write_file(sub, "dkimrot.conf",
		TSIG("secret_file = \"tsig.secret\";")
		"state_db = \"../var/state.db\";\n"
		"mta = ( { name = \"m\"; type = \"opendkim\"; key_table = \"/abs/KeyTable\";\n"
		"  signing_table = \"tables/SigningTable\"; key_dir = \"keys\";\n"
		"  group = \"0\"; } );\n",
		0644));

	/* Loaded through a relative name, from elsewhere. */
	cr_assert_eq(chdir(dir), 0);
	path = "etc/dkimrot.conf";
	cr_assert_eq(conf_load(path, &c, NULL, &e), DKR_OK, "%s", e.msg);

	snprintf(want, sizeof(want), "%s/etc/../var/state.db", real);
	cr_assert_str_eq(c->state_db, want);
	snprintf(want, sizeof(want), "%s/etc/tsig.secret", real);
	cr_assert_str_eq(c->dns[0].tsig_secret_file, want);
	cr_assert_str_eq(c->mta[0].key_table, "/abs/KeyTable");
	snprintf(want, sizeof(want), "%s/etc/tables/SigningTable", real);
	cr_assert_str_eq(c->mta[0].signing_table, want);
	snprintf(want, sizeof(want), "%s/etc/keys", real);
	cr_assert_str_eq(c->mta[0].key_dir, want);
	cr_assert_str_eq(c->path, "etc/dkimrot.conf");

	conf_free(c);
	free(secret);
	free(sub);
	free(real);
	test_tmpdir_remove(dir);
}

Test(conf, names_a_missing_file_and_why_it_cannot_be_read)
{
	char *dir = test_tmpdir_make("conf");
	char *missing, *want;
	struct dkr_error e = { 0 };
	struct conf *c = NULL;

	cr_assert_neq(asprintf(&missing, "%s/none.conf", dir), -1);
	cr_assert_eq(conf_load(missing, &c, NULL, &e), DKR_ECONFIG);
	cr_assert_neq(asprintf(&want, "%s: cannot read the file: No such file or directory",
			       missing), -1);
	cr_assert_str_eq(e.msg, want);

	free(want);
	free(missing);
	test_tmpdir_remove(dir);
}

/* -------------------------------------------------------------- lookups */

Test(conf, finds_domains_by_any_spelling_of_their_name)
{
	char *dir = test_tmpdir_make("conf");
	struct conf *c = good_load(dir);

	cr_assert_eq(conf_domain_find(c, "example.com"), &c->domains[2]);
	cr_assert_eq(conf_domain_find(c, "EXAMPLE.com."), &c->domains[2]);
	cr_assert_eq(conf_domain_find(c, "hooked.example"), &c->domains[3]);
	cr_assert_eq(conf_domain_find(c, "a.example.net"), &c->domains[0]);
	cr_assert_null(conf_domain_find(c, "example.net"));
	cr_assert_null(conf_domain_find(c, "../example.com"));
	cr_assert_null(conf_domain_find(c, ""));

	conf_free(c);
	test_tmpdir_remove(dir);
}

Test(conf, finds_each_of_thousands_of_domains)
{
	char *dir = test_tmpdir_make("conf");
	size_t n = 3000, cap = n * 100 + 1024, used = 0;
	char *body = malloc(cap), *path, name[64];
	struct dkr_error e = { 0 };
	struct conf *c = NULL;

	used += (size_t)snprintf(body, cap, PRE "domains = (\n");
	for (size_t i = 0; i < n; i++)
		used += (size_t)snprintf(body + used, cap - used,
					 "%s{ domain = \"d%zu.example\"; dns = \"primary\"; "
					 "mta = \"courier\"; }\n", i > 0 ? "," : "",
					 (i * 7919) % n);
	snprintf(body + used, cap - used, ");\n");
	path = conf_write(dir, body);

	cr_assert_eq(conf_load(path, &c, NULL, &e), DKR_OK, "%s", e.msg);
	cr_assert_eq(c->n_domains, n);
	for (size_t i = 0; i < n; i++) {
		snprintf(name, sizeof(name), "d%zu.example", i);
		cr_assert_not_null(conf_domain_find(c, name), "%s", name);
		cr_assert_str_eq(conf_domain_find(c, name)->domain, name);
	}
	cr_assert_null(conf_domain_find(c, "d3000.example"));

	conf_free(c);
	free(path);
	free(body);
	test_tmpdir_remove(dir);
}

Test(conf, chooses_the_path_from_the_command_line_then_the_environment)
{
	unsetenv("DKIMROT_CONFIG");
	cr_assert_str_eq(conf_path_choose(NULL), "/etc/dkimrot/dkimrot.conf");
	cr_assert_str_eq(conf_path_choose(""), "/etc/dkimrot/dkimrot.conf");
	setenv("DKIMROT_CONFIG", "/tmp/env.conf", 1);
	cr_assert_str_eq(conf_path_choose(NULL), "/tmp/env.conf");
	cr_assert_str_eq(conf_path_choose("/tmp/cli.conf"), "/tmp/cli.conf");
	setenv("DKIMROT_CONFIG", "", 1);
	cr_assert_str_eq(conf_path_choose(NULL), "/etc/dkimrot/dkimrot.conf");
}

Test(conf, names_its_backend_types_as_the_file_spells_them)
{
	cr_assert_str_eq(conf_dns_type_name(DNS_RFC2136), "rfc2136");
	cr_assert_str_eq(conf_dns_type_name(DNS_POWERDNS), "powerdns");
	cr_assert_str_eq(conf_dns_type_name(DNS_CLOUDFLARE), "cloudflare");
	cr_assert_str_eq(conf_dns_type_name(DNS_EXEC), "exec");
	cr_assert_str_eq(conf_mta_type_name(MTA_ZDKIMFILTER), "zdkimfilter");
	cr_assert_str_eq(conf_mta_type_name(MTA_OPENDKIM), "opendkim");
}

/* ------------------------------------------------------------ selectors */

Test(conf, renders_selectors_in_utc_whatever_the_local_zone)
{
	char out[64];
	struct dkr_error e = { 0 };

	setenv("TZ", "Asia/Tokyo", 1);
	tzset();

	/* 2027-03-01T23:30:00Z is already March 2nd in Tokyo. */
	cr_assert_eq(conf_selector_render("k%Y%m%d%H", 1803943800, out, sizeof(out), &e), DKR_OK);
	cr_assert_str_eq(out, "k2027030123");
	cr_assert_eq(conf_selector_render("s%s", 1803859200, out, sizeof(out), &e), DKR_OK);
	cr_assert_str_eq(out, "s1803859200");
	cr_assert_eq(conf_selector_render("dkim-%G-w%V", 1803859200, out, sizeof(out), &e),
		     DKR_OK);
	cr_assert_str_eq(out, "dkim-2027-w09");
	cr_assert_eq(conf_selector_render("static", 1803859200, out, sizeof(out), &e), DKR_OK);
	cr_assert_str_eq(out, "static");
}

Test(conf, refuses_to_render_a_selector_that_is_not_a_label)
{
	char out[64];
	struct dkr_error e = { 0 };

	cr_assert_eq(conf_selector_render("a.%Y", 1803859200, out, sizeof(out), &e),
		     DKR_EINVAL);
	cr_assert_str_eq(e.msg, "selector \"a.%Y\" gives \"a.2027\" at 2027-03-01T00:00:00Z, "
			 "which is not a DNS label (1 to 63 letters, digits or hyphens)");
	cr_assert_eq(conf_selector_render("k%Y", 1803859200, out, 4, &e), DKR_EINVAL);
	cr_assert_str_eq(e.msg, "selector \"k%Y\" at 2027-03-01T00:00:00Z does not fit in 4 "
			 "bytes");
}

Test(conf, accepts_selector_patterns_that_always_give_one_label)
{
	static const char *const good[] = {
		"k%Y%m%d", "s%s", "dkim%j-%H%M%S", "static", "2027", "a-%y%C%g%U%W%u%w",
		"%s%s%s%s%s%Y",
	};

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		char *dir = test_tmpdir_make("conf");
		char *body, *path;
		struct dkr_error e = { 0 };
		struct conf *c = NULL;

		cr_assert_neq(asprintf(&body, "policy = { selector = \"%s\"; };\n", good[i]), -1);
		path = conf_write(dir, body);
		cr_assert_eq(conf_load(path, &c, NULL, &e), DKR_OK, "%s: %s", good[i], e.msg);
		cr_assert_str_eq(c->policy.selector, good[i]);

		conf_free(c);
		free(path);
		free(body);
		test_tmpdir_remove(dir);
	}
}

/* -------------------------------------------------------- the example */

Test(conf, loads_the_shipped_example_once_its_secrets_exist)
{
	char *dir = test_tmpdir_make("conf");
	char *real = realpath(dir, NULL);
	char *secrets, *path, want[4200];
	struct dkr_error e = { 0 };
	struct conf *c = NULL;

	cr_assert_eq(test_sh("cp '%s/examples/dkimrot.conf' '%s/'", test_top_dir(), dir), 0);
	cr_assert_neq(asprintf(&secrets, "%s/secrets", dir), -1);
	cr_assert_eq(mkdir(secrets, 0700), 0);
	free(test_write_file(secrets, "tsig.secret", TSIG_SECRET "\n", 0600));
	free(test_write_file(secrets, "pdns.key", "change-me\n", 0600));
	free(test_write_file(secrets, "cloudflare.token", "change-me\n", 0600));

	cr_assert_neq(asprintf(&path, "%s/dkimrot.conf", dir), -1);
	cr_assert_eq(conf_load(path, &c, NULL, &e), DKR_OK, "%s", e.msg);
	snprintf(want, sizeof(want), "%s/state/dkimrot.db", real);
	cr_assert_str_eq(c->state_db, want);
	cr_assert_eq(c->n_dns, 4);
	cr_assert_eq(c->n_mta, 1);
	cr_assert_eq(c->n_domains, 4);
	cr_assert_str_eq(c->dns[0].tsig_secret, TSIG_SECRET);
	cr_assert_eq(conf_domain_find(c, "mail.example.com")->policy.algorithm, KEY_ED25519);
	cr_assert_eq(conf_domain_find(c, "example.net")->policy.ttl, 300);
	cr_assert_eq(conf_domain_find(c, "example.com")->n_nameservers, 2);

	conf_free(c);
	free(path);
	free(secrets);
	free(real);
	test_tmpdir_remove(dir);
}
