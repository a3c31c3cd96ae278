#!/usr/bin/python3
"""Sign a message with a DKIM private key and verify the signature against
each given nameserver, the way a receiver would: an independent check
(python3-dkim) that what dkimrot published matches the key the MTA uses.

usage: dkim-verify.py KEYFILE SELECTOR DOMAIN HOST:PORT [HOST:PORT ...]
Exit 0 when the signature verifies against every nameserver, 1 otherwise.
"""
import sys

import dkim
import dns.resolver


def txt_from(server, port):
    def lookup(name, timeout=5):
        res = dns.resolver.Resolver(configure=False)
        res.nameservers = [server]
        res.port = port
        res.timeout = timeout
        res.lifetime = timeout
        try:
            ans = res.resolve(name.decode().rstrip("."), "TXT")
        except Exception:  # a missing record fails the verification below
            return b""
        return b"".join(b"".join(r.strings) for r in ans)
    return lookup


def main():
    if len(sys.argv) < 5:
        print(__doc__, file=sys.stderr)
        return 2
    keyfile, selector, domain = sys.argv[1:4]
    with open(keyfile, "rb") as f:
        key = f.read()
    msg = (b"From: demo@" + domain.encode() + b"\r\nTo: someone@example.org\r\n"
           b"Subject: dkimrot check\r\nMessage-ID: <1@" + domain.encode() + b">\r\n"
           b"\r\nSigned by the key the MTA uses now.\r\n")
    sig = dkim.sign(msg, selector.encode(), domain.encode(), key,
                    include_headers=[b"From", b"To", b"Subject"])
    signed = sig + msg
    ok = True
    for target in sys.argv[4:]:
        host, _, port = target.rpartition(":")
        host = host.strip("[]")
        good = dkim.verify(signed, dnsfunc=txt_from(host, int(port)))
        print("%s %s._domainkey.%s at %s" % ("verified" if good else "FAILED",
                                             selector, domain, target))
        ok = ok and good
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
