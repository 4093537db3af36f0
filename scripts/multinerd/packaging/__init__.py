"""Packaging: building the model package without this project as a requirement."""
