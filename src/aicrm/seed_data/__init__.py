"""Word lists for the demo data (`aicrm seed-demo`) and the benchmark loader.

Every name here is invented for aicrm. Email domains use the reserved `.example` top-level
domain and phone numbers come from ranges regulators keep for fiction where a country has one,
so demo data can never reach a real inbox or phone."""

from __future__ import annotations

FIRST_NAMES: tuple[str, ...] = (
    "Aaron", "Abigail", "Adam", "Adriana", "Aisha", "Alan", "Alejandro", "Alice", "Amara",
    "Amelia", "Ana", "Andrea", "Andrew", "Angela", "Anika", "Anna", "Anthony", "Arjun", "Astrid",
    "Ava", "Beatriz", "Ben", "Benjamin", "Bianca", "Brian", "Bruno", "Caleb", "Camila", "Carla",
    "Carlos", "Caroline", "Catherine", "Chen", "Chloe", "Christian", "Claire", "Clara", "Daniel",
    "David", "Diana", "Dmitri", "Eduardo", "Elena", "Eli", "Elif", "Elizabeth", "Ella", "Emily",
    "Emma", "Eric", "Erik", "Esther", "Ethan", "Eva", "Fatima", "Felix", "Fernando", "Florian",
    "Francesca", "Gabriel", "Gemma", "George", "Grace", "Hana", "Hannah", "Harper", "Henry",
    "Hiroshi", "Ian", "Ines", "Irene", "Isaac", "Isabel", "Ivan", "Jack", "Jacob", "James",
    "Jasmine", "Javier", "Jennifer", "Jessica", "Joanna", "Jonas", "Jordan", "José", "Joseph",
    "Julia", "Julian", "Kai", "Karen", "Katarina", "Kenji", "Kevin", "Laura", "Leah", "Leo",
    "Leon", "Liam", "Lily", "Lina", "Lucas", "Lucy", "Luis", "Maya", "Magnus", "Malik", "Marco",
    "Margaret", "Maria", "Mark", "Marta", "Martin", "Mateo", "Matthew", "Mei", "Michael", "Miguel",
    "Mila", "Naomi", "Natalia", "Nathan", "Nikolai", "Nina", "Noah", "Nora", "Oliver", "Olivia",
    "Omar", "Oscar", "Pablo", "Patrick", "Paula", "Peter", "Rachel", "Rafael", "Rahul", "Rebecca",
    "Ricardo", "Robert", "Rosa", "Ryan", "Samuel", "Sara", "Sebastian", "Sofia", "Sophie",
    "Stefan", "Susan", "Tariq", "Thomas", "Tobias", "Valentina", "Victor", "Wei", "William",
    "Yara", "Yusuf", "Zoe", "Zoë", "Élodie", "Søren", "Renée", "Andrés", "Björn",
)  # fmt: skip

LAST_NAMES: tuple[str, ...] = (
    "Abbott", "Acosta", "Adeyemi", "Alvarez", "Andersen", "Baker", "Banerjee", "Barnes", "Becker",
    "Bennett", "Bergström", "Bianchi", "Blake", "Brandt", "Brooks", "Bryant", "Campbell",
    "Carter", "Castillo", "Chang", "Chavez", "Clarke", "Coleman", "Collins", "Cooper", "Costa",
    "Cruz", "Dalton", "Das", "Davies", "Delgado", "Dubois", "Duarte", "Edwards", "Eriksson",
    "Evans", "Fischer", "Fitzgerald", "Flores", "Foster", "Fujita", "García", "Gibson", "Gomez",
    "Gonzalez", "Graham", "Gray", "Greene", "Gupta", "Hall", "Hansen", "Harper", "Harris",
    "Hayes", "Herrera", "Hoffmann", "Holland", "Hughes", "Ibrahim", "Ito", "Jansen", "Jensen",
    "Jiménez", "Johnson", "Kaur", "Keller", "Kelly", "Khan", "Kim", "Klein", "Kowalski", "Krüger",
    "Larsen", "Laurent", "Lee", "Lewis", "Lindqvist", "Lopez", "Marino", "Martin", "Martínez",
    "Mendes", "Meyer", "Miller", "Mitchell", "Moreau", "Morgan", "Murphy", "Müller", "Nakamura",
    "Navarro", "Nguyen", "Nielsen", "Novak", "O'Brien", "Okafor", "Olsen", "Ortiz", "Park",
    "Patel", "Perez", "Peters", "Petrov", "Phillips", "Quinn", "Ramirez", "Reed", "Reyes",
    "Richter", "Rivera", "Roberts", "Rodriguez", "Romano", "Rossi", "Russo", "Sanchez", "Santos",
    "Sato", "Schmidt", "Schneider", "Schulz", "Scott", "Shah", "Silva", "Singh", "Sokolova",
    "Stewart", "Suzuki", "Svensson", "Tanaka", "Taylor", "Thompson", "Torres", "Turner",
    "Vargas", "Vasquez", "Vogel", "Wagner", "Walker", "Wang", "Ward", "Weber", "Williams",
    "Wilson", "Wong", "Wright", "Yamamoto", "Young", "Zhang", "Ziegler", "Østergaard", "Ødegaard",
)  # fmt: skip

# Company names: "<first> <second>" with an industry-flavoured suffix.
COMPANY_FIRST: tuple[str, ...] = (
    "Amber", "Apex", "Arbor", "Atlas", "Aurora", "Beacon", "Birch", "Blue Harbor", "Bright",
    "Cascade", "Cedar", "Clearwater", "Cobalt", "Copper", "Crescent", "Crown", "Delta", "Driftwood",
    "Ember", "Evergreen", "Falcon", "Fjord", "Foxglove", "Granite", "Greenfield", "Harbor",
    "Helix", "Highland", "Horizon", "Indigo", "Iron Gate", "Juniper", "Keystone", "Lakeside",
    "Lantern", "Linden", "Lumen", "Maple", "Meridian", "Northstar", "Oakridge", "Orchard",
    "Pacific", "Paragon", "Pinnacle", "Prairie", "Quarry", "Redwood", "Ridgeline", "River",
    "Saffron", "Sage", "Sierra", "Silverline", "Solstice", "Sparrow", "Spruce", "Stonebridge",
    "Summit", "Sunrise", "Tidal", "Timber", "Trident", "Union", "Vantage", "Velvet", "Vista",
    "Westbrook", "Willow", "Zenith",
)  # fmt: skip

COMPANY_SECOND: dict[str, tuple[str, ...]] = {
    "Software": ("Labs", "Software", "Systems", "Digital", "Cloud", "Analytics"),
    "Manufacturing": ("Manufacturing", "Industries", "Works", "Fabrication", "Components"),
    "Logistics": ("Logistics", "Freight", "Shipping", "Supply Co."),
    "Healthcare": ("Health", "Clinics", "Medical", "Care Partners"),
    "Financial Services": ("Capital", "Financial", "Advisors", "Partners"),
    "Retail": ("Outfitters", "Market", "Goods", "Stores"),
    "Education": ("Academy", "Learning", "Institute"),
    "Hospitality": ("Hotels", "Hospitality", "Resorts"),
    "Energy": ("Energy", "Power", "Renewables", "Solar"),
    "Construction": ("Builders", "Construction", "Engineering"),
    "Marketing": ("Media", "Creative", "Studio", "Agency"),
    "Food & Beverage": ("Foods", "Brewing Co.", "Kitchens", "Coffee Roasters"),
}

COMPANY_SIZES: tuple[tuple[str, int, int], ...] = (
    # label, revenue low, revenue high (USD)
    ("1-10", 200_000, 2_000_000),
    ("11-50", 1_000_000, 10_000_000),
    ("51-200", 5_000_000, 60_000_000),
    ("201-1000", 40_000_000, 300_000_000),
    ("1000+", 250_000_000, 4_000_000_000),
)

# city, region, country, IANA time zone, phone templates in national format ("X" = random digit).
# US/CA 555-01XX, GB 01xx 496 0xxx / 020 7946 0xxx, AU 02 5550 / 03 7010, DE 030 23125 etc. and
# FR 01 99 00 are ranges set aside for fiction.
CITIES: tuple[tuple[str, str, str, str, tuple[str, ...]], ...] = (
    ("San Francisco", "CA", "US", "America/Los_Angeles", ("415 555 01XX", "650 555 01XX")),
    ("Seattle", "WA", "US", "America/Los_Angeles", ("206 555 01XX",)),
    ("Portland", "OR", "US", "America/Los_Angeles", ("503 555 01XX",)),
    ("Denver", "CO", "US", "America/Denver", ("303 555 01XX",)),
    ("Austin", "TX", "US", "America/Chicago", ("512 555 01XX",)),
    ("Chicago", "IL", "US", "America/Chicago", ("312 555 01XX",)),
    ("Atlanta", "GA", "US", "America/New_York", ("404 555 01XX",)),
    ("Miami", "FL", "US", "America/New_York", ("305 555 01XX",)),
    ("New York", "NY", "US", "America/New_York", ("212 555 01XX", "718 555 01XX")),
    ("Boston", "MA", "US", "America/New_York", ("617 555 01XX",)),
    ("Toronto", "ON", "CA", "America/Toronto", ("416 555 01XX",)),
    ("Vancouver", "BC", "CA", "America/Vancouver", ("604 555 01XX",)),
    ("Montreal", "QC", "CA", "America/Toronto", ("514 555 01XX",)),
    ("London", "England", "GB", "Europe/London", ("020 7946 0XXX",)),
    ("Manchester", "England", "GB", "Europe/London", ("0161 496 0XXX",)),
    ("Edinburgh", "Scotland", "GB", "Europe/London", ("0131 496 0XXX",)),
    ("Bristol", "England", "GB", "Europe/London", ("0117 496 0XXX",)),
    ("Berlin", "Berlin", "DE", "Europe/Berlin", ("030 23125 XXX",)),
    ("Munich", "Bavaria", "DE", "Europe/Berlin", ("089 99998 XXX",)),
    ("Hamburg", "Hamburg", "DE", "Europe/Berlin", ("040 66969 XXX",)),
    ("Paris", "Île-de-France", "FR", "Europe/Paris", ("01 99 00 XX XX",)),
    ("Lyon", "Auvergne-Rhône-Alpes", "FR", "Europe/Paris", ("04 65 71 XX XX",)),
    ("Madrid", "Madrid", "ES", "Europe/Madrid", ("91 3XX XX XX",)),
    ("Barcelona", "Catalonia", "ES", "Europe/Madrid", ("93 4XX XX XX",)),
    ("Mexico City", "CDMX", "MX", "America/Mexico_City", ("55 5XXX XXXX",)),
    ("Monterrey", "Nuevo León", "MX", "America/Monterrey", ("81 8XXX XXXX",)),
    ("Amsterdam", "North Holland", "NL", "Europe/Amsterdam", ("020 5XX XXXX",)),
    ("Dublin", "Leinster", "IE", "Europe/Dublin", ("01 5XX XXXX",)),
    ("Sydney", "NSW", "AU", "Australia/Sydney", ("02 5550 XXXX",)),
    ("Melbourne", "VIC", "AU", "Australia/Melbourne", ("03 7010 XXXX",)),
)

STREETS: tuple[str, ...] = (
    "Market Street", "Harbor Way", "Elm Avenue", "Station Road", "King Street", "Mill Lane",
    "Park Avenue", "Riverside Drive", "High Street", "Church Road", "Bridge Street", "Oak Lane",
    "Commerce Blvd", "Innovation Way", "Canal Street", "Queen Street",
)  # fmt: skip

TITLES: tuple[str, ...] = (
    "CEO", "CTO", "CFO", "COO", "VP of Sales", "VP of Engineering", "Head of Operations",
    "Operations Manager", "Procurement Lead", "IT Director", "Marketing Director",
    "Customer Success Manager", "Product Manager", "Office Manager", "Finance Manager",
    "Sales Manager", "Software Engineer", "Data Analyst", "Founder", "Head of Support",
)  # fmt: skip

PRODUCTS: tuple[str, ...] = (
    "Platform annual license", "Team plan upgrade", "Enterprise rollout", "Onboarding package",
    "Support retainer", "Integration project", "Pilot (3 months)", "Multi-year renewal",
    "Additional seats", "Analytics add-on", "Data migration", "Premium SLA",
)  # fmt: skip

LOST_REASONS: tuple[str, ...] = (
    "Chose a competitor with a lower price",
    "Budget frozen until next fiscal year",
    "No decision — the project was shelved",
    "Missing integration with their ERP",
    "Champion left the company",
    "Went with an in-house build",
)

REQUIREMENTS: tuple[str, ...] = (
    "Needs SSO (SAML) and an audit log for compliance.",
    "Wants to migrate about 20k contacts from spreadsheets.",
    "Looking for shared inbox + automatic routing to the support team.",
    "Must integrate with their accounting system for invoices.",
    "Spanish-speaking sales team; needs localized templates.",
    "Evaluating AI lead scoring for inbound web leads.",
    "Wants a booking page for demos synced with calendars.",
    "Needs an API for their in-house order system.",
)

TIMELINES: tuple[str, ...] = (
    "This quarter", "Next quarter", "Within 30 days", "Before year end", "ASAP",
    "Exploring, no date yet",
)  # fmt: skip

ACTIVITY_TEXT: dict[str, tuple[tuple[str, str], ...]] = {
    "note": (
        ("Account notes", "Decision maker is {name}; budget owner sits in finance."),
        ("Internal note", "{company} prefers email over calls. Keep updates short."),
        ("Competitor mention", "{name} mentioned they are also talking to two other vendors."),
        ("Renewal context", "Renewal coming up; usage grew steadily over the last months."),
        ("Meeting prep", "Prepare pricing for {seats} seats and the integration scope."),
    ),
    "call": (
        ("Discovery call", "Talked through current process and pain points with {name}."),
        ("Follow-up call", "Answered questions about onboarding and data import."),
        ("Pricing discussion", "Walked {name} through pricing for {seats} seats."),
        ("Check-in call", "Quick check-in; {company} is happy with the rollout so far."),
        ("Left voicemail", "No answer; left a voicemail asking for a good time to talk."),
    ),
    "email": (
        ("Re: Proposal for {company}", "Hi {first}, attached is the updated proposal."),
        ("Intro from our team", "Hi {first}, thanks for your interest — here is some material."),
        ("Meeting recap", "Thanks for the time today. Summary and next steps below."),
        ("Re: Support question", "Hi {first}, the issue is fixed; let us know if it recurs."),
        ("Invoice and renewal", "Hi {first}, your renewal invoice is attached."),
    ),
    "meeting": (
        ("Product demo", "Demo for {name} and two colleagues; strong interest in automation."),
        ("Quarterly business review", "Reviewed adoption metrics and goals with {company}."),
        ("Kickoff meeting", "Kickoff of the onboarding project; timeline agreed."),
        ("Technical deep dive", "Covered the API, webhooks and SSO with their IT team."),
        ("Contract negotiation", "Discussed terms; legal review expected next week."),
    ),
}

CALL_OUTCOMES: tuple[str, ...] = ("connected", "connected", "connected", "voicemail", "no answer")

TASK_TEMPLATES: dict[str, tuple[str, ...]] = {
    "follow-up": (
        "Follow up with {name} after the demo",
        "Send recap and next steps to {name}",
        "Call {name} about the proposal",
    ),
    "demo": ("Prepare demo environment for {company}", "Run product demo for {company}"),
    "onboarding": (
        "Import contacts for {company}",
        "Configure SSO for {company}",
        "Train the {company} team on the inbox",
        "Kickoff call with {company}",
    ),
    "bug": (
        "Investigate sync error reported by {company}",
        "Fix CSV export encoding issue for {company}",
    ),
    "billing": ("Send renewal invoice to {company}", "Resolve billing question from {name}"),
}

COMMENTS: tuple[str, ...] = (
    "I reached out by email, waiting for an answer.",
    "Blocked until the customer sends their admin credentials.",
    "Done on my side — please double-check the numbers.",
    "Moved the due date; the customer asked for next week.",
    "Looks good. Let's close this after the call.",
    "I added the notes from the meeting to the deal.",
)
