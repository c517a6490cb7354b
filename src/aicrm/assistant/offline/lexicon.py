"""Words the offline engine knows: entity nouns, lead sources, activity kinds, refusals, small
talk. Kept apart from the grammar so the vocabulary can grow without touching the rules."""

from __future__ import annotations

import re

ENTITY_NOUNS = {
    "lead": "lead",
    "leads": "lead",
    "prospect": "lead",
    "prospects": "lead",
    "deal": "deal",
    "deals": "deal",
    "opportunity": "deal",
    "opportunities": "deal",
    "opp": "deal",
    "opps": "deal",
    "contact": "contact",
    "contacts": "contact",
    "customer": "contact",
    "customers": "contact",
    "person": "contact",
    "people": "contact",
    "company": "company",
    "companies": "company",
    "account": "company",
    "accounts": "company",
    "organisation": "company",
    "organization": "company",
    "task": "task",
    "tasks": "task",
    "todo": "task",
    "todos": "task",
    "to-dos": "task",
    "ticket": "ticket",
    "tickets": "ticket",
}

# lead sources as the demo data and imports spell them
SOURCES: list[tuple[re.Pattern[str], str]] = [
    (
        re.compile(
            r"\b(?:web\s?site|web|site|online|inbound form|contact form|demo form|our site)\b", re.I
        ),
        "website",
    ),
    (re.compile(r"\b(?:referr(?:al|ed)|word of mouth|recommendation)\b", re.I), "referral"),
    (re.compile(r"\b(?:trade ?show|event|conference|expo|webinar|meetup|summit)\b", re.I), "event"),
    (re.compile(r"\bcold[\s_-]?call(?:ing)?\b", re.I), "cold_call"),
    (re.compile(r"\bpartners?\b|\breseller\b", re.I), "partner"),
    (
        re.compile(
            r"\b(?:ads?|advert(?:isement|ising)?s?|adwords|ppc|google ads|linkedin ads|facebook ads|paid (?:search|social))\b",
            re.I,
        ),
        "ads",
    ),
]


def source_of(text: str) -> str | None:
    for rx, name in SOURCES:
        if rx.search(text):
            return name
    return None


ACTIVITY_TYPES = {
    "call": "call",
    "called": "call",
    "calls": "call",
    "phone": "call",
    "phoned": "call",
    "rang": "call",
    "spoke": "call",
    "spoke to": "call",
    "talked": "call",
    "email": "email",
    "emailed": "email",
    "e-mail": "email",
    "e-mailed": "email",
    "mail": "email",
    "wrote": "email",
    "meeting": "meeting",
    "met": "meeting",
    "meet": "meeting",
    "demo": "meeting",
    "lunch": "meeting",
    "note": "note",
    "notes": "note",
    "comment": "note",
}

PRIORITIES = {
    "low": "low",
    "medium": "medium",
    "normal": "medium",
    "high": "high",
    "important": "high",
    "urgent": "urgent",
    "asap": "urgent",
    "critical": "urgent",
}

FIELD_WORDS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"^(?:e-?mail(?: address)?)$", re.I), "email"),
    (
        re.compile(
            r"^(?:phone(?: number)?|mobile(?: number)?|cell(?: number)?|number|tel(?:ephone)?)$",
            re.I,
        ),
        "phone",
    ),
    (re.compile(r"^(?:value|lead value|worth|size)$", re.I), "value"),
    (re.compile(r"^(?:amount|deal amount|deal value|deal size)$", re.I), "amount"),
    (
        re.compile(
            r"^(?:expected )?(?:close|closing)(?: date)?$|^expected close(?: date)?$|^close by$",
            re.I,
        ),
        "expected_close_date",
    ),
    (re.compile(r"^(?:due|due date|deadline)$", re.I), "due_at"),
    (re.compile(r"^(?:source|lead source)$", re.I), "source"),
    (re.compile(r"^priority$", re.I), "priority"),
    (re.compile(r"^(?:title|job title|position|role)$", re.I), "title"),
    (re.compile(r"^(?:company|company name|employer)$", re.I), "company"),
    (re.compile(r"^(?:notes?|description)$", re.I), "notes"),
    (re.compile(r"^(?:name|full name)$", re.I), "name"),
    (re.compile(r"^(?:budget)$", re.I), "budget"),
    (re.compile(r"^(?:website|web site|url)$", re.I), "website"),
    (re.compile(r"^(?:industry)$", re.I), "industry"),
]
FIELD_ALTERNATION = (
    r"e-?mail(?: address)?|phone(?: number)?|mobile(?: number)?|cell(?: number)?|tel(?:ephone)?"
    r"|lead value|deal value|deal amount|deal size|value|amount|worth"
    r"|expected close(?: date)?|expected closing date|close date|closing date|due date|deadline"
    r"|lead source|source|priority|job title|title|position|company name|company|notes?"
    r"|description|full name|budget|website|industry"
)


def field_of(words: str) -> str | None:
    words = " ".join(words.split())
    for rx, name in FIELD_WORDS:
        if rx.match(words):
            return name
    return None


# -- what the assistant says no to -----------------------------------------------------------

INJECTION = re.compile(
    r"\b(?:ignore|disregard|forget)\b.{0,40}\b(?:instructions?|prompts?|rules|guardrails|previous|above)\b"
    r"|\b(?:system prompt|jailbreak|developer mode|you are now)\b",
    re.I,
)
BULK = re.compile(
    r"^(?:please\s+|pls\s+|can you\s+|could you\s+|go ahead and\s+|just\s+)?"
    r"(?:delete|remove|wipe|erase|purge|clear|drop|trash|destroy|nuke|mark|move|update|change|"
    r"assign|reassign|close|archive|set|give|transfer|email|message|text)\b"
    r".*\b(?:all|every|everything|everyone|each|entire|whole)\b",
    re.I,
)
BULK_DELETE = re.compile(
    r"\b(?:delete|remove|wipe|erase|purge|clear out|drop|trash|destroy|nuke)\s+(?:all|every|everything|the whole|the entire)\b",
    re.I,
)
OUT_OF_SCOPE: list[tuple[re.Pattern[str], str]] = [
    (
        re.compile(
            r"\b(?:write|compose|draft|tell|make up|generate|sing)\b.*\b(?:poem|haiku|song|story|joke|tweet|"
            r"essay|limerick|rap|lyrics|novel|blog post|linkedin post)\b",
            re.I,
        ),
        "I can't write poems, posts or stories; I work with the CRM's records.",
    ),
    (
        re.compile(
            r"\b(?:flights?|plane tickets?|hotel rooms?|book a hotel|train tickets?|taxi|uber|lyft|car rental|restaurant|table for)\b",
            re.I,
        ),
        "I can't book travel or restaurants; I can book meetings with your leads and contacts.",
    ),
    (
        re.compile(r"\bweather\b|\bforecast for (?:the )?weekend\b", re.I),
        "I can't look up the weather.",
    ),
    (re.compile(r"\btranslat(?:e|ion)\b", re.I), "I can't translate text."),
    (
        re.compile(
            r"\b(?:order|buy|purchase|get)\b(?: me| us)?\s+(?:an?\s+|some\s+)?(?:pizza|food|lunch|dinner|coffee|groceries|gift|flowers)\b|\bbuy me\b",
            re.I,
        ),
        "I can't order or buy things.",
    ),
    (
        re.compile(
            r"\bworld cup\b|\bstock price\b|\bbitcoin\b|\bcrypto\b|\bnews\b|\bsports?\b|\bscore of the\b|\bwho (?:is|was) the president\b",
            re.I,
        ),
        "I can only answer questions about this CRM's data.",
    ),
    (
        re.compile(
            r"\bsend\b(?:\s+\w+){0,3}\s+(?:e-?mails?|messages?|sms|texts?|newsletters?|campaigns?)\b|\bemail blast\b|\bmass e-?mail\b",
            re.I,
        ),
        "I can't send emails or messages; I can log an email you sent or create a follow-up task.",
    ),
    (
        re.compile(r"\bexport\b|\bdownload\b.*\b(?:csv|excel|spreadsheet)\b", re.I),
        "I can't export data from the chat; use Export on the list pages (or the export API).",
    ),
    (
        re.compile(r"\bimport\b.*\b(?:csv|file|spreadsheet|excel)\b", re.I),
        "I can't import files from the chat; use Import on the list pages.",
    ),
    (
        re.compile(r"\b(?:password|api key|secret|credentials?)\b", re.I),
        "I can't handle passwords, keys or credentials.",
    ),
    (
        re.compile(r"\b(?:calculate|solve|what is)\s+\d+\s*[-+*/x]\s*\d+", re.I),
        "I only work with the CRM's data.",
    ),
    (
        re.compile(
            r"\b(?:code|program|script|sql query)\b.*\b(?:write|generate)\b|\b(?:write|generate)\b.*\b(?:code|program|script|sql)\b",
            re.I,
        ),
        "I can't write code.",
    ),
]

GREETING = re.compile(
    r"^(?:hi|hello|hey|hiya|yo|good (?:morning|afternoon|evening)|howdy|greetings)(?:\s+there)?(?:\s+\w+)?[!.]*$",
    re.I,
)
THANKS = re.compile(
    r"^(?:thanks?(?: you)?(?: so much| a lot)?|thx|ty|cheers|great|perfect|awesome|nice|cool|ok(?:ay)?|got it)\b[!. ]*(?:thanks?(?: you)?)?[!.]*$",
    re.I,
)
HELP = re.compile(
    r"^(?:help|\?|what can you do|what do you do|how do(?:es)? (?:this|you|it) work|what are you|who are you|"
    r"what can i (?:ask|say)|commands|how can you help(?: me)?|what can you help (?:me )?with)\??[!.]*$",
    re.I,
)
UNDO = re.compile(
    r"^(?:oops,?\s*|oh no,?\s*|wait,?\s*|no,?\s*|never ?mind,?\s*|actually,?\s*|sorry,?\s*)?(?:please\s+)?(?:undo|revert|roll ?back|reverse|take back|cancel)\b"
    r"(?:\s+(?:that|it|this|the last (?:change|action|thing|step|one)(?: you (?:did|made))?|my last (?:change|action)|what you (?:just )?did|the change|last change))?[!.]*$"
    r"|^(?:undo|revert)\b.*\b(?:last|that|previous)\b",
    re.I,
)
YES = re.compile(
    r"^(?:y|yes|yep|yeah|yup|sure|ok|okay|confirm(?:ed)?|do it|go ahead|proceed|please do|correct|affirmative|absolutely|definitely)\b"
    r"(?:[,!. ]+(?:please|delete it|do it|go ahead|confirm(?:ed)?|delete|that's right|i'm sure|remove it|thanks))*[,!. ]*$",
    re.I,
)
NO = re.compile(
    r"^(?:n|no|nope|nah|cancel|stop|don't|do not|never ?mind|abort|keep it|wait|hold on)\b"
    r"(?:[,!. ]+(?:keep it|don't|cancel|thanks|never ?mind|leave it|stop|don't delete it|do not delete))*[,!. ]*$",
    re.I,
)

HELP_TEXT = (
    "I can work with your leads, contacts, companies, deals and tasks. Try: "
    '"move Jane Doe to qualified", "add a lead Jane Doe from Example Corp, 75k, source website", '
    '"remind me to call Acme on Friday", "log a call with Jane Doe: wants a demo", '
    '"book a meeting with Jane Doe tomorrow at 3pm", "assign the Acme deal to Priya", '
    '"start a follow-up sequence for Jane Doe", "summarise Acme\'s history", '
    '"show me Jane Doe\'s insights", "what\'s the pipeline worth this quarter?", '
    '"how many deals did we win last month?", "which leads haven\'t been contacted in two weeks?", '
    '"delete the lead Jane Doe" (I ask before deleting) or "undo".'
)
