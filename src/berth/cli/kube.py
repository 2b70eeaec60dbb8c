"""`berth kube ...`: Kubernetes YAML, as podman's CLI has it: play it on this machine's pods (berth.kube.play),
take it down, generate it. PyYAML is imported inside the commands only, not at the CLI's start-up."""
from __future__ import annotations

import os

from berth.cli.cmdline import Group, argument, echo, option

kube = Group("kube", "Play containers, pods and volumes from Kubernetes YAML, or generate it.")


@kube.command("generate")
@option("-s", "--service", is_flag=True, help="Generate a Service (NodePort) for each pod's published ports.")
@option("-t", "--type", "kind", default="pod", choices=["pod", "deployment"],
        help="The kind of workload to generate: pod or deployment.")
@option("-r", "--replicas", type=int, help="Replicas of a deployment (default 1).")
@option("-f", "--filename", help="Write the YAML to this file instead of STDOUT.")
@argument("names", nargs=-1, required=True)
def generate_cmd(engine, service, kind, replicas, filename, names):
    """Generate Kubernetes YAML for real clusters from containers and pods."""
    from berth.kube.generate import collect, generate, to_yaml
    result = generate(collect(engine, list(names)), kind, service, replicas)
    text = to_yaml(result.documents)
    for warning in result.warnings:
        echo(f"Warning: {warning}", err=True)
    if filename is None or filename == "-":
        echo(text.rstrip("\n"))
    else:
        from berth.atomicfile import atomic_write
        umask = os.umask(0)
        os.umask(umask)
        atomic_write(filename, text.encode(), mode=0o666 & ~umask)



def _documents(path: str):
    from berth.kube import yamlfile
    data, source = yamlfile.read(path)
    return yamlfile.load(data, source)


@kube.command("play")
@option("--replace", is_flag=True, help="Take down what an earlier play of the same YAML made first.")
@option("--network", help="The network of the pods (default: berth-kube, made when missing).")
@option("--start", is_flag=True, default=True, help="Start the pods (--start=false: only create them).")
@option("--configmap", "configmaps", multiple=True, help="A YAML file of ConfigMaps the documents use.")
@option("--wait", is_flag=True, help="Wait for every Job to finish and report its exit code.")
@argument("file")
def play_cmd(engine, replace, network, start, configmaps, wait, file):
    """Create pods, containers and volumes from Kubernetes YAML (FILE, or - for stdin)."""
    from berth.errors import InvalidArgument
    from berth.kube import plan, play
    if file == "-" and "-" in configmaps:
        raise InvalidArgument("stdin can be read once: FILE and --configmap cannot both be -")
    documents = _documents(file)
    extra = [d for path in configmaps for d in _documents(path)]
    the_plan = plan.build(documents, network, extra)
    for line in the_plan.warnings:
        echo(f"warning: {line}", err=True)
    if replace:
        play.down(engine, plan.targets(documents, network))
    made = play.play(engine, the_plan, start, report=lambda line: echo(line, err=True))
    if made.network:
        echo(f"Network:\n{made.network}")
    if made.volumes:
        echo("Volumes:\n" + "\n".join(made.volumes))
    for pod, pod_id, ids in made.pods:
        echo(f"Pod:\n{pod_id}\nContainers:\n" + "\n".join(ids))
    if made.services:
        echo("Services:\n" + "\n".join(made.services))
    if not wait:
        return 0
    failed = 0
    for result in play.wait_jobs(engine, made):
        outcome = "completed" if result.exit_code == 0 else "failed"
        echo(f"Job {result.job}: pod {result.pod} container {result.container} {outcome} "
             f"(exit code {result.exit_code})")
        failed += result.exit_code != 0
    return 1 if failed else 0


@kube.command("down")
@option("--volumes", is_flag=True, help="Remove the PersistentVolumeClaims' volumes too.")
@option("--network", help="The network the pods were played on (when not the default).")
@argument("file")
def down_cmd(engine, volumes, network, file):
    """Remove the pods, containers, volumes and network `kube play` made from the YAML (FILE or -)."""
    from berth.kube import plan, play
    removed = play.down(engine, plan.targets(_documents(file), network), volumes)
    if removed.pods:
        echo("Pods removed:\n" + "\n".join(pod_id for _, pod_id in removed.pods))
    if removed.volumes:
        echo("Volumes removed:\n" + "\n".join(removed.volumes))
    if removed.services:
        echo("Services removed:\n" + "\n".join(removed.services))
    if removed.network:
        echo(f"Network removed:\n{removed.network}")
    if not (removed.pods or removed.volumes or removed.services or removed.network):
        echo("nothing to remove")
