/*
 * keygen.c - DKIM keypairs: generated with OpenSSL's EVP API, the private
 * half written where the MTA will read it (never over an existing file),
 * the public half turned into the TXT record to publish.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "rotator.h"

#define KEY_FILE_MODE 0640
#define KEY_FILE_MAX (64 * 1024)	/* a PEM RSA-4096 key is about 3.3 KB */

static const struct {
	const char *type;	/* OpenSSL's key type name */
	size_t bits;		/* 0: fixed by the type */
} alg_params[KEY_ALG_COUNT] = {
	[KEY_RSA2048] = { "RSA", 2048 },
	[KEY_RSA3072] = { "RSA", 3072 },
	[KEY_RSA4096] = { "RSA", 4096 },
	[KEY_ED25519] = { "ED25519", 0 },
};

static bool alg_valid(enum key_alg alg)
{
	return (int)alg >= 0 && alg < KEY_ALG_COUNT;
}

/* The first OpenSSL error as text, and a clean queue for the next call. */
static const char *ssl_error(char *buf, size_t len)
{
	unsigned long code = ERR_get_error();

	if (code == 0)
		snprintf(buf, len, "no detail from OpenSSL");
	else
		ERR_error_string_n(code, buf, len);
	ERR_clear_error();
	return buf;
}

static int key_make(enum key_alg alg, EVP_PKEY **out, struct dkr_error *e)
{
	char err[256];

	if (alg_params[alg].bits != 0)
		*out = EVP_PKEY_Q_keygen(NULL, NULL, alg_params[alg].type, alg_params[alg].bits);
	else
		*out = EVP_PKEY_Q_keygen(NULL, NULL, alg_params[alg].type);
	if (*out == NULL)
		return dkr_fail(e, DKR_ECRYPTO, "OpenSSL could not generate a %s key: %s",
				key_alg_name(alg), ssl_error(err, sizeof(err)));
	return DKR_OK;
}

/* Does the key read from `path` have the type and size of `alg`? */
static int key_matches(EVP_PKEY *pkey, enum key_alg alg, const char *path,
		       struct dkr_error *e)
{
	bool ok = EVP_PKEY_is_a(pkey, alg_params[alg].type);

	if (ok && alg_params[alg].bits != 0)
		ok = (size_t)EVP_PKEY_get_bits(pkey) == alg_params[alg].bits;
	if (!ok)
		return dkr_fail(e, DKR_EINVAL, "key file %s holds a %d-bit %s key, not %s", path,
				EVP_PKEY_get_bits(pkey), EVP_PKEY_get0_type_name(pkey),
				key_alg_name(alg));
	return DKR_OK;
}

/*
 * The record carries a DER SubjectPublicKeyInfo for RSA but the bare
 * 32-byte key for Ed25519 (RFC 8463 section 4.2).
 */
static int key_record(EVP_PKEY *pkey, enum key_alg alg, char *record, size_t record_len,
		      struct dkr_error *e)
{
	unsigned char raw[32];
	unsigned char *der = NULL;
	size_t raw_len = sizeof(raw);
	char err[256];
	int der_len, rc;

	if (alg == KEY_ED25519) {
		if (EVP_PKEY_get_raw_public_key(pkey, raw, &raw_len) != 1)
			return dkr_fail(e, DKR_ECRYPTO, "cannot extract the Ed25519 public key: %s",
					ssl_error(err, sizeof(err)));
		return dkim_record_build(alg, raw, raw_len, record, record_len, e);
	}

	der_len = i2d_PUBKEY(pkey, &der);
	if (der_len <= 0)
		return dkr_fail(e, DKR_ECRYPTO, "cannot encode the RSA public key: %s",
				ssl_error(err, sizeof(err)));
	rc = dkim_record_build(alg, der, (size_t)der_len, record, record_len, e);
	OPENSSL_free(der);
	return rc;
}

static int refuse_existing(const char *path, struct dkr_error *e)
{
	return dkr_fail(e, DKR_EIO, "key file %s already exists: dkimrot never overwrites a "
			"key (remove it if it is a leftover, or choose another selector)", path);
}

/*
 * Move the finished temporary to `path` unless something is there already.
 * renameat2() does this in one step; on a filesystem without it, link()
 * gives the same no-replace guarantee and the temporary name is then
 * unlinked.
 */
static int rename_noreplace(const char *tmp, const char *path, struct dkr_error *e)
{
	if (renameat2(AT_FDCWD, tmp, AT_FDCWD, path, RENAME_NOREPLACE) == 0)
		return DKR_OK;
	if (errno == EEXIST)
		return refuse_existing(path, e);
	if (errno != EINVAL && errno != ENOSYS)
		return dkr_fail(e, DKR_EIO, "cannot rename %s to %s: %s", tmp, path,
				strerror(errno));

	if (link(tmp, path) != 0) {
		if (errno == EEXIST)
			return refuse_existing(path, e);
		return dkr_fail(e, DKR_EIO, "cannot link %s to %s: %s", tmp, path,
				strerror(errno));
	}
	if (unlink(tmp) != 0)
		log_msg(LOG_LVL_WARNING, "key written to %s, but its temporary name %s could "
			"not be removed (%s)", path, tmp, strerror(errno));
	return DKR_OK;
}

/*
 * Remove what earlier attempts at `path` left behind: "<path>.tmp.<pid>"
 * of a process killed while writing it.  Its pid is not ours, so nothing
 * else would ever remove it, and it may hold a private key.  Only one
 * dkimrot writes keys at a time (the state database's writer lock).
 */
static int stale_temporaries_remove(const char *path, struct dkr_error *e)
{
	char copy[PATH_MAX], prefix[NAME_MAX + 8];
	const char *base = strrchr(path, '/'), *dir;
	struct dirent *de;
	size_t plen;
	DIR *d;
	int rc = DKR_OK;

	base = base != NULL ? base + 1 : path;
	if (!str_copy(copy, sizeof(copy), path) ||
	    (size_t)snprintf(prefix, sizeof(prefix), "%s.tmp.", base) >= sizeof(prefix))
		return dkr_fail(e, DKR_EINVAL, "key file path too long: %s", path);
	plen = strlen(prefix);

	/* No directory: the create that follows says so. */
	dir = dirname(copy);
	d = opendir(dir);
	if (d == NULL)
		return DKR_OK;
	while ((de = readdir(d)) != NULL) {
		const char *pid = de->d_name + plen;

		if (strncmp(de->d_name, prefix, plen) != 0 || *pid == '\0' ||
		    strspn(pid, "0123456789") != strlen(pid))
			continue;
		if (unlinkat(dirfd(d), de->d_name, 0) != 0 && errno != ENOENT) {
			rc = dkr_fail(e, DKR_EIO, "cannot remove %s/%s, left by an interrupted "
				      "key write: %s", dir, de->d_name, strerror(errno));
			break;
		}
		log_msg(LOG_LVL_NOTICE, "removed %s/%s, left by an interrupted key write", dir,
			de->d_name);
	}
	closedir(d);
	return rc;
}

/*
 * Write a private key: a temporary created exclusively (never through a
 * link), group and mode set before any key byte is written, fsynced, moved
 * into place without replacing anything, and the directory fsynced.  On
 * any failure the temporary is removed.
 */
static int key_file_write(const char *path, const char *data, size_t len, gid_t gid,
			  struct dkr_error *e)
{
	char tmp[PATH_MAX], dir[PATH_MAX];
	bool have_tmp = false;
	int fd = -1;
	int rc;

	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid()) >=
	    sizeof(tmp) || !str_copy(dir, sizeof(dir), path))
		return dkr_fail(e, DKR_EINVAL, "key file path too long: %s", path);

	rc = stale_temporaries_remove(path, e);
	if (rc != DKR_OK)
		return rc;
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return dkr_fail(e, DKR_EIO, "cannot create %s: %s", tmp, strerror(errno));
	have_tmp = true;

	/* The group first, then the bit that lets it read. */
	if (gid != (gid_t)-1 && fchown(fd, (uid_t)-1, gid) != 0) {
		rc = dkr_fail(e, DKR_EIO, "cannot give %s to group %u: %s", tmp, (unsigned)gid,
			      strerror(errno));
		goto out;
	}
	if (fchmod(fd, KEY_FILE_MODE) != 0) {
		rc = dkr_fail(e, DKR_EIO, "cannot set mode %04o on %s: %s", KEY_FILE_MODE, tmp,
			      strerror(errno));
		goto out;
	}

	if (fd_write_full(fd, data, len) != 0 || fsync(fd) != 0) {
		rc = dkr_fail(e, DKR_EIO, "cannot write %s: %s", tmp, strerror(errno));
		goto out;
	}
	rc = close(fd);
	fd = -1;
	if (rc != 0) {
		rc = dkr_fail(e, DKR_EIO, "cannot close %s: %s", tmp, strerror(errno));
		goto out;
	}

	rc = rename_noreplace(tmp, path, e);
	if (rc != DKR_OK)
		goto out;
	have_tmp = false;

	rc = dir_fsync(dirname(dir), e);

out:
	if (fd >= 0)
		close(fd);
	if (have_tmp)
		unlink(tmp);
	return rc;
}

int keygen_generate(enum key_alg alg, const char *path, gid_t gid, char *record,
		    size_t record_len, struct dkr_error *e)
{
	EVP_PKEY *pkey = NULL;
	BIO *mem = NULL;
	struct stat st;
	char *pem = NULL;
	char err[256];
	long pem_len;
	int rc;

	if (!alg_valid(alg))
		return dkr_fail(e, DKR_EINVAL, "unknown key algorithm %d", (int)alg);

	/* Fail before spending seconds on an RSA-4096 key that cannot be kept. */
	if (lstat(path, &st) == 0)
		return refuse_existing(path, e);

	rc = key_make(alg, &pkey, e);
	if (rc != DKR_OK)
		goto out;

	/* The record first: a buffer too small must not leave a key behind. */
	rc = key_record(pkey, alg, record, record_len, e);
	if (rc != DKR_OK)
		goto out;

	/* Secure memory BIO: the PEM text is wiped when the BIO is freed. */
	mem = BIO_new(BIO_s_secmem());
	if (mem == NULL || PEM_write_bio_PrivateKey(mem, pkey, NULL, NULL, 0, NULL, NULL) != 1) {
		rc = dkr_fail(e, DKR_ECRYPTO, "cannot encode the private key as PEM: %s",
			      ssl_error(err, sizeof(err)));
		goto out;
	}
	pem_len = BIO_get_mem_data(mem, &pem);
	if (pem_len <= 0) {
		rc = dkr_fail(e, DKR_ECRYPTO, "OpenSSL produced an empty PEM key");
		goto out;
	}

	rc = key_file_write(path, pem, (size_t)pem_len, gid, e);

out:
	BIO_free(mem);
	EVP_PKEY_free(pkey);
	return rc;
}

/* An encrypted key is not ours: refuse it instead of prompting on a tty. */
static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	(void)u;
	return -1;
}

int keygen_record_from_file(const char *path, enum key_alg alg, char *record,
			    size_t record_len, struct dkr_error *e)
{
	EVP_PKEY *pkey = NULL;
	BIO *bio = NULL;
	char *buf = NULL;
	size_t len = 0;
	char err[256];
	int rc;

	if (!alg_valid(alg))
		return dkr_fail(e, DKR_EINVAL, "unknown key algorithm %d", (int)alg);

	rc = file_read_all(path, KEY_FILE_MAX, &buf, &len, e);
	if (rc != DKR_OK)
		return rc;

	bio = BIO_new_mem_buf(buf, (int)len);
	if (bio != NULL)
		pkey = PEM_read_bio_PrivateKey(bio, NULL, no_passphrase, NULL);
	if (pkey == NULL) {
		rc = dkr_fail(e, DKR_EINVAL, "%s is not an unencrypted PEM private key: %s",
			      path, ssl_error(err, sizeof(err)));
		goto out;
	}

	rc = key_matches(pkey, alg, path, e);
	if (rc == DKR_OK)
		rc = key_record(pkey, alg, record, record_len, e);

out:
	BIO_free(bio);
	EVP_PKEY_free(pkey);
	OPENSSL_cleanse(buf, len);
	free(buf);
	return rc;
}
