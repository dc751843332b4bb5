"""A fake Kubernetes API server on 127.0.0.1, speaking the real REST protocol.

The kubernetes driver's tests run against a real control plane (``kubeplane``, ``kubelab``);
this fake stays for checks that need no plane (it starts in milliseconds, without Go or the
built binaries), and ``tests/integration/test_kube_fake.py`` runs the same contract tests
against it and the real plane, so it cannot drift from what a cluster does. It serves the
paths, verbs and content types the driver and ``kubectl`` use, so both are real clients of it
and must agree:

- discovery: ``/api``, ``/apis``, ``/api/v1``, ``/apis/GROUP/VERSION`` (what kubectl reads
  before anything else);
- ``apps/v1`` Deployments (stored) and ReplicaSets (derived from them); ``v1`` Services,
  Namespaces, Pods, Events and ``pods/NAME/log`` (pods, events and logs derived from the
  Deployments); ``networking.k8s.io/v1`` Ingresses; ``gateway.networking.k8s.io/v1``
  HTTPRoutes;
- GET (one object, a list with ``labelSelector``/``fieldSelector``, or ``watch=true`` as a
  stream of JSON events, which ``kubectl rollout status`` uses), POST (409 AlreadyExists),
  PUT (409 Conflict when ``metadata.resourceVersion`` is not the stored one), PATCH with
  ``application/merge-patch+json``, ``application/strategic-merge-patch+json`` (lists of
  objects with a ``name`` merge by name, as for containers) and ``application/json-patch+json``,
  DELETE; errors are ``Status`` objects with the right code and reason.

A Deployment's status progresses on a schedule computed from the time of its last spec
change: right after a change its pods are updated but not available; after ``ready_after``
seconds they are available, unless the image's tag ends in ``-broken`` (the pods stay in
ImagePullBackOff) or ``-crash`` (CrashLoopBackOff, with log lines), in which case they never
become available and, once ``spec.progressDeadlineSeconds`` has passed, the Progressing
condition says ``ProgressDeadlineExceeded``; the pods' Warning events say why.

Every write is recorded (``writes``) with a snapshot of which Deployments had available
replicas at that instant, so a test can check what was pointed at what, and when. A test can
also make the next PUTs of an object conflict (``conflict``, as if someone else wrote it in
between) and have a process SIGKILLed right after a given write (``kill_after``).
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import json
import os
import re
import signal
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import yaml

# plural -> (group/version, kind, stored?)
RESOURCES: dict[str, tuple[str, str, bool]] = {
    "deployments": ("apps/v1", "Deployment", True),
    "replicasets": ("apps/v1", "ReplicaSet", False),
    "services": ("v1", "Service", True),
    "pods": ("v1", "Pod", False),
    "events": ("v1", "Event", False),
    "ingresses": ("networking.k8s.io/v1", "Ingress", True),
    "httproutes": ("gateway.networking.k8s.io/v1", "HTTPRoute", True),
}
_PATH = re.compile(
    r"^/(?:api/(?P<core>v1)|apis/(?P<group>[^/]+)/(?P<version>[^/]+))"
    r"/namespaces/(?P<ns>[^/]+)/(?P<plural>[^/]+)(?:/(?P<name>[^/]+))?(?:/(?P<sub>[^/]+))?$"
)


@dataclass
class Write:
    """One write the API accepted: verb, path, content type, body, and the Deployments that
    had available replicas at that instant (by name, with their pod template labels)."""

    at: float
    verb: str
    path: str
    content_type: str
    body: Any
    result: dict[str, Any]
    available: dict[str, dict[str, str]]


@dataclass
class FakeKube:
    """The server's state; ``url`` once started. Objects by (plural, namespace, name)."""

    namespaces: set[str] = field(default_factory=lambda: {"default"})
    ready_after: float = 0.3
    objects: dict[tuple[str, str, str], dict[str, Any]] = field(default_factory=dict)
    changed_at: dict[tuple[str, str], float] = field(default_factory=dict)
    writes: list[Write] = field(default_factory=list)
    requests: list[tuple[str, str, str]] = field(default_factory=list)
    conflicts: dict[tuple[str, str, str], int] = field(default_factory=dict)
    kill_rules: list[tuple[Callable[[Write], bool], Callable[[], int | None]]] = field(
        default_factory=list
    )
    url: str = ""
    lock: threading.RLock = field(default_factory=threading.RLock)
    _version: int = 100

    # -- test helpers --------------------------------------------------------------------------

    def put(self, obj: dict[str, Any]) -> dict[str, Any]:
        """Store ``obj`` as if created by someone else (a seed, not a recorded write)."""
        plural = _plural(obj["kind"])
        ns = obj["metadata"].get("namespace", "default")
        with self.lock:
            return self._create(plural, ns, copy.deepcopy(obj))

    def get(self, plural: str, ns: str, name: str) -> dict[str, Any] | None:
        with self.lock:
            obj = self.objects.get((plural, ns, name))
            return self._view(plural, ns, obj) if obj is not None else None

    def all(self, plural: str, ns: str) -> list[dict[str, Any]]:
        with self.lock:
            return [
                self._view(plural, ns, o)
                for (p, n, _), o in sorted(self.objects.items())
                if p == plural and n == ns
            ]

    def conflict(self, plural: str, ns: str, name: str, times: int = 1) -> None:
        """The next ``times`` PUTs of this object find it changed since they read it."""
        self.conflicts[(plural, ns, name)] = times

    def kill_after(self, when: Callable[[Write], bool], pid: Callable[[], int | None]) -> None:
        """SIGKILL ``pid()`` right after the first accepted write ``when`` matches."""
        self.kill_rules.append((when, pid))

    def kubeconfig(self, path: Path, namespace: str, context: str = "fake") -> Path:
        path.write_text(
            yaml.safe_dump(
                {
                    "apiVersion": "v1",
                    "kind": "Config",
                    "clusters": [{"name": "fake", "cluster": {"server": self.url}}],
                    "users": [{"name": "tester", "user": {"token": "fake-token"}}],
                    "contexts": [
                        {
                            "name": context,
                            "context": {
                                "cluster": "fake",
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

    # -- objects -------------------------------------------------------------------------------

    def _next_version(self) -> str:
        self._version += 1
        return str(self._version)

    def _create(self, plural: str, ns: str, obj: dict[str, Any]) -> dict[str, Any]:
        group_version, kind, _ = RESOURCES[plural]
        meta = obj.setdefault("metadata", {})
        meta.update(
            namespace=ns,
            uid=hashlib.sha1(f"{ns}/{meta['name']}/{time.time_ns()}".encode()).hexdigest()[:12],
            creationTimestamp=_now(),
            resourceVersion=self._next_version(),
            generation=1,
        )
        obj["apiVersion"], obj["kind"] = group_version, kind
        obj.pop("status", None)
        self.objects[(plural, ns, meta["name"])] = obj
        if plural == "deployments":
            self.changed_at[(ns, meta["name"])] = time.monotonic()
        return self._view(plural, ns, obj)

    def _store(self, plural: str, ns: str, old: dict[str, Any], new: dict[str, Any]) -> None:
        new.pop("status", None)
        meta = new.setdefault("metadata", {})
        for key in ("uid", "creationTimestamp", "namespace", "name"):
            meta[key] = old["metadata"][key]
        new["apiVersion"], new["kind"] = old["apiVersion"], old["kind"]
        generation = old["metadata"].get("generation", 1)
        if new.get("spec") != old.get("spec"):
            generation += 1
            if plural == "deployments":
                self.changed_at[(ns, meta["name"])] = time.monotonic()
        meta["generation"] = generation
        meta["resourceVersion"] = self._next_version()
        self.objects[(plural, ns, meta["name"])] = new

    def _view(self, plural: str, ns: str, obj: dict[str, Any]) -> dict[str, Any]:
        out = copy.deepcopy(obj)
        if plural == "deployments":
            out["status"] = self._deployment_status(ns, obj)
        return out

    # -- the schedule of a Deployment ----------------------------------------------------------

    def _trouble(self, obj: dict[str, Any]) -> str | None:
        for c in obj["spec"]["template"]["spec"].get("containers") or []:
            image = str(c.get("image", ""))
            if image.endswith("-broken"):
                return "ImagePullBackOff"
            if image.endswith("-crash"):
                return "CrashLoopBackOff"
        return None

    def _deployment_status(self, ns: str, obj: dict[str, Any]) -> dict[str, Any]:
        name = obj["metadata"]["name"]
        replicas = obj["spec"].get("replicas", 1)
        generation = obj["metadata"].get("generation", 1)
        age = time.monotonic() - self.changed_at.get((ns, name), 0.0)
        base: dict[str, Any] = {"observedGeneration": generation}
        if replicas == 0:
            return {**base, "replicas": 0, "conditions": []}
        trouble = self._trouble(obj)
        progressing: dict[str, Any] = {
            "type": "Progressing",
            "status": "True",
            "reason": "ReplicaSetUpdated",
            "message": f'ReplicaSet "{name}-{_hash(obj)}" is progressing.',
        }
        if trouble is None and age >= self.ready_after:
            progressing.update(reason="NewReplicaSetAvailable")
            return {
                **base,
                "replicas": replicas,
                "updatedReplicas": replicas,
                "readyReplicas": replicas,
                "availableReplicas": replicas,
                "conditions": [
                    {"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable"},
                    progressing,
                ],
            }
        deadline = obj["spec"].get("progressDeadlineSeconds", 600)
        if trouble is not None and age >= deadline:
            progressing.update(
                status="False",
                reason="ProgressDeadlineExceeded",
                message=f'ReplicaSet "{name}-{_hash(obj)}" has timed out progressing.',
            )
        return {
            **base,
            "replicas": replicas,
            "updatedReplicas": replicas,
            "unavailableReplicas": replicas,
            "conditions": [
                {"type": "Available", "status": "False", "reason": "MinimumReplicasUnavailable"},
                progressing,
            ],
        }

    def available(self, ns: str) -> dict[str, dict[str, str]]:
        """Deployments with available replicas now -> their pod template labels."""
        out = {}
        for (plural, n, name), obj in self.objects.items():
            ours = plural == "deployments" and n == ns
            if ours and self._deployment_status(ns, obj).get("availableReplicas"):
                out[name] = dict(obj["spec"]["template"]["metadata"].get("labels") or {})
        return out

    # -- derived objects -----------------------------------------------------------------------

    def _derived(self, plural: str, ns: str) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for (p, n, _name), dep in sorted(self.objects.items()):
            if p != "deployments" or n != ns:
                continue
            if plural == "replicasets":
                out.append(self._replicaset(ns, dep))
            elif plural == "pods":
                out += self._pods(ns, dep)
            elif plural == "events":
                for pod in self._pods(ns, dep):
                    out += self._events(ns, dep, pod)
        return out

    def _replicaset(self, ns: str, dep: dict[str, Any]) -> dict[str, Any]:
        status = self._deployment_status(ns, dep)
        labels = {**dep["spec"]["template"]["metadata"].get("labels", {})}
        labels["pod-template-hash"] = _hash(dep)
        return {
            "apiVersion": "apps/v1",
            "kind": "ReplicaSet",
            "metadata": {
                "name": f"{dep['metadata']['name']}-{_hash(dep)}",
                "namespace": ns,
                "labels": labels,
                "resourceVersion": dep["metadata"]["resourceVersion"],
                "ownerReferences": [
                    {"apiVersion": "apps/v1", "kind": "Deployment", "name": dep["metadata"]["name"]}
                ],
            },
            "spec": {
                "replicas": dep["spec"].get("replicas", 1),
                "template": dep["spec"]["template"],
            },
            "status": {
                "replicas": status.get("replicas", 0),
                "availableReplicas": status.get("availableReplicas", 0),
            },
        }

    def _pods(self, ns: str, dep: dict[str, Any]) -> list[dict[str, Any]]:
        status = self._deployment_status(ns, dep)
        trouble = self._trouble(dep)
        ready = bool(status.get("availableReplicas"))
        pods = []
        for i in range(dep["spec"].get("replicas", 1)):
            statuses = []
            for c in dep["spec"]["template"]["spec"].get("containers") or []:
                if ready:
                    state: dict[str, Any] = {"running": {"startedAt": _now()}}
                elif trouble == "ImagePullBackOff":
                    state = {
                        "waiting": {
                            "reason": "ImagePullBackOff",
                            "message": f'Back-off pulling image "{c["image"]}"',
                        }
                    }
                elif trouble == "CrashLoopBackOff":
                    state = {
                        "waiting": {
                            "reason": "CrashLoopBackOff",
                            "message": f"back-off 10s restarting failed container={c['name']}",
                        }
                    }
                else:
                    state = {"waiting": {"reason": "ContainerCreating"}}
                statuses.append(
                    {
                        "name": c["name"],
                        "image": c["image"],
                        "imageID": "",
                        "ready": ready,
                        "state": state,
                        "restartCount": 3 if trouble == "CrashLoopBackOff" else 0,
                    }
                )
            labels = {**dep["spec"]["template"]["metadata"].get("labels", {})}
            labels["pod-template-hash"] = _hash(dep)
            pods.append(
                {
                    "apiVersion": "v1",
                    "kind": "Pod",
                    "metadata": {
                        "name": f"{dep['metadata']['name']}-{_hash(dep)}-{i}",
                        "namespace": ns,
                        "labels": labels,
                        "resourceVersion": dep["metadata"]["resourceVersion"],
                    },
                    "spec": dep["spec"]["template"]["spec"],
                    "status": {
                        "phase": "Running" if ready else "Pending",
                        "containerStatuses": statuses,
                    },
                }
            )
        return pods

    def _events(self, ns: str, dep: dict[str, Any], pod: dict[str, Any]) -> list[dict[str, Any]]:
        trouble = self._trouble(dep)
        name = pod["metadata"]["name"]
        image = dep["spec"]["template"]["spec"]["containers"][0]["image"]
        if trouble == "ImagePullBackOff":
            found = [
                (
                    "Failed",
                    f'Failed to pull image "{image}": rpc error: code = NotFound desc = '
                    f'failed to pull and unpack image "{image}": not found',
                ),
                ("Failed", "Error: ImagePullBackOff"),
                ("BackOff", f'Back-off pulling image "{image}"'),
            ]
        elif trouble == "CrashLoopBackOff":
            found = [("BackOff", "Back-off restarting failed container")]
        else:
            return []
        return [
            {
                "apiVersion": "v1",
                "kind": "Event",
                "metadata": {"name": f"{name}.{i}", "namespace": ns},
                "involvedObject": {"kind": "Pod", "name": name, "namespace": ns},
                "type": "Warning",
                "reason": reason,
                "message": message,
                "count": 1,
            }
            for i, (reason, message) in enumerate(found)
        ]

    def log_of(self, ns: str, pod: str) -> tuple[int, str]:
        for (p, n, _), dep in self.objects.items():
            if p == "deployments" and n == ns and pod.startswith(dep["metadata"]["name"] + "-"):
                trouble = self._trouble(dep)
                if trouble == "CrashLoopBackOff":
                    return 200, (
                        "starting service\nloading configuration\nFATAL: DATABASE_URL is not set\n"
                    )
                if trouble == "ImagePullBackOff":
                    return (
                        400,
                        f'container "{pod}" is waiting to start: trying and failing to pull image',
                    )
                return 200, "listening on :8080\n"
        return 404, f'pods "{pod}" not found'


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _hash(dep: dict[str, Any]) -> str:
    text = json.dumps(dep["spec"]["template"], sort_keys=True)
    return hashlib.sha1(text.encode()).hexdigest()[:10]


def _plural(kind: str) -> str:
    for plural, (_, k, _) in RESOURCES.items():
        if k == kind:
            return plural
    raise KeyError(kind)


# -- patches ---------------------------------------------------------------------------------------


def merge_patch(target: Any, patch: Any, *, strategic: bool = False) -> Any:
    """RFC 7386 merge patch; ``strategic`` also merges lists of named objects by name."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        elif strategic and isinstance(value, list) and _named(value) and _named(out.get(key)):
            merged = {item["name"]: item for item in out[key]}
            for item in value:
                merged[item["name"]] = merge_patch(
                    merged.get(item["name"], {}), item, strategic=True
                )
            out[key] = list(merged.values())
        else:
            out[key] = merge_patch(out.get(key), value, strategic=strategic)
    return out


def _named(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(i, dict) and "name" in i for i in value)


def json_patch(target: Any, ops: list[dict[str, Any]]) -> Any:
    """RFC 6902 (add, replace, remove, test) on JSON pointers."""
    doc = copy.deepcopy(target)
    for op in ops:
        parts = [p.replace("~1", "/").replace("~0", "~") for p in op["path"].split("/")[1:]]
        parent = doc
        for part in parts[:-1]:
            parent = parent[int(part)] if isinstance(parent, list) else parent[part]
        last = parts[-1]
        kind = op["op"]
        if isinstance(parent, list):
            index = len(parent) if last == "-" else int(last)
            if kind == "add":
                parent.insert(index, op["value"])
            elif kind == "replace":
                parent[index] = op["value"]
            elif kind == "remove":
                del parent[index]
            elif kind == "test" and parent[index] != op["value"]:
                raise ValueError(f"test failed at {op['path']}")
        else:
            if kind in ("replace", "remove", "test") and last not in parent:
                raise ValueError(f"no value at {op['path']}")
            if kind in ("add", "replace"):
                parent[last] = op["value"]
            elif kind == "remove":
                del parent[last]
            elif kind == "test" and parent[last] != op["value"]:
                raise ValueError(f"test failed at {op['path']}")
    return doc


# -- HTTP ------------------------------------------------------------------------------------------


class _Failure(Exception):
    def __init__(self, code: int, reason: str, message: str) -> None:
        super().__init__(message)
        self.code, self.reason, self.message = code, reason, message


def _matches(obj: dict[str, Any], query: dict[str, list[str]]) -> bool:
    for selector in query.get("labelSelector", []):
        labels = obj.get("metadata", {}).get("labels") or {}
        for term in filter(None, selector.split(",")):
            key, _, value = term.partition("=")
            if labels.get(key) != value.lstrip("="):
                return False
    for selector in query.get("fieldSelector", []):
        for term in filter(None, selector.split(",")):
            key, _, value = term.partition("=")
            node: Any = obj
            for part in key.split("."):
                node = node.get(part) if isinstance(node, dict) else None
            if str(node) != value.lstrip("="):
                return False
    return True


def _discovery(path: str) -> dict[str, Any] | None:
    if path == "/api":
        return {"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": []}
    groups: dict[str, list[str]] = {}
    for plural, (gv, _, _) in RESOURCES.items():
        groups.setdefault(gv, []).append(plural)
    if path == "/apis":
        return {
            "kind": "APIGroupList",
            "apiVersion": "v1",
            "groups": [
                {
                    "name": gv.split("/")[0],
                    "versions": [{"groupVersion": gv, "version": gv.split("/")[1]}],
                    "preferredVersion": {"groupVersion": gv, "version": gv.split("/")[1]},
                }
                for gv in groups
                if "/" in gv
            ],
        }
    gv = path.removeprefix("/api/").removeprefix("/apis/")
    if gv not in groups:
        return None
    resources = [
        {
            "name": plural,
            "singularName": RESOURCES[plural][1].lower(),
            "namespaced": True,
            "kind": RESOURCES[plural][1],
            "verbs": ["create", "delete", "get", "list", "patch", "update", "watch"],
        }
        for plural in groups[gv]
    ]
    if gv == "v1":
        resources.append(
            {
                "name": "namespaces",
                "singularName": "namespace",
                "namespaced": False,
                "kind": "Namespace",
                "verbs": ["get", "list"],
            }
        )
        resources.append(
            {
                "name": "pods/log",
                "singularName": "",
                "namespaced": True,
                "kind": "Pod",
                "verbs": ["get"],
            }
        )
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": gv,
        "resources": resources,
    }


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        return None

    # one method per verb ------------------------------------------------------------------------

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def do_PUT(self) -> None:
        self._serve("PUT")

    def do_PATCH(self) -> None:
        self._serve("PATCH")

    def do_DELETE(self) -> None:
        self._serve("DELETE")

    def _serve(self, verb: str) -> None:
        fake = self.server.fake
        url = urllib.parse.urlsplit(self.path)
        query = urllib.parse.parse_qs(url.query)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        content_type = (self.headers.get("Content-Type") or "").split(";")[0].strip()
        fake.requests.append((verb, url.path, content_type))
        try:
            if verb == "GET" and "watch" in query and query["watch"][0] in ("1", "true"):
                self._watch(url.path, query)
                return
            code, body = self._route(verb, url.path, query, raw, content_type)
        except _Failure as exc:
            code, body = exc.code, _status(exc.code, exc.reason, exc.message)
        if isinstance(body, str):
            self._send(code, body.encode(), "text/plain")
        else:
            self._send(code, json.dumps(body).encode(), "application/json")

    def _send(self, code: int, data: bytes, content_type: str) -> None:
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _route(
        self, verb: str, path: str, query: dict[str, list[str]], raw: bytes, ctype: str
    ) -> tuple[int, Any]:
        fake = self.server.fake
        found = _discovery(path)
        if verb == "GET" and found is not None:
            return 200, found
        ns_match = re.fullmatch(r"/api/v1/namespaces/([^/]+)", path)
        if ns_match and verb == "GET":
            name = ns_match.group(1)
            if name not in fake.namespaces:
                raise _Failure(404, "NotFound", f'namespaces "{name}" not found')
            return 200, {
                "apiVersion": "v1",
                "kind": "Namespace",
                "metadata": {"name": name},
                "status": {"phase": "Active"},
            }
        m = _PATH.match(path)
        if not m or m["plural"] not in RESOURCES:
            raise _Failure(
                404, "NotFound", f"the server could not find the requested resource {path}"
            )
        gv = m["core"] or f"{m['group']}/{m['version']}"
        plural, ns, name, sub = m["plural"], m["ns"], m["name"], m["sub"]
        if RESOURCES[plural][0] != gv:
            raise _Failure(404, "NotFound", f"no {plural} in {gv}")
        if ns not in fake.namespaces:
            raise _Failure(404, "NotFound", f'namespaces "{ns}" not found')
        with fake.lock:
            if sub == "log" and plural == "pods" and verb == "GET":
                code, text = fake.log_of(ns, name or "")
                if code != 200:
                    raise _Failure(code, "BadRequest" if code == 400 else "NotFound", text)
                lines = text.splitlines(keepends=True)
                tail = int(query.get("tailLines", ["0"])[0] or 0)
                return 200, "".join(lines[-tail:] if tail else lines)
            if sub is not None:
                raise _Failure(404, "NotFound", f"no subresource {sub} here")
            if verb == "GET":
                return 200, self._get(plural, ns, name, query)
            if not RESOURCES[plural][2]:
                raise _Failure(405, "MethodNotAllowed", f"{plural} are read-only here")
            return self._write(verb, plural, ns, name, raw, ctype)

    def _get(self, plural: str, ns: str, name: str | None, query: dict[str, list[str]]) -> Any:
        fake = self.server.fake
        gv, kind, stored = RESOURCES[plural]
        items = fake.all(plural, ns) if stored else fake._derived(plural, ns)
        if name is not None:
            for item in items:
                if item["metadata"]["name"] == name:
                    return item
            raise _Failure(404, "NotFound", f'{plural}.{gv.split("/")[0]} "{name}" not found')
        return {
            "apiVersion": gv,
            "kind": f"{kind}List",
            "metadata": {"resourceVersion": str(fake._version)},
            "items": [i for i in items if _matches(i, query)],
        }

    def _write(
        self, verb: str, plural: str, ns: str, name: str | None, raw: bytes, ctype: str
    ) -> tuple[int, Any]:
        fake = self.server.fake
        try:
            body = json.loads(raw or b"null")
        except ValueError:
            raise _Failure(400, "BadRequest", "the body is not JSON") from None
        key = (plural, ns, name or "")
        current = fake.objects.get(key) if name else None
        if verb == "POST":
            if name is not None:
                raise _Failure(405, "MethodNotAllowed", "POST to a collection")
            new_name = (body.get("metadata") or {}).get("name")
            if not new_name:
                raise _Failure(422, "Invalid", "metadata.name: Required value")
            if (plural, ns, new_name) in fake.objects:
                raise _Failure(409, "AlreadyExists", f'{plural} "{new_name}" already exists')
            result = fake._create(plural, ns, body)
            return self._recorded(201, verb, ctype, body, plural, ns, result)
        if current is None:
            raise _Failure(404, "NotFound", f'{plural} "{name}" not found')
        if verb == "DELETE":
            del fake.objects[key]
            result = {"kind": "Status", "apiVersion": "v1", "status": "Success", "code": 200}
            return self._recorded(200, verb, ctype, body, plural, ns, result)
        if verb == "PUT":
            if fake.conflicts.get(key, 0) > 0:
                fake.conflicts[key] -= 1
                current["metadata"]["resourceVersion"] = fake._next_version()
            sent = (body.get("metadata") or {}).get("resourceVersion")
            if sent and sent != current["metadata"]["resourceVersion"]:
                raise _Failure(
                    409,
                    "Conflict",
                    f'Operation cannot be fulfilled on {plural} "{name}": the object has been '
                    "modified; please apply your changes to the latest version and try again",
                )
            new = body
        elif verb == "PATCH":
            new = self._patched(current, body, ctype)
        else:
            raise _Failure(405, "MethodNotAllowed", verb)
        fake._store(plural, ns, current, new)
        result = fake._view(plural, ns, fake.objects[key])
        return self._recorded(200, verb, ctype, body, plural, ns, result)

    def _patched(self, current: dict[str, Any], body: Any, ctype: str) -> Any:
        try:
            if ctype == "application/merge-patch+json":
                return merge_patch(current, body)
            if ctype == "application/strategic-merge-patch+json":
                return merge_patch(current, body, strategic=True)
            if ctype == "application/json-patch+json":
                return json_patch(current, body)
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            raise _Failure(422, "Invalid", f"the patch cannot be applied: {exc}") from None
        raise _Failure(415, "UnsupportedMediaType", f"the media type {ctype!r} is not supported")

    def _recorded(
        self, code: int, verb: str, ctype: str, body: Any, plural: str, ns: str, result: Any
    ) -> tuple[int, Any]:
        fake = self.server.fake
        write = Write(time.monotonic(), verb, self.path, ctype, body, result, fake.available(ns))
        fake.writes.append(write)
        for rule in list(fake.kill_rules):
            when, pid = rule
            if when(write):
                fake.kill_rules.remove(rule)
                target = pid()
                if target:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(target, signal.SIGKILL)
        return code, result

    def _watch(self, path: str, query: dict[str, list[str]]) -> None:
        """A stream of ADDED then MODIFIED events as objects (or their status) change."""
        fake = self.server.fake
        m = _PATH.match(path)
        if not m or m["plural"] not in RESOURCES or m["name"]:
            self._send(404, json.dumps(_status(404, "NotFound", path)).encode(), "application/json")
            return
        plural, ns = m["plural"], m["ns"]
        limit = float(query.get("timeoutSeconds", ["30"])[0])
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        seen: dict[str, str] = {}
        until = time.monotonic() + min(limit, 30)
        try:
            while time.monotonic() < until and not self.server.closing:
                with fake.lock:
                    items = [i for i in fake.all(plural, ns) if _matches(i, query)]
                for item in items:
                    digest = json.dumps(item, sort_keys=True)
                    name = item["metadata"]["name"]
                    if seen.get(name) != digest:
                        kind = "MODIFIED" if name in seen else "ADDED"
                        seen[name] = digest
                        self._chunk(json.dumps({"type": kind, "object": item}).encode() + b"\n")
                time.sleep(0.05)
            self.wfile.write(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            return

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()


def _status(code: int, reason: str, message: str) -> dict[str, Any]:
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, fake: FakeKube) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.fake = fake
        self.closing = False


@contextlib.contextmanager
def serve(fake: FakeKube) -> Iterator[FakeKube]:
    """Run ``fake`` on a free port of 127.0.0.1 until the block ends."""
    server = _Server(fake)
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    try:
        yield fake
    finally:
        server.closing = True
        server.shutdown()
        server.server_close()
        thread.join(5)
