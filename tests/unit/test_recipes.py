"""docs/recipes: the workflow uses only real commands and flags; the Python recipes call the
real API (every call binds to its signature, every attribute read exists), without importing
Airflow or Dagster; docs/recipes.md shows each file as it is."""

from __future__ import annotations

import ast
import dataclasses
import inspect
import shlex
import typing

import yaml

from dbt_gainsight import api
from tests.conftest import REPO

RECIPES = REPO / "docs" / "recipes"
CALLBACK_ARITY = {"on_event": 2, "on_progress": 2}


def _options(command) -> set[str]:
    return {o for p in command.params for o in [*p.opts, *getattr(p, "secondary_opts", [])]}


def _check_run_line(argv: list[str]) -> None:
    from dbt.cli.main import cli as dbt_cli

    from dbt_gainsight.cli import cli as gs_cli

    group = {"dbt-gainsight": gs_cli, "dbt": dbt_cli}[argv[0]]
    command = group.commands.get(argv[1])
    assert command is not None, f"{argv[0]} has no command {argv[1]!r}"
    known = _options(command)
    if argv[:2] == ["dbt-gainsight", "build"]:  # other flags go to dbt build
        known |= _options(dbt_cli.commands["build"])
    for token in argv[2:]:
        if token.startswith("-"):
            assert token.split("=")[0] in known, f"{' '.join(argv[:2])}: no flag {token}"


def test_github_actions_workflow_parses_and_uses_real_commands():
    workflow = yaml.safe_load((RECIPES / "github-actions.yml").read_text())
    triggers = workflow.get("on", workflow.get(True))  # YAML 1.1 reads a bare `on` as true
    assert {"pull_request", "schedule"} <= set(triggers)
    commands = []
    for job in workflow["jobs"].values():
        for step in job["steps"]:
            assert "uses" in step or "run" in step
            for line in step.get("run", "").splitlines():
                argv = shlex.split(line, comments=True)
                if argv and argv[0] in ("dbt", "dbt-gainsight"):
                    _check_run_line(argv)
                    commands.append(argv[:2])
    assert ["dbt-gainsight", "validate"] in commands and ["dbt-gainsight", "build"] in commands
    validate, sync = workflow["jobs"]["validate"], workflow["jobs"]["sync"]
    assert "secrets." not in yaml.safe_dump(validate)  # pull requests: offline, no secret
    assert "pull_request" in validate["if"] and "pull_request" in sync["if"]
    assert sync["env"]["GAINSIGHT_ACCESS_KEY"] == "${{ secrets.GAINSIGHT_ACCESS_KEY }}"


def _return_type(function) -> type:
    hint = typing.get_type_hints(function)["return"]
    return typing.get_args(hint)[0] if typing.get_origin(hint) is typing.Union else hint


def _attributes(cls: type) -> set[str]:
    names = {f.name for f in dataclasses.fields(cls)} if dataclasses.is_dataclass(cls) else set()
    return names | {n for n, _ in inspect.getmembers(cls)}


def _own_nodes(scope: ast.AST):
    """The nodes of one function (or the module), not those of functions defined inside it."""
    stack = list(ast.iter_child_nodes(scope))
    while stack:
        node = stack.pop()
        yield node
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            stack.extend(ast.iter_child_nodes(node))


def _is_api_call(node: ast.AST) -> bool:
    return (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and getattr(node.func.value, "id", None) == "api"
    )


def _check_api_calls(path) -> list[str]:
    """Bind each ``api.<fn>(...)`` call to the real signature; return the functions called."""
    tree = ast.parse(path.read_text(), filename=str(path))
    compile(tree, str(path), "exec")
    called: list[str] = []
    scopes = [tree, *(n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef))]
    for scope in scopes:
        results: dict[str, type] = {}  # local name -> the type the api call returned
        for node in _own_nodes(scope):
            if isinstance(node, ast.Assign) and _is_api_call(node.value):
                results[node.targets[0].id] = _return_type(getattr(api, node.value.func.attr))
            if not _is_api_call(node):
                continue
            function = getattr(api, node.func.attr)
            args = [object() for a in node.args if not isinstance(a, ast.Starred)]
            kwargs = {k.arg: object() for k in node.keywords if k.arg}
            signature = inspect.signature(function)
            signature.bind(*args, **kwargs)  # TypeError when it would
            extra = set(kwargs) - set(signature.parameters)  # sync's **option_kwargs
            assert extra <= {f.name for f in dataclasses.fields(api.SyncOptions)}, extra
            for keyword in node.keywords:
                if keyword.arg in CALLBACK_ARITY and isinstance(keyword.value, ast.Lambda):
                    assert len(keyword.value.args.args) == CALLBACK_ARITY[keyword.arg]
            called.append(node.func.attr)
        for node in _own_nodes(scope):  # result.<attr>: each attribute read exists
            if isinstance(node, ast.Attribute) and getattr(node.value, "id", None) in results:
                cls = results[node.value.id]
                assert node.attr in _attributes(cls), f"{path.name}: {cls.__name__}.{node.attr}"
    return called


def test_python_recipes_call_the_real_api_and_the_docs_show_them():
    assert sorted(_check_api_calls(RECIPES / "airflow_dag.py")) == ["build", "validate"]
    assert _check_api_calls(RECIPES / "dagster_asset.py") == ["sync"]
    page = (REPO / "docs" / "recipes.md").read_text()
    for name in ("github-actions.yml", "airflow_dag.py", "dagster_asset.py"):
        assert (RECIPES / name).read_text().rstrip() in page, f"docs/recipes.md: {name} differs"


def test_readme_documents_the_real_api_signatures():
    readme = (REPO / "README.md").read_text()
    block = next(b for b in readme.split("```python\n")[1:] if "def sync(" in b)
    documented = {
        node.name: node
        for node in ast.parse(block.split("```", 1)[0]).body
        if isinstance(node, ast.FunctionDef)
    }
    assert set(documented) == {"sync", "build", "validate", "check"}
    for name, node in documented.items():
        real = inspect.signature(getattr(api, name))
        shown = [a.arg for a in node.args.posonlyargs + node.args.args + node.args.kwonlyargs]
        if node.args.kwarg:
            shown.append(node.args.kwarg.arg)
        assert shown == list(real.parameters), name
        assert ast.unparse(node.returns) == _return_type(getattr(api, name)).__name__, name
