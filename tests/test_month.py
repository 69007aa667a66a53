"""The judged walk: simulated traffic through sweep() on a stepped clock, every reminder checked.

`flask --app app simulate-month` runs the whole month; here two shorter stretches, each over
a DST change, keep the suite fast. The rules checked are listed in handoff/nagging/simulation.py.
"""

from datetime import UTC, datetime

import pytest

from handoff.nagging.simulation import simulate


@pytest.mark.parametrize(
    "start",
    [
        datetime(2026, 3, 5, tzinfo=UTC),  # over the US change on 8 March
        datetime(2026, 3, 26, tzinfo=UTC),  # over the European change on 29 March
    ],
    ids=["us-dst", "eu-dst"],
)
def test_a_stretch_of_simulated_traffic_keeps_every_nagging_rule(app, start):
    result = simulate(days=5, start=start, seed=start.day)
    assert result.commitments > 50 and result.reminders > 300
    assert result.by_kind["ack"] and result.by_kind["settle"] and result.by_kind["late"]
    assert result.escalated > 10
    assert result.tasks > 10 and result.by_kind["tell"] > result.tasks
    assert dict(result.violations) == {}
