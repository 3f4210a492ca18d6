"""Sharing a cost by building floor area: worked examples, properties, errors, balance check."""

from __future__ import annotations

from decimal import Decimal as D
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fundflow.domain.apportionment import ApportionmentError, Share, apportion

FEN = Fraction(1, 100)


def amounts(shares):
    return {s.key: s.amount for s in shares}


def test_worked_example_three_households():
    """¥10,000.00 = 1,000,000 fen over 89.5 + 120.25 + 65 = 274.75 m².

    exact fen (1,000,000 x area / 274.75)    floor     remainder
      A  89.5   -> 325,750.682...            325,750   0.682
      B 120.25  -> 437,670.609...            437,670   0.609
      C  65     -> 236,578.707...            236,578   0.707
    floors add up to 999,998: 2 fen are left, and go to the two largest remainders, C (0.707)
    then A (0.682). B keeps its floor. So A 3,257.51, B 4,376.70, C 2,365.79; sum 10,000.00.
    """
    shares = apportion(D("10000.00"), [("A", D("89.5")), ("B", D("120.25")), ("C", D("65"))])
    assert shares == [
        Share("A", D("89.5"), D("3257.51")),
        Share("B", D("120.25"), D("4376.70")),
        Share("C", D("65"), D("2365.79")),
    ]
    assert sum(s.amount for s in shares) == D("10000.00")
    assert all(s.amount.as_tuple().exponent == -2 for s in shares)


def test_one_fen_over_three_households_goes_to_the_largest_remainder():
    # exact shares 0.2, 0.3, 0.5 fen: all floors are 0; the one fen goes to the largest area
    shares = apportion(D("0.01"), [("a", D("20")), ("b", D("30")), ("c", D("50"))])
    assert amounts(shares) == {"a": D("0.00"), "b": D("0.00"), "c": D("0.01")}


def test_equal_areas_tie_is_broken_by_input_order():
    # 100.00 / 3 = 3333.333... fen each: floors 3333 x 3 = 9999, one fen left, all remainders
    # equal: it goes to the household listed first, whatever its key
    keys = ["3-1-302", "1-1-101", "2-1-201"]
    shares = apportion(D("100.00"), [(k, D("88.8800")) for k in keys])
    assert [s.amount for s in shares] == [D("33.34"), D("33.33"), D("33.33")]
    again = apportion(D("100.00"), [(k, D("88.8800")) for k in reversed(keys)])
    assert [s.amount for s in again] == [D("33.34"), D("33.33"), D("33.33")]
    assert again[0].key == "2-1-201"


def test_zero_total_and_single_household():
    assert amounts(apportion(D("0"), [("a", D("1")), ("b", D("2"))])) == {"a": D("0.00"), "b": D("0.00")}
    assert apportion(D("1234.56"), [("only", D("0.0001"))]) == [Share("only", D("0.0001"), D("1234.56"))]


def test_exact_division_needs_no_extra_fen():
    shares = apportion(D("300.00"), [("a", D("1")), ("b", D("2")), ("c", D("3"))])
    assert amounts(shares) == {"a": D("50.00"), "b": D("100.00"), "c": D("150.00")}


# --- properties -------------------------------------------------------------------------------

area_st = st.integers(1, 5_000_0000).map(lambda n: D(n).scaleb(-4))  # 0.0001 .. 5000.0000 m²
total_st = st.integers(0, 10**11).map(lambda n: D(n).scaleb(-2))  # 0.00 .. 1,000,000,000.00
households_st = st.lists(area_st, min_size=1, max_size=40).map(
    lambda areas: [(f"h{i}", a) for i, a in enumerate(areas)]
)


def exact(total, households, area):
    return Fraction(total) * Fraction(area) / sum(Fraction(a) for _, a in households)


@settings(max_examples=300, database=None)
@given(total_st, households_st)
def test_shares_add_up_and_each_is_within_a_fen(total, households):
    shares = apportion(total, households)
    assert [(s.key, s.area) for s in shares] == households
    assert sum(s.amount for s in shares) == total
    for s in shares:
        assert s.amount == s.amount.quantize(D("0.01")) and s.amount >= 0
        assert abs(Fraction(s.amount) - exact(total, households, s.area)) < FEN  # strictly


@settings(max_examples=300, database=None)
@given(total_st, st.lists(st.integers(1, 40).map(D), min_size=2, max_size=30))
def test_larger_area_never_pays_less(total, areas):
    """What holds exactly: area_i > area_j implies amount_i >= amount_j (no one-fen inversion,
    because a larger exact share has a larger floor, or the same floor and a larger remainder);
    equal areas differ by at most one fen, and the one listed earlier never pays less.
    Small integer areas make equal areas and equal remainders frequent."""
    households = [(f"h{i}", a) for i, a in enumerate(areas)]
    shares = apportion(total, households)
    for i, si in enumerate(shares):
        for sj in shares[i + 1 :]:
            if si.area > sj.area:
                assert si.amount >= sj.amount
            elif si.area < sj.area:
                assert si.amount <= sj.amount
            else:
                assert D("0") <= si.amount - sj.amount <= D("0.01")


@settings(max_examples=200, database=None)
@given(total_st, households_st, st.randoms(use_true_random=False))
def test_permuting_input_moves_a_share_by_at_most_a_fen(total, households, rnd):
    shuffled = list(households)
    rnd.shuffle(shuffled)
    before, after = amounts(apportion(total, households)), amounts(apportion(total, shuffled))
    assert before.keys() == after.keys()
    assert all(abs(before[k] - after[k]) <= D("0.01") for k in before)
    assert sum(after.values()) == total


# --- errors -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("total", "households", "words"),
    [
        (D("-0.01"), [("a", D("1"))], "负数"),
        (D("10.001"), [("a", D("1"))], "精确到分"),
        (D("1e13"), [("a", D("1"))], "过大"),
        (D("NaN"), [("a", D("1"))], "有限"),
        (10.5, [("a", D("1"))], "Decimal"),
        (D("10"), [], "没有参与分摊的住户"),
        (D("10"), [("a", D("0"))], "大于 0"),
        (D("10"), [("a", D("1")), ("b", D("-2"))], "大于 0"),
        (D("10"), [("a", D("1")), ("a", D("2"))], "重复"),
        (D("10"), [("a", 1.5)], "Decimal"),
    ],
)
def test_refused_inputs(total, households, words):
    with pytest.raises(ApportionmentError, match=words) as info:
        apportion(total, households)
    assert isinstance(info.value, ValueError)
