"""Persistence: the government-service domain on sqlmodel, residents, audit, checkpoints.

The lowest layer: it imports nothing else of tongban's.
"""
