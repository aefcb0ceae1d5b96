"""Operator policy for place_call: which numbers may be rung, how many calls and when, how a human confirms a call,
and the record of every attempt. `Policy.decide` (gate.py) runs the checks in order before anything is dialled."""
