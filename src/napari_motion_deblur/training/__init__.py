"""Training scripts for the package's networks (run as ``python -m ...training.<name>``)."""
