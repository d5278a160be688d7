"""The aiohttp application every channel plugs into: create_app, keys, limits, probes, delivery."""
