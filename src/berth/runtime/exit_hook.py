"""conmon's exit command: `python -m berth.runtime.exit_hook --root ROOT container cleanup ID`.

While a foreground client (`berth run` without -d) holds the container's `attached` lock, that
client records the exit and removes a --rm container itself, so this hook returns at once with
only `os` and `fcntl` imported. Otherwise it runs the full `berth container cleanup` (record the
exit, auto-remove, restart policy).
"""
import fcntl
import os
import sys


def main(argv: list[str]) -> None:
    root, cid = argv[argv.index("--root") + 1], argv[-1]
    try:
        fd = os.open(os.path.join(root, "containers", cid, "attached"), os.O_RDWR | os.O_CLOEXEC)
    except OSError:
        fd = -1
    if fd >= 0:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os._exit(0)  # a foreground client is attached and takes care of it
        finally:
            os.close(fd)
    from berth.cli.main import main as cli_main
    sys.argv = ["berth", *argv]
    cli_main()


if __name__ == "__main__":
    main(sys.argv[1:])
