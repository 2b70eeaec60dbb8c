"""The OCI runtime spec berth writes (runtime/spec.py)."""
from berth.runtime import spec


def test_console_size_only_for_a_terminal():
    sized = spec.ProcessSpec(args=["sh"], env=[], terminal=True, console_size=(33, 77)).to_dict()
    assert sized["consoleSize"] == {"height": 33, "width": 77}
    assert "consoleSize" not in spec.ProcessSpec(args=["sh"], env=[], console_size=(33, 77)).to_dict()
    assert "consoleSize" not in spec.ProcessSpec(args=["sh"], env=[], terminal=True).to_dict()
