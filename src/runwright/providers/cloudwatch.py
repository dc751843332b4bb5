"""CloudWatch as a signal: a metric's latest value (GetMetricData), or an alarm's state.

Teams on AWS already watch their releases with CloudWatch alarms ("error rate > 5% for 5
minutes"). A check with ``alarm: NAME`` reads that alarm: 1 while it is in ALARM, 0 while it
is OK, no data while CloudWatch has too little data to say (a check never treats that as a
pass). A check with a ``query`` reads a metric::

    query: 'AWS/ApplicationELB HTTPCode_Target_5XX_Count{LoadBalancer="app/shop/1"}'
    stat: Sum
    period: 1m

The value is the newest datapoint of the last few periods; the datapoints are kept as the
measurement's samples, so a rollback can be explained with CloudWatch's own numbers.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from runwright.aws.session import AwsSettings, call, cloudwatch
from runwright.engine.clock import Clock
from runwright.errors import DriverError, ProviderError
from runwright.providers.base import Measurement, Sample

QUERY = re.compile(
    r"^\s*(?P<ns>[A-Za-z0-9/_.:\-]+)\s+(?P<metric>[A-Za-z0-9_.:\-]+)\s*(\{(?P<dims>.*)\})?\s*$"
)
DIMENSION = re.compile(r'\s*([A-Za-z0-9_.:\-]+)\s*=\s*"([^"]*)"\s*(,|$)')
STATS = ("Average", "Sum", "Minimum", "Maximum", "SampleCount")


@dataclass(frozen=True)
class MetricQuery:
    namespace: str
    metric: str
    dimensions: Mapping[str, str]


def parse_metric(query: str) -> MetricQuery:
    """``NAMESPACE METRIC{Dim="value",...}``; ValueError naming the expected form."""
    match = QUERY.match(query)
    if match is None:
        raise ValueError(
            f"cannot read CloudWatch query {query!r}: write "
            "'NAMESPACE METRIC{Dimension=\"value\"}', e.g. 'AWS/ECS CPUUtilization"
            '{ClusterName="prod"}\''
        )
    dims: dict[str, str] = {}
    text = match.group("dims") or ""
    pos = 0
    while pos < len(text):
        found = DIMENSION.match(text, pos)
        if found is None:
            raise ValueError(f'cannot read dimensions {{{text}}}: write Name="value", ...')
        dims[found.group(1)] = found.group(2)
        pos = found.end()
    return MetricQuery(match.group("ns"), match.group("metric"), dims)


@dataclass(frozen=True)
class CloudWatchSettings:
    aws: AwsSettings
    stat: str = "Average"
    period: int = 60
    alarm: bool = False


class CloudWatchProvider:
    def __init__(self, settings: CloudWatchSettings, clock: Clock) -> None:
        self.settings = settings
        self.clock = clock
        self._client: Any = None

    def _cw(self) -> Any:
        if self._client is None:
            try:
                self._client = cloudwatch(self.settings.aws)
            except DriverError as exc:
                raise ProviderError(exc.message, retryable=False, hint=exc.hint) from None
        return self._client

    async def measure(self, query: str) -> Measurement:
        try:
            if self.settings.alarm:
                return await self._alarm(query)
            return await self._metric(query)
        except DriverError as exc:
            raise ProviderError(exc.message, retryable=exc.retryable, hint=exc.hint) from None

    async def _alarm(self, name: str) -> Measurement:
        answer = await call(
            f"CloudWatch DescribeAlarms {name}", self._cw().describe_alarms, AlarmNames=[name]
        )
        alarms = answer.get("MetricAlarms", []) + answer.get("CompositeAlarms", [])
        if not alarms:
            raise ProviderError(
                f"no CloudWatch alarm named {name!r}",
                retryable=False,
                hint="check the alarm's name and the region",
            )
        state = str(alarms[0]["StateValue"])
        value = {"ALARM": 1.0, "OK": 0.0}.get(state)
        reason = str(alarms[0].get("StateReason", ""))
        sample = Sample({"__name__": "alarm", "alarm": name, "state": state}, value or 0.0)
        return Measurement(
            query=f"alarm {name}",
            value=value,
            at=self.clock.now(),
            samples=(sample,),
            note=f"{state}: {reason}" if reason else state,
        )

    async def _metric(self, query: str) -> Measurement:
        try:
            metric = parse_metric(query)
        except ValueError as exc:
            raise ProviderError(str(exc), retryable=False) from None
        now = self.clock.now()
        period = self.settings.period
        answer = await call(
            f"CloudWatch GetMetricData {metric.namespace} {metric.metric}",
            self._cw().get_metric_data,
            MetricDataQueries=[
                {
                    "Id": "m1",
                    "MetricStat": {
                        "Metric": {
                            "Namespace": metric.namespace,
                            "MetricName": metric.metric,
                            "Dimensions": [
                                {"Name": k, "Value": v} for k, v in metric.dimensions.items()
                            ],
                        },
                        "Period": period,
                        "Stat": self.settings.stat,
                    },
                    "ReturnData": True,
                }
            ],
            StartTime=now - timedelta(seconds=period * 3),
            EndTime=now + timedelta(seconds=period),
            ScanBy="TimestampDescending",
        )
        results = answer.get("MetricDataResults", [])
        values = list(results[0].get("Values", [])) if results else []
        stamps = list(results[0].get("Timestamps", [])) if results else []
        samples = tuple(
            Sample({"__name__": metric.metric, **metric.dimensions}, float(v), t.timestamp())
            for v, t in zip(values, stamps, strict=False)
        )
        if not values:
            return Measurement(query, None, now, note="CloudWatch has no datapoint yet")
        return Measurement(query, float(values[0]), now, samples=samples)

    async def aclose(self) -> None:
        self._client = None
