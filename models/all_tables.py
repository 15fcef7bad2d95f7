"""Import every table module so ``SQLModel.metadata`` knows the whole schema."""

from __future__ import annotations

from models.call import Call
from models.campaign import Campaign
from models.dnc import DncEntry
from models.lead import Lead
from models.script import Script
from models.tenant import Tenant

__all__ = ["Call", "Campaign", "DncEntry", "Lead", "Script", "Tenant"]
