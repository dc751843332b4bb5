"""Talking to AWS: shared by the ALB router, the ECS driver, the RDS database kind and the
CloudWatch provider.

It sits below ``drivers``, ``routers``, ``databases`` and ``providers`` and above ``engine``.
Credentials and region come from the usual AWS chain (environment, shared config and
credentials files, instance or task role), never from a runbook, and are never logged; a
runbook may name a ``region``, a ``profile`` and an ``endpoint_url`` (a VPC endpoint, or a
local test endpoint). boto3 blocks, so callers run its calls in a worker thread (``call``).
"""
