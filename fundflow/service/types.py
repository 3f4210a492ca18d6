"""Column types that keep their meaning on SQLite and PostgreSQL alike.

* ``Money``: ``Decimal`` yuan stored as integer fen (exact on SQLite, which would otherwise
  round-trip NUMERIC through float).
* ``Area``: ``Decimal`` square metres stored as integer 1/10000 m².
* ``UTCDateTime``: aware datetimes only; stored in UTC; read back aware (SQLite forgets zones).
* ``JSONData``: JSON, JSONB on PostgreSQL.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from sqlalchemy import JSON, BigInteger, DateTime
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.types import TypeDecorator

__all__ = ["Money", "Area", "UTCDateTime", "JSONData"]

JSONData = JSON().with_variant(JSONB(), "postgresql")


class _ScaledDecimal(TypeDecorator):
    impl = BigInteger
    cache_ok = True
    scale = 2

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if isinstance(value, float):
            raise TypeError("money and areas are Decimal, never float")
        d = Decimal(value)
        scaled = d.scaleb(self.scale)
        if scaled != scaled.to_integral_value():
            raise ValueError(f"{value} has more than {self.scale} decimals")
        return int(scaled)

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        return Decimal(int(value)).scaleb(-self.scale).quantize(Decimal(1).scaleb(-self.scale))


class Money(_ScaledDecimal):
    cache_ok = True
    scale = 2


class Area(_ScaledDecimal):
    cache_ok = True
    scale = 4


class UTCDateTime(TypeDecorator):
    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value.isoformat()} cannot be stored")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)
