"""The pipeline: its declaration (flow.py), the run document (models.py), the agents and the local runner."""
