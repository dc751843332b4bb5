"""Step kinds: one module per kind, each behind the Step protocol in base.py."""
