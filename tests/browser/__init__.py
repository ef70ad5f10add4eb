"""Browser tests of the explorer page (a package, so its conftest does not shadow tests/conftest.py)."""
