"""Every error berth reports to a user, grouped by area. Imports nothing.

Each class says once how a front end reports it: `exit_code` for the CLI (docker's codes) and
`http_status` for an HTTP API (dockerd's statuses). Most derive from one of the four kinds below, so a
front end needs no list of classes: not found is 404, a conflict 409, a refused request 400. Every
message is one line a user can act on.
"""


class BerthError(Exception):
    """Base for every error berth reports to a user."""
    exit_code = 1
    http_status = 500


# ---- kinds ------------------------------------------------------------------------------------

class NotFound(BerthError, LookupError):
    http_status = 404


class Conflict(BerthError):
    """The operation would break something in use (a running container, a tagged image, a name)."""
    http_status = 409


class InvalidArgument(BerthError):
    """A request the engine refuses as given (a malformed option, reference, pattern, ...)."""
    http_status = 400


class UsageRefused(InvalidArgument):
    """What docker's client itself refuses before it asks the engine (a size, a port, a -v spec, an
    env file): docker exits 125 for these, 1 for what the engine refuses."""
    exit_code = 125


# ---- references and content (oci, archive, store) ----------------------------------------------

class InvalidReference(InvalidArgument, ValueError):
    pass


class InvalidDigest(InvalidArgument, ValueError):
    pass


class BadPattern(InvalidArgument, ValueError):
    """A malformed wildcard pattern (COPY source, .dockerignore line, image reference filter)."""


class DigestMismatch(BerthError):
    """Content does not hash to the digest it was named by."""


class InvalidImage(BerthError):
    """An image archive, manifest or config is malformed."""
    http_status = 400


class ArchiveError(BerthError):
    """A tar stream is malformed, truncated or tries to leave its root."""
    http_status = 400


class UnsafeArchive(ArchiveError):
    """A tar entry would create or change something outside the target directory."""


class StoreError(BerthError):
    pass


class ImageNotFound(NotFound):
    pass


# ---- containers, volumes, files and the runtime ------------------------------------------------

class ContainerNotFound(NotFound):
    pass


class VolumeNotFound(NotFound):
    pass


class InvalidOption(InvalidArgument):
    """A container or volume option the engine refuses."""


class FlagError(InvalidOption, UsageRefused):
    """An option docker's client itself refuses (see UsageRefused)."""


class ChangeError(InvalidArgument):
    """A `commit --change` instruction that is not allowed or malformed."""


class CopyError(BerthError):
    """A copy between the host, a container or a build context cannot be done as asked."""


class CopyPathNotFound(CopyError, NotFound):
    """A path to copy from or into does not exist."""


class NotADirectory(CopyError, InvalidArgument):
    """A path that must be a directory (an extraction point, `PATH/`) is not one."""


class CopyTypeClash(CopyError, Conflict):
    """A copy would replace a directory with a non-directory or the other way round."""


class CopyForbidden(CopyError):
    """The destination may not be written (a read-only root filesystem)."""
    http_status = 403


class RuntimeFailure(BerthError):
    """The OCI runtime (runc, crun) failed or is missing."""


class CreateFailed(RuntimeFailure):
    """The runtime could not create the container. exit_code follows docker: 127 when the command
    is not found, 126 when it cannot be run, 1 otherwise."""

    def __init__(self, message: str, exit_code: int = 1):
        super().__init__(message)
        self.exit_code = exit_code


class ExecFailed(BerthError):
    """`exec` could not start the process (no such user): docker exits 126 for it."""
    exit_code = 126


class NetworkError(BerthError):
    pass


class NetworkNotFound(NotFound):
    pass


class PortAllocated(NetworkError):
    """A host port another container or service publishes, or a host process holds (dockerd answers
    500 with the same message)."""


class ServiceNotFound(NotFound):
    pass


class PodNotFound(NotFound):
    pass


# ---- builds -----------------------------------------------------------------------------------

class BuildError(BerthError):
    pass


class DockerfileError(BuildError, InvalidArgument):
    """A Dockerfile cannot be parsed or evaluated; the message is `FILE:LINE: problem`."""

    def __init__(self, filename: str, line: int | None, problem: str):
        where = f"{filename}:{line}" if line else filename
        super().__init__(f"{where}: {problem}")
        self.filename, self.line, self.problem = filename, line, problem


class ContextError(BuildError):
    """The build context cannot be read as asked."""
    http_status = 400


class IgnoreFileError(ContextError):
    """A .dockerignore that cannot be used."""


class SourceError(BuildError):
    """A COPY/ADD source that does not exist or may not be used."""


class DownloadError(BuildError):
    """ADD <url> failed."""


class StepFailed(BuildError):
    """A RUN command exited non-zero; `status` is its exit status, as docker reports it."""

    def __init__(self, message: str, status: int):
        super().__init__(message)
        self.status = status


# ---- registries -------------------------------------------------------------------------------

class RegistryClientError(BerthError):
    """A registry refused or failed a request; its HTTP `status` and the spec's `code` when known."""

    def __init__(self, message: str, status: int = 0, code: str = ""):
        super().__init__(message)
        self.status, self.code = status, code
