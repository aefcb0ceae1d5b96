"""Operator policy for place_call: which numbers may be rung, how many calls and when, how a human confirms a call,
and the record of every attempt. tools/placing.py runs the gate (gate.py) before anything is dialled."""
