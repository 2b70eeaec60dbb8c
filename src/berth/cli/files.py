"""File commands: cp, diff, commit, export (filled in by the container files work)."""


def register(cli):
    pass
