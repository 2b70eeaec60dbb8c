"""Packaging hook: the per-container monitor is C (src/berth/runtime/monitor.c). A wheel carries it
built for the platform it was built on; `make setup` builds it in place for the development tree."""
import os
import subprocess

from setuptools import setup
from setuptools.command.build_py import build_py
from setuptools.dist import Distribution

SOURCE = os.path.join("src", "berth", "runtime", "monitor.c")


class BuildPyWithMonitor(build_py):
    def run(self):
        super().run()
        target = os.path.join(self.build_lib, "berth", "runtime", "berth-monitor")
        subprocess.run([os.environ.get("CC", "cc"), "-O2", "-Wall", "-o", target, SOURCE], check=True)


class BinaryDistribution(Distribution):
    def has_ext_modules(self):  # a platform wheel, not py3-none-any: it holds a compiled program
        return True


setup(cmdclass={"build_py": BuildPyWithMonitor}, distclass=BinaryDistribution)
