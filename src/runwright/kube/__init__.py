"""Talking to a Kubernetes API server: shared by the kubernetes driver and its routers.

It sits below ``drivers`` and ``routers`` (which may not import each other) and above
``engine``: connection settings and kubeconfig contexts (``client``), names and labels a
version's objects get (``names``), and the object edits both sides make (``objects``).
"""
