"""`berth build`: run a Dockerfile's stages into images in the store.

Each stage starts from its base (an image in the store, pulled when missing, `scratch`, or an
earlier stage) and applies its instructions in order: metadata instructions change the image
config (with an `empty_layer` history entry); RUN, COPY and ADD run in a StepRootfs over the
stage's layers and leave one layer each; WORKDIR leaves a layer only when it creates the directory.
Only the stages the target needs are built (stagegraph.target_stages).

The cache (cache.py) maps a step's inputs to its result; a miss is explained from the nearest
earlier build of the same step. Nothing is tagged unless the whole build succeeded.
"""
from __future__ import annotations

import copy
import json
import os
import posixpath
import time

from berth import dockerfile as df
from berth.build.cache import BuildCache
from berth.build.run import StepRootfs
from berth.build.scopes import PLATFORM_ARGS, PROXY_ARGS, GlobalScope
from berth.build.stagegraph import target_stages
from berth.container import imageconfig
from berth.errors import ImageNotFound, StepFailed
from berth.image.config import DEFAULT_PATH
from berth.oci.image import canonical_json
from berth.oci.platform import Platform
from berth.timefmt import rfc3339

class _Stage:
    """What a stage has built so far: its config, layers, and the cache key of its last step."""

    def __init__(self, config: dict, layers: list, key: str):
        self.config, self.layers, self.key = config, layers, key
        self.shell = list(imageconfig.DEFAULT_SHELL)
        self.cmd_set = False

    @property
    def parent(self):
        return self.layers[-1].chain_id if self.layers else None

    def lowers(self, store) -> list[str]:
        return [store.layers.diff_path(layer.chain_id) for layer in reversed(self.layers)]


class Builder:
    def __init__(self, engine):
        self.engine = engine
        self.store = engine.store
        self.cache = BuildCache(self.store)

    def build(self, context, opts):
        """Build from a BuildContext as a BuildRequest (`opts`) asks; returns the final Image, tagged."""
        dockerfile = df.parse(context.dockerfile, context.dockerfile_name)
        for warning in dockerfile.warnings:
            opts.say(f"WARNING: {warning}")
        host = Platform.host()
        scope = GlobalScope(dockerfile, opts.build_args, host, host)
        stages = target_stages(dockerfile, opts.target, scope)
        unused = set(opts.build_args) - dockerfile.declared_args() - set(PROXY_ARGS) - set(PLATFORM_ARGS)
        if unused:
            opts.say(f"WARNING: build args not consumed: {', '.join(sorted(unused))}")
        built: dict[int, _Stage] = {}
        # this build's state, for COPY --from and RUN --mount sources
        self._built, self._dockerfile, self._context = built, dockerfile, context
        total = sum(len(rs.stage.instructions) + 1 for rs in stages)
        step = 0
        for rs in stages:
            step += 1
            opts.say(f"[{step}/{total}] FROM {rs.base}" + (f" AS {rs.stage.name}" if rs.stage.name else ""))
            state = self._base(rs, built, opts)
            variables = scope.stage_scope(state.config.get("config", {}).get("Env") or [])
            triggers = self._onbuild_triggers(state, rs)
            for i, ins in enumerate(triggers + list(rs.stage.instructions)):
                step += 1 if i >= len(triggers) else 0
                ins = variables.step(ins)
                opts.say(f"[{step}/{total}] {ins.original.strip()}")
                self._apply(ins, state, variables, opts)
            built[rs.stage.index] = state
        final = built[stages[-1].stage.index]
        config = final.config
        if opts.labels:
            config.setdefault("config", {}).setdefault("Labels", {}).update(opts.labels)
        history = config.get("history") or []
        config["created"] = history[-1]["created"] if history else rfc3339(self._now(opts))
        config_bytes = canonical_json(config)
        image = self.store.images.add(config_bytes, final.layers, opts.references)
        return image

    # ---- stages ----------------------------------------------------------------------------

    def _base(self, rs, built: dict, opts) -> _Stage:
        if rs.is_scratch:
            host = Platform.host()
            # docker gives a scratch stage the default PATH, so that RUN and the image's command find binaries
            config = {"architecture": host.architecture, "os": host.os, "config": {"Env": [DEFAULT_PATH]},
                      "rootfs": {"type": "layers", "diff_ids": []}, "history": []}
            return _Stage(config, [], self.cache.key("scratch", DEFAULT_PATH))
        if rs.base_stage is not None:
            parent = built[rs.base_stage]
            state = _Stage(copy.deepcopy(parent.config), list(parent.layers), parent.key)
            state.shell = list(parent.shell)
            return state
        image = None
        if not opts.pull:
            try:
                image = self.engine.images.get(rs.base)
            except ImageNotFound:
                image = None
        if image is None:
            opts.say(f"pulling {rs.base}")
            image = self.engine.registries.pull(rs.base)
        config = copy.deepcopy(self.store.images.config(image).doc)
        # docker's builders: a base without PATH (an imported rootfs) gets the default one, first
        run_config = config["config"] = config.get("config") or {}
        env = run_config.get("Env") or []
        if not any(e.startswith("PATH=") for e in env):
            run_config["Env"] = [DEFAULT_PATH, *env]
        return _Stage(config, self.store.images.layers(image), self.cache.key("image", str(image.id)))

    def _onbuild_triggers(self, state: _Stage, rs) -> list:
        triggers = state.config.get("config", {}).pop("OnBuild", None) or []
        return [df.parse_trigger(t, f"ONBUILD of {rs.base}") for t in triggers]

    # ---- instructions ----------------------------------------------------------------------

    def _apply(self, ins, state: _Stage, variables, opts) -> None:
        cfg = state.config.setdefault("config", {})
        if isinstance(ins, df.Run):
            return self._run(ins, state, variables, opts)
        if isinstance(ins, (df.Copy, df.Add)):
            return self._copy(ins, state, opts)
        imageconfig.apply(cfg, ins, state.shell, state.cmd_set)
        if isinstance(ins, df.Workdir):
            return self._workdir(ins, state, cfg["WorkingDir"], opts)
        if isinstance(ins, df.Cmd):
            state.cmd_set = True
        elif isinstance(ins, df.Shell):
            state.shell = list(ins.command)
        elif isinstance(ins, df.Maintainer):
            state.config["author"] = ins.name
        # (ARG is applied by the stage scope; RUN's environment is in its own cache key)
        # cached like any step, so that a rebuild reuses the history entry (and its time): the same image
        key = self.cache.key(state.key, ins.keyword, canonical_json(cfg).decode(), state.config.get("author", ""))
        hit = None if opts.no_cache else self.cache.get(key)
        if hit is not None:
            state.config, state.key = hit[1], key
            return
        self._history(state, ins, opts, empty=True)
        self.cache.put(key, state.key, ins.keyword, {"config": cfg}, None, state.config)
        state.key = key

    def _run(self, ins, state: _Stage, variables, opts) -> None:
        cfg = state.config.get("config", {})
        script = ins.heredoc_script()
        if script and script[0] == "file":
            args = ["/bin/sh", "-c", f"cat > /.berth-run <<'__BERTH_EOF__'\n{script[1]}__BERTH_EOF__\n"
                                     "chmod +x /.berth-run && exec /.berth-run"]
        elif script:
            args = state.shell + [script[1]]
        else:
            args = imageconfig.command(ins, state.shell)
        if not args:
            raise ins.error("RUN needs a command")
        env = [f"{k}={v}" for k, v in variables.run_env().items()]
        inputs = {"args": args, "env": sorted(env), "user": cfg.get("User", ""),
                  "workdir": cfg.get("WorkingDir") or "/", "network": opts.network if ins.network in ("", "default") else ins.network}
        if ins.mounts:  # what they are and what a bind shows; never what caches or secrets hold (as BuildKit)
            inputs["mounts"] = [[m.type, m.target, m.source, m.from_, m.id, m.readonly, self._bind_content(m, ins)]
                                for m in ins.mounts]
        key = self.cache.key(state.key, "RUN", json.dumps(inputs, sort_keys=True))
        if self._cached(key, state, ins, inputs, opts):
            return
        def output(data: bytes):
            for line in data.decode(errors="replace").splitlines():
                opts.say(f"  {line}")
        from contextlib import ExitStack
        with ExitStack() as sources, \
                StepRootfs(self.store, self.engine.containers.runtime(), state.lowers(self.store)) as step:
            mounts = [self._run_mount(m, ins, sources, opts) for m in ins.mounts]
            code = step.run(args, env=env, workdir=cfg.get("WorkingDir") or "/", user=cfg.get("User", ""),
                            network=inputs["network"], output=output, mounts=mounts)
            if code != 0:
                shown = " ".join(args[2:] if args[:2] == state.shell else args)
                raise StepFailed(f"{ins.filename}:{ins.line}: RUN {shown!r} failed with exit code {code}", code)
            layer = step.layer(state.parent, opts.source_date_epoch)
        self._add_layer(state, layer, ins, opts, key, inputs)

    def _run_mount(self, m, ins, sources, opts):
        """A RUN --mount as an OCI mount. cache: a directory kept in the store across builds (by id,
        default the target); tmpfs: fresh memory; bind: from the context, a stage or an image,
        read-only unless rw; secret: a file given with --secret, never part of a layer or key."""
        from berth.runtime import spec
        target = m.target if m.target.startswith("/") else posixpath.join("/", m.target)
        if m.type == "tmpfs":
            return spec.Mount(target, "tmpfs", "tmpfs", ["nosuid", "nodev"] + ([f"size={m.size}"] if m.size else []))
        if m.type == "cache":
            name = self.cache.key("cache-mount", m.id or target)
            path = self.store.build_cache.mount_dir(name)
            if not os.path.isdir(path):
                os.makedirs(path, mode=0o755)
                if m.uid is not None or m.gid is not None:
                    os.chown(path, m.uid or 0, m.gid or 0)
                if m.mode is not None:
                    os.chmod(path, m.mode)
            return spec.Mount(target, path, "bind", ["rbind", "rprivate"])
        if m.type == "secret":
            name = m.id or posixpath.basename(target)
            source = opts.secrets.get(name)
            if source is None:
                raise ins.error(f"secret {name!r} was not given (--secret id={name},src=FILE)")
            return spec.Mount(target if m.target else f"/run/secrets/{name}", source, "bind",
                              ["rbind", "rprivate", "ro"])
        if m.type == "bind":  # rw writes land in a throw-away upper dir, whichever the source
            if m.from_:
                path = _inside(sources.enter_context(_CopySource(self, m.from_, ins, by_index=False)),
                               m.source or "/", ins)
            else:
                from berth.build.contextmount import ContextView
                root = sources.enter_context(self._context_root(ins))
                source = _bind_source(root, m, ins)
                path = sources.enter_context(ContextView(root, self.store.tmp)).path(source)
            return spec.Mount(target, path, "bind", ["rbind", "rprivate"] + (["ro"] if m.readonly else []))
        raise ins.error(f"RUN --mount=type={m.type} is not supported")

    def _bind_content(self, m, ins) -> str:
        """What a bind mount shows, for the cache key: a context source's content, the result of
        a stage, an image's ID."""
        if m.type != "bind":
            return ""
        if m.from_:
            return _CopySource(self, m.from_, ins, by_index=False).identity()
        from berth.build.contextmount import digest
        with self._context_root(ins) as root:
            return digest(root, _bind_source(root, m, ins))

    def _context_root(self, ins):
        if self._context.root is None:
            raise ins.error("RUN --mount=type=bind needs a build context or from=")
        return self._context.source_root()

    def _copy(self, ins, state: _Stage, opts) -> None:
        # --link (BuildKit: copy into an empty layer stacked on the stage, so that it survives a new
        # base) copies as without it: the same files in every usual case. Where BuildKit differs,
        # berth keeps the image as it was: existing parent directories keep their mode and owner
        # (BuildKit's layer resets them to 0755 and the --chown owner, moby/moby#44956) and a symlink
        # on the destination path is followed inside the root (BuildKit's layer hides it behind a
        # directory). The step is cached on the previous one, as any COPY.
        from berth.build.copying import check_many_sources, destination, is_remote, parse_chmod, plan_copy
        from berth.errors import CopyError
        cfg = state.config.get("config", {})
        workdir = cfg.get("WorkingDir") or "/"
        urls = [s for s in ins.sources if is_remote(s)]
        local = [s for s in ins.sources if not is_remote(s)]
        try:
            chmod = parse_chmod(ins.chmod) if ins.chmod else None
            if urls:  # before any download (plan_copy checks local sources alone)
                check_many_sources(len(ins.sources), destination(ins.dest, workdir)[1], ins.keyword)
        except CopyError as err:
            raise ins.error(str(err)) from None
        _check_remote(ins, urls)
        unpack = isinstance(ins, df.Add) and not ins.inline
        from_ = getattr(ins, "from_", "")
        context = self._context
        from contextlib import ExitStack
        with ExitStack() as stack:
            root = stack.enter_context(_CopySource(self, from_, ins))
            inline = stack.enter_context(_Heredocs(self.store, ins))
            downloads = stack.enter_context(_Downloads(self.store, ins, urls, workdir, opts))
            plan_kw = {"workdir": workdir, "excludes": ins.excludes, "parents": getattr(ins, "parents", False),
                       "unpack": unpack, "instruction": ins.keyword}
            plan = None
            if inline is not None:  # COPY <<EOF: the bodies are the sources (files 0644, owned 0:0)
                plan = plan_copy(inline, [hd.name for hd in ins.inline], ins.dest, label="heredoc", **plan_kw)
            elif root is not None:
                # files from a stage or an image keep their owners unless --chown (both docker builders)
                plan = plan_copy(root, ins.sources, ins.dest, label=f"stage {from_}", keep_owner=True, **plan_kw)
            elif local:
                if context.root is None:
                    raise ins.error(f"{ins.keyword} needs a build context (the Dockerfile came from stdin)")
                plan = context.plan(local, ins.dest, **plan_kw)
            plans = [stack.enter_context(plan)] if plan is not None else []
            checksums = [plan.checksum() for plan in plans]
            if urls:
                # docker classic downloads before it looks at the cache, so that a changed remote file
                # misses it; --checksum names the content beforehand (and BuildKit then skips the download)
                checksums.append(ins.checksum or downloads.fetch())
            inputs = {"sources": ins.sources, "dest": ins.dest, "workdir": workdir, "chown": ins.chown,
                      "chmod": ins.chmod, "from": from_, "checksum": " ".join(checksums)}
            key = self.cache.key(state.key, ins.keyword, json.dumps(inputs, sort_keys=True))
            if self._cached(key, state, ins, inputs, opts):
                return
            if urls:
                downloads.fetch()
                plans.append(stack.enter_context(downloads.plan()))
            with StepRootfs(self.store, self.engine.containers.runtime(), state.lowers(self.store)) as step:
                owner = None
                if ins.chown:
                    from berth.runtime.users import chown_ids
                    owner = chown_ids(step.rootfs, ins.chown)
                # local sources, then downloads: docker takes them in the order given, which only a
                # local file and a URL of the same name in one ADD could tell apart
                for plan in plans:
                    plan.materialize(step.rootfs, chown=owner, chmod=chmod)
                layer = step.layer(state.parent, opts.source_date_epoch)
        self._add_layer(state, layer, ins, opts, key, inputs)

    def _workdir(self, ins, state: _Stage, workdir: str, opts) -> None:
        key = self.cache.key(state.key, "WORKDIR", workdir)  # as configured: `/a/` and `/a` differ in the config
        inputs = {"path": workdir}
        if self._cached(key, state, ins, inputs, opts):
            return
        path = posixpath.normpath(workdir)
        with StepRootfs(self.store, self.engine.containers.runtime(), state.lowers(self.store)) as step:
            from berth.build.copying import make_dir
            from berth.errors import CopyError
            try:
                created = make_dir(step.rootfs, path, "WORKDIR")
            except CopyError as err:
                raise ins.error(str(err)) from None
            layer = step.layer(state.parent, opts.source_date_epoch) if created else None
        if layer is None:
            self._history(state, ins, opts, empty=True)
            self.cache.put(key, state.key, ins.keyword, inputs, None, state.config)
            state.key = key
            return
        self._add_layer(state, layer, ins, opts, key, inputs)

    # ---- layers, history, cache ------------------------------------------------------------

    def _add_layer(self, state: _Stage, layer, ins, opts, key: str, inputs: dict) -> None:
        parent_key = state.key
        state.layers.append(layer)
        state.config.setdefault("rootfs", {"type": "layers", "diff_ids": []})["diff_ids"].append(str(layer.diff_id))
        self._history(state, ins, opts, empty=False)
        state.key = key
        self.cache.put(key, parent_key, ins.keyword, inputs, layer.chain_id, state.config)

    def _cached(self, key: str, state: _Stage, ins, inputs: dict, opts) -> bool:
        if opts.no_cache:
            return False
        hit = self.cache.get(key)
        if hit is not None:
            chain_id, config = hit
            layer = self.store.layers.get(chain_id) if chain_id else None
            if chain_id is None or layer is not None:
                if layer is not None:
                    state.layers.append(layer)
                state.config = config
                state.key = key
                opts.say("  CACHED")
                return True
        if opts.explain:
            opts.say(f"  cache miss: {self.cache.explain(state.key, ins.keyword, inputs)}")
        return False

    def _history(self, state: _Stage, ins, opts, empty: bool) -> None:
        entry = {"created": rfc3339(self._now(opts)), "created_by": f"{ins.original.strip()} # buildkit",
                 "comment": "buildkit.dockerfile.v0"}
        if empty:
            entry["empty_layer"] = True
        state.config.setdefault("history", []).append(entry)

    @staticmethod
    def _now(opts) -> float:
        return opts.source_date_epoch if opts.source_date_epoch is not None else time.time()


class _Heredocs:
    """COPY/ADD heredoc sources written as files into a staging directory (None without heredocs)."""

    def __init__(self, store, ins):
        self.store, self.ins, self.staging = store, ins, None

    def __enter__(self) -> str | None:
        if not self.ins.inline:
            return None
        if self.ins.sources:
            raise self.ins.error(f"{self.ins.keyword}: heredoc and file sources in one instruction are not supported")
        from berth.store.fsutil import Staging
        self.staging = Staging(self.store.tmp, "heredoc-")
        for hd in self.ins.inline:
            if "/" in hd.name or hd.name in (".", ".."):
                raise self.ins.error(f"heredoc name {hd.name!r} cannot be a file name")
            path = os.path.join(self.staging.path, hd.name)
            with open(path, "w", encoding="utf-8") as f:
                f.write(hd.text)
            os.chmod(path, 0o644)
        return self.staging.path

    def __exit__(self, *exc):
        if self.staging is not None:
            self.staging.cleanup()


class _Downloads:
    """ADD's http(s) sources downloaded into a staging directory, one subdirectory per URL (two URLs
    may give the same file name), removed on exit. fetch() downloads them once and returns what the
    cache key needs of them: each file's name, content digest and mtime (BuildKit keys downloads on
    these too, so a cache hit never differs from what a fresh download would give)."""

    def __init__(self, store, ins, urls: list[str], workdir: str, opts):
        self.store, self.ins, self.urls, self.workdir, self.opts = store, ins, urls, workdir, opts
        self.staging = None
        self.files: list[str] = []  # relative to the staging directory
        self.summary = ""

    def __enter__(self) -> "_Downloads":
        return self

    def fetch(self) -> str:
        if self.staging is not None:
            return self.summary
        from berth.build.download import download
        from berth.errors import DownloadError
        from berth.oci.digest import Digest
        from berth.store.fsutil import Staging
        expected = Digest.parse(self.ins.checksum) if self.ins.checksum else None  # checked by _check_remote
        self.staging = Staging(self.store.tmp, "download-")
        fetched = []
        for index, url in enumerate(self.urls):
            directory = os.path.join(self.staging.path, str(index))
            os.mkdir(directory, 0o700)
            try:
                got = download(url, directory, expected)
            except DownloadError as err:
                raise self.ins.error(str(err)) from None
            if not got.name and self.ins.dest.endswith("/"):
                raise self.ins.error(f"cannot determine filename for source {url}")
            self.opts.say(f"  downloaded {url}: {got.size} bytes, {got.digest}")
            self.files.append(os.path.relpath(got.path, self.staging.path))
            fetched.append(f"{posixpath.basename(got.path)}:{got.digest}:{got.mtime}")
        self.summary = " ".join(fetched)
        return self.summary

    def plan(self):
        """The downloaded files as a copy plan (after fetch())."""
        from berth.build.copying import plan_downloads
        return plan_downloads(self.staging.path, self.files, self.ins.dest, workdir=self.workdir,
                              instruction=self.ins.keyword)

    def __exit__(self, *exc):
        if self.staging is not None:
            self.staging.cleanup()


def _check_remote(ins, urls: list[str]) -> None:
    """What BuildKit refuses before downloading anything: a URL in COPY, --checksum with anything but
    one http(s) source, a malformed checksum; and git sources, which berth does not fetch."""
    from berth.build.copying import is_git
    from berth.errors import InvalidDigest
    from berth.oci.digest import Digest
    for url in urls:
        if not isinstance(ins, df.Add):
            raise ins.error(f"source can't be a URL for {ins.keyword}: {url}")
        if is_git(url):
            raise ins.error(f"ADD from a git repository is not supported: {url} "
                            "(clone it in a RUN step, or ADD an archive URL)")
    checksum = getattr(ins, "checksum", "")
    if not checksum:
        return
    if len(ins.sources) + len(ins.inline) != 1:
        raise ins.error("checksum can't be specified for multiple sources")
    if not urls:
        raise ins.error("checksum can't be specified for non-HTTP(S) sources")
    try:
        Digest.parse(checksum)
    except InvalidDigest as err:
        raise ins.error(f"--checksum: {err}") from None


class _CopySource:
    """The root COPY --from (or RUN --mount from=) reads: an earlier stage's or an image's layers,
    mounted read-only. The stage is found as stagegraph.resolve_stages found it: an index for
    COPY only, else the last stage of that name."""

    def __init__(self, builder: Builder, ref: str, ins, by_index: bool = True):
        self.builder, self.ref, self.ins, self.by_index = builder, ref, ins, by_index
        self.built, self.dockerfile = builder._built, builder._dockerfile
        self.step = None

    def __enter__(self) -> str | None:
        if not self.ref:
            return None
        state = self._stage()
        layers = self.builder.store.images.layers(self._image()) if state is None else state.layers
        store = self.builder.store
        self.step = StepRootfs(store, self.builder.engine.containers.runtime(),
                               [store.layers.diff_path(layer.chain_id) for layer in reversed(layers)])
        self.step.__enter__()
        return self.step.rootfs

    def identity(self) -> str:
        """What the root holds, for a cache key: the stage's last step, or the image's ID."""
        state = self._stage()
        return state.key if state is not None else str(self._image().id)

    def _image(self):
        try:
            return self.builder.engine.images.get(self.ref)
        except ImageNotFound:
            return self.builder.engine.registries.pull(self.ref)

    def _stage(self):
        if self.by_index and self.ref.lstrip("+-").isdigit():
            index = int(self.ref)
            if index not in self.built:
                raise self.ins.error(f"COPY --from={self.ref}: no such stage before this one")
            return self.built[index]
        index = df.stage_by_name(self.dockerfile.stages, self.ref.lower(), len(self.dockerfile.stages))
        return None if index is None else self.built[index]

    def __exit__(self, *exc):
        if self.step is not None:
            self.step.close()


def _bind_source(root, m, ins):
    source = root.lookup(m.source or "/")
    if source is None:
        raise ins.error(f"RUN --mount source {m.source!r} does not exist in the build context")
    return source


def _inside(root: str, path: str, ins) -> str:
    """`path` resolved inside `root` the way the kernel resolves it in a chroot; the result cannot
    leave `root`, whatever symlinks say."""
    from berth.archive import securefs
    root_fd = os.open(root, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        fd = securefs.openat2(root_fd, path.lstrip("/") or ".", os.O_PATH | os.O_CLOEXEC,
                              securefs.RESOLVE_IN_ROOT | securefs.RESOLVE_NO_MAGICLINKS)
    except FileNotFoundError:
        raise ins.error(f"RUN --mount source {path!r} does not exist") from None
    finally:
        os.close(root_fd)
    try:
        return securefs.fd_path(fd)
    finally:
        os.close(fd)

