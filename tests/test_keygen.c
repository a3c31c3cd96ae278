/*
 * test_keygen.c - key generation: every algorithm written as a PKCS#8 PEM
 * file with the right mode and group, read back with OpenSSL, its record
 * matching the key; an existing file is never overwritten and a failure
 * leaves nothing behind.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "../rotator/rotator.h"
#include "helper.h"

#define GID_DAEMON 1

static char *dir;

static void setup(void)
{
	dir = test_tmpdir_make("keygen");
}

static void teardown(void)
{
	test_tmpdir_remove(dir);
}

static char *path_in(const char *name)
{
	char *p;

	cr_assert(asprintf(&p, "%s/%s", dir, name) > 0);
	return p;
}

/* The names in the test directory, sorted and joined with spaces. */
static char *dir_listing(void)
{
	struct dirent **list;
	char *out = calloc(1, 4096);
	int n = scandir(dir, &list, NULL, alphasort);

	cr_assert_geq(n, 0);
	for (int i = 0; i < n; i++) {
		if (list[i]->d_name[0] != '.') {
			if (out[0] != '\0')
				strcat(out, " ");
			strcat(out, list[i]->d_name);
		}
		free(list[i]);
	}
	free(list);
	return out;
}

/* The p= OpenSSL itself would derive from the key in `path`. */
static char *expected_p(const char *path, enum key_alg alg)
{
	FILE *f = fopen(path, "r");
	EVP_PKEY *pkey;
	unsigned char buf[1024], *der = NULL;
	size_t len = sizeof(buf);
	char *b64 = calloc(1, 2048);
	int n;

	cr_assert_not_null(f);
	pkey = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	fclose(f);
	cr_assert_not_null(pkey, "OpenSSL cannot read %s back", path);
	if (alg == KEY_ED25519) {
		cr_assert(EVP_PKEY_is_a(pkey, "ED25519"));
		cr_assert_eq(EVP_PKEY_get_raw_public_key(pkey, buf, &len), 1);
		EVP_EncodeBlock((unsigned char *)b64, buf, (int)len);
	} else {
		cr_assert(EVP_PKEY_is_a(pkey, "RSA"));
		cr_assert_eq(EVP_PKEY_get_bits(pkey),
			     alg == KEY_RSA2048 ? 2048 : alg == KEY_RSA3072 ? 3072 : 4096);
		n = i2d_PUBKEY(pkey, &der);
		cr_assert_gt(n, 0);
		EVP_EncodeBlock((unsigned char *)b64, der, n);
		OPENSSL_free(der);
	}
	EVP_PKEY_free(pkey);
	return b64;
}

static void round_trip(enum key_alg alg, const char *k)
{
	char *path = path_in("example.com.s1.private");
	char rec[DKIM_RECORD_MAX], again[DKIM_RECORD_MAX];
	char head[40] = "";
	struct dkim_record r;
	struct dkr_error e = { 0 };
	struct stat st;
	char *p, *names;
	FILE *f;

	cr_assert_eq(keygen_generate(alg, path, GID_DAEMON, rec, sizeof(rec), &e), DKR_OK,
		     "%s", e.msg);

	/* Mode 0640, the MTA's group, and nothing else left in the directory. */
	cr_assert_eq(lstat(path, &st), 0);
	cr_assert(S_ISREG(st.st_mode));
	cr_assert_eq(st.st_mode & 07777, 0640);
	cr_assert_eq(st.st_gid, GID_DAEMON);
	names = dir_listing();
	cr_assert_str_eq(names, "example.com.s1.private");

	/* Unencrypted PKCS#8. */
	f = fopen(path, "r");
	cr_assert_not_null(fgets(head, sizeof(head), f));
	fclose(f);
	cr_assert_str_eq(head, "-----BEGIN PRIVATE KEY-----\n");

	/* The record parses and its p= is the file's public key. */
	p = expected_p(path, alg);
	cr_assert_eq(dkim_record_parse(rec, &r, &e), DKR_OK, "%s", e.msg);
	cr_assert_str_eq(r.v, "DKIM1");
	cr_assert_str_eq(r.k, k);
	cr_assert_str_eq(r.p, p);
	if (alg == KEY_ED25519)
		cr_assert_eq(strlen(r.p), 44);

	/* Rebuilt from the file, the record is the same. */
	cr_assert_eq(keygen_record_from_file(path, alg, again, sizeof(again), &e), DKR_OK,
		     "%s", e.msg);
	cr_assert_str_eq(again, rec);

	free(p);
	free(names);
	free(path);
}

TestSuite(keygen, .init = setup, .fini = teardown);

Test(keygen, rsa_2048_round_trips_through_the_file_and_the_record)
{
	round_trip(KEY_RSA2048, "rsa");
}

Test(keygen, rsa_3072_round_trips_through_the_file_and_the_record)
{
	round_trip(KEY_RSA3072, "rsa");
}

Test(keygen, rsa_4096_round_trips_through_the_file_and_the_record, .timeout = 60)
{
	round_trip(KEY_RSA4096, "rsa");
}

Test(keygen, ed25519_round_trips_through_the_file_and_the_record)
{
	round_trip(KEY_ED25519, "ed25519");
}

Test(keygen, leaves_the_group_alone_when_gid_is_minus_one)
{
	char *path = path_in("k.private");
	char rec[DKIM_RECORD_MAX];
	struct stat st;

	cr_assert_eq(keygen_generate(KEY_ED25519, path, (gid_t)-1, rec, sizeof(rec), NULL),
		     DKR_OK);
	cr_assert_eq(stat(path, &st), 0);
	cr_assert_eq(st.st_gid, getegid());
	cr_assert_eq(st.st_mode & 07777, 0640);
	free(path);
}

Test(keygen, never_overwrites_an_existing_file)
{
	char *path = test_write_file(dir, "k.private", "precious\n", 0600);
	char rec[DKIM_RECORD_MAX] = "untouched";
	char msg[1100];
	struct dkr_error e = { 0 };
	char *text = NULL;

	cr_assert_eq(keygen_generate(KEY_ED25519, path, GID_DAEMON, rec, sizeof(rec), &e),
		     DKR_EIO);
	snprintf(msg, sizeof(msg), "key file %s already exists: dkimrot never overwrites a "
		 "key (remove it if it is a leftover, or choose another selector)", path);
	cr_assert_str_eq(e.msg, msg);
	cr_assert_eq(file_read_all(path, 100, &text, NULL, NULL), DKR_OK);
	cr_assert_str_eq(text, "precious\n");
	free(text);
	free(path);
}

Test(keygen, never_writes_through_a_symlink_at_the_path)
{
	char *path = path_in("k.private");
	char *target = path_in("elsewhere");
	char rec[DKIM_RECORD_MAX];
	struct dkr_error e = { 0 };
	char *names;

	cr_assert_eq(symlink(target, path), 0);
	cr_assert_eq(keygen_generate(KEY_ED25519, path, GID_DAEMON, rec, sizeof(rec), &e),
		     DKR_EIO);
	cr_assert(strstr(e.msg, "already exists") != NULL, "%s", e.msg);
	names = dir_listing();
	cr_assert_str_eq(names, "k.private");
	free(names);
	free(target);
	free(path);
}

Test(keygen, leaves_no_file_when_the_record_buffer_is_too_small)
{
	char *path = path_in("k.private");
	char rec[32];
	struct dkr_error e = { 0 };
	char *names;

	cr_assert_eq(keygen_generate(KEY_ED25519, path, GID_DAEMON, rec, sizeof(rec), &e),
		     DKR_EINVAL);
	cr_assert_str_eq(e.msg, "the DKIM record (66 bytes) does not fit in a buffer of 32");
	names = dir_listing();
	cr_assert_str_eq(names, "");
	free(names);
	free(path);
}

Test(keygen, fails_cleanly_in_a_missing_directory)
{
	char *path = path_in("nodir/k.private");
	char rec[DKIM_RECORD_MAX];
	char msg[1100];
	struct dkr_error e = { 0 };

	cr_assert_eq(keygen_generate(KEY_ED25519, path, GID_DAEMON, rec, sizeof(rec), &e),
		     DKR_EIO);
	snprintf(msg, sizeof(msg), "cannot create %s.tmp.%ld: No such file or directory", path,
		 (long)getpid());
	cr_assert_str_eq(e.msg, msg);
	free(path);
}

Test(keygen, record_from_file_refuses_a_key_of_another_size)
{
	char *path = path_in("k.private");
	char rec[DKIM_RECORD_MAX];
	char msg[1100];
	struct dkr_error e = { 0 };

	cr_assert_eq(keygen_generate(KEY_RSA2048, path, GID_DAEMON, rec, sizeof(rec), NULL),
		     DKR_OK);
	cr_assert_eq(keygen_record_from_file(path, KEY_RSA3072, rec, sizeof(rec), &e),
		     DKR_EINVAL);
	snprintf(msg, sizeof(msg), "key file %s holds a 2048-bit RSA key, not rsa-3072", path);
	cr_assert_str_eq(e.msg, msg);
	cr_assert_eq(keygen_record_from_file(path, KEY_ED25519, rec, sizeof(rec), &e),
		     DKR_EINVAL);
	snprintf(msg, sizeof(msg), "key file %s holds a 2048-bit RSA key, not ed25519", path);
	cr_assert_str_eq(e.msg, msg);
	free(path);
}

Test(keygen, record_from_file_refuses_what_is_not_a_pem_key)
{
	char *path = test_write_file(dir, "k.private", "hello\n", 0600);
	char rec[DKIM_RECORD_MAX];
	struct dkr_error e = { 0 };
	char prefix[1100];

	cr_assert_eq(keygen_record_from_file(path, KEY_ED25519, rec, sizeof(rec), &e),
		     DKR_EINVAL);
	snprintf(prefix, sizeof(prefix), "%s is not an unencrypted PEM private key: ", path);
	cr_assert(strncmp(e.msg, prefix, strlen(prefix)) == 0, "%s", e.msg);
	free(path);
}

Test(keygen, record_from_file_refuses_an_encrypted_key_without_prompting)
{
	char *path = path_in("enc.pem");
	char rec[DKIM_RECORD_MAX];
	struct dkr_error e = { 0 };

	cr_assert_eq(test_sh("openssl genpkey -algorithm ED25519 -aes-128-cbc -pass pass:x "
			     "-out '%s' 2>/dev/null", path), 0);
	cr_assert_eq(keygen_record_from_file(path, KEY_ED25519, rec, sizeof(rec), &e),
		     DKR_EINVAL);
	cr_assert(strstr(e.msg, "is not an unencrypted PEM private key") != NULL, "%s", e.msg);
	free(path);
}

Test(keygen, record_from_file_reads_a_key_made_by_the_openssl_tool)
{
	char *path = path_in("tool.pem");
	char rec[DKIM_RECORD_MAX];
	struct dkr_error e = { 0 };
	struct dkim_record r;
	char *p;

	cr_assert_eq(test_sh("openssl genpkey -algorithm ED25519 -out '%s' 2>/dev/null", path),
		     0);
	cr_assert_eq(keygen_record_from_file(path, KEY_ED25519, rec, sizeof(rec), &e), DKR_OK,
		     "%s", e.msg);
	p = expected_p(path, KEY_ED25519);
	cr_assert_eq(dkim_record_parse(rec, &r, NULL), DKR_OK);
	cr_assert_str_eq(r.p, p);
	free(p);
	free(path);
}
