"""Building blocks of the fake LLM provider (see ``tests/fake_provider.py`` for the server)."""
