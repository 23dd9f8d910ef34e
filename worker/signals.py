"""Celery signal handlers: process set-up for workers and beat."""

from __future__ import annotations
