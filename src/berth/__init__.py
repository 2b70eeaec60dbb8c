"""berth: a container engine, image builder and image registry."""

__version__ = "0.1.0"
__all__ = ["Engine", "ContainerSpec", "BuildRequest", "__version__"]
_LAZY = {"Engine": "berth.engine", "ContainerSpec": "berth.container.spec", "BuildRequest": "berth.build.request"}


def __getattr__(name):
    # Lazy so that `import berth` (and CLI start-up) stays cheap; __import__, as importlib (with
    # warnings) is ~0.6 ms of start-up
    if name in _LAZY:
        return getattr(__import__(_LAZY[name], fromlist=[name]), name)
    raise AttributeError(name)
