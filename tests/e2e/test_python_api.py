"""The README's Python API example, run as written (with this test's store, context and registry):
build -> run -> logs -> push through berth.Engine alone, against a real `berth registry serve`."""
import contextlib
import io
import json
import re
import sys
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "registry"))
from registry_helpers import Server  # noqa: E402

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_python_example_builds_runs_and_pushes(busybox, tmp_path):
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    example = next(b for b in blocks if "engine.builds.build" in b)
    context = tmp_path / "app"
    context.mkdir()
    (context / "Dockerfile").write_text("FROM busybox\nRUN echo built > /built\n")
    server = Server(tmp_path / "registry-root").start()
    try:
        code = (example.replace('"/var/lib/berth"', repr(busybox.root)).replace('context="app"', f"context={str(context)!r}")
                .replace("127.0.0.1:5000", f"127.0.0.1:{server.port}"))
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            exec(compile(code, "README.md", "exec"), {})
        assert out.getvalue() == "exit code 3\nstdout hi\n"
        with urllib.request.urlopen(f"{server.url}/v2/demo/app/tags/list") as response:
            assert json.load(response)["tags"] == ["1"]
        assert busybox.out("ps", "-aq") == ""
        assert "127.0.0.1:%d/demo/app" % server.port in busybox.out("images", "--format", "{{.Repository}}")
    finally:
        server.stop()
