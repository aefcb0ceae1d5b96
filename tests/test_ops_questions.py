"""The ops questions of bench/tasks.py, each answered in at most two tool calls against the sandbox, with far fewer
characters than the first tool set needed for the questions that span calls."""

from __future__ import annotations

import pytest

from bench.tasks import CALLS_GOAL, CUT_GOAL, TASKS, cross_call_cut, measure, missed, table

pytestmark = pytest.mark.anyio


async def test_every_ops_question_is_answered_in_at_most_two_calls_with_far_fewer_characters() -> None:
    rows = await measure()
    assert len(rows) == len(TASKS) >= 8
    for row in rows:
        assert 1 <= row.current.calls <= CALLS_GOAL, row.task.question
        assert row.current.errors == 0, row.task.question
        assert row.current.calls <= row.baseline.calls and row.current.chars < row.baseline.chars, row.task.question
    assert cross_call_cut(rows) >= CUT_GOAL
    assert missed(rows) == []
    shown = table(rows)
    assert all(t.question in shown for t in TASKS) and "all cross-call tasks" in shown


async def test_the_baseline_used_only_the_first_tool_set() -> None:
    first_set = {"list_calls", "get_call", "list_agents", "place_call", "wait_for_call"}
    rows = await measure()
    assert all(set(row.baseline.names) <= first_set for row in rows)
    assert {"call_stats", "get_transcripts", "get_agent"} <= {n for row in rows for n in row.current.names}
