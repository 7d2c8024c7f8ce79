"""The custom scalars every domain's types and inputs share: one place to define (or validate) them."""

from __future__ import annotations

from strawberry.scalars import JSON

__all__ = ["JSON"]
