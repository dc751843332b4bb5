"""Status pages (Atlassian Statuspage and Cachet): a rollback opens an incident, the next good
release of the same environment resolves it; with ``success_note`` a good release with no
incident open posts a resolved note ("release v2 deployed"), and a ``notify`` step with a
``status`` posts its own update (investigating, identified, monitoring, resolved).

The open incident's id is journaled with the delivery and looked up per (runbook,
environment), not per run: the release that resolves an incident is a later run than the one
that opened it. Other events leave the page alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from runwright.model.status import RunEvent
from runwright.notify.base import (
    INCIDENT_STATUSES,
    Delivered,
    Notice,
    check_status,
    http_failure,
)

OPENS = frozenset({RunEvent.FAILED, RunEvent.ROLLED_BACK})
RESOLVES = frozenset({RunEvent.SUCCEEDED})
CACHET_STATUS = {"investigating": 1, "identified": 2, "monitoring": 3, "resolved": 4}


@dataclass
class StatusPageSink:
    """``kind`` is ``statuspage`` (Atlassian's v1 API) or ``cachet`` (Cachet's v1 API)."""

    kind: str
    url: str
    token: str
    page_id: str | None = None
    component_id: str | None = None
    timeout: float = 10.0
    success_note: bool = False
    scope = "environment"

    def __post_init__(self) -> None:
        auth = (
            {"Authorization": f"OAuth {self.token}"}
            if self.kind == "statuspage"
            else {"X-Cachet-Token": self.token}
        )
        self._client = httpx.AsyncClient(timeout=self.timeout, headers=auth)
        self._base = self.url.rstrip("/")

    async def _request(self, method: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
        url = f"{self._base}{path}"
        try:
            response = await self._client.request(method, url, json=body)
        except httpx.HTTPError as exc:
            raise http_failure(f"the status page at {self._base}", exc) from exc
        check_status(f"the status page at {self._base}", response)
        data: dict[str, Any] = response.json() if response.content else {}
        return data

    def _open_body(self, notice: Notice) -> tuple[str, dict[str, Any]]:
        name = f"{notice.runbook} {notice.environment}: release {notice.version} {notice.event}"
        if self.kind == "statuspage":
            incident: dict[str, Any] = {
                "name": name,
                "status": "investigating",
                "body": notice.text,
            }
            if self.component_id:
                incident["component_ids"] = [self.component_id]
                incident["components"] = {self.component_id: "degraded_performance"}
            return f"/v1/pages/{self.page_id}/incidents", {"incident": incident}
        body: dict[str, Any] = {"name": name, "message": notice.text, "status": 1, "visible": 1}
        if self.component_id:
            body.update(component_id=int(self.component_id), component_status=3)
        return "/api/v1/incidents", body

    def _resolve_body(self, notice: Notice, incident: str) -> tuple[str, str, dict[str, Any]]:
        text = f"Resolved by release {notice.version} (run {notice.run_id})."
        if self.kind == "statuspage":
            incident_body: dict[str, Any] = {"status": "resolved", "body": text}
            if self.component_id:
                incident_body["components"] = {self.component_id: "operational"}
            path = f"/v1/pages/{self.page_id}/incidents/{incident}"
            return "PATCH", path, {"incident": incident_body}
        body: dict[str, Any] = {"status": 4, "message": text}
        if self.component_id:
            body.update(component_id=int(self.component_id), component_status=1)
        return "PUT", f"/api/v1/incidents/{incident}", body

    def _post_body(self, name: str, text: str, status: str) -> tuple[str, dict[str, Any]]:
        """A new incident (or note) with ``status``, one of INCIDENT_STATUSES."""
        healthy = status == "resolved"
        if self.kind == "statuspage":
            incident: dict[str, Any] = {"name": name, "status": status, "body": text}
            if self.component_id:
                state = "operational" if healthy else "degraded_performance"
                incident["component_ids"] = [self.component_id]
                incident["components"] = {self.component_id: state}
            return f"/v1/pages/{self.page_id}/incidents", {"incident": incident}
        code = CACHET_STATUS[status]
        body: dict[str, Any] = {"name": name, "message": text, "status": code, "visible": 1}
        if self.component_id:
            body.update(component_id=int(self.component_id), component_status=1 if healthy else 3)
        return "/api/v1/incidents", body

    async def _post(self, name: str, text: str, status: str) -> str:
        path, body = self._post_body(name, text, status)
        data = await self._request("POST", path, body)
        return str(data.get("id") or data.get("data", {}).get("id", ""))

    async def send(self, notice: Notice) -> Delivered:
        if notice.event == "message":
            if notice.incident not in INCIDENT_STATUSES:
                return Delivered(detail="no status given: nothing posted to the status page")
            posted = await self._post(notice.title, notice.text, notice.incident)
            return Delivered(detail=f"incident {posted} posted ({notice.incident})")
        incident = notice.refs.get("incident_id") or ""
        if notice.event in RESOLVES and not incident and self.success_note:
            name = f"{notice.runbook} {notice.environment}: release {notice.version} deployed"
            posted = await self._post(name, notice.text, "resolved")
            return Delivered(detail=f"note {posted} posted (resolved)")
        if notice.event in OPENS and not incident:
            path, body = self._open_body(notice)
            data = await self._request("POST", path, body)
            opened = str(data.get("id") or data.get("data", {}).get("id", ""))
            return Delivered(refs={"incident_id": opened}, detail=f"incident {opened} opened")
        if notice.event in RESOLVES and incident:
            method, path, body = self._resolve_body(notice, incident)
            await self._request(method, path, body)
            return Delivered(refs={"incident_id": ""}, detail=f"incident {incident} resolved")
        return Delivered(refs=dict(notice.refs), detail="nothing to change on the status page")

    async def aclose(self) -> None:
        await self._client.aclose()
