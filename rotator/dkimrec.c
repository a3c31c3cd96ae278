/*
 * dkimrec.c - DKIM key records (RFC 6376 section 3.6.1, RFC 8463): built
 * from a public key, split into TXT character-strings, parsed back from
 * what a nameserver serves, and compared key to key.
 *
 * The parser is strict where a mistake would let a wrong key through
 * (duplicate tags, v= out of place, p= that is not a public key) and
 * tolerant where RFC 6376 is (folding whitespace, unknown tags).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "rotator.h"

#define TXT_STRING_MAX 255
#define DKIM_TEXT_MAX 8192	/* far above any sane record; refuse beyond */
#define RSA_BITS_MIN 1024	/* RFC 8301: verifiers must refuse smaller */
#define ED25519_PUB_LEN 32

/* The decoded form of a p= that fits in struct dkim_record's p[]. */
#define P_RAW_MAX (sizeof(((struct dkim_record *)0)->p) / 4 * 3)

/* ------------------------------------------------------------- building */

int dkim_record_build(enum key_alg alg, const unsigned char *pub, size_t pub_len,
		      char *record, size_t record_len, struct dkr_error *e)
{
	char b64[sizeof(((struct dkim_record *)0)->p)];
	const char *k;
	int n;

	if (alg == KEY_ED25519) {
		if (pub_len != ED25519_PUB_LEN)
			return dkr_fail(e, DKR_EINVAL,
					"an Ed25519 public key is %d bytes, not %zu",
					ED25519_PUB_LEN, pub_len);
		k = "ed25519";
	} else if (alg == KEY_RSA2048 || alg == KEY_RSA3072 || alg == KEY_RSA4096) {
		k = "rsa";
	} else {
		return dkr_fail(e, DKR_EINVAL, "unknown key algorithm %d", (int)alg);
	}

	/* The base64 form must fit both our buffer and a parsed record's p[]. */
	if (pub == NULL || pub_len == 0 || (pub_len + 2) / 3 * 4 >= sizeof(b64))
		return dkr_fail(e, DKR_EINVAL,
				"a public key of %zu bytes does not fit in a DKIM record",
				pub_len);
	EVP_EncodeBlock((unsigned char *)b64, pub, (int)pub_len);

	n = snprintf(record, record_len, "v=DKIM1; k=%s; p=%s", k, b64);
	if (n < 0 || (size_t)n >= record_len)
		return dkr_fail(e, DKR_EINVAL,
				"the DKIM record (%d bytes) does not fit in a buffer of %zu",
				n, record_len);
	return DKR_OK;
}

/* ------------------------------------------------------------ splitting */

int dkim_record_split(const char *record, char ***chunks, size_t *n, struct dkr_error *e)
{
	size_t len, count;
	char **arr;
	char *buf;

	*chunks = NULL;
	*n = 0;
	len = strnlen(record, DKIM_RECORD_MAX);
	if (len >= DKIM_RECORD_MAX)
		return dkr_fail(e, DKR_EINVAL, "a DKIM record is at most %d bytes",
				DKIM_RECORD_MAX - 1);

	/* An empty record is still one (empty) character-string. */
	count = len == 0 ? 1 : (len + TXT_STRING_MAX - 1) / TXT_STRING_MAX;

	/* One block: the pointers, then every chunk with its NUL. */
	arr = xcalloc(1, count * sizeof(*arr) + len + count);
	buf = (char *)(arr + count);
	for (size_t i = 0; i < count; i++) {
		size_t off = i * TXT_STRING_MAX;
		size_t l = len - off < TXT_STRING_MAX ? len - off : TXT_STRING_MAX;

		memcpy(buf, record + off, l);
		buf[l] = '\0';
		arr[i] = buf;
		buf += l + 1;
	}

	*chunks = arr;
	*n = count;
	return DKR_OK;
}

/* -------------------------------------------------------------- parsing */

static bool is_wsp(char c)
{
	/* FWS folds with CRLF; a record pasted from a zone file may carry them. */
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static bool is_alpha(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* VALCHAR of RFC 6376 section 3.2: printable ASCII except ';'. */
static bool is_valchar(char c)
{
	unsigned char u = (unsigned char)c;

	return u >= 0x21 && u <= 0x7e && c != ';';
}

static bool is_b64char(char c)
{
	return is_alpha(c) || is_digit(c) || c == '+' || c == '/';
}

/*
 * Decode strict base64 (no whitespace, padded to a multiple of 4) with
 * OpenSSL.  EVP_DecodeBlock counts padding as zero bytes, hence the
 * adjustment.  Returns the decoded length or -1.
 */
static long b64_decode(const char *in, unsigned char *out, size_t out_len)
{
	size_t len = strlen(in);
	size_t pad = 0;
	int n;

	if (len == 0 || len % 4 != 0 || len / 4 * 3 > out_len || len > INT32_MAX)
		return -1;
	while (pad < 2 && in[len - 1 - pad] == '=')
		pad++;
	for (size_t i = 0; i < len - pad; i++)
		if (!is_b64char(in[i]))
			return -1;

	n = EVP_DecodeBlock(out, (const unsigned char *)in, (int)len);
	if (n < 0 || (size_t)n < pad) {
		ERR_clear_error();
		return -1;
	}
	return (long)((size_t)n - pad);
}

static const char *tag_find(const struct dkim_record *r, const char *name, size_t *idx)
{
	for (size_t i = 0; i < r->n_tags; i++) {
		if (strcmp(r->tags[i].name, name) == 0) {
			if (idx != NULL)
				*idx = i;
			return r->tags[i].value;
		}
	}
	return NULL;
}

/*
 * One tag-spec between semicolons: [FWS] name [FWS] "=" [FWS] value [FWS].
 * `s`..`end` is the segment; an empty segment sets *empty and adds nothing.
 */
static int tag_parse(const char *s, const char *end, struct dkim_record *out, bool *empty,
		     struct dkr_error *e)
{
	const char *name;
	size_t name_len, vlen = 0;
	bool is_p;
	char *dst;

	while (s < end && is_wsp(*s))
		s++;
	while (end > s && is_wsp(end[-1]))
		end--;
	*empty = s == end;
	if (*empty)
		return DKR_OK;

	/* tag-name = ALPHA *ALNUMPUNC */
	name = s;
	if (!is_alpha(*s))
		return dkr_fail(e, DKR_EINVAL, "DKIM record: a tag name must start with a letter "
				"(found \"%.*s\")", end - s < 40 ? (int)(end - s) : 40, s);
	while (s < end && (is_alpha(*s) || is_digit(*s) || *s == '_'))
		s++;
	name_len = (size_t)(s - name);
	if (name_len >= sizeof(out->tags[0].name))
		return dkr_fail(e, DKR_EINVAL, "DKIM record: tag name \"%.40s...\" is longer "
				"than %zu characters", name, sizeof(out->tags[0].name) - 1);

	while (s < end && is_wsp(*s))
		s++;
	if (s == end || *s != '=')
		return dkr_fail(e, DKR_EINVAL, "DKIM record: tag \"%.*s\" has no '='",
				(int)name_len, name);
	s++;
	while (s < end && is_wsp(*s))
		s++;

	if (out->n_tags >= DKIM_TAGS_MAX)
		return dkr_fail(e, DKR_EINVAL, "DKIM record: more than %d tags", DKIM_TAGS_MAX);
	memcpy(out->tags[out->n_tags].name, name, name_len);
	out->tags[out->n_tags].name[name_len] = '\0';
	if (tag_find(out, out->tags[out->n_tags].name, NULL) != NULL)
		return dkr_fail(e, DKR_EINVAL, "DKIM record: tag \"%s\" appears twice",
				out->tags[out->n_tags].name);

	/* Whitespace inside p= is folding, not data (RFC 6376 section 3.6.1). */
	is_p = name_len == 1 && name[0] == 'p';
	dst = out->tags[out->n_tags].value;
	for (; s < end; s++) {
		if (is_wsp(*s) && is_p)
			continue;
		if (!is_wsp(*s) && !is_valchar(*s))
			return dkr_fail(e, DKR_EINVAL,
					"DKIM record: tag \"%.*s\" holds a character not allowed "
					"in a tag value (0x%02x)", (int)name_len, name,
					(unsigned)(unsigned char)*s);
		if (vlen + 1 >= sizeof(out->tags[0].value))
			return dkr_fail(e, DKR_EINVAL, "DKIM record: the value of tag \"%.*s\" is "
					"longer than %zu characters", (int)name_len, name,
					sizeof(out->tags[0].value) - 1);
		dst[vlen++] = *s;
	}
	dst[vlen] = '\0';
	out->n_tags++;
	return DKR_OK;
}

/* Split at ';' into tag-specs; only the last may be empty (a final ';'). */
static int tags_parse(const char *text, struct dkim_record *out, struct dkr_error *e)
{
	const char *s = text;

	for (;;) {
		const char *semi = strchr(s, ';');
		const char *end = semi != NULL ? semi : s + strlen(s);
		bool empty;
		int rc = tag_parse(s, end, out, &empty, e);

		if (rc != DKR_OK)
			return rc;
		if (semi == NULL)
			return DKR_OK;
		if (empty)
			return dkr_fail(e, DKR_EINVAL, "DKIM record: an empty tag before a ';'");
		s = semi + 1;
	}
}

static int copy_field(char *dst, size_t len, const char *tag, const char *value,
		      struct dkr_error *e)
{
	if (value == NULL)
		return DKR_OK;
	if (!str_copy(dst, len, value))
		return dkr_fail(e, DKR_EINVAL, "DKIM record: the value of tag \"%s\" is longer "
				"than %zu characters", tag, len - 1);
	return DKR_OK;
}

/* Is the decoded p= a public key of type k, and strong enough? */
static int key_check(const char *k, const unsigned char *der, size_t len,
		     struct dkr_error *e)
{
	const unsigned char *p = der;
	EVP_PKEY *pkey = NULL;
	int rc = DKR_OK;
	int bits;

	if (strcmp(k, "ed25519") == 0) {
		if (len != ED25519_PUB_LEN)
			return dkr_fail(e, DKR_EINVAL, "DKIM record: an Ed25519 p= must hold %d "
					"bytes (RFC 8463), this one holds %zu",
					ED25519_PUB_LEN, len);
		pkey = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, der, len);
		if (pkey == NULL)
			rc = dkr_fail(e, DKR_EINVAL, "DKIM record: p= is not an Ed25519 key");
		goto out;
	}

	/*
	 * RFC 6376 names RSAPublicKey but every signer publishes a
	 * SubjectPublicKeyInfo; verifiers accept both, so do we.
	 */
	pkey = d2i_PUBKEY(NULL, &p, (long)len);
	if (pkey == NULL) {
		p = der;
		pkey = d2i_PublicKey(EVP_PKEY_RSA, NULL, &p, (long)len);
	}
	if (pkey == NULL || p != der + len) {
		rc = dkr_fail(e, DKR_EINVAL, "DKIM record: p= is not a DER RSA public key");
		goto out;
	}
	if (!EVP_PKEY_is_a(pkey, "RSA")) {
		rc = dkr_fail(e, DKR_EINVAL, "DKIM record: p= holds a %s key but k=rsa",
			      EVP_PKEY_get0_type_name(pkey));
		goto out;
	}
	bits = EVP_PKEY_get_bits(pkey);
	if (bits < RSA_BITS_MIN)
		rc = dkr_fail(e, DKR_EINVAL, "DKIM record: an RSA key of %d bits is too weak "
			      "(RFC 8301 requires at least %d)", bits, RSA_BITS_MIN);

out:
	EVP_PKEY_free(pkey);
	ERR_clear_error();
	return rc;
}

/* Fill the named fields from the tag list and check them. */
static int fields_check(struct dkim_record *out, struct dkr_error *e)
{
	unsigned char raw[P_RAW_MAX];
	const char *v, *k, *p;
	size_t vi = 0;
	long n;
	int rc;

	v = tag_find(out, "v", &vi);
	if (v != NULL && vi != 0)
		return dkr_fail(e, DKR_EINVAL, "DKIM record: v= must be the first tag");
	if (v != NULL && strcmp(v, "DKIM1") != 0)
		return dkr_fail(e, DKR_EINVAL, "DKIM record: v=%.40s is not DKIM1", v);
	rc = copy_field(out->v, sizeof(out->v), "v", v, e);

	k = tag_find(out, "k", NULL);
	if (rc == DKR_OK)
		rc = copy_field(out->k, sizeof(out->k), "k", k != NULL ? k : "rsa", e);
	if (rc == DKR_OK)
		rc = copy_field(out->h, sizeof(out->h), "h", tag_find(out, "h", NULL), e);
	if (rc == DKR_OK)
		rc = copy_field(out->s, sizeof(out->s), "s", tag_find(out, "s", NULL), e);
	if (rc == DKR_OK)
		rc = copy_field(out->t, sizeof(out->t), "t", tag_find(out, "t", NULL), e);
	if (rc != DKR_OK)
		return rc;
	if (strcmp(out->k, "rsa") != 0 && strcmp(out->k, "ed25519") != 0)
		return dkr_fail(e, DKR_EINVAL, "DKIM record: unknown key type k=%s", out->k);

	p = tag_find(out, "p", NULL);
	if (p == NULL)
		return dkr_fail(e, DKR_EINVAL, "DKIM record: no p= tag");
	rc = copy_field(out->p, sizeof(out->p), "p", p, e);
	if (rc != DKR_OK)
		return rc;

	/* An empty p= is a revoked key (RFC 6376 section 3.6.1). */
	out->revoked = out->p[0] == '\0';
	if (out->revoked)
		return DKR_OK;

	n = b64_decode(out->p, raw, sizeof(raw));
	if (n <= 0)
		return dkr_fail(e, DKR_EINVAL, "DKIM record: p= is not valid base64");
	return key_check(out->k, raw, (size_t)n, e);
}

int dkim_record_parse(const char *text, struct dkim_record *out, struct dkr_error *e)
{
	int rc;

	memset(out, 0, sizeof(*out));
	if (text == NULL)
		return dkr_fail(e, DKR_EINVAL, "DKIM record: missing");
	if (strnlen(text, DKIM_TEXT_MAX + 1) > DKIM_TEXT_MAX)
		return dkr_fail(e, DKR_EINVAL, "DKIM record: longer than %d bytes", DKIM_TEXT_MAX);

	rc = tags_parse(text, out, e);
	if (rc == DKR_OK)
		rc = fields_check(out, e);
	if (rc != DKR_OK) {
		memset(out, 0, sizeof(*out));
		return rc;
	}
	return DKR_OK;
}

/* ----------------------------------------------------------- comparing */

bool dkim_record_same_key(const char *served, const char *ours)
{
	struct dkim_record *a = xcalloc(2, sizeof(*a));
	struct dkim_record *b = a + 1;
	unsigned char ra[P_RAW_MAX], rb[P_RAW_MAX];
	long na, nb;
	bool same = false;

	if (served == NULL || ours == NULL)
		goto out;
	if (dkim_record_parse(served, a, NULL) != DKR_OK ||
	    dkim_record_parse(ours, b, NULL) != DKR_OK)
		goto out;
	if (a->revoked || b->revoked || strcmp(a->k, b->k) != 0)
		goto out;

	/* Compare the key bytes, not their base64 spelling. */
	na = b64_decode(a->p, ra, sizeof(ra));
	nb = b64_decode(b->p, rb, sizeof(rb));
	same = na > 0 && na == nb && memcmp(ra, rb, (size_t)na) == 0;

out:
	free(a);
	return same;
}
