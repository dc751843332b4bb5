"""Drivers change the world: start and stop service versions, move traffic between them."""
