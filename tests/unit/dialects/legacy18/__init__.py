"""The request translators as they were before session 18 (commit f7eebbd), frozen: what
``test_request_path18.py`` compares the current ones with, byte for byte. Only their imports of each other
are changed (to this package); everything else they import is the gateway's own. Not gateway code: never
imported outside that test."""
