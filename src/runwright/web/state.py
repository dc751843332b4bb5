"""What every request of one server shares: the runtime, the runbooks, running tasks, the hub,
the login throttle and the OIDC logins begun: per server, never per process."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from fastapi import Request

from runwright.app.runtime.identity import AuthMethod
from runwright.app.runtime.runtime import Runtime
from runwright.web.config import WebConfig
from runwright.web.oidc_flows import OidcFlows
from runwright.web.runbooks import Registry
from runwright.web.sse import Hub
from runwright.web.tasks import Tasks
from runwright.web.throttle import LoginThrottle


@dataclass
class WebState:
    config: WebConfig
    runtime: Runtime
    registry: Registry
    tasks: Tasks
    hub: Hub
    throttle: LoginThrottle = field(default_factory=LoginThrottle)
    oidc: OidcFlows | None = None
    """The OIDC logins this server began, with its issuer's discovery (OIDC on only)."""

    def runtime_for(self, user: str) -> Runtime:
        """The shared runtime acting as ``user``, whom the server authenticated (login or
        token): use cases journal their actions and count their decisions under it."""
        settings = replace(self.runtime.settings, user=user, via=AuthMethod.LOGIN)
        return replace(self.runtime, settings=settings)


def web_state(request: Request) -> WebState:
    state: WebState = request.app.state.web
    return state
