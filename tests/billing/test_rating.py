"""Rating: the demo operator's month worked by hand, then properties over random rate plans checked against
independent oracles (a unit-by-unit walk of the tiers, exact fractions rounded half-up) and the invariants
an invoice must keep: integer minor units, credits that never exceed their charges, minimums met exactly,
and tax rounded once per invoice."""

from __future__ import annotations

import math
from datetime import date
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bpo.billing.rating import (
    BillingPeriod,
    Line,
    LineKind,
    Proration,
    Rating,
    TaxRounding,
    consumption_tax,
    invoice_totals,
    rate,
)
from bpo.clients.schemas import (
    Charge,
    FixedMonthlyCharge,
    GraduatedCharge,
    Metric,
    PackageCharge,
    PersonMonthCharge,
    PerUnitCharge,
    RatePlanCreate,
    ServiceCredit,
    Tier,
    VolumeCharge,
)
from bpo.onboarding.manifest import load_manifest, rate_plan_create, rate_versions
from bpo.sla.engine import attainment

DEMO = Path(__file__).resolve().parents[2] / "tenants" / "demo.yaml"
OCTOBER = BillingPeriod.month(2026, 10)
METRICS = list(Metric)


def plan(
    *charges: Charge,
    currency: str = "JPY",
    minimum: int | None = None,
    credits: list[ServiceCredit] | None = None,
) -> RatePlanCreate:
    return RatePlanCreate(
        effective_from=date(2026, 1, 1),
        currency=currency,
        charges=list(charges),
        minimum_commitment=minimum,
        service_credits=credits or [],
    )


def tiers(*pairs: tuple[int | None, int]) -> list[Tier]:
    return [Tier(up_to=up_to, unit_price=price) for up_to, price in pairs]


def half_up(value: Fraction) -> int:
    return math.floor(value + Fraction(1, 2))


def exact(value: float) -> Fraction:
    return Fraction(str(value))


def tier_of(tier_list: list[Tier], unit: int) -> int:
    """Index of the tier the ``unit``-th unit falls in."""
    return next(i for i, tier in enumerate(tier_list) if tier.up_to is None or unit <= tier.up_to)


# --- strategies ----------------------------------------------------------------------------------------

prices = st.integers(min_value=0, max_value=1_000_000)
periods = st.builds(BillingPeriod.month, st.integers(2020, 2030), st.integers(1, 12))


@st.composite
def tier_lists(draw: st.DrawFn, max_bound: int = 5_000) -> list[Tier]:
    bounds = sorted(draw(st.sets(st.integers(1, max_bound), max_size=4)))
    return [Tier(up_to=b, unit_price=draw(prices)) for b in [*bounds, None]]


headcounts = st.one_of(
    st.integers(1, 1_000_000).map(lambda n: n / 100),
    st.floats(min_value=0.001, max_value=10_000, allow_nan=False, allow_infinity=False),
)
percents = st.one_of(
    st.integers(0, 10_000).map(lambda n: n / 100),
    st.floats(min_value=0, max_value=100, allow_nan=False),
)
charges = st.one_of(
    st.builds(PerUnitCharge, code=st.just("per-unit"), name=st.just("Per unit"), unit_price=prices),
    st.builds(GraduatedCharge, code=st.just("graduated"), name=st.just("Graduated"), tiers=tier_lists()),
    st.builds(VolumeCharge, code=st.just("volume"), name=st.just("Volume"), tiers=tier_lists()),
    st.builds(
        PackageCharge,
        code=st.just("package"),
        name=st.just("Package"),
        package_size=st.integers(1, 1_000),
        package_price=prices,
    ),
    st.builds(FixedMonthlyCharge, code=st.just("fixed"), name=st.just("Fixed"), amount=st.integers(0, 10**9)),
    st.builds(
        PersonMonthCharge,
        code=st.just("person-month"),
        name=st.just("Person-month"),
        headcount=headcounts,
        monthly_fee=st.integers(0, 10**7),
    ),
)
service_credits = st.lists(
    st.builds(
        ServiceCredit,
        below_percent=percents,
        credit_percent=percents,
        metric=st.none() | st.sampled_from(METRICS),
    ),
    max_size=4,
)
attainments = st.dictionaries(st.sampled_from(METRICS), st.none() | percents)


@st.composite
def contracts(draw: st.DrawFn) -> tuple[RatePlanCreate, BillingPeriod, int, int, dict[Metric, float | None]]:
    period = draw(periods)
    rate_plan = plan(
        *draw(st.lists(charges, max_size=4)),
        currency=draw(st.sampled_from(["JPY", "USD", "EUR"])),
        minimum=draw(st.none() | st.integers(0, 10**10)),
        credits=draw(service_credits),
    )
    units = draw(st.integers(0, 10**7))
    active_days = draw(st.integers(0, period.days))
    return rate_plan, period, units, active_days, draw(attainments)


# --- the demo operator's month ---------------------------------------------------------------------------


def demo_plans() -> dict[str, RatePlanCreate]:
    manifest, errors = load_manifest(DEMO.read_text())
    assert manifest is not None, errors
    return {
        contract.code: rate_plan_create(version, contract, client.currency)
        for client in manifest.clients
        for contract in client.contracts
        for _, version in rate_versions(contract)
    }


def test_the_demo_month_worked_by_hand() -> None:
    plans = demo_plans()

    # Lancers email: 10 stationed staff for the whole month, first response met by 880 of 1,000 items.
    lancers = rate(
        plans["LAN-EMAIL"],
        OCTOBER,
        units=7_400,
        attainment={Metric.FIRST_RESPONSE: attainment(met=880, breached=120), Metric.RESOLUTION: 97.0},
    )
    assert [(line.kind, line.quantity, line.unit_price, line.amount) for line in lancers.lines] == [
        (LineKind.CHARGE, Decimal("10.0"), Decimal(420_000), 4_200_000),
        (LineKind.SERVICE_CREDIT, Decimal(1), Decimal(-210_000), -210_000),
    ]
    assert lancers.lines[0].description == "Email support team (10 person-months)"
    assert lancers.lines[1].description == (
        "SLA service credit: first response attainment 88% below 90%, 5% of charges"
    )
    assert (lancers.charges, lancers.service_credit, lancers.subtotal) == (4_200_000, -210_000, 3_990_000)

    # Rakuten recipe review: graduated, 30,000 at 25 and 15,000 at 20; its SLA has no data, so no credit.
    rakuten = rate(plans["RKT-RECIPE-REVIEW"], OCTOBER, units=45_000, attainment={Metric.RESOLUTION: None})
    assert [(line.description, line.quantity, line.unit_price, line.amount) for line in rakuten.lines] == [
        ("Reviewed recipe posts (tier 1: 1-30,000)", Decimal(30_000), Decimal(25), 750_000),
        ("Reviewed recipe posts (tier 2: 30,001-60,000)", Decimal(15_000), Decimal(20), 300_000),
    ]
    assert rakuten.subtotal == 1_050_000

    # Pairs patrol: volume, every post at the 1,500,001-2,500,000 tier's 3; above the 4,000,000 minimum.
    pairs = rate(
        plans["EUR-PAIRS-PATROL"], OCTOBER, units=2_220_000, attainment={Metric.FIRST_RESPONSE: 99.2}
    )
    assert [(line.tier, line.quantity, line.unit_price, line.amount) for line in pairs.lines] == [
        (2, Decimal(2_220_000), Decimal(3), 6_660_000)
    ]
    assert pairs.minimum_top_up == 0
    assert pairs.subtotal == 6_660_000

    # One invoice per client, 10% consumption tax on each invoice's subtotal.
    assert invoice_totals(lancers.lines) == (3_990_000, 399_000, 4_389_000)
    assert invoice_totals(rakuten.lines) == (1_050_000, 105_000, 1_155_000)
    assert invoice_totals(pairs.lines) == (6_660_000, 666_000, 7_326_000)


def test_the_demo_plans_when_a_month_goes_badly() -> None:
    plans = demo_plans()
    # Pairs patrol in a quiet month: 900,000 posts at 4 fall short of the 4,000,000 minimum.
    pairs = rate(plans["EUR-PAIRS-PATROL"], OCTOBER, units=900_000, attainment={Metric.FIRST_RESPONSE: 94.0})
    assert [(line.kind, line.amount) for line in pairs.lines] == [
        (LineKind.CHARGE, 3_600_000),
        (LineKind.MINIMUM_TOP_UP, 400_000),
        # Below both 99 and 95: the larger credit alone, on the charges including the top-up.
        (LineKind.SERVICE_CREDIT, -400_000),
    ]
    # Rakuten review at 88% on its worst objective: 10% (below 90), not 5% + 10%.
    rakuten = rate(
        plans["RKT-RECIPE-REVIEW"],
        OCTOBER,
        units=70_000,
        attainment={Metric.FIRST_RESPONSE: 99.0, Metric.RESOLUTION: 88.0},
    )
    assert [line.amount for line in rakuten.lines] == [750_000, 600_000, 150_000, -150_000]
    assert rakuten.lines[2].description == "Reviewed recipe posts (tier 3: from 60,001)"
    assert "resolution attainment 88% below 90%, 10%" in rakuten.lines[3].description


# --- tiers and packages ------------------------------------------------------------------------------------


@given(tier_list=tier_lists(max_bound=2_500), units=st.integers(0, 3_000))
def test_graduated_total_is_the_sum_of_its_tiers_and_of_a_unit_by_unit_walk(
    tier_list: list[Tier], units: int
) -> None:
    rating = rate(plan(GraduatedCharge(code="g", name="G", tiers=tier_list)), OCTOBER, units=units)
    walk = sum(tier_list[tier_of(tier_list, unit)].unit_price for unit in range(1, units + 1))
    assert rating.subtotal == sum(line.amount for line in rating.lines) == walk
    assert sum(line.quantity for line in rating.lines) == units
    for line in rating.lines:
        assert line.tier is not None
        assert line.unit_price == tier_list[line.tier - 1].unit_price
        assert line.amount == line.quantity * line.unit_price


@given(tier_list=tier_lists(max_bound=10**9), units=st.integers(0, 2 * 10**9))
def test_graduated_lines_fill_tiers_in_order(tier_list: list[Tier], units: int) -> None:
    lines = rate(plan(GraduatedCharge(code="g", name="G", tiers=tier_list)), OCTOBER, units=units).lines
    # The tiers used are 1..n, every one but the last full, and a month without units shows tier 1 at 0.
    assert [line.tier for line in lines] == list(range(1, tier_of(tier_list, max(units, 1)) + 2))
    below = 0
    for line, tier in zip(lines[:-1], tier_list, strict=False):
        assert tier.up_to is not None
        assert line.quantity == tier.up_to - below
        below = tier.up_to
    assert lines[-1].quantity == units - below


@given(tier_list=tier_lists(max_bound=10**9), units=st.integers(0, 2 * 10**9))
def test_volume_total_uses_exactly_one_tier(tier_list: list[Tier], units: int) -> None:
    rating = rate(plan(VolumeCharge(code="v", name="V", tiers=tier_list)), OCTOBER, units=units)
    [line] = rating.lines
    assert line.tier is not None
    tier = tier_list[line.tier - 1]
    below = tier_list[line.tier - 2].up_to if line.tier > 1 else 0
    assert below is not None
    assert below < units or line.tier == 1
    assert tier.up_to is None or units <= tier.up_to
    assert (line.quantity, line.unit_price) == (Decimal(units), Decimal(tier.unit_price))
    assert rating.subtotal == units * tier.unit_price


@pytest.mark.parametrize(
    ("units", "tier", "amount"),
    [(0, 1, 0), (1, 1, 4), (1_500_000, 1, 6_000_000), (1_500_001, 2, 4_500_003), (2_500_001, 3, 5_000_002)],
)
def test_volume_tier_boundaries_are_inclusive(units: int, tier: int, amount: int) -> None:
    charge = VolumeCharge(code="v", name="V", tiers=tiers((1_500_000, 4), (2_500_000, 3), (None, 2)))
    [line] = rate(plan(charge), OCTOBER, units=units).lines
    assert (line.tier, line.amount) == (tier, amount)


@given(size=st.integers(1, 10_000), price=prices, units=st.integers(0, 10**8))
def test_package_charges_every_started_package(size: int, price: int, units: int) -> None:
    charge = PackageCharge(code="p", name="P", package_size=size, package_price=price)
    [line] = rate(plan(charge), OCTOBER, units=units).lines
    packages = int(line.quantity)
    assert packages * size >= units > (packages - 1) * size
    assert line.amount == packages * price


@pytest.mark.parametrize(("units", "packages"), [(0, 0), (1, 1), (100, 1), (101, 2), (600, 6), (612, 7)])
def test_package_boundaries(units: int, packages: int) -> None:
    charge = PackageCharge(code="p", name="Replies", package_size=100, package_price=50_000, unit="reply")
    [line] = rate(plan(charge), OCTOBER, units=units).lines
    assert (line.quantity, line.amount) == (Decimal(packages), packages * 50_000)


# --- proration ---------------------------------------------------------------------------------------------


def test_a_contract_starting_mid_month_pays_for_its_days() -> None:
    active = OCTOBER.active_days(date(2026, 10, 17), None)
    assert active == 15
    rating = rate(
        plan(
            PersonMonthCharge(code="team", name="Team", headcount=10, monthly_fee=420_000),
            FixedMonthlyCharge(code="report", name="Report", amount=80_000),
            PerUnitCharge(code="replies", name="Replies", unit_price=600),
            minimum=5_000_000,
        ),
        OCTOBER,
        units=100,
        active_days=active,
    )
    # 4,200,000 x 15/31 = 2,032,258.06; 80,000 x 15/31 = 38,709.68; minimum 5,000,000 x 15/31 = 2,419,354.84.
    assert [(line.kind, line.amount) for line in rating.lines] == [
        (LineKind.CHARGE, 2_032_258),
        (LineKind.CHARGE, 38_710),
        (LineKind.CHARGE, 60_000),
        (LineKind.MINIMUM_TOP_UP, 2_419_355 - 2_130_968),
    ]
    assert rating.subtotal == 2_419_355
    assert [line.proration for line in rating.lines] == [Proration(15, 31), Proration(15, 31), None, None]
    assert rating.lines[0].description == "Team (10 person-months), 15/31 days"


@given(
    period=periods,
    headcount=headcounts,
    fee=st.integers(0, 10**8),
    amount=st.integers(0, 10**12),
    data=st.data(),
)
def test_prorated_fees_are_exact_to_the_minor_unit(
    period: BillingPeriod, headcount: float, fee: int, amount: int, data: st.DataObject
) -> None:
    active = data.draw(st.integers(0, period.days))
    rating = rate(
        plan(
            PersonMonthCharge(code="team", name="Team", headcount=headcount, monthly_fee=fee),
            FixedMonthlyCharge(code="fixed", name="Fixed", amount=amount),
        ),
        period,
        units=0,
        active_days=active,
    )
    share = Fraction(active, period.days)
    assert [line.amount for line in rating.lines] == [
        half_up(exact(headcount) * fee * share),
        half_up(amount * share),
    ]
    if active == period.days:
        assert rating.lines[1].amount == amount
        assert all(line.proration is None for line in rating.lines)


@given(period=periods, fee=st.integers(0, 10**9), data=st.data())
def test_proration_grows_with_the_days_and_splits_within_rounding(
    period: BillingPeriod, fee: int, data: st.DataObject
) -> None:
    days = data.draw(st.integers(0, period.days))
    fixed = plan(FixedMonthlyCharge(code="f", name="F", amount=fee))
    first = rate(fixed, period, units=0, active_days=days).subtotal
    rest = rate(fixed, period, units=0, active_days=period.days - days).subtotal
    assert first <= rate(fixed, period, units=0, active_days=min(days + 1, period.days)).subtotal
    # Two contracts splitting the month each round once: together they are off by at most one unit.
    assert abs(first + rest - fee) <= 1


def test_billing_periods() -> None:
    assert BillingPeriod.month(2028, 2).days == 29
    assert BillingPeriod.month(2026, 2).last_day == date(2026, 2, 28)
    assert OCTOBER.active_days(date(2026, 1, 1), None) == 31
    assert OCTOBER.active_days(date(2026, 10, 31), None) == 1
    assert OCTOBER.active_days(date(2026, 1, 1), date(2026, 10, 10)) == 10
    assert OCTOBER.active_days(date(2026, 11, 1), None) == 0
    assert OCTOBER.active_days(date(2026, 1, 1), date(2026, 9, 30)) == 0
    # A period closing on the 20th: 21 October to 20 November.
    twentieth = BillingPeriod(date(2026, 10, 21), date(2026, 11, 20))
    assert twentieth.days == 31
    assert twentieth.active_days(date(2026, 10, 25), None) == 27
    with pytest.raises(ValueError, match="1 to 62 days"):
        BillingPeriod(date(2026, 10, 2), date(2026, 10, 1))
    with pytest.raises(ValueError, match="1 to 62 days"):
        BillingPeriod(date(2026, 10, 1), date(2026, 12, 2))


# --- minimum commitment and service credits ---------------------------------------------------------------


@given(contract=contracts())
@settings(max_examples=300)
def test_minimum_top_up_brings_charges_exactly_to_the_prorated_minimum(
    contract: tuple[RatePlanCreate, BillingPeriod, int, int, dict[Metric, float | None]],
) -> None:
    rate_plan, period, units, active, measured = contract
    rating = rate(rate_plan, period, units=units, active_days=active, attainment=measured)
    minimum = (
        0
        if rate_plan.minimum_commitment is None
        else half_up(Fraction(rate_plan.minimum_commitment * active, period.days))
    )
    assert rating.charges + rating.minimum_top_up == max(rating.charges, minimum)
    assert [line.kind for line in rating.lines].count(LineKind.MINIMUM_TOP_UP) == (rating.charges < minimum)


@given(contract=contracts())
@settings(max_examples=300)
def test_credits_are_never_positive_nor_more_than_the_charges(
    contract: tuple[RatePlanCreate, BillingPeriod, int, int, dict[Metric, float | None]],
) -> None:
    rate_plan, period, units, active, measured = contract
    rating = rate(rate_plan, period, units=units, active_days=active, attainment=measured)
    charged = rating.charges + rating.minimum_top_up
    credit_lines = [line for line in rating.lines if line.kind is LineKind.SERVICE_CREDIT]
    # One credit at most, and no line for a credit that rounds to nothing.
    assert len(credit_lines) == (rating.service_credit != 0)
    assert -charged <= rating.service_credit <= 0
    assert rating.subtotal >= 0

    known = {metric: exact(value) for metric, value in measured.items() if value is not None}
    triggered = [
        exact(rule.credit_percent)
        for rule in rate_plan.service_credits
        if (value := known.get(rule.metric) if rule.metric else min(known.values(), default=None)) is not None
        and value < exact(rule.below_percent)
    ]
    assert rating.service_credit == -half_up(charged * max(triggered, default=Fraction(0)) / 100)


@pytest.mark.parametrize(
    "measured",
    [{}, {Metric.FIRST_RESPONSE: None, Metric.RESOLUTION: None}, {Metric.RESOLUTION: 10.0}],
    ids=["no objectives", "no items decided", "another metric"],
)
def test_no_attainment_data_means_no_credit(measured: dict[Metric, float | None]) -> None:
    rule = ServiceCredit(below_percent=90, credit_percent=50, metric=Metric.FIRST_RESPONSE)
    charge = FixedMonthlyCharge(code="f", name="F", amount=100_000)
    rating = rate(plan(charge, credits=[rule]), OCTOBER, units=0, attainment=measured)
    assert rating.service_credit == 0
    assert rating.subtotal == 100_000


def test_a_credit_without_a_metric_follows_the_worst_attainment() -> None:
    rules = [
        ServiceCredit(below_percent=95, credit_percent=5),
        ServiceCredit(below_percent=90, credit_percent=10),
    ]
    charge = FixedMonthlyCharge(code="f", name="F", amount=100_000)

    def credit(measured: dict[Metric, float | None]) -> int:
        return rate(plan(charge, credits=rules), OCTOBER, units=0, attainment=measured).service_credit

    assert credit({Metric.FIRST_RESPONSE: 99.0, Metric.COVERAGE: 96.0}) == 0
    assert credit({Metric.FIRST_RESPONSE: 99.0, Metric.COVERAGE: 94.5}) == -5_000
    assert credit({Metric.FIRST_RESPONSE: 89.0, Metric.COVERAGE: None}) == -10_000
    # Exactly on the threshold is not below it; 9 of 10 from the SLA engine is exactly 90.
    assert credit({Metric.FIRST_RESPONSE: attainment(met=9, breached=1)}) == -5_000
    assert credit({Metric.FIRST_RESPONSE: 95.0}) == 0


def test_a_credit_is_rounded_half_up_once() -> None:
    rule = ServiceCredit(below_percent=90, credit_percent=2.5)

    def credit(units: int) -> int:
        charge = PerUnitCharge(code="u", name="U", unit_price=1)
        rating = rate(
            plan(charge, credits=[rule]), OCTOBER, units=units, attainment={Metric.RESOLUTION: 50.0}
        )
        return rating.service_credit

    # 2.5% of 1,001 is 25.025; of 1,060, 26.5, which goes to the client (half-up, not to even).
    assert credit(1_001) == -25
    assert credit(1_060) == -27


def test_floats_from_the_schemas_are_read_as_written() -> None:
    # 0.15 as a binary float is 0.1499999999999999944...; 0.15 x 10 is exactly 1.5, which rounds half-up to 2.
    charge = PersonMonthCharge(code="s", name="Staff", headcount=0.15, monthly_fee=10)
    [line] = rate(plan(charge), OCTOBER, units=0).lines
    assert (line.quantity, line.amount) == (Decimal("0.15"), 2)
    rule = ServiceCredit(below_percent=90, credit_percent=0.15)
    fee = FixedMonthlyCharge(code="f", name="F", amount=1_000)
    credited = rate(plan(fee, credits=[rule]), OCTOBER, units=0, attainment={Metric.COVERAGE: 80.0})
    assert credited.service_credit == -2


# --- whole ratings and invoice totals -----------------------------------------------------------------------


@given(contract=contracts())
@settings(max_examples=300)
def test_amounts_are_integer_minor_units_and_quantities_decimals(
    contract: tuple[RatePlanCreate, BillingPeriod, int, int, dict[Metric, float | None]],
) -> None:
    rate_plan, period, units, active, measured = contract
    rating = rate(rate_plan, period, units=units, active_days=active, attainment=measured)
    assert rating.currency == rate_plan.currency
    for line in rating.lines:
        assert type(line.amount) is int
        assert type(line.quantity) is Decimal
        assert type(line.unit_price) is Decimal
        share = Fraction(1) if line.proration is None else Fraction(active, period.days)
        assert line.proration in (None, Proration(active, period.days))
        assert abs(line.amount) == half_up(abs(Fraction(line.quantity) * Fraction(line.unit_price) * share))
    assert rating.subtotal == rating.charges + rating.minimum_top_up + rating.service_credit
    totals = invoice_totals(rating.lines)
    assert (totals.subtotal, totals.total) == (rating.subtotal, rating.subtotal + totals.tax)
    assert all(type(value) is int for value in (totals.subtotal, totals.tax, totals.total))


def _lines(*amounts: int) -> list[Line]:
    return [
        Line(LineKind.CHARGE, f"c{i}", "C", Decimal(1), Decimal(amount), amount)
        for i, amount in enumerate(amounts)
    ]


def test_tax_is_rounded_once_per_invoice_not_per_line() -> None:
    lines = _lines(105, 105, 105)
    # Per line, 10.5 truncates to 10 three times; on the invoice, 31.5 truncates to 31.
    assert sum(consumption_tax(line.amount) for line in lines) == 30
    assert invoice_totals(lines) == (315, 31, 346)
    assert invoice_totals(lines, rounding=TaxRounding.HALF_UP) == (315, 32, 347)


@pytest.mark.parametrize(
    ("subtotal", "rate_", "rounding", "tax"),
    [
        (1_005, Decimal("0.10"), TaxRounding.TRUNCATE, 100),
        (1_005, Decimal("0.10"), TaxRounding.HALF_UP, 101),
        (1_004, Decimal("0.10"), TaxRounding.HALF_UP, 100),
        (-1_005, Decimal("0.10"), TaxRounding.TRUNCATE, -100),
        (-1_005, Decimal("0.10"), TaxRounding.HALF_UP, -101),
        (1_005, Decimal("0.08"), TaxRounding.TRUNCATE, 80),
        (1_005, Decimal(0), TaxRounding.TRUNCATE, 0),
    ],
)
def test_tax_rounding(subtotal: int, rate_: Decimal, rounding: TaxRounding, tax: int) -> None:
    assert consumption_tax(subtotal, rate_, rounding) == tax


@given(
    amounts=st.lists(st.integers(-(10**9), 10**12), max_size=30),
    tax_rate=st.sampled_from([Decimal("0.10"), Decimal("0.08"), Decimal("0.05"), Decimal("0.075")]),
    rounding=st.sampled_from(TaxRounding),
)
def test_invoice_tax_is_the_subtotal_taxed_and_rounded_once(
    amounts: list[int], tax_rate: Decimal, rounding: TaxRounding
) -> None:
    lines = _lines(*amounts)
    totals = invoice_totals(lines, tax_rate, rounding)
    taxed = sum(amounts) * Fraction(tax_rate)
    expected = math.trunc(taxed) if rounding is TaxRounding.TRUNCATE else _half_away(taxed)
    assert totals == (sum(amounts), expected, sum(amounts) + expected)
    per_line = sum(consumption_tax(amount, tax_rate, rounding) for amount in amounts)
    assert abs(per_line - totals.tax) <= len(amounts)


def _half_away(value: Fraction) -> int:
    return half_up(value) if value >= 0 else -half_up(-value)


def test_jpy_rounds_to_the_yen_and_usd_to_the_cent() -> None:
    # The same figures, read as yen or as cents: 1.5 x 1,003 = 1,504.5 rounds half-up to 1,505 minor units,
    # ¥1,505 or $15.05; the rounding always lands on the currency's minor unit.
    charge = PersonMonthCharge(code="s", name="Staff", headcount=1.5, monthly_fee=1_003)
    jpy = rate(plan(charge, currency="JPY"), OCTOBER, units=0)
    usd = rate(plan(charge, currency="USD"), OCTOBER, units=0)
    assert (jpy.currency, jpy.subtotal) == ("JPY", 1_505)
    assert (usd.currency, usd.subtotal) == ("USD", 1_505)
    # $4,200.00 a month for 15 of 31 days is $2,032.258... → $2,032.26; ¥420,000 is ¥203,225.8 → ¥203,226.
    fee = PersonMonthCharge(code="s", name="Staff", headcount=1, monthly_fee=420_000)
    assert rate(plan(fee, currency="USD"), OCTOBER, units=0, active_days=15).subtotal == 203_226
    assert rate(plan(fee, currency="JPY"), OCTOBER, units=0, active_days=15).subtotal == 203_226
    # A USD price of $0.35 per item is 35 cents: 1,001 items are $350.35, and tax truncates to the cent.
    cents = rate(plan(PerUnitCharge(code="u", name="U", unit_price=35), currency="USD"), OCTOBER, units=1_001)
    assert invoice_totals(cents.lines) == (35_035, 3_503, 38_538)


@pytest.mark.parametrize(
    ("rate_plan", "units", "active_days", "message"),
    [
        (plan(currency="XYZ"), 0, None, "unsupported currency"),
        (plan(), -1, None, "units must not be negative"),
        (plan(), 0, 32, r"active days must be within 0\.\.31"),
        (plan(), 0, -1, r"active days must be within 0\.\.31"),
        (
            plan(GraduatedCharge(code="g", name="G", tiers=tiers((100, 5), (50, 4), (None, 3)))),
            0,
            None,
            "g.tiers",
        ),
        (
            plan(VolumeCharge(code="v", name="V", tiers=tiers((100, 5)))),
            0,
            None,
            "last tier must be unbounded",
        ),
        (plan(credits=[ServiceCredit(below_percent=90, credit_percent=150)]), 0, None, "credit_percent"),
        (plan(credits=[ServiceCredit(below_percent=-1, credit_percent=5)]), 0, None, "below_percent"),
    ],
)
def test_plans_and_inputs_that_cannot_be_rated_are_refused(
    rate_plan: RatePlanCreate, units: int, active_days: int | None, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        rate(rate_plan, OCTOBER, units=units, active_days=active_days)


def test_tax_rate_must_be_a_non_negative_number() -> None:
    with pytest.raises(ValueError, match="non-negative"):
        consumption_tax(100, Decimal("-0.1"))
    with pytest.raises(ValueError, match="non-negative"):
        consumption_tax(100, Decimal("NaN"))


def test_a_rating_is_a_value() -> None:
    charge = PerUnitCharge(code="u", name="U", unit_price=8)
    first = rate(plan(charge), OCTOBER, units=60_000)
    assert first == rate(plan(charge), OCTOBER, units=60_000)
    assert isinstance(first, Rating)
    assert first.lines == (Line(LineKind.CHARGE, "u", "U", Decimal(60_000), Decimal(8), 480_000),)
