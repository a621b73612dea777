"""`platformctl tenants export`: each tenant table as JSON Lines, the file index, the files; no secrets."""

from __future__ import annotations

import json
import tarfile
import uuid

from platform_core.items.models import Item
from tests.factories import UploadFactory

PASSWORD = "an owner's long passphrase"


def _read(path) -> dict[str, bytes]:
    with tarfile.open(path, "r:gz") as archive:
        return {m.name: archive.extractfile(m).read() for m in archive.getmembers() if m.isfile()}


def _jsonl(payload: bytes) -> list[dict]:
    return [json.loads(line) for line in payload.splitlines()]


def test_export_holds_the_data_and_files_of_that_tenant_only(
    run_cli, tenant_service, tenant_b, sync_db, s3, tmp_path
):
    tenant = tenant_service.create(
        slug=f"exp-{uuid.uuid4().hex[:8]}",
        name="Export",
        owner_email="boss@example.com",
        owner_password=PASSWORD,
    )
    upload = UploadFactory.build(filename="contract.pdf", size_bytes=5)
    upload.key = f"tenants/{tenant.id}/uploads/{upload.id}/contract.pdf"
    with sync_db.sync_session(tenant.schema_name) as session, session.begin():
        session.add_all([Item(title="exported item", tags=["x"]), upload])
    with sync_db.sync_session(tenant_b.schema_name) as session, session.begin():
        session.add(Item(title="beta's secret item", tags=[]))
    s3.put(upload.key, b"%PDF-", content_type="application/pdf")
    other_key = f"tenants/{tenant_b.id}/uploads/{uuid.uuid4()}/theirs.txt"
    s3.put(other_key, b"theirs", content_type="text/plain")
    try:
        result = run_cli(
            "tenants", "export", tenant.slug, "--output", str(tmp_path / "e.tar.gz"), "--with-files"
        )
        assert result.exit_code == 0, result.output
        files = _read(tmp_path / "e.tar.gz")
    finally:
        s3.delete(upload.key)
        s3.delete(other_key)
    manifest = json.loads(files["manifest.json"])
    assert manifest["tenant"]["id"] == str(tenant.id)
    assert manifest["rows"]["item"] == 1
    assert manifest["files"] == {"count": 1, "included": True}
    items = _jsonl(files["tables/item.jsonl"])
    assert [i["title"] for i in items] == ["exported item"]  # nothing of the other tenant
    [owner] = _jsonl(files["tables/user_account.jsonl"])
    assert owner["email"] == "boss@example.com"
    assert owner["password_hash"] is None  # secrets do not travel
    assert {"password_hash", "token_hash", "secret_hash"} <= set(manifest["redacted_columns"])
    assert [f["key"] for f in _jsonl(files["files.jsonl"])] == [upload.key]
    assert files[f"files/uploads/{upload.id}/contract.pdf"] == b"%PDF-"
    assert not (tmp_path / "e.tar.gz.partial").exists()


def test_purge_can_export_first_and_then_there_is_nothing_to_export(run_cli, tenant_service, tmp_path):
    tenant = tenant_service.create(slug=f"exq-{uuid.uuid4().hex[:8]}", name="Last")
    tenant_service.mark_deleted(tenant.slug)
    archive = tmp_path / "last.tar.gz"
    purged = run_cli("tenants", "delete", tenant.slug, "--purge", "--force", "--export", str(archive))
    assert purged.exit_code == 0, purged.output
    assert json.loads(_read(archive)["manifest.json"])["tenant"]["slug"] == tenant.slug
    again = run_cli("tenants", "export", tenant.slug, "--output", str(tmp_path / "none.tar.gz"))
    assert again.exit_code == 1
    assert "tenant_not_found" in again.output  # a purged tenant's slug is free again
    assert not (tmp_path / "none.tar.gz").exists()
