"""newsworker: the worker process, the Celery app and the command line."""

__version__ = "0.1.0"
