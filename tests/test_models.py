"""Schema: migrations match the models on SQLite and PostgreSQL; UTC times and JSON columns."""

from __future__ import annotations

import importlib
import pkgutil
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlmodel import Session, SQLModel, select

from models.call import Call
from models.campaign import Campaign, CampaignStatus
from models.lead import Lead
from models.migrate import migrations_dir
from models.tenant import Tenant

from fixtures.database import BACKENDS, FreshDatabase, open_fresh_database

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(params=BACKENDS)
def fresh_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[FreshDatabase]:
    yield from open_fresh_database(request.param, tmp_path)


def migrations_head() -> str | None:
    config = Config()
    config.set_main_option("script_location", str(migrations_dir()))
    return ScriptDirectory.from_config(config).get_current_head()


def test_migrations_create_exactly_the_model_schema(fresh_db: FreshDatabase) -> None:
    with fresh_db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        assert compare_metadata(context, SQLModel.metadata) == []
        assert context.get_current_revision() == migrations_head()


def test_times_come_back_aware_utc_and_json_round_trips(fresh_db: FreshDatabase) -> None:
    moscow_noon = datetime(2026, 3, 29, 12, 0, tzinfo=timezone(timedelta(hours=3)))
    with Session(fresh_db.engine) as session:
        tenant = Tenant(name="acme")
        session.add(tenant)
        session.flush()
        campaign = Campaign(name="spring", tenant_id=tenant.id, started_at=moscow_noon)
        session.add(campaign)
        session.flush()
        lead = Lead(
            tenant_id=tenant.id,
            campaign_id=campaign.id,
            number="+79161234567",
            time_zones="Europe/Moscow",
            tz_source="number",
            variables={"first_name": "Анна", "score": 7, "tags": ["a", "b"]},
        )
        session.add(lead)
        session.flush()
        session.add(
            Call(
                tenant_id=tenant.id,
                number="+79161234567",
                lead_id=lead.id,
                transcript=[{"role": "robot", "text": "Здравствуйте"}],
                signalling={"final_status": 486},
            )
        )
        session.commit()
    with Session(fresh_db.engine) as session:
        stored = session.exec(select(Campaign)).one()
        assert stored.started_at == datetime(2026, 3, 29, 9, 0, tzinfo=UTC)
        assert stored.started_at.tzinfo is not None
        assert stored.status == CampaignStatus.DRAFT
        stored_lead = session.exec(select(Lead)).one()
        assert stored_lead.variables == {"first_name": "Анна", "score": 7, "tags": ["a", "b"]}
        call = session.exec(select(Call)).one()
        assert call.transcript[0]["text"] == "Здравствуйте"
        assert call.signalling == {"final_status": 486}
        assert call.campaign_id is None  # one-off API calls have no campaign


def test_naive_datetimes_are_refused(fresh_db: FreshDatabase) -> None:
    from sqlalchemy.exc import StatementError

    with Session(fresh_db.engine) as session:
        session.add(Tenant(name="naive", created_at=datetime(2026, 1, 1)))
        with pytest.raises(StatementError, match="naive datetime"):
            session.commit()


def test_column_types_are_a_leaf_of_the_package() -> None:
    """``models.types`` imports no other module of ``models`` (tables import it, not back)."""
    code = (
        "import sys, models.types; "
        "print(sorted(m for m in sys.modules if m.startswith('models.') and m != 'models.types'))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert result.stdout.strip() == "[]"


def test_every_table_is_registered_by_all_tables() -> None:
    """Each ``table=True`` model of the package is in the one list that registers tables."""
    import models
    from models import all_tables

    for module in pkgutil.iter_modules(models.__path__):
        imported = importlib.import_module(f"models.{module.name}")
        for value in vars(imported).values():
            if isinstance(value, type) and hasattr(value, "__table__"):
                assert value.__name__ in all_tables.__all__, f"{module.name}.{value.__name__}"


def test_another_tenants_row_is_as_absent_as_a_missing_one(fresh_db: FreshDatabase) -> None:
    from models.script import Script
    from models.tenancy import get_owned
    from robot.errors import NotFoundError

    from fixtures.database import add_script

    with Session(fresh_db.engine) as session:
        ours, theirs = Tenant(name="ours"), Tenant(name="theirs")
        session.add_all([ours, theirs])
        session.commit()
        assert ours.id is not None and theirs.id is not None
        ours_id, theirs_id = ours.id, theirs.id
    script_id = add_script(fresh_db.engine, ours_id)
    with Session(fresh_db.engine) as session:
        assert get_owned(session, Script, script_id, ours_id, "script").id == script_id
        assert get_owned(session, Script, script_id, None, "script").id == script_id
        messages = []
        for tenant_id, item_id in ((theirs_id, script_id), (ours_id, script_id + 1000)):
            with pytest.raises(NotFoundError) as caught:
                get_owned(session, Script, item_id, tenant_id, "script")
            messages.append(str(caught.value))
    assert messages == [f"script {script_id} not found", f"script {script_id + 1000} not found"]
