"""Which hosts are this machine's loopback: the sandbox serves on nothing else, and a server without auth neither.

The standard library only, so that the command line and the HTTP server use this test without loading the emulator.
"""

from __future__ import annotations

import ipaddress


def is_loopback(host: str) -> bool:
    """`localhost`, or an IPv4 or IPv6 loopback address (127.0.0.0/8, ::1); no other name is looked up."""
    try:
        return host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
