"""Exposures group models by (connection, object), without dbt: fake nodes, real configs."""

from __future__ import annotations

from types import SimpleNamespace

import yaml

from dbt_gainsight.config.connections import load_settings
from dbt_gainsight.exposures import collect, exposure_name, public_url, render

BLOCK = {"object": "Company", "keys": ["Name"], "fields": {"name": "Name"}}


class FakeProject:
    """What collect() asks of a DbtProject: selection and nodes."""

    def __init__(self, metas: dict[str, dict]):
        self.nodes = {
            f"model.acme.{name}": SimpleNamespace(
                name=name,
                package_name="acme" if name != "pkg_companies" else "crm",
                config=SimpleNamespace(meta={"gainsight": meta}),
                patch_path="acme://models/schema.yml",
                original_file_path=f"models/{name}.sql",
            )
            for name, meta in metas.items()
        }

    def select(self, select=(), exclude=()):
        return list(self.nodes)

    def node(self, uid):
        return self.nodes[uid]


def test_one_exposure_per_connection_and_object(tmp_path, monkeypatch):
    monkeypatch.setenv("GAINSIGHT_URL", "https://acme.gainsightcloud.com")
    monkeypatch.setenv("GAINSIGHT_ACCESS_KEY", "secret-key")
    key = "access_key: \"{{ env_var('GAINSIGHT_ACCESS_KEY') }}\""
    (tmp_path / "gainsight.yml").write_text(
        "connections:\n"
        f"  default: {{url: \"{{{{ env_var('GAINSIGHT_URL') }}}}\", {key}}}\n"
        f"  sandbox: {{url: 'https://acme-sb.gainsightcloud.com', {key}}}\n"
    )
    project = FakeProject(
        {
            "companies": BLOCK,
            "pkg_companies": {**BLOCK, "behavior": "update_only"},
            "sandbox_companies": {**BLOCK, "connection": "sandbox"},
            "disabled": {**BLOCK, "object": "Relationship", "enabled": False},
        }
    )
    found, warnings = collect(project, load_settings(tmp_path))
    assert warnings == []
    assert [(e.name, e.url) for e in found] == [
        ("gainsight_company", "https://acme.gainsightcloud.com"),
        ("gainsight_company_sandbox", "https://acme-sb.gainsightcloud.com"),
    ]
    doc = yaml.safe_load(render(found, "acme", {"name": "CS Ops"}))
    first = doc["exposures"][0]
    assert first["depends_on"] == ["ref('companies')", "ref('crm', 'pkg_companies')"]
    assert "- pkg_companies: update_only, keys [Name]" in first["description"]
    assert "secret-key" not in render(found, "acme", {"name": "CS Ops"})


def test_exposure_names_and_urls_never_carry_credentials():
    assert exposure_name("Usage_Summary__gc", "default") == "gainsight_usage_summary"
    assert exposure_name("CompanyPerson", "sandbox-eu") == "gainsight_company_person_sandbox_eu"
    assert public_url("https://svc:hunter2@acme.gainsightcloud.com/?k=1#x") == (
        "https://acme.gainsightcloud.com"
    )
