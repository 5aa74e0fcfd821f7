"""The local emulator follows its documented rule and labels everything it writes."""

from offline.nova_emulator import judge_pair


def test_rule_prefers_the_answer_that_addresses_the_prompt():
    verdict = judge_pair("What is the capital of Australia?", "Sydney.", "The capital of Australia is Canberra.")
    assert verdict.endswith("[[B>A]]") and verdict.startswith("[local-emulator]")


def test_equal_scores_tie_and_rule_is_deterministic():
    assert judge_pair("hello there", "same", "same").endswith("[[A=B]]")
    assert judge_pair("x y z words", "words here", "nothing") == judge_pair("x y z words", "words here", "nothing")
