"""GitHub: the REST API client (client.py, the only module that imports PyGithub) and Actions I/O (actions_io.py)."""
