"""Database plumbing that needs no server: SQLite engines and what their errors reveal."""
from __future__ import annotations

import pytest
import sqlalchemy as sa

from shared.db import make_engine


def test_database_errors_never_carry_the_row_values_into_logs(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'x.db'}")
    meta = sa.MetaData()
    people = sa.Table("people", meta, sa.Column("code", sa.String, primary_key=True), sa.Column("full_name", sa.String))
    meta.create_all(engine)
    with engine.begin() as conn:
        conn.execute(people.insert(), {"code": "TB-0001", "full_name": "Nguyễn Thị Mai"})
    with pytest.raises(sa.exc.IntegrityError) as err, engine.begin() as conn:
        conn.execute(people.insert(), {"code": "TB-0001", "full_name": "Trần Văn Hùng"})
    assert "Trần Văn Hùng" not in str(err.value)
    assert "hidden due to hide_parameters" in str(err.value)


def test_sqlite_engines_use_wal_and_wait_for_the_write_lock(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'x.db'}")
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30000
