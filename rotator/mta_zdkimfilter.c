/*
 * mta_zdkimfilter.c - the adapter for Courier's zdkimfilter.  zdkimfilter
 * signs mail of <domain> with the key file keys_dir/<domain>, and takes
 * the selector from the name of the file it resolves to.  We keep each key
 * as keys_dir/<domain>.<selector>.private and make keys_dir/<domain> a
 * relative symlink to it, so switching keys is one rename of a link.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rotator.h"

enum link_kind { LINK_NONE, LINK_SYMLINK };

static int zdk_key_path(const struct conf_mta *m, const char *domain, const char *selector,
			char *out, size_t len, struct dkr_error *e)
{
	int rc = mta_names_check(domain, selector, e);
	int n;

	if (rc != DKR_OK)
		return rc;
	n = snprintf(out, len, "%s/%s.%s.private", m->keys_dir, domain, selector);
	if (n < 0 || (size_t)n >= len)
		return dkr_fail(e, DKR_EINVAL, "%s %s: key path under %s is too long", domain,
				selector, m->keys_dir);
	return DKR_OK;
}

static int zdk_key_dir_prepare(const struct conf_mta *m, const char *domain,
			       struct dkr_error *e)
{
	int rc = mta_names_check(domain, NULL, e);

	if (rc != DKR_OK)
		return rc;
	return mta_dir_prepare(m, m->keys_dir, e);
}

static int zdk_link_path(const struct conf_mta *m, const char *domain, char *out,
			 size_t len, struct dkr_error *e)
{
	int n = snprintf(out, len, "%s/%s", m->keys_dir, domain);

	if (n < 0 || (size_t)n >= len)
		return dkr_fail(e, DKR_EINVAL, "%s: link path under %s is too long", domain,
				m->keys_dir);
	return DKR_OK;
}

/*
 * What is at keys_dir/<domain>: nothing, or a symlink (its target in
 * `target`).  Anything else was put there by someone else and is refused.
 */
static int zdk_link_read(const char *link, enum link_kind *kind, char *target, size_t len,
			 struct dkr_error *e)
{
	struct stat st;
	ssize_t n;

	target[0] = '\0';
	if (lstat(link, &st) != 0) {
		if (errno != ENOENT)
			return dkr_fail(e, DKR_EIO, "cannot stat %s: %s", link, strerror(errno));
		*kind = LINK_NONE;
		return DKR_OK;
	}
	if (S_ISREG(st.st_mode))
		return dkr_fail(e, DKR_EPERM, "%s is a regular file, not a link made by dkimrot: "
				"it looks like a key installed by hand, which dkimrot will not "
				"replace; move it away to let dkimrot manage this domain", link);
	if (!S_ISLNK(st.st_mode))
		return dkr_fail(e, DKR_EPERM, "%s is neither a symbolic link nor absent "
				"(mode %06o): dkimrot will not replace it", link,
				(unsigned)st.st_mode);

	n = readlink(link, target, len);
	if (n < 0)
		return dkr_fail(e, DKR_EIO, "cannot read link %s: %s", link, strerror(errno));
	if ((size_t)n >= len)
		return dkr_fail(e, DKR_EINVAL, "link %s points to a path longer than %zu bytes",
				link, len - 1);
	target[n] = '\0';
	*kind = LINK_SYMLINK;
	return DKR_OK;
}

/*
 * The selector as zdkimfilter derives it from a link target: the basename,
 * without a leading "<domain>." and without a ".private" or ".pem" suffix.
 */
static int zdk_selector_of(const char *domain, const char *target, char *sel, size_t len,
			   struct dkr_error *e)
{
	static const char *const exts[] = { ".private", ".pem" };
	const char *base = strrchr(target, '/');
	size_t dlen = strlen(domain);
	size_t n;

	base = base != NULL ? base + 1 : target;
	if (strncasecmp(base, domain, dlen) == 0 && base[dlen] == '.')
		base += dlen + 1;
	n = strlen(base);
	for (size_t i = 0; i < sizeof(exts) / sizeof(exts[0]); i++) {
		size_t el = strlen(exts[i]);

		if (n > el && strcmp(base + n - el, exts[i]) == 0) {
			n -= el;
			break;
		}
	}

	if (n == 0 || n >= len)
		return dkr_fail(e, DKR_EINVAL, "%s: no usable selector in link target %s",
				domain, target);
	memcpy(sel, base, n);
	sel[n] = '\0';
	return DKR_OK;
}

static int zdk_activate(const struct conf_mta *m, const char *domain, const char *selector,
			const char *key_path, struct dkr_error *e)
{
	char want[PATH_MAX], link[PATH_MAX], cur[PATH_MAX];
	const char *target;
	enum link_kind kind;
	struct stat st;
	int rc;

	/* zdkimfilter reads the selector from the name: the key must be ours. */
	rc = zdk_key_path(m, domain, selector, want, sizeof(want), e);
	if (rc != DKR_OK)
		return rc;
	if (strcmp(key_path, want) != 0)
		return dkr_fail(e, DKR_EINVAL, "%s %s: key file %s is not where zdkimfilter "
				"would take the right selector from (%s)", domain, selector,
				key_path, want);
	if (lstat(key_path, &st) != 0 || !S_ISREG(st.st_mode))
		return dkr_fail(e, DKR_ENOTFOUND, "%s %s: key file %s is missing or not a "
				"regular file", domain, selector, key_path);

	rc = path_group_can_read(key_path, m->gid, e);
	if (rc != DKR_OK)
		return dkr_wrap(e, "%s %s", domain, selector);

	rc = zdk_link_path(m, domain, link, sizeof(link), e);
	if (rc == DKR_OK)
		rc = zdk_link_read(link, &kind, cur, sizeof(cur), e);
	if (rc != DKR_OK)
		return rc;

	/* Relative, so the keys directory can move (or be seen in a chroot). */
	target = strrchr(key_path, '/') + 1;
	if (kind != LINK_SYMLINK || strcmp(cur, target) != 0) {
		rc = symlink_replace(target, link, e);
		if (rc != DKR_OK)
			return dkr_wrap(e, "%s %s: switching zdkimfilter's key", domain, selector);
		log_key(LOG_LVL_INFO, domain, selector, "zdkimfilter link %s now points to %s",
			link, target);
	}

	/* Always: a crash may have come between the swap and the reload. */
	rc = mta_reload(m, e);
	if (rc != DKR_OK)
		return dkr_wrap(e, "%s %s", domain, selector);
	return DKR_OK;
}

static int zdk_current(const struct conf_mta *m, const char *domain, char *selector,
		       size_t len, struct dkr_error *e)
{
	char link[PATH_MAX], target[PATH_MAX];
	enum link_kind kind;
	int rc;

	if (len > 0)
		selector[0] = '\0';
	rc = mta_names_check(domain, NULL, e);
	if (rc == DKR_OK)
		rc = zdk_link_path(m, domain, link, sizeof(link), e);
	if (rc == DKR_OK)
		rc = zdk_link_read(link, &kind, target, sizeof(target), e);
	if (rc != DKR_OK || kind == LINK_NONE)
		return rc;
	return zdk_selector_of(domain, target, selector, len, e);
}

static int zdk_check(const struct conf_mta *m, const char *domain, struct dkr_error *e)
{
	char link[PATH_MAX], target[PATH_MAX], key[PATH_MAX];
	enum link_kind kind;
	int rc;

	rc = mta_dir_group_can_search(m, m->keys_dir, e);
	if (rc != DKR_OK || domain == NULL)
		return rc;

	rc = mta_names_check(domain, NULL, e);
	if (rc == DKR_OK)
		rc = zdk_link_path(m, domain, link, sizeof(link), e);
	if (rc == DKR_OK)
		rc = zdk_link_read(link, &kind, target, sizeof(target), e);
	if (rc != DKR_OK || kind == LINK_NONE)
		return rc;

	/* The key it points at, as the MTA will open it. */
	if (target[0] == '/')
		rc = str_copy(key, sizeof(key), target) ? DKR_OK : DKR_EINVAL;
	else if ((size_t)snprintf(key, sizeof(key), "%s/%s", m->keys_dir, target) >=
		 sizeof(key))
		rc = DKR_EINVAL;
	if (rc != DKR_OK)
		return dkr_fail(e, DKR_EINVAL, "%s: link target %s is too long", link, target);
	rc = path_group_can_read(key, m->gid, e);
	if (rc != DKR_OK)
		return dkr_wrap(e, "%s: current key (link %s)", domain, link);
	return DKR_OK;
}

const struct mta_ops mta_zdkimfilter_ops = {
	.type = "zdkimfilter",
	.key_path = zdk_key_path,
	.key_dir_prepare = zdk_key_dir_prepare,
	.activate = zdk_activate,
	.current = zdk_current,
	.check = zdk_check,
};
