"""The MCP surface: the server built from the tools, resources and prompts, the protocol features MCPServer leaves
to it, and the two transports (stdio, streamable HTTP)."""
