"""Currencies the product bills in, with their minor-unit exponent (ISO 4217)."""

from __future__ import annotations

MINOR_UNIT_EXPONENT: dict[str, int] = {
    "JPY": 0,
    "KRW": 0,
    "VND": 0,
    "TWD": 2,
    "USD": 2,
    "EUR": 2,
    "GBP": 2,
    "AUD": 2,
    "CAD": 2,
    "SGD": 2,
    "HKD": 2,
    "CNY": 2,
    "PHP": 2,
    "THB": 2,
    "ARS": 2,
    "INR": 2,
    "IDR": 2,
    "MYR": 2,
    "NZD": 2,
    "CHF": 2,
}


def is_supported_currency(code: str) -> bool:
    return code in MINOR_UNIT_EXPONENT
