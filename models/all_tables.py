"""Import every table module of this package so ``SQLModel.metadata`` knows the whole schema.

Table modules are found by listing the package, so a new table family only needs its module.
"""

from __future__ import annotations

import importlib
import pkgutil

import models
from models.call import Call
from models.campaign import Campaign
from models.dnc import DncEntry
from models.lead import Lead
from models.script import Script
from models.tenant import Tenant

#: Modules of the package that hold no tables.
NOT_TABLE_MODULES = frozenset({"all_tables", "db", "testing", "migrations"})

for _module in pkgutil.iter_modules(models.__path__):
    if _module.name not in NOT_TABLE_MODULES and not _module.name.startswith("_"):
        importlib.import_module(f"models.{_module.name}")

__all__ = ["Call", "Campaign", "DncEntry", "Lead", "Script", "Tenant"]
