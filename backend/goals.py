"""The four wellness goals of the NLU contract: the one list every area and the NLU share."""

from __future__ import annotations

GOALS = ("weight_loss", "blood_pressure", "diabetes", "anti_aging")
