"""The BimpeAI Agent Console API as this server uses it: the contract, the wire models, the client and its failures.

Importing this package costs nothing: the client (and with it the HTTP stack) loads only when a tool first needs it.
"""
