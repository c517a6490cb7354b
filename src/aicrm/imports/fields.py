"""What each entity's CSV columns can hold, and how headers map onto those fields."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from annotated_types import MaxLen, MinLen
from pydantic import BaseModel

from aicrm.companies.schemas import CompanyCreate
from aicrm.contacts.schemas import ContactCreate
from aicrm.errors import Invalid
from aicrm.imports.schemas import Entity
from aicrm.kit.text import fold
from aicrm.leads.schemas import LeadCreate
from aicrm.models import Base, Company, Contact, Lead


@dataclass(frozen=True)
class Spec:
    entity: Entity
    entity_type: str  # as in taggings, custom fields and the audit log
    model: type[Base]
    schema: type[BaseModel]  # the API's create schema: same limits for a CSV cell as for JSON
    fields: tuple[str, ...]  # importable fields, in export column order
    lists: frozenset[str]  # fields holding several values in one cell ("a, b")
    aliases: Mapping[str, str]
    member_field: str  # "<owner|assignee>_email", resolved to a member's user id

    @cached_property
    def checked(self) -> frozenset[str]:
        """Fields the create schema validates (the rest are resolved by the importer)."""
        return frozenset(self.fields) & frozenset(self.schema.model_fields)

    @cached_property
    def plain_rules(self) -> dict[str, tuple[int | None, re.Pattern[str] | None]]:
        """Fields whose only rules in the schema are a maximum length (of text, or of a list
        of text) and a pattern: a cell meeting them validates exactly as the schema would,
        without building a model — a quarter of the time spent per row otherwise. A cell
        that fails goes through the schema, which words the error."""
        validated = {
            f
            for d in self.schema.__pydantic_decorators__.field_validators.values()
            for f in d.info.fields
        }
        out: dict[str, tuple[int | None, re.Pattern[str] | None]] = {}
        for name, info in self.schema.model_fields.items():
            if name not in self.checked or name in validated:
                continue
            if info.annotation not in (str, str | None, list[str] | None):
                continue
            limit: int | None = None
            pattern: re.Pattern[str] | None = None
            for rule in info.metadata:
                if isinstance(rule, MaxLen):
                    limit = rule.max_length
                elif isinstance(rule, MinLen) and rule.min_length <= 1:
                    continue  # cells are never empty
                elif getattr(rule, "pattern", None) and set(vars(rule)) == {"pattern"}:
                    pattern = re.compile(rule.pattern)
                else:
                    break  # a rule of another kind: leave the field to the schema
            else:
                out[name] = (limit, pattern)
        return out

    @cached_property
    def required(self) -> frozenset[str]:
        return frozenset(n for n, f in self.schema.model_fields.items() if f.is_required())


_COMMON_ALIASES = {
    "zip": "postal_code",
    "zip_code": "postal_code",
    "zipcode": "postal_code",
    "postcode": "postal_code",
    "post_code": "postal_code",
    "state": "region",
    "province": "region",
    "county": "region",
    "address": "street",
    "street_address": "street",
    "address_line_1": "street",
    "town": "city",
    "country_code": "country",
    "tag": "tags",
    "labels": "tags",
    "label": "tags",
    "phone_number": "phone",
    "telephone": "phone",
    "tel": "phone",
    "mobile": "phone",
    "mobile_phone": "phone",
    "cell": "phone",
    "cell_phone": "phone",
    "work_phone": "phone",
}
_EMAIL_ALIASES = {
    "e_mail": "email",
    "email_address": "email",
    "e_mail_address": "email",
    "mail": "email",
    "work_email": "email",
}

CONTACTS = Spec(
    entity=Entity.contacts,
    entity_type="contact",
    model=Contact,
    schema=ContactCreate,
    fields=(
        "first_name",
        "last_name",
        "name",
        "email",
        "emails",
        "phone",
        "phones",
        "company_name",
        "title",
        "street",
        "city",
        "region",
        "postal_code",
        "country",
        "status",
        "lifetime_value",
        "churn_risk",
        "preferred_channel",
        "timezone",
        "notes",
        "owner_email",
        "tags",
    ),
    lists=frozenset({"emails", "phones", "tags"}),
    aliases={
        **_COMMON_ALIASES,
        **_EMAIL_ALIASES,
        "first": "first_name",
        "firstname": "first_name",
        "given_name": "first_name",
        "forename": "first_name",
        "last": "last_name",
        "lastname": "last_name",
        "surname": "last_name",
        "family_name": "last_name",
        "full_name": "name",
        "contact_name": "name",
        "contact": "name",
        "company": "company_name",
        "company_name": "company_name",
        "organization": "company_name",
        "organisation": "company_name",
        "account": "company_name",
        "account_name": "company_name",
        "employer": "company_name",
        "job_title": "title",
        "position": "title",
        "role": "title",
        "ltv": "lifetime_value",
        "owner": "owner_email",
        "note": "notes",
        "time_zone": "timezone",
        "other_emails": "emails",
        "other_phones": "phones",
    },
    member_field="owner_email",
)

COMPANIES = Spec(
    entity=Entity.companies,
    entity_type="company",
    model=Company,
    schema=CompanyCreate,
    fields=(
        "name",
        "domain",
        "website",
        "industry",
        "size",
        "annual_revenue",
        "phone",
        "street",
        "city",
        "region",
        "postal_code",
        "country",
        "description",
        "owner_email",
        "tags",
    ),
    lists=frozenset({"tags"}),
    aliases={
        **_COMMON_ALIASES,
        "company": "name",
        "company_name": "name",
        "organization": "name",
        "organisation": "name",
        "account": "name",
        "account_name": "name",
        "url": "website",
        "web": "website",
        "web_site": "website",
        "homepage": "website",
        "sector": "industry",
        "employees": "size",
        "company_size": "size",
        "revenue": "annual_revenue",
        "owner": "owner_email",
        "notes": "description",
        "about": "description",
    },
    member_field="owner_email",
)

LEADS = Spec(
    entity=Entity.leads,
    entity_type="lead",
    model=Lead,
    schema=LeadCreate,
    fields=(
        "name",
        "company",
        "email",
        "phone",
        "status",
        "source",
        "value",
        "quality_score",
        "priority",
        "requirements",
        "timeline",
        "budget",
        "notes",
        "assignee_email",
        "tags",
    ),
    lists=frozenset({"tags"}),
    aliases={
        **_COMMON_ALIASES,
        **_EMAIL_ALIASES,
        "full_name": "name",
        "lead": "name",
        "lead_name": "name",
        "contact_name": "name",
        "company_name": "company",
        "organization": "company",
        "organisation": "company",
        "account": "company",
        "stage": "status",
        "lead_status": "status",
        "lead_source": "source",
        "channel": "source",
        "amount": "value",
        "deal_value": "value",
        "score": "quality_score",
        "assignee": "assignee_email",
        "assigned_to": "assignee_email",
        "owner": "assignee_email",
        "owner_email": "assignee_email",
        "note": "notes",
        "description": "notes",
    },
    member_field="assignee_email",
)

SPECS = {s.entity: s for s in (CONTACTS, COMPANIES, LEADS)}
_NON_WORD = re.compile(r"[^a-z0-9.]+")


def header_key(header: str) -> str:
    """'E-mail ' → 'e_mail', 'Phone number' → 'phone_number', 'custom.Tier' → 'custom.tier'."""
    return _NON_WORD.sub("_", fold(header)).strip("_")


@dataclass(frozen=True)
class ColumnMap:
    columns: list[tuple[int, str, str]]  # (column index, header, field)
    ignored: list[str]

    def as_dict(self) -> dict[str, str]:
        return {header: field for _, header, field in self.columns}


def resolve_mapping(
    spec: Spec,
    header: list[str],
    explicit: Mapping[str, Any] | None,
    custom_defs: Mapping[str, Any],
) -> ColumnMap:
    """Columns → fields. Explicit entries win (a null or "" target ignores the column); other
    columns map when the header is a field name, a common alias, `custom.<key>`, or a custom
    field's key or label."""
    explicit = dict(explicit or {})
    errors: list[dict[str, Any]] = []
    for col, target in explicit.items():
        if col not in header:
            errors.append(
                {"field": f"mapping.{col}", "message": f"no column {col!r} in the file's header"}
            )
        elif target not in (None, "") and not isinstance(target, str):
            errors.append({"field": f"mapping.{col}", "message": "must be a field name or null"})
    labels = {header_key(str(d.label)): key for key, d in custom_defs.items()}

    def known(target: str) -> bool:
        if target.startswith("custom."):
            return target[len("custom.") :] in custom_defs
        return target in spec.fields

    columns: list[tuple[int, str, str]] = []
    ignored: list[str] = []
    used: dict[str, str] = {}
    claimed = {t.strip() for t in explicit.values() if isinstance(t, str) and t.strip()}
    for idx, col in enumerate(header):
        if col in explicit:
            raw = explicit[col]
            if raw in (None, "") or not isinstance(raw, str):
                ignored.append(col)
                continue
            target = raw.strip()
            if not known(target):
                errors.append(
                    {
                        "field": f"mapping.{col}",
                        "message": f"unknown field {target!r}; use one of {list(spec.fields)} "
                        f"or custom.<key> for {sorted(custom_defs) or 'no custom fields defined'}",
                    }
                )
                continue
            if target in used:
                errors.append(
                    {
                        "field": f"mapping.{col}",
                        "message": f"{target!r} is already filled from column {used[target]!r}",
                    }
                )
                continue
        else:
            key = header_key(col)
            if key in spec.fields:
                target = key
            elif key in spec.aliases:
                target = spec.aliases[key]
            elif key.startswith("custom."):
                if key[len("custom.") :] not in custom_defs:
                    errors.append(
                        {
                            "field": col,
                            "message": f"no custom field {key[len('custom.') :]!r} is defined "
                            f"for {spec.entity_type}s",
                        }
                    )
                    continue
                target = key
            elif key in custom_defs:
                target = f"custom.{key}"
            elif key in labels:
                target = f"custom.{labels[key]}"
            else:
                ignored.append(col)
                continue
            if target in used or target in claimed:
                # two columns for one field ("Email" and "E-mail"): the mapping's choice, else
                # the first one, wins
                ignored.append(col)
                continue
        used[target] = col
        columns.append((idx, col, target))
    if errors:
        raise Invalid("The column mapping is invalid", errors=errors)
    if not columns:
        raise Invalid(
            f"No column matches a {spec.entity_type} field; send a mapping "
            f'like {{"Your column": "{spec.fields[0]}"}}',
            field="mapping",
        )
    return ColumnMap(columns=columns, ignored=ignored)
