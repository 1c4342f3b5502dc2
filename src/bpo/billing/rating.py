"""Rating: a contract's rate plan, its billable units and SLA attainment for one billing period → invoice
lines. Pure: the caller supplies the plan versions in force, the units and the attainment.

Periods. A billing period runs from the day after the client's closing day to the next one
(``clients.periods``); a month-end closing gives the calendar month. "Monthly" in the rate plan means
"per period".

Versions. A rate plan version taking effect inside a period splits it (``rate_split``): each version
rates the units of its own days, and its fixed fees and minimum are prorated by its days in force over
the period's days. Tiers and packages count through the whole period, not afresh per version: the first
version's units take the first places in the tiers, the next version's units follow (graduated); a volume
tier is chosen by the period's total; a package is charged by the version in force when it is started.
So splitting a period between two versions with the same prices changes no amount of a usage charge.

Money. Every amount is an ``int`` of the currency's minor units (yen for JPY, cents for USD and EUR), and
unit prices are ``Decimal`` minor units per unit, as the rate plan states them; so rating never needs a
currency's exponent. Arithmetic is ``Decimal`` only (floats from the schemas, headcount and percentages,
enter through ``str``) and rounds only where a fraction can arise, once per line, half-up
(``RATING_ROUNDING``): proration, person-months with a fractional headcount, and service credits.
Units times integer prices, tiers and packages are exact.

Proration. Person-month fees, fixed monthly fees and the minimum commitment are all prorated by the days
the contract was active (under the version) over the days of the period, so a contract starting mid-period
pays for the days it ran and is held to the same share of its minimum. The first period after a change of
closing day is shorter or longer than a month: its fees are prorated over the days of a regular period
ending on the same closing date (1-20 January closing on the 20th: 20/31, 21 November - 31 December
closing at the month end: 41/31). Usage charges need no proration:
they rate the units of the active days.

Tiers. ``up_to`` is inclusive: ``[{up_to: 30000, unit_price: 25}, {up_to: null, unit_price: 20}]``
prices units 1-30,000 at 25 and every unit from 30,001 at 20 (graduated), or all units at 20 once the
total passes 30,000 (volume).

Service credits. Each rule compares the attainment of its metric (a rule without one: the worst attainment
among the metrics with data) with ``below_percent``. Of the rules that trigger, the one with the largest
``credit_percent`` applies, alone: credits do not stack. It credits that percentage of the period's
charges including any minimum top-up, so a credit never exceeds what it applies to. No data, no credit.
Attainment is measured over the whole period; each version's credit rules apply to that version's lines.

Meters. A usage charge rates the units of a meter: the contract's billable event (``DEFAULT_METER``), or
one of the version's ``meters`` (items of some kinds, channels or outcomes, their units summed or the items
counted). Tiers and packages count through the period per meter.

Surcharges. A night or holiday surcharge adds, for the units of a charge's items received in its window, a
price per unit or the extra part of a multiplier of the charge's unit price (per-unit and volume charges);
each is a line of its own after its charge's lines. An item received on a holiday night pays both. A
fractional amount is rounded through the period, like tiers count: a segment's line is the rounded total up
to its end less the rounded total before it, so splitting a period changes no surcharge's total.

Tax is per invoice and rate, not per line: each line has a tax class (its charge's, else the client's; an
exempt client's lines are all exempt), and ``taxes_by_rate`` adds the lines of every contract on an invoice
per rate and rounds each rate's consumption tax once (適格請求書: 税率ごとに区分した消費税額, one rounding per
rate and invoice).
"""

from __future__ import annotations

import calendar
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import ROUND_DOWN, ROUND_HALF_UP, Context, Decimal, localcontext
from enum import StrEnum
from typing import NamedTuple, assert_never

import msgspec

from bpo.clients import rules
from bpo.clients.schemas import (
    USAGE_CHARGES,
    Charge,
    FixedMonthlyCharge,
    GraduatedCharge,
    Metric,
    PackageCharge,
    PersonMonthCharge,
    PerUnitCharge,
    RatePlan,
    RatePlanCreate,
    ServiceCredit,
    Surcharge,
    SurchargeWindow,
    TaxClass,
    Tier,
    UsageCharge,
    VolumeCharge,
)
from bpo.core.money import is_supported_currency

RATING_ROUNDING = ROUND_HALF_UP
CONSUMPTION_TAX_RATE = Decimal("0.10")
# 軽減税率.
REDUCED_TAX_RATE = Decimal("0.08")
# The meter of a usage charge that names none: the contract's billable event.
DEFAULT_METER = ""

# Products of amounts (< 10^16), unit counts and percentages stay far below 60 digits, so they are exact;
# a quotient by the days of a period is rounded only beyond the 40th digit, too far to move a half-unit.
_ARITHMETIC = Context(prec=60, rounding=ROUND_HALF_UP)
_ONE = Decimal(1)
_HUNDRED = Decimal(100)
# From the 1st to the month end of the next month, when a closing day moves from the 1st to the month end.
_LONGEST_PERIOD = timedelta(days=62)


class LineKind(StrEnum):
    CHARGE = "charge"
    SURCHARGE = "surcharge"
    MINIMUM_TOP_UP = "minimum_top_up"
    SERVICE_CREDIT = "service_credit"


class TaxRounding(StrEnum):
    # 切り捨て, the usual choice on Japanese invoices. Toward zero rather than floor, so a credit note's tax
    # is exactly the negative of the tax it reverses; the two agree on every non-negative subtotal.
    TRUNCATE = "truncate"
    # 四捨五入.
    HALF_UP = "half_up"


_TAX_ROUNDING = {TaxRounding.TRUNCATE: ROUND_DOWN, TaxRounding.HALF_UP: ROUND_HALF_UP}


@dataclass(frozen=True, slots=True)
class BillingPeriod:
    first_day: date
    last_day: date
    # Days of a regular period ending on the same closing date, what "monthly" fees are prorated over;
    # the period's own days unless it is the first after a change of closing day (shorter or longer).
    regular_days: int | None = None

    def __post_init__(self) -> None:
        if not timedelta(0) <= self.last_day - self.first_day < _LONGEST_PERIOD:
            raise ValueError(
                f"a billing period runs from 1 to 62 days, got {self.first_day.isoformat()}"
                f"..{self.last_day.isoformat()}"
            )

    @classmethod
    def month(cls, year: int, month: int) -> BillingPeriod:
        first = date(year, month, 1)
        return cls(first, _month_end(first))

    @property
    def days(self) -> int:
        return (self.last_day - self.first_day).days + 1

    @property
    def proration_days(self) -> int:
        return self.days if self.regular_days is None else self.regular_days

    def proration(self, active_days: int) -> Proration | None:
        base = self.proration_days
        return None if active_days == base else Proration(active_days, base)

    def active_days(self, start_date: date, end_date: date | None) -> int:
        """Days of this period within a contract from ``start_date`` to ``end_date``, both inclusive."""
        first = max(self.first_day, start_date)
        last = self.last_day if end_date is None else min(self.last_day, end_date)
        return max(0, (last - first).days + 1)


@dataclass(frozen=True, slots=True)
class Metered:
    """A meter's units over some days, and of those the units of the items received in each surcharge's
    window, by surcharge code."""

    units: int
    surcharged: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Segment:
    """Days of a period under one rate plan version, and the billable units of those days."""

    plan: RatePlan | RatePlanCreate
    first_day: date
    last_day: date
    # The contract's billable event (``DEFAULT_METER``).
    units: int
    # The version's meters by code; under DEFAULT_METER, the billable event's surcharged units.
    meters: Mapping[str, Metered] = field(default_factory=dict)

    @property
    def days(self) -> int:
        return (self.last_day - self.first_day).days + 1

    def metered(self, meter: str) -> Metered | None:
        if meter in self.meters:
            return self.meters[meter]
        return Metered(self.units) if meter == DEFAULT_METER else None


@dataclass(frozen=True, slots=True)
class Proration:
    active_days: int
    period_days: int


class Line(msgspec.Struct, frozen=True, gc=False):
    """An invoice line as rating makes it (a frozen struct: a month-end run makes thousands, and a frozen
    dataclass costs several times as much to build)."""

    kind: LineKind
    code: str
    description: str
    quantity: Decimal
    # Minor units per unit of quantity. amount = quantity x unit_price, times the proration's
    # active_days / period_days when there is one, rounded half-up.
    unit_price: Decimal
    amount: int
    # 1-based position of the tier in a graduated or volume charge.
    tier: int | None = None
    proration: Proration | None = None
    # The days the line bills, when a version covers only part of the period (``rate_split``).
    first_day: date | None = None
    last_day: date | None = None
    # The charge's tax class; None: the client's (``line_tax_class``).
    tax_class: TaxClass | None = None


@dataclass(frozen=True, slots=True)
class Rating:
    currency: str
    period: BillingPeriod
    lines: tuple[Line, ...]

    def total(self, kind: LineKind) -> int:
        return sum(line.amount for line in self.lines if line.kind is kind)

    @property
    def charges(self) -> int:
        return self.total(LineKind.CHARGE)

    @property
    def surcharges(self) -> int:
        return self.total(LineKind.SURCHARGE)

    @property
    def minimum_top_up(self) -> int:
        return self.total(LineKind.MINIMUM_TOP_UP)

    @property
    def service_credit(self) -> int:
        return self.total(LineKind.SERVICE_CREDIT)

    @property
    def subtotal(self) -> int:
        return sum(line.amount for line in self.lines)


class InvoiceTotals(NamedTuple):
    subtotal: int
    tax: int
    total: int


@dataclass(frozen=True, slots=True)
class TaxSubtotal:
    """The lines of one tax class on an invoice: their total and its consumption tax, rounded once."""

    tax_class: TaxClass
    rate: Decimal
    taxable: int
    tax: int

    def to_stored(self) -> dict[str, object]:
        rate = f"{self.rate.normalize():f}"
        return {"tax_class": self.tax_class.value, "rate": rate, "taxable": self.taxable, "tax": self.tax}

    @classmethod
    def from_stored(cls, row: Mapping[str, object]) -> TaxSubtotal:
        return cls(
            TaxClass(str(row["tax_class"])),
            Decimal(str(row["rate"])),
            int(str(row["taxable"])),
            int(str(row["tax"])),
        )


def rate(
    plan: RatePlan | RatePlanCreate,
    period: BillingPeriod,
    *,
    units: int,
    attainment: Mapping[Metric, float | Decimal | None] | None = None,
    active_days: int | None = None,
    meters: Mapping[str, Metered] | None = None,
) -> Rating:
    """Rate one contract for one month.

    ``units``: the contract's billable units in the month, rated by every usage charge of the plan that
    names no meter; ``meters``: the units of the plan's meters (and under DEFAULT_METER the surcharged
    units of ``units``). ``attainment``: percent per metric for the month, ``None`` where nothing was
    measured; one figure per metric (the worst, if several objectives share one). ``active_days``: days of
    the month the contract ran (``BillingPeriod.active_days``), the whole month by default.
    """
    days = period.days if active_days is None else active_days
    segment = Segment(plan, period.first_day, period.last_day, units, meters or {})
    _check(segment, period, days)
    lines = _Rater([segment]).lines(segment, period.proration(days), attainment or {})
    return Rating(plan.currency, period, tuple(lines))


def rate_split(
    period: BillingPeriod,
    segments: Sequence[Segment],
    *,
    attainment: Mapping[Metric, float | Decimal | None] | None = None,
) -> Rating:
    """Rate one contract for a period split between rate plan versions: ``segments`` in date order, each
    inside the period, not overlapping, all in one currency. One segment covering the contract's active
    days gives what ``rate`` gives, its lines dated with the segment's days."""
    if not segments:
        raise ValueError("a split period needs at least one segment")
    currencies = {segment.plan.currency for segment in segments}
    if len(currencies) != 1:
        raise ValueError(f"the versions of one period are rated in one currency, got {sorted(currencies)}")
    previous = period.first_day - timedelta(days=1)
    for segment in segments:
        if not previous < segment.first_day <= segment.last_day <= period.last_day:
            raise ValueError(
                f"segment {segment.first_day}..{segment.last_day} is not after {previous} within the period"
            )
        _check(segment, period, segment.days)
        previous = segment.last_day
    split = len(segments) > 1
    lines: list[Line] = []
    rater = _Rater(segments)
    for segment in segments:
        proration = period.proration(segment.days)
        for line in rater.lines(segment, proration, attainment or {}):
            description = line.description
            if split:
                description += f" ({segment.first_day.isoformat()} to {segment.last_day.isoformat()})"
            lines.append(
                msgspec.structs.replace(
                    line, description=description, first_day=segment.first_day, last_day=segment.last_day
                )
            )
    return Rating(segments[0].plan.currency, period, tuple(lines))


class _Usage(NamedTuple):
    # Units of the days rated, units of the period's days before them, units of the whole period.
    units: int
    before: int
    total: int


def _meter_of(charge: UsageCharge) -> str:
    return charge.meter or DEFAULT_METER


def _meters_used(plan: RatePlan | RatePlanCreate) -> set[str]:
    return {_meter_of(charge) for charge in plan.charges if isinstance(charge, USAGE_CHARGES)}


class _Rater:
    """Rates the segments of one period in date order: each meter's units before a segment and in the whole
    period (tiers and packages count through the period), and each surcharge's exact amount so far (rounded
    through the period)."""

    def __init__(self, segments: Sequence[Segment]) -> None:
        self.totals: dict[str, int] = {}
        for segment in segments:
            for meter in _meters_used(segment.plan):
                self.totals[meter] = self.totals.get(meter, 0) + _units(segment, meter).units
        self.before: dict[str, int] = {}
        self.carried: dict[tuple[str, str], Decimal] = {}

    def lines(
        self,
        segment: Segment,
        proration: Proration | None,
        attainment: Mapping[Metric, float | Decimal | None],
    ) -> list[Line]:
        plan = segment.plan
        used = _meters_used(plan)
        with localcontext(_ARITHMETIC):
            lines: list[Line] = []
            for charge in plan.charges:
                usage = _Usage(0, 0, 0)
                metered = Metered(0)
                if isinstance(charge, USAGE_CHARGES):
                    meter = _meter_of(charge)
                    metered = _units(segment, meter)
                    usage = _Usage(metered.units, self.before.get(meter, 0), self.totals[meter])
                charged = _charge_lines(charge, usage, proration)
                if charge.tax_class is not None:
                    charged = [msgspec.structs.replace(line, tax_class=charge.tax_class) for line in charged]
                lines += charged
                if isinstance(charge, USAGE_CHARGES):
                    lines += [
                        self._surcharge(surcharge, charge, usage, metered.surcharged.get(surcharge.code, 0))
                        for surcharge in plan.surcharges
                        if charge.code in surcharge.charges
                    ]
            charges = sum(line.amount for line in lines)
            shared = _shared_class(lines)
            if plan.minimum_commitment is not None:
                minimum = _prorated(Decimal(plan.minimum_commitment), proration)
                if charges < minimum:
                    lines.append(_top_up(minimum - charges, proration, shared))
            lines += _service_credits(plan.service_credits, attainment, lines)
        for meter in used:
            self.before[meter] = self.before.get(meter, 0) + _units(segment, meter).units
        return lines

    def _surcharge(self, surcharge: Surcharge, charge: UsageCharge, usage: _Usage, units: int) -> Line:
        if surcharge.unit_price is not None:
            price = Decimal(surcharge.unit_price)
        else:
            assert surcharge.multiplier is not None
            price = _unit_price(charge, usage) * (_decimal(surcharge.multiplier) - _ONE)
        key = (surcharge.code, charge.code)
        before = self.carried.get(key, Decimal(0))
        self.carried[key] = before + units * price
        amount = _minor(before + units * price) - _minor(before)
        description = (
            f"{surcharge.name} ({units:,} {charge.unit} of {charge.name} received {_when(surcharge)})"
        )
        return Line(
            LineKind.SURCHARGE,
            surcharge.code,
            description,
            Decimal(units),
            price,
            amount,
            tax_class=charge.tax_class,
        )


def _units(segment: Segment, meter: str) -> Metered:
    metered = segment.metered(meter)
    if metered is None:
        raise ValueError(f"no units given for meter {meter!r}")
    return metered


def _unit_price(charge: UsageCharge, usage: _Usage) -> Decimal:
    """The one price every unit of a per-unit or volume charge has this period."""
    if isinstance(charge, PerUnitCharge):
        return Decimal(charge.unit_price)
    if isinstance(charge, VolumeCharge):
        return _volume(charge, usage).unit_price
    raise ValueError(f"charge {charge.code!r} has no single unit price to multiply")


def _when(surcharge: Surcharge) -> str:
    if surcharge.window is SurchargeWindow.HOLIDAY:
        return "on public holidays"
    start, end = rules.night_window(surcharge)
    return f"{_clock(start)}-{_clock(end % rules.MINUTES_PER_DAY)}"


def _clock(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def _shared_class(lines: Sequence[Line]) -> TaxClass | None:
    """The tax class every line has, if they all have the same one."""
    classes = {line.tax_class for line in lines}
    return classes.pop() if len(classes) == 1 else None


def consumption_tax(
    subtotal: int, tax_rate: Decimal = CONSUMPTION_TAX_RATE, rounding: TaxRounding = TaxRounding.TRUNCATE
) -> int:
    if not tax_rate.is_finite() or tax_rate < 0:
        raise ValueError(f"tax rate must be a non-negative number, got {tax_rate}")
    with localcontext(_ARITHMETIC):
        return int((subtotal * tax_rate).quantize(_ONE, rounding=_TAX_ROUNDING[rounding]))


def invoice_totals(
    lines: Iterable[Line],
    tax_rate: Decimal = CONSUMPTION_TAX_RATE,
    rounding: TaxRounding = TaxRounding.TRUNCATE,
) -> InvoiceTotals:
    """Totals of an invoice made of ``lines`` (from any number of contracts, in one currency) all taxed at
    ``tax_rate``: the consumption tax rounded once on the subtotal, never per line (``taxes_by_rate`` with
    one rate)."""
    amounts = [(TaxClass.STANDARD, line.amount) for line in lines]
    return totals_of(taxes_by_rate(amounts, {TaxClass.STANDARD: tax_rate}, rounding))


def tax_rates(standard: Decimal = CONSUMPTION_TAX_RATE) -> dict[TaxClass, Decimal]:
    """The rate of each tax class, with the tenant's standard rate."""
    return {TaxClass.STANDARD: standard, TaxClass.REDUCED: REDUCED_TAX_RATE, TaxClass.EXEMPT: Decimal(0)}


def line_tax_class(line: TaxClass | None, client: TaxClass) -> TaxClass:
    """A line's tax class: an exempt client's lines are all exempt; otherwise its charge's, else the
    client's."""
    if client is TaxClass.EXEMPT:
        return TaxClass.EXEMPT
    return line or client


def taxes_by_rate(
    amounts: Iterable[tuple[TaxClass, int]],
    rates: Mapping[TaxClass, Decimal],
    rounding: TaxRounding = TaxRounding.TRUNCATE,
) -> tuple[TaxSubtotal, ...]:
    """An invoice's consumption tax: its lines (tax class, amount) added up per class and each class's
    total taxed and rounded once (standard, reduced, exempt, as present)."""
    taxable: dict[TaxClass, int] = {}
    for tax_class, amount in amounts:
        taxable[tax_class] = taxable.get(tax_class, 0) + amount
    return tuple(
        TaxSubtotal(
            tax_class,
            rates[tax_class],
            taxable[tax_class],
            consumption_tax(taxable[tax_class], rates[tax_class], rounding),
        )
        for tax_class in TaxClass
        if tax_class in taxable
    )


def totals_of(taxes: Iterable[TaxSubtotal]) -> InvoiceTotals:
    listed = list(taxes)
    subtotal = sum(t.taxable for t in listed)
    tax = sum(t.tax for t in listed)
    return InvoiceTotals(subtotal, tax, subtotal + tax)


# --- charges -----------------------------------------------------------------------------------------


def _charge_lines(charge: Charge, usage: _Usage, proration: Proration | None) -> list[Line]:
    units = usage.units
    match charge:
        case PerUnitCharge():
            return [_usage_line(charge.code, charge.name, units, charge.unit_price)]
        case GraduatedCharge():
            return _graduated(charge, usage)
        case VolumeCharge():
            return [_volume(charge, usage)]
        case PackageCharge():
            # The packages this version starts: those the period's count reaches beyond the earlier ones'.
            packages = _packages(usage.before + units, charge.package_size) - _packages(
                usage.before, charge.package_size
            )
            description = f"{charge.name} ({units:,} {charge.unit}, packages of {charge.package_size:,})"
            return [_usage_line(charge.code, description, packages, charge.package_price)]
        case FixedMonthlyCharge():
            price = Decimal(charge.amount)
            amount = _prorated(price, proration)
            return [_fee_line(charge.code, charge.name, _ONE, price, amount, proration)]
        case PersonMonthCharge():
            headcount = _decimal(charge.headcount)
            price = Decimal(charge.monthly_fee)
            amount = _prorated(headcount * price, proration)
            description = f"{charge.name} ({_plain(headcount)} person-months)"
            return [_fee_line(charge.code, description, headcount, price, amount, proration)]
        case _:
            assert_never(charge)


def _usage_line(code: str, description: str, quantity: int, price: int, tier: int | None = None) -> Line:
    return Line(LineKind.CHARGE, code, description, Decimal(quantity), Decimal(price), quantity * price, tier)


def _fee_line(
    code: str, description: str, quantity: Decimal, price: Decimal, amount: int, proration: Proration | None
) -> Line:
    if proration is not None:
        description += f", {proration.active_days}/{proration.period_days} days"
    return Line(LineKind.CHARGE, code, description, quantity, price, amount, proration=proration)


def _packages(units: int, size: int) -> int:
    return -(-units // size)


def _graduated(charge: GraduatedCharge, usage: _Usage) -> list[Line]:
    # Units numbered usage.before + 1 .. usage.before + usage.units in the period's count.
    start, end = usage.before, usage.before + usage.units
    lines: list[Line] = []
    below = 0
    for number, tier in enumerate(charge.tiers, start=1):
        top = end if tier.up_to is None else min(end, tier.up_to)
        in_tier = top - max(start, below)
        # Days without units still show the charge, at the price of the tier the next unit would take.
        if in_tier > 0 or (usage.units == 0 and (tier.up_to is None or start < tier.up_to)):
            description = f"{charge.name} (tier {number}: {_tier_range(below, tier.up_to)})"
            lines.append(_usage_line(charge.code, description, max(in_tier, 0), tier.unit_price, number))
        if tier.up_to is None or end <= tier.up_to:
            break
        below = tier.up_to
    return lines


def _volume(charge: VolumeCharge, usage: _Usage) -> Line:
    below = 0
    for number, tier in enumerate(charge.tiers, start=1):
        if tier.up_to is None or usage.total <= tier.up_to:
            description = f"{charge.name} (tier {number}: {_tier_range(below, tier.up_to)})"
            return _usage_line(charge.code, description, usage.units, tier.unit_price, number)
        below = tier.up_to
    raise AssertionError("unreachable: _check refuses tiers whose last one is bounded")


def _tier_range(below: int, up_to: int | None) -> str:
    return f"from {below + 1:,}" if up_to is None else f"{below + 1:,}-{up_to:,}"


def _top_up(amount: int, proration: Proration | None, tax_class: TaxClass | None) -> Line:
    description = "Top-up to the minimum monthly commitment"
    if proration is not None:
        description += f", minimum prorated {proration.active_days}/{proration.period_days} days"
    return Line(
        LineKind.MINIMUM_TOP_UP,
        "minimum-commitment",
        description,
        _ONE,
        Decimal(amount),
        amount,
        tax_class=tax_class,
    )


# --- service credits ---------------------------------------------------------------------------------


def _service_credits(
    credits: Sequence[ServiceCredit],
    attainment: Mapping[Metric, float | Decimal | None],
    lines: Sequence[Line],
) -> list[Line]:
    """The credit, one line per tax class of the lines it applies to (a credit returns tax at the rate the
    charges were taxed at)."""
    by_class: dict[TaxClass | None, int] = {}
    for line in lines:
        by_class[line.tax_class] = by_class.get(line.tax_class, 0) + line.amount
    found = []
    for tax_class, charges in by_class.items():
        credit = _service_credit(credits, attainment, charges)
        if credit is not None:
            if len(by_class) > 1 and tax_class is not None:
                credit = msgspec.structs.replace(
                    credit, description=f"{credit.description} ({tax_class.value} tax class)"
                )
            found.append(msgspec.structs.replace(credit, tax_class=tax_class))
    return found


def _service_credit(
    credits: Sequence[ServiceCredit], attainment: Mapping[Metric, float | Decimal | None], charges: int
) -> Line | None:
    measured = {Metric(metric): _decimal(value) for metric, value in attainment.items() if value is not None}
    triggered: list[tuple[ServiceCredit, Metric, Decimal]] = []
    for credit in credits:
        if credit.metric is None:
            if not measured:
                continue
            metric, value = min(measured.items(), key=lambda item: (item[1], item[0].value))
        elif credit.metric in measured:
            metric, value = credit.metric, measured[credit.metric]
        else:
            continue
        if value < _decimal(credit.below_percent):
            triggered.append((credit, metric, value))
    if not triggered:
        return None
    credit, metric, value = max(
        triggered, key=lambda hit: (_decimal(hit[0].credit_percent), -_decimal(hit[0].below_percent))
    )
    percent = _decimal(credit.credit_percent)
    amount = _minor(charges * percent / _HUNDRED)
    if amount == 0:
        return None
    description = (
        f"SLA service credit: {metric.value.replace('_', ' ')} attainment {_percent(value)}% below "
        f"{_percent(_decimal(credit.below_percent))}%, {_percent(percent)}% of charges"
    )
    return Line(LineKind.SERVICE_CREDIT, "service-credit", description, _ONE, Decimal(-amount), -amount)


def _percent(value: Decimal) -> str:
    # Down, so an attainment of 89.999% never reads "90% below 90%".
    return _plain(value.quantize(Decimal("0.01"), rounding=ROUND_DOWN))


def _plain(value: Decimal) -> str:
    return f"{value.normalize():f}"


# --- arithmetic and checks ---------------------------------------------------------------------------


def _decimal(value: float | Decimal) -> Decimal:
    # Through str: Decimal(0.1) is 0.1000000000000000055511151231257827021181583404541015625.
    return value if isinstance(value, Decimal) else Decimal(str(value))


def _minor(value: Decimal) -> int:
    return int(value.quantize(_ONE, rounding=RATING_ROUNDING))


def _prorated(amount: Decimal, proration: Proration | None) -> int:
    if proration is None:
        return _minor(amount)
    return _minor(amount * proration.active_days / proration.period_days)


def _month_end(day: date) -> date:
    return day.replace(day=calendar.monthrange(day.year, day.month)[1])


def _check(segment: Segment, period: BillingPeriod, active_days: int) -> None:
    plan = segment.plan
    if not is_supported_currency(plan.currency):
        raise ValueError(f"unsupported currency {plan.currency!r}")
    if segment.units < 0:
        raise ValueError(f"units must not be negative, got {segment.units}")
    if not 0 <= active_days <= period.days:
        raise ValueError(f"active days must be within 0..{period.days}, got {active_days}")
    problems: list[str] = []
    for meter in _meters_used(plan):
        metered = segment.metered(meter)
        if metered is None:
            problems.append(f"no units given for meter {meter!r}")
        elif metered.units < 0 or not all(0 <= n <= metered.units for n in metered.surcharged.values()):
            problems.append(
                f"meter {meter or 'billable event'!r}: negative units, or fewer than surcharged ones"
            )
    default = segment.meters.get(DEFAULT_METER)
    if default is not None and default.units != segment.units:
        problems.append(f"the billable event's units are {segment.units}, not {default.units}")
    for error in rules.check_meters(plan.meters, plan.charges, "") + rules.check_surcharges(
        plan.surcharges, plan.charges, ""
    ):
        problems.append(f"{error['field']}: {error['message']}")
    for charge in plan.charges:
        if isinstance(charge, GraduatedCharge | VolumeCharge):
            problems += _tier_problems(charge.tiers, charge.code)
    for credit in plan.service_credits:
        for name in ("below_percent", "credit_percent"):
            if not 0 <= getattr(credit, name) <= 100:
                problems.append(f"service credit {name} must be within 0..100, got {getattr(credit, name)}")
    if problems:
        raise ValueError("; ".join(problems))


def _tier_problems(tiers: Sequence[Tier], code: str) -> list[str]:
    return [f"{error['field']}: {error['message']}" for error in rules.check_tiers(tiers, f"{code}.tiers")]
