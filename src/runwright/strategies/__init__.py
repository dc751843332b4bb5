"""Strategies expand a release (recreate, blue-green, canary) into plain steps; pure, no I/O."""
