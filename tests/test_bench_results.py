"""bench/RESULTS.md: a by-hand benchmark replaces its own section and keeps everything else."""

from __future__ import annotations

from bench.run_all import BY_HAND_HEADING, join_results, split_results

HEAD = "# Benchmark results\n\n## Goals\n\n| a | b |\n\n## Tenancy overhead\n\n- command: `x`\n"


def test_by_hand_sections_are_replaced_one_by_one():
    first = join_results(HEAD, {"Peer": "## Peer\n\nold figures\n", "Scale": "## Scale\n\n- 10,000\n"})
    head, sections = split_results(first)
    assert head == HEAD
    assert list(sections) == ["Peer", "Scale"]
    sections["Peer"] = "## Peer\n\nnew figures\n"
    second = join_results(head, sections)
    assert "new figures" in second
    assert "old figures" not in second
    assert "- 10,000" in second
    assert second.index("## Tenancy overhead") < second.index(BY_HAND_HEADING) < second.index("## Peer")


def test_a_file_without_by_hand_sections_is_left_as_it_was():
    head, sections = split_results(HEAD)
    assert sections == {}
    assert join_results(head, sections) == HEAD
