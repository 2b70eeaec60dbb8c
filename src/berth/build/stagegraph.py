"""The stage graph: each stage's FROM evaluated, which stages and images it needs (its base,
COPY --from, RUN --mount from=), cycle checks, and the stages a target needs.

    for rs in target_stages(dockerfile, target, scope):   # in file order
        rs.base, rs.base_stage, rs.platform              # FROM evaluated with the global ARGs
"""
from __future__ import annotations

import re

from berth.build.scopes import GlobalScope
from berth.dockerfile import Copy, Dockerfile, Instruction, Run, Stage, stage_by_name
from berth.errors import DockerfileError
from berth.record import Record


class ResolvedStage(Record):
    """A stage with its FROM evaluated: `base` the expanded image (or stage name), `base_stage`
    the index of the stage it builds on (None for an image), `platform` the expanded --platform
    ("" when not given), `deps` the stages it needs (base, COPY --from, RUN --mount from=), and
    `images` the images COPY --from / --mount from= name that are not stages."""
    stage: Stage
    base: str
    base_stage: int | None = None
    platform: str = ""
    deps: list = []
    images: list = []

    @property
    def is_scratch(self) -> bool:
        return self.base_stage is None and self.base == "scratch"


def resolve_stages(dockerfile: Dockerfile, scope: GlobalScope | None = None) -> list[ResolvedStage]:
    """Every stage with its FROM evaluated and its dependencies; checks for cycles."""
    scope = scope or GlobalScope(dockerfile)
    stages = dockerfile.stages
    resolved = []
    for stage in stages:
        head = scope.expand_from(stage.from_instruction)
        # FROM names an earlier stage only, compared as written (stage names are lower-case)
        base_stage = stage_by_name(stages, head.image, stage.index)
        deps = [] if base_stage is None else [base_stage]
        images: list[str] = []

        def need(ref: str, ins: Instruction, by_index: bool):
            if by_index and re.fullmatch(r"[+-]?[0-9]+", ref):
                index = int(ref)
                if not 0 <= index < len(stages):
                    raise ins.error(f"invalid stage index {ref}")
                target = index
            else:
                target = stage_by_name(stages, ref.lower(), len(stages))
            if target is None:
                if ref not in images:
                    images.append(ref)
            elif target not in deps:
                deps.append(target)

        for ins in stage.instructions:
            if isinstance(ins, Copy) and ins.from_:
                need(ins.from_, ins, by_index=True)
            elif isinstance(ins, Run):
                for mount in ins.mounts:
                    if mount.from_:
                        need(mount.from_, ins, by_index=False)
        resolved.append(ResolvedStage(stage, head.image, base_stage, head.platform, sorted(deps), images))
    _check_cycles(dockerfile, resolved)
    return resolved


def _check_cycles(dockerfile: Dockerfile, resolved: list[ResolvedStage]) -> None:
    state: dict[int, str] = {}

    def visit(i: int):
        state[i] = "visiting"
        for dep in resolved[i].deps:
            if state.get(dep) == "visiting":
                stage = resolved[dep].stage
                raise DockerfileError(dockerfile.filename, stage.from_instruction.line,
                                      f"circular dependency detected on stage: {stage.label}")
            if dep not in state:
                visit(dep)
        state[i] = "done"

    for i in range(len(resolved)):
        if i not in state:
            visit(i)


def target_stages(dockerfile: Dockerfile, target: str | None = None,
                  scope: GlobalScope | None = None) -> list[ResolvedStage]:
    """The stages needed to build `target` (a stage name; default the last stage): the target and
    everything it depends on transitively, in file order."""
    resolved = resolve_stages(dockerfile, scope)
    goal = len(resolved) - 1 if target is None else dockerfile.stage(target).index
    needed, todo = set(), [goal]
    while todo:
        i = todo.pop()
        if i not in needed:
            needed.add(i)
            todo.extend(resolved[i].deps)
    return [rs for rs in resolved if rs.stage.index in needed]
