/*
 * provider.c - the map from a configured DNS backend type to its table of
 * functions, and the two calls the lifecycle code uses to get a handle.
 */
#include <stddef.h>

#include "providers.h"

const struct provider_ops *provider_ops_find(enum conf_dns_type type)
{
	switch (type) {
	case DNS_RFC2136:
		return &provider_rfc2136_ops;
	case DNS_POWERDNS:
		return &provider_powerdns_ops;
	case DNS_CLOUDFLARE:
		return &provider_cloudflare_ops;
	case DNS_EXEC:
		return &provider_exec_ops;
	}
	return NULL;
}

int provider_open(const struct conf_dns *conf, struct provider **out, struct dkr_error *e)
{
	const struct provider_ops *ops = provider_ops_find(conf->type);

	*out = NULL;
	if (ops == NULL)
		return dkr_fail(e, DKR_ECONFIG, "dns \"%s\" (line %d) has an unknown type",
				conf->name, conf->line);
	return ops->open(conf, out, e);
}

void provider_close(struct provider *p)
{
	if (p != NULL)
		p->ops->close(p);
}
