/*
 * check.c - the every-nameserver check: is our record served, with
 * authority, by every address of every nameserver (or gone from all of
 * them)?  Many queries are in flight at once: one non-blocking UDP socket
 * per address carrying up to CHECK_WINDOW outstanding queries told apart by
 * their ids, poll() for replies, a per-query timeout with bounded retries,
 * and a TCP connection for any answer that comes back truncated.  No TSIG:
 * secondaries that do not know the update key must still answer.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "dnsu_priv.h"
#include "../rotator/rotator.h"

/*
 * Outstanding UDP queries per address.  On loopback against one-thread
 * BIND, 64 answered 20,000 queries with no loss; 128 and 256 overran the
 * server's socket buffer now and then, and each loss costs a timeout.
 */
#define CHECK_WINDOW 64
#define CHECK_TCP_MAX 32	/* TCP connections open at once, all addresses */
#define CHECK_ID_SPACE 65536

enum tcp_phase { TCP_CONNECT, TCP_SEND, TCP_LEN, TCP_BODY };

struct job {
	int attempts;		/* messages sent for it so far */
	int slot;		/* place in its server's slot table, -1 when idle */
	uint16_t id;
	bool done;
	bool want_tcp;		/* an answer was truncated: ask over TCP */
	bool refused;		/* the last try met "connection refused" */
	int64_t deadline;

	/* TCP only */
	int fd;
	enum tcp_phase phase;
	uint8_t *buf;
	size_t len, off;
};

struct srv {
	const struct dnsu_ns *ns;
	int fd;
	uint32_t *idmap;	/* id -> job index + 1; 0 when free */
	uint32_t *slots;	/* CHECK_WINDOW job indexes + 1; 0 when free */
	size_t inflight;
	size_t next_q;		/* queries below this were sent at least once */
	uint32_t *retry;	/* ring of job indexes to send again */
	size_t r_head, r_count;
	size_t left;		/* jobs not done */
	bool refused;		/* the socket reported ICMP port unreachable */
};

struct checker {
	const struct dnsu_ns *ns;
	size_t n_ns;
	struct dnsu_query *q;
	size_t n_q;
	ldns_rdf **qnames;
	struct job *jobs;	/* index q * n_ns + s */
	struct srv *srv;
	int timeout_ms;
	int max_attempts;
	size_t tcp_open;
};

/* ------------------------------------------------------------- answers */

static void answer_set(struct dnsu_answer *a, bool ok, const char *fmt, ...)
	DKR_PRINTF(3, 4);

static void answer_set(struct dnsu_answer *a, bool ok, const char *fmt, ...)
{
	va_list ap;

	a->ok = ok;
	va_start(ap, fmt);
	vsnprintf(a->detail, sizeof(a->detail), fmt, ap);
	va_end(ap);
}

/* Judge one server's reply against what the query wants. */
static void evaluate(const struct dnsu_query *q, const ldns_rdf *qname, const ldns_pkt *p,
		     struct dnsu_answer *a)
{
	const ldns_rr_list *an = ldns_pkt_answer(p);
	int rcode = ldns_pkt_get_rcode(p);
	bool aa = ldns_pkt_aa(p), ours = false;
	size_t n_txt = 0;
	char txt[DNSU_TXT_MAX], other[DNSU_TXT_MAX] = "", rb[16];

	for (size_t i = 0; an != NULL && i < ldns_rr_list_rr_count(an); i++) {
		const ldns_rr *rr = ldns_rr_list_rr(an, i);

		if (ldns_rr_get_type(rr) != LDNS_RR_TYPE_TXT ||
		    ldns_dname_compare(ldns_rr_owner(rr), qname) != 0)
			continue;
		n_txt++;
		if (!dnsu_txt_join(rr, txt, sizeof(txt)))
			continue;
		/*
		 * Byte-equal to our record is our key (a record dkimrot wrote
		 * parses); only a differently spelt one needs the parser, which
		 * decodes the key with OpenSSL and costs far more than a query.
		 */
		if (q->record != NULL &&
		    (strcmp(txt, q->record) == 0 || dkim_record_same_key(txt, q->record)))
			ours = true;
		else if (other[0] == '\0')
			memcpy(other, txt, strlen(txt) + 1);
	}

	if (rcode != LDNS_RCODE_NOERROR && rcode != LDNS_RCODE_NXDOMAIN) {
		answer_set(a, false, "%s", dnsu_rcode_name(rcode, rb, sizeof(rb)));
	} else if (!aa) {
		answer_set(a, false, "no AA bit: not authoritative for this zone");
	} else if (q->want == DNSU_WANT_GONE) {
		if (rcode == LDNS_RCODE_NXDOMAIN)
			answer_set(a, true, "NXDOMAIN (gone)");
		else if (n_txt == 0)
			answer_set(a, true, "NODATA (gone)");
		else
			answer_set(a, false, "still serves %s", ours ? "the key" : "a TXT record");
	} else if (rcode == LDNS_RCODE_NXDOMAIN) {
		answer_set(a, false, "NXDOMAIN (not there yet)");
	} else if (ours) {
		answer_set(a, true, "serves the key");
	} else if (n_txt == 0) {
		answer_set(a, false, "NODATA (no TXT record yet)");
	} else {
		answer_set(a, false, "serves a different record: \"%.120s\"",
			   other[0] ? other : "(malformed)");
	}
}

/* ---------------------------------------------------------------- jobs */

static struct dnsu_answer *job_answer(struct checker *c, size_t j)
{
	return &c->q[j / c->n_ns].answers[j % c->n_ns];
}

/* Take a job out of its server's slot table (and id map). */
static void job_release(struct checker *c, size_t j)
{
	struct job *jb = &c->jobs[j];
	struct srv *s = &c->srv[j % c->n_ns];

	if (jb->slot < 0)
		return;
	if (jb->fd >= 0) {
		close(jb->fd);
		jb->fd = -1;
		c->tcp_open--;
	} else if (s->idmap[jb->id] == j + 1) {
		s->idmap[jb->id] = 0;
	}
	free(jb->buf);
	jb->buf = NULL;
	s->slots[jb->slot] = 0;
	s->inflight--;
	jb->slot = -1;
}

static void job_finish(struct checker *c, size_t j)
{
	c->jobs[j].done = true;
	c->srv[j % c->n_ns].left--;
}

static void retry_push(struct srv *s, size_t cap, size_t j)
{
	s->retry[(s->r_head + s->r_count) % cap] = (uint32_t)j;
	s->r_count++;
}

/* A try failed without an answer: again, or give up with `why`. */
static void job_failed(struct checker *c, size_t j, const char *why)
{
	struct job *jb = &c->jobs[j];

	job_release(c, j);
	if (jb->attempts < c->max_attempts) {
		retry_push(&c->srv[j % c->n_ns], c->n_q, j);
		return;
	}
	answer_set(job_answer(c, j), false, "%s (%d tries of %d ms)", why, jb->attempts,
		   c->timeout_ms);
	job_finish(c, j);
}

static void job_answered(struct checker *c, size_t j, const ldns_pkt *p)
{
	size_t qi = j / c->n_ns;

	job_release(c, j);
	evaluate(&c->q[qi], c->qnames[qi], p, job_answer(c, j));
	job_finish(c, j);
}

static bool slot_take(struct srv *s, size_t j, struct job *jb)
{
	for (size_t i = 0; i < CHECK_WINDOW; i++) {
		if (s->slots[i] == 0) {
			s->slots[i] = (uint32_t)(j + 1);
			jb->slot = (int)i;
			s->inflight++;
			return true;
		}
	}
	return false;
}

/* The query for job j with a fresh id, on the wire. */
static int job_wire(struct checker *c, size_t j, uint16_t id, uint8_t **wire, size_t *len)
{
	ldns_pkt *pkt = NULL;
	char *name = ldns_rdf2str(c->qnames[j / c->n_ns]);
	int rc = DKR_ENOMEM;

	if (name != NULL && dnsu_query_build(name, LDNS_RR_TYPE_TXT, &pkt, NULL) == DKR_OK) {
		ldns_pkt_set_id(pkt, id);
		if (ldns_pkt2wire(wire, pkt, len) == LDNS_STATUS_OK)
			rc = DKR_OK;
	}
	ldns_pkt_free(pkt);
	free(name);
	return rc;
}

static uint16_t id_pick(const struct srv *s)
{
	uint16_t id;

	do
		id = (uint16_t)arc4random_uniform(CHECK_ID_SPACE);
	while (s->idmap[id] != 0);
	return id;
}

/* Send job j over UDP.  False when the socket is full (try later). */
static bool udp_send(struct checker *c, size_t j, int64_t now)
{
	struct job *jb = &c->jobs[j];
	struct srv *s = &c->srv[j % c->n_ns];
	uint8_t *wire = NULL;
	size_t len = 0;
	ssize_t r;

	jb->id = id_pick(s);
	if (job_wire(c, j, jb->id, &wire, &len) != DKR_OK) {
		answer_set(job_answer(c, j), false, "cannot build the query");
		job_finish(c, j);
		return true;
	}
	r = send(s->fd, wire, len, 0);
	free(wire);
	if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS))
		return false;

	jb->attempts++;
	slot_take(s, j, jb);
	s->idmap[jb->id] = (uint32_t)(j + 1);
	jb->deadline = now + c->timeout_ms;
	if (r < 0) {
		jb->refused = errno == ECONNREFUSED;
		job_failed(c, j, jb->refused ? "connection refused" : strerror(errno));
	}
	return true;
}

/* Open a TCP connection for job j; the poll loop drives it. */
static void tcp_start(struct checker *c, size_t j, int64_t now)
{
	struct job *jb = &c->jobs[j];
	struct srv *s = &c->srv[j % c->n_ns];
	uint8_t *wire = NULL;
	size_t len = 0;

	jb->attempts++;
	slot_take(s, j, jb);
	jb->deadline = now + c->timeout_ms;
	jb->id = (uint16_t)arc4random_uniform(CHECK_ID_SPACE);
	jb->fd = socket(s->ns->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (jb->fd < 0) {
		job_failed(c, j, "cannot open a TCP socket");
		return;
	}
	c->tcp_open++;
	if (job_wire(c, j, jb->id, &wire, &len) != DKR_OK || len > 65535 ||
	    (jb->buf = malloc(len + 2)) == NULL) {
		free(wire);
		job_failed(c, j, "cannot build the query");
		return;
	}
	jb->buf[0] = (uint8_t)(len >> 8);
	jb->buf[1] = (uint8_t)len;
	memcpy(jb->buf + 2, wire, len);
	free(wire);
	jb->len = len + 2;
	jb->off = 0;
	jb->phase = TCP_CONNECT;
	if (connect(jb->fd, (const struct sockaddr *)&s->ns->addr, s->ns->addrlen) == 0)
		jb->phase = TCP_SEND;
	else if (errno != EINPROGRESS)
		job_failed(c, j, errno == ECONNREFUSED ? "TCP connection refused" :
				 "TCP connect failed");
}

/* Fill each server's window from its retry ring and its unsent queries. */
static void issue(struct checker *c, int64_t now)
{
	for (size_t si = 0; si < c->n_ns; si++) {
		struct srv *s = &c->srv[si];

		while (s->inflight < CHECK_WINDOW) {
			size_t j;

			if (s->r_count > 0) {
				j = s->retry[s->r_head];
				if (c->jobs[j].want_tcp && c->tcp_open >= CHECK_TCP_MAX)
					break;
				s->r_head = (s->r_head + 1) % c->n_q;
				s->r_count--;
			} else if (s->next_q < c->n_q) {
				j = s->next_q++ * c->n_ns + si;
			} else {
				break;
			}
			if (c->jobs[j].want_tcp) {
				tcp_start(c, j, now);
			} else if (!udp_send(c, j, now)) {
				retry_push(s, c->n_q, j);
				break;
			}
		}
	}
}

/* ----------------------------------------------------------- receiving */

static bool reply_for(const struct checker *c, size_t j, const ldns_pkt *p)
{
	const ldns_rr_list *qs = ldns_pkt_question(p);
	const ldns_rr *qr;

	if (!ldns_pkt_qr(p) || ldns_pkt_id(p) != c->jobs[j].id || qs == NULL ||
	    ldns_rr_list_rr_count(qs) != 1)
		return false;
	qr = ldns_rr_list_rr(qs, 0);
	return ldns_rr_get_type(qr) == LDNS_RR_TYPE_TXT &&
	       ldns_dname_compare(ldns_rr_owner(qr), c->qnames[j / c->n_ns]) == 0;
}

/* A reply (UDP or TCP) for job j has arrived. */
static void job_reply(struct checker *c, size_t j, const ldns_pkt *p, bool udp)
{
	struct job *jb = &c->jobs[j];

	if (udp && ldns_pkt_tc(p)) {
		job_release(c, j);
		jb->want_tcp = true;
		jb->attempts--;	/* that try was answered; TCP is its second half */
		retry_push(&c->srv[j % c->n_ns], c->n_q, j);
		return;
	}
	job_answered(c, j, p);
}

/*
 * ICMP port unreachable: nothing listens on that address and port.  Every
 * UDP try in flight there is lost; count it as failed at once rather than
 * wait for its timeout.
 */
static void refuse_all(struct checker *c, size_t si)
{
	struct srv *s = &c->srv[si];

	s->refused = true;
	for (size_t i = 0; i < CHECK_WINDOW && s->inflight > 0; i++) {
		uint32_t j = s->slots[i];

		if (j != 0 && c->jobs[j - 1].fd < 0)
			job_failed(c, j - 1, "connection refused");
	}
}

static void udp_drain(struct checker *c, size_t si)
{
	struct srv *s = &c->srv[si];
	uint8_t buf[65535];
	ssize_t r;

	for (;;) {
		ldns_pkt *p = NULL;
		size_t j;

		r = recv(s->fd, buf, sizeof(buf), 0);
		if (r < 0) {
			if (errno == ECONNREFUSED) {
				refuse_all(c, si);
				continue;
			}
			return;	/* EAGAIN or a transient error: the poll loop goes on */
		}
		if (r < 12 || ldns_wire2pkt(&p, buf, (size_t)r) != LDNS_STATUS_OK)
			continue;
		j = s->idmap[ldns_pkt_id(p)];
		if (j != 0 && c->jobs[j - 1].slot >= 0 && !c->jobs[j - 1].done &&
		    reply_for(c, j - 1, p))
			job_reply(c, j - 1, p, true);
		ldns_pkt_free(p);
	}
}

/* Drive one TCP job after poll() said its socket is ready. */
static void tcp_step(struct checker *c, size_t j)
{
	struct job *jb = &c->jobs[j];
	ldns_pkt *p = NULL;
	ssize_t r;
	int err = 0;
	socklen_t elen = sizeof(err);

	if (jb->phase == TCP_CONNECT) {
		if (getsockopt(jb->fd, SOL_SOCKET, SO_ERROR, &err, &elen) < 0 || err != 0) {
			job_failed(c, j, err == ECONNREFUSED ? "TCP connection refused" :
					 "TCP connect failed");
			return;
		}
		jb->phase = TCP_SEND;
	}
	if (jb->phase == TCP_SEND) {
		r = send(jb->fd, jb->buf + jb->off, jb->len - jb->off, MSG_NOSIGNAL);
		if (r < 0 && errno != EAGAIN && errno != EINTR) {
			job_failed(c, j, "TCP send failed");
			return;
		}
		jb->off += r > 0 ? (size_t)r : 0;
		if (jb->off < jb->len)
			return;
		jb->phase = TCP_LEN;
		jb->len = 2;
		jb->off = 0;
		return;
	}

	r = recv(jb->fd, jb->buf + jb->off, jb->len - jb->off, 0);
	if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR)) {
		job_failed(c, j, "TCP connection closed before the answer");
		return;
	}
	jb->off += r > 0 ? (size_t)r : 0;
	if (jb->off < jb->len)
		return;
	if (jb->phase == TCP_LEN) {
		size_t n = ((size_t)jb->buf[0] << 8) | jb->buf[1];
		uint8_t *grown = realloc(jb->buf, n ? n : 1);

		if (grown == NULL || n < 12) {
			job_failed(c, j, "bad TCP answer");
			return;
		}
		jb->buf = grown;
		jb->phase = TCP_BODY;
		jb->len = n;
		jb->off = 0;
		return;
	}
	if (ldns_wire2pkt(&p, jb->buf, jb->len) == LDNS_STATUS_OK && reply_for(c, j, p))
		job_reply(c, j, p, false);
	else
		job_failed(c, j, "malformed TCP answer");
	ldns_pkt_free(p);
}

/* ---------------------------------------------------------------- loop */

/* Expire late tries; return the ms until the next deadline (-1: none). */
static int expire(struct checker *c, int64_t now)
{
	int64_t next = -1;

	for (size_t si = 0; si < c->n_ns; si++) {
		struct srv *s = &c->srv[si];

		for (size_t i = 0; i < CHECK_WINDOW && s->inflight > 0; i++) {
			size_t j;

			if (s->slots[i] == 0)
				continue;
			j = s->slots[i] - 1;
			if (c->jobs[j].deadline <= now) {
				job_failed(c, j, c->jobs[j].fd >= 0 ? "timeout over TCP" :
						 s->refused ? "connection refused" : "timeout");
				continue;
			}
			if (next < 0 || c->jobs[j].deadline - now < next)
				next = c->jobs[j].deadline - now;
		}
	}
	return (int)next;
}

static bool all_done(const struct checker *c)
{
	for (size_t si = 0; si < c->n_ns; si++)
		if (c->srv[si].left > 0)
			return false;
	return true;
}

static int run(struct checker *c, struct dkr_error *e)
{
	size_t cap = c->n_ns + CHECK_TCP_MAX;
	struct pollfd *pfd = calloc(cap, sizeof(*pfd));
	size_t *owner = calloc(cap, sizeof(*owner));	/* TCP job of each pollfd */
	int rc = DKR_OK;

	if (pfd == NULL || owner == NULL) {
		rc = dkr_fail(e, DKR_ENOMEM, "out of memory");
		goto out;
	}
	while (!all_done(c)) {
		int64_t now = dnsu_mono_ms();
		int wait, n;
		size_t np = c->n_ns;

		issue(c, now);
		wait = expire(c, now);
		if (all_done(c))
			break;

		for (size_t si = 0; si < c->n_ns; si++)
			pfd[si] = (struct pollfd){ .fd = c->srv[si].fd, .events = POLLIN };
		for (size_t si = 0; si < c->n_ns; si++) {
			for (size_t i = 0; i < CHECK_WINDOW && np < cap; i++) {
				uint32_t j = c->srv[si].slots[i];
				const struct job *jb;

				if (j == 0 || c->jobs[j - 1].fd < 0)
					continue;
				jb = &c->jobs[j - 1];
				owner[np] = j - 1;
				pfd[np++] = (struct pollfd){ .fd = jb->fd,
					.events = jb->phase <= TCP_SEND ? POLLOUT : POLLIN };
			}
		}
		n = poll(pfd, np, wait < 0 ? 50 : wait + 1);
		if (n < 0 && errno != EINTR) {
			rc = dkr_fail(e, DKR_ETEMP, "poll failed: %s", strerror(errno));
			goto out;
		}
		for (size_t i = 0; n > 0 && i < np; i++) {
			if (pfd[i].revents == 0)
				continue;
			if (i < c->n_ns)
				udp_drain(c, i);
			else if (c->jobs[owner[i]].fd == pfd[i].fd && !c->jobs[owner[i]].done)
				tcp_step(c, owner[i]);
		}
	}
out:
	free(pfd);
	free(owner);
	return rc;
}

/* ---------------------------------------------------------- set up */

static int checker_open(struct checker *c, struct dkr_error *e)
{
	int big = 1 << 20;

	c->qnames = calloc(c->n_q, sizeof(*c->qnames));
	c->jobs = calloc(c->n_q * c->n_ns, sizeof(*c->jobs));
	c->srv = calloc(c->n_ns, sizeof(*c->srv));
	if (c->qnames == NULL || c->jobs == NULL || c->srv == NULL)
		return dkr_fail(e, DKR_ENOMEM, "out of memory for %zu queries", c->n_q);
	for (size_t si = 0; si < c->n_ns; si++)
		c->srv[si].fd = -1;

	for (size_t i = 0; i < c->n_q; i++) {
		if (c->q[i].name == NULL ||
		    ldns_str2rdf_dname(&c->qnames[i], c->q[i].name) != LDNS_STATUS_OK)
			return dkr_fail(e, DKR_EINVAL, "\"%s\" is not a valid DNS name",
					c->q[i].name ? c->q[i].name : "");
		if (c->q[i].want == DNSU_WANT_RECORD && c->q[i].record == NULL)
			return dkr_fail(e, DKR_EINVAL, "checking %s: no record to look for",
					c->q[i].name);
		c->q[i].answers = calloc(c->n_ns, sizeof(struct dnsu_answer));
		if (c->q[i].answers == NULL)
			return dkr_fail(e, DKR_ENOMEM, "out of memory");
	}
	for (size_t j = 0; j < c->n_q * c->n_ns; j++) {
		c->jobs[j].slot = -1;
		c->jobs[j].fd = -1;
	}

	/* One connected socket per address: the kernel drops strangers. */
	for (size_t si = 0; si < c->n_ns; si++) {
		struct srv *s = &c->srv[si];

		s->ns = &c->ns[si];
		s->left = c->n_q;
		s->idmap = calloc(CHECK_ID_SPACE, sizeof(*s->idmap));
		s->slots = calloc(CHECK_WINDOW, sizeof(*s->slots));
		s->retry = calloc(c->n_q, sizeof(*s->retry));
		if (s->idmap == NULL || s->slots == NULL || s->retry == NULL)
			return dkr_fail(e, DKR_ENOMEM, "out of memory");
		s->fd = socket(s->ns->addr.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
			       0);
		if (s->fd < 0)
			return dkr_fail(e, DKR_ETEMP, "cannot open a UDP socket for %s: %s",
					s->ns->label, strerror(errno));
		setsockopt(s->fd, SOL_SOCKET, SO_RCVBUF, &big, sizeof(big));
		if (connect(s->fd, (const struct sockaddr *)&s->ns->addr, s->ns->addrlen) < 0)
			return dkr_fail(e, DKR_ETEMP, "cannot reach %s: %s", s->ns->label,
					strerror(errno));
	}
	return DKR_OK;
}

static void checker_close(struct checker *c)
{
	for (size_t j = 0; c->jobs != NULL && j < c->n_q * c->n_ns; j++)
		job_release(c, j);
	for (size_t si = 0; c->srv != NULL && si < c->n_ns; si++) {
		if (c->srv[si].fd >= 0)
			close(c->srv[si].fd);
		free(c->srv[si].idmap);
		free(c->srv[si].slots);
		free(c->srv[si].retry);
	}
	for (size_t i = 0; c->qnames != NULL && i < c->n_q; i++)
		ldns_rdf_deep_free(c->qnames[i]);
	free(c->qnames);
	free(c->jobs);
	free(c->srv);
}

int dnsu_check(const struct dnsu_ns *ns, size_t n_ns, struct dnsu_query *q, size_t n_q,
	       int timeout_ms, int retries, struct dkr_error *e)
{
	struct checker c = {
		.ns = ns, .n_ns = n_ns, .q = q, .n_q = n_q,
		.timeout_ms = timeout_ms > 0 ? timeout_ms : 2000,
		.max_attempts = 1 + (retries > 0 ? retries : 0),
	};
	int rc;

	for (size_t i = 0; i < n_q; i++) {
		q[i].answers = NULL;
		q[i].all_ok = false;
	}
	if (n_q == 0)
		return DKR_OK;
	if (n_ns == 0 || n_q > UINT32_MAX / (n_ns + 1) / 2)
		return dkr_fail(e, DKR_EINVAL, "no nameserver to ask, or too many queries");

	rc = checker_open(&c, e);
	if (rc == DKR_OK)
		rc = run(&c, e);
	checker_close(&c);

	for (size_t i = 0; i < n_q && rc == DKR_OK; i++) {
		q[i].all_ok = true;
		for (size_t si = 0; si < n_ns; si++)
			q[i].all_ok = q[i].all_ok && q[i].answers[si].ok;
	}
	if (rc != DKR_OK)
		dnsu_query_free(q, n_q);
	return rc;
}

void dnsu_query_free(struct dnsu_query *q, size_t n_q)
{
	for (size_t i = 0; q != NULL && i < n_q; i++) {
		free(q[i].answers);
		q[i].answers = NULL;
		q[i].all_ok = false;
	}
}
