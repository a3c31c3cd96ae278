/*
 * net.c - one DNS message to one server and its reply: UDP with a fallback
 * to TCP when the answer is truncated, and TCP with its two-byte length
 * framing (RFC 1035 4.2.2).  Messages are built and parsed by ldns; this
 * file only moves the bytes and says precisely what went wrong on the way.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "dnsu_priv.h"

const char *dnsu_rcode_name(int rcode, char *buf, size_t len)
{
	static const char *const names[] = {
		"NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED",
		"YXDOMAIN", "YXRRSET", "NXRRSET", "NOTAUTH", "NOTZONE",
	};

	if (rcode >= 0 && (size_t)rcode < sizeof(names) / sizeof(names[0]))
		return names[rcode];
	snprintf(buf, len, "RCODE %d", rcode);
	return buf;
}

int dnsu_query_build(const char *name, ldns_rr_type type, ldns_pkt **out,
		     struct dkr_error *e)
{
	ldns_rdf *qname = NULL;
	ldns_pkt *pkt;

	*out = NULL;
	if (ldns_str2rdf_dname(&qname, name) != LDNS_STATUS_OK)
		return dkr_fail(e, DKR_EINVAL, "\"%s\" is not a valid DNS name", name);
	pkt = ldns_pkt_query_new(qname, type, LDNS_RR_CLASS_IN, 0);
	if (pkt == NULL) {
		ldns_rdf_deep_free(qname);
		return dkr_fail(e, DKR_ENOMEM, "out of memory building a query for %s", name);
	}

	/* Authoritative servers only: no recursion; EDNS so keys fit in UDP. */
	ldns_pkt_set_rd(pkt, false);
	ldns_pkt_set_edns_udp_size(pkt, DNSU_EDNS_SIZE);
	ldns_pkt_set_random_id(pkt);
	*out = pkt;
	return DKR_OK;
}

static int wait_fd(int fd, short events, int64_t deadline)
{
	struct pollfd p = { .fd = fd, .events = events };
	int64_t left;
	int n;

	for (;;) {
		left = deadline - dnsu_mono_ms();
		if (left <= 0)
			return 0;
		n = poll(&p, 1, (int)left);
		if (n < 0 && errno == EINTR)
			continue;
		return n;
	}
}

/* Read or write exactly `len` bytes before the deadline. */
static int tcp_io(int fd, uint8_t *buf, size_t len, bool writing, int64_t deadline,
		  const struct dnsu_ns *ns, struct dkr_error *e)
{
	size_t done = 0;
	ssize_t r;
	int n;

	while (done < len) {
		if (writing)
			r = send(fd, buf + done, len - done, MSG_NOSIGNAL);
		else
			r = recv(fd, buf + done, len - done, 0);
		if (r > 0) {
			done += (size_t)r;
			continue;
		}
		if (r == 0)
			return dkr_fail(e, DKR_ETEMP, "%s closed the TCP connection before "
					"answering", ns->label);
		if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
			return dkr_fail(e, DKR_ETEMP, "TCP to %s failed: %s", ns->label,
					strerror(errno));
		n = wait_fd(fd, writing ? POLLOUT : POLLIN, deadline);
		if (n <= 0)
			return dkr_fail(e, DKR_ETEMP, "timeout: %s did not answer over TCP "
					"in time", ns->label);
	}
	return DKR_OK;
}

int dnsu_tcp_exchange(const struct dnsu_ns *ns, const uint8_t *wire, size_t len,
		      int timeout_ms, uint8_t **reply, size_t *reply_len, struct dkr_error *e)
{
	int64_t deadline = dnsu_mono_ms() + timeout_ms;
	uint8_t *out = NULL, *msg = NULL, hdr[2];
	int fd, rc, err = 0;
	socklen_t elen = sizeof(err);
	size_t rlen;

	*reply = NULL;
	*reply_len = 0;
	if (len > 65535)
		return dkr_fail(e, DKR_EINVAL, "a DNS message of %zu bytes is too long", len);
	fd = socket(ns->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return dkr_fail(e, DKR_ETEMP, "cannot open a TCP socket for %s: %s", ns->label,
				strerror(errno));

	/* Connect with the deadline, so a silent server cannot hold us. */
	if (connect(fd, (const struct sockaddr *)&ns->addr, ns->addrlen) < 0) {
		if (errno != EINPROGRESS) {
			err = errno;
		} else if (wait_fd(fd, POLLOUT, deadline) <= 0) {
			rc = dkr_fail(e, DKR_ETEMP, "timeout: no TCP connection to %s within "
				      "%d ms", ns->label, timeout_ms);
			goto out;
		} else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) < 0) {
			err = errno;
		}
	}
	if (err != 0) {
		rc = dkr_fail(e, DKR_ETEMP, "cannot connect to %s over TCP: %s%s", ns->label,
			      strerror(err), err == ECONNREFUSED ?
			      " (is the server running, and is the address and port right?)" :
			      "");
		goto out;
	}

	/* One write for length and message. */
	msg = malloc(len + 2);
	if (msg == NULL) {
		rc = dkr_fail(e, DKR_ENOMEM, "out of memory");
		goto out;
	}
	msg[0] = (uint8_t)(len >> 8);
	msg[1] = (uint8_t)len;
	memcpy(msg + 2, wire, len);
	rc = tcp_io(fd, msg, len + 2, true, deadline, ns, e);
	if (rc != DKR_OK)
		goto out;

	rc = tcp_io(fd, hdr, 2, false, deadline, ns, e);
	if (rc != DKR_OK)
		goto out;
	rlen = ((size_t)hdr[0] << 8) | hdr[1];
	out = malloc(rlen ? rlen : 1);
	if (out == NULL) {
		rc = dkr_fail(e, DKR_ENOMEM, "out of memory");
		goto out;
	}
	rc = tcp_io(fd, out, rlen, false, deadline, ns, e);
	if (rc != DKR_OK)
		goto out;
	*reply = out;
	*reply_len = rlen;
	out = NULL;
out:
	free(msg);
	free(out);
	close(fd);
	return rc;
}

/* True when `reply` answers `query`: same id, same question. */
static bool reply_matches(const ldns_pkt *query, const ldns_pkt *reply)
{
	const ldns_rr_list *qq = ldns_pkt_question(query);
	const ldns_rr_list *rq = ldns_pkt_question(reply);
	const ldns_rr *a, *b;

	if (ldns_pkt_id(query) != ldns_pkt_id(reply) || !ldns_pkt_qr(reply))
		return false;
	if (rq == NULL || ldns_rr_list_rr_count(rq) != 1 || ldns_rr_list_rr_count(qq) != 1)
		return false;
	a = ldns_rr_list_rr(qq, 0);
	b = ldns_rr_list_rr(rq, 0);
	return ldns_rr_get_type(a) == ldns_rr_get_type(b) &&
	       ldns_dname_compare(ldns_rr_owner(a), ldns_rr_owner(b)) == 0;
}

/* One UDP try: DKR_OK with a matching reply, DKR_ETEMP on timeout. */
static int udp_try(int fd, const ldns_pkt *query, const uint8_t *wire, size_t len,
		   int timeout_ms, ldns_pkt **reply, const struct dnsu_ns *ns,
		   struct dkr_error *e)
{
	int64_t deadline = dnsu_mono_ms() + timeout_ms;
	uint8_t buf[65535];
	ssize_t r;
	ldns_pkt *p;

	if (send(fd, wire, len, 0) < 0)
		return dkr_fail(e, DKR_ETEMP, "cannot send to %s: %s", ns->label,
				strerror(errno));
	for (;;) {
		if (wait_fd(fd, POLLIN, deadline) <= 0)
			return dkr_fail(e, DKR_ETEMP, "timeout: no answer from %s", ns->label);
		r = recv(fd, buf, sizeof(buf), 0);
		if (r < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (r < 0)
			return dkr_fail(e, DKR_ETEMP, "no answer from %s: %s", ns->label,
					strerror(errno));
		p = NULL;
		if (ldns_wire2pkt(&p, buf, (size_t)r) == LDNS_STATUS_OK &&
		    reply_matches(query, p)) {
			*reply = p;
			return DKR_OK;
		}
		ldns_pkt_free(p);	/* a stray datagram: keep waiting */
	}
}

static int ask_udp(const struct dnsu_ns *ns, const ldns_pkt *query, const uint8_t *wire,
		   size_t len, int timeout_ms, ldns_pkt **reply, unsigned long *msgs,
		   struct dkr_error *e)
{
	int fd, rc;

	fd = socket(ns->addr.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return dkr_fail(e, DKR_ETEMP, "cannot open a UDP socket for %s: %s",
				ns->label, strerror(errno));
	if (connect(fd, (const struct sockaddr *)&ns->addr, ns->addrlen) < 0) {
		rc = dkr_fail(e, DKR_ETEMP, "cannot reach %s: %s", ns->label, strerror(errno));
		goto out;
	}
	rc = DKR_ETEMP;
	for (int i = 0; i < 2 && rc == DKR_ETEMP; i++) {
		if (msgs != NULL)
			(*msgs)++;
		rc = udp_try(fd, query, wire, len, timeout_ms / 2, reply, ns, e);
	}
out:
	close(fd);
	return rc;
}

static int ask_tcp(const struct dnsu_ns *ns, const ldns_pkt *query, const uint8_t *wire,
		   size_t len, int timeout_ms, ldns_pkt **reply, unsigned long *msgs,
		   struct dkr_error *e)
{
	uint8_t *buf = NULL;
	size_t blen = 0;
	ldns_pkt *p = NULL;
	int rc;

	if (msgs != NULL)
		(*msgs)++;
	rc = dnsu_tcp_exchange(ns, wire, len, timeout_ms, &buf, &blen, e);
	if (rc != DKR_OK)
		goto out;
	if (ldns_wire2pkt(&p, buf, blen) != LDNS_STATUS_OK || !reply_matches(query, p)) {
		rc = dkr_fail(e, DKR_EDNS, "%s sent a malformed or unrelated reply",
			      ns->label);
		goto out;
	}
	*reply = p;
	p = NULL;
out:
	ldns_pkt_free(p);
	free(buf);
	return rc;
}

int dnsu_ask(const struct dnsu_ns *ns, const char *name, ldns_rr_type type, bool tcp,
	     int timeout_ms, ldns_pkt **reply, unsigned long *msgs, struct dkr_error *e)
{
	ldns_pkt *query = NULL, *p = NULL;
	uint8_t *wire = NULL;
	size_t len = 0;
	int rc;

	*reply = NULL;
	rc = dnsu_query_build(name, type, &query, e);
	if (rc != DKR_OK)
		goto out;
	if (ldns_pkt2wire(&wire, query, &len) != LDNS_STATUS_OK) {
		rc = dkr_fail(e, DKR_ENOMEM, "cannot encode a query for %s", name);
		goto out;
	}

	if (!tcp) {
		rc = ask_udp(ns, query, wire, len, timeout_ms, &p, msgs, e);
		if (rc != DKR_OK || !ldns_pkt_tc(p))
			goto out;
		ldns_pkt_free(p);
		p = NULL;
	}
	rc = ask_tcp(ns, query, wire, len, timeout_ms, &p, msgs, e);
out:
	if (rc == DKR_OK) {
		*reply = p;
		p = NULL;
	}
	ldns_pkt_free(p);
	ldns_pkt_free(query);
	free(wire);
	return rc;
}

bool dnsu_txt_join(const ldns_rr *rr, char *out, size_t len)
{
	size_t used = 0;

	if (ldns_rr_get_type(rr) != LDNS_RR_TYPE_TXT || len == 0)
		return false;
	for (size_t i = 0; i < ldns_rr_rd_count(rr); i++) {
		const ldns_rdf *rdf = ldns_rr_rdf(rr, i);
		const uint8_t *d = ldns_rdf_data(rdf);
		size_t sz = ldns_rdf_size(rdf);

		/* A character-string: a length byte, then that many bytes. */
		if (ldns_rdf_get_type(rdf) != LDNS_RDF_TYPE_STR || sz < 1 ||
		    (size_t)d[0] != sz - 1 || used + d[0] >= len ||
		    memchr(d + 1, '\0', d[0]) != NULL)
			return false;
		memcpy(out + used, d + 1, d[0]);
		used += d[0];
	}
	out[used] = '\0';
	return true;
}

bool dnsu_rr_owned_by(const ldns_rr *rr, const char *name)
{
	ldns_rdf *want = NULL;
	bool same;

	if (ldns_str2rdf_dname(&want, name) != LDNS_STATUS_OK)
		return false;
	same = ldns_dname_compare(ldns_rr_owner(rr), want) == 0;
	ldns_rdf_deep_free(want);
	return same;
}
