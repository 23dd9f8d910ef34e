"""The Celery tasks and the pipeline that runs the stages against the store."""
