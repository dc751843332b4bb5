"""How a runbook describes the service it releases and the release strategy.

``service`` says how to start a version (a command template with ``{{ port }}`` and
``{{ version }}``), how to tell it is healthy, and which router carries its traffic.
``release`` picks a strategy (recreate, blue_green, canary) and its knobs; the strategy
expands into ordinary steps, so ``plan`` shows every one of them. ``analysis`` names the
runbook's checks that watch the canary pauses and the bake; ``compare: baseline`` also judges
a canary's values against the stable version's over each pause.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    field_validator,
    model_validator,
)

from runwright.model.types import Duration, Strict


def _address(value: str | None) -> str | None:
    if value is None:
        return value
    host, _, port = value.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError("write an address as HOST:PORT, e.g. 127.0.0.1:8080")
    return value


Address = Annotated[str, AfterValidator(_address)]


def _kind_default(default: str) -> Any:
    """``driver: local`` is short for ``driver: {kind: local}``; a section without ``kind``
    is the default kind."""

    def before(value: Any) -> Any:
        if isinstance(value, str):
            return {"kind": value}
        if isinstance(value, dict) and "kind" not in value:
            return {"kind": default, **value}
        return value

    return BeforeValidator(before)


# -- routers -----------------------------------------------------------------------------------


class ProxyTimeoutsSpec(Strict):
    """The builtin proxy's deadlines (docs/drivers.md): no client or backend holds it for ever."""

    head: Duration = Field(10.0, gt=0, description="A request's head must arrive within this")
    body: Duration = Field(30.0, gt=0, description="Longest pause inside a request body")
    idle: Duration = Field(60.0, gt=0, description="An idle kept-alive client is closed after")
    connect: Duration = Field(5.0, gt=0, description="Connecting to a backend")
    response: Duration = Field(60.0, gt=0, description="Longest silence of a backend (504)")


class LocalRouterSpec(Strict):
    """A router on this host (``builtin`` proxy, ``haproxy``, in-memory ``fake``)."""

    kind: Literal["builtin", "haproxy", "fake"] = "builtin"
    listen: Address = "127.0.0.1:8080"
    admin: Address | None = None
    timeouts: ProxyTimeoutsSpec = Field(
        default_factory=ProxyTimeoutsSpec, description="builtin only: the proxy's deadlines"
    )
    max_connections: int = Field(
        4096, gt=0, description="builtin only: client connections at once (more get 503)"
    )

    @property
    def url(self) -> str:
        return f"http://{self.listen}"


class ServiceSelectorRouterSpec(Strict):
    """Blue-green on Kubernetes: the Service's selector names one version at a time."""

    kind: Literal["service-selector"]
    service: str = Field(description="The Service users reach; its selector is moved")
    url: str = Field("", description="Where users reach it (for checks and smoke tests)")

    @property
    def listen(self) -> str:
        return self.url


class IngressNginxRouterSpec(Strict):
    """Canary on Kubernetes with ingress-nginx: a canary Ingress with ``canary-weight``."""

    kind: Literal["ingress-nginx"]
    ingress: str = Field(description="The main Ingress; its backend is the stable version")
    canary_ingress: str = Field("", description="Default: INGRESS-canary (created if missing)")
    url: str = ""

    @property
    def listen(self) -> str:
        return self.url


class GatewayApiRouterSpec(Strict):
    """Canary on Kubernetes with the Gateway API: weights of an HTTPRoute's backendRefs."""

    kind: Literal["gateway-api"]
    route: str = Field(description="The HTTPRoute whose first rule's backendRefs are set")
    url: str = ""

    @property
    def listen(self) -> str:
        return self.url


class CommandRouterSpec(Strict):
    """Your own script moves traffic: ``route`` gets the weight table as JSON on stdin."""

    kind: Literal["command"]
    route: str = Field(description="Command template; reads [{name,host,port,weight}] on stdin")
    url: str = ""
    timeout: Duration = 30.0

    @property
    def listen(self) -> str:
        return self.url


class AwsSpec(Strict):
    """Where to reach AWS; credentials always come from the usual AWS chain."""

    region: str | None = None
    profile: str | None = None
    endpoint_url: str | None = Field(None, description="A VPC endpoint, or a local test endpoint")


class AlbRouterSpec(AwsSpec):
    """Blue-green and canary on an Application Load Balancer: weighted target groups."""

    kind: Literal["alb"]
    listener: str = Field(description="The listener ARN whose forward action is weighted")
    rule: str | None = Field(None, description="A rule ARN instead of the default action")
    target_groups: list[str] = Field(
        min_length=2, description="Target group ARNs, one per colour (blue, green...)"
    )
    url: str = Field("", description="Where users reach the service (for checks and smoke)")
    drain: Duration = Field(0.0, description="Wait after a colour's weight went to 0")

    @property
    def listen(self) -> str:
        return self.url


RouterSpec = Annotated[
    LocalRouterSpec
    | ServiceSelectorRouterSpec
    | IngressNginxRouterSpec
    | GatewayApiRouterSpec
    | CommandRouterSpec
    | AlbRouterSpec,
    Field(discriminator="kind"),
    _kind_default("builtin"),
]
KUBERNETES_ROUTERS = ("service-selector", "ingress-nginx", "gateway-api")
COUNTING_ROUTERS = ("builtin", "haproxy", "fake")
"""Routers that count requests per version (``provider: router`` checks read them)."""


# -- drivers -----------------------------------------------------------------------------------


class LocalDriverSpec(Strict):
    """Processes started by runwright on this host (``fake``: in memory, for tests/demo)."""

    kind: Literal["local", "fake"] = "local"


class KubernetesDriverSpec(Strict):
    """Each version is a Deployment cloned from a template, with its image and version label."""

    kind: Literal["kubernetes"]
    kubeconfig: str | None = Field(
        None, description="Path (relative to the runbook); default: in-cluster, then ~/.kube/config"
    )
    context: str | None = Field(None, description="Kubeconfig context; default: current")
    namespace: str = "default"
    template: str | None = Field(None, description="A Deployment manifest file to clone")
    template_deployment: str | None = Field(
        None, description="Or an existing Deployment in the namespace to clone"
    )
    container: str | None = Field(None, description="The container whose image is set")
    image: str = Field(description="Image template, e.g. registry/shop:{{ version }}")
    port: int | None = Field(
        None, description="Service port of each version; default: the container's first port"
    )
    retain: int = Field(1, ge=0, description="Old Deployments kept scaled to zero")
    version_label: str = "runwright.dev/version"
    poll_interval: Duration = 0.25
    log_lines: int = 20

    @model_validator(mode="after")
    def _one_template(self) -> KubernetesDriverSpec:
        if (self.template is None) == (self.template_deployment is None):
            raise ValueError(
                "give exactly one of template (a manifest file) or template_deployment "
                "(an existing Deployment)"
            )
        return self


class CommandDriverSpec(Strict):
    """Your own scripts start, stop, list and check versions (docker compose, ssh...)."""

    kind: Literal["command"]
    start: str = Field(description="Starts {{ version }}; prints a JSON line {id, address}")
    stop: str = Field(description="Stops the instance {{ id }} ({{ version }}, {{ address }})")
    list: str = Field(description="Prints one JSON line {id, version, address} per instance")
    health: str = Field("", description="Exits 0 when {{ id }} is healthy; default: GET health")
    timeout: Duration = 60.0


class EcsDriverSpec(AwsSpec):
    """Each version a task definition revision, run by an ECS service (one per colour behind
    an ALB for blue-green, or one service updated in place)."""

    kind: Literal["ecs"]
    cluster: str
    task_definition: str = Field(description="The family (or ARN) whose newest revision is cloned")
    image: str = Field(description="Image template, e.g. 123.dkr.ecr.../shop:{{ version }}")
    container: str | None = Field(None, description="The container whose image is set")
    mode: Literal["blue_green", "in_place"] = "blue_green"
    service: str | None = Field(
        None, description="in_place: the service to update; blue_green: the colour services' prefix"
    )
    target_groups: list[str] = Field(
        default_factory=list, description="blue_green: one target group per colour"
    )
    container_port: int = Field(80, ge=1, le=65535)
    desired_count: int = Field(2, ge=1)
    poll_interval: Duration = 5.0
    launch_type: Literal["FARGATE", "EC2", "EXTERNAL"] | None = None
    network: dict[str, Any] = Field(
        default_factory=dict, description="networkConfiguration for awsvpc tasks"
    )

    @model_validator(mode="after")
    def _colours(self) -> EcsDriverSpec:
        if self.mode == "blue_green" and len(self.target_groups) < 2:
            raise ValueError("blue_green on ECS needs two target_groups (one per colour)")
        if self.mode == "blue_green" and not self.container:
            raise ValueError("blue_green on ECS needs container: (registered with the groups)")
        if self.mode == "in_place" and not self.service:
            raise ValueError("in_place on ECS needs service: (the service to update)")
        return self


DriverSpec = Annotated[
    LocalDriverSpec | KubernetesDriverSpec | CommandDriverSpec | EcsDriverSpec,
    Field(discriminator="kind"),
    _kind_default("local"),
]


SECTION_KINDS = frozenset(
    {
        "local",
        "fake",
        "kubernetes",
        "command",
        "builtin",
        "haproxy",
        "alb",
        "ecs",
        *KUBERNETES_ROUTERS,
    }
)


class ServiceSpec(Strict):
    name: str | None = None
    driver: DriverSpec = Field(default_factory=LocalDriverSpec)
    command: str = Field("", description="local driver: the command template of a version")
    health: str = "/health"
    env: dict[str, str] = Field(default_factory=dict)
    cwd: str | None = None
    start_timeout: Duration = 30.0
    stop_timeout: Duration = 10.0
    router: RouterSpec = Field(default_factory=LocalRouterSpec)

    def misfit(self) -> tuple[str, tuple[str, ...]] | None:
        """Why this driver and router cannot work together, and where (the loader reports it
        at that key's line), or None."""
        kind, router = self.driver.kind, self.router.kind
        if kind in ("local", "fake") and not self.command:
            return (
                f"the {kind} driver needs a command, e.g. 'app --port {{{{ port }}}}'",
                ("driver",),
            )
        on_k8s = router in KUBERNETES_ROUTERS
        if kind == "kubernetes" and not on_k8s:
            return (
                "the kubernetes driver needs a kubernetes router: service-selector, "
                "ingress-nginx or gateway-api",
                ("driver", "kind"),
            )
        if kind == "ecs" and router != "alb":
            return "the ecs driver needs router kind alb (weighted target groups)", (
                "driver",
                "kind",
            )
        if on_k8s and kind != "kubernetes":
            return f"router {router} moves traffic in Kubernetes: use driver kubernetes", (
                "router",
                "kind",
            )
        return None


class ReleaseSpec(Strict):
    strategy: Literal["recreate", "blue_green", "canary"] = "blue_green"
    smoke: list[dict[str, Any]] = Field(default_factory=list)
    bake: Duration = 0.0
    keep_previous: Duration = 0.0
    weights: list[int] = Field(default_factory=lambda: [10, 25, 50, 100])
    pause: Duration = 0.0
    after: list[str] = Field(
        default_factory=list, description="Phases that run after the release steps"
    )
    analysis: list[str] = Field(
        default_factory=list,
        description="Checks (names under 'checks') that watch the canary pauses and the bake; "
        "a failing check rolls the release back",
    )
    compare: Literal["baseline"] | None = Field(
        None, description="Canary only: also compare the canary's values with the stable version's"
    )

    @field_validator("weights")
    @classmethod
    def _weights(cls, value: list[int]) -> list[int]:
        if not value:
            raise ValueError("give at least one canary weight, ending with 100")
        if any(not 0 < w <= 100 for w in value):
            raise ValueError("canary weights are percentages between 1 and 100")
        if value != sorted(value):
            raise ValueError("canary weights must increase, e.g. [10, 25, 50, 100]")
        if value[-1] != 100:
            raise ValueError("the last canary weight must be 100 (full promotion)")
        return value

    @model_validator(mode="after")
    def _watched(self) -> ReleaseSpec:
        watched = self.bake > 0 or (self.strategy == "canary" and self.pause > 0)
        if self.analysis and not watched:
            where = "pause or bake" if self.strategy == "canary" else "bake"
            raise ValueError(
                f"analysis needs time to watch: give the release a {where} duration (e.g. bake: 5m)"
            )
        if self.compare is not None:
            if self.strategy != "canary" or self.pause <= 0:
                raise ValueError("compare: baseline needs strategy: canary with a pause")
            if not self.analysis:
                raise ValueError("compare: baseline needs analysis: [checks] to compare")
        return self


class ProductService(ServiceSpec):
    """One service of a product (``services:``): today's service section, with its own
    ``release`` and its place in the order (``after``). A service without ``router`` (a
    worker) takes no traffic: its strategy is ``recreate`` or ``blue_green``."""

    router: RouterSpec | None = None  # type: ignore[assignment]
    after: list[str] = Field(
        default_factory=list,
        description="Services whose new version starts and takes traffic first",
    )
    release: ReleaseSpec = Field(default_factory=lambda: ReleaseSpec())

    def misfit(self) -> tuple[str, tuple[str, ...]] | None:
        if self.router is None:
            if self.release.strategy == "canary":
                return (
                    "a canary needs a router to share traffic: add router: or use "
                    "strategy recreate or blue_green",
                    ("release", "strategy"),
                )
            if self.driver.kind in ("kubernetes", "ecs"):
                return f"the {self.driver.kind} driver needs a router", ("driver", "kind")
            if self.driver.kind in ("local", "fake") and not self.command:
                kind = self.driver.kind
                return f"the {kind} driver needs a command, e.g. 'app --port {{{{ port }}}}'", (
                    "driver",
                )
            return None
        return super().misfit()

    def router_identity(self) -> tuple[str, ...] | None:
        """What two services may not share: the address or object their router moves."""
        r = self.router
        if r is None:
            return None
        if isinstance(r, LocalRouterSpec):
            return ("address", r.listen)
        if isinstance(r, ServiceSelectorRouterSpec):
            return ("Service", r.service)
        if isinstance(r, IngressNginxRouterSpec):
            return ("Ingress", r.ingress)
        if isinstance(r, GatewayApiRouterSpec):
            return ("HTTPRoute", r.route)
        if isinstance(r, AlbRouterSpec):
            return ("listener", r.listener, r.rule or "")
        return ("route", r.route)
