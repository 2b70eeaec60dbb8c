"""berth: a container engine, image builder and image registry."""

__version__ = "0.1.0"
__all__ = ["Engine", "__version__"]


def __getattr__(name):
    # Lazy so that `import berth` (and CLI start-up) stays cheap.
    if name == "Engine":
        from berth.engine import Engine
        return Engine
    raise AttributeError(name)
