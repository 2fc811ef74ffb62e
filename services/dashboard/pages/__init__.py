"""Dashboard pages: each a layout function plus callbacks registered on the app."""
