"""newsworker: feeds in, stories enriched with cited entity profiles out.

The source folders at the repository's top level (config, stages, storage, tasks, worker) are
this package's sub-packages; the links beside this file map them under one import name.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("newsworker")
except PackageNotFoundError:  # running from a checkout that was never installed
    __version__ = "0+unknown"
