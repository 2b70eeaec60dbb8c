"""`berth events` output as docker's CLI writes it: the default line, and templates over docker's Message
struct (Go field names; `json` writes the wire names)."""
import json
import time

import pytest

from berth.cli.output import template
from berth.cli.system import _event_line, _template_view

DOC = {"status": "die", "id": "abc", "from": "busybox", "Type": "container", "Action": "die",
       "Actor": {"ID": "abc", "Attributes": {"name": "web", "exitCode": "3", "image": "busybox"}},
       "scope": "local", "time": 1_700_000_000, "timeNano": 1_700_000_000_000_000_042}


@pytest.fixture
def zone(monkeypatch):
    def set_zone(tz: str):
        monkeypatch.setenv("TZ", tz)
        time.tzset()
    yield set_zone
    monkeypatch.delenv("TZ")
    time.tzset()


def test_the_default_line(zone):
    zone("UTC")
    assert _event_line(DOC) == ("2023-11-14T22:13:20.000000042Z container die abc "
                                "(exitCode=3, image=busybox, name=web)")
    zone("IST-5:30")  # local time with its offset, as Go's RFC3339NanoFixed (a POSIX TZ: no tz database)
    assert _event_line(DOC).startswith("2023-11-15T03:43:20.000000042+05:30 container die")
    volume = {**DOC, "Type": "volume", "Action": "create", "Actor": {"ID": "v", "Attributes": {}}}
    assert _event_line(volume).endswith(" volume create v")  # no attributes: no parentheses


def test_templates_see_go_fields_and_json_writes_docker_s_names():
    view = _template_view(DOC)
    assert template("{{.Status}} {{.ID}} {{.From}} {{.Scope}} {{.Time}} {{.TimeNano}}")(view) == \
        "die abc busybox local 1700000000 1700000000000000042"
    assert template("{{.Actor.Attributes.exitCode}} {{index .Actor.Attributes \"name\"}}")(view) == "3 web"
    assert json.loads(template("json")(view)) == DOC
    assert template("json")(view) == template("{{json .}}")(view)
    volume = {"Type": "volume", "Action": "create", "Actor": {"ID": "v", "Attributes": {"driver": "local"}},
              "scope": "local", "time": 1, "timeNano": 1_000_000_000}
    # docker's omitempty: a volume event has no status, id or from
    assert template("json")(_template_view(volume)) == \
        '{"Type":"volume","Action":"create","Actor":{"ID":"v","Attributes":{"driver":"local"}},"scope":"local",' \
        '"time":1,"timeNano":1000000000}'


def test_labels_with_capitals_stay_a_map():
    doc = {**DOC, "Actor": {"ID": "abc", "Attributes": {"Maintainer": "me", "Version": "1"}}}
    assert template("{{.Actor.Attributes}}")(_template_view(doc)) == "map[Maintainer:me Version:1]"
