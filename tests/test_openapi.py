"""The OpenAPI document, the /docs page, and a client generated from the document."""

import importlib
import json
import os
import re
import shutil
import subprocess
import sys

import pytest
from openapi_spec_validator import validate

CHROMIUM = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or "/usr/bin/chromium"
# Documents, pages and the metrics scrape: not operations of the API.
NOT_OPERATIONS = {"/api/v1/openapi.json", "/docs", "/docs/init.js", "/docs/swagger-ui/{name}", "/metrics"}


@pytest.fixture
def spec(client):
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    return response.get_json()


def test_document_is_valid_openapi_3_1(spec):
    assert spec["openapi"] == "3.1.0"
    validate(spec)


def test_every_route_is_documented(app, spec):
    documented = {(path, method) for path, item in spec["paths"].items() for method in item if method != "parameters"}
    for rule in app.url_map.iter_rules():
        path = re.sub(r"<(?:[^:>]+:)?([^>]+)>", r"{\1}", rule.rule)
        if path in NOT_OPERATIONS:
            continue
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            assert (path, method.lower()) in documented, f"{method} {path} is not in openapi.json"


def test_operations_declare_their_security_and_errors(spec):
    public = {
        ("/api/v1/auth/signup", "post"),
        ("/api/v1/auth/login", "post"),
        ("/api/v1/auth/password-reset", "post"),
        ("/api/v1/auth/password-reset/confirm", "post"),
        ("/healthz", "get"),
        ("/readyz", "get"),
    }
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if method == "parameters":  # the path's own, such as {task_id}
                continue
            if (path, method) in public:
                assert "security" not in operation, f"{method} {path}"
            else:
                assert operation["security"] == [{"bearerAuth": []}], f"{method} {path}"
                assert "401" in operation["responses"], f"{method} {path}"
    assert spec["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    put = spec["paths"]["/api/v1/tasks/{task_id}"]["put"]
    assert {"200", "404", "412", "422"} <= set(put["responses"])
    list_parameters = {p["name"] for p in spec["paths"]["/api/v1/tasks"]["get"]["parameters"]}
    assert list_parameters == {
        "limit",
        "cursor",
        "offset",
        "count",
        "completed",
        "due_after",
        "due_before",
        "list_id",
        "q",
        "sort",
        "If-None-Match",
    }
    for method in ("put", "patch", "delete"):
        operation = spec["paths"]["/api/v1/tasks/{task_id}"][method]
        assert {p["name"] for p in operation["parameters"]} == {"If-Match", "If-None-Match"}
    assert "ETag" in spec["paths"]["/api/v1/tasks/{task_id}"]["get"]["responses"]["200"]["headers"]
    for path in ("/api/v1/auth/signup", "/api/v1/auth/login", "/api/v1/auth/refresh"):
        assert "429" in spec["paths"][path]["post"]["responses"]
    # Refresh answers a new refresh token too (it rotates).
    assert spec["components"]["schemas"]["Token"]["required"] == ["access_token", "refresh_token", "token_type"]
    reset = spec["paths"]["/api/v1/auth/password-reset"]["post"]
    confirm = spec["paths"]["/api/v1/auth/password-reset/confirm"]["post"]
    assert (reset["operationId"], confirm["operationId"]) == ("requestPasswordReset", "confirmPasswordReset")
    assert {"202", "422", "429"} <= set(reset["responses"]) and {"204", "400", "422", "429"} <= set(
        confirm["responses"]
    )
    delete_account = spec["paths"]["/api/v1/users/me"]["delete"]
    assert delete_account["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/CurrentPassword"
    }


def test_every_operation_has_a_stable_unique_operation_id(spec):
    """Generated clients name their methods after them: createTask, not post_api_v1_tasks."""
    operations = {
        (path, method): operation.get("operationId")
        for path, methods in spec["paths"].items()
        for method, operation in methods.items()
        if method in ("get", "post", "put", "patch", "delete")
    }
    ids = list(operations.values())
    assert None not in ids and len(set(ids)) == len(ids)
    assert all(name[0].islower() and name.isalnum() for name in ids)  # camelCase
    assert operations["/api/v1/tasks/{task_id}", "put"] == "replaceTask"
    assert operations["/api/v1/tasks/{task_id}", "patch"] == "updateTask"
    assert operations["/api/v1/tasks", "post"] == "createTask"


def browser_or_skip():
    """Chromium and Playwright; CI must have both (.ci/run installs them)."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        sync_playwright = None
    if sync_playwright is None or not os.path.exists(CHROMIUM):
        if os.environ.get("CI"):
            pytest.fail("CI has no Chromium or Playwright: .ci/run should have installed them")
        pytest.skip("no Chromium here (apt-get install chromium)")
    return sync_playwright


def test_docs_page_lists_the_operations_offline_under_its_csp(serve):
    sync_playwright = browser_or_skip()
    base = serve(workers=1)
    requested, problems = [], []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"],
        )
        page = browser.new_page()
        page.on("request", lambda request: requested.append(request.url))
        page.on(
            "response", lambda response: response.status >= 400 and problems.append(f"{response.status} {response.url}")
        )
        page.on("console", lambda message: message.type == "error" and problems.append(message.text))
        page.on("pageerror", lambda error: problems.append(str(error)))
        page.goto(f"{base}/docs")
        page.wait_for_selector(".opblock-summary-path", timeout=20_000)
        paths = set(page.locator(".opblock-summary-path").all_inner_texts())
        browser.close()
    assert {"/api/v1/auth/login", "/api/v1/tasks", "/api/v1/tasks/{task_id}", "/api/v1/users/me"} <= {
        path.replace("\u200b", "") for path in paths
    }
    assert all(url.startswith(base) for url in requested), [u for u in requested if not u.startswith(base)]
    assert problems == []  # no Content-Security-Policy violation, no script error


def test_a_generated_client_can_use_the_api(serve, spec, tmp_path):
    """openapi-python-client builds a client from openapi.json; it logs in and manages a task."""
    (tmp_path / "openapi.json").write_text(json.dumps(spec))
    (tmp_path / "config.yml").write_text("post_hooks: []\n")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "openapi_python_client",
            "generate",
            "--path",
            "openapi.json",
            "--output-path",
            "task_api_client",
            "--meta",
            "none",
            "--config",
            "config.yml",
        ],
        cwd=tmp_path,
        check=True,
        capture_output=True,
        timeout=120,
    )
    sys.path.insert(0, str(tmp_path))
    try:

        def generated(name):
            return importlib.import_module(f"task_api_client.{name}")

        client_module, models = generated("client"), generated("models")
        # Each method is named after its operationId.
        signup, login = generated("api.auth.signup"), generated("api.auth.login")
        create, listing = generated("api.tasks.create_task"), generated("api.tasks.list_tasks")
        update, read = generated("api.tasks.replace_task"), generated("api.tasks.get_task")
        delete = generated("api.tasks.delete_task")
        base = serve(workers=1)
        anonymous = client_module.Client(base_url=base)
        created = signup.sync(
            client=anonymous, body=models.Signup(username="gen", email="gen@example.com", password="generated client")
        )
        assert created.message == "User created successfully"
        tokens = login.sync(client=anonymous, body=models.Login(email="gen@example.com", password="generated client"))
        client = client_module.AuthenticatedClient(base_url=base, token=tokens.access_token)

        task = create.sync(client=client, body=models.TaskCreate(title="From the client"))
        assert task.title == "From the client" and task.completed is False
        assert [t.id for t in listing.sync(client=client, limit=10)] == [task.id]
        updated = update.sync(task.id, client=client, body=models.TaskUpdate(completed=True))
        assert updated.completed is True and updated.completed_at is not None
        assert delete.sync_detailed(task.id, client=client).status_code == 204
        assert read.sync(task.id, client=client).detail == "Task not found"
    finally:
        sys.path.remove(str(tmp_path))
        for name in [m for m in sys.modules if m.startswith("task_api_client")]:
            del sys.modules[name]
