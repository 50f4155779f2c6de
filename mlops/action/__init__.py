"""The GitHub Action's entry point: `python -m mlops.action start|comment|record|rollback` (docs/github-action.md)."""
