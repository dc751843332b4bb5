"""The run engine: a pure state machine, the scheduler that does its I/O, the store, the clock."""
