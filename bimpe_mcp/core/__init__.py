"""What every layer above the API client shares: the settings, the server's clock, the result models and their
compact text, the tool errors, and where log records go."""
