"""The sample service runwright deploys in its demo, examples, tests and benchmarks.

It stands alone (standard library only, nothing else of runwright), because it plays the part
of *your* service: ``python -m runwright.demo --port P --version V``. See ``service.py``.
"""

from runwright.demo.service import Config, DemoServer, serve

__all__ = ["Config", "DemoServer", "serve"]
