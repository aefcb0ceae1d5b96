"""bimpe-mcp: a Model Context Protocol server for BimpeAI voice agents."""

__version__ = "0.1.0"
