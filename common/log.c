/*
 * log.c - one line per event, to stderr or syslog, each naming the domain
 * and selector it is about: "example.com k20270301: published".
 */
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

#include "common.h"

static struct {
	bool syslog;
	enum log_level min;
	const char *ident;
} log_cfg = { false, LOG_LVL_INFO, "dkimrot" };

static const char *level_name(enum log_level lvl)
{
	switch (lvl) {
	case LOG_LVL_ERR:
		return "error";
	case LOG_LVL_WARNING:
		return "warning";
	case LOG_LVL_NOTICE:
		return "notice";
	case LOG_LVL_INFO:
		return "info";
	default:
		return "debug";
	}
}

void log_init(const char *ident, bool use_syslog, enum log_level min)
{
	log_cfg.ident = ident != NULL ? ident : "dkimrot";
	log_cfg.syslog = use_syslog;
	log_cfg.min = min;
	if (use_syslog)
		openlog(log_cfg.ident, LOG_PID | LOG_NDELAY, LOG_DAEMON);
}

void log_set_level(enum log_level min)
{
	log_cfg.min = min;
}

static void log_emit(enum log_level lvl, const char *domain, const char *selector,
		     const char *fmt, va_list ap)
{
	char body[2048];
	char head[512] = "";

	if (lvl > log_cfg.min)
		return;

	vsnprintf(body, sizeof(body), fmt, ap);
	if (domain != NULL && selector != NULL && *selector != '\0')
		snprintf(head, sizeof(head), "%s %s: ", domain, selector);
	else if (domain != NULL)
		snprintf(head, sizeof(head), "%s: ", domain);

	if (log_cfg.syslog) {
		syslog((int)lvl, "%s%s", head, body);
		return;
	}

	/* Stamp with the real clock: the log says when it was written. */
	char stamp[32];
	time_t now = time(NULL);
	struct tm tm;

	gmtime_r(&now, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%SZ", &tm);
	fprintf(stderr, "%s %s: %s%s\n", stamp, level_name(lvl), head, body);
}

void log_key(enum log_level lvl, const char *domain, const char *selector,
	     const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_emit(lvl, domain, selector, fmt, ap);
	va_end(ap);
}

void log_msg(enum log_level lvl, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_emit(lvl, NULL, NULL, fmt, ap);
	va_end(ap);
}
