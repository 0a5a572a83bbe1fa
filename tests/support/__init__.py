"""Code shared by the tests: waiting, scripted executors, task builders, plugin stacks, fakes.

Tests import it absolutely (``from tests.support.engine import load``); the repository
root is on ``sys.path`` when pytest runs as ``python -m pytest`` from it.
"""
