"""The web edge: ``runwright serve``, a dashboard and a REST API over the same app use cases.

Like the CLI it only parses input, calls ``runwright.app`` and renders; modules are small, one
area each: ``server`` (app factory, headers), ``auth`` and ``csrf`` and ``oidc`` (who is
asking), ``api`` (JSON under /api/v1), ``pages`` and ``forms`` (HTML), ``sse`` (live events),
``tasks`` (runs executing in this process), ``views`` (what a page shows).
"""
