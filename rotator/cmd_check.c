/*
 * cmd_check.c - `dkimrot check`: the configuration first (every problem,
 * with file and line), then the system as dkimrot and the MTA will meet it:
 * key directories and their permissions for the MTA's group, the state
 * database's directory, each DNS backend reached, and the clock.
 */
#include <errno.h>
#include <getopt.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/timex.h>
#include <unistd.h>

#include "../dnsupdate/dnsupdate.h"
#include "../providers/providers.h"
#include "cmd.h"

struct check_tally {
	int errors;
	int warnings;
};

static void report(struct check_tally *t, enum log_level lvl, const char *what,
		   const char *msg)
{
	const char *tag = "ok";

	if (lvl == LOG_LVL_ERR) {
		tag = "error";
		t->errors++;
	} else if (lvl == LOG_LVL_WARNING) {
		tag = "warning";
		t->warnings++;
	}
	printf("%-7s  %s: %s\n", tag, what, msg);
}

static void check_mtas(const struct conf *conf, struct check_tally *t)
{
	for (size_t i = 0; i < conf->n_domains; i++) {
		const struct conf_domain *d = &conf->domains[i];
		const struct mta_ops *mta = mta_ops_find(d->mta->type);
		struct dkr_error e = { 0 };
		char what[512];

		snprintf(what, sizeof(what), "%s (mta %s)", d->domain, d->mta->name);
		if (mta->check(d->mta, d->domain, &e) != DKR_OK)
			report(t, LOG_LVL_ERR, what, e.msg);
		else
			report(t, LOG_LVL_INFO, what, "key directory usable by the MTA's group");
	}
}

/* Reach each backend through the first domain that uses it. */
static void check_backends(const struct conf *conf, struct check_tally *t)
{
	for (size_t i = 0; i < conf->n_dns; i++) {
		const struct conf_dns *dns = &conf->dns[i];
		const struct conf_domain *d = NULL;
		struct provider *p = NULL;
		struct dkr_error e = { 0 };
		char what[256], zone[DKR_NAME_MAX + 1], msg[1024];

		snprintf(what, sizeof(what), "dns %s (%s)", dns->name,
			 conf_dns_type_name(dns->type));
		for (size_t k = 0; k < conf->n_domains && d == NULL; k++)
			if (conf->domains[k].dns == dns)
				d = &conf->domains[k];
		if (d == NULL) {
			report(t, LOG_LVL_WARNING, what, "no domain uses this backend");
			continue;
		}

		if (provider_open(dns, &p, &e) != DKR_OK) {
			report(t, LOG_LVL_ERR, what, e.msg);
			continue;
		}
		/* Ask for real even when the zone is configured: that is the test. */
		struct conf_domain probe = *d;

		probe.zone[0] = '\0';
		if (domain_zone_find(p, &probe, d->domain, zone, sizeof(zone), &e) != DKR_OK) {
			report(t, LOG_LVL_ERR, what, e.msg);
		} else if (d->zone[0] != '\0' && strcmp(zone, d->zone) != 0) {
			snprintf(msg, sizeof(msg),
				 "%s is in zone %s, but the configuration says %s", d->domain, zone,
				 d->zone);
			report(t, LOG_LVL_ERR, what, msg);
		} else if (dns->type == DNS_RFC2136 &&
			   dnsu_probe(dns, zone, NULL, &e) != DKR_OK) {
			report(t, LOG_LVL_ERR, what, e.msg);
		} else {
			snprintf(msg, sizeof(msg), "reachable; %s is in zone %s%s", d->domain, zone,
				 dns->type == DNS_RFC2136 && dns->tsig_name[0] != '\0'
					 ? "; an empty update signed with the TSIG key is accepted"
					 : "");
			report(t, LOG_LVL_INFO, what, msg);
		}
		provider_close(p);
	}
}

static void check_state_dir(const struct conf *conf, struct check_tally *t)
{
	char path[4096];
	const char *dir;

	snprintf(path, sizeof(path), "%s", conf->state_db);
	dir = dirname(path);
	if (access(dir, W_OK | X_OK) != 0) {
		char msg[4200];

		snprintf(msg, sizeof(msg), "directory %s is not writable: %s", dir,
			 strerror(errno));
		report(t, LOG_LVL_ERR, "state_db", msg);
	} else {
		report(t, LOG_LVL_INFO, "state_db", conf->state_db);
	}
}

/* A clock minutes ahead makes receivers see signatures from the future. */
static void check_clock(struct check_tally *t)
{
	struct timex tx;
	int st;

	memset(&tx, 0, sizeof(tx));
	st = adjtimex(&tx);
	if (st == TIME_ERROR || st < 0)
		report(t, LOG_LVL_WARNING, "clock",
		       "the kernel says the clock is not synchronised: run an NTP client "
		       "(chrony, systemd-timesyncd), or receivers may reject signatures "
		       "dated in the future");
	else
		report(t, LOG_LVL_INFO, "clock", "synchronised according to the kernel");
}

int cmd_check(int argc, char **argv, const char *conf_path)
{
	struct conf *conf = NULL;
	struct check_tally t = { 0, 0 };
	int rc;

	if (argc > 1 && argv[1][0] == '-') {
		fprintf(stderr, "dkimrot: check takes no options\n");
		return EXIT_USAGE;
	}

	rc = cmd_load_conf(conf_path, &conf);
	if (rc != EXIT_OK)
		return rc;
	printf("%-7s  %s: %zu domains, %zu DNS backends, %zu MTAs\n", "ok", conf->path,
	       conf->n_domains, conf->n_dns, conf->n_mta);

	check_state_dir(conf, &t);
	check_mtas(conf, &t);
	check_backends(conf, &t);
	check_clock(&t);

	printf("%d errors, %d warnings\n", t.errors, t.warnings);
	conf_free(conf);
	return t.errors > 0 ? EXIT_FAIL : EXIT_OK;
}
