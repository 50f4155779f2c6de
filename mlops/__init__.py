"""GitHub-Issue-driven MLOps pipeline."""

__version__ = "0.1.0"
