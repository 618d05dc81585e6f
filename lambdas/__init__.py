"""Handlers that AWS Lambda runs from the web app's image (and local loops that call them)."""
