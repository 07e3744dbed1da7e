"""Tables owned by the needs service."""
from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.db import UTCDateTime, messaging_tables
from shared.outbox import Outbox


class Base(DeclarativeBase):
    pass


OUTBOX_TABLE, INBOX_TABLE = messaging_tables(Base.metadata)
OUTBOX = Outbox("needs", OUTBOX_TABLE)


class Unit(Base):
    __tablename__ = "units"
    code: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    kind: Mapped[str] = mapped_column(sa.String(20))
    province_code: Mapped[str] = mapped_column(sa.String(20), default="CM")
    valid_from: Mapped[date] = mapped_column(sa.Date)
    valid_to: Mapped[date | None] = mapped_column(sa.Date)


class UnitSuccession(Base):
    __tablename__ = "unit_successions"
    predecessor_code: Mapped[str] = mapped_column(sa.ForeignKey("units.code"), primary_key=True)
    successor_code: Mapped[str] = mapped_column(sa.ForeignKey("units.code"), primary_key=True)
    effective_date: Mapped[date] = mapped_column(sa.Date)
    legal_basis: Mapped[str] = mapped_column(sa.String(300))


class Position(Base):
    __tablename__ = "positions"
    code: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(300))
    legacy: Mapped[bool] = mapped_column(sa.Boolean, default=False)


class CivilServant(Base):
    __tablename__ = "civil_servants"
    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)
    code: Mapped[str] = mapped_column(sa.String(40), unique=True)
    full_name: Mapped[str] = mapped_column(sa.String(200))
    gender: Mapped[str] = mapped_column(sa.String(10))
    birth_year: Mapped[int] = mapped_column(sa.Integer)
    ethnicity: Mapped[str] = mapped_column(sa.String(60))
    unit_code: Mapped[str] = mapped_column(sa.ForeignKey("units.code"), index=True)
    position_code: Mapped[str] = mapped_column(sa.ForeignKey("positions.code"), index=True)
    hard_area: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    child_under_36_months: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)

    @property
    def ethnic_minority(self) -> bool:
        return self.ethnicity.strip().lower() != "kinh"
