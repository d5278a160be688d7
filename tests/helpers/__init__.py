"""Helpers the tests share (servers that speak a vendor's wire format, app builders, imports).

Test modules import from here or get fixtures from conftest files; never from each other.
"""
