"""The agent's brains: an offline one (rules and small libraries, no language model) and an LLM one.

The offline brain must keep working when no model is reachable, so everything it needs to
fill a booking — dates, halls, phones, ID digits, yes/no answers — lives in `slots` as pure
functions that tests can pin down exactly.
"""
