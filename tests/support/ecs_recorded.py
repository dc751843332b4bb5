"""Recorded ECS rollouts served over ECS's own wire protocol, because moto's ECS never rolls a
deployment forward.

``recorded_ecs(answers)`` is an HTTP server on 127.0.0.1 speaking the AWS JSON 1.1 protocol
of ECS (``X-Amz-Target: AmazonEC2ContainerServiceV20141113.DescribeServices``): each
DescribeServices call gets the next recorded answer (the last one repeats). The three
sequences below have the shape ECS gives for a stable rollout, a rollout its deployment
circuit breaker rolled back, and a deployment stuck with no task starting. The driver talks to
it with the real boto3 client through ``endpoint_url``; only the answers are recorded.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

TARGET = "AmazonEC2ContainerServiceV20141113."
NEW = "ecs-svc/2222"
OLD = "ecs-svc/1111"
NEW_TD = "arn:aws:ecs:eu-west-1:123456789012:task-definition/shop:8"
OLD_TD = "arn:aws:ecs:eu-west-1:123456789012:task-definition/shop:7"


def _deployment(
    ident: str, status: str, td: str, running: int, state: str, reason: str = ""
) -> dict[str, Any]:
    return {
        "id": ident,
        "status": status,
        "taskDefinition": td,
        "desiredCount": 2,
        "pendingCount": 2 - running,
        "runningCount": running,
        "failedTasks": 0,
        "rolloutState": state,
        "rolloutStateReason": reason,
    }


def _service(deployments: list[dict[str, Any]], events: Sequence[str] = ()) -> dict[str, Any]:
    return {
        "services": [
            {
                "serviceName": "shop-blue",
                "serviceArn": "arn:aws:ecs:eu-west-1:123456789012:service/prod/shop-blue",
                "status": "ACTIVE",
                "desiredCount": 2,
                "runningCount": sum(d["runningCount"] for d in deployments),
                "taskDefinition": deployments[0]["taskDefinition"],
                "deployments": deployments,
                "events": [{"message": m} for m in events],
            }
        ],
        "failures": [],
    }


STABLE = [
    _service(
        [
            _deployment(NEW, "PRIMARY", NEW_TD, 0, "IN_PROGRESS"),
            _deployment(OLD, "ACTIVE", OLD_TD, 2, "COMPLETED"),
        ]
    ),
    _service(
        [
            _deployment(NEW, "PRIMARY", NEW_TD, 1, "IN_PROGRESS"),
            _deployment(OLD, "ACTIVE", OLD_TD, 1, "COMPLETED"),
        ]
    ),
    _service(
        [_deployment(NEW, "PRIMARY", NEW_TD, 2, "COMPLETED")],
        ["(service shop-blue) has reached a steady state."],
    ),
]

CIRCUIT_BREAKER = [
    _service(
        [
            _deployment(NEW, "PRIMARY", NEW_TD, 0, "IN_PROGRESS"),
            _deployment(OLD, "ACTIVE", OLD_TD, 2, "COMPLETED"),
        ]
    ),
    _service(
        [
            _deployment(
                NEW,
                "ACTIVE",
                NEW_TD,
                0,
                "FAILED",
                "ECS deployment circuit breaker: tasks failed to start.",
            ),
            _deployment("ecs-svc/3333", "PRIMARY", OLD_TD, 2, "IN_PROGRESS"),
        ],
        ["(service shop-blue) rolling back to deployment ecs-svc/3333."],
    ),
    _service(
        [_deployment("ecs-svc/3333", "PRIMARY", OLD_TD, 2, "COMPLETED")],
        ["(service shop-blue) has reached a steady state."],
    ),
]

STUCK = [
    _service(
        [
            _deployment(NEW, "PRIMARY", NEW_TD, 0, "IN_PROGRESS"),
            _deployment(OLD, "ACTIVE", OLD_TD, 2, "COMPLETED"),
        ],
        [
            "(service shop-blue) was unable to place a task because no container instance met "
            "all of its requirements."
        ],
    )
]


@contextmanager
def recorded_ecs(answers: Sequence[dict[str, Any]]) -> Iterator[tuple[str, list[str]]]:
    """(endpoint url, the operations called) for a server replaying ``answers``."""
    calls: list[str] = []
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            operation = str(self.headers.get("X-Amz-Target", "")).removeprefix(TARGET)
            with lock:
                calls.append(operation)
                count = calls.count("DescribeServices")
            if operation == "DescribeServices":
                status, body = 200, answers[min(count, len(answers)) - 1]
            else:
                status, body = 400, {"__type": "UnknownOperationException", "message": operation}
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/x-amz-json-1.1")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: object) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", calls
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
