"""The real API server seen through a recording tap: what a test needs to watch a release.

The CLI and kubectl under test talk to the tap (HTTPS on 127.0.0.1, with the API server's
own certificate: Kubernetes clients send no token over plain HTTP), which forwards every
request, unchanged, to the plane's kube-apiserver and relays the answer (watches
streamed). Authentication and authorization are the API server's: the tap passes the
client's token through. What the tap adds is what an assertion needs and a cluster does not
keep: every accepted write in order (``writes``, with which Deployments had available
replicas just before it), every request (``requests``), a real concurrent change to an object
just before the next PUTs of it, so the API server itself answers 409 (``conflict``), and a
SIGKILL of a process right after a chosen write is accepted (``kill_after``).

``TappedKube`` has the methods tests used on the fake (``get``, ``all``, ``put``,
``kubeconfig``...), so the release tests read the same whichever server is behind them.

Namespace aliases (``aliases={"shop": "shop-1a2b3c4d"}``) give each test a fresh namespace
while the clients, the example runbooks and the assertions keep saying ``shop``: the tap
rewrites the alias to the real name in request paths and in the ``namespace`` fields of
request bodies, and the real name back to the alias in answers (asking for JSON, not
protobuf, so it can). Deleting and re-creating one ``shop`` per test would cost seconds of
namespace finalization each time.
"""

from __future__ import annotations

import contextlib
import copy
import http.client
import json
import os
import re
import signal
import ssl
import threading
import time
import urllib.parse
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import yaml

from tests.support import kubeplane
from tests.support.kubeapi import RESOURCES, Write
from tests.support.kubeplane import Plane, Rest

_PATH = re.compile(
    r"^/(?:api/(?P<core>v1)|apis/(?P<group>[^/]+)/(?P<version>[^/]+))"
    r"/namespaces/(?P<ns>[^/]+)/(?P<plural>[^/]+)(?:/(?P<name>[^/]+))?(?:/(?P<sub>[^/]+))?$"
)
_WRITES = {"POST", "PUT", "PATCH", "DELETE"}
_HOP = {
    "host",
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "accept-encoding",
    "content-length",
}
_KIND_PLURALS = {kind: plural for plural, (_, kind, _s) in RESOURCES.items()}
_SERVER_FIELDS = ("resourceVersion", "uid", "creationTimestamp", "generation", "managedFields")


def api_path(plural: str, ns: str, name: str | None = None) -> str:
    group_version = RESOURCES[plural][0]
    prefix = "/api/v1" if group_version == "v1" else f"/apis/{group_version}"
    path = f"{prefix}/namespaces/{ns}/{plural}"
    return f"{path}/{name}" if name else path


@dataclass
class TappedKube:
    """The plane behind a tap; the same test helpers as ``kubeapi.FakeKube``."""

    plane: Plane
    aliases: dict[str, str] = field(default_factory=dict)
    writes: list[Write] = field(default_factory=list)
    requests: list[tuple[str, str, str]] = field(default_factory=list)
    conflicts: dict[tuple[str, str, str], int] = field(default_factory=dict)
    kill_rules: list[tuple[Callable[[Write], bool], Callable[[], int | None]]] = field(
        default_factory=list
    )
    url: str = ""
    lock: threading.RLock = field(default_factory=threading.RLock)

    def __post_init__(self) -> None:
        self.admin = Rest(self.plane.server, self.plane.ca, self.plane.token)

    def ns(self, name: str) -> str:
        return self.aliases.get(name, name)

    @property
    def objects(self) -> _Objects:
        """``objects.get((plural, namespace, name))``, as tests read the fake's store."""
        return _Objects(self)

    def real_path(self, path: str) -> str:
        for alias, real in self.aliases.items():
            path = re.sub(rf"(/namespaces/){re.escape(alias)}(?=/|\?|$)", rf"\g<1>{real}", path)
        return path

    def real_body(self, body: bytes) -> bytes:
        data = _json(body)
        if data is None or not self.aliases:
            return body

        def walk(node: Any) -> Any:
            if isinstance(node, dict):
                return {
                    k: self.ns(v) if k == "namespace" and isinstance(v, str) else walk(v)
                    for k, v in node.items()
                }
            if isinstance(node, list):
                return [walk(v) for v in node]
            return node

        return json.dumps(walk(data)).encode()

    def seen(self, data: bytes) -> bytes:
        """An answer as the client should see it: each real namespace named by its alias
        (the real names are random, so they occur nowhere else)."""
        for alias, real in self.aliases.items():
            data = data.replace(real.encode(), alias.encode())
        return data

    # -- the fake's test helpers, on the real server ---------------------------------------------

    def put(self, obj: dict[str, Any]) -> dict[str, Any]:
        """Create ``obj`` as someone else would (an admin write, not a recorded one)."""
        body = copy.deepcopy(obj)
        meta = body["metadata"]
        meta["namespace"] = self.ns(meta.get("namespace", "default"))
        for key in _SERVER_FIELDS:
            meta.pop(key, None)
        body.pop("status", None)
        plural = _KIND_PLURALS[body["kind"]]
        created: dict[str, Any] = self.admin.call("POST", api_path(plural, meta["namespace"]), body)
        return created

    def get(self, plural: str, ns: str, name: str) -> dict[str, Any] | None:
        found: dict[str, Any] | None = self.admin.get(api_path(plural, self.ns(ns), name))
        return found

    def all(self, plural: str, ns: str) -> list[dict[str, Any]]:
        listed = self.admin.call("GET", api_path(plural, self.ns(ns)))
        items: list[dict[str, Any]] = listed["items"]
        return sorted(items, key=lambda i: str(i["metadata"]["name"]))

    def conflict(self, plural: str, ns: str, name: str, times: int = 1) -> None:
        """The next ``times`` PUTs of this object meet a real change made just before them."""
        self.conflicts[(plural, self.ns(ns), name)] = times

    def kill_after(self, when: Callable[[Write], bool], pid: Callable[[], int | None]) -> None:
        """SIGKILL ``pid()`` right after the first accepted write ``when`` matches."""
        self.kill_rules.append((when, pid))

    def available(self, ns: str) -> dict[str, dict[str, str]]:
        """Deployments with available replicas now -> their pod template labels."""
        listed = self.admin.call("GET", api_path("deployments", self.ns(ns)))
        return {
            d["metadata"]["name"]: dict(d["spec"]["template"]["metadata"].get("labels") or {})
            for d in listed["items"]
            if (d.get("status") or {}).get("availableReplicas")
        }

    def kubeconfig(
        self, path: Path, namespace: str, context: str = "plane", token: str | None = None
    ) -> Path:
        """A kubeconfig reaching the plane through this tap, as ``token`` (default: admin)."""
        path.write_text(
            yaml.safe_dump(
                {
                    "apiVersion": "v1",
                    "kind": "Config",
                    "clusters": [
                        {
                            "name": "plane",
                            "cluster": {
                                "server": self.url,
                                "certificate-authority": str(self.plane.ca),
                            },
                        }
                    ],
                    "users": [{"name": "tester", "user": {"token": token or self.plane.token}}],
                    "contexts": [
                        {
                            "name": context,
                            "context": {
                                "cluster": "plane",
                                "user": "tester",
                                "namespace": namespace,
                            },
                        }
                    ],
                    "current-context": context,
                }
            )
        )
        return path

    # -- what the tap does around a write --------------------------------------------------------

    def before_write(self, verb: str, plural: str, ns: str, name: str | None) -> dict[str, Any]:
        key = (plural, ns, name or "")
        if verb == "PUT" and self.conflicts.get(key, 0) > 0:
            self.conflicts[key] -= 1
            note = {"metadata": {"annotations": {"runwright.test/writer": str(time.time())}}}
            self.admin.call(
                "PATCH", api_path(plural, ns, name), note, "application/merge-patch+json"
            )
        return self.available(ns)

    def after_write(self, write: Write) -> None:
        with self.lock:
            self.writes.append(write)
            rules = [r for r in self.kill_rules if r[0](write)]
            for rule in rules[:1]:
                self.kill_rules.remove(rule)
                target = rule[1]()
                if target:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(target, signal.SIGKILL)


class _Objects:
    """The fake's ``objects`` mapping, read-only, answered by the API server."""

    def __init__(self, kube: TappedKube) -> None:
        self.kube = kube

    def get(
        self, key: tuple[str, str, str], default: dict[str, Any] | None = None
    ) -> dict[str, Any] | None:
        found = self.kube.get(*key)
        return default if found is None else found

    def __getitem__(self, key: tuple[str, str, str]) -> dict[str, Any]:
        found = self.kube.get(*key)
        if found is None:
            raise KeyError(key)
        return found


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        return

    def do_GET(self) -> None:
        self._relay("GET")

    def do_POST(self) -> None:
        self._relay("POST")

    def do_PUT(self) -> None:
        self._relay("PUT")

    def do_PATCH(self) -> None:
        self._relay("PATCH")

    def do_DELETE(self) -> None:
        self._relay("DELETE")

    def _relay(self, verb: str) -> None:
        tap = self.server.tap
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        plain, _, query = self.path.partition("?")
        ctype = self.headers.get("Content-Type", "")
        tap.requests.append((verb, plain, ctype))
        m = _PATH.match(plain)
        recorded = verb in _WRITES and m is not None and m["sub"] is None
        available: dict[str, dict[str, str]] = {}
        if recorded:
            assert m is not None
            available = tap.before_write(verb, m["plural"], tap.ns(m["ns"]), m["name"])
        watching = urllib.parse.parse_qs(query).get("watch", [""])[0] in ("true", "1")
        follow = urllib.parse.parse_qs(query).get("follow", [""])[0] == "true"
        upstream = http.client.HTTPSConnection(
            self.server.host,
            self.server.port,
            context=self.server.context,
            timeout=600 if watching or follow else 60,  # a watch ends by its own timeoutSeconds
        )
        try:
            headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP}
            if "protobuf" in headers.get("Accept", ""):
                headers["Accept"] = "application/json"
            sent_body = tap.real_body(body) if body else b""
            upstream.request(
                verb, tap.real_path(self.path), body=sent_body or None, headers=headers
            )
            answer = upstream.getresponse()
            if watching or follow:
                self._stream(answer)
                return
            data = tap.seen(answer.read())
            if recorded and 200 <= answer.status < 300:
                result = _json(data) or {}
                sent = _json(body)
                tap.after_write(
                    Write(time.monotonic(), verb, self.path, ctype, sent, result, available)
                )
            self._head(answer, {"Content-Length": str(len(data))})
            self.wfile.write(data)
        except (OSError, http.client.HTTPException):  # either side hung up (a watch ended)
            self.close_connection = True
        finally:
            upstream.close()

    def _head(self, answer: http.client.HTTPResponse, extra: dict[str, str]) -> None:
        self.send_response(answer.status, answer.reason)
        for key, value in answer.getheaders():
            if key.lower() not in _HOP and key.lower() != "content-encoding":
                self.send_header(key, value)
        for key, value in extra.items():
            self.send_header(key, value)
        self.end_headers()

    def _stream(self, answer: http.client.HTTPResponse) -> None:
        """Relay a watch (one JSON event per line) or a followed log, line by line, so a
        namespace name is never split between two reads."""
        self._head(answer, {"Transfer-Encoding": "chunked"})
        while not self.server.closing:
            line = answer.readline()
            if not line:
                break
            data = self.server.tap.seen(line)
            self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
            self.wfile.flush()
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, tap: TappedKube) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.tap = tap
        self.closing = False
        upstream = urllib.parse.urlsplit(tap.plane.server)
        self.host = upstream.hostname or "127.0.0.1"
        self.port = upstream.port or 443
        self.context = ssl.create_default_context(cafile=str(tap.plane.ca))
        serving = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        directory = tap.plane.directory
        serving.load_cert_chain(directory / "apiserver.crt", directory / "apiserver.key")
        self.socket = serving.wrap_socket(
            self.socket, server_side=True, do_handshake_on_connect=False
        )


@contextlib.contextmanager
def serve(tap: TappedKube) -> Iterator[TappedKube]:
    """Run the tap on a free port of 127.0.0.1 until the block ends."""
    server = _Server(tap)
    tap.url = f"https://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    try:
        yield tap
    finally:
        server.closing = True
        server.shutdown()
        server.server_close()
        thread.join(5)


@contextlib.contextmanager
def open_namespaces(*names: str) -> Iterator[TappedKube]:
    """A tap over this process's plane in which each of ``names`` is a fresh namespace of its
    own (deleted at the end): the real-plane counterpart of
    ``kubeapi.serve(FakeKube(namespaces={...}))``, with the same helpers (``put``, ``get``,
    ``all``, ``writes``, ``kubeconfig(path, name)``, admin by default)."""
    plane = kubeplane.shared_or_skip()
    aliases = {name: f"{name}-{uuid.uuid4().hex[:8]}" for name in names}
    tap = TappedKube(plane, aliases=aliases)
    made: list[str] = []
    try:
        for real in aliases.values():
            tap.admin.call("POST", "/api/v1/namespaces", {"metadata": {"name": real}})
            made.append(real)
        with serve(tap):
            yield tap
    finally:
        for real in made:
            tap.admin.call("DELETE", f"/api/v1/namespaces/{real}")


def _json(data: bytes) -> Any:
    """A JSON body as data; None for none (or a protobuf one, which no assertion reads)."""
    try:
        return json.loads(data) if data else None
    except ValueError:
        return None
