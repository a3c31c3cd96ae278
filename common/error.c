/*
 * error.c - the one error type: codes, their names, and the sentence for
 * the operator that travels with each failure.
 */
#include <stdio.h>
#include <string.h>

#include "common.h"

static const char *const err_names[DKR_ERR_COUNT] = {
	[DKR_OK] = "success",
	[DKR_EINVAL] = "invalid input",
	[DKR_ECONFIG] = "configuration error",
	[DKR_ENOMEM] = "out of memory",
	[DKR_EIO] = "file operation failed",
	[DKR_EDB] = "state database error",
	[DKR_ECONFLICT] = "state changed underneath",
	[DKR_ELOCKED] = "another dkimrot holds the lock",
	[DKR_ECRYPTO] = "cryptography error",
	[DKR_EDNS] = "DNS server refused",
	[DKR_ETEMP] = "temporary failure",
	[DKR_EHTTP] = "HTTP API refused",
	[DKR_ETIMEOUT] = "timed out",
	[DKR_ENOTFOUND] = "not found",
	[DKR_EPERM] = "permission problem",
};

const char *dkr_strerror(enum dkr_err code)
{
	if ((int)code < 0 || code >= DKR_ERR_COUNT)
		return "unknown error";
	return err_names[code];
}

enum dkr_err dkr_fail(struct dkr_error *e, enum dkr_err code, const char *fmt, ...)
{
	va_list ap;

	if (e == NULL)
		return code;

	e->code = code;
	va_start(ap, fmt);
	vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
	va_end(ap);
	return code;
}

enum dkr_err dkr_wrap(struct dkr_error *e, const char *fmt, ...)
{
	char prefix[512];
	char old[sizeof(e->msg)];
	va_list ap;

	if (e == NULL)
		return DKR_OK;

	va_start(ap, fmt);
	vsnprintf(prefix, sizeof(prefix), fmt, ap);
	va_end(ap);

	/* A message cut short still reads well; the return value says if it was. */
	memcpy(old, e->msg, sizeof(old));
	if (snprintf(e->msg, sizeof(e->msg), "%s: %s", prefix, old) >= (int)sizeof(e->msg))
		memcpy(e->msg + sizeof(e->msg) - 4, "...", 4);
	return e->code;
}

bool dkr_err_retryable(enum dkr_err code)
{
	switch (code) {
	case DKR_ETEMP:
	case DKR_ETIMEOUT:
	case DKR_ELOCKED:
	case DKR_EDB:
		return true;
	default:
		return false;
	}
}
