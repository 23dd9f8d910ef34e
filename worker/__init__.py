"""The worker process: the Celery app, process set-up, the command line, health and metrics."""
