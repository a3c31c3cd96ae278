#!/usr/bin/python3
"""mock_cloudflare.py - a local stand-in for the part of the Cloudflare API v4
that dkimrot uses, for the tests: zones found by name, TXT records listed
(with paging), created, updated and deleted by id, a bearer token checked.

Faults are switched on per test through a control endpoint (no token):

  POST /__control  {"faults": [...], "presplit": bool, "per_page": n,
                    "records": [{"name", "content", "ttl"}]}
  GET  /__state    {"records": [...], "requests": ["GET /zones?...", ...]}

A fault applies to the next request(s) whose "METHOD path" contains its
"match" (default: any):
  {"status": 429, "retry_after": 1, "times": 2, "match": "GET /zones",
   "body": "error" | "malformed" | "oversized" | "echo_auth" | "<raw>",
   "after": true,          # do the request, then answer with the fault
   "location": "http://..."}

The server listens on 127.0.0.1 on a free port, writes the port to
--port-file, and exits when the process that started it goes away or after
--max-life seconds, whichever comes first.
"""

import argparse
import hashlib
import json
import os
import threading
import time
import urllib.parse
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PREFIX = "/client/v4"


class State:
    def __init__(self, token, zones, per_page):
        self.lock = threading.Lock()
        self.token = token
        self.zones = {z: hashlib.md5(z.encode()).hexdigest() for z in zones}
        self.records = {}  # id -> record dict with the joined content
        self.order = []
        self.faults = []
        self.presplit = False
        self.per_page_max = per_page
        self.requests = []


def join_txt(content):
    """Quoted presentation format to joined content, as Cloudflare stores it."""
    s = content.strip()
    if not s.startswith('"'):
        return s
    out, i = [], 0
    while i < len(s):
        if s[i] in " \t":
            i += 1
            continue
        if s[i] != '"':
            raise ValueError("text outside quotes")
        i += 1
        while s[i] != '"':
            if s[i] == "\\":
                i += 1
            out.append(s[i])
            i += 1
        i += 1
    return "".join(out)


def split_txt(joined):
    """Joined content to quoted 255-byte strings, as Cloudflare may return it."""
    parts = [joined[i:i + 255] for i in range(0, len(joined), 255)] or [""]
    esc = [p.replace("\\", "\\\\").replace('"', '\\"') for p in parts]
    return " ".join('"%s"' % p for p in esc)


def cf_error(code, message):
    return {"success": False, "errors": [{"code": code, "message": message}],
            "messages": [], "result": None}


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        # A client that hangs up on an oversized body is what the test wants.
        pass


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "mock-cloudflare"

    def log_message(self, fmt, *args):
        pass

    # ---------------------------------------------------------- replies

    def reply(self, status, obj=None, raw=None, headers=()):
        body = raw if raw is not None else json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def read_body(self):
        n = int(self.headers.get("Content-Length") or 0)
        data = self.rfile.read(n) if n > 0 else b""
        return json.loads(data) if data else None

    def fault_reply(self, f):
        kind = f.get("body", "error")
        headers = []
        if f.get("retry_after") is not None:
            headers.append(("Retry-After", str(f["retry_after"])))
        if f.get("location"):
            headers.append(("Location", f["location"]))
        if kind == "error":
            raw = json.dumps(cf_error(f.get("code", 1000),
                                      f.get("message", "Internal error"))).encode()
        elif kind == "malformed":
            raw = b'{"success": true, "result": [ {"id": '
        elif kind == "oversized":
            raw = b'{"success": true, "result": [], "pad": "' + b"x" * (5 << 20) + b'"}'
        elif kind == "echo_auth":
            raw = json.dumps(cf_error(9109, "Invalid access token: " +
                                      self.headers.get("Authorization", ""))).encode()
        else:
            raw = kind.encode()
        self.reply(f["status"], raw=raw, headers=headers)

    def take_fault(self, line):
        st = self.server.state
        with st.lock:
            for f in st.faults:
                if f.get("times", 1) > 0 and f.get("match", "") in line:
                    f["times"] = f.get("times", 1) - 1
                    return dict(f)
        return None

    # ---------------------------------------------------------- dispatch

    def handle_any(self, method):
        st = self.server.state
        url = urllib.parse.urlsplit(self.path)
        path = url.path
        if path.startswith(PREFIX):
            path = path[len(PREFIX):]
        query = urllib.parse.parse_qs(url.query)

        if path == "/__control" and method == "POST":
            return self.control(self.read_body() or {})
        if path == "/__state" and method == "GET":
            with st.lock:
                recs = [self.render(st.records[i]) for i in st.order]
                return self.reply(200, {"records": recs, "requests": list(st.requests)})

        line = "%s %s" % (method, self.path[len(PREFIX):] if self.path.startswith(PREFIX)
                          else self.path)
        with st.lock:
            st.requests.append(line)
        body = self.read_body() if method in ("POST", "PUT", "PATCH") else None

        fault = self.take_fault(line)
        if fault is not None and not fault.get("after"):
            return self.fault_reply(fault)

        auth = self.headers.get("Authorization")
        if auth is None:
            return self.reply(401, cf_error(10000, "Authentication error"))
        if auth != "Bearer " + st.token:
            return self.reply(403, cf_error(10000, "Authentication error"))

        status, obj = self.route(method, path, query, body)
        if fault is not None:
            return self.fault_reply(fault)
        return self.reply(status, obj)

    def control(self, c):
        st = self.server.state
        with st.lock:
            if "faults" in c:
                st.faults = c["faults"]
            if "presplit" in c:
                st.presplit = bool(c["presplit"])
            if "per_page" in c:
                st.per_page_max = int(c["per_page"])
            for r in c.get("records", []):
                self.store(r["name"], join_txt(r["content"]), r.get("ttl", 1))
        return self.reply(200, {"ok": True})

    def render(self, r):
        out = dict(r)
        out["content"] = split_txt(r["content"]) if self.server.state.presplit else r["content"]
        return out

    def store(self, name, joined, ttl, rid=None):
        st = self.server.state
        zone = next((z for z in st.zones if name == z or name.endswith("." + z)), None)
        rid = rid or uuid.uuid4().hex
        if rid not in st.records:
            st.order.append(rid)
        st.records[rid] = {"id": rid, "zone_id": st.zones.get(zone), "zone_name": zone,
                           "type": "TXT", "name": name, "content": joined, "ttl": ttl,
                           "proxied": False}
        return st.records[rid]

    def route(self, method, path, query, body):
        st = self.server.state
        parts = [p for p in path.split("/") if p]
        with st.lock:
            if parts == ["zones"] and method == "GET":
                name = query.get("name", [""])[0]
                res = [{"id": st.zones[name], "name": name, "status": "active"}] \
                    if name in st.zones else []
                return 200, {"success": True, "errors": [], "messages": [], "result": res,
                             "result_info": {"page": 1, "per_page": 20, "count": len(res),
                                             "total_count": len(res), "total_pages": 1}}
            if len(parts) < 3 or parts[0] != "zones" or parts[2] != "dns_records" \
                    or parts[1] not in st.zones.values():
                return 404, cf_error(7003, "Could not route to %s" % path)
            zid = parts[1]
            if len(parts) == 3 and method == "GET":
                return 200, self.list_records(zid, query)
            if len(parts) == 3 and method == "POST":
                return self.create(zid, body)
            if len(parts) == 4 and parts[3] in st.records and \
                    st.records[parts[3]]["zone_id"] == zid:
                rid = parts[3]
                if method == "DELETE":
                    del st.records[rid]
                    st.order.remove(rid)
                    return 200, {"success": True, "errors": [], "messages": [],
                                 "result": {"id": rid}}
                if method == "PUT":
                    return self.create(zid, body, rid)
            if len(parts) == 4:
                return 404, cf_error(81044, "Record does not exist.")
            return 405, cf_error(10405, "Method not allowed")

    def list_records(self, zid, query):
        st = self.server.state
        want_type = query.get("type", [None])[0]
        want_name = query.get("name", [None])[0]
        per_page = min(int(query.get("per_page", ["100"])[0]), st.per_page_max)
        page = int(query.get("page", ["1"])[0])
        found = [st.records[i] for i in st.order
                 if st.records[i]["zone_id"] == zid
                 and (want_type is None or st.records[i]["type"] == want_type)
                 and (want_name is None or st.records[i]["name"] == want_name)]
        pages = max(1, (len(found) + per_page - 1) // per_page)
        chunk = found[(page - 1) * per_page:page * per_page]
        return {"success": True, "errors": [], "messages": [],
                "result": [self.render(r) for r in chunk],
                "result_info": {"page": page, "per_page": per_page, "count": len(chunk),
                                "total_count": len(found), "total_pages": pages}}

    def create(self, zid, body, rid=None):
        st = self.server.state
        if not isinstance(body, dict) or body.get("type") != "TXT":
            return 400, cf_error(9000, "DNS record type is invalid")
        name, ttl = body.get("name", ""), body.get("ttl", 1)
        zone = next((z for z, i in st.zones.items() if i == zid), "")
        if not (name == zone or name.endswith("." + zone)):
            return 400, cf_error(9007, "Content for the record is invalid")
        if not (ttl == 1 or 60 <= ttl <= 86400):
            return 400, cf_error(9021, "Invalid TTL. Must be between 60 and 86400 "
                                 "seconds, or 1 for Automatic")
        try:
            joined = join_txt(body.get("content", ""))
        except (ValueError, IndexError):
            return 400, cf_error(9007, "Content for TXT record is invalid")
        for other in st.records.values():
            if other["id"] != rid and other["name"] == name and other["content"] == joined:
                return 400, cf_error(81058, "An identical record already exists.")
        rec = self.store(name, joined, ttl, rid)
        return 200, {"success": True, "errors": [], "messages": [], "result": self.render(rec)}

    def do_GET(self):
        self.handle_any("GET")

    def do_POST(self):
        self.handle_any("POST")

    def do_PUT(self):
        self.handle_any("PUT")

    def do_PATCH(self):
        self.handle_any("PATCH")

    def do_DELETE(self):
        self.handle_any("DELETE")


def watch_parent(parent, max_life):
    start = time.monotonic()
    while True:
        if os.getppid() != parent or time.monotonic() - start > max_life:
            os._exit(0)
        time.sleep(0.2)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--token", required=True)
    ap.add_argument("--zone", action="append", default=[])
    ap.add_argument("--per-page", type=int, default=100)
    ap.add_argument("--max-life", type=float, default=120)
    args = ap.parse_args()

    threading.Thread(target=watch_parent, args=(os.getppid(), args.max_life),
                     daemon=True).start()
    srv = Server(("127.0.0.1", 0), Handler)
    srv.state = State(args.token, args.zone, args.per_page)
    tmp = args.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write("%d\n" % srv.server_address[1])
    os.rename(tmp, args.port_file)
    srv.serve_forever()


if __name__ == "__main__":
    main()
