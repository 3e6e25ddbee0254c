"""Provincial SOC: the core package (config, ECS events, inventory, pipeline, store, CLI)."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("provincial-soc")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0"
