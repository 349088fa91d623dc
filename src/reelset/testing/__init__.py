"""Local stand-ins for the internet (fake hub, Range-capable media server) and sample generators.

Shared by the demo and the test suite: every remote service reelset talks to has a real server here on 127.0.0.1.
"""
