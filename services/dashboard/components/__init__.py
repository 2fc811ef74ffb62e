"""Reusable pieces of the dashboard's layout (Dash components, no data access)."""
