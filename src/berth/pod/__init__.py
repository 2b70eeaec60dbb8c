"""Pods: containers that share one network (one IP, ports published once), IPC and UTS namespaces,
held by an infra container, and one cgroup with the pod's limits."""
