from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any

from pydantic import Field, field_validator

from aicrm.companies.schemas import CompanyOut
from aicrm.contacts.schemas import ContactOut
from aicrm.kit.schemas import InputSchema, Money, Record, Schema
from aicrm.leads.schemas import LeadOut

# Active ISO 4217 currencies; precious metals, fund units and test codes are left out because a
# deal is never priced in them.
CURRENCIES = frozenset(
    """
    AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BRL BSD BTN BWP
    BYN BZD CAD CDF CHF CLP CNY COP CRC CUC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB EUR FJD FKP
    GBP GEL GHS GIP GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR IQD IRR ISK JMD JOD JPY KES KGS
    KHR KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL LYD MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR
    MWK MXN MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB PEN PGK PHP PKR PLN PYG QAR RON RSD RUB RWF
    SAR SBD SCR SDG SEK SGD SHP SLE SLL SOS SRD SSP STN SVC SYP SZL THB TJS TMT TND TOP TRY TTD
    TWD TZS UAH UGX USD UYU UZS VED VES VND VUV WST XAF XCD XCG XOF XPF YER ZAR ZMW ZWG
    """.split()
)


def _currency(value: str | None) -> str | None:
    if value is None:
        return None
    code = value.strip().upper()
    if code not in CURRENCIES:
        raise ValueError("must be an ISO 4217 currency code such as USD or EUR")
    return code


class DealStatus(StrEnum):
    open = "open"
    won = "won"
    lost = "lost"


# -- pipelines -----------------------------------------------------------------------------


class StageOut(Record):
    pipeline_id: int
    name: str
    position: int
    probability: float
    is_won: bool
    is_lost: bool


class PipelineOut(Record):
    name: str
    is_default: bool
    stages: list[StageOut] = Field(default_factory=list)


class StageCreate(InputSchema):
    name: str = Field(min_length=1, max_length=80)
    position: int | None = Field(default=None, ge=0, le=1000, description="0-based; end if omitted")
    probability: float | None = Field(
        default=None,
        ge=0,
        le=1,
        description="Win probability 0..1 (default 1 won, 0 lost, else 0.1)",
    )
    is_won: bool = False
    is_lost: bool = False


class StageUpdate(InputSchema):
    name: str | None = Field(default=None, min_length=1, max_length=80)
    position: int | None = Field(default=None, ge=0, le=1000)
    probability: float | None = Field(default=None, ge=0, le=1)
    is_won: bool | None = None
    is_lost: bool | None = None


class PipelineCreate(InputSchema):
    name: str = Field(min_length=1, max_length=120)
    is_default: bool = False
    stages: list[StageCreate] | None = Field(
        default=None,
        min_length=1,
        max_length=50,
        description="Stages in order; the standard sales stages if omitted",
    )


class PipelineUpdate(InputSchema):
    name: str | None = Field(default=None, min_length=1, max_length=120)
    is_default: bool | None = Field(
        default=None, description="true makes this the default; move the default, never unset it"
    )


# -- deals ---------------------------------------------------------------------------------


class DealOut(Record):
    name: str
    pipeline_id: int
    pipeline: str
    stage_id: int
    stage: str
    probability: float
    card_order: int
    amount: Money
    currency: str
    weighted_amount: Money
    expected_close_date: date | None
    status: DealStatus
    won_lost_reason: str | None
    closed_at: datetime | None
    owner_id: int | None
    contact_id: int | None
    company_id: int | None
    lead_id: int | None
    description: str
    custom: dict[str, Any]
    tags: list[str] = Field(default_factory=list)
    version: int


class _DealFields(InputSchema):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    pipeline_id: int | None = None
    stage_id: int | None = None
    stage: str | None = Field(default=None, min_length=1, max_length=80, description="Stage name")
    amount: float | None = Field(default=None, ge=0, le=1e13)
    currency: str | None = Field(
        default=None, description="ISO 4217; the organization's if omitted"
    )
    expected_close_date: date | None = None
    owner_id: int | None = None
    contact_id: int | None = None
    company_id: int | None = None
    lead_id: int | None = None
    description: str | None = Field(default=None, max_length=20000)
    won_lost_reason: str | None = Field(
        default=None, max_length=2000, description="Required when the deal lands in a lost stage"
    )
    custom: dict[str, Any] | None = None
    tags: list[str] | None = Field(default=None, max_length=50)

    _currency = field_validator("currency")(_currency)


class DealCreate(_DealFields):
    name: str = Field(min_length=1, max_length=200)
    card_order: int | None = Field(default=None, ge=0, le=1_000_000)


class DealUpdate(_DealFields):
    version: int | None = Field(
        default=None, description="Optimistic concurrency: the version you read"
    )


class DealMove(InputSchema):
    stage_id: int | None = None
    stage: str | None = Field(default=None, min_length=1, max_length=80)
    card_order: int | None = Field(
        default=None,
        ge=0,
        le=1_000_000,
        description="0-based position in the target column; end if omitted",
    )
    won_lost_reason: str | None = Field(default=None, max_length=2000)
    version: int | None = None


class BoardColumn(Schema):
    stage_id: int
    stage: str
    position: int
    probability: float
    is_won: bool
    is_lost: bool
    count: int
    total_amount: float
    weighted_amount: float
    deals: list[DealOut]


class Board(Schema):
    pipeline_id: int
    pipeline: str
    count: int
    total_amount: float
    weighted_amount: float
    columns: list[BoardColumn]


# -- lead conversion -----------------------------------------------------------------------


class LeadConvert(InputSchema):
    create_deal: bool = True
    deal_name: str | None = Field(default=None, min_length=1, max_length=200)
    amount: float | None = Field(
        default=None, ge=0, le=1e13, description="The lead's value if omitted"
    )
    pipeline_id: int | None = None
    stage: str | None = Field(default=None, min_length=1, max_length=80)
    contact_id: int | None = Field(
        default=None, description="Link this existing contact instead of creating one"
    )
    company_name: str | None = Field(
        default=None, min_length=1, max_length=200, description="Overrides the lead's company text"
    )


class Conversion(Schema):
    lead: LeadOut
    contact: ContactOut
    company: CompanyOut | None
    deal: DealOut | None
    contact_created: bool
