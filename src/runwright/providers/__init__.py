"""Providers read signals (Prometheus, a /metrics scrape, an HTTP probe, a command) for checks."""
