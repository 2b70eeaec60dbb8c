"""POST /commit: `docker commit` against berth's API server, a container config in the body, errors."""
import json


def _inspect(api, name: str) -> dict:
    return api.request("GET", f"/v1.44/images/{name}/json").json()


def test_docker_commit_with_changes_message_and_author(api):
    api.docker("run", "--name", "to-commit", "busybox", "sh", "-c", "echo changed > /changed")
    out = api.docker_out("commit", "-c", "ENV MODE=committed", "-c", 'CMD ["cat", "/changed"]',
                         "-m", "a message", "-a", "someone", "to-commit", "committed:1")
    image = _inspect(api, "committed:1")
    assert out.strip() == image["Id"]
    assert api.docker_out("run", "--rm", "committed:1") == "changed\n"
    assert "MODE=committed" in image["Config"]["Env"]
    assert (image["Comment"], image["Author"]) == ("a message", "someone")


def test_commit_body_config_and_errors(api):
    api.docker("create", "--name", "commit-config", "busybox", "true")
    done = api.request("POST", "/v1.44/commit?container=commit-config&repo=configured&tag=2",
                       body=json.dumps({"Cmd": ["echo", "from the body"], "Env": ["EXTRA=1"],
                                        "Labels": {"from": "body"}}))
    assert done.status == 201, done
    image = _inspect(api, "configured:2")
    assert done.json() == {"Id": image["Id"]}
    assert image["Config"]["Labels"] == {"from": "body"} and "EXTRA=1" in image["Config"]["Env"]
    assert api.docker_out("run", "--rm", "configured:2") == "from the body\n"
    assert api.request("POST", "/v1.44/commit?container=commit-config", body=b"null").status == 201  # Go's nil

    bad = api.request("POST", "/v1.44/commit?container=commit-config", body=b'{"Cmd": "echo"}')
    assert bad.status == 400 and "Cmd" in bad.message, bad
    bad_change = api.request("POST", "/v1.44/commit?container=commit-config&changes=FROM%20busybox")
    assert bad_change.status == 400 and "FROM" in bad_change.message, bad_change
    assert api.request("POST", "/v1.44/commit?container=no-such-container").status == 404
    assert api.request("POST", "/v1.44/commit").status == 400
    api.docker_fails("commit", "no-such-container", "x", says="No such container: no-such-container")
