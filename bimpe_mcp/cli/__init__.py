"""The command line: `serve`, `sandbox` and `doctor`, the settings as flags, and the command a client runs."""
