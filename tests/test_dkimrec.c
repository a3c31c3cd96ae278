/*
 * test_dkimrec.c - DKIM key records: building them from public keys,
 * splitting them into TXT strings, parsing what a nameserver serves, and
 * telling whether two records carry the same key.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "../rotator/rotator.h"

/* RFC 8463 appendix A.2. */
#define RFC8463_P "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo="
#define RFC8463_RECORD "v=DKIM1; k=ed25519; p=" RFC8463_P

/* SubjectPublicKeyInfo of RSA keys made once with `openssl genpkey`. */
#define RSA512_P "MFwwDQYJKoZIhvcNAQEBBQADSwAwSAJBAKH36ClsdD38XD5MFiGPPc1sLMXNSU0G0wxNB" \
	"PPdrueM9nAqGLrMzisZJ0hcqbuFqE5v31fyQNCnmO7syvhWgJcCAwEAAQ=="
#define RSA1024_P "MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDMncnz/INdg2vtvS7EWaXn4teMcjr" \
	"K4zkDFWdsAfDvDrd456Qh0PCv13ROEVMYLLBDOrVEXHhof7J/3koEBhjbhs+8JYCZOut2mb22/mU" \
	"TjwbkWN/Aw9n2ad1d/Sm3DP1eptYzw9nq/oj3Q0avrD37UfUqzR0WcsAsMFsQmt/arwIDAQAB"
/* The same 1024-bit key as a bare RSAPublicKey (PKCS#1). */
#define RSA1024_PKCS1_P "MIGJAoGBAMydyfP8g12Da+29LsRZpefi14xyOsrjOQMVZ2wB8O8Ot3jnpCHQ8K/XdE4" \
	"RUxgssEM6tURceGh/sn/eSgQGGNuGz7wlgJk663aZvbb+ZROPBuRY38DD2fZp3V39KbcM/V6m1jPD" \
	"2er+iPdDRq+sPftR9SrNHRZywCwwWxCa39qvAgMBAAE="
#define RSA2048_P "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAmya0m4w4FJxyVjyIntp+Thn" \
	"LINvLUnhgA5Q6ONIPbQXODP7o3T9SrVlvzhYoyF3Kgd5yV74t6Ry5WJN8RI2sFsN8IYpNBsyf3eob" \
	"tCi9u/2QapsjYcQogR6OyUFz2uUoCfdngVTVsRmlBUI3sBLpVFU009Z9jUeQ3xf34hbMaW4sFrJsU" \
	"8mwsrK4Z/KuYqmFlQ6PBvn1y5bUVQ6Okl+B47IBUUZ0ezTCVLBpM3Mrnvite9o+Lw5DjRW9kONNc/" \
	"CT/xDtKXapxTcHrClR7LiiUcwL9LrECS/ZB0lgDpn5N0ncXQ6D3sAqOg4YUfnxlDReT89II+XB1+Z" \
	"Q3dhh3Im+0QIDAQAB"
#define RSA4096_P "MIICIjANBgkqhkiG9w0BAQEFAAOCAg8AMIICCgKCAgEAl3HfN+ucacGU0vLlpIV/1nd" \
	"z5ETKAVp/yJSUIqh9bQwClsyRuV5ipI41Qrj0cV1wGeoD+w1G5rwKGrKeLTXxb+DMXhcWUDBsXlWD" \
	"vm4mJwS6nlUjTpkfuySzL4BDT39mJPLjp5PKZYNdhKd/eCYjWPW+1O44/LUPFhiJR2bL0rEcJQpkL" \
	"f3O7XqHvuV78XWAV07xhZd1qzFeDutUKAk+CxX6Su7Y8iCmMyUmR6JwPw4Ge5QDo18cb0GVkZK+Yq" \
	"iKB1r5oarjC7scqQVM+EdYMZTdRbRjThfiB4rNfYQIf6nWvrx2QRQeLuEDO6HHryyBjTOPgogAX1A" \
	"T2yq+fJ3PUVOQMzmZpWij+Vg95G00klQrt5yWhlNOr/OKt2k/xEOb+6KWFdFRxrmWpiM/uq62NF/R" \
	"QqcVKvl5L4+7MEaE804MFrXw/cNx98Qfzlmiq9gbSsErGK/Br7xx29n064Nyz1jKIYLbbBbc9MVAJ" \
	"rkcTdSWZixn01KU8a2s8Qqqyu5JH7WD6oiflzK5hO8aVsVYa2JloUlpxYccgXak+o+iBrfh7/niJb" \
	"l2VFYZ2LcUe9jkqz+6kOQRwBtuxuxNZBAZvLQf2rvy8cl6tTCHd6CDoLQ+uGBL5gKFAFuCBE5rjsE" \
	"6JkSOVMV1RzRYyV8HV79FF8AysrLF3KJzxxDMrmKdJ5ECAwEAAQ=="
/* An Ed25519 key as SubjectPublicKeyInfo: wrong under k=rsa. */
#define ED25519_SPKI_P "MCowBQYDK2VwAyEA0XxXaJosDvqxfl3lIDTRX0Di2GH5FHQmsxKe/PsnoOM="

static size_t b64_decode(const char *in, unsigned char *out)
{
	size_t len = strlen(in), pad = 0;
	int n;

	while (pad < 2 && len > pad && in[len - 1 - pad] == '=')
		pad++;
	n = EVP_DecodeBlock(out, (const unsigned char *)in, (int)len);
	cr_assert_geq(n, 0, "test data is not base64: %s", in);
	return (size_t)n - pad;
}

static char *repeat(char c, size_t n)
{
	char *s = malloc(n + 1);

	memset(s, c, n);
	s[n] = '\0';
	return s;
}

Test(dkimrec, parses_the_rfc8463_example_record)
{
	struct dkim_record r;
	struct dkr_error e = { 0 };

	cr_assert_eq(dkim_record_parse(RFC8463_RECORD, &r, &e), DKR_OK, "%s", e.msg);
	cr_assert_str_eq(r.v, "DKIM1");
	cr_assert_str_eq(r.k, "ed25519");
	cr_assert_str_eq(r.p, RFC8463_P);
	cr_assert_not(r.revoked);
	cr_assert_eq(r.n_tags, 3);
	cr_assert_str_eq(r.tags[1].name, "k");
	cr_assert_str_eq(r.tags[1].value, "ed25519");
}

Test(dkimrec, builds_the_rfc8463_record_from_the_raw_ed25519_key)
{
	unsigned char raw[64];
	char rec[DKIM_RECORD_MAX];
	size_t n = b64_decode(RFC8463_P, raw);

	cr_assert_eq(n, 32);
	cr_assert_eq(dkim_record_build(KEY_ED25519, raw, n, rec, sizeof(rec), NULL), DKR_OK);
	cr_assert_str_eq(rec, RFC8463_RECORD);
}

Test(dkimrec, builds_an_rsa_record_from_a_der_public_key)
{
	unsigned char der[1024];
	char rec[DKIM_RECORD_MAX];
	size_t n = b64_decode(RSA2048_P, der);

	cr_assert_eq(dkim_record_build(KEY_RSA2048, der, n, rec, sizeof(rec), NULL), DKR_OK);
	cr_assert_str_eq(rec, "v=DKIM1; k=rsa; p=" RSA2048_P);
}

Test(dkimrec, build_refuses_an_ed25519_key_that_is_not_32_bytes)
{
	unsigned char raw[33] = { 0 };
	char rec[DKIM_RECORD_MAX];
	struct dkr_error e = { 0 };

	cr_assert_eq(dkim_record_build(KEY_ED25519, raw, 33, rec, sizeof(rec), &e), DKR_EINVAL);
	cr_assert_str_eq(e.msg, "an Ed25519 public key is 32 bytes, not 33");
}

Test(dkimrec, build_refuses_a_buffer_too_small_for_the_record)
{
	unsigned char raw[64];
	char rec[40];
	struct dkr_error e = { 0 };
	size_t n = b64_decode(RFC8463_P, raw);

	cr_assert_eq(dkim_record_build(KEY_ED25519, raw, n, rec, sizeof(rec), &e), DKR_EINVAL);
	cr_assert_str_eq(e.msg, "the DKIM record (66 bytes) does not fit in a buffer of 40");
}

Test(dkimrec, splits_a_4096_bit_record_into_strings_that_rejoin_exactly)
{
	const char *rec = "v=DKIM1; k=rsa; p=" RSA4096_P;
	char joined[DKIM_RECORD_MAX] = "";
	char **chunks;
	size_t n;

	cr_assert_eq(strlen(rec), 754);
	cr_assert_eq(dkim_record_split(rec, &chunks, &n, NULL), DKR_OK);
	cr_assert_eq(n, 3);
	cr_assert_eq(strlen(chunks[0]), 255);
	cr_assert_eq(strlen(chunks[1]), 255);
	cr_assert_eq(strlen(chunks[2]), 244);
	for (size_t i = 0; i < n; i++)
		strcat(joined, chunks[i]);
	cr_assert_str_eq(joined, rec);
	free(chunks);
}

Test(dkimrec, splits_at_exactly_255_bytes)
{
	char *r255 = repeat('a', 255), *r256 = repeat('b', 256);
	char **chunks;
	size_t n;

	cr_assert_eq(dkim_record_split(r255, &chunks, &n, NULL), DKR_OK);
	cr_assert_eq(n, 1);
	cr_assert_str_eq(chunks[0], r255);
	free(chunks);

	cr_assert_eq(dkim_record_split(r256, &chunks, &n, NULL), DKR_OK);
	cr_assert_eq(n, 2);
	cr_assert_eq(strlen(chunks[0]), 255);
	cr_assert_str_eq(chunks[1], "b");
	free(chunks);
	free(r255);
	free(r256);
}

Test(dkimrec, split_refuses_a_record_longer_than_the_maximum)
{
	char *big = repeat('x', DKIM_RECORD_MAX);
	struct dkr_error e = { 0 };
	char **chunks = (char **)1;
	size_t n = 7;

	cr_assert_eq(dkim_record_split(big, &chunks, &n, &e), DKR_EINVAL);
	cr_assert_null(chunks);
	cr_assert_eq(n, 0);
	cr_assert_str_eq(e.msg, "a DKIM record is at most 2047 bytes");
	free(big);
}

Test(dkimrec, removes_folding_whitespace_inside_p)
{
	struct dkim_record r;
	struct dkr_error e = { 0 };
	char text[2048];

	/* The key cut in three with CRLF folding and tabs, as in a zone file. */
	snprintf(text, sizeof(text), " v = DKIM1 ;\r\n\tk=rsa;  p= %.60s\r\n %.60s \t%s ; ",
		 RSA1024_P, RSA1024_P + 60, RSA1024_P + 120);
	cr_assert_eq(dkim_record_parse(text, &r, &e), DKR_OK, "%s", e.msg);
	cr_assert_str_eq(r.v, "DKIM1");
	cr_assert_str_eq(r.k, "rsa");
	cr_assert_str_eq(r.p, RSA1024_P);
}

Test(dkimrec, keeps_unknown_tags_in_order_with_their_values)
{
	struct dkim_record r;
	struct dkr_error e = { 0 };

	cr_assert_eq(dkim_record_parse("v=DKIM1; h=sha256; n=rotated by dkimrot; k=rsa; "
				       "s=email; t=s:y; x_y=1; p=" RSA1024_P, &r, &e),
		     DKR_OK, "%s", e.msg);
	cr_assert_eq(r.n_tags, 8);
	cr_assert_str_eq(r.tags[2].name, "n");
	cr_assert_str_eq(r.tags[2].value, "rotated by dkimrot");
	cr_assert_str_eq(r.tags[6].name, "x_y");
	cr_assert_str_eq(r.tags[6].value, "1");
	cr_assert_str_eq(r.h, "sha256");
	cr_assert_str_eq(r.s, "email");
	cr_assert_str_eq(r.t, "s:y");
}

Test(dkimrec, defaults_k_to_rsa_and_leaves_v_empty_when_absent)
{
	struct dkim_record r;

	cr_assert_eq(dkim_record_parse("p=" RSA1024_P, &r, NULL), DKR_OK);
	cr_assert_str_eq(r.k, "rsa");
	cr_assert_str_eq(r.v, "");
	cr_assert_eq(r.n_tags, 1);
}

Test(dkimrec, reads_an_empty_p_as_a_revoked_key)
{
	struct dkim_record r;

	cr_assert_eq(dkim_record_parse("v=DKIM1; k=rsa; p=", &r, NULL), DKR_OK);
	cr_assert(r.revoked);
	cr_assert_str_eq(r.p, "");
	cr_assert_eq(dkim_record_parse("v=DKIM1; p= \t;", &r, NULL), DKR_OK);
	cr_assert(r.revoked);
}

Test(dkimrec, accepts_a_bare_pkcs1_rsa_key)
{
	struct dkim_record r;
	struct dkr_error e = { 0 };

	cr_assert_eq(dkim_record_parse("v=DKIM1; p=" RSA1024_PKCS1_P, &r, &e), DKR_OK, "%s",
		     e.msg);
}

struct bad_case {
	const char *what;
	const char *text;
	const char *msg;
};

Test(dkimrec, refuses_malformed_records_with_a_message_and_an_empty_result)
{
	char *long_value = NULL, *long_name = NULL, *many = NULL, *long_p = NULL;
	char *pad = repeat('a', 1100), *name40 = repeat('n', 40), *p1100 = repeat('A', 1100);
	const struct bad_case cases[] = {
		{ "empty", "", "DKIM record: no p= tag" },
		{ "missing p", "v=DKIM1; k=rsa", "DKIM record: no p= tag" },
		{ "bad base64 character", "v=DKIM1; p=MIGf!A==",
		  "DKIM record: p= is not valid base64" },
		{ "base64 cut short", "v=DKIM1; p=MIGfMA0",
		  "DKIM record: p= is not valid base64" },
		{ "padding inside", "v=DKIM1; p=MI=fMA0A", "DKIM record: p= is not valid base64" },
		{ "not a key", "v=DKIM1; p=AAAAAAAA",
		  "DKIM record: p= is not a DER RSA public key" },
		{ "duplicate tag", "v=DKIM1; p=" RSA1024_P "; p=" RSA1024_P,
		  "DKIM record: tag \"p\" appears twice" },
		{ "v not first", "k=rsa; v=DKIM1; p=" RSA1024_P,
		  "DKIM record: v= must be the first tag" },
		{ "v=DKIM2", "v=DKIM2; p=" RSA1024_P, "DKIM record: v=DKIM2 is not DKIM1" },
		{ "unknown k", "v=DKIM1; k=dsa; p=" RSA1024_P,
		  "DKIM record: unknown key type k=dsa" },
		{ "RSA of 512 bits", "v=DKIM1; k=rsa; p=" RSA512_P,
		  "DKIM record: an RSA key of 512 bits is too weak (RFC 8301 requires at "
		  "least 1024)" },
		{ "Ed25519 SPKI under k=rsa", "v=DKIM1; k=rsa; p=" ED25519_SPKI_P,
		  "DKIM record: p= holds a ED25519 key but k=rsa" },
		{ "Ed25519 of 44 bytes", "v=DKIM1; k=ed25519; p=" ED25519_SPKI_P,
		  "DKIM record: an Ed25519 p= must hold 32 bytes (RFC 8463), this one holds 44" },
		{ "empty tag in the middle", "v=DKIM1;; p=" RSA1024_P,
		  "DKIM record: an empty tag before a ';'" },
		{ "tag name with a digit first", "v=DKIM1; 1x=2; p=" RSA1024_P,
		  "DKIM record: a tag name must start with a letter (found \"1x=2\")" },
		{ "tag without =", "v=DKIM1; k; p=" RSA1024_P,
		  "DKIM record: tag \"k\" has no '='" },
		{ "control character", "v=DKIM1; n=a\x01z; p=" RSA1024_P,
		  "DKIM record: tag \"n\" holds a character not allowed in a tag value (0x01)" },
		{ "k too long for its field", "v=DKIM1; k=rsa-but-much-longer; p=" RSA1024_P,
		  "DKIM record: the value of tag \"k\" is longer than 15 characters" },
		{ "overlong value", NULL,
		  "DKIM record: the value of tag \"n\" is longer than 1023 characters" },
		{ "overlong tag name", NULL,
		  "DKIM record: tag name \"nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn...\" is "
		  "longer than 31 characters" },
		{ "too many tags", NULL, "DKIM record: more than 16 tags" },
		{ "overlong p", NULL,
		  "DKIM record: the value of tag \"p\" is longer than 1023 characters" },
	};
	const size_t n_cases = sizeof(cases) / sizeof(cases[0]);
	struct bad_case dyn[4];

	cr_assert(asprintf(&long_value, "v=DKIM1; n=%s; p=%s", pad, RSA1024_P) > 0);
	cr_assert(asprintf(&long_name, "v=DKIM1; %s=1; p=%s", name40, RSA1024_P) > 0);
	cr_assert(asprintf(&many, "a=1;b=1;c=1;d=1;e=1;f=1;g=1;i=1;j=1;l=1;m=1;n=1;o=1;q=1;"
			   "r=1;u=1;p=%s", RSA1024_P) > 0);
	cr_assert(asprintf(&long_p, "v=DKIM1; p=%s", p1100) > 0);
	dyn[0] = (struct bad_case){ cases[n_cases - 4].what, long_value, cases[n_cases - 4].msg };
	dyn[1] = (struct bad_case){ cases[n_cases - 3].what, long_name, cases[n_cases - 3].msg };
	dyn[2] = (struct bad_case){ cases[n_cases - 2].what, many, cases[n_cases - 2].msg };
	dyn[3] = (struct bad_case){ cases[n_cases - 1].what, long_p, cases[n_cases - 1].msg };

	for (size_t i = 0; i < n_cases; i++) {
		const struct bad_case *c =
			cases[i].text != NULL ? &cases[i] : &dyn[i - (n_cases - 4)];
		struct dkim_record r;
		struct dkr_error e = { 0 };

		cr_expect_eq(dkim_record_parse(c->text, &r, &e), DKR_EINVAL, "%s: accepted",
			     c->what);
		cr_expect_str_eq(e.msg, c->msg, "%s", c->what);
		cr_expect_eq(r.n_tags, 0, "%s: result not cleared", c->what);
		cr_expect_str_eq(r.p, "", "%s: result not cleared", c->what);
	}
	free(long_value);
	free(long_name);
	free(many);
	free(long_p);
	free(pad);
	free(name40);
	free(p1100);
}

Test(dkimrec, same_key_holds_across_spelling_and_extra_tags)
{
	const char *ours = "v=DKIM1; k=rsa; p=" RSA2048_P;
	char served[2048];

	snprintf(served, sizeof(served), "v=DKIM1;k=rsa;  t=s ; p=%.100s \r\n\t%s",
		 RSA2048_P, RSA2048_P + 100);
	cr_assert(dkim_record_same_key(served, ours));
	cr_assert(dkim_record_same_key("p=" RSA2048_P, ours));
	cr_assert(dkim_record_same_key(RFC8463_RECORD, "k=ed25519; p=" RFC8463_P));
}

Test(dkimrec, same_key_is_false_for_another_key_a_revoked_one_or_garbage)
{
	const char *ours = "v=DKIM1; k=rsa; p=" RSA2048_P;

	cr_assert_not(dkim_record_same_key("v=DKIM1; k=rsa; p=" RSA4096_P, ours));
	cr_assert_not(dkim_record_same_key("v=DKIM1; k=rsa; p=", ours));
	cr_assert_not(dkim_record_same_key("v=DKIM1; k=rsa; p=", "v=DKIM1; k=rsa; p="));
	cr_assert_not(dkim_record_same_key(RFC8463_RECORD, ours));
	cr_assert_not(dkim_record_same_key("v=spf1 -all", ours));
	cr_assert_not(dkim_record_same_key(NULL, ours));
}
