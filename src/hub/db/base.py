"""The declarative base every table uses: UUID primary key, server-set timestamps, and a
constraint naming convention so Alembic migrations name things the same way every time."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import DateTime, Enum, MetaData, func
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from hub.kit.ids import uuid7

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: DateTime(timezone=True)}


class TimestampedMixin:
    """`created_at`/`updated_at` are set by PostgreSQL, never by application clocks."""

    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now(), onupdate=func.now())


class UUIDPrimaryKeyMixin:
    """UUIDv7 keys: unguessable enough to expose, ordered enough to index well."""

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid7)


class Entity(UUIDPrimaryKeyMixin, TimestampedMixin, Base):
    """Abstract base of every business table."""

    __abstract__ = True
    # Server-set values (updated_at on UPDATE) come back with RETURNING in the same statement:
    # with async sessions a later lazy refresh would fail outside the unit of work.
    __mapper_args__ = {"eager_defaults": True}


def pg_enum(enum: type[StrEnum], name: str) -> Enum:
    """A PostgreSQL enum type storing the Python enum's *values* (lower-case words)."""
    return Enum(enum, name=name, values_callable=lambda members: [m.value for m in members])
