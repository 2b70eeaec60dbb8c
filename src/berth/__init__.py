"""berth: a container engine, image builder and image registry."""

__version__ = "0.1.0"
__all__ = ["Engine", "ContainerSpec", "BuildRequest", "__version__"]
_LAZY = {"Engine": "berth.engine", "ContainerSpec": "berth.container.spec", "BuildRequest": "berth.build.request"}


def __getattr__(name):
    # Lazy so that `import berth` (and CLI start-up) stays cheap.
    if name in _LAZY:
        import importlib
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(name)
