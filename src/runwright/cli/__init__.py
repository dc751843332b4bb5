"""The command line edge: parse input, render output, map errors to messages and exit codes."""
