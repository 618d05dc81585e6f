"""The local stack: ``python -m stack`` runs the whole system on this machine."""
