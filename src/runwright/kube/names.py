"""How a version's Kubernetes objects are named and labelled, in one place.

The driver creates them and the routers point traffic at them, so both must agree: a
version ``v2`` of service ``shop-prod`` is the Deployment and Service ``shop-prod-v2``,
labelled ``runwright.dev/service=shop-prod`` and ``<version_label>=v2``.
"""

from __future__ import annotations

import re

SERVICE_LABEL = "runwright.dev/service"
WEIGHTS_ANNOTATION = "runwright.dev/weights"
_BAD = re.compile(r"[^a-z0-9-]+")


def dns_label(text: str) -> str:
    """``text`` as an RFC 1123 label: lower case, ``[a-z0-9-]``, at most 63 characters."""
    label = _BAD.sub("-", text.lower()).strip("-")[:63].rstrip("-")
    return label or "x"


def object_name(service: str, version: str) -> str:
    """The name of the Deployment (and Service) that runs ``version`` of ``service``."""
    return dns_label(f"{service}-{version}")


def version_labels(service: str, version: str, version_label: str) -> dict[str, str]:
    return {SERVICE_LABEL: dns_label(service), version_label: label_value(version)}


def label_value(text: str) -> str:
    value = re.sub(r"[^A-Za-z0-9._-]+", "-", text)[:63].strip("-._")
    return value or "x"


def service_host(name: str, namespace: str) -> str:
    """The cluster DNS name of a version's Service; routers read the name back from it."""
    return f"{name}.{namespace}.svc"


def name_of_host(host: str) -> str:
    return host.split(".", 1)[0]
